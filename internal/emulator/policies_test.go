package emulator_test

import (
	"context"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"testing"

	"github.com/IBM/go-sdk-core/v5/core"
	"github.com/IBM/platform-services-go-sdk/iampolicymanagementv1"

	"github.com/s2s-authorizer/s2s-authorizer/internal/emulator"
)

// instanceGUID makes distinct but valid KMS instance GUIDs for distinct policies.
func instanceGUID(i int) string { return fmt.Sprintf("00000000-0000-4000-8000-%012d", i) }

func TestPolicyLifecycle(t *testing.T) {
	ctx := context.Background()
	srv := start(t, emulator.SampleWorld())
	c := newClients(t, srv)

	var created []string
	for i := range 5 {
		p, resp, err := c.policies.CreatePolicyWithContext(ctx, authorizationOptions(c, otherAccount, instanceGUID(i)))
		if err != nil {
			t.Fatalf("create %d: %v", i, err)
		}
		if resp.StatusCode != http.StatusCreated || resp.Headers.Get("ETag") == "" {
			t.Errorf("create %d: status %d, ETag %q", i, resp.StatusCode, resp.Headers.Get("ETag"))
		}
		if *p.State != "active" || *p.Type != "authorization" || *p.Description != "managed by s2s-authorizer" ||
			*p.Roles[0].DisplayName != "Reader" || p.CreatedAt == nil || *p.CreatedByID == "" ||
			*p.Href != c.ep.IAM+"/v1/policies/"+*p.ID || *p.Resources[0].Attributes[0].Operator != "stringEquals" {
			t.Errorf("created policy = %+v", p)
		}
		created = append(created, *p.ID)
	}

	// Six active policies (the sample's and ours) in pages of two: three pages.
	srv.ResetStats()
	opts := c.policies.NewListPoliciesOptions(sampleAccount).SetType("authorization").SetLimit(2)
	pager, err := c.policies.NewPoliciesPager(opts)
	if err != nil {
		t.Fatal(err)
	}
	all, err := pager.GetAllWithContext(ctx)
	if err != nil {
		t.Fatalf("pager: %v", err)
	}
	var ids []string
	for _, p := range all {
		ids = append(ids, *p.ID)
	}
	want := append([]string{samplePolicyID}, created...)
	sort.Strings(want)
	if strings.Join(ids, ",") != strings.Join(want, ",") {
		t.Errorf("listed %v, want %v", ids, want)
	}
	if got := srv.Stats().Calls["GET /v1/policies"]; got != 3 {
		t.Errorf("pages fetched = %d, want 3", got)
	}

	got, resp, err := c.policies.GetPolicyWithContext(ctx, c.policies.NewGetPolicyOptions(created[0]))
	if err != nil || *got.ID != created[0] || resp.Headers.Get("ETag") == "" {
		t.Fatalf("get = %v, %v", got, err)
	}

	resp, err = c.policies.DeletePolicyWithContext(ctx, c.policies.NewDeletePolicyOptions(created[0]))
	if err != nil || resp.StatusCode != http.StatusNoContent {
		t.Fatalf("delete: %v, %v", resp, err)
	}
	got, _, err = c.policies.GetPolicyWithContext(ctx, c.policies.NewGetPolicyOptions(created[0]))
	if err != nil || *got.State != "deleted" {
		t.Errorf("after delete: %v, %v", got, err)
	}
	resp, err = c.policies.DeletePolicyWithContext(ctx, c.policies.NewDeletePolicyOptions(created[0]))
	if err == nil || resp.StatusCode != http.StatusNotFound {
		t.Errorf("second delete: %v, %v", resp, err)
	}
	if code := path(problem(t, err).Response.Result, "errors", 0, "code"); code != "policy_not_found" {
		t.Errorf("second delete code = %v", code)
	}
	_, resp, err = c.policies.GetPolicyWithContext(ctx, c.policies.NewGetPolicyOptions("no-such-policy"))
	if err == nil || resp.StatusCode != http.StatusNotFound {
		t.Errorf("get unknown: %v, %v", resp, err)
	}

	// Deleted policies are listed only when asked for.
	active, _, err := c.policies.ListPoliciesWithContext(ctx, c.policies.NewListPoliciesOptions(sampleAccount))
	if err != nil || len(active.Policies) != samplePolicies+4 {
		t.Errorf("active policies = %d, %v", len(active.Policies), err)
	}
	deleted, _, err := c.policies.ListPoliciesWithContext(ctx, c.policies.NewListPoliciesOptions(sampleAccount).SetState("deleted"))
	if err != nil || len(deleted.Policies) != 1 || *deleted.Policies[0].ID != created[0] {
		t.Errorf("deleted policies = %v, %v", deleted, err)
	}
	// The world holds the active ones with their ids.
	if n := len(srv.World().Policies); n != 5 {
		t.Errorf("World() has %d policies, want 5", n)
	}
}

