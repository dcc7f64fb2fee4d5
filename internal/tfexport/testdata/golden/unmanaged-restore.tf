resource "ibm_iam_authorization_policy" "unmanaged_restore_r006_1b2c3d4e_5f60_4718_9a2b_3c4d5e6f7a8b_9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d" {
  description = "restore for the \"dr\" team: $${not a template}"
  roles       = ["SnapshotRemoteAccountRestorer"]

  subject_attributes {
    name  = "serviceName"
    value = "server-protect"
  }

  subject_attributes {
    name  = "accountId"
    value = "9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d"
  }

  resource_attributes {
    name     = "serviceName"
    operator = "stringEquals"
    value    = "is"
  }

  resource_attributes {
    name     = "accountId"
    operator = "stringEquals"
    value    = "4b9f2c1d8e7a6b5c4d3e2f1a0b9c8d7e"
  }

  resource_attributes {
    name     = "snapshotId"
    operator = "stringEquals"
    value    = "r006-1b2c3d4e-5f60-4718-9a2b-3c4d5e6f7a8b"
  }
}

import {
  to = ibm_iam_authorization_policy.unmanaged_restore_r006_1b2c3d4e_5f60_4718_9a2b_3c4d5e6f7a8b_9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d
  id = "0c9a7e52-3b1d-4f86-a2e4-5d6c7b8a9f01"
}
