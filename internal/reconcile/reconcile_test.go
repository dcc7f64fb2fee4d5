package reconcile_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"go.uber.org/zap"

	"github.com/s2s-authorizer/s2s-authorizer/config"
	"github.com/s2s-authorizer/s2s-authorizer/internal/authz"
	"github.com/s2s-authorizer/s2s-authorizer/internal/emulator"
	"github.com/s2s-authorizer/s2s-authorizer/internal/fixture"
	"github.com/s2s-authorizer/s2s-authorizer/internal/localrun"
	"github.com/s2s-authorizer/s2s-authorizer/internal/plan"
	"github.com/s2s-authorizer/s2s-authorizer/internal/reconcile"
	te "github.com/s2s-authorizer/s2s-authorizer/internal/testenv"
)

func run(e *te.Env, dryRun bool) reconcile.Report {
	rt := *e.Runtime
	rt.Config.DryRun = dryRun
	return rt.Reconciler(0, -1).Run(context.Background())
}

func restore(account, snap string) string {
	return fmt.Sprintf("restore server-protect@%s → is snapshot %s in %s (SnapshotRemoteAccountRestorer)", account, snap, te.Account)
}

func instance(service, guid string) string {
	return fmt.Sprintf("encryption server-protect@%s → %s instance %s in %s (Reader)", te.Account, service, guid, te.Account)
}

// TestConvergesAWorldChangedWithoutEvents changes the world behind the function's back and
// checks that one run repairs all of it, and that a second run writes nothing.
func TestConvergesAWorldChangedWithoutEvents(t *testing.T) {
	e := te.Start(t, te.World(), nil)
	if rep := run(e, false); rep.Failed() {
		t.Fatalf("first run: %v %v", rep.ReadErrors, rep.Applied.Err())
	}
	want := []string{instance("hs-crypto", te.HPCSGUID), instance("kms", te.KPGUID), restore(te.Restorer, te.Snap)}
	slices.Sort(want)
	if diff := cmp.Diff(want, e.Grants()); diff != "" {
		t.Fatalf("after the first run (-want +got):\n%s", diff)
	}

	// Behind the function's back: the tag moves from Snap to SnapPlain and SnapEU, Snap is then
	// deleted, the HPCS instance is deleted, and someone deletes the KP instance's policy by hand.
	w := e.Emulator.World()
	for i := range w.Snapshots {
		switch w.Snapshots[i].ID {
		case te.SnapPlain, te.SnapEU:
			w.Snapshots[i].UserTags = []string{"s2s-restore:" + te.Restorer}
		case te.Snap:
			w.Snapshots[i].UserTags = nil
		}
	}
	w.Snapshots = slices.DeleteFunc(w.Snapshots, func(s emulator.Snapshot) bool { return s.ID == te.Snap })
	w.KMSInstances = slices.DeleteFunc(w.KMSInstances, func(i emulator.KMSInstance) bool { return i.GUID == te.HPCSGUID })
	w.PoliciesV2 = slices.DeleteFunc(w.PoliciesV2, func(raw json.RawMessage) bool {
		p, err := te.ParsePolicyV2(raw)
		o, managed := p.Owner()
		return err == nil && managed && o.Object == te.KPCRN
	})
	if err := e.Emulator.Reset(w); err != nil {
		t.Fatal(err)
	}

	rep := run(e, false)
	if rep.Failed() {
		t.Fatalf("second run: %v %v", rep.ReadErrors, rep.Applied.Err())
	}
	want = []string{instance("kms", te.KPGUID), restore(te.Restorer, te.SnapEU), restore(te.Restorer, te.SnapPlain)}
	slices.Sort(want)
	if diff := cmp.Diff(want, e.Grants()); diff != "" {
		t.Errorf("after the repair (-want +got):\n%s", diff)
	}
	if n := rep.Plan.Count(); n[plan.Create] != 3 || n[plan.Delete] != 2 {
		t.Errorf("plan %v, want 3 creates (KP policy, two restores) and 2 deletes (HPCS, old snapshot)", n)
	}

	e.Emulator.ResetStats()
	if rep := run(e, false); rep.Plan.Pending() || e.Emulator.Stats().Writes != 0 {
		t.Errorf("a run right after a successful one wrote: plan %v, %d writes", rep.Plan.Count(), e.Emulator.Stats().Writes)
	}
}