func TestDuplicateCreateAnswers409NamingTheExistingPolicy(t *testing.T) {
	ctx := context.Background()
	srv := start(t, emulator.SampleWorld())
	c := newClients(t, srv)
	first, _, err := c.policies.CreatePolicyWithContext(ctx, authorizationOptions(c, otherAccount, kpGUID))
	if err != nil {
		t.Fatal(err)
	}

	reordered := authorizationOptions(c, otherAccount, kpGUID)
	attrs := reordered.Resources[0].Attributes
	attrs[0], attrs[2] = attrs[2], attrs[0]
	reordered.Subjects[0].Attributes[0], reordered.Subjects[0].Attributes[1] = reordered.Subjects[0].Attributes[1], reordered.Subjects[0].Attributes[0]
	reordered.SetDescription("another description")

	tests := []struct {
		name string
		opts *iampolicymanagementv1.CreatePolicyOptions
	}{
		{"same policy", authorizationOptions(c, otherAccount, kpGUID)},
		{"attributes reordered, other description", reordered},
		{"other roles", authorizationOptions(c, otherAccount, kpGUID, emulator.RoleReader, emulator.RoleAuthorizationDelegator)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, resp, err := c.policies.CreatePolicyWithContext(ctx, tc.opts)
			if err == nil || p != nil {
				t.Fatalf("duplicate create succeeded: %v", p)
			}
			if resp.StatusCode != http.StatusConflict {
				t.Fatalf("status = %d", resp.StatusCode)
			}
			prob := problem(t, err)
			if prob.Response.StatusCode != http.StatusConflict || prob.Summary != "Failed to create policy." {
				t.Errorf("problem = %d %q", prob.Response.StatusCode, prob.Summary)
			}
			body := resp.Result
			if got := path(body, "errors", 0, "details", "conflicts_with", "policy", "id"); got != *first.ID {
				t.Errorf("conflicts_with.policy.id = %v, want %s", got, *first.ID)
			}
			if got := path(body, "errors", 0, "code"); got != "policy_conflict_error" {
				t.Errorf("code = %v", got)
			}
			etag, _ := path(body, "errors", 0, "details", "conflicts_with", "etag").(string)
			if !strings.HasPrefix(etag, "1-") || path(body, "status_code") != float64(409) || path(body, "trace") == "" {
				t.Errorf("409 body = %v", body)
			}
		})
	}
	// A different subject account is a different policy.
	if _, _, err := c.policies.CreatePolicyWithContext(ctx, authorizationOptions(c, sampleAccount, kpGUID)); err != nil {
		t.Errorf("same-account policy: %v", err)
	}
	// Once the first is deleted, the same policy can be created again.
	if _, err := c.policies.DeletePolicyWithContext(ctx, c.policies.NewDeletePolicyOptions(*first.ID)); err != nil {
		t.Fatal(err)
	}
	again, _, err := c.policies.CreatePolicyWithContext(ctx, authorizationOptions(c, otherAccount, kpGUID))
	if err != nil || *again.ID == *first.ID {
		t.Errorf("re-create after delete: %v, %v", again, err)
	}
}

