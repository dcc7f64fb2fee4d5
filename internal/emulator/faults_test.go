package emulator_test

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/IBM/platform-services-go-sdk/iampolicymanagementv1"

	"github.com/s2s-authorizer/s2s-authorizer/internal/emulator"
)

func TestFaultOnOneRouteOnly(t *testing.T) {
	ctx := context.Background()
	srv := start(t, emulator.SampleWorld())
	c := newClients(t, srv)
	c.token(t) // the token endpoint is never faulted unless named
	srv.SetFaults(emulator.Faults{P503: 1, Routes: []string{"POST /v1/policies"}})

	_, resp, err := c.policies.CreatePolicyWithContext(ctx, authorizationOptions(c, otherAccount, kpGUID))
	if err == nil || resp.StatusCode != http.StatusServiceUnavailable || path(resp.Result, "errors", 0, "code") == nil {
		t.Fatalf("create = %v, %v", resp, err)
	}
	if _, resp, err := c.policies.ListPoliciesWithContext(ctx, c.policies.NewListPoliciesOptions(sampleAccount)); err != nil || resp.StatusCode != 200 {
		t.Errorf("list on another route = %v, %v", resp, err)
	}
	if n := len(srv.World().Policies); n != 1 {
		t.Errorf("an injected 503 changed the state: %d policies", n)
	}
	st := srv.Stats()
	if st.Faults["POST /v1/policies 503"] != 1 || len(st.Faults) != 1 || st.Calls["POST /v1/policies"] != 1 {
		t.Errorf("stats = %+v", st)
	}
}

// outcomes makes n raw GETs of one policy and returns their statuses.
func outcomes(t *testing.T, c *clients, n int) []int {
	t.Helper()
	opts := c.policies.NewGetPolicyOptions(samplePolicyID)
	var out []int
	for range n {
		_, resp, _ := c.policies.GetPolicy(opts)
		out = append(out, resp.StatusCode)
	}
	return out
}

func TestSeededFaultRate(t *testing.T) {
	srv := start(t, emulator.SampleWorld())
	c := newClients(t, srv)
	c.token(t)
	const n = 600
	faults := emulator.Faults{P500: 0.1, Seed: 42}
	srv.SetFaults(faults)
	first := outcomes(t, c, n)
	failed := 0
	for _, s := range first {
		switch s {
		case http.StatusInternalServerError:
			failed++
		case http.StatusOK:
		default:
			t.Fatalf("unexpected status %d", s)
		}
	}
	// 10% of 600 is 60; the bounds are beyond four standard deviations (sd ≈ 7.3).
	if failed < 30 || failed > 90 {
		t.Errorf("%d of %d requests failed, want about 60", failed, n)
	}
	if got := srv.Stats().Faults["GET /v1/policies/{id} 500"]; got != failed {
		t.Errorf("stats count %d faults, clients saw %d", got, failed)
	}
	// The same seed gives the same sequence.
	srv.SetFaults(faults)
	second := outcomes(t, c, n)
	for i := range first {
		if first[i] != second[i] {
			t.Fatalf("seeded runs differ at request %d: %d vs %d", i, first[i], second[i])
		}
	}
}