// TestUnmanagedPoliciesAreNeverTouched: a hand-made policy equal to an orphan grant stays.
func TestUnmanagedPoliciesAreNeverTouched(t *testing.T) {
	w := te.World()
	for i := range w.Snapshots {
		w.Snapshots[i].UserTags = nil
	}
	rules := authz.Rules{AccountID: te.Account, RestoreTagPrefix: "s2s-restore", RestoreAllowedAccounts: []string{te.Restorer}}
	wanted, _ := rules.ForSnapshot(&authz.Snapshot{ID: te.Snap, CRN: te.SnapCRN, UserTags: []string{"s2s-restore:" + te.Restorer}})
	w.Policies = append(w.Policies, te.HandMade(wanted[0].Grant))
	e := te.Start(t, w, nil)
	run(e, false)
	for _, g := range e.Grants() {
		if strings.Contains(g, te.Snap) && !strings.HasPrefix(g, "unmanaged") {
			t.Errorf("unexpected %s", g)
		}
	}
	if !slices.Contains(e.Grants(), "unmanaged "+strings.TrimPrefix(restore(te.Restorer, te.Snap), "restore ")) {
		t.Errorf("the hand-made policy is gone: %v", e.Grants())
	}
}

// TestDryRunPrintsWhatApplyDoes: the dry run's plan text is the apply's, and writes nothing.
func TestDryRunPrintsWhatApplyDoes(t *testing.T) {
	e := te.Start(t, te.World(), func(c *config.Config) { c.KMSConsumerAccounts = []string{te.Consumer} })
	dry := run(e, true)
	if w := e.Emulator.Stats().Writes; w != 0 {
		t.Fatalf("dry run made %d writes", w)
	}
	var dryText, applyText bytes.Buffer
	dry.WritePlan(&dryText)
	applied := run(e, false)
	applied.WritePlan(&applyText)
	if dryText.String() != applyText.String() {
		t.Errorf("dry run printed\n%s\nthe apply printed\n%s", dryText.String(), applyText.String())
	}
	if !strings.Contains(dryText.String(), "Plan: 5 to create, 0 to delete") || strings.Count(dryText.String(), "\n+ create") != 4 {
		t.Errorf("unexpected plan:\n%s", dryText.String())
	}
	if got := e.Emulator.Stats().PolicyWrites; got != 5 {
		t.Errorf("apply wrote %d policies, want the 5 planned", got)
	}
}

// TestUpsertOnlyReportsOrphans: upsert-only never deletes, and says what it kept.
func TestUpsertOnlyReportsOrphans(t *testing.T) {
	e := te.Start(t, te.World(), func(c *config.Config) { c.SyncMode = plan.ModeUpsertOnly })
	run(e, false)
	if err := e.Emulator.Reset(withoutTags(e.Emulator.World())); err != nil {
		t.Fatal(err)
	}
	rep := run(e, false)
	var text bytes.Buffer
	rep.WritePlan(&text)
	if n := rep.Plan.Count(); n[plan.Retain] != 1 || n[plan.Delete] != 0 {
		t.Errorf("plan %v, want 1 retained, 0 deleted", n)
	}
	if !strings.Contains(text.String(), "kept: upsert-only") {
		t.Errorf("the retained orphan is not reported:\n%s", text.String())
	}
	if !slices.Contains(e.Grants(), restore(te.Restorer, te.Snap)) {
		t.Errorf("upsert-only deleted a policy: %v", e.Grants())
	}
}

func withoutTags(w *emulator.World) *emulator.World {
	for i := range w.Snapshots {
		w.Snapshots[i].UserTags = nil
	}
	return w
}

