package ibm

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/IBM/go-sdk-core/v5/core"
	"github.com/IBM/platform-services-go-sdk/iampolicymanagementv1"

	"github.com/s2s-authorizer/s2s-authorizer/internal/apply"
	"github.com/s2s-authorizer/s2s-authorizer/internal/authz"
)

// policyPageSize is the largest page the policy lists answer, so a big account costs few calls.
const policyPageSize = 100

// Policies reads and writes the account's IAM authorization policies through IAM's v2 API: a v1
// list shows only a placeholder for every policy made through v2, and Terraform has made
// authorization policies through v2 since 2024 (facts file, section 2). The v2 list shows every
// policy, those made through v1 included (by this project's earlier releases, for one). The
// grant identity (subject, resource, roles) does not depend on the wire version.
type Policies struct {
	service   *iampolicymanagementv1.IamPolicyManagementV1
	accountID string
	// roles is told when IAM refuses a role, so that the next plan uses what IAM offers now.
	roles *Roles
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
	return p.list(ctx, &iampolicymanagementv1.ListV2PoliciesOptions{
		AccountID: &p.accountID, Type: core.StringPtr(authz.PolicyType), Limit: core.Int64Ptr(policyPageSize),
	})
}

func (p *Policies) list(ctx context.Context, opts *iampolicymanagementv1.ListV2PoliciesOptions) ([]authz.Policy, error) {
	pager, err := p.service.NewV2PoliciesPager(opts)
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
			pol, ok := fromV2Meta(&page[i])
			if ok && pol.Active() {
				out = append(out, pol)
			}
		}
	}
	return out, nil
}

// ListService returns the active authorization policies whose resource is of one service: a
// fresh read of the policies a decision concerns, narrowed by the v2 list's service_name filter.
func (p *Policies) ListService(ctx context.Context, service string) ([]authz.Policy, error) {
	return p.list(ctx, &iampolicymanagementv1.ListV2PoliciesOptions{
		AccountID: &p.accountID, Type: core.StringPtr(authz.PolicyType), ServiceName: core.StringPtr(service), Limit: core.Int64Ptr(policyPageSize),
	})
}

// Get reads one policy; a deleted one comes back with State "deleted", a gone one as an error
// matching apply.ErrNotFound.
func (p *Policies) Get(ctx context.Context, id string) (authz.Policy, error) {
	got, resp, err := p.service.GetV2PolicyWithContext(ctx, &iampolicymanagementv1.GetV2PolicyOptions{ID: &id})
	if err != nil {
		return authz.Policy{}, wrap("get policy "+id, resp, err)
	}
	pol, _ := fromV2Meta(got)
	return pol, nil
}

// Create creates the policy for a; a 409 comes back as *apply.ConflictError naming the existing
// policy, read in the shape of the API version that made it.
func (p *Policies) Create(ctx context.Context, a authz.Authorization) (authz.Policy, error) {
	op := "create policy for " + a.Object
	opts := &iampolicymanagementv1.CreateV2PolicyOptions{
		Type:        core.StringPtr(a.Type),
		Description: core.StringPtr(a.Description()),
		Subject:     &iampolicymanagementv1.V2PolicySubject{Attributes: v2SubjectAttrs(a.Subjects)},
		Resource:    &iampolicymanagementv1.V2PolicyResource{Attributes: v2ResourceAttrs(a.Resources)},
		Control:     &iampolicymanagementv1.Control{Grant: &iampolicymanagementv1.Grant{Roles: v2Roles(a.Roles)}},
	}
	created, resp, err := p.service.CreateV2PolicyWithContext(ctx, opts)
	if err == nil {
		pol, _ := fromV2(created)
		return pol, nil
	}
	switch {
	case resp != nil && resp.StatusCode == http.StatusConflict:
		existing, perr := conflictingPolicy(resp.Result)
		if perr != nil {
			return authz.Policy{}, wrap(op, resp, fmt.Errorf("409 without a readable conflicting policy: %w", perr))
		}
		return authz.Policy{}, &apply.ConflictError{Existing: existing}
	case resp != nil && resp.StatusCode == http.StatusBadRequest && errorCode(resp.Result, "policy_limit_exceeded"):
		// IAM's cap of policies per account (facts file, section 2): retrying cannot help.
		return authz.Policy{}, &apply.LimitError{Reason: fmt.Sprintf("IAM refused the policy: %v", err)}
	case resp != nil && resp.StatusCode == http.StatusBadRequest && p.roles != nil && mentionsRole(resp.Result, err):
		// IAM no longer offers a role as listed: read the roles again for the next plan.
		if lerr := p.roles.Load(ctx); lerr != nil {
			err = fmt.Errorf("%w (and reading IAM's roles again: %v)", err, lerr)
		}
	}
	return authz.Policy{}, wrap(op, resp, err)
}

