package apply_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/s2s-authorizer/s2s-authorizer/internal/apply"
	"github.com/s2s-authorizer/s2s-authorizer/internal/authz"
	"github.com/s2s-authorizer/s2s-authorizer/internal/fixture"
	"github.com/s2s-authorizer/s2s-authorizer/internal/plan"
)

// fakeWriter is an apply.Writer whose answers each test chooses; it logs the calls it gets,
// "create <subject account>" and "delete <id>", in order. A nil func fails the test: apply was
// not supposed to make that call.
type fakeWriter struct {
	t      *testing.T
	create func(ctx context.Context, a authz.Authorization) (authz.Policy, error)
	delete func(ctx context.Context, id string) error

	mu    sync.Mutex
	calls []string
}

func (f *fakeWriter) Create(ctx context.Context, a authz.Authorization) (authz.Policy, error) {
	f.log("create " + a.Subject("accountId"))
	if f.create == nil {
		f.t.Errorf("unexpected create of %s", a)
		return authz.Policy{}, errors.New("unexpected create")
	}
	return f.create(ctx, a)
}

func (f *fakeWriter) Delete(ctx context.Context, id string) error {
	f.log("delete " + id)
	if f.delete == nil {
		f.t.Errorf("unexpected delete of %s", id)
		return errors.New("unexpected delete")
	}
	return f.delete(ctx, id)
}

func (f *fakeWriter) log(call string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, call)
}

// created answers a create as IAM does when nothing is in the way.
func created(id string) func(context.Context, authz.Authorization) (authz.Policy, error) {
	return func(_ context.Context, a authz.Authorization) (authz.Policy, error) {
		return fixture.Managed(id, a), nil
	}
}

// conflict answers a create with IAM's 409 naming existing.
func conflict(existing authz.Policy) func(context.Context, authz.Authorization) (authz.Policy, error) {
	return func(context.Context, authz.Authorization) (authz.Policy, error) {
		return authz.Policy{}, fmt.Errorf("create policy: %w", &apply.ConflictError{Existing: existing})
	}
}

// sequence answers the i-th create with the i-th answer.
func sequence(answers ...func(context.Context, authz.Authorization) (authz.Policy, error)) func(context.Context, authz.Authorization) (authz.Policy, error) {
	var n int
	return func(ctx context.Context, a authz.Authorization) (authz.Policy, error) {
		n++
		return answers[n-1](ctx, a)
	}
}

func failing(err error) func(context.Context, authz.Authorization) (authz.Policy, error) {
	return func(context.Context, authz.Authorization) (authz.Policy, error) { return authz.Policy{}, err }
}

func deleted(context.Context, string) error { return nil }

func notFound(_ context.Context, id string) error {
	return fmt.Errorf("delete policy %s: %w", id, apply.ErrNotFound)
}

func deleteFailing(err error) func(context.Context, string) error {
	return func(context.Context, string) error { return err }
}

// errUnavailable is what the adapters return for a 503 after their retries.
var errUnavailable = apply.Transient(errors.New("IAM answered 503 Service Unavailable"))

// errForbidden is a permanent failure: a 403.
var errForbidden = errors.New("IAM answered 403 Forbidden")

func createPlan(a authz.Authorization) plan.Plan {
	return plan.Plan{Changes: []plan.Change{{Action: plan.Create, Authorization: a, MayReplace: true}}}
}

func replacePlan(a authz.Authorization, old authz.Policy) plan.Plan {
	return plan.Plan{Changes: []plan.Change{{Action: plan.Replace, Authorization: a, Policy: old}}}
}

func deletePlan(p authz.Policy) plan.Plan {
	return plan.Plan{Changes: []plan.Change{{Action: plan.Delete, Policy: p}}}
}

