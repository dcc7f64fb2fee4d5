package soak_test

import (
	"context"
	"flag"
	"strings"
	"testing"
	"time"

	"github.com/s2s-authorizer/s2s-authorizer/internal/authz"
	"github.com/s2s-authorizer/s2s-authorizer/internal/emulator"
	"github.com/s2s-authorizer/s2s-authorizer/internal/soak"
	te "github.com/s2s-authorizer/s2s-authorizer/internal/testenv"
)

var (
	full = flag.Bool("full", false, "run the soak at full size (2,000 events, 200 snapshots, 20 KMS instances)")
	seed = flag.Int64("seed", 0, "seed of the world, the schedule and the faults (default: the size's own)")
)

// TestSoak runs the event path under duplicates, shuffling, concurrent senders, a changing world
// and injected faults, and checks that the account is exact. In CI it runs small; the full size
// is `go test ./internal/soak -run TestSoak -v -args -full`.
func TestSoak(t *testing.T) {
	p := soak.Small()
	if *full {
		p = soak.Full()
	}
	if *seed != 0 {
		p.Seed = *seed
	}
	logs := &te.Buffer{}
	p.Log = logs
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	c, err := soak.Run(ctx, p)
	var out strings.Builder
	c.Write(&out)
	t.Log("\n" + out.String())
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Err(); err != nil {
		lines := strings.Split(logs.String(), "\n")
		t.Fatalf("%v\n(rerun: go test ./internal/soak -run TestSoak -v -args -seed %d)\nlast log lines:\n%s",
			err, c.Seed, strings.Join(lines[max(0, len(lines)-40):], "\n"))
	}

	// The run really was what it claims to be.
	if c.Events != p.Events || c.Duplicates < p.Events*29/100 || c.Bad == 0 || c.WorldChanges < p.Events/4 {
		t.Errorf("schedule: %d events, %d duplicates, %d bad, %d world changes; want %d events, 30%% duplicates, some bad, many changes",
			c.Events, c.Duplicates, c.Bad, c.WorldChanges, p.Events)
	}
	if c.Faults[429] == 0 || c.Faults[500] == 0 || c.Faults[503] == 0 {
		t.Errorf("faults injected: %v, want 429, 500 and 503", c.Faults)
	}
	if c.Retries == 0 || c.Outcomes["duplicate"] == 0 || c.Outcomes["applied"] == 0 || c.Outcomes["refused"] == 0 {
		t.Errorf("want retries, recognised duplicates, applied and refused events; got %d retries, outcomes %v", c.Retries, c.Outcomes)
	}
	if c.Final2xx+c.Final4xx+c.Exhausted != c.Events || c.Final4xx < c.Bad {
		t.Errorf("final answers: %d 2xx + %d 4xx + %d exhausted, want %d events and at least %d 4xx", c.Final2xx, c.Final4xx, c.Exhausted, c.Events, c.Bad)
	}
	// Every object had an event: when every event was acknowledged, nothing may be left for the
	// reconcile. An exhausted delivery (rare by the choice of budget) is what the reconcile heals.
	if c.Exhausted > c.Events/100 {
		t.Errorf("%d deliveries exhausted their %d attempts: the retry budget is too small for the faults", c.Exhausted, p.MaxAttempts)
	}
	if c.Exhausted == 0 && (!c.BeforeReconcile.Exact() || c.ReconcileWrites != 0) {
		t.Errorf("every event was acknowledged, yet the reconcile had work: %d writes, before it %s", c.ReconcileWrites, c.BeforeReconcile)
	}
	if c.AfterReconcile.HandMade != 2 {
		t.Errorf("%d hand-made policies, want the world's 2", c.AfterReconcile.HandMade)
	}
}

// TestCheck shows that the state check can fail: each kind of wrong account is reported.
func TestCheck(t *testing.T) {
	rules := authz.Rules{AccountID: soak.Account, RestoreTagPrefix: "s2s-restore", RestoreAllowedAccounts: soak.Restorers(), KMSScope: authz.ScopeInstance}
	const snap = "r006-0b0c0d0e-0000-4000-8000-000000000001"
	crn := emulator.SnapshotCRN(soak.Account, "us-south", snap)
	want, _ := rules.ForSnapshot(&authz.Snapshot{ID: snap, CRN: crn, UserTags: []string{"s2s-restore:" + soak.Restorers()[0]}})
	other, _ := rules.ForSnapshot(&authz.Snapshot{ID: snap, CRN: crn, UserTags: []string{"s2s-restore:" + soak.Restorers()[1]}})
	world := func(tags []string, policies ...string) *emulator.World {
		w := &emulator.World{AccountID: soak.Account, Snapshots: []emulator.Snapshot{{ID: snap, Region: "us-south", Name: "s", UserTags: tags}}}
		for _, p := range policies {
			w.Policies = append(w.Policies, []byte(p))
		}
		return w
	}
	policy := func(id string, a authz.Authorization, description string) string {
		var subject, resource []string
		for _, s := range a.Subjects {
			subject = append(subject, `{"name":"`+s.Name+`","value":"`+s.Value+`"}`)
		}
		for _, r := range a.Resources {
			resource = append(resource, `{"name":"`+r.Name+`","operator":"stringEquals","value":"`+r.Value+`"}`)
		}
		return `{"id":"` + id + `","type":"authorization","description":"` + description + `","subjects":[{"attributes":[` + strings.Join(subject, ",") +
			`]}],"resources":[{"attributes":[` + strings.Join(resource, ",") + `]}],"roles":[{"role_id":"` + a.Roles[0] + `"}],"state":"active"}`
	}
	tagged := []string{"s2s-restore:" + soak.Restorers()[0]}
	ours := policy("p1", want[0], want[0].Description())
	hand := policy("h1", other[0], "made by hand")
	tests := []struct {
		name           string
		initial, final *emulator.World
		wantExact      bool
		wantText       string
	}{
		{name: "exact", initial: world(tagged, hand), final: world(tagged, hand, ours), wantExact: true},
		{name: "missing", initial: world(tagged), final: world(tagged), wantText: "1 missing"},
		{name: "unwanted", initial: world(nil), final: world(nil, ours), wantText: "1 unwanted"},
		{name: "duplicated", initial: world(tagged), final: world(tagged, ours, strings.Replace(ours, `"p1"`, `"p2"`, 1)), wantText: "1 duplicated"},
		{name: "hand-made lost", initial: world(nil, hand), final: world(nil), wantText: "1 hand-made lost"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st, err := soak.Check(tt.initial, tt.final, rules)
			if err != nil {
				t.Fatal(err)
			}
			if st.Exact() != tt.wantExact || !strings.Contains(st.String(), tt.wantText) {
				t.Errorf("got %s; want exact=%v and %q", st, tt.wantExact, tt.wantText)
			}
		})
	}
}