// TestListCallsArePages: 2,000 snapshots cost list pages, not a call per snapshot.
func TestListCallsArePages(t *testing.T) {
	w := te.World()
	w.Snapshots = nil
	for i := range 2000 {
		s := emulator.Snapshot{ID: fmt.Sprintf("r006-%08d-0000-4000-8000-000000000000", i), Region: "us-south", Name: fmt.Sprintf("s-%d", i)}
		if i%10 == 0 {
			s.UserTags = []string{"s2s-restore:" + te.Restorer}
		}
		w.Snapshots = append(w.Snapshots, s)
	}
	e := te.Start(t, w, func(c *config.Config) { c.Regions = []string{"us-south"} })
	rep := run(e, false)
	if rep.Failed() || rep.Snapshots != 2000 {
		t.Fatalf("run: %d snapshots, %v %v", rep.Snapshots, rep.ReadErrors, rep.Applied.Err())
	}
	calls := e.Emulator.Stats().Calls
	// 2,000 snapshots at 100 a page; 202 policies (200 restores + 2 KMS) are created, so listing
	// them afterwards takes 3 pages, but this run listed before creating: 1 page.
	// Each snapshot the run writes for is read again right before the write, and once more to
	// verify that nothing changed meanwhile (another writer may be at work): 2 × 200.
	if calls["GET /v1/snapshots"] != 20 || calls["GET /v1/snapshots/{id}"] != 400 {
		t.Errorf("snapshot calls %v, want 20 list pages and 2 single reads per written snapshot", calls)
	}
	if calls["GET /v2/policies"] != 1 || calls["POST /v2/policies"] != 202 {
		t.Errorf("policy calls %v, want 1 list page and 202 creates", calls)
	}
	e.Emulator.ResetStats()
	run(e, false)
	calls = e.Emulator.Stats().Calls
	if calls["GET /v2/policies"] != 3 || calls["GET /v1/snapshots"] != 20 || e.Emulator.Stats().Writes != 0 {
		t.Errorf("second run calls %v, want 3 policy pages, 20 snapshot pages, no writes", calls)
	}
}

// TestPartialFailure: deletes fail, creates succeed; the run reports failure, and the next run
// (IAM healthy again) finishes the job.
func TestPartialFailure(t *testing.T) {
	e := te.Start(t, te.World(), nil)
	run(e, false)
	w := e.Emulator.World()
	for i := range w.Snapshots {
		switch w.Snapshots[i].ID {
		case te.Snap:
			w.Snapshots[i].UserTags = nil
		case te.SnapPlain:
			w.Snapshots[i].UserTags = []string{"s2s-restore:" + te.Restorer}
		}
	}
	if err := e.Emulator.Reset(w); err != nil {
		t.Fatal(err)
	}
	e.Emulator.SetFaults(emulator.Faults{P503: 1, Routes: []string{"DELETE /v2/policies/{id}"}})
	rep := run(e, false)
	if !rep.Failed() {
		t.Fatal("a run whose deletes all failed reported success")
	}
	if !slices.Contains(e.Grants(), restore(te.Restorer, te.SnapPlain)) {
		t.Errorf("the create did not happen beside the failing delete: %v", e.Grants())
	}
	e.Emulator.SetFaults(emulator.Faults{})
	if rep := run(e, false); rep.Failed() || rep.Plan.Count()[plan.Delete] != 1 {
		t.Fatalf("next run: failed=%v plan %v", rep.Failed(), rep.Plan.Count())
	}
	if slices.Contains(e.Grants(), restore(te.Restorer, te.Snap)) {
		t.Errorf("the next run did not finish the job: %v", e.Grants())
	}
}