func TestApply(t *testing.T) {
	wanted := fixture.Restore(fixture.Restorer)
	ours := fixture.Managed("ours", wanted)
	oursOutdated := fixture.Managed("old", fixture.WithRoles(wanted, fixture.OutdatedRestorer))
	handMade := fixture.HandMade("theirs", wanted.Grant)
	handMadeOtherRoles := fixture.HandMade("theirs", fixture.WithRoles(wanted, authz.RoleReader).Grant)
	wider := fixture.WithRoles(wanted, authz.RoleReader, authz.RoleSnapshotRestorer)
	restorer := "create " + fixture.Restorer

	tests := []struct {
		name       string
		plan       plan.Plan
		upsertOnly bool // the plan went through upsert-only's filter
		dryRun     bool
		create     func(context.Context, authz.Authorization) (authz.Policy, error)
		delete     func(context.Context, string) error

		want          apply.Outcome
		wantPolicy    string   // the record's policy afterwards
		wantWrites    int      // writes the record says succeeded
		wantCalls     []string // what IAM was asked, in order
		wantErr       string   // in the record's error; "" for none
		wantTransient bool
	}{
		{
			name: "create", plan: createPlan(wanted), create: created("new"),
			want: apply.Created, wantPolicy: "new", wantWrites: 1, wantCalls: []string{restorer},
		},
		{
			name: "create finds our own policy: adopted", plan: createPlan(wanted), create: conflict(ours),
			want: apply.Adopted, wantPolicy: "ours", wantCalls: []string{restorer},
		},
		{
			name: "create finds an equal policy made by hand: covered", plan: createPlan(wanted), create: conflict(handMade),
			want: apply.Covered, wantPolicy: "theirs", wantCalls: []string{restorer},
		},
		{
			name: "create finds our own policy with other roles: replaced", plan: createPlan(wanted),
			create: sequence(conflict(oursOutdated), created("new")), delete: deleted,
			want: apply.Replaced, wantPolicy: "new", wantWrites: 2, wantCalls: []string{restorer, "delete old", restorer},
		},
		{
			name: "create finds our own policy with other roles, gone before the delete: created once", plan: createPlan(wanted),
			create: sequence(conflict(oursOutdated), created("new")), delete: notFound,
			want: apply.Replaced, wantPolicy: "new", wantWrites: 1, wantCalls: []string{restorer, "delete old", restorer},
		},
		{
			name: "create finds our own policy with other roles twice: not replaced again", plan: createPlan(wanted),
			create: conflict(oursOutdated), delete: deleted,
			want: apply.Retained, wantPolicy: "old", wantWrites: 1, wantCalls: []string{restorer, "delete old", restorer},
		},
		{
			name: "upsert-only does not replace: retained, as the plan says of an outdated policy", plan: createPlan(wanted), upsertOnly: true,
			create: conflict(oursOutdated),
			want:   apply.Retained, wantPolicy: "old", wantCalls: []string{restorer},
		},
		{
			name: "a planned replace deletes first", plan: replacePlan(wanted, oursOutdated),
			create: created("new"), delete: deleted,
			want: apply.Replaced, wantPolicy: "new", wantWrites: 2, wantCalls: []string{"delete old", restorer},
		},
		{
			name: "a planned replace under upsert-only: retained, nothing written", plan: replacePlan(wanted, oursOutdated), upsertOnly: true,
			want: apply.Retained, wantPolicy: "old",
		},
		{
			name: "a planned replace whose delete fails: the old grant stays, nothing created", plan: replacePlan(wanted, oursOutdated),
			delete: deleteFailing(errUnavailable),
			want:   apply.Failed, wantPolicy: "old", wantCalls: []string{"delete old"}, wantErr: "replace policy old: IAM answered 503", wantTransient: true,
		},
		{
			name: "a policy made by hand with other roles: blocked, untouched", plan: createPlan(wanted), create: conflict(handMadeOtherRoles),
			want: apply.Blocked, wantPolicy: "theirs", wantCalls: []string{restorer},
		},
		{
			name: "delete", plan: deletePlan(ours), delete: deleted,
			want: apply.Deleted, wantPolicy: "ours", wantWrites: 1, wantCalls: []string{"delete ours"},
		},
		{
			name: "delete of a policy already gone: gone", plan: deletePlan(ours), delete: notFound,
			want: apply.Gone, wantPolicy: "ours", wantCalls: []string{"delete ours"},
		},
		{
			name: "delete under upsert-only: retained, nothing written", plan: deletePlan(ours), upsertOnly: true,
			want: apply.Retained, wantPolicy: "ours",
		},
		{
			name: "never delete a policy without the marker", plan: deletePlan(handMade),
			want: apply.Failed, wantPolicy: "theirs", wantErr: "does not carry this project's marker",
		},
		{
			name: "never replace a policy without the marker", plan: replacePlan(wanted, handMadeOtherRoles),
			want: apply.Failed, wantPolicy: "theirs", wantErr: "does not carry this project's marker",
		},
		{
			name: "never create a grant wider than its template", plan: createPlan(wider),
			want: apply.Failed, wantErr: "refusing to create",
		},
		{
			name: "dry run writes nothing: create", plan: createPlan(wanted), dryRun: true,
			want: apply.Planned,
		},
		{
			name: "dry run writes nothing: replace", plan: replacePlan(wanted, oursOutdated), dryRun: true,
			want: apply.Planned, wantPolicy: "old",
		},
		{
			name: "dry run writes nothing: delete", plan: deletePlan(ours), dryRun: true,
			want: apply.Planned, wantPolicy: "ours",
		},
		{
			name: "dry run still refuses a policy without the marker", plan: deletePlan(handMade), dryRun: true,
			want: apply.Failed, wantPolicy: "theirs", wantErr: "does not carry this project's marker",
		},
		{
			name: "create fails for now: transient", plan: createPlan(wanted), create: failing(errUnavailable),
			want: apply.Failed, wantCalls: []string{restorer}, wantErr: "503", wantTransient: true,
		},
		{
			name: "create refused: permanent", plan: createPlan(wanted), create: failing(errForbidden),
			want: apply.Failed, wantCalls: []string{restorer}, wantErr: "403",
		},
		{
			name: "delete fails for now: transient", plan: deletePlan(ours), delete: deleteFailing(errUnavailable),
			want: apply.Failed, wantPolicy: "ours", wantCalls: []string{"delete ours"}, wantErr: "503", wantTransient: true,
		},
		{
			name: "delete refused: permanent", plan: deletePlan(ours), delete: deleteFailing(errForbidden),
			want: apply.Failed, wantPolicy: "ours", wantCalls: []string{"delete ours"}, wantErr: "403",
		},
		{
			name: "the create of a replace fails: the delete is counted", plan: replacePlan(wanted, oursOutdated),
			create: failing(errUnavailable), delete: deleted,
			want: apply.Failed, wantPolicy: "old", wantWrites: 1, wantCalls: []string{"delete old", restorer}, wantErr: "503", wantTransient: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := &fakeWriter{t: t, create: tt.create, delete: tt.delete}
			p := tt.plan
			if tt.upsertOnly {
				p = plan.ModeUpsertOnly.Filter(p)
			}
			rep := apply.Apply(context.Background(), w, p, apply.Options{DryRun: tt.dryRun})
			if len(rep.Results) != 1 {
				t.Fatalf("%d results for one change", len(rep.Results))
			}
			r := rep.Results[0]
			if r.Outcome != tt.want || r.PolicyID != tt.wantPolicy {
				t.Errorf("outcome %s on policy %q, want %s on %q (error %v)", r.Outcome, r.PolicyID, tt.want, tt.wantPolicy, r.Err)
			}
			if diff := cmp.Diff(tt.wantCalls, w.calls); diff != "" {
				t.Errorf("calls to IAM (-want +got):\n%s", diff)
			}
			if got := rep.Writes(); got != tt.wantWrites {
				t.Errorf("the record counts %d writes, want %d", got, tt.wantWrites)
			}
			switch err := rep.Err(); {
			case tt.wantErr == "" && err != nil:
				t.Errorf("error %v, want none", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Errorf("error %v, want one saying %q", err, tt.wantErr)
			case err != nil && apply.IsTransient(err) != tt.wantTransient:
				t.Errorf("error %v: transient %v, want %v", err, apply.IsTransient(err), tt.wantTransient)
			}
			if (r.Outcome == apply.Failed) != (r.Symbol() == "!") {
				t.Errorf("symbol %q for outcome %s", r.Symbol(), r.Outcome)
			}
		})
	}
}

