package emulator_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/IBM/go-sdk-core/v5/core"
	iam "github.com/IBM/platform-services-go-sdk/iampolicymanagementv1"

	"github.com/s2s-authorizer/s2s-authorizer/internal/emulator"
)

func v2Attr(key, operator string, value any) iam.V2PolicySubjectAttribute {
	return iam.V2PolicySubjectAttribute{Key: core.StringPtr(key), Operator: core.StringPtr(operator), Value: value}
}

func v2ResAttr(key, operator string, value any) iam.V2PolicyResourceAttribute {
	return iam.V2PolicyResourceAttribute{Key: core.StringPtr(key), Operator: core.StringPtr(operator), Value: value}
}

// backupGrantV2 is a Backup for VPC grant as Terraform makes it through v2: subject is/
// backup-policy, every snapshot of the account (snapshotId stringExists true), Editor.
func backupGrantV2(c *clients) *iam.CreateV2PolicyOptions {
	return c.policies.NewCreateV2PolicyOptions(&iam.Control{Grant: &iam.Grant{Roles: []iam.Roles{{RoleID: core.StringPtr(emulator.RoleEditor)}}}}, "authorization").
		SetDescription("backup for vpc").
		SetSubject(&iam.V2PolicySubject{Attributes: []iam.V2PolicySubjectAttribute{
			v2Attr("serviceName", "stringEquals", "is"),
			v2Attr("resourceType", "stringEquals", "backup-policy"),
			v2Attr("accountId", "stringEquals", sampleAccount),
		}}).
		SetResource(&iam.V2PolicyResource{Attributes: []iam.V2PolicyResourceAttribute{
			v2ResAttr("serviceName", "stringEquals", "is"),
			v2ResAttr("accountId", "stringEquals", sampleAccount),
			v2ResAttr("snapshotId", "stringExists", true),
		}})
}

// encryptionGrantV2 is the v2 twin of authorizationOptions(c, otherAccount, instance).
func encryptionGrantV2(c *clients, instance string, roles ...string) *iam.CreateV2PolicyOptions {
	var rs []iam.Roles
	for _, r := range roles {
		rs = append(rs, iam.Roles{RoleID: core.StringPtr(r)})
	}
	return c.policies.NewCreateV2PolicyOptions(&iam.Control{Grant: &iam.Grant{Roles: rs}}, "authorization").
		SetSubject(&iam.V2PolicySubject{Attributes: []iam.V2PolicySubjectAttribute{
			v2Attr("serviceName", "stringEquals", "server-protect"),
			v2Attr("accountId", "stringEquals", otherAccount),
		}}).
		SetResource(&iam.V2PolicyResource{Attributes: []iam.V2PolicyResourceAttribute{
			v2ResAttr("serviceName", "stringEquals", "kms"),
			v2ResAttr("accountId", "stringEquals", sampleAccount),
			v2ResAttr("serviceInstance", "stringEquals", instance),
		}})
}

