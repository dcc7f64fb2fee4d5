package emulator_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/s2s-authorizer/s2s-authorizer/internal/emulator"
)

func TestControlEndpoints(t *testing.T) {
	srv := start(t, emulator.SampleWorld())
	c := newClients(t, srv)
	base := srv.URL() + "/_emulator"
	small := []byte(`{"account_id":"` + otherAccount + `","snapshots":[{"id":"r006-x","region":"eu-de","name":"only"}]}`)
	steps := []struct {
		name, method, url string
		body              []byte
		status            int
		check             func(t *testing.T, a answer)
	}{
		{"world", http.MethodGet, base + "/world", nil, 200, func(t *testing.T, a answer) {
			if a.body["account_id"] != sampleAccount || path(a.body, "policies", 0, "id") != samplePolicyID {
				t.Errorf("world = %s", a.raw)
			}
		}},
		{"reset with a malformed world", http.MethodPost, base + "/reset", []byte(`{"account_id":"` + otherAccount + `","snapshots":[{"id":"r006-x","name":"s"}]}`), 400, func(t *testing.T, a answer) {
			if msg, _ := a.body["error"].(string); !strings.Contains(msg, "$.snapshots[0].region: required") {
				t.Errorf("error = %s", a.raw)
			}
		}},
		{"reset with invalid JSON", http.MethodPost, base + "/reset", []byte(`{`), 400, nil},
		{"reset with no body", http.MethodPost, base + "/reset", nil, 400, nil},
		{"world unchanged by failed resets", http.MethodGet, base + "/world", nil, 200, func(t *testing.T, a answer) {
			if a.body["account_id"] != sampleAccount {
				t.Errorf("world = %s", a.raw)
			}
		}},
		{"faults", http.MethodPost, base + "/faults", []byte(`{"p503":1,"routes":["GET /v2/roles"],"retry_after_ms":1000}`), 200, func(t *testing.T, a answer) {
			if a.body["p503"] != float64(1) || path(a.body, "routes", 0) != "GET /v2/roles" {
				t.Errorf("faults = %s", a.raw)
			}
		}},
		{"faults read back", http.MethodGet, base + "/faults", nil, 200, func(t *testing.T, a answer) {
			if a.body["retry_after_ms"] != float64(1000) {
				t.Errorf("faults = %s", a.raw)
			}
		}},
		{"faulted route", http.MethodGet, srv.URL() + "/v2/roles", nil, 503, nil},
		{"probability above 1", http.MethodPost, base + "/faults", []byte(`{"p500":1.5}`), 400, nil},
		{"negative probability", http.MethodPost, base + "/faults", []byte(`{"p429":-0.1}`), 400, nil},
		{"unknown route", http.MethodPost, base + "/faults", []byte(`{"p500":1,"routes":["GET /v1/nothing"]}`), 400, nil},
		{"unknown field", http.MethodPost, base + "/faults", []byte(`{"p501":1}`), 400, nil},
		{"malformed faults", http.MethodPost, base + "/faults", []byte(`{"p500":`), 400, nil},
		{"iam settings", http.MethodPost, base + "/iam", []byte(`{"restorer_role_crn_form":"is-service-role","roles_missing":["Reader"]}`), 200, func(t *testing.T, a answer) {
			if a.body["restorer_role_crn_form"] != "is-service-role" || path(a.body, "roles_missing", 0) != "Reader" {
				t.Errorf("iam settings = %s", a.raw)
			}
		}},
		{"iam settings read back", http.MethodGet, base + "/iam", nil, 200, func(t *testing.T, a answer) {
			if a.body["restorer_role_crn_form"] != "is-service-role" {
				t.Errorf("iam settings = %s", a.raw)
			}
		}},
		{"iam settings unknown field", http.MethodPost, base + "/iam", []byte(`{"roles":[]}`), 400, nil},
		{"iam settings unknown role", http.MethodPost, base + "/iam", []byte(`{"roles_missing":["Writer"]}`), 400, nil},
		{"iam settings wrong method", http.MethodDelete, base + "/iam", nil, 405, nil},
		{"stats", http.MethodGet, base + "/stats", nil, 200, func(t *testing.T, a answer) {
			if path(a.body, "calls", "GET /v2/roles") != float64(1) || path(a.body, "faults", "GET /v2/roles 503") != float64(1) || a.body["total"] != float64(1) {
				t.Errorf("stats = %s", a.raw)
			}
		}},
		{"stats reset", http.MethodPost, base + "/stats/reset", nil, 200, func(t *testing.T, a answer) {
			if a.body["total"] != float64(0) {
				t.Errorf("stats = %s", a.raw)
			}
		}},
		{"reset", http.MethodPost, base + "/reset", small, 200, func(t *testing.T, a answer) {
			if a.body["account_id"] != otherAccount {
				t.Errorf("world = %s", a.raw)
			}
		}},
		{"reset cleared the faults", http.MethodGet, base + "/faults", nil, 200, func(t *testing.T, a answer) {
			if a.body["p503"] != float64(0) {
				t.Errorf("faults = %s", a.raw)
			}
		}},
		{"reset took the world's iam settings", http.MethodGet, base + "/iam", nil, 200, func(t *testing.T, a answer) {
			if a.body["restorer_role_crn_form"] != nil || a.body["roles_missing"] != nil {
				t.Errorf("iam settings = %s", a.raw)
			}
		}},
		{"wrong method", http.MethodDelete, base + "/world", nil, 405, nil},
		{"unknown control endpoint", http.MethodGet, base + "/nothing", nil, 404, nil},
	}
	tok := c.token(t)
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			a := call(t, st.method, st.url, tok, st.body)
			if a.status != st.status {
				t.Fatalf("status = %d, want %d: %s", a.status, st.status, a.raw)
			}
			if st.check != nil {
				st.check(t, a)
			}
		})
	}
	if got := srv.World().AccountID; got != otherAccount {
		t.Errorf("account after reset = %s", got)
	}
}

func TestUnknownRoutesMethodsAndLargeBodies(t *testing.T) {
	srv := start(t, emulator.SampleWorld())
	c := newClients(t, srv)
	tok := c.token(t)
	huge := bytes.Repeat([]byte(" "), 1<<20+1)
	tests := []struct {
		name, method, url string
		body              []byte
		status            int
	}{
		{"unknown route", http.MethodGet, srv.URL() + "/v1/nothing", nil, 404},
		{"unknown regional route", http.MethodGet, srv.URL() + "/vpc/us-south/v1/policies", nil, 404},
		{"wrong method", http.MethodPut, srv.URL() + "/v1/policies", nil, 405},
		{"body over 1 MiB", http.MethodPost, srv.URL() + "/v1/policies", huge, 413},
		{"control body over 1 MiB", http.MethodPost, srv.URL() + "/_emulator/reset", huge, 413},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := call(t, tc.method, tc.url, tok, tc.body)
			if a.status != tc.status {
				t.Fatalf("status = %d, want %d: %s", a.status, tc.status, a.raw)
			}
			if !json.Valid(a.raw) {
				t.Errorf("body is not JSON: %s", a.raw)
			}
			if tc.status == 405 && a.header.Get("Allow") == "" {
				t.Error("405 without Allow")
			}
		})
	}
}
