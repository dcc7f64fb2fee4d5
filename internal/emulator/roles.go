package emulator

import (
	"fmt"
	"slices"
	"strings"
)

// Role CRNs of the authorizations this project and Backup for VPC grant (facts file, section 1).
const (
	// RoleReader is Reader on Key Protect / HPCS, documented with the iam service name
	// (ibm-cloud-docs/vpc, "Creating an authorization", and the key-protect docs).
	RoleReader = "crn:v1:bluemix:public:iam::::serviceRole:Reader"
	// RoleAuthorizationDelegator is a platform role (ibm-cloud-docs/account, "Granting access
	// between services": "crn:v1:bluemix:public:iam::::role:AuthorizationDelegator").
	RoleAuthorizationDelegator = "crn:v1:bluemix:public:iam::::role:AuthorizationDelegator"
	// RoleSnapshotRemoteAccountRestorer is the form the VPC snapshot page prints
	// (ibm-cloud-docs/vpc snapshots-vpc-restore.md); the default of the world's
	// restorer_role_crn_form.
	RoleSnapshotRemoteAccountRestorer = "crn:v1:bluemix:public:iam::::role:SnapshotRemoteAccountRestorer"
	// RoleSnapshotRemoteAccountRestorerIS is the form other `is` service roles are documented
	// in (IAM's role reference lists SnapshotRemoteAccountRestorer as a service role of Block
	// Storage Snapshots for VPC); served when restorer_role_crn_form is "is-service-role".
	RoleSnapshotRemoteAccountRestorerIS = "crn:v1:bluemix:public:is::::serviceRole:SnapshotRemoteAccountRestorer"
	// RoleOperator and RoleEditor are what Backup for VPC needs on its targets
	// (ibm-cloud-docs/vpc backup_service_vpc_s2s_auth.md).
	RoleOperator = "crn:v1:bluemix:public:iam::::role:Operator"
	RoleEditor   = "crn:v1:bluemix:public:iam::::role:Editor"
	// RoleShareSnapshotOperator is the file-share service role of the same page.
	RoleShareSnapshotOperator = "crn:v1:bluemix:public:is::::serviceRole:ShareSnapshotOperator"
)

// Values of the world's restorer_role_crn_form (IAMSettings.RestorerRoleCRNForm).
const (
	RestorerCRNIAMRole       = "iam-role"        // RoleSnapshotRemoteAccountRestorer (default)
	RestorerCRNISServiceRole = "is-service-role" // RoleSnapshotRemoteAccountRestorerIS
)

var restorerCRNForms = []string{RestorerCRNIAMRole, RestorerCRNISServiceRole}

// roleList is where GET /v2/roles lists a role.
type roleList int

const (
	serviceRoleList roleList = iota
	systemRoleList
)

// authorizationRole is one row of the role catalogue: a role that GET /v2/roles offers for
// policy_type=authorization on a target service to the listed subject (source) services.
type authorizationRole struct {
	target  string
	sources []string // "*" is any source service
	name    string
	crn     string // "" for SnapshotRemoteAccountRestorer: the world's CRN form decides
	list    roleList
	actions []string
	desc    string
}

const restorerName = "SnapshotRemoteAccountRestorer"

