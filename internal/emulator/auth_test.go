package emulator_test

import (
	"errors"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/IBM/go-sdk-core/v5/core"
	"github.com/IBM/platform-services-go-sdk/iampolicymanagementv1"

	"github.com/s2s-authorizer/s2s-authorizer/internal/emulator"
)

func TestEveryAPIRouteNeedsAnIssuedToken(t *testing.T) {
	srv := start(t, emulator.SampleWorld())
	base := srv.URL()
	vpcQuery := "?version=" + vpcVersion + "&generation=2"
	routes := []struct {
		name, method, url string
		headers           []string
		// where the message is in the service's error shape
		messagePath []any
	}{
		{"iam policies", http.MethodGet, base + "/v1/policies?account_id=" + sampleAccount, nil, []any{"errors", 0, "message"}},
		{"iam create", http.MethodPost, base + "/v1/policies", nil, []any{"errors", 0, "message"}},
		{"iam roles", http.MethodGet, base + "/v2/roles", nil, []any{"errors", 0, "message"}},
		{"iam identity", http.MethodGet, base + "/v1/apikeys/details", []string{"IAM-ApiKey", "k"}, []any{"errors", 0, "message"}},
		{"vpc unscoped", http.MethodGet, base + "/v1/snapshots" + vpcQuery, nil, []any{"errors", 0, "message"}},
		{"vpc regional", http.MethodGet, base + "/vpc/us-south/v1/snapshots/" + taggedSnapshotID + vpcQuery, nil, []any{"errors", 0, "message"}},
		{"tagging", http.MethodPost, base + "/v3/tags/attach", nil, []any{"errors", 0, "message"}},
		{"resource controller", http.MethodGet, base + "/v2/resource_instances/" + kpGUID, nil, []any{"message"}},
		{"key protect", http.MethodGet, base + "/api/v2/keys", []string{"bluemix-instance", kpGUID}, []any{"resources", 0, "errorMsg"}},
	}
	tokens := []struct{ name, token string }{{"no token", ""}, {"unknown token", "not-issued-here"}}
	for _, rt := range routes {
		for _, tk := range tokens {
			t.Run(rt.name+"/"+tk.name, func(t *testing.T) {
				a := call(t, rt.method, rt.url, tk.token, []byte("{}"), rt.headers...)
				if a.status != http.StatusUnauthorized {
					t.Fatalf("status = %d: %s", a.status, a.raw)
				}
				if msg, _ := path(a.body, rt.messagePath...).(string); msg == "" {
					t.Errorf("401 body lacks the service's message at %v: %s", rt.messagePath, a.raw)
				}
			})
		}
	}
	// Key Protect's client sends a lowercase header with the same value: accepted.
	c := newClients(t, srv)
	a := call(t, http.MethodGet, base+"/api/v2/keys", "", nil, "authorization", "Bearer "+c.token(t), "bluemix-instance", kpGUID)
	if a.status != http.StatusOK {
		t.Errorf("lowercase authorization header: %d %s", a.status, a.raw)
	}
}

func TestTokenEndpoint(t *testing.T) {
	srv := start(t, emulator.SampleWorld())
	tokenURL := srv.URL() + "/identity/token"
	tests := []struct {
		name   string
		form   url.Values
		status int
		code   string
	}{
		{"api key", url.Values{"grant_type": {"urn:ibm:params:oauth:grant-type:apikey"}, "apikey": {"anything"}}, 200, ""},
		{"empty api key", url.Values{"grant_type": {"urn:ibm:params:oauth:grant-type:apikey"}, "apikey": {""}}, 400, "BXNIM0415E"},
		{"missing api key", url.Values{"grant_type": {"urn:ibm:params:oauth:grant-type:apikey"}}, 400, "BXNIM0415E"},
		{"cr token", url.Values{"grant_type": {"urn:ibm:params:oauth:grant-type:cr-token"}, "cr_token": {"x"}, "profile_name": {"p"}}, 200, ""},
		{"cr token without profile", url.Values{"grant_type": {"urn:ibm:params:oauth:grant-type:cr-token"}, "cr_token": {"x"}}, 400, "BXNIM0109E"},
		{"unknown grant", url.Values{"grant_type": {"password"}}, 400, "BXNIM0109E"},
		{"unknown refresh token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {"nope"}}, 400, "BXNIM0407E"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := call(t, http.MethodPost, tokenURL, "", []byte(tc.form.Encode()), "Content-Type", "application/x-www-form-urlencoded")
			if a.status != tc.status {
				t.Fatalf("status = %d: %s", a.status, a.raw)
			}
			if tc.status != 200 {
				if a.body["errorCode"] != tc.code || a.body["errorMessage"] == "" || a.body["context"] == nil {
					t.Errorf("error body = %s", a.raw)
				}
				return
			}
			if a.body["token_type"] != "Bearer" || a.body["expires_in"] != float64(3600) || a.body["access_token"] == "" ||
				a.body["refresh_token"] == "" || a.body["expiration"] == nil {
				t.Errorf("token body = %s", a.raw)
			}
		})
	}

	// The SDK's own authenticator surfaces IAM's message.
	auth, err := core.NewIamAuthenticatorBuilder().SetApiKey("k").SetURL(srv.URL()).Build()
	if err != nil {
		t.Fatal(err)
	}
	auth.ApiKey = "" // what a misconfigured process would send: the form without apikey
	auth.RefreshToken = "bogus"
	_, err = auth.RequestToken()
	var authErr *core.AuthenticationError
	if !errors.As(err, &authErr) || authErr.Response.StatusCode != http.StatusBadRequest {
		t.Errorf("RequestToken with a bad refresh token: %v", err)
	}
}

