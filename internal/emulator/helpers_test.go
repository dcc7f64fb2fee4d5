package emulator_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/IBM/go-sdk-core/v5/core"
	"github.com/IBM/platform-services-go-sdk/globaltaggingv1"
	"github.com/IBM/platform-services-go-sdk/iamidentityv1"
	"github.com/IBM/platform-services-go-sdk/iampolicymanagementv1"
	"github.com/IBM/platform-services-go-sdk/resourcecontrollerv2"
	"github.com/IBM/vpc-go-sdk/vpcv1"

	"github.com/s2s-authorizer/s2s-authorizer/internal/emulator"
)

// Ids of the sample world (worlds/sample.json).
const (
	sampleAccount      = "4b9f2c1d8e7a6b5c4d3e2f1a0b9c8d7e"
	otherAccount       = "9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d"
	kpGUID             = "3b05b403-8f51-4dac-9114-c777d0a760d4"
	hpcsGUID           = "5d2a9e71-6c4b-4f0a-b8e3-1f9c7d6a2b40"
	rootKeyID          = "7a8a2761-08e3-455f-a348-144ed604bba9"
	standardKeyID      = "c41e5b0d-2f8a-4c1e-9d3b-6a7f8e9d0c1b"
	hpcsRootKeyID      = "e8b3f1a2-4d6c-4b9e-8a1f-3c5d7e9f0a2b"
	taggedSnapshotID   = "r006-1b2c3d4e-5f60-4718-9a2b-3c4d5e6f7a8b"
	untaggedSnapshotID = "r006-6e7f8091-a2b3-44c5-96d7-e8f90a1b2c3d"
	euSnapshotID       = "r010-0f1e2d3c-4b5a-4697-8877-665544332211"
	samplePolicyID     = "0c9a7e52-3b1d-4f86-a2e4-5d6c7b8a9f01"
	vpcVersion         = "2026-08-18"
)

// The sample world's policies: one authorization policy made by hand, and the access policies
// deploy.sh gives the function's service ID (one per target service), which IAM lists with
// the others when no type is asked for.
const (
	sampleAuthorizations = 1
	sampleAccess         = 3
	samplePolicies       = sampleAuthorizations + sampleAccess
)

// start runs an emulator on loopback for the test.
func start(t *testing.T, w *emulator.World) *emulator.Server {
	t.Helper()
	srv, err := emulator.Start(w, "127.0.0.1:0")
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() {
		if err := srv.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return srv
}

// clients are the real SDK clients, configured only with the emulator's URLs and a real IAM
// authenticator whose token URL is the emulator. No retries: tests see raw answers.
type clients struct {
	auth     *core.IamAuthenticator
	policies *iampolicymanagementv1.IamPolicyManagementV1
	identity *iamidentityv1.IamIdentityV1
	tagging  *globaltaggingv1.GlobalTaggingV1
	rc       *resourcecontrollerv2.ResourceControllerV2
	vpcs     map[string]*vpcv1.VpcV1 // by region; "" is the unscoped /v1 path
	ep       emulator.Endpoints
}

func newClients(t *testing.T, srv *emulator.Server) *clients {
	t.Helper()
	ep := srv.Endpoints()
	auth, err := core.NewIamAuthenticatorBuilder().SetApiKey("test-api-key").SetURL(ep.IAM).Build()
	if err != nil {
		t.Fatalf("authenticator: %v", err)
	}
	c := &clients{auth: auth, ep: ep}
	if c.policies, err = iampolicymanagementv1.NewIamPolicyManagementV1(&iampolicymanagementv1.IamPolicyManagementV1Options{URL: ep.IAM, Authenticator: auth}); err != nil {
		t.Fatalf("policies client: %v", err)
	}
	if c.identity, err = iamidentityv1.NewIamIdentityV1(&iamidentityv1.IamIdentityV1Options{URL: ep.IAM, Authenticator: auth}); err != nil {
		t.Fatalf("identity client: %v", err)
	}
	if c.tagging, err = globaltaggingv1.NewGlobalTaggingV1(&globaltaggingv1.GlobalTaggingV1Options{URL: ep.Tagging, Authenticator: auth}); err != nil {
		t.Fatalf("tagging client: %v", err)
	}
	if c.rc, err = resourcecontrollerv2.NewResourceControllerV2(&resourcecontrollerv2.ResourceControllerV2Options{URL: ep.ResourceController, Authenticator: auth}); err != nil {
		t.Fatalf("resource controller client: %v", err)
	}
	// vpcv1.NewVpcV1 validates its options with go-playground/validator, which walks into the
	// authenticator's http.Client: done after the authenticator has live connections, that read
	// races with the transport (the race detector says so). So every VPC client sharing the
	// authenticator is made here, before its first use.
	c.vpcs = map[string]*vpcv1.VpcV1{"": newVPC(t, srv.URL()+"/v1", auth, vpcVersion)}
	for _, region := range []string{"us-south", "eu-de"} {
		c.vpcs[region] = newVPC(t, strings.ReplaceAll(ep.VPC, "{region}", region), auth, vpcVersion)
	}
	return c
}

func newVPC(t *testing.T, serviceURL string, auth core.Authenticator, version string) *vpcv1.VpcV1 {
	t.Helper()
	v, err := vpcv1.NewVpcV1(&vpcv1.VpcV1Options{URL: serviceURL, Authenticator: auth, Version: core.StringPtr(version)})
	if err != nil {
		t.Fatalf("vpc client: %v", err)
	}
	return v
}

// vpc is the VPC client of a region, made through the region placeholder of Endpoints.VPC.
func (c *clients) vpc(t *testing.T, region string) *vpcv1.VpcV1 {
	t.Helper()
	v, ok := c.vpcs[region]
	if !ok {
		t.Fatalf("no VPC client for region %q", region)
	}
	return v
}

// token gets an access token the way the SDKs do.
func (c *clients) token(t *testing.T) string {
	t.Helper()
	tok, err := c.auth.GetToken()
	if err != nil {
		t.Fatalf("GetToken: %v", err)
	}
	return tok
}

// answer is a raw HTTP answer with its JSON body decoded.
type answer struct {
	status int
	header http.Header
	body   map[string]any
	raw    []byte
}

// call makes a raw HTTP request; token "" sends no Authorization header.
func call(t *testing.T, method, rawURL, token string, body []byte, headers ...string) answer {
	t.Helper()
	req, err := http.NewRequest(method, rawURL, bytes.NewReader(body))
	if err != nil {
		t.Fatalf("request: %v", err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, rawURL, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read body: %v", err)
	}
	a := answer{status: resp.StatusCode, header: resp.Header, raw: raw}
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &a.body); err != nil {
			t.Fatalf("%s %s: body is not a JSON object: %v: %s", method, rawURL, err, raw)
		}
	}
	return a
}