// TestUnreadableRegionKeepsItsPolicies: when a region's snapshots cannot be listed, the managed
// policies of snapshots there are left alone, not deleted as orphans.
func TestUnreadableRegionKeepsItsPolicies(t *testing.T) {
	w := te.World()
	for i := range w.Snapshots {
		if w.Snapshots[i].ID == te.SnapEU {
			w.Snapshots[i].UserTags = []string{"s2s-restore:" + te.Restorer}
		}
	}
	e := te.Start(t, w, nil)
	run(e, false)
	e.Emulator.SetFaults(emulator.Faults{P500: 1, Routes: []string{"GET /v1/snapshots"}})
	rep := run(e, false)
	if !rep.Failed() || len(rep.ReadErrors) != 2 || rep.OutOfScope != 2 || rep.Plan.Pending() {
		t.Fatalf("failed=%v read errors %v, out of scope %d, plan %v", rep.Failed(), rep.ReadErrors, rep.OutOfScope, rep.Plan.Count())
	}
	if !slices.Contains(e.Grants(), restore(te.Restorer, te.SnapEU)) {
		t.Errorf("a policy of an unreadable region was deleted: %v", e.Grants())
	}
}

// TestScopeSwitch: from instance to key scope, the instance policies become orphans and go, the
// root keys get theirs.
func TestScopeSwitch(t *testing.T) {
	e := te.Start(t, te.World(), nil)
	run(e, false)
	// The next release runs with key scope against the same account.
	cfg := e.Runtime.Config
	cfg.KMSScope = authz.ScopeKey
	rt, err := localrun.Build(context.Background(), e.Emulator, cfg, zap.NewNop(), te.FastOptions())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(rt.Close)
	if rep := rt.Reconciler(0, -1).Run(context.Background()); rep.Failed() {
		t.Fatalf("%v %v", rep.ReadErrors, rep.Applied.Err())
	}
	want := []string{
		"encryption server-protect@" + te.Account + " → hs-crypto " + te.HPCSGUID + " key " + te.HPCSKey + " in " + te.Account + " (Reader)",
		"encryption server-protect@" + te.Account + " → kms " + te.KPGUID + " key " + te.RootKey + " in " + te.Account + " (Reader)",
		restore(te.Restorer, te.Snap),
	}
	if diff := cmp.Diff(want, e.Grants()); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

// TestOutdatedRolesAreReplaced: a managed policy whose roles a newer template changed is
// replaced (IAM allows one policy per subject and resource), and the plan says so.
func TestOutdatedRolesAreReplaced(t *testing.T) {
	e := te.Start(t, te.World(), nil)
	rules := e.Runtime.Config.Rules()
	wanted, _ := rules.ForSnapshot(&authz.Snapshot{ID: te.Snap, CRN: te.SnapCRN, UserTags: []string{"s2s-restore:" + te.Restorer}})
	old := wanted[0]
	old.Roles = []string{fixture.OutdatedRestorer}
	e.AddPolicy(te.PolicyJSON(old.Grant, "", old.Description()))
	rep := run(e, false)
	var text bytes.Buffer
	rep.WritePlan(&text)
	if rep.Failed() || rep.Plan.Count()[plan.Replace] != 1 || !strings.Contains(text.String(), "-/+ replace") {
		t.Fatalf("failed=%v %v\n%s", rep.Failed(), rep.Applied.Err(), text.String())
	}
	if !slices.Contains(e.Grants(), restore(te.Restorer, te.Snap)) {
		t.Errorf("not replaced: %v", e.Grants())
	}
}

// TestBackgroundRunsOneAtATime: a cron tick during a run does not start a second one.
func TestBackgroundRunsOneAtATime(t *testing.T) {
	e := te.Start(t, te.World(), nil)
	bg := reconcile.NewBackground(context.Background(), e.Runtime.Reconciler(0, -1), e.Runtime.Logger)
	e.Emulator.SetFaults(emulator.Faults{Latency: 300 * time.Millisecond, Routes: []string{"GET /v2/policies"}})
	if !bg.Start() {
		t.Fatal("the first tick did not start a run")
	}
	if bg.Start() {
		t.Error("a tick during a run started a second one")
	}
	bg.Wait()
	if lists := e.Emulator.Stats().Calls["GET /v2/policies"]; lists != 1 {
		t.Errorf("%d policy lists, want the one run's", lists)
	}
	if !bg.Start() {
		t.Error("a tick after the run did not start a new one")
	}
	bg.Wait()
	if got := len(e.Grants()); got != 3 {
		t.Errorf("%d policies after the runs, want 3", got)
	}
}