func TestV2PolicyLifecycle(t *testing.T) {
	ctx := context.Background()
	srv := start(t, emulator.SampleWorld())
	c := newClients(t, srv)

	p, resp, err := c.policies.CreateV2PolicyWithContext(ctx, backupGrantV2(c))
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	ctl, _ := p.Control.(*iam.ControlResponse)
	if resp.StatusCode != http.StatusCreated || resp.Headers.Get("ETag") == "" || *p.State != "active" ||
		*p.Href != c.ep.IAM+"/v2/policies/"+*p.ID || !strings.HasPrefix(*p.CreatedByID, "iam-ServiceId-") || p.CreatedAt == nil ||
		ctl == nil || *ctl.Grant.Roles[0].RoleID != emulator.RoleEditor || p.Resource.Attributes[2].Value != true {
		t.Fatalf("created = %d %+v", resp.StatusCode, p)
	}
	id := *p.ID

	got, resp, err := c.policies.GetV2PolicyWithContext(ctx, c.policies.NewGetV2PolicyOptions(id).SetFormat("include_last_permit"))
	if err != nil || *got.ID != id || resp.Headers.Get("ETag") == "" || got.Subject.Attributes[1].Value != "backup-policy" {
		t.Fatalf("get = %v, %v", got, err)
	}

	// v1 sees the v2-made policy only as a placeholder whose href leads to v2.
	v1, _, err := c.policies.GetPolicyWithContext(ctx, c.policies.NewGetPolicyOptions(id))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(*v1.Description, "This is a unsupported policy version placeholder") ||
		*v1.Subjects[0].Attributes[0].Name != "iam_id" || *v1.Subjects[0].Attributes[0].Value != "unsupported version" ||
		*v1.Roles[0].RoleID != "crn:v1:bluemix:public:iam::::role:UnsupportedVersion" ||
		len(v1.Resources[0].Attributes) != 1 || *v1.Resources[0].Attributes[0].Name != "accountId" ||
		*v1.Href != c.ep.IAM+"/v2/policies/"+id || *v1.CreatedByID != *p.CreatedByID {
		t.Errorf("v1 view = %+v", v1)
	}
	list, _, err := c.policies.ListPoliciesWithContext(ctx, c.policies.NewListPoliciesOptions(sampleAccount))
	if err != nil || len(list.Policies) != samplePolicies+1 {
		t.Fatalf("v1 list = %v, %v", list, err)
	}

	// v2 lists every policy in v2 shape; the sample's v1 policy gets stringEquals subjects.
	all, _, err := c.policies.ListV2PoliciesWithContext(ctx, c.policies.NewListV2PoliciesOptions(sampleAccount))
	if err != nil || len(all.Policies) != samplePolicies+1 {
		t.Fatalf("v2 list = %v, %v", all, err)
	}
	for _, lp := range all.Policies {
		if *lp.ID != samplePolicyID {
			continue
		}
		if *lp.Subject.Attributes[0].Operator != "stringEquals" || *lp.Href != c.ep.IAM+"/v2/policies/"+samplePolicyID ||
			*lp.CreatedByID != "IBMid-270004XYZ1" || *lp.Control.(*iam.ControlResponse).Grant.Roles[0].RoleID != emulator.RoleReader {
			t.Errorf("v1 policy in v2 shape = %+v", lp)
		}
	}
	for _, tc := range []struct {
		service string
		want    int
	}{{"is", 1}, {"kms", 1}, {"hs-crypto", 0}} {
		l, _, err := c.policies.ListV2PoliciesWithContext(ctx, c.policies.NewListV2PoliciesOptions(sampleAccount).SetServiceName(tc.service).SetType("authorization"))
		if err != nil || len(l.Policies) != tc.want {
			t.Errorf("service_name=%s: %d policies, %v", tc.service, len(l.Policies), err)
		}
	}

	resp, err = c.policies.DeleteV2PolicyWithContext(ctx, c.policies.NewDeleteV2PolicyOptions(id))
	if err != nil || resp.StatusCode != http.StatusNoContent {
		t.Fatalf("delete: %v, %v", resp, err)
	}
	got, _, err = c.policies.GetV2PolicyWithContext(ctx, c.policies.NewGetV2PolicyOptions(id))
	if err != nil || *got.State != "deleted" {
		t.Errorf("after delete: %v, %v", got, err)
	}
	resp, err = c.policies.DeleteV2PolicyWithContext(ctx, c.policies.NewDeleteV2PolicyOptions(id))
	if err == nil || resp.StatusCode != http.StatusNotFound {
		t.Errorf("second delete: %v, %v", resp, err)
	}
	deleted, _, err := c.policies.ListV2PoliciesWithContext(ctx, c.policies.NewListV2PoliciesOptions(sampleAccount).SetState("deleted"))
	if err != nil || len(deleted.Policies) != 1 {
		t.Errorf("deleted v2 policies = %v, %v", deleted, err)
	}
	if st := srv.Stats(); st.PolicyWrites != 3 {
		t.Errorf("policy writes = %d, want 3", st.PolicyWrites)
	}
}

