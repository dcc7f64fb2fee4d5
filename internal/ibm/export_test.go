package ibm

import (
	"context"

	"github.com/IBM/platform-services-go-sdk/iampolicymanagementv1"

	"github.com/s2s-authorizer/s2s-authorizer/internal/authz"
)

// JitteredBackoff is exported for tests of the retry timing.
var JitteredBackoff = jitteredBackoff

// Unwrap gives tests the SDK authenticator inside ours.
func Unwrap(a Authenticator) Authenticator { return a.(opaque).inner }

// Get reads one policy, for tests that look at what IAM holds; a deleted one comes back with State "deleted".
func (p *Policies) Get(ctx context.Context, id string) (authz.Policy, error) {
	got, resp, err := p.service.GetV2PolicyWithContext(ctx, &iampolicymanagementv1.GetV2PolicyOptions{ID: &id})
	if err != nil {
		return authz.Policy{}, wrap("get policy "+id, resp, err)
	}
	pol, _ := fromV2Meta(got)
	return pol, nil
}