// TestReplaceRecordsWhatItReplaced: the record of a replace names the old policy as its change's
// policy and the new one as its result, and says replace, whether the plan or a 409 found it.
func TestReplaceRecordsWhatItReplaced(t *testing.T) {
	wanted := fixture.Restore(fixture.Restorer)
	old := fixture.Managed("old", fixture.WithRoles(wanted, fixture.OutdatedRestorer))
	for name, p := range map[string]plan.Plan{"planned": replacePlan(wanted, old), "found by a 409": createPlan(wanted)} {
		t.Run(name, func(t *testing.T) {
			w := &fakeWriter{t: t, create: sequence(conflict(old), created("new")), delete: deleted}
			if p.Changes[0].Action == plan.Replace {
				w.create = created("new")
			}
			r := apply.Apply(context.Background(), w, p, apply.Options{}).Results[0]
			if r.Op() != plan.Replace || r.Change.Policy.ID != "old" || r.PolicyID != "new" || r.Symbol() != "-/+" {
				t.Errorf("op %s %q, policy %s → %s; want replace -/+, old → new", r.Op(), r.Symbol(), r.Change.Policy.ID, r.PolicyID)
			}
		})
	}
}

// TestCreatesBeforeDeletes: a plan that removes one grant and adds another adds first, whatever
// the order of its changes; each change is recorded in plan order.
func TestCreatesBeforeDeletes(t *testing.T) {
	old := fixture.Managed("old", fixture.Restore(fixture.Consumer))
	p := plan.Plan{Changes: []plan.Change{
		{Action: plan.Delete, Policy: old},
		{Action: plan.Create, Authorization: fixture.Restore(fixture.Restorer)},
	}}
	w := &fakeWriter{t: t, create: created("new"), delete: deleted}
	rep := apply.Apply(context.Background(), w, p, apply.Options{})
	if rep.Err() != nil {
		t.Fatal(rep.Err())
	}
	if diff := cmp.Diff([]string{"create " + fixture.Restorer, "delete old"}, w.calls); diff != "" {
		t.Errorf("calls (-want +got):\n%s", diff)
	}
	got := []apply.Outcome{rep.Results[0].Outcome, rep.Results[1].Outcome}
	if diff := cmp.Diff([]apply.Outcome{apply.Deleted, apply.Created}, got); diff != "" {
		t.Errorf("outcomes in plan order (-want +got):\n%s", diff)
	}
	if rep.Writes() != 2 {
		t.Errorf("%d writes, want 2", rep.Writes())
	}
}