func TestV2PoliciesPageLikeV1(t *testing.T) {
	ctx := context.Background()
	srv := start(t, emulator.SampleWorld())
	c := newClients(t, srv)
	for i := range 4 {
		if _, _, err := c.policies.CreateV2PolicyWithContext(ctx, encryptionGrantV2(c, instanceGUID(i), emulator.RoleReader)); err != nil {
			t.Fatal(err)
		}
		if _, _, err := c.policies.CreatePolicyWithContext(ctx, authorizationOptions(c, otherAccount, instanceGUID(10+i))); err != nil {
			t.Fatal(err)
		}
	}
	srv.ResetStats()
	pager, err := c.policies.NewV2PoliciesPager(c.policies.NewListV2PoliciesOptions(sampleAccount).SetLimit(3))
	if err != nil {
		t.Fatal(err)
	}
	all, err := pager.GetAllWithContext(ctx)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, p := range all {
		if seen[*p.ID] {
			t.Errorf("%s listed twice", *p.ID)
		}
		seen[*p.ID] = true
	}
	// The sample's policies and 8 made here, 3 a page.
	want := samplePolicies + 8
	if pages := (want + 2) / 3; len(all) != want || srv.Stats().Calls["GET /v2/policies"] != pages {
		t.Errorf("%d policies in %d pages, want %d in %d", len(all), srv.Stats().Calls["GET /v2/policies"], want, pages)
	}
	tok := c.token(t)
	for _, tc := range []struct{ name, url, code string }{
		{"no account", c.ep.IAM + "/v2/policies", "missing_required_query_parameter"},
		{"bad format", query(c.ep.IAM+"/v2/policies", "account_id", sampleAccount, "format", "full"), "invalid_query_parameter"},
		{"limit 101", query(c.ep.IAM+"/v2/policies", "account_id", sampleAccount, "limit", "101"), "invalid_query_parameter"},
		{"bad start", query(c.ep.IAM+"/v2/policies", "account_id", sampleAccount, "start", "!"), "invalid_query_parameter"},
	} {
		if a := call(t, http.MethodGet, tc.url, tok, nil); a.status != 400 || path(a.body, "errors", 0, "code") != tc.code {
			t.Errorf("%s: %d %s", tc.name, a.status, a.raw)
		}
	}
}