func TestCreatePolicyValidation(t *testing.T) {
	srv := start(t, emulator.SampleWorld())
	c := newClients(t, srv)
	tok := c.token(t)
	subject := `"subjects":[{"attributes":[{"name":"serviceName","value":"server-protect"},{"name":"accountId","value":"` + otherAccount + `"}]}]`
	roles := `"roles":[{"role_id":"` + emulator.RoleReader + `"}]`
	resource := func(account string) string {
		return `"resources":[{"attributes":[{"name":"serviceName","value":"kms"},{"name":"accountId","value":"` + account + `"}]}]`
	}
	tests := []struct {
		name, body string
		status     int
		message    string
	}{
		{"malformed JSON", `{"type":`, 400, "$: invalid JSON"},
		{"access type is not the default", `{` + subject + `,` + roles + `,` + resource(sampleAccount) + `}`, 400, "$.type: required"},
		{"unknown type", `{"type":"service",` + subject + `,` + roles + `,` + resource(sampleAccount) + `}`, 400, `$.type: "service" is not access or authorization`},
		{"no subjects", `{"type":"authorization","subjects":[],` + roles + `,` + resource(sampleAccount) + `}`, 400, "$.subjects: required"},
		{"no roles", `{"type":"authorization",` + subject + `,"roles":[],` + resource(sampleAccount) + `}`, 400, "$.roles: required"},
		{"display-name role", `{"type":"authorization",` + subject + `,"roles":[{"role_id":"Reader"}],` + resource(sampleAccount) + `}`, 400, `$.roles[0].role_id: "Reader" is not a role CRN`},
		{"no resource attributes", `{"type":"authorization",` + subject + `,` + roles + `,"resources":[{"attributes":[]}]}`, 400, "$.resources[0].attributes: required"},
		{"display-name service", `{"type":"authorization","subjects":[{"attributes":[{"name":"serviceName","value":"server-protect"}]}],` + roles + `,` + resource(sampleAccount) + `}`, 400, "an authorization subject needs an accountId"},
		{"unknown field", `{"type":"authorization","id":"x",` + subject + `,` + roles + `,` + resource(sampleAccount) + `}`, 400, "$.id: unknown field"},
		{"other account's resource", `{"type":"authorization",` + subject + `,` + roles + `,` + resource(otherAccount) + `}`, 403, "not allowed to create a policy in account " + otherAccount},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := call(t, http.MethodPost, c.ep.IAM+"/v1/policies", tok, []byte(tc.body))
			if a.status != tc.status {
				t.Fatalf("status = %d, want %d: %s", a.status, tc.status, a.raw)
			}
			msg, _ := path(a.body, "errors", 0, "message").(string)
			if !strings.Contains(msg, tc.message) {
				t.Errorf("message = %q, want it to contain %q", msg, tc.message)
			}
		})
	}
	if n := len(srv.World().Policies); n != 1 {
		t.Errorf("a refused create changed the world: %d policies", n)
	}
}

func TestListPoliciesQuery(t *testing.T) {
	srv := start(t, emulator.SampleWorld())
	c := newClients(t, srv)
	tok := c.token(t)
	list := c.ep.IAM + "/v1/policies"
	tests := []struct {
		name   string
		url    string
		status int
		code   string
		count  int
	}{
		{"account_id required", list, 400, "missing_required_query_parameter", 0},
		{"other account", query(list, "account_id", otherAccount), 403, "insufficent_permissions", 0},
		{"limit above 100", query(list, "account_id", sampleAccount, "limit", "101"), 400, "invalid_query_parameter", 0},
		{"limit zero", query(list, "account_id", sampleAccount, "limit", "0"), 400, "invalid_query_parameter", 0},
		{"bad type", query(list, "account_id", sampleAccount, "type", "x"), 400, "invalid_query_parameter", 0},
		{"bad start", query(list, "account_id", sampleAccount, "start", "!!"), 400, "invalid_query_parameter", 0},
		{"authorization", query(list, "account_id", sampleAccount, "type", "authorization"), 200, "", sampleAuthorizations},
		{"access", query(list, "account_id", sampleAccount, "type", "access"), 200, "", sampleAccess},
		{"limit 100", query(list, "account_id", sampleAccount, "limit", "100"), 200, "", samplePolicies},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := call(t, http.MethodGet, tc.url, tok, nil)
			if a.status != tc.status {
				t.Fatalf("status = %d, want %d: %s", a.status, tc.status, a.raw)
			}
			if tc.status != 200 {
				if code := path(a.body, "errors", 0, "code"); code != tc.code {
					t.Errorf("code = %v, want %s", code, tc.code)
				}
				return
			}
			policies, _ := a.body["policies"].([]any)
			if len(policies) != tc.count || a.body["next"] != nil || path(a.body, "first", "href") == nil {
				t.Errorf("body = %s", a.raw)
			}
		})
	}
}