// TestFailureDoesNotStopTheOthers: one failed change is reported with the others carried out.
func TestFailureDoesNotStopTheOthers(t *testing.T) {
	p := plan.Plan{Changes: []plan.Change{
		{Action: plan.Create, Authorization: fixture.Restore(fixture.Restorer)},
		{Action: plan.Create, Authorization: fixture.Restore(fixture.Consumer)},
		{Action: plan.Keep, Policy: fixture.Managed("kept", fixture.Restore(fixture.Stranger))},
	}}
	w := &fakeWriter{t: t, create: func(_ context.Context, a authz.Authorization) (authz.Policy, error) {
		if a.Subject("accountId") == fixture.Restorer {
			return authz.Policy{}, errUnavailable
		}
		return fixture.Managed("new", a), nil
	}}
	rep := apply.Apply(context.Background(), w, p, apply.Options{Concurrency: 2})
	want := map[apply.Outcome]int{apply.Failed: 1, apply.Created: 1, apply.Kept: 1}
	if diff := cmp.Diff(want, rep.Count()); diff != "" {
		t.Errorf("outcomes (-want +got):\n%s", diff)
	}
	if rep.Writes() != 1 || !apply.IsTransient(rep.Err()) {
		t.Errorf("%d writes, error %v; want 1 write and a transient error", rep.Writes(), rep.Err())
	}
}

