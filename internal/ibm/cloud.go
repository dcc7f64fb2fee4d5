package ibm

import (
	"context"
	"fmt"
)

// Cloud is every adapter the function uses, built once per process from the configuration.
type Cloud struct {
	Auth      Authenticator
	AccountID string
	Policies  *Policies
	Snapshots *Snapshots
	Instances *Instances
	Keys      *Keys
}

// Settings say where IBM Cloud is and who the function runs as: plain values, so that the
// adapters know nothing of how the configuration is read.
type Settings struct {
	Credentials
	// AccountID is the account acted on; "" looks it up from the credentials.
	AccountID             string
	ResourceControllerURL string
	// VPCURL gives the VPC API URL of a region, KMSURL the key API URL of a KMS service in one.
	VPCURL func(region string) string
	KMSURL func(service, region string) string
}

// Connect builds the adapters. When the settings name no account, the API key's account is
// looked up, which is the only I/O here.
func Connect(ctx context.Context, s Settings, o Options) (*Cloud, error) {
	auth, err := NewAuthenticator(s.Credentials, o)
	if err != nil {
		return nil, err
	}
	account := s.AccountID
	if account == "" {
		if account, err = AccountOfAPIKey(ctx, s.IAMURL, s.APIKey, auth, o); err != nil {
			return nil, err
		}
	}
	policies, err := NewPolicies(s.IAMURL, account, auth, o)
	if err != nil {
		return nil, err
	}
	instances, err := NewInstances(s.ResourceControllerURL, auth, o)
	if err != nil {
		return nil, err
	}
	return &Cloud{
		Auth:      auth,
		AccountID: account,
		Policies:  policies,
		Snapshots: NewSnapshots(s.VPCURL, auth, o),
		Instances: instances,
		Keys:      NewKeys(s.KMSURL, auth, o),
	}, nil
}

// Ready checks that an IAM token can be obtained, which is what /readyz promises.
func (c *Cloud) Ready(context.Context) error {
	if _, err := bearer(c.Auth); err != nil {
		return fmt.Errorf("IAM token: %w", err)
	}
	return nil
}