func TestPolicyPagingIsStableWhilePoliciesChange(t *testing.T) {
	ctx := context.Background()
	srv := start(t, emulator.SampleWorld())
	c := newClients(t, srv)
	for i := range 6 {
		if _, _, err := c.policies.CreatePolicyWithContext(ctx, authorizationOptions(c, otherAccount, instanceGUID(i))); err != nil {
			t.Fatal(err)
		}
	}
	before := map[string]bool{}
	all, _, err := c.policies.ListPoliciesWithContext(ctx, c.policies.NewListPoliciesOptions(sampleAccount))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range all.Policies {
		before[*p.ID] = true
	}

	opts := c.policies.NewListPoliciesOptions(sampleAccount).SetLimit(3)
	page1, _, err := c.policies.ListPoliciesWithContext(ctx, opts)
	if err != nil || page1.Next == nil || page1.Next.Start == nil || !strings.Contains(*page1.Next.Href, "start=") {
		t.Fatalf("page 1 = %v, %v", page1, err)
	}
	// Between pages: delete a policy already seen and one not yet seen, add new ones.
	seen := map[string]bool{}
	for _, p := range page1.Policies {
		seen[*p.ID] = true
	}
	var unseen string
	for id := range before {
		if !seen[id] {
			unseen = id
			break
		}
	}
	for _, id := range []string{*page1.Policies[0].ID, unseen} {
		if _, err := c.policies.DeletePolicyWithContext(ctx, c.policies.NewDeletePolicyOptions(id)); err != nil {
			t.Fatal(err)
		}
	}
	for i := 10; i < 13; i++ {
		if _, _, err := c.policies.CreatePolicyWithContext(ctx, authorizationOptions(c, otherAccount, instanceGUID(i))); err != nil {
			t.Fatal(err)
		}
	}
	next := page1.Next.Start
	for next != nil {
		page, _, err := c.policies.ListPoliciesWithContext(ctx, opts.SetStart(*next))
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range page.Policies {
			if seen[*p.ID] {
				t.Errorf("policy %s listed twice", *p.ID)
			}
			seen[*p.ID] = true
		}
		next = nil
		if page.Next != nil {
			next = page.Next.Start
		}
	}
	for id := range before {
		if !seen[id] && id != unseen {
			t.Errorf("policy %s, present throughout, was skipped", id)
		}
	}
	if seen[unseen] {
		t.Errorf("policy %s, deleted before its page, was listed", unseen)
	}
}