func TestNotFoundAfterCreate(t *testing.T) {
	ctx := context.Background()
	srv := start(t, emulator.SampleWorld())
	c := newClients(t, srv)
	window := 300 * time.Millisecond
	srv.SetFaults(emulator.Faults{NotFoundAfterCreate: window})
	created := time.Now()
	p, _, err := c.policies.CreatePolicyWithContext(ctx, authorizationOptions(c, otherAccount, kpGUID))
	if err != nil {
		t.Fatal(err)
	}
	opts := c.policies.NewGetPolicyOptions(*p.ID)
	_, resp, err := c.policies.GetPolicyWithContext(ctx, opts)
	if err == nil || resp.StatusCode != http.StatusNotFound || path(resp.Result, "errors", 0, "code") != "policy_not_found" {
		t.Fatalf("GET right after create = %v, %v", resp, err)
	}
	// World policies are old: never hidden.
	if _, _, err := c.policies.GetPolicyWithContext(ctx, c.policies.NewGetPolicyOptions(samplePolicyID)); err != nil {
		t.Errorf("world policy hidden: %v", err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		got, _, err := c.policies.GetPolicyWithContext(ctx, opts)
		if err == nil {
			if *got.ID != *p.ID {
				t.Errorf("got %s", *got.ID)
			}
			if waited := time.Since(created); waited < window {
				t.Errorf("visible after %v, before the %v window", waited, window)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("still not found after the window: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if srv.Stats().Faults["GET /v1/policies/{id} 404"] < 1 {
		t.Errorf("stats = %+v", srv.Stats())
	}
}

func TestCommitThenFailCommitsTheWrite(t *testing.T) {
	ctx := context.Background()
	srv := start(t, emulator.SampleWorld())
	c := newClients(t, srv)
	srv.SetFaults(emulator.Faults{PCommitThenFail: 1, Routes: []string{"POST /v1/policies"}})
	_, resp, err := c.policies.CreatePolicyWithContext(ctx, authorizationOptions(c, otherAccount, kpGUID))
	if err == nil || resp.StatusCode != http.StatusInternalServerError {
		t.Fatalf("create = %v, %v", resp, err)
	}
	if n := len(srv.World().Policies); n != 2 {
		t.Fatalf("the write was not committed: %d policies", n)
	}
	// The retry of a careful client finds its policy in the 409.
	srv.SetFaults(emulator.Faults{})
	_, resp, err = c.policies.CreatePolicyWithContext(ctx, authorizationOptions(c, otherAccount, kpGUID))
	if err == nil || resp.StatusCode != http.StatusConflict || path(resp.Result, "errors", 0, "details", "conflicts_with", "policy", "id") == nil {
		t.Errorf("retry = %v, %v", resp, err)
	}
}

func TestThrottleCarriesRetryAfter(t *testing.T) {
	srv := start(t, emulator.SampleWorld())
	c := newClients(t, srv)
	tok := c.token(t)
	srv.SetFaults(emulator.Faults{P429: 1, RetryAfter: 1500 * time.Millisecond})
	a := call(t, http.MethodGet, query(srv.URL()+"/v1/policies", "account_id", sampleAccount), tok, nil)
	if a.status != http.StatusTooManyRequests || a.header.Get("Retry-After") != "2" {
		t.Errorf("answer = %d, Retry-After %q", a.status, a.header.Get("Retry-After"))
	}
	// Key Protect answers in its own shape.
	srv.SetFaults(emulator.Faults{P503: 1, Routes: []string{"GET /api/v2/keys"}})
	a = call(t, http.MethodGet, srv.URL()+"/api/v2/keys", tok, nil, "bluemix-instance", kpGUID)
	if a.status != http.StatusServiceUnavailable || path(a.body, "resources", 0, "errorMsg") == nil {
		t.Errorf("Key Protect 503 = %d %s", a.status, a.raw)
	}
}

func TestLatency(t *testing.T) {
	srv := start(t, emulator.SampleWorld())
	c := newClients(t, srv)
	c.token(t)
	srv.SetFaults(emulator.Faults{Latency: 60 * time.Millisecond, LatencyJitter: 20 * time.Millisecond})
	began := time.Now()
	if _, _, err := c.policies.ListRoles(&iampolicymanagementv1.ListRolesOptions{}); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(began); took < 60*time.Millisecond {
		t.Errorf("request took %v, want at least 60ms", took)
	}
}

func TestFaultsJSON(t *testing.T) {
	f := emulator.Faults{P429: 0.1, PCommitThenFail: 0.5, Latency: 1500 * time.Millisecond, RetryAfter: 2 * time.Second, Routes: []string{"POST /v1/policies"}, Seed: 9}
	data, err := json.Marshal(f)
	if err != nil {
		t.Fatal(err)
	}
	var back emulator.Faults
	if err := json.Unmarshal(data, &back); err != nil {
		t.Fatalf("%s: %v", data, err)
	}
	if back.Latency != f.Latency || back.RetryAfter != f.RetryAfter || back.P429 != f.P429 || back.Seed != 9 || back.Routes[0] != "POST /v1/policies" {
		t.Errorf("round trip: %s → %+v", data, back)
	}
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil || m["latency_ms"] != float64(1500) || m["p_commit_then_fail"] != 0.5 {
		t.Errorf("wire form = %s", data)
	}
}
