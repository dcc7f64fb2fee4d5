package emulator_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/s2s-authorizer/s2s-authorizer/internal/emulator"
)

// FuzzParseWorld checks that no world file makes the parser panic; `go test` runs the seeds.
func FuzzParseWorld(f *testing.F) {
	sample, err := json.Marshal(emulator.SampleWorld())
	if err != nil {
		f.Fatal(err)
	}
	for _, seed := range []string{string(sample), `{}`, `[]`, `null`, `{"account_id":null}`, world(`,"policies":[{}]`),
		world(`,"policies":[{"type":"authorization","subjects":[{"attributes":[{}]}],"roles":[{}],"resources":[{"attributes":[{"name":"accountId"}]}]}]`),
		world(`,"snapshots":[{"id":"r006-a","region":"us-south","name":"a","user_tags":null,"encryption_key_crn":"crn:v1"}]`)} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		w, err := emulator.ParseWorld(data)
		if err == nil && w == nil {
			t.Fatal("nil world without an error")
		}
		if err != nil && !strings.HasPrefix(err.Error(), "$") {
			t.Fatalf("error without a JSON path: %v", err)
		}
	})
}

// FuzzRequestBodies checks that no request body makes a write handler panic or answer 5xx.
func FuzzRequestBodies(f *testing.F) {
	srv, err := emulator.New(emulator.SampleWorld())
	if err != nil {
		f.Fatal(err)
	}
	h := srv.Handler()
	rec := httptest.NewRecorder()
	tokenReq := httptest.NewRequest(http.MethodPost, "/identity/token", strings.NewReader("grant_type=urn:ibm:params:oauth:grant-type:apikey&apikey=k"))
	tokenReq.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	h.ServeHTTP(rec, tokenReq)
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &tok); err != nil || tok.AccessToken == "" {
		f.Fatalf("token: %s", rec.Body.String())
	}
	targets := []string{
		"POST /v1/policies", "POST /v3/tags/attach", "POST /v3/tags/detach", "POST /api/v2/keys",
		"PATCH /vpc/us-south/v1/snapshots/" + taggedSnapshotID + "?version=2026-01-01&generation=2",
		"POST /_emulator/faults", "POST /_emulator/reset", "POST /v2/policies", "POST /_emulator/iam",
	}
	for _, seed := range []string{`{}`, `[]`, `null`, `{"type":"authorization","subjects":[{"attributes":null}]}`,
		`{"resources":[{"resource_id":7}],"tag_names":[null]}`, `{"metadata":{"collectionType":"x","collectionTotal":1},"resources":[{}]}`,
		`{"user_tags":{"a":1},"name":[]}`, `{"type":"authorization","subject":{"attributes":[{"key":"a","operator":"stringExists","value":true}]},"control":{"grant":{"roles":[]}}}`,
		`{"roles_missing":[7],"restorer_role_crn_form":null}`, `{"p500":"x","latency_jitter_ms":9223372036854775807}`} {
		for i := range targets {
			f.Add(uint8(i), []byte(seed))
		}
	}
	f.Fuzz(func(t *testing.T, target uint8, body []byte) {
		defer srv.SetFaults(emulator.Faults{}) // a fuzzed faults body must not slow the next input
		method, url, _ := strings.Cut(targets[int(target)%len(targets)], " ")
		req := httptest.NewRequest(method, url, bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
		req.Header.Set("Bluemix-Instance", kpGUID)
		req.Header.Set("If-Match", "*")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code >= 500 || !json.Valid(rec.Body.Bytes()) && rec.Body.Len() > 0 {
			t.Fatalf("%s %s %q → %d %s", method, url, body, rec.Code, rec.Body.String())
		}
	})
}
