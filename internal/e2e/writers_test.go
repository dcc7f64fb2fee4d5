package e2e_test

import (
	"context"
	"slices"
	"sync"
	"sync/atomic"
	"testing"

	"go.uber.org/zap"

	"github.com/s2s-authorizer/s2s-authorizer/config"
	"github.com/s2s-authorizer/s2s-authorizer/internal/apply"
	"github.com/s2s-authorizer/s2s-authorizer/internal/authz"
	"github.com/s2s-authorizer/s2s-authorizer/internal/converge"
	"github.com/s2s-authorizer/s2s-authorizer/internal/delivery"
	"github.com/s2s-authorizer/s2s-authorizer/internal/localrun"
	"github.com/s2s-authorizer/s2s-authorizer/internal/plan"
	"github.com/s2s-authorizer/s2s-authorizer/internal/reconcile"
	te "github.com/s2s-authorizer/s2s-authorizer/internal/testenv"
	"github.com/s2s-authorizer/s2s-authorizer/internal/wiring"
)

// The three failures measured with two writers at once (the many-writers issue), each replayed
// deterministically: a hook runs the other writer at the moment that broke it.

// setTags sets snapshot id's tags in the running emulator in place, as a person in the console
// would: a list or a policy read in flight at that moment is not disturbed.
func setTags(t *testing.T, e *te.Env, id string, tags ...string) {
	t.Helper()
	if err := e.Emulator.SetUserTags(id, tags); err != nil {
		t.Fatal(err)
	}
}

// listHook runs after the reconcile's snapshot listing, before it writes: the moment another
// writer changed the world in the measured failures. The regions are listed at once, so the
// hook waits for the last of them: after the first, the snapshot's own region may not have been
// read yet, and its read would see the other writer's change.
type listHook struct {
	reconcile.Snapshots
	after   func()
	pending atomic.Int32 // regions not listed yet
}

func (h *listHook) List(ctx context.Context, region string, fn func([]authz.Snapshot) error) error {
	err := h.Snapshots.List(ctx, region, fn)
	if h.pending.Add(-1) == 0 {
		h.after()
	}
	return err
}

// reconcilerWithHook is the runtime's full reconcile with hook run after its snapshot listing.
func reconcilerWithHook(rt *wiring.Runtime, hook func()) *reconcile.Reconciler {
	h := &listHook{Snapshots: rt.Cloud.Snapshots, after: hook}
	h.pending.Store(int32(len(rt.Config.Regions)))
	return reconcile.New(reconcile.Options{Rules: rt.Config.Rules(), Regions: rt.Config.Regions, Mode: rt.Config.SyncMode},
		rt.Converger, h, rt.Cloud.Instances, rt.Cloud.Keys, rt.Index)
}

func restoresOf(e *te.Env, snapshotID string) []string {
	var out []string
	for _, p := range e.Policies() {
		if p.Active() && p.Resource("snapshotId") == snapshotID {
			out = append(out, p.ID)
		}
	}
	return out
}

// TestReconcileRacingADetach: the reconcile listed a tagged snapshot; the tag was removed and its
// detach event answered before the reconcile wrote. Before, the reconcile then created the grant
// from its older read: a restore grant with no tag, until the next day's run.
func TestReconcileRacingADetach(t *testing.T) {
	e := te.Start(t, te.World(), nil)
	setTags(t, e, te.SnapPlain, "s2s-restore:"+te.Restorer)
	svc := e.Service()
	rec := reconcilerWithHook(e.Runtime, func() {
		setTags(t, e, te.SnapPlain)
		if r := svc.Handle(context.Background(), delivery.DecodeJSON(te.Activity("is.tag.detach", te.SnapPlainCRN, nil))); r.Outcome != converge.Unchanged {
			t.Errorf("the detach event: %s %s, want unchanged (no grant yet)", r.Outcome, r.Error)
		}
	})
	rep := rec.Run(context.Background())
	if rep.Failed() {
		t.Fatalf("reconcile: %v %v %v", rep.ReadErrors, rep.ObjectErrors, rep.Applied.Err())
	}
	if ids := restoresOf(e, te.SnapPlain); len(ids) != 0 {
		t.Errorf("restore policies %v for a snapshot without its tag, want none", ids)
	}
}