// Delete deletes one policy; apply.ErrNotFound means it is gone already. A policy made through
// v1 that IAM will not delete through v2 is deleted through v1, the version that made it (IBM's
// advice: edit and delete with the API version that created a policy).
func (p *Policies) Delete(ctx context.Context, id string) error {
	resp, err := p.service.DeleteV2PolicyWithContext(ctx, &iampolicymanagementv1.DeleteV2PolicyOptions{ID: &id})
	if err != nil && resp != nil && resp.StatusCode == http.StatusBadRequest {
		resp, err = p.service.DeletePolicyWithContext(ctx, &iampolicymanagementv1.DeletePolicyOptions{PolicyID: &id})
	}
	if err != nil {
		return wrap("delete policy "+id, resp, err)
	}
	return nil
}

// conflictingPolicy reads errors[0].details.conflicts_with.policy from a 409 body, in v2 shape
// (control.grant.roles) or v1 shape (subjects, resources, roles). The SDK models that field as a
// string, so the decoded map is re-read here.
func conflictingPolicy(result any) (authz.Policy, error) {
	body, err := errorBody(result)
	if err != nil {
		return authz.Policy{}, err
	}
	for _, e := range body.Errors {
		if len(e.Details.ConflictsWith.Policy) == 0 {
			continue
		}
		var m map[string]json.RawMessage
		if err := json.Unmarshal(e.Details.ConflictsWith.Policy, &m); err != nil {
			return authz.Policy{}, fmt.Errorf("decode conflicting policy: %w", err)
		}
		var out authz.Policy
		if _, v2 := m["control"]; v2 {
			var pol *iampolicymanagementv1.V2PolicyTemplateMetaData
			if err := core.UnmarshalModel(m, "", &pol, iampolicymanagementv1.UnmarshalV2PolicyTemplateMetaData); err != nil {
				return authz.Policy{}, fmt.Errorf("decode conflicting policy: %w", err)
			}
			out, _ = fromV2Meta(pol)
		} else {
			var pol *iampolicymanagementv1.PolicyTemplateMetaData
			if err := core.UnmarshalModel(m, "", &pol, iampolicymanagementv1.UnmarshalPolicyTemplateMetaData); err != nil {
				return authz.Policy{}, fmt.Errorf("decode conflicting policy: %w", err)
			}
			out = fromV1Meta(pol)
		}
		if out.ID == "" {
			return authz.Policy{}, errors.New("conflicting policy has no id")
		}
		return out, nil
	}
	return authz.Policy{}, errors.New("no errors[].details.conflicts_with.policy")
}

type iamErrorBody struct {
	Errors []struct {
		Code    string `json:"code"`
		Message string `json:"message"`
		Details struct {
			ConflictsWith struct {
				Policy json.RawMessage `json:"policy"`
			} `json:"conflicts_with"`
		} `json:"details"`
	} `json:"errors"`
}

func errorBody(result any) (iamErrorBody, error) {
	var body iamErrorBody
	raw, err := json.Marshal(result)
	if err != nil {
		return body, err
	}
	if err := json.Unmarshal(raw, &body); err != nil {
		return body, fmt.Errorf("decode IAM's error body: %w", err)
	}
	return body, nil
}

func errorCode(result any, code string) bool {
	body, err := errorBody(result)
	if err != nil {
		return false
	}
	for _, e := range body.Errors {
		if e.Code == code {
			return true
		}
	}
	return false
}

// mentionsRole reports whether IAM's 400 is about a role (its code or message says so).
func mentionsRole(result any, err error) bool {
	body, berr := errorBody(result)
	if berr == nil {
		for _, e := range body.Errors {
			if strings.Contains(strings.ToLower(e.Code+" "+e.Message), "role") {
				return true
			}
		}
	}
	return strings.Contains(strings.ToLower(err.Error()), "role")
}

// v2 subject attributes all carry an operator; the domain keeps v1's convention of none for
// stringEquals, so that a grant is the same whichever version made it.
func v2SubjectAttrs(attrs []authz.Attribute) []iampolicymanagementv1.V2PolicySubjectAttribute {
	out := make([]iampolicymanagementv1.V2PolicySubjectAttribute, len(attrs))
	for i, a := range attrs {
		op := a.Operator
		if op == "" {
			op = "stringEquals"
		}
		out[i] = iampolicymanagementv1.V2PolicySubjectAttribute{Key: core.StringPtr(a.Name), Operator: core.StringPtr(op), Value: a.Value}
	}
	return out
}

