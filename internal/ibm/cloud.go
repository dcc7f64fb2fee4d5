package ibm

import (
	"context"
	"fmt"

	"github.com/s2s-authorizer/s2s-authorizer/config"
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

// Connect builds the adapters. When the configuration names no account, the API key's account
// is looked up, which is the only I/O here.
func Connect(ctx context.Context, cfg config.Config, o Options) (*Cloud, error) {
	auth, err := NewAuthenticator(Credentials{APIKey: cfg.APIKey, TrustedProfile: cfg.TrustedProfile, IAMURL: cfg.IAMURL}, o)
	if err != nil {
		return nil, err
	}
	account := cfg.AccountID
	if account == "" {
		if account, err = AccountOfAPIKey(ctx, cfg.IAMURL, cfg.APIKey, auth, o); err != nil {
			return nil, err
		}
	}
	policies, err := NewPolicies(cfg.IAMURL, account, auth, o)
	if err != nil {
		return nil, err
	}
	instances, err := NewInstances(cfg.ResourceControllerURL, auth, o)
	if err != nil {
		return nil, err
	}
	return &Cloud{
		Auth:      auth,
		AccountID: account,
		Policies:  policies,
		Snapshots: NewSnapshots(cfg.VPCURLFor, auth, o),
		Instances: instances,
		Keys:      NewKeys(cfg.KMSURLFor, auth, o),
	}, nil
}

// Ready checks that an IAM token can be obtained, which is what /readyz promises.
func (c *Cloud) Ready(context.Context) error {
	if _, err := bearer(c.Auth); err != nil {
		return fmt.Errorf("IAM token: %w", err)
	}
	return nil
}
