package emulator_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/IBM/go-sdk-core/v5/core"
	"github.com/IBM/platform-services-go-sdk/iampolicymanagementv1"
	"github.com/IBM/vpc-go-sdk/vpcv1"

	"github.com/s2s-authorizer/s2s-authorizer/internal/emulator"
)

func TestStatsCounts(t *testing.T) {
	ctx := context.Background()
	srv := start(t, emulator.SampleWorld())
	c := newClients(t, srv)
	p, _, err := c.policies.CreatePolicyWithContext(ctx, authorizationOptions(c, otherAccount, kpGUID))
	if err != nil {
		t.Fatal(err)
	}
	_, _, _ = c.policies.CreatePolicyWithContext(ctx, authorizationOptions(c, otherAccount, kpGUID)) // 409, still a call
	if _, err := c.policies.DeletePolicyWithContext(ctx, c.policies.NewDeletePolicyOptions(*p.ID)); err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.vpc(t, "eu-de").GetSnapshotWithContext(ctx, &vpcv1.GetSnapshotOptions{ID: core.StringPtr(euSnapshotID)}); err != nil {
		t.Fatal(err)
	}
	crn := emulator.SnapshotCRN(sampleAccount, "eu-de", euSnapshotID)
	if _, _, err := c.tagging.AttachTagWithContext(ctx, c.tagging.NewAttachTagOptions().SetResources(resourceOf(crn)).SetTagNames([]string{"a:b"})); err != nil {
		t.Fatal(err)
	}
	st := srv.Stats()
	want := map[string]int{
		"POST /identity/token":     1,
		"POST /v1/policies":        2,
		"DELETE /v1/policies/{id}": 1,
		"GET /v1/snapshots/{id}":   1,
		"POST /v3/tags/attach":     1,
	}
	for k, v := range want {
		if st.Calls[k] != v {
			t.Errorf("calls[%s] = %d, want %d", k, st.Calls[k], v)
		}
	}
	if len(st.Calls) != len(want) || st.Total != 5 || st.Writes != 4 || st.PolicyWrites != 3 || len(st.Faults) != 0 {
		t.Errorf("stats = %+v", st)
	}
	// Stats returns a copy.
	st.Calls["POST /v1/policies"] = 99
	if srv.Stats().Calls["POST /v1/policies"] != 2 {
		t.Error("Stats shares its maps")
	}
	srv.ResetStats()
	if st := srv.Stats(); st.Total != 0 || len(st.Calls) != 0 {
		t.Errorf("after ResetStats: %+v", st)
	}
}

func TestEndpointsAndEnv(t *testing.T) {
	srv := start(t, emulator.SampleWorld())
	u := srv.URL()
	if !strings.HasPrefix(u, "http://127.0.0.1:") {
		t.Fatalf("URL = %s", u)
	}
	ep := srv.Endpoints()
	if ep.IAM != u || ep.VPC != u+"/vpc/{region}/v1" || ep.ResourceController != u || ep.Tagging != u || ep.KMS != u {
		t.Errorf("endpoints = %+v", ep)
	}
	want := []string{
		"IBMCLOUD_API_KEY=", "IBMCLOUD_ACCOUNT_ID=" + sampleAccount, "IBMCLOUD_IAM_URL=" + u,
		"IBMCLOUD_VPC_URL=" + u + "/vpc/{region}/v1", "IBMCLOUD_RESOURCE_CONTROLLER_URL=" + u,
		"IBMCLOUD_KMS_URL=" + u,
	}
	env := srv.Env()
	if len(env) != len(want) {
		t.Fatalf("env = %v", env)
	}
	for i, w := range want {
		if !strings.HasPrefix(env[i], w) || env[i] == "IBMCLOUD_API_KEY=" {
			t.Errorf("env[%d] = %q, want prefix %q (non-empty)", i, env[i], w)
		}
	}
}

func TestNewServesThroughHandler(t *testing.T) {
	srv, err := emulator.New(emulator.SampleWorld())
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv.Handler())
	defer hs.Close()
	auth, err := core.NewIamAuthenticatorBuilder().SetApiKey("k").SetURL(hs.URL).Build()
	if err != nil {
		t.Fatal(err)
	}
	policies, err := iampolicymanagementv1.NewIamPolicyManagementV1(&iampolicymanagementv1.IamPolicyManagementV1Options{URL: hs.URL, Authenticator: auth})
	if err != nil {
		t.Fatal(err)
	}
	list, _, err := policies.ListPolicies(policies.NewListPoliciesOptions(sampleAccount))
	if err != nil || len(list.Policies) != samplePolicies || !strings.HasPrefix(*list.Policies[0].Href, hs.URL+"/v1/policies/") {
		t.Errorf("list = %+v, %v", list, err)
	}
	if srv.URL() != "" || srv.Close() != nil {
		t.Error("a server made with New neither has a URL nor anything to close")
	}
}

func TestWorldIsACopyAndResetValidates(t *testing.T) {
	srv := start(t, emulator.SampleWorld())
	w := srv.World()
	w.Snapshots[0].UserTags[0] = "changed"
	w.KMSInstances[0].Keys[0].Name = "changed"
	if got := srv.World(); got.Snapshots[0].UserTags[0] == "changed" || got.KMSInstances[0].Keys[0].Name == "changed" {
		t.Error("World() shares state with the server")
	}
	tests := []struct {
		name string
		w    *emulator.World
		want string
	}{
		{"nil", nil, "nil world"},
		{"bad account", &emulator.World{AccountID: "x"}, "$.account_id"},
		{"bad key type", sampleWorldWith(func(w *emulator.World) { w.KMSInstances[0].Keys[1].Type = "x" }), `$.kms_instances[0].keys[1].type: "x" is not root_key or standard_key`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := srv.Reset(tc.w)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Reset error = %v, want %q", err, tc.want)
			}
			if _, err := emulator.Start(tc.w, "127.0.0.1:0"); err == nil {
				t.Error("Start accepted the world")
			}
		})
	}
	if srv.World().AccountID != sampleAccount {
		t.Error("a failed Reset changed the world")
	}
}

func TestStartOnABusyAddress(t *testing.T) {
	srv := start(t, emulator.SampleWorld())
	_, err := emulator.Start(emulator.SampleWorld(), strings.TrimPrefix(srv.URL(), "http://"))
	if err == nil || !strings.Contains(err.Error(), "listen") {
		t.Errorf("Start on a busy address: %v", err)
	}
	// The first server still answers.
	resp, err := http.Get(srv.URL() + "/_emulator/stats")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("status = %d", resp.StatusCode)
	}
}
