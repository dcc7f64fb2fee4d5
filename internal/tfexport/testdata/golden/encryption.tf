resource "ibm_iam_authorization_policy" "encryption_3b05b403_8f51_4dac_9114_c777d0a760d4" {
  description = "s2s-authorizer:managed kind=encryption object=crn:v1:bluemix:public:kms:us-south:a/4b9f2c1d8e7a6b5c4d3e2f1a0b9c8d7e:3b05b403-8f51-4dac-9114-c777d0a760d4:: (created by s2s-authorizer; it removes this policy when no longer needed)"
  roles       = ["Reader"]

  subject_attributes {
    name  = "serviceName"
    value = "server-protect"
  }

  subject_attributes {
    name  = "accountId"
    value = "4b9f2c1d8e7a6b5c4d3e2f1a0b9c8d7e"
  }

  resource_attributes {
    name     = "serviceName"
    operator = "stringEquals"
    value    = "kms"
  }

  resource_attributes {
    name     = "accountId"
    operator = "stringEquals"
    value    = "4b9f2c1d8e7a6b5c4d3e2f1a0b9c8d7e"
  }

  resource_attributes {
    name     = "serviceInstance"
    operator = "stringEquals"
    value    = "3b05b403-8f51-4dac-9114-c777d0a760d4"
  }
}

import {
  to = ibm_iam_authorization_policy.encryption_3b05b403_8f51_4dac_9114_c777d0a760d4
  id = "1f0e2d3c-0000-4000-8000-000000000001"
}
