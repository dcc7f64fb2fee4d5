package ibm

import (
	"context"
	"fmt"

	"github.com/s2s-authorizer/s2s-authorizer/internal/authz"
)

// Cloud is every adapter the function uses, built once per process from the settings.
type Cloud struct {
	Auth      Authenticator
	Identity  Identity
	AccountID string
	Policies  *Policies
	Roles     *Roles
	Snapshots *Snapshots
	Instances *Instances
	Keys      *Keys
}

// Settings say where IBM Cloud is and who the function runs as: plain values, so that the
// adapters know nothing of how the configuration is read.
type Settings struct {
	Credentials
	// AccountID is the account acted on; "" takes the credentials' account from the token, and
	// any other value must be that account.
	AccountID             string
	ResourceControllerURL string
	// VPCURL gives the VPC API URL of a region, KMSURL the key API URL of a KMS service in one.
	VPCURL func(region string) string
	KMSURL func(service, region string) string
	// RoleNeeds are the roles the rules grant, by target and source service (authz.Rules.RoleNeeds);
	// nil takes those of the default rules.
	RoleNeeds []authz.RoleNeed
}

// Connect builds the adapters. Its only I/O is the IAM token, which names the account and the
// caller (a configured account that differs is an *AccountMismatchError), and the roles IAM
// offers. With the account configured, an IAM that cannot issue a token yet, and any failure to
// read the roles, are kept for Ready rather than returned: a server still starts and says why it
// is not ready.
func Connect(ctx context.Context, s Settings, o Options) (*Cloud, error) {
	auth, err := NewAuthenticator(s.Credentials, o)
	if err != nil {
		return nil, err
	}
	id, err := IdentityOf(auth)
	switch {
	case err != nil && s.AccountID == "":
		return nil, fmt.Errorf("who the credentials are (set IBMCLOUD_ACCOUNT_ID to start without IAM): %w", err)
	case err != nil:
		id = Identity{AccountID: s.AccountID}
	case s.AccountID != "" && s.AccountID != id.AccountID:
		return nil, &AccountMismatchError{Configured: s.AccountID, Token: id.AccountID}
	}
	policies, err := NewPolicies(s.IAMURL, id.AccountID, auth, o)
	if err != nil {
		return nil, err
	}
	instances, err := NewInstances(s.ResourceControllerURL, auth, o)
	if err != nil {
		return nil, err
	}
	needs := s.RoleNeeds
	if needs == nil {
		needs = authz.Rules{}.RoleNeeds()
	}
	roles := NewRoles(policies.service, needs)
	policies.roles = roles
	if err == nil {
		_ = roles.Load(ctx) // its failure is Ready's to report
	}
	return &Cloud{
		Auth:      auth,
		Identity:  id,
		AccountID: id.AccountID,
		Policies:  policies,
		Roles:     roles,
		Snapshots: NewSnapshots(s.VPCURL, auth, o),
		Instances: instances,
		Keys:      NewKeys(s.KMSURL, auth, o),
	}, nil
}

// Ready checks what /readyz promises: an IAM token can be obtained, and IAM offers every role
// the templates grant.
func (c *Cloud) Ready(ctx context.Context) error {
	id, err := IdentityOf(c.Auth)
	if err != nil {
		return fmt.Errorf("IAM token: %w", err)
	}
	if id.AccountID != c.AccountID {
		return &AccountMismatchError{Configured: c.AccountID, Token: id.AccountID}
	}
	if err := c.Roles.Ready(ctx); err != nil {
		return fmt.Errorf("roles: %w", err)
	}
	return nil
}
