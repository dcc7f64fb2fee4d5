package ibm

import (
	"context"
	"fmt"

	"github.com/IBM/go-sdk-core/v5/core"
	"github.com/IBM/platform-services-go-sdk/iampolicymanagementv1"

	"github.com/s2s-authorizer/s2s-authorizer/internal/authz"
)

// accessPolicyType is IAM's type of the policies that give an identity access (as opposed to
// authorizations between services).
const accessPolicyType = "access"

// AccessPolicies lists the active access policies whose subject is iamID itself, through IAM's
// v2 list with its iam_id filter (IAM Policy Management API, "Get policies by attributes").
// They are only the identity's direct policies: access it holds through an access group is not
// among them, so an answer without a role proves nothing missing. The doctor reads it to tell
// whether the identity holds the roles it grants (IBM: "You can grant only the level of access
// that you have").
func (p *Policies) AccessPolicies(ctx context.Context, iamID string) ([]authz.Policy, error) {
	pager, err := p.service.NewV2PoliciesPager(&iampolicymanagementv1.ListV2PoliciesOptions{
		AccountID: &p.accountID,
		IamID:     core.StringPtr(iamID),
		Type:      core.StringPtr(accessPolicyType),
		Limit:     core.Int64Ptr(policyPageSize),
	})
	if err != nil {
		return nil, fmt.Errorf("list access policies of %s: %w", iamID, err)
	}
	var out []authz.Policy
	for pager.HasNext() {
		page, err := pager.GetNextWithContext(ctx)
		if err != nil {
			return nil, wrap("list access policies of "+iamID, responseOf(err), err)
		}
		for i := range page {
			// A conditional policy (fromV2Meta's ok false) grants only sometimes: not counted.
			if pol, ok := fromV2Meta(&page[i]); ok && pol.Active() {
				out = append(out, pol)
			}
		}
	}
	return out, nil
}
