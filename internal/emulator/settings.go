package emulator

import (
	"fmt"
	"slices"
)

// IAMSettings are the IAM knobs of an emulated account that IBM's documents leave open, so that
// tests can cover each documented form. A world file carries them as top-level fields of the
// same names; Server.SetIAMSettings and POST /_emulator/iam change them at run time.
type IAMSettings struct {
	// RestorerRoleCRNForm is the CRN GET /v2/roles gives SnapshotRemoteAccountRestorer:
	// RestorerCRNIAMRole ("iam-role", the default) or RestorerCRNISServiceRole
	// ("is-service-role"). The facts file (section 1) calls the real form unconfirmed.
	RestorerRoleCRNForm string `json:"restorer_role_crn_form,omitempty"`
	// RolesMissing names catalogue roles ("SnapshotRemoteAccountRestorer", "Reader", …) that
	// IAM does not offer: they are left out of GET /v2/roles and a create that grants one is
	// refused.
	RolesMissing []string `json:"roles_missing,omitempty"`
	// PolicyCap is how many active policies (of both API versions) the account may hold; 0
	// means IAM's DefaultPolicyCap. A create past it is refused (400 policy_limit_exceeded).
	PolicyCap int `json:"policy_cap,omitempty"`
}

// DefaultPolicyCap is IAM's limit of policies per account: 4,020, shared with context-based
// restriction rules, which the emulator does not model (facts file, section 2; IBM's "IBM Cloud
// IAM limits" table, topic account-cloudaccess#iam_limits, which ibm-cloud-docs/account
// known-issues.md points to).
const DefaultPolicyCap = 4020

func (set *IAMSettings) policyCap() int {
	if set.PolicyCap > 0 {
		return set.PolicyCap
	}
	return DefaultPolicyCap
}

// Validate checks the CRN form and that every missing role is one the catalogue knows.
func (set IAMSettings) Validate() error {
	if set.RestorerRoleCRNForm != "" && !slices.Contains(restorerCRNForms, set.RestorerRoleCRNForm) {
		return fmt.Errorf("restorer_role_crn_form: %q is not %s", set.RestorerRoleCRNForm, quoteList(restorerCRNForms))
	}
	if set.PolicyCap < 0 {
		return fmt.Errorf("policy_cap: %d is negative (0 means IAM's %d)", set.PolicyCap, DefaultPolicyCap)
	}
	known := catalogueRoleNames()
	for i, name := range set.RolesMissing {
		if !slices.Contains(known, name) {
			return fmt.Errorf("roles_missing[%d]: %q is not a role of the catalogue (%s)", i, name, quoteList(known))
		}
	}
	return nil
}

func (set IAMSettings) clone() IAMSettings {
	set.RolesMissing = slices.Clone(set.RolesMissing)
	return set
}

// IAMSettings is a copy of the account's current IAM settings.
func (s *Server) IAMSettings() IAMSettings {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.st.iam.clone()
}

// SetIAMSettings replaces the account's IAM settings (until the next Reset, which takes them
// from the world again).
func (s *Server) SetIAMSettings(set IAMSettings) error {
	if err := set.Validate(); err != nil {
		return fmt.Errorf("emulator: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.st.iam = set.clone()
	return nil
}

// SetPolicyCap changes only the account's policy cap (0: IAM's DefaultPolicyCap).
func (s *Server) SetPolicyCap(n int) error {
	set := s.IAMSettings()
	set.PolicyCap = n
	return s.SetIAMSettings(set)
}

// policyLimitExceeded is the refusal of a create past the account's cap. IBM documents the
// limit but not the answer: status 400, code policy_limit_exceeded and the message are the
// emulator's assumption.
func policyLimitExceeded(account string, active, limit int) reply {
	return errorReply(kindIAM, 400, "policy_limit_exceeded",
		fmt.Sprintf("Policy limit exceeded: account %s has %d policies and allows at most %d. Delete unused policies or request a limit increase.", account, active, limit))
}
