package authz

import (
	"fmt"
	"slices"

	"github.com/s2s-authorizer/s2s-authorizer/internal/crn"
)

// The only grants this project ever creates. IBM's documentation is unsure about some of these
// names (see the README's "Unconfirmed" section); they live here and nowhere else so that a
// correction is a one-line change.
const (
	PolicyType = "authorization"

	// SourceService is Block Storage for VPC as the subject of an authorization.
	SourceService = "server-protect"

	// RestoreService is the snapshot's service. The restore subject is unconfirmed:
	// the API text says server-protect, the console suggests is/volume.
	RestoreService      = "is"
	RestoreResourceType = "snapshot"

	RoleReader                 = "crn:v1:bluemix:public:iam::::serviceRole:Reader"
	RoleAuthorizationDelegator = "crn:v1:bluemix:public:iam::::role:AuthorizationDelegator"
	// RoleSnapshotRestorer is documented but unconfirmed; the live CRN can be read from
	// GET /v2/roles?service_name=is&source_service_name=server-protect&policy_type=authorization.
	RoleSnapshotRestorer = "crn:v1:bluemix:public:iam::::role:SnapshotRemoteAccountRestorer"

	KeyResourceType = "key"
)

// KMSServices are the services whose keys Block Storage can use.
var kmsServices = []string{"kms", "hs-crypto"}

// IsKMSService reports whether service is Key Protect or Hyper Protect Crypto Services.
func IsKMSService(service string) bool { return slices.Contains(kmsServices, service) }

func subject(account string) []Attribute {
	return []Attribute{
		{Name: "serviceName", Value: SourceService},
		{Name: "accountId", Value: account},
	}
}

func resource(name, value string) Attribute {
	return Attribute{Name: name, Value: value, Operator: defaultResourceOperator}
}

// encryptionGrant lets Block Storage of consumer use the keys of one KMS instance (keyID "") or
// one root key. Another account's Block Storage also needs AuthorizationDelegator, so that it
// can hand the grant on to its own volume service.
func encryptionGrant(owner, consumer, service, instanceGUID, keyID string) (Kind, Grant) {
	resources := []Attribute{
		resource("serviceName", service),
		resource("accountId", owner),
		resource("serviceInstance", instanceGUID),
	}
	if keyID != "" {
		resources = append(resources, resource("resourceType", KeyResourceType), resource("resource", keyID))
	}
	kind, roles := KindEncryption, []string{RoleReader}
	if consumer != owner {
		kind, roles = KindEncryptionCrossAccount, []string{RoleReader, RoleAuthorizationDelegator}
	}
	return kind, Grant{Type: PolicyType, Subjects: subject(consumer), Resources: resources, Roles: roles}
}

// restoreGrant lets Block Storage of restorer create volumes from one snapshot of owner.
func restoreGrant(owner, restorer, snapshotID string) Grant {
	return Grant{
		Type:     PolicyType,
		Subjects: subject(restorer),
		Resources: []Attribute{
			resource("serviceName", RestoreService),
			resource("accountId", owner),
			resource("resourceType", RestoreResourceType),
			resource("snapshotId", snapshotID),
		},
		Roles: []string{RoleSnapshotRestorer},
	}
}

// CheckTemplate refuses any authorization whose grant is not exactly what its template gives
// for its own subject and resource: the last guard before a create, so that a bug elsewhere
// can never widen a grant.
func CheckTemplate(a Authorization) error {
	owner := a.Resource("accountId")
	subjectAccount := a.Subject("accountId")
	var want Grant
	switch a.Kind {
	case KindEncryption, KindEncryptionCrossAccount:
		var kind Kind
		kind, want = encryptionGrant(owner, subjectAccount, a.Resource("serviceName"), a.Resource("serviceInstance"), a.Resource("resource"))
		if kind != a.Kind || !IsKMSService(a.Resource("serviceName")) || a.Resource("serviceInstance") == "" {
			return fmt.Errorf("authorization %s does not fit the %s template", a, a.Kind)
		}
	case KindRestore:
		want = restoreGrant(owner, subjectAccount, a.Resource("snapshotId"))
		if subjectAccount == owner || a.Resource("snapshotId") == "" {
			return fmt.Errorf("authorization %s does not fit the %s template", a, a.Kind)
		}
	default:
		return fmt.Errorf("authorization %s has unknown kind %q", a, a.Kind)
	}
	if want.Key() != a.Key() {
		return fmt.Errorf("authorization %s does not fit the %s template", a, a.Kind)
	}
	return checkObject(a)
}

// checkObject ties the grant to the object it was made for, so that a wildcard or another
// object's ID can never pass as this object's authorization.
func checkObject(a Authorization) error {
	object, err := crn.Parse(a.Object)
	if err != nil {
		return fmt.Errorf("authorization %s: object: %w", a, err)
	}
	owner := a.Resource("accountId")
	ok := object.Account() == owner
	switch a.Kind {
	case KindRestore:
		ok = ok && object.Service == RestoreService && object.ResourceType == RestoreResourceType &&
			object.Resource == a.Resource("snapshotId")
	default:
		ok = ok && object.Service == a.Resource("serviceName") && object.ServiceInstance == a.Resource("serviceInstance") &&
			object.Resource == a.Resource("resource")
	}
	if !ok {
		return fmt.Errorf("authorization %s does not belong to object %s", a, a.Object)
	}
	return nil
}