// TestChangesWithoutWrites: keep, covered, retain and blocked changes call nobody.
func TestChangesWithoutWrites(t *testing.T) {
	a := fixture.Restore(fixture.Restorer)
	p := plan.Plan{Changes: []plan.Change{
		{Action: plan.Keep, Policy: fixture.Managed("p1", a)},
		{Action: plan.Covered, Authorization: a, Policy: fixture.HandMade("p2", a.Grant)},
		{Action: plan.Retain, Policy: fixture.Managed("p3", a)},
		{Action: plan.Blocked, Authorization: a, Policy: fixture.HandMade("p4", fixture.WithRoles(a, authz.RoleReader).Grant)},
	}}
	w := &fakeWriter{t: t}
	rep := apply.Apply(context.Background(), w, p, apply.Options{})
	var got []string
	for _, r := range rep.Results {
		got = append(got, string(r.Outcome)+" "+r.PolicyID)
	}
	if diff := cmp.Diff([]string{"kept p1", "covered p2", "retained p3", "blocked p4"}, got); diff != "" || len(w.calls) != 0 || rep.Writes() != 0 {
		t.Errorf("results (-want +got):\n%s\ncalls %v, %d writes", diff, w.calls, rep.Writes())
	}
}

// failingLimiter is a rate limiter whose wait ends with the context.
type failingLimiter struct{}

func (failingLimiter) Wait(ctx context.Context) error { <-ctx.Done(); return ctx.Err() }

// TestRateLimitWaitIsTransient: a write that could not get past the rate limit before the
// deadline is not made, and the failure is worth a redelivery.
func TestRateLimitWaitIsTransient(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	w := &fakeWriter{t: t}
	rep := apply.Apply(ctx, w, createPlan(fixture.Restore(fixture.Restorer)), apply.Options{Limiter: failingLimiter{}})
	if r := rep.Results[0]; r.Outcome != apply.Failed || !apply.IsTransient(r.Err) || !errors.Is(r.Err, context.Canceled) || len(w.calls) != 0 {
		t.Errorf("outcome %s, error %v, calls %v; want a transient failure and no call", r.Outcome, r.Err, w.calls)
	}
}

// TestConcurrencyBoundsWritesInFlight: with Concurrency n, never more than n writes at once, and
// n at once when there are enough to do.
func TestConcurrencyBoundsWritesInFlight(t *testing.T) {
	const n = 3
	var (
		mu             sync.Mutex
		inFlight, most int
		full           = make(chan struct{})
		once           sync.Once
	)
	w := &fakeWriter{t: t, create: func(_ context.Context, a authz.Authorization) (authz.Policy, error) {
		mu.Lock()
		inFlight++
		most = max(most, inFlight)
		if inFlight == n {
			once.Do(func() { close(full) })
		}
		mu.Unlock()
		select { // every write waits until n are in flight at once, or gives up
		case <-full:
		case <-time.After(2 * time.Second):
		}
		mu.Lock()
		inFlight--
		mu.Unlock()
		return fixture.Managed("p-"+a.Resource("snapshotId"), a), nil
	}}
	var p plan.Plan
	for i := range 2 * n {
		p.Changes = append(p.Changes, plan.Change{Action: plan.Create, Authorization: fixture.RestoreOf(fmt.Sprintf("r006-%d", i), fixture.Restorer)})
	}
	rep := apply.Apply(context.Background(), w, p, apply.Options{Concurrency: n})
	if most != n || rep.Count()[apply.Created] != 2*n || !slices.Equal(slices.Compact(slices.Sorted(slices.Values(w.calls))), []string{"create " + fixture.Restorer}) {
		t.Errorf("at most %d writes in flight (want %d), results %v", most, n, rep.Count())
	}
}