// v2ResourceAttrs writes resource attributes with their operators. stringExists takes a JSON
// boolean in v2, not the string "true" (the emulator refuses the string, as Terraform never sends it): the domain
// keeps the value as text, so it is turned back here, as Terraform's provider does for its
// "true"/"false" strings (IBM-Cloud/terraform-provider-ibm, resource_ibm_iam_authorization_policy.go,
// which sends stringExists values as a bool through v2).
func v2ResourceAttrs(attrs []authz.Attribute) []iampolicymanagementv1.V2PolicyResourceAttribute {
	out := make([]iampolicymanagementv1.V2PolicyResourceAttribute, len(attrs))
	for i, a := range attrs {
		op := a.Operator
		if op == "" {
			op = "stringEquals"
		}
		var value any = a.Value
		if op == authz.OperatorStringExists {
			value = a.Value == "true"
		}
		out[i] = iampolicymanagementv1.V2PolicyResourceAttribute{Key: core.StringPtr(a.Name), Operator: core.StringPtr(op), Value: value}
	}
	return out
}

func v2Roles(ids []string) []iampolicymanagementv1.Roles {
	out := make([]iampolicymanagementv1.Roles, len(ids))
	for i, id := range ids {
		out[i] = iampolicymanagementv1.Roles{RoleID: core.StringPtr(id)}
	}
	return out
}

func fromV2(p *iampolicymanagementv1.V2Policy) (authz.Policy, bool) {
	if p == nil {
		return authz.Policy{}, false
	}
	return v2Policy(p.ID, p.Type, p.Description, p.State, p.CreatedByID, p.Subject, p.Resource, p.Control, p.Pattern, p.Rule)
}

func fromV2Meta(p *iampolicymanagementv1.V2PolicyTemplateMetaData) (authz.Policy, bool) {
	if p == nil {
		return authz.Policy{}, false
	}
	return v2Policy(p.ID, p.Type, p.Description, p.State, p.CreatedByID, p.Subject, p.Resource, p.Control, p.Pattern, p.Rule)
}

// v2Policy flattens a v2 policy into the domain's. ok is false for a conditional policy (a
// pattern or a rule, such as a time-based condition): it grants only sometimes, so it neither
// covers a wanted grant nor is one this project made; IAM does not count it as a conflict either.
func v2Policy(id, typ, description, state, createdBy *string, subject *iampolicymanagementv1.V2PolicySubject,
	resource *iampolicymanagementv1.V2PolicyResource, control iampolicymanagementv1.ControlResponseIntf,
	pattern *string, rule iampolicymanagementv1.V2PolicyRuleIntf) (authz.Policy, bool) {
	p := authz.Policy{ID: deref(id), Description: deref(description), State: deref(state), CreatedBy: deref(createdBy),
		Grant: authz.Grant{Type: deref(typ)}}
	if subject != nil {
		for _, a := range subject.Attributes {
			op := deref(a.Operator)
			if op == "stringEquals" {
				op = ""
			}
			p.Subjects = append(p.Subjects, authz.Attribute{Name: deref(a.Key), Value: attrValue(a.Value), Operator: op})
		}
	}
	if resource != nil {
		for _, a := range resource.Attributes {
			p.Resources = append(p.Resources, authz.Attribute{Name: deref(a.Key), Value: attrValue(a.Value), Operator: deref(a.Operator)})
		}
		if len(resource.Tags) > 0 {
			return p, false
		}
	}
	if c, ok := control.(*iampolicymanagementv1.ControlResponse); ok && c.Grant != nil {
		for _, r := range c.Grant.Roles {
			p.Roles = append(p.Roles, deref(r.RoleID))
		}
	}
	return p, pattern == nil && rule == nil
}

// attrValue renders a v2 attribute value (a string, or a boolean for stringExists) as text.
func attrValue(v any) string {
	switch v := v.(type) {
	case string:
		return v
	case nil:
		return ""
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}

func fromV1Meta(p *iampolicymanagementv1.PolicyTemplateMetaData) authz.Policy {
	if p == nil {
		return authz.Policy{}
	}
	pol := authz.Policy{ID: deref(p.ID), Description: deref(p.Description), State: deref(p.State), CreatedBy: deref(p.CreatedByID),
		Grant: authz.Grant{Type: deref(p.Type)}}
	for _, s := range p.Subjects {
		for _, a := range s.Attributes {
			pol.Subjects = append(pol.Subjects, authz.Attribute{Name: deref(a.Name), Value: deref(a.Value)})
		}
	}
	for _, r := range p.Resources {
		for _, a := range r.Attributes {
			pol.Resources = append(pol.Resources, authz.Attribute{Name: deref(a.Name), Value: deref(a.Value), Operator: deref(a.Operator)})
		}
	}
	for _, r := range p.Roles {
		pol.Roles = append(pol.Roles, deref(r.RoleID))
	}
	return pol
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