func TestListRoles(t *testing.T) {
	const (
		operator  = "crn:v1:bluemix:public:iam::::role:Operator"
		editor    = "crn:v1:bluemix:public:iam::::role:Editor"
		shareSnap = "crn:v1:bluemix:public:is::::serviceRole:ShareSnapshotOperator"
		restorer  = "crn:v1:bluemix:public:iam::::role:SnapshotRemoteAccountRestorer"
		restorIS  = "crn:v1:bluemix:public:is::::serviceRole:SnapshotRemoteAccountRestorer"
	)
	tests := []struct {
		name             string
		settings         emulator.IAMSettings
		service, source  string
		wantServiceRoles []string
		wantSystemRoles  []string
	}{
		{"restore, default form", emulator.IAMSettings{}, "is", "server-protect", []string{restorer}, nil},
		{"restore, is service role form", emulator.IAMSettings{RestorerRoleCRNForm: "is-service-role"}, "is", "server-protect", []string{restorIS}, nil},
		{"restore, iam role form", emulator.IAMSettings{RestorerRoleCRNForm: "iam-role"}, "is", "server-protect", []string{restorer}, nil},
		{"restore missing", emulator.IAMSettings{RolesMissing: []string{"SnapshotRemoteAccountRestorer"}}, "is", "server-protect", nil, nil},
		{"backup for VPC", emulator.IAMSettings{}, "is", "is", []string{restorer, shareSnap}, []string{operator, editor}},
		{"kms", emulator.IAMSettings{}, "kms", "server-protect", []string{emulator.RoleReader}, []string{emulator.RoleAuthorizationDelegator}},
		{"hs-crypto", emulator.IAMSettings{}, "hs-crypto", "server-protect", []string{emulator.RoleReader}, []string{emulator.RoleAuthorizationDelegator}},
		{"kms for another source", emulator.IAMSettings{}, "kms", "cloud-object-storage", []string{emulator.RoleReader}, []string{emulator.RoleAuthorizationDelegator}},
		{"kms without delegator", emulator.IAMSettings{RolesMissing: []string{"AuthorizationDelegator"}}, "kms", "server-protect", []string{emulator.RoleReader}, nil},
		{"unmodelled service", emulator.IAMSettings{}, "secrets-manager", "server-protect", nil, nil},
	}
	srv := start(t, emulator.SampleWorld())
	c := newClients(t, srv)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := srv.SetIAMSettings(tc.settings); err != nil {
				t.Fatal(err)
			}
			opts := c.policies.NewListRolesOptions().SetServiceName(tc.service).SetAccountID(sampleAccount).
				SetSourceServiceName(tc.source).SetPolicyType("authorization").SetAcceptLanguage("de")
			roles, _, err := c.policies.ListRoles(opts)
			if err != nil {
				t.Fatal(err)
			}
			var service, system []string
			for _, r := range roles.ServiceRoles {
				service = append(service, *r.CRN)
			}
			for _, r := range append(roles.ServiceRoles, roles.SystemRoles...) {
				if r.CRN == nil || *r.DisplayName == "" || len(r.Actions) == 0 {
					t.Errorf("role %v lacks display name or actions", r.CRN)
				}
			}
			for _, r := range roles.SystemRoles {
				system = append(system, *r.CRN)
			}
			if fmt.Sprint(service) != fmt.Sprint(tc.wantServiceRoles) || fmt.Sprint(system) != fmt.Sprint(tc.wantSystemRoles) || roles.CustomRoles == nil {
				t.Errorf("roles = service %v, system %v, custom %v", service, system, roles.CustomRoles)
			}
		})
	}
	if err := srv.SetIAMSettings(emulator.IAMSettings{RolesMissing: []string{"Writer"}}); err == nil {
		t.Error("SetIAMSettings accepted a role the catalogue does not have")
	}
	if err := srv.SetIAMSettings(emulator.IAMSettings{RestorerRoleCRNForm: "iam"}); err == nil {
		t.Error("SetIAMSettings accepted an unknown CRN form")
	}
}

// restoreOptions builds the create options of a restore grant from subjectService in another
// account to the sample's tagged snapshot.
func restoreOptions(c *clients, subjectService string, roles ...string) *iampolicymanagementv1.CreatePolicyOptions {
	var policyRoles []iampolicymanagementv1.PolicyRole
	for _, r := range roles {
		policyRoles = append(policyRoles, iampolicymanagementv1.PolicyRole{RoleID: core.StringPtr(r)})
	}
	subject := []iampolicymanagementv1.SubjectAttribute{
		{Name: core.StringPtr("serviceName"), Value: core.StringPtr(subjectService)},
		{Name: core.StringPtr("accountId"), Value: core.StringPtr(otherAccount)},
	}
	if subjectService == "is" {
		subject = append(subject, iampolicymanagementv1.SubjectAttribute{Name: core.StringPtr("resourceType"), Value: core.StringPtr("volume")})
	}
	return c.policies.NewCreatePolicyOptions("authorization",
		[]iampolicymanagementv1.PolicySubject{{Attributes: subject}},
		policyRoles,
		[]iampolicymanagementv1.PolicyResource{{Attributes: []iampolicymanagementv1.ResourceAttribute{
			{Name: core.StringPtr("serviceName"), Value: core.StringPtr("is"), Operator: core.StringPtr("stringEquals")},
			{Name: core.StringPtr("accountId"), Value: core.StringPtr(sampleAccount), Operator: core.StringPtr("stringEquals")},
			{Name: core.StringPtr("snapshotId"), Value: core.StringPtr(taggedSnapshotID), Operator: core.StringPtr("stringEquals")},
		}}},
	)
}