// authorizationRoles is the catalogue of authorization roles the emulator models: the services
// of this project (facts file, section 1) and Backup for VPC. The emulator's assumption: target
// services not listed here offer no authorization roles, and key managers offer theirs to any
// source service (IAM lists Reader for COS, Databases and others as well).
var authorizationRoles = []authorizationRole{
	{target: "kms", sources: []string{"*"}, name: "Reader", crn: RoleReader, list: serviceRoleList,
		actions: []string{"kms.secrets.read", "kms.secrets.wrap", "kms.secrets.unwrap"},
		desc:    "As a reader, you can perform read-only actions within a service such as viewing service-specific resources."},
	{target: "kms", sources: []string{"*"}, name: "AuthorizationDelegator", crn: RoleAuthorizationDelegator, list: systemRoleList,
		actions: []string{"iam.delegate"},
		desc:    "As an authorization delegator, you can delegate the access granted by this authorization to the dependent services of the source service."},
	{target: "hs-crypto", sources: []string{"*"}, name: "Reader", crn: RoleReader, list: serviceRoleList,
		actions: []string{"hs-crypto.secrets.read", "hs-crypto.secrets.wrap", "hs-crypto.secrets.unwrap"},
		desc:    "As a reader, you can perform read-only actions within a service such as viewing service-specific resources."},
	{target: "hs-crypto", sources: []string{"*"}, name: "AuthorizationDelegator", crn: RoleAuthorizationDelegator, list: systemRoleList,
		actions: []string{"iam.delegate"},
		desc:    "As an authorization delegator, you can delegate the access granted by this authorization to the dependent services of the source service."},
	// The restore subject is unconfirmed (server-protect in the API texts, is in the console
	// steps): both are offered so that tests can cover each. IAM lists the role as a service
	// role whatever its CRN form.
	{target: "is", sources: []string{"server-protect", "is"}, name: restorerName, list: serviceRoleList,
		actions: []string{"is.snapshot.snapshot.allow-remote-account-restore"},
		desc:    "As a snapshot remote account restorer, you can restore volumes from snapshots that are owned by another account."},
	{target: "is", sources: []string{"is"}, name: "Operator", crn: RoleOperator, list: systemRoleList,
		actions: []string{"is.volume.volume.operate", "is.instance.instance.operate"},
		desc:    "As an operator, you can perform platform actions that are required to configure and operate service instances."},
	{target: "is", sources: []string{"is"}, name: "Editor", crn: RoleEditor, list: systemRoleList,
		actions: []string{"is.snapshot.snapshot.create", "is.snapshot.snapshot.update", "is.snapshot.snapshot.delete"},
		desc:    "As an editor, you can perform all platform actions except for managing the account and assigning access policies."},
	{target: "is", sources: []string{"is"}, name: "ShareSnapshotOperator", crn: RoleShareSnapshotOperator, list: serviceRoleList,
		actions: []string{"is.share.share.snapshot"},
		desc:    "As a share snapshot operator, you can create and delete snapshots of file shares."},
}

// catalogueRoleNames are the names roles_missing may use.
func catalogueRoleNames() []string {
	var names []string
	for _, r := range authorizationRoles {
		if !slices.Contains(names, r.name) {
			names = append(names, r.name)
		}
	}
	return names
}

// roleInfo is a role as GET /v2/roles describes it (iampolicymanagementv1.Role).
type roleInfo struct {
	DisplayName string   `json:"display_name"`
	Description string   `json:"description"`
	Actions     []string `json:"actions"`
	CRN         string   `json:"crn"`
}

// roleCRN is the CRN the catalogue row has under the given restorer form.
func (r authorizationRole) roleCRN(restorerForm string) string {
	if r.crn != "" {
		return r.crn
	}
	if restorerForm == RestorerCRNISServiceRole {
		return RoleSnapshotRemoteAccountRestorerIS
	}
	return RoleSnapshotRemoteAccountRestorer
}

func (r authorizationRole) offersTo(source string) bool {
	return slices.Contains(r.sources, "*") || slices.Contains(r.sources, source)
}

// describeRole gives the display name and description IAM puts next to a role_id in a policy.
// Roles the emulator does not know get their CRN's last segment as display name.
func describeRole(crn string) (name, description string) {
	for _, r := range authorizationRoles {
		for _, form := range restorerCRNForms {
			if r.roleCRN(form) == crn {
				return r.name, r.desc
			}
		}
	}
	return crn[strings.LastIndex(crn, ":")+1:], ""
}

