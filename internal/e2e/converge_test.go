package e2e_test

import (
	"context"
	"sync"
	"testing"

	"github.com/s2s-authorizer/s2s-authorizer/config"
	"github.com/s2s-authorizer/s2s-authorizer/internal/apply"
	"github.com/s2s-authorizer/s2s-authorizer/internal/authz"
	"github.com/s2s-authorizer/s2s-authorizer/internal/converge"
	"github.com/s2s-authorizer/s2s-authorizer/internal/fixture"
	te "github.com/s2s-authorizer/s2s-authorizer/internal/testenv"
)

func object(t *testing.T, scope authz.Scope, s string) converge.Object {
	t.Helper()
	return converge.Object{Target: fixture.Target(scope, s)}
}

// TestConvergeSameObjectIsSerialised: 16 deliveries for one snapshot at once create its policy
// once, without even a 409, because they queue on the object's lock and the index is write-through.
func TestConvergeSameObjectIsSerialised(t *testing.T) {
	e := te.Start(t, te.World(), nil)
	var wg sync.WaitGroup
	results := make([]converge.Result, 16)
	for i := range results {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = e.Runtime.Converger.Converge(context.Background(), object(t, authz.ScopeInstance, te.SnapCRN))
		}()
	}
	wg.Wait()
	applied := 0
	for _, r := range results {
		if r.Err != nil {
			t.Fatal(r.Err)
		}
		if r.Outcome == converge.Applied {
			applied++
		}
	}
	if applied != 1 || e.Emulator.Stats().Calls["POST /v2/policies"] != 1 {
		t.Errorf("%d applied, %d creates; want exactly 1 of each", applied, e.Emulator.Stats().Calls["POST /v2/policies"])
	}
}

// TestConvergeKeyEvents covers what a key event reads and decides in each scope.
func TestConvergeKeyEvents(t *testing.T) {
	tests := []struct {
		name        string
		scope       authz.Scope
		key         string
		keyType     string
		removed     bool
		wantOutcome converge.Outcome
		wantKeyRead bool
	}{
		{name: "instance scope, type given", scope: authz.ScopeInstance, key: te.RootKeyCRN, keyType: authz.RootKeyType, wantOutcome: converge.Applied},
		{name: "instance scope, type unknown: read", scope: authz.ScopeInstance, key: te.RootKeyCRN, wantOutcome: converge.Applied, wantKeyRead: true},
		{name: "instance scope, standard key found by reading", scope: authz.ScopeInstance, key: te.StdKeyCRN, wantOutcome: converge.Ignored, wantKeyRead: true},
		{name: "instance scope, removed: no read", scope: authz.ScopeInstance, key: te.RootKeyCRN, removed: true, wantOutcome: converge.Applied},
		{name: "key scope always reads", scope: authz.ScopeKey, key: te.RootKeyCRN, keyType: authz.RootKeyType, wantOutcome: converge.Applied, wantKeyRead: true},
		{name: "key scope, unknown key: nothing wanted", scope: authz.ScopeKey, key: te.RootKeyCRN[:len(te.RootKeyCRN)-4] + "beef", wantOutcome: converge.Unchanged, wantKeyRead: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := te.Start(t, te.World(), func(c *config.Config) { c.KMSScope = tt.scope })
			obj := object(t, tt.scope, tt.key)
			obj.KeyType, obj.KeyRemoved = tt.keyType, tt.removed
			r := e.Runtime.Converger.Converge(context.Background(), obj)
			if r.Outcome != tt.wantOutcome || r.Err != nil {
				t.Errorf("outcome %s (%v), want %s", r.Outcome, r.Err, tt.wantOutcome)
			}
			if read := e.Emulator.Stats().Calls["GET /api/v2/keys/{id}"] > 0; read != tt.wantKeyRead {
				t.Errorf("key read: %v, want %v", read, tt.wantKeyRead)
			}
		})
	}
}

// TestConvergeDryRun plans without writing.
func TestConvergeDryRun(t *testing.T) {
	e := te.Start(t, te.World(), func(c *config.Config) { c.DryRun = true })
	r := e.Runtime.Converger.Converge(context.Background(), object(t, authz.ScopeInstance, te.SnapCRN))
	if r.Outcome != converge.Planned || r.Report.Count()[apply.Planned] != 1 || e.Emulator.Stats().Writes != 0 {
		t.Errorf("outcome %s, results %v, %d writes; want planned, 1 planned write, none made", r.Outcome, r.Report.Count(), e.Emulator.Stats().Writes)
	}
}