func TestCreateRefusesRolesTheRoleListDoesNotOffer(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name     string
		settings emulator.IAMSettings
		opts     func(c *clients) *iampolicymanagementv1.CreatePolicyOptions
		refused  string // the role named in the 400, "" when the create succeeds
	}{
		{"restorer, default form", emulator.IAMSettings{}, func(c *clients) *iampolicymanagementv1.CreatePolicyOptions {
			return restoreOptions(c, "server-protect", emulator.RoleSnapshotRemoteAccountRestorer)
		}, ""},
		{"restorer, is form given while iam form served", emulator.IAMSettings{}, func(c *clients) *iampolicymanagementv1.CreatePolicyOptions {
			return restoreOptions(c, "server-protect", emulator.RoleSnapshotRemoteAccountRestorerIS)
		}, emulator.RoleSnapshotRemoteAccountRestorerIS},
		{"restorer, is form", emulator.IAMSettings{RestorerRoleCRNForm: "is-service-role"}, func(c *clients) *iampolicymanagementv1.CreatePolicyOptions {
			return restoreOptions(c, "server-protect", emulator.RoleSnapshotRemoteAccountRestorerIS)
		}, ""},
		{"restorer from an is subject", emulator.IAMSettings{}, func(c *clients) *iampolicymanagementv1.CreatePolicyOptions {
			return restoreOptions(c, "is", emulator.RoleSnapshotRemoteAccountRestorer)
		}, ""},
		{"restorer missing", emulator.IAMSettings{RolesMissing: []string{"SnapshotRemoteAccountRestorer"}}, func(c *clients) *iampolicymanagementv1.CreatePolicyOptions {
			return restoreOptions(c, "server-protect", emulator.RoleSnapshotRemoteAccountRestorer)
		}, emulator.RoleSnapshotRemoteAccountRestorer},
		{"Reader on a snapshot", emulator.IAMSettings{}, func(c *clients) *iampolicymanagementv1.CreatePolicyOptions {
			return restoreOptions(c, "server-protect", emulator.RoleReader)
		}, emulator.RoleReader},
		{"backup Editor", emulator.IAMSettings{}, func(c *clients) *iampolicymanagementv1.CreatePolicyOptions {
			return restoreOptions(c, "is", emulator.RoleEditor)
		}, ""},
		{"backup Editor from server-protect", emulator.IAMSettings{}, func(c *clients) *iampolicymanagementv1.CreatePolicyOptions {
			return restoreOptions(c, "server-protect", emulator.RoleEditor)
		}, emulator.RoleEditor},
		{"cross-account encryption", emulator.IAMSettings{}, func(c *clients) *iampolicymanagementv1.CreatePolicyOptions {
			return authorizationOptions(c, otherAccount, kpGUID, emulator.RoleReader, emulator.RoleAuthorizationDelegator)
		}, ""},
		{"delegator missing", emulator.IAMSettings{RolesMissing: []string{"AuthorizationDelegator"}}, func(c *clients) *iampolicymanagementv1.CreatePolicyOptions {
			return authorizationOptions(c, otherAccount, kpGUID, emulator.RoleReader, emulator.RoleAuthorizationDelegator)
		}, emulator.RoleAuthorizationDelegator},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := start(t, sampleWorldWith(func(w *emulator.World) { w.IAMSettings = tc.settings }))
			c := newClients(t, srv)
			p, resp, err := c.policies.CreatePolicyWithContext(ctx, tc.opts(c))
			if tc.refused == "" {
				if err != nil {
					t.Fatalf("create: %v", err)
				}
				if *p.Roles[0].DisplayName == "" || strings.HasPrefix(*p.Roles[0].DisplayName, "crn:") {
					t.Errorf("role display name = %q", *p.Roles[0].DisplayName)
				}
				return
			}
			if err == nil || resp.StatusCode != http.StatusBadRequest {
				t.Fatalf("create = %v, %v; want 400", resp, err)
			}
			msg, _ := path(resp.Result, "errors", 0, "message").(string)
			if path(resp.Result, "errors", 0, "code") != "invalid_role" || !strings.Contains(msg, tc.refused) {
				t.Errorf("400 body = %v", resp.Result)
			}
			if n := len(srv.World().Policies); n != 1 {
				t.Errorf("a refused create changed the world: %d policies", n)
			}
		})
	}
	// Access policies keep any well-formed role.
	srv := start(t, emulator.SampleWorld())
	c := newClients(t, srv)
	access := c.policies.NewCreatePolicyOptions("access",
		[]iampolicymanagementv1.PolicySubject{{Attributes: []iampolicymanagementv1.SubjectAttribute{{Name: core.StringPtr("iam_id"), Value: core.StringPtr("IBMid-1")}}}},
		[]iampolicymanagementv1.PolicyRole{{RoleID: core.StringPtr("crn:v1:bluemix:public:iam::::serviceRole:Writer")}},
		[]iampolicymanagementv1.PolicyResource{{Attributes: []iampolicymanagementv1.ResourceAttribute{
			{Name: core.StringPtr("serviceName"), Value: core.StringPtr("kms")},
			{Name: core.StringPtr("accountId"), Value: core.StringPtr(sampleAccount)},
		}}})
	if _, _, err := c.policies.CreatePolicyWithContext(ctx, access); err != nil {
		t.Errorf("access policy: %v", err)
	}
}

