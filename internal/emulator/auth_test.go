package emulator_test

import (
	"encoding/base64"
	"encoding/json"
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
	if err != nil || len(list.Policies) != samplePolicies {
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

// claims decodes the payload of a JWT access token.
func claims(t *testing.T, token string) map[string]any {
	t.Helper()
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		t.Fatalf("token %q is not header.payload.signature", token)
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatalf("payload: %v", err)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatalf("payload: %v", err)
	}
	return m
}

func TestAccessTokensAreJWTsCarryingTheAccount(t *testing.T) {
	srv := start(t, emulator.SampleWorld())
	c := newClients(t, srv)
	tok := c.token(t)
	cl := claims(t, tok)
	iamID, _ := cl["iam_id"].(string)
	exp, _ := cl["exp"].(float64)
	iat, _ := cl["iat"].(float64)
	if path(cl, "account", "bss") != sampleAccount || !strings.HasPrefix(iamID, "iam-ServiceId-") ||
		cl["sub"] != strings.TrimPrefix(iamID, "iam-") || exp-iat != 3600 {
		t.Errorf("claims = %v", cl)
	}
	// The caller is the creator of what it makes, in both versions.
	p, _, err := c.policies.CreatePolicy(authorizationOptions(c, otherAccount, kpGUID))
	if err != nil || *p.CreatedByID != iamID {
		t.Errorf("created_by_id = %v, %v; want %s", p, err, iamID)
	}
	// The API key details name the same identity.
	details, _, err := c.identity.GetAPIKeysDetails(c.identity.NewGetAPIKeysDetailsOptions())
	if err != nil || *details.IamID != iamID {
		t.Errorf("details = %v, %v", details, err)
	}

	// A world can give every API key one owner, a user.
	user := start(t, sampleWorldWith(func(w *emulator.World) { w.APIKeyIAMID = "IBMid-270004XYZ1" }))
	uc := newClients(t, user)
	if cl := claims(t, uc.token(t)); cl["iam_id"] != "IBMid-270004XYZ1" || cl["sub_type"] != "user" {
		t.Errorf("user claims = %v", cl)
	}
	if d, _, err := uc.identity.GetAPIKeysDetails(uc.identity.NewGetAPIKeysDetailsOptions()); err != nil || *d.IamID != "IBMid-270004XYZ1" {
		t.Errorf("user details = %v, %v", d, err)
	}
}

func TestTrustedProfilesOfTheWorld(t *testing.T) {
	const profileID = "Profile-1c2d3e4f-5a6b-4c7d-8e9f-0a1b2c3d4e5f"
	srv := start(t, sampleWorldWith(func(w *emulator.World) {
		w.TrustedProfiles = []emulator.TrustedProfile{{ID: profileID, Name: "s2s-authorizer", CRTokens: []string{"mounted-token"}}}
	}))
	tokenURL := srv.URL() + "/identity/token"
	grant := func(kv ...string) url.Values {
		v := url.Values{"grant_type": {"urn:ibm:params:oauth:grant-type:cr-token"}}
		for i := 0; i+1 < len(kv); i += 2 {
			v.Set(kv[i], kv[i+1])
		}
		return v
	}
	tests := []struct {
		name   string
		form   url.Values
		status int
		code   string
	}{
		{"by name", grant("cr_token", "mounted-token", "profile_name", "s2s-authorizer"), 200, ""},
		{"by id", grant("cr_token", "mounted-token", "profile_id", profileID), 200, ""},
		{"by crn", grant("cr_token", "mounted-token", "profile_crn", "crn:v1:bluemix:public:iam-identity::a/"+sampleAccount+"::profile:"+profileID), 200, ""},
		{"unknown name", grant("cr_token", "mounted-token", "profile_name", "other"), 400, "profile_not_found"},
		{"id and name disagree", grant("cr_token", "mounted-token", "profile_name", "s2s-authorizer", "profile_id", "Profile-00000000-0000-4000-8000-000000000000"), 400, "profile_not_found"},
		{"other cr token", grant("cr_token", "stolen", "profile_name", "s2s-authorizer"), 400, "invalid_cr_token"},
		{"no cr token", grant("profile_name", "s2s-authorizer"), 400, "BXNIM0109E"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := call(t, http.MethodPost, tokenURL, "", []byte(tc.form.Encode()), "Content-Type", "application/x-www-form-urlencoded")
			if a.status != tc.status {
				t.Fatalf("status = %d: %s", a.status, a.raw)
			}
			if tc.status != 200 {
				if a.body["errorCode"] != tc.code {
					t.Errorf("body = %s", a.raw)
				}
				return
			}
			access, _ := a.body["access_token"].(string)
			if cl := claims(t, access); cl["iam_id"] != "iam-"+profileID || path(cl, "account", "bss") != sampleAccount || cl["sub_type"] != "Profile" {
				t.Errorf("claims = %v", cl)
			}
		})
	}
	// The SDK's container authenticator reads the mounted file and gets a working token.
	crToken := filepath.Join(t.TempDir(), "cr-token")
	if err := os.WriteFile(crToken, []byte("mounted-token"), 0o600); err != nil {
		t.Fatal(err)
	}
	auth, err := core.NewContainerAuthenticatorBuilder().SetCRTokenFilename(crToken).SetIAMProfileName("s2s-authorizer").SetURL(srv.URL()).Build()
	if err != nil {
		t.Fatal(err)
	}
	policies, err := iampolicymanagementv1.NewIamPolicyManagementV1(&iampolicymanagementv1.IamPolicyManagementV1Options{URL: srv.URL(), Authenticator: auth})
	if err != nil {
		t.Fatal(err)
	}
	p, _, err := policies.CreateV2Policy(encryptionGrantV2(&clients{policies: policies}, kpGUID, emulator.RoleReader))
	if err != nil || *p.CreatedByID != "iam-"+profileID {
		t.Errorf("create as the profile = %v, %v", p, err)
	}

	for _, tc := range []struct{ doc, want string }{
		{world(`,"trusted_profiles":[{"id":"p1","name":"a"}]`), `$.trusted_profiles[0].id: "p1" is not a trusted profile id`},
		{world(`,"trusted_profiles":[{"id":"` + profileID + `"}]`), `$.trusted_profiles[0].name: required`},
		{world(`,"trusted_profiles":[{"id":"` + profileID + `","name":"a"},{"id":"` + profileID + `","name":"b"}]`), `$.trusted_profiles[1].id: duplicate id`},
		{world(`,"api_key_iam_id":"someone"`), `$.api_key_iam_id: "someone" is not`},
	} {
		if _, err := emulator.ParseWorld([]byte(tc.doc)); err == nil || !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("error = %v, want prefix %q", err, tc.want)
		}
	}
}
