package authz

import (
	"fmt"

	"github.com/s2s-authorizer/s2s-authorizer/internal/crn"
)

// ObjectKind is the kind of object authorizations belong to.
type ObjectKind string

const (
	ObjectSnapshot    ObjectKind = "snapshot"     // a VPC snapshot: restore grants
	ObjectKMSInstance ObjectKind = "kms-instance" // a Key Protect or HPCS instance: encryption grants in instance scope
	ObjectKMSKey      ObjectKind = "kms-key"      // a key of one: encryption grants in key scope
)

// Target is what a CRN names for this project: the one place where a CRN is mapped to its
// account, its kind of object and the object its authorizations are recorded for. The event
// classifier, the converger and the full reconcile's scope all read it from here.
type Target struct {
	Kind    ObjectKind
	CRN     crn.CRN
	Account string
	// Foreign is set when the object belongs to another account than the rules': such objects
	// are never acted on.
	Foreign bool
	// Object is the CRN the object's authorizations carry in their marker: the snapshot, the key
	// in key scope, and the key's instance in instance scope.
	Object string
}

// Instance is the KMS instance of a kms-instance or kms-key target.
func (t Target) Instance() KMSInstance {
	return KMSInstance{CRN: t.CRN.Instance().String(), Service: t.CRN.Service, GUID: t.CRN.ServiceInstance}
}

// Target maps c to the object it names, or says why it names nothing this project grants on;
// Account and Foreign are set either way.
func (r Rules) Target(c crn.CRN) (Target, error) {
	t := Target{CRN: c, Account: c.Account()}
	t.Foreign = t.Account != r.AccountID
	switch {
	case c.Service == RestoreService && c.ResourceType == RestoreResourceType && c.Resource != "" && c.Location != "":
		t.Kind, t.Object = ObjectSnapshot, c.String()
	case IsKMSService(c.Service) && c.ServiceInstance != "" && c.ResourceType == "" && c.Resource == "":
		t.Kind, t.Object = ObjectKMSInstance, c.String()
	case IsKMSService(c.Service) && c.ServiceInstance != "" && c.ResourceType == KeyResourceType && c.Resource != "":
		t.Kind, t.Object = ObjectKMSKey, c.String()
		if r.KMSScope != ScopeKey {
			t.Object = c.Instance().String()
		}
	default:
		return Target{CRN: c, Account: t.Account, Foreign: t.Foreign}, fmt.Errorf("%s is not the CRN of a VPC snapshot, a Key Protect or Hyper Protect Crypto Services instance, or a key of one", c)
	}
	return t, nil
}