func TestConflictsAcrossVersionsShowTheExistingPolicyInItsOwnShape(t *testing.T) {
	ctx := context.Background()
	srv := start(t, emulator.SampleWorld())
	c := newClients(t, srv)
	v1, _, err := c.policies.CreatePolicyWithContext(ctx, authorizationOptions(c, otherAccount, kpGUID))
	if err != nil {
		t.Fatal(err)
	}
	// The v2 twin of a v1 policy, with other roles: 409, the v1 policy in v1 shape.
	_, resp, err := c.policies.CreateV2PolicyWithContext(ctx, encryptionGrantV2(c, kpGUID, emulator.RoleReader, emulator.RoleAuthorizationDelegator))
	if err == nil || resp.StatusCode != http.StatusConflict {
		t.Fatalf("v2 twin of a v1 policy: %v, %v", resp, err)
	}
	if path(resp.Result, "errors", 0, "code") != "policy_conflict_error" ||
		path(resp.Result, "errors", 0, "details", "conflicts_with", "policy", "id") != *v1.ID ||
		path(resp.Result, "errors", 0, "details", "conflicts_with", "policy", "subjects", 0, "attributes", 0, "name") != "serviceName" {
		t.Errorf("409 body = %v", resp.Result)
	}

	v2, _, err := c.policies.CreateV2PolicyWithContext(ctx, encryptionGrantV2(c, hpcsGUID, emulator.RoleReader))
	if err != nil {
		t.Fatal(err)
	}
	twin := authorizationOptions(c, otherAccount, hpcsGUID)
	_, resp, err = c.policies.CreatePolicyWithContext(ctx, twin)
	if err == nil || resp.StatusCode != http.StatusConflict {
		t.Fatalf("v1 twin of a v2 policy: %v, %v", resp, err)
	}
	if path(resp.Result, "errors", 0, "details", "conflicts_with", "policy", "id") != *v2.ID ||
		path(resp.Result, "errors", 0, "details", "conflicts_with", "policy", "control", "grant", "roles", 0, "role_id") != emulator.RoleReader ||
		path(resp.Result, "errors", 0, "details", "conflicts_with", "policy", "subject", "attributes", 0, "operator") != "stringEquals" {
		t.Errorf("409 body = %v", resp.Result)
	}
	// stringExists true is not the same resource as a stringEquals value.
	if _, _, err := c.policies.CreateV2PolicyWithContext(ctx, backupGrantV2(c)); err != nil {
		t.Fatal(err)
	}
	_, resp, _ = c.policies.CreateV2PolicyWithContext(ctx, backupGrantV2(c))
	if resp.StatusCode != http.StatusConflict {
		t.Errorf("second backup grant: %d", resp.StatusCode)
	}
}

func TestCreateV2PolicyValidation(t *testing.T) {
	srv := start(t, emulator.SampleWorld())
	c := newClients(t, srv)
	tok := c.token(t)
	subject := `"subject":{"attributes":[{"key":"serviceName","operator":"stringEquals","value":"server-protect"},{"key":"accountId","operator":"stringEquals","value":"` + otherAccount + `"}]}`
	resource := `"resource":{"attributes":[{"key":"serviceName","operator":"stringEquals","value":"kms"},{"key":"accountId","operator":"stringEquals","value":"` + sampleAccount + `"}]}`
	control := `"control":{"grant":{"roles":[{"role_id":"` + emulator.RoleReader + `"}]}}`
	tests := []struct {
		name, body string
		status     int
		message    string
	}{
		{"v1 body", `{"type":"authorization","subjects":[],"roles":[],"resources":[]}`, 400, "$.subject: required"},
		{"no control", `{"type":"authorization",` + subject + `,` + resource + `}`, 400, "$.control: required"},
		{"no roles", `{"type":"authorization",` + subject + `,` + resource + `,"control":{"grant":{"roles":[]}}}`, 400, "$.control.grant.roles: required"},
		{"v1 attribute names", `{"type":"authorization","subject":{"attributes":[{"name":"serviceName","value":"server-protect"}]},` + resource + `,` + control + `}`, 400, "$.subject.attributes[0].key: required"},
		{"bad operator", `{"type":"authorization",` + strings.Replace(subject, `"operator":"stringEquals","value":"server-protect"`, `"operator":"stringMatch","value":"server-protect"`, 1) + `,` + resource + `,` + control + `}`, 400, `$.subject.attributes[0].operator: "stringMatch" is not stringEquals or stringExists`},
		{"stringExists with a string", `{"type":"authorization",` + subject + `,` + strings.Replace(resource, `]}`, `,{"key":"snapshotId","operator":"stringExists","value":"true"}]}`, 1) + `,` + control + `}`, 400, "expected boolean with stringExists"},
		{"other account", `{"type":"authorization",` + subject + `,` + strings.Replace(resource, sampleAccount, otherAccount, 1) + `,` + control + `}`, 403, "not allowed to create a policy in account"},
		{"role not offered", `{"type":"authorization",` + subject + `,` + resource + `,"control":{"grant":{"roles":[{"role_id":"` + emulator.RoleEditor + `"}]}}}`, 400, "Invalid role " + emulator.RoleEditor},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := call(t, http.MethodPost, c.ep.IAM+"/v2/policies", tok, []byte(tc.body))
			if a.status != tc.status {
				t.Fatalf("status = %d, want %d: %s", a.status, tc.status, a.raw)
			}
			if msg, _ := path(a.body, "errors", 0, "message").(string); !strings.Contains(msg, tc.message) {
				t.Errorf("message = %q, want it to contain %q", msg, tc.message)
			}
		})
	}
}