func TestRefreshTokenGrant(t *testing.T) {
	srv := start(t, emulator.SampleWorld())
	c := newClients(t, srv)
	tok := call(t, http.MethodPost, srv.URL()+"/identity/token", "",
		[]byte("grant_type=urn:ibm:params:oauth:grant-type:apikey&apikey=k"), "Content-Type", "application/x-www-form-urlencoded")
	refresh, _ := tok.body["refresh_token"].(string)
	again := call(t, http.MethodPost, srv.URL()+"/identity/token", "",
		[]byte(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refresh}}.Encode()), "Content-Type", "application/x-www-form-urlencoded")
	access, _ := again.body["access_token"].(string)
	if again.status != 200 || access == "" {
		t.Fatalf("refresh: %d %s", again.status, again.raw)
	}
	if a := call(t, http.MethodGet, c.ep.IAM+"/v2/roles", access, nil); a.status != 200 {
		t.Errorf("refreshed token refused: %d", a.status)
	}
}

func TestContainerAuthenticator(t *testing.T) {
	srv := start(t, emulator.SampleWorld())
	crToken := filepath.Join(t.TempDir(), "cr-token")
	if err := os.WriteFile(crToken, []byte("compute-resource-token"), 0o600); err != nil {
		t.Fatal(err)
	}
	auth, err := core.NewContainerAuthenticatorBuilder().SetCRTokenFilename(crToken).
		SetIAMProfileName("s2s-authorizer").SetURL(srv.URL()).Build()
	if err != nil {
		t.Fatal(err)
	}
	policies, err := iampolicymanagementv1.NewIamPolicyManagementV1(&iampolicymanagementv1.IamPolicyManagementV1Options{URL: srv.URL(), Authenticator: auth})
	if err != nil {
		t.Fatal(err)
	}
	list, _, err := policies.ListPolicies(policies.NewListPoliciesOptions(sampleAccount))
	if err != nil || len(list.Policies) != 1 {
		t.Errorf("list with a trusted profile: %v, %v", list, err)
	}
}

func TestAPIKeyDetails(t *testing.T) {
	srv := start(t, emulator.SampleWorld())
	c := newClients(t, srv)
	details, _, err := c.identity.GetAPIKeysDetails(c.identity.NewGetAPIKeysDetailsOptions().SetIamAPIKey("test-api-key"))
	if err != nil {
		t.Fatal(err)
	}
	if *details.AccountID != sampleAccount || !strings.HasPrefix(*details.IamID, "iam-ServiceId-") || *details.ID == "" || *details.Name == "" {
		t.Errorf("details = %+v", details)
	}
	// Without the header IAM describes the key behind the token.
	noHeader, _, err := c.identity.GetAPIKeysDetails(c.identity.NewGetAPIKeysDetailsOptions())
	if err != nil || *noHeader.ID != *details.ID {
		t.Errorf("details of the token's key = %v, %v", noHeader, err)
	}
}

func TestResetKeepsIssuedTokens(t *testing.T) {
	srv := start(t, emulator.SampleWorld())
	c := newClients(t, srv)
	tok := c.token(t)
	if err := srv.Reset(emulator.SampleWorld()); err != nil {
		t.Fatal(err)
	}
	if a := call(t, http.MethodGet, c.ep.IAM+"/v1/policies?account_id="+sampleAccount, tok, nil); a.status != http.StatusOK {
		t.Errorf("token refused after Reset: %d %s", a.status, a.raw)
	}
}
