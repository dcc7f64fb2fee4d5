package ibm

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/IBM/go-sdk-core/v5/core"
	"github.com/IBM/platform-services-go-sdk/iampolicymanagementv1"

	"github.com/s2s-authorizer/s2s-authorizer/internal/apply"
	"github.com/s2s-authorizer/s2s-authorizer/internal/authz"
)

// policyPageSize is the largest page the v1 list answers, so a big account costs few calls.
const policyPageSize = 100

// Policies reads and writes the account's IAM authorization policies.
type Policies struct {
	service   *iampolicymanagementv1.IamPolicyManagementV1
	accountID string
}

// NewPolicies builds the IAM Policy Management client for one account.
func NewPolicies(iamURL, accountID string, auth Authenticator, o Options) (*Policies, error) {
	service, err := iampolicymanagementv1.NewIamPolicyManagementV1(&iampolicymanagementv1.IamPolicyManagementV1Options{
		URL: iamURL, Authenticator: auth,
	})
	if err != nil {
		return nil, fmt.Errorf("IAM policy client: %w", err)
	}
	configure(service.Service, o)
	return &Policies{service: service, accountID: accountID}, nil
}

// List returns every active authorization policy of the account, all pages.
func (p *Policies) List(ctx context.Context) ([]authz.Policy, error) {
	pager, err := p.service.NewPoliciesPager(&iampolicymanagementv1.ListPoliciesOptions{
		AccountID: &p.accountID,
		Type:      core.StringPtr(authz.PolicyType),
		Limit:     core.Int64Ptr(policyPageSize),
	})
	if err != nil {
		return nil, fmt.Errorf("list authorization policies: %w", err)
	}
	var out []authz.Policy
	for pager.HasNext() {
		page, err := pager.GetNextWithContext(ctx)
		if err != nil {
			return nil, wrap("list authorization policies of account "+p.accountID, responseOf(err), err)
		}
		for i := range page {
			pol := fromTemplateMeta(&page[i])
			if pol.Active() {
				out = append(out, pol)
			}
		}
	}
	return out, nil
}

// Create creates the policy for a; a 409 comes back as *apply.ConflictError naming the existing policy.
func (p *Policies) Create(ctx context.Context, a authz.Authorization) (authz.Policy, error) {
	opts := &iampolicymanagementv1.CreatePolicyOptions{
		Type:        core.StringPtr(a.Type),
		Subjects:    []iampolicymanagementv1.PolicySubject{{Attributes: subjectAttrs(a.Subjects)}},
		Roles:       roles(a.Roles),
		Resources:   []iampolicymanagementv1.PolicyResource{{Attributes: resourceAttrs(a.Resources)}},
		Description: core.StringPtr(a.Description()),
	}
	created, resp, err := p.service.CreatePolicyWithContext(ctx, opts)
	if err != nil {
		if resp != nil && resp.StatusCode == http.StatusConflict {
			existing, perr := conflictingPolicy(resp.Result)
			if perr != nil {
				return authz.Policy{}, wrap("create policy for "+a.Object, resp, fmt.Errorf("409 without a readable conflicting policy: %w", perr))
			}
			return authz.Policy{}, &apply.ConflictError{Existing: existing}
		}
		return authz.Policy{}, wrap("create policy for "+a.Object, resp, err)
	}
	return fromPolicy(created), nil
}

// Delete deletes one policy; ErrNotFound means it is gone already.
func (p *Policies) Delete(ctx context.Context, id string) error {
	resp, err := p.service.DeletePolicyWithContext(ctx, &iampolicymanagementv1.DeletePolicyOptions{PolicyID: &id})
	if err != nil {
		return wrap("delete policy "+id, resp, err)
	}
	return nil
}

