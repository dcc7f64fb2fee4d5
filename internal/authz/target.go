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
	// ObjectBackup is the account's backup configuration: the backup grants, which follow
	// whether the account has backup policies at all, not any one of them.
	ObjectBackup ObjectKind = "backup"
)

// BackupObjectType is the resource type of the CRN that stands for an account's backup
// configuration (BackupObject).
const BackupObjectType = "backup-configuration"

// BackupPolicyResourceType is the resource type of a VPC backup policy's CRN
// (crn:v1:bluemix:public:is:<region>:a/<account>::backup-policy:<id>).
const BackupPolicyResourceType = "backup-policy"

// BackupObject is the object the backup grants of account belong to, as their marker names it:
// crn:v1:bluemix:public:is::a/<account>::backup-configuration: . The grants are account-wide,
// so the CRN has no region and no resource; no VPC resource has this type, so it can never be
// mistaken for a real one, and crn.Parse accepts it like any CRN.
func BackupObject(account string) string {
	return crn.CRN{CName: "bluemix", CType: "public", Service: RestoreService, Scope: "a/" + account, ResourceType: BackupObjectType}.String()
}

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
	// in key scope, the key's instance in instance scope, and the account's backup configuration
	// for a backup policy.
	Object string
}

// Instance is the KMS instance of a kms-instance or kms-key target.
func (t Target) Instance() KMSInstance {
	return KMSInstance{CRN: t.CRN.Instance().String(), Service: t.CRN.Service, GUID: t.CRN.ServiceInstance}
}

// Target maps c to the object it names, or says why it names nothing this project grants on. The
// CRN shapes are IBM's: a snapshot crn:v1:bluemix:public:is:<region>:a/<account>::snapshot:<id>
// (ibm-cloud-docs/vpc, snapshots API), an instance …:<kms|hs-crypto>:<region>:a/<account>:<guid>::
// and its key …:<guid>:key:<id> (ibm-cloud-docs/key-protect, key CRNs; facts file, section 3);
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
	case c.Service == RestoreService && c.ResourceType == BackupPolicyResourceType && c.Resource != "" && c.Location != "",
		c.Service == RestoreService && c.ResourceType == BackupObjectType && c.Resource == "" && c.Location == "":
		// Every backup policy stands for the same object: the account's backup grants.
		t.Kind, t.Object = ObjectBackup, BackupObject(t.Account)
	default:
		return Target{CRN: c, Account: t.Account, Foreign: t.Foreign}, fmt.Errorf("%s is not the CRN of a VPC snapshot or backup policy, a Key Protect or Hyper Protect Crypto Services instance, or a key of one", c)
	}
	return t, nil
}
