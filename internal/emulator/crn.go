package emulator

import (
	"fmt"
	"strings"
)

// SnapshotCRN is the CRN of a VPC snapshot: crn:v1:bluemix:public:is:<region>:a/<account>::snapshot:<id>.
func SnapshotCRN(account, region, id string) string {
	return fmt.Sprintf("crn:v1:bluemix:public:is:%s:a/%s::snapshot:%s", region, account, id)
}

// InstanceCRN is the CRN of a service instance: crn:v1:bluemix:public:<service>:<region>:a/<account>:<guid>::.
func InstanceCRN(service, account, region, guid string) string {
	return fmt.Sprintf("crn:v1:bluemix:public:%s:%s:a/%s:%s::", service, region, account, guid)
}

// KeyCRN is the CRN of a Key Protect or HPCS key:
// crn:v1:bluemix:public:<service>:<region>:a/<account>:<guid>:key:<keyID>.
func KeyCRN(service, account, region, guid, keyID string) string {
	return fmt.Sprintf("crn:v1:bluemix:public:%s:%s:a/%s:%s:key:%s", service, region, account, guid, keyID)
}

// crnParts are the ten colon-separated segments of a CRN, named as IBM names them.
type crnParts struct {
	serviceName, location, scope, serviceInstance, resourceType, resource string
}

// parseCRN splits a public-cloud CRN; ok is false when s is not one.
func parseCRN(s string) (crnParts, bool) {
	f := strings.Split(s, ":")
	if len(f) != 10 || f[0] != "crn" || f[1] != "v1" || f[2] != "bluemix" || f[3] != "public" {
		return crnParts{}, false
	}
	return crnParts{
		serviceName: f[4], location: f[5], scope: f[6],
		serviceInstance: f[7], resourceType: f[8], resource: f[9],
	}, true
}

// account is the account id of an "a/<account>" scope, or "".
func (c crnParts) account() string {
	if a, ok := strings.CutPrefix(c.scope, "a/"); ok {
		return a
	}
	return ""
}

// validKeyCRN checks that s is the CRN of a KMS key (the key may live in another account).
func validKeyCRN(s string) bool {
	c, ok := parseCRN(s)
	return ok && isKMSService(c.serviceName) && isRegion(c.location) && isAccountID(c.account()) &&
		isGUID(c.serviceInstance) && c.resourceType == "key" && c.resource != ""
}