// TestReconcileRacingAnAttach: the reconcile listed an untagged snapshot whose managed policy
// existed; the tag was put back and its attach event answered "keep" before the reconcile wrote.
// Before, the reconcile then deleted that policy: a tag with no grant.
func TestReconcileRacingAnAttach(t *testing.T) {
	e := te.Start(t, te.World(), nil)
	setTags(t, e, te.SnapPlain, "s2s-restore:"+te.Restorer)
	svc := e.Service()
	if r := svc.Handle(context.Background(), delivery.DecodeJSON(te.Activity("is.tag.attach", te.SnapPlainCRN, map[string]string{"n": "1"}))); r.Outcome != converge.Applied {
		t.Fatalf("first attach: %s %s", r.Outcome, r.Error)
	}
	before := restoresOf(e, te.SnapPlain)
	setTags(t, e, te.SnapPlain) // the reconcile lists the snapshot without its tag
	rec := reconcilerWithHook(e.Runtime, func() {
		setTags(t, e, te.SnapPlain, "s2s-restore:"+te.Restorer)
		if r := svc.Handle(context.Background(), delivery.DecodeJSON(te.Activity("is.tag.attach", te.SnapPlainCRN, map[string]string{"n": "2"}))); r.Outcome != converge.Unchanged {
			t.Errorf("the attach event: %s %s, want unchanged (its grant is there)", r.Outcome, r.Error)
		}
	})
	rep := rec.Run(context.Background())
	if n := rep.Plan.Count()[plan.Delete]; n != 1 {
		t.Fatalf("the run's plan has %d deletes, want the one its older read asks for", n)
	}
	if rep.Failed() {
		t.Fatalf("reconcile: %v %v %v", rep.ReadErrors, rep.ObjectErrors, rep.Applied.Err())
	}
	if got := restoresOf(e, te.SnapPlain); !slices.Equal(got, before) || len(got) != 1 {
		t.Errorf("restore policies %v after the run, want the tagged snapshot's %v kept", got, before)
	}
}

// TestStaleCacheIsConfirmed: a managed restore policy deleted by hand, then an attach event.
// Before, it was answered 200 unchanged, keep, naming the deleted policy: acknowledged, and so
// never retried.
func TestStaleCacheIsConfirmed(t *testing.T) {
	e := te.Start(t, te.World(), nil)
	svc := e.Service()
	first := svc.Handle(context.Background(), delivery.DecodeJSON(te.Activity("is.tag.attach", te.SnapCRN, map[string]string{"n": "1"})))
	if first.Outcome != converge.Applied || len(first.Changes) != 1 {
		t.Fatalf("first attach: %s %v", first.Outcome, first.Changes)
	}
	deleted := first.Changes[0].PolicyID
	// By hand, behind the function's back: its cache still holds the policy.
	if err := e.Runtime.Cloud.Policies.Delete(context.Background(), deleted); err != nil {
		t.Fatal(err)
	}
	again := svc.Handle(context.Background(), delivery.DecodeJSON(te.Activity("is.tag.attach", te.SnapCRN, map[string]string{"n": "2"})))
	if again.Outcome != converge.Applied || slices.ContainsFunc(again.Changes, func(c apply.Result) bool { return c.PolicyID == deleted && c.Outcome == apply.Kept }) {
		t.Fatalf("second attach: %s %v, want applied with a new policy", again.Outcome, again.Changes)
	}
	if ids := restoresOf(e, te.Snap); len(ids) != 1 || ids[0] == deleted {
		t.Errorf("restore policies %v, want one new policy", ids)
	}
}

// snapshotHook runs hook once, after the first read of a snapshot by one app instance.
type snapshotHook struct {
	converge.Snapshots
	hook func()
	once sync.Once
}

func (h *snapshotHook) Get(ctx context.Context, region, id string) (*authz.Snapshot, error) {
	s, err := h.Snapshots.Get(ctx, region, id)
	h.once.Do(h.hook)
	return s, err
}

// TestTwoInstancesInterleaved: instance A reads a tagged snapshot for an attach event; the tag
// is removed and instance B answers the detach event (nothing to delete yet); then A creates.
// Before, the grant stayed with no tag (6 of 30 interleaved rounds); A now verifies its write
// against a new read and removes it. The policy cache is off, as measured.
func TestTwoInstancesInterleaved(t *testing.T) {
	e := te.Start(t, te.World(), func(c *config.Config) { c.PolicyCacheTTL = 0 })
	setTags(t, e, te.SnapPlain, "s2s-restore:"+te.Restorer)
	b, err := localrun.Build(context.Background(), e.Emulator, e.Runtime.Config, zap.NewNop(), te.FastOptions())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	a := e.Runtime
	var detach converge.Outcome
	convA := converge.New(converge.Options{Rules: a.Config.Rules(), Mode: a.Config.SyncMode},
		&snapshotHook{Snapshots: a.Cloud.Snapshots, hook: func() {
			setTags(t, e, te.SnapPlain)
			detach = b.Service(nil).Handle(context.Background(), delivery.DecodeJSON(te.Activity("is.tag.detach", te.SnapPlainCRN, nil))).Outcome
		}}, a.Cloud.Instances, a.Cloud.Keys, a.Index)
	r := convA.Converge(context.Background(), object(t, authz.ScopeInstance, te.SnapPlainCRN))
	if detach != converge.Unchanged {
		t.Errorf("instance B's detach: %s, want unchanged", detach)
	}
	if r.Err != nil || r.Report.Count()[apply.Created] != 1 || r.Report.Count()[apply.Deleted] != 1 {
		t.Errorf("instance A: %s %v %v, want its create verified and undone", r.Outcome, r.Err, r.Report.Results)
	}
	if ids := restoresOf(e, te.SnapPlain); len(ids) != 0 {
		t.Errorf("restore policies %v for a snapshot without its tag, want none", ids)
	}
}