// isRoleCRN accepts platform roles (iam::::role), service roles of any service
// (`iam::::serviceRole:Reader`, `is::::serviceRole:ShareSnapshotOperator`) and custom roles;
// IAM refuses anything else.
func isRoleCRN(s string) bool {
	c, ok := parseCRN(s)
	if !ok || c.resource == "" {
		return false
	}
	switch c.resourceType {
	case "role":
		return c.serviceName == "iam"
	case "serviceRole":
		return c.serviceName != ""
	case "customRole":
		return c.serviceName != "" && c.account() != ""
	}
	return false
}

// offeredRoles answers GET /v2/roles for policy_type=authorization: the catalogue rows for
// (target, source) under the account's settings, without the roles the world removed.
func (set *IAMSettings) offeredRoles(target, source string) (serviceRoles, systemRoles []roleInfo) {
	serviceRoles, systemRoles = []roleInfo{}, []roleInfo{}
	for _, r := range authorizationRoles {
		if r.target != target || !r.offersTo(source) || slices.Contains(set.RolesMissing, r.name) {
			continue
		}
		info := roleInfo{DisplayName: r.name, Description: r.desc, Actions: slices.Clone(r.actions), CRN: r.roleCRN(set.RestorerRoleCRNForm)}
		if r.list == serviceRoleList {
			serviceRoles = append(serviceRoles, info)
		} else {
			systemRoles = append(systemRoles, info)
		}
	}
	return serviceRoles, systemRoles
}

// rolesFor answers GET /v2/roles. Without policy_type=authorization the emulator lists the
// generic platform roles and, for a service, the generic service roles (its simplification).
func (set *IAMSettings) rolesFor(serviceName, sourceServiceName, policyType string) (serviceRoles, systemRoles []roleInfo) {
	if policyType == "authorization" {
		return set.offeredRoles(serviceName, sourceServiceName)
	}
	serviceRoles, systemRoles = []roleInfo{}, []roleInfo{}
	for _, r := range []string{"Viewer", "Operator", "Editor", "Administrator"} {
		systemRoles = append(systemRoles, genericRole("crn:v1:bluemix:public:iam::::role:"+r))
	}
	if serviceName != "" {
		for _, r := range []string{"Reader", "Writer", "Manager"} {
			serviceRoles = append(serviceRoles, genericRole("crn:v1:bluemix:public:iam::::serviceRole:"+r))
		}
	}
	return serviceRoles, systemRoles
}

func genericRole(crn string) roleInfo {
	name, desc := describeRole(crn)
	return roleInfo{DisplayName: name, Description: desc, Actions: []string{}, CRN: crn}
}

// unofferedRole checks the roles of an authorization policy against the role list of its
// (target service, subject service): IAM only grants what GET /v2/roles offers for the pair
// (the Terraform provider checks the same list before a create and reports "RoleDoesnotExist:
// Reader was not found. Valid roles are …", IBM-Cloud/terraform-provider-ibm#6266). It returns
// the first role not offered, or "". The emulator's assumption: a policy whose subject or
// resource names no single service (serviceName with stringEquals) is not checked.
func (set *IAMSettings) unofferedRole(p *policy) (role, target, source string) {
	if p.Type != "authorization" {
		return "", "", ""
	}
	target, source = p.resourceService(), p.subjectService()
	if target == "" || source == "" {
		return "", "", ""
	}
	serviceRoles, systemRoles := set.offeredRoles(target, source)
	for _, r := range p.roleIDs() {
		if !slices.ContainsFunc(append(serviceRoles, systemRoles...), func(o roleInfo) bool { return o.CRN == r }) {
			return r, target, source
		}
	}
	return "", target, source
}

// roleNotOffered is the 400 of a create whose role the pair is not offered. The code is the
// emulator's assumption (IBM's docs list none for this case); the message names the role.
func roleNotOffered(role, target, source string) reply {
	return errorReply(kindIAM, 400, "invalid_role",
		fmt.Sprintf("Invalid role %s: it is not a role of service %s for authorizations from source service %s.", role, target, source))
}
