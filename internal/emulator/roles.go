package emulator

import "strings"

// Role CRNs the project grants (facts file, section 1). SnapshotRemoteAccountRestorer's CRN is
// *unconfirmed* in the facts file; the emulator serves the documented one from GET /v2/roles.
const (
	RoleReader                        = "crn:v1:bluemix:public:iam::::serviceRole:Reader"
	RoleAuthorizationDelegator        = "crn:v1:bluemix:public:iam::::role:AuthorizationDelegator"
	RoleSnapshotRemoteAccountRestorer = "crn:v1:bluemix:public:iam::::role:SnapshotRemoteAccountRestorer"
)

// roleInfo is a role as GET /v2/roles describes it.
type roleInfo struct {
	DisplayName string   `json:"display_name"`
	Description string   `json:"description"`
	Actions     []string `json:"actions"`
	CRN         string   `json:"crn"`
}

// describeRole gives the display name and description IAM puts next to a role_id in a policy.
// Roles the emulator does not know get their CRN's last segment as display name.
func describeRole(crn string) (name, description string) {
	switch crn {
	case RoleReader:
		return "Reader", "As a reader, you can perform read-only actions within a service such as viewing service-specific resources."
	case RoleAuthorizationDelegator:
		return "AuthorizationDelegator", "As an authorization delegator, you can delegate the access granted by this authorization to the dependent services of the source service."
	case RoleSnapshotRemoteAccountRestorer:
		return "SnapshotRemoteAccountRestorer", "As a snapshot remote account restorer, you can restore volumes from snapshots that are owned by another account."
	}
	return crn[strings.LastIndex(crn, ":")+1:], ""
}

// isRoleCRN accepts platform, service and custom role CRNs; IAM refuses anything else.
func isRoleCRN(s string) bool {
	c, ok := parseCRN(s)
	if !ok || c.resource == "" {
		return false
	}
	switch c.resourceType {
	case "role", "serviceRole":
		return c.serviceName == "iam"
	case "customRole":
		return c.serviceName != "" && c.account() != ""
	}
	return false
}

func role(crn string, actions ...string) roleInfo {
	name, desc := describeRole(crn)
	if actions == nil {
		actions = []string{}
	}
	return roleInfo{DisplayName: name, Description: desc, Actions: actions, CRN: crn}
}

// rolesFor answers GET /v2/roles. For authorization policies the roles depend on the target
// service: `is` offers SnapshotRemoteAccountRestorer to server-protect, key managers offer
// Reader (a service role) and AuthorizationDelegator (a platform role). Other combinations have
// none (the emulator's assumption; it only models the services of this project).
func rolesFor(serviceName, sourceServiceName, policyType string) (serviceRoles, systemRoles []roleInfo) {
	serviceRoles, systemRoles = []roleInfo{}, []roleInfo{}
	if policyType == "authorization" {
		switch {
		case serviceName == "is" && sourceServiceName == "server-protect":
			systemRoles = append(systemRoles, role(RoleSnapshotRemoteAccountRestorer, "is.snapshot.snapshot.restore-remote"))
		case isKMSService(serviceName):
			serviceRoles = append(serviceRoles, role(RoleReader, serviceName+".secrets.wrap", serviceName+".secrets.unwrap", serviceName+".secrets.read"))
			systemRoles = append(systemRoles, role(RoleAuthorizationDelegator, "iam.delegate"))
		}
		return serviceRoles, systemRoles
	}
	for _, r := range []string{"Viewer", "Operator", "Editor", "Administrator"} {
		systemRoles = append(systemRoles, role("crn:v1:bluemix:public:iam::::role:"+r))
	}
	if serviceName != "" {
		for _, r := range []string{"Reader", "Writer", "Manager"} {
			serviceRoles = append(serviceRoles, role("crn:v1:bluemix:public:iam::::serviceRole:"+r))
		}
	}
	return serviceRoles, systemRoles
}