func TestWorldPoliciesV2(t *testing.T) {
	v2 := `{"id":"v2-1","type":"authorization","description":"made by terraform",
		"subject":{"attributes":[{"key":"serviceName","operator":"stringEquals","value":"server-protect"},{"key":"accountId","operator":"stringEquals","value":"` + otherAccount + `"}]},
		"resource":{"attributes":[{"key":"serviceName","operator":"stringEquals","value":"kms"},{"key":"accountId","operator":"stringEquals","value":"` + sampleAccount + `"},{"key":"serviceInstance","operator":"stringEquals","value":"` + kpGUID + `"}]},
		"control":{"grant":{"roles":[{"role_id":"` + emulator.RoleReader + `"}]}},
		"href":"https://iam.cloud.ibm.com/v2/policies/v2-1","created_at":"2025-01-02T03:04:05.000Z","created_by_id":"IBMid-terraform","state":"active"}`
	w, err := emulator.ParseWorld([]byte(world(`,"policies_v2":[` + v2 + `]`)))
	if err != nil {
		t.Fatal(err)
	}
	srv := start(t, w)
	c := newClients(t, srv)
	got, _, err := c.policies.GetV2Policy(c.policies.NewGetV2PolicyOptions("v2-1"))
	if err != nil || *got.CreatedByID != "IBMid-terraform" || *got.Description != "made by terraform" {
		t.Fatalf("world v2 policy = %v, %v", got, err)
	}
	// The v1 twin conflicts with it.
	_, resp, _ := c.policies.CreatePolicy(authorizationOptions(c, otherAccount, kpGUID))
	if resp.StatusCode != http.StatusConflict {
		t.Errorf("v1 twin of a world v2 policy: %d", resp.StatusCode)
	}
	out := srv.World()
	if len(out.PoliciesV2) != 1 || len(out.Policies) != 0 || !strings.Contains(string(out.PoliciesV2[0]), `"control"`) {
		t.Errorf("World() = %s / %s", out.Policies, out.PoliciesV2)
	}
	for _, tc := range []struct{ doc, want string }{
		{world(`,"policies_v2":[` + strings.Replace(v2, `"key":"serviceName"`, `"name":"serviceName"`, 1) + `]`), "$.policies_v2[0].subject.attributes[0].key: required"},
		{world(`,"policies_v2":[` + v2 + `],"policies":[` + goodPolicy + `]`), ""},
		{world(`,"policies_v2":[` + strings.Replace(v2, sampleAccount, otherAccount, 1) + `]`), `$.policies_v2[0].resource.attributes: accountId`},
	} {
		_, err := emulator.ParseWorld([]byte(tc.doc))
		if tc.want == "" {
			if err != nil {
				t.Errorf("ParseWorld: %v", err)
			}
			continue
		}
		if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("error = %v, want prefix %q", err, tc.want)
		}
	}
	twins := world(`,"policies_v2":[` + v2 + `],"policies":[` + strings.Replace(goodPolicy, `{"name":"serviceName","value":"kms"},`, `{"name":"serviceName","value":"kms"},{"name":"serviceInstance","value":"`+kpGUID+`"},`, 1) + `]`)
	if _, err := emulator.ParseWorld([]byte(twins)); err == nil || !strings.Contains(err.Error(), "$.policies_v2[0]: conflicts with $.policies[0]") {
		t.Errorf("v1 and v2 twins in one world: %v", err)
	}
}