// conflictingPolicy reads errors[0].details.conflicts_with.policy from a 409 body. The SDK
// models that field as a string, so the decoded map is re-read here.
func conflictingPolicy(result any) (authz.Policy, error) {
	raw, err := json.Marshal(result)
	if err != nil {
		return authz.Policy{}, err
	}
	var body struct {
		Errors []struct {
			Code    string `json:"code"`
			Details struct {
				ConflictsWith struct {
					Policy json.RawMessage `json:"policy"`
				} `json:"conflicts_with"`
			} `json:"details"`
		} `json:"errors"`
	}
	if err := json.Unmarshal(raw, &body); err != nil {
		return authz.Policy{}, fmt.Errorf("decode 409 body: %w", err)
	}
	for _, e := range body.Errors {
		if len(e.Details.ConflictsWith.Policy) == 0 {
			continue
		}
		var m map[string]json.RawMessage
		if err := json.Unmarshal(e.Details.ConflictsWith.Policy, &m); err != nil {
			return authz.Policy{}, fmt.Errorf("decode conflicting policy: %w", err)
		}
		var pol *iampolicymanagementv1.PolicyTemplateMetaData
		if err := core.UnmarshalModel(m, "", &pol, iampolicymanagementv1.UnmarshalPolicyTemplateMetaData); err != nil {
			return authz.Policy{}, fmt.Errorf("decode conflicting policy: %w", err)
		}
		out := fromTemplateMeta(pol)
		if out.ID == "" {
			return authz.Policy{}, errors.New("conflicting policy has no id")
		}
		return out, nil
	}
	return authz.Policy{}, errors.New("no errors[].details.conflicts_with.policy")
}

func subjectAttrs(attrs []authz.Attribute) []iampolicymanagementv1.SubjectAttribute {
	out := make([]iampolicymanagementv1.SubjectAttribute, len(attrs))
	for i, a := range attrs {
		out[i] = iampolicymanagementv1.SubjectAttribute{Name: core.StringPtr(a.Name), Value: core.StringPtr(a.Value)}
	}
	return out
}

func resourceAttrs(attrs []authz.Attribute) []iampolicymanagementv1.ResourceAttribute {
	out := make([]iampolicymanagementv1.ResourceAttribute, len(attrs))
	for i, a := range attrs {
		out[i] = iampolicymanagementv1.ResourceAttribute{Name: core.StringPtr(a.Name), Value: core.StringPtr(a.Value)}
		if a.Operator != "" {
			out[i].Operator = core.StringPtr(a.Operator)
		}
	}
	return out
}

func roles(ids []string) []iampolicymanagementv1.PolicyRole {
	out := make([]iampolicymanagementv1.PolicyRole, len(ids))
	for i, id := range ids {
		out[i] = iampolicymanagementv1.PolicyRole{RoleID: core.StringPtr(id)}
	}
	return out
}

func fromPolicy(p *iampolicymanagementv1.Policy) authz.Policy {
	if p == nil {
		return authz.Policy{}
	}
	return toPolicy(p.ID, p.Type, p.Description, p.State, p.Subjects, p.Resources, p.Roles)
}

func fromTemplateMeta(p *iampolicymanagementv1.PolicyTemplateMetaData) authz.Policy {
	if p == nil {
		return authz.Policy{}
	}
	return toPolicy(p.ID, p.Type, p.Description, p.State, p.Subjects, p.Resources, p.Roles)
}

// toPolicy flattens IBM's subjects/resources (lists of attribute lists; v1 authorization
// policies have exactly one of each) into the domain's attribute lists.
func toPolicy(id, typ, description, state *string, subjects []iampolicymanagementv1.PolicySubject,
	resources []iampolicymanagementv1.PolicyResource, rs []iampolicymanagementv1.PolicyRole) authz.Policy {
	p := authz.Policy{ID: deref(id), Description: deref(description), State: deref(state), Grant: authz.Grant{Type: deref(typ)}}
	for _, s := range subjects {
		for _, a := range s.Attributes {
			p.Subjects = append(p.Subjects, authz.Attribute{Name: deref(a.Name), Value: deref(a.Value)})
		}
	}
	for _, r := range resources {
		for _, a := range r.Attributes {
			p.Resources = append(p.Resources, authz.Attribute{Name: deref(a.Name), Value: deref(a.Value), Operator: deref(a.Operator)})
		}
	}
	for _, r := range rs {
		p.Roles = append(p.Roles, deref(r.RoleID))
	}
	return p
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// responseOf digs the HTTP response out of an error the SDK's pagers return without one.
func responseOf(err error) *core.DetailedResponse {
	var problem *core.HTTPProblem
	if errors.As(err, &problem) {
		return problem.Response
	}
	return nil
}