func TestPolicyCap(t *testing.T) {
	ctx := context.Background()
	const limit = samplePolicies + 2
	srv := start(t, sampleWorldWith(func(w *emulator.World) { w.PolicyCap = limit }))
	c := newClients(t, srv)
	// The sample's policies (access ones count too) plus one v1 and one v2 create reach the cap.
	if _, _, err := c.policies.CreatePolicyWithContext(ctx, authorizationOptions(c, otherAccount, instanceGUID(1))); err != nil {
		t.Fatal(err)
	}
	last, _, err := c.policies.CreateV2PolicyWithContext(ctx, encryptionGrantV2(c, instanceGUID(2), emulator.RoleReader))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		create func() (*core.DetailedResponse, error)
	}{
		{"v1", func() (*core.DetailedResponse, error) {
			_, resp, err := c.policies.CreatePolicyWithContext(ctx, authorizationOptions(c, otherAccount, instanceGUID(3)))
			return resp, err
		}},
		{"v2", func() (*core.DetailedResponse, error) {
			_, resp, err := c.policies.CreateV2PolicyWithContext(ctx, encryptionGrantV2(c, instanceGUID(4), emulator.RoleReader))
			return resp, err
		}},
	} {
		resp, err := tc.create()
		if err == nil || resp.StatusCode != http.StatusBadRequest {
			t.Fatalf("%s create past the cap: %v, %v", tc.name, resp, err)
		}
		msg, _ := path(resp.Result, "errors", 0, "message").(string)
		if path(resp.Result, "errors", 0, "code") != "policy_limit_exceeded" || !strings.Contains(msg, fmt.Sprintf("at most %d", limit)) ||
			path(resp.Result, "status_code") != float64(400) {
			t.Errorf("%s: body = %v", tc.name, resp.Result)
		}
	}
	// A duplicate still gets its 409; a delete makes room; the cap can be raised at run time.
	if _, resp, _ := c.policies.CreatePolicyWithContext(ctx, authorizationOptions(c, otherAccount, instanceGUID(1))); resp.StatusCode != http.StatusConflict {
		t.Errorf("duplicate at the cap: %d", resp.StatusCode)
	}
	if _, err := c.policies.DeleteV2PolicyWithContext(ctx, c.policies.NewDeleteV2PolicyOptions(*last.ID)); err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.policies.CreatePolicyWithContext(ctx, authorizationOptions(c, otherAccount, instanceGUID(3))); err != nil {
		t.Errorf("create after a delete: %v", err)
	}
	if err := srv.SetPolicyCap(0); err != nil || srv.IAMSettings().PolicyCap != 0 {
		t.Fatal(err)
	}
	if _, _, err := c.policies.CreatePolicyWithContext(ctx, authorizationOptions(c, otherAccount, instanceGUID(5))); err != nil {
		t.Errorf("create under IAM's default cap: %v", err)
	}
	if err := srv.SetPolicyCap(-1); err == nil {
		t.Error("negative cap accepted")
	}
	if _, err := emulator.ParseWorld([]byte(world(`,"policy_cap":0`))); err == nil || !strings.HasPrefix(err.Error(), "$.policy_cap: expected a positive integer") {
		t.Errorf("policy_cap 0: %v", err)
	}
}