// path walks a decoded JSON document: path(m, "errors", 0, "details") and so on.
func path(v any, steps ...any) any {
	for _, s := range steps {
		switch k := s.(type) {
		case string:
			m, ok := v.(map[string]any)
			if !ok {
				return nil
			}
			v = m[k]
		case int:
			a, ok := v.([]any)
			if !ok || k >= len(a) {
				return nil
			}
			v = a[k]
		}
	}
	return v
}

// problem extracts the HTTP problem of a failed SDK call.
func problem(t *testing.T, err error) *core.HTTPProblem {
	t.Helper()
	var p *core.HTTPProblem
	if !errors.As(err, &p) {
		t.Fatalf("error %v (%T) is not a *core.HTTPProblem", err, err)
	}
	return p
}

func query(base string, kv ...string) string {
	v := url.Values{}
	for i := 0; i+1 < len(kv); i += 2 {
		v.Set(kv[i], kv[i+1])
	}
	return base + "?" + v.Encode()
}

// sampleWorldWith returns the sample world with changes applied to a copy.
func sampleWorldWith(change func(w *emulator.World)) *emulator.World {
	w := emulator.SampleWorld()
	change(w)
	return w
}

// authorizationOptions builds the create options of an authorization policy from server-protect
// in subjectAccount to a KMS instance of the sample account.
func authorizationOptions(c *clients, subjectAccount, instance string, roles ...string) *iampolicymanagementv1.CreatePolicyOptions {
	if len(roles) == 0 {
		roles = []string{emulator.RoleReader}
	}
	var policyRoles []iampolicymanagementv1.PolicyRole
	for _, r := range roles {
		policyRoles = append(policyRoles, iampolicymanagementv1.PolicyRole{RoleID: core.StringPtr(r)})
	}
	return c.policies.NewCreatePolicyOptions("authorization",
		[]iampolicymanagementv1.PolicySubject{{Attributes: []iampolicymanagementv1.SubjectAttribute{
			{Name: core.StringPtr("serviceName"), Value: core.StringPtr("server-protect")},
			{Name: core.StringPtr("accountId"), Value: core.StringPtr(subjectAccount)},
		}}},
		policyRoles,
		[]iampolicymanagementv1.PolicyResource{{Attributes: []iampolicymanagementv1.ResourceAttribute{
			{Name: core.StringPtr("serviceName"), Value: core.StringPtr("kms"), Operator: core.StringPtr("stringEquals")},
			{Name: core.StringPtr("accountId"), Value: core.StringPtr(sampleAccount), Operator: core.StringPtr("stringEquals")},
			{Name: core.StringPtr("serviceInstance"), Value: core.StringPtr(instance), Operator: core.StringPtr("stringEquals")},
		}}},
	).SetDescription("managed by s2s-authorizer")
}

func resourceOf(crn string) []globaltaggingv1.Resource {
	return []globaltaggingv1.Resource{{ResourceID: core.StringPtr(crn)}}
}
