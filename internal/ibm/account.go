package ibm

import (
	"context"
	"fmt"

	"github.com/IBM/platform-services-go-sdk/iamidentityv1"

	"github.com/s2s-authorizer/s2s-authorizer/internal/crn"
)

// AccountOfAPIKey asks IAM Identity which account an API key belongs to, so that a deployment
// with only an API key needs no IBMCLOUD_ACCOUNT_ID.
func AccountOfAPIKey(ctx context.Context, iamURL, apiKey string, auth Authenticator, o Options) (string, error) {
	service, err := iamidentityv1.NewIamIdentityV1(&iamidentityv1.IamIdentityV1Options{URL: iamURL, Authenticator: auth})
	if err != nil {
		return "", fmt.Errorf("IAM identity client: %w", err)
	}
	configure(service.Service, o)
	details, resp, err := service.GetAPIKeysDetailsWithContext(ctx, &iamidentityv1.GetAPIKeysDetailsOptions{IamAPIKey: &apiKey})
	if err != nil {
		return "", wrap("look up the account of the API key", resp, err)
	}
	account := deref(details.AccountID)
	if !crn.IsAccountID(account) {
		return "", fmt.Errorf("look up the account of the API key: IAM answered account ID %q, not 32 hex characters", account)
	}
	return account, nil
}
