package reconcile_test

import (
	"bytes"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/s2s-authorizer/s2s-authorizer/internal/authz"
	"github.com/s2s-authorizer/s2s-authorizer/internal/emulator"
	te "github.com/s2s-authorizer/s2s-authorizer/internal/testenv"
)

// backupGrants are the account's Backup for VPC grants as a user reads them: kind (or
// unmanaged), then the grant.
func backupGrants(e *te.Env) []string {
	return e.GrantsWhere(func(p authz.Policy) bool { return authz.IsBackupSubject(p.Grant) })
}

func backupLine(label, attr, roles string) string {
	return label + " is/backup-policy@" + te.Account + " → is every " + attr + " in " + te.Account + " (" + roles + ")"
}

func TestReconcileFollowsBackupPolicies(t *testing.T) {
	w := te.World()
	w.BackupPolicies = []emulator.BackupPolicy{{ID: "r010-0b1c2d3e-4f50-4617-8a9b-0c1d2e3f4a5b", Region: "eu-de", Name: "nightly"}}
	// Someone made the volume grant by hand, in the v1 form IBM's backup page writes.
	volume := authz.Rules{AccountID: te.Account}.ForBackup(true)[0].Grant
	volume.Resources = slices.Clone(volume.Resources)
	volume.Resources[2] = authz.Attribute{Name: "volumeId", Value: "*", Operator: "stringEquals"}
	w.Policies = append(w.Policies, te.HandMade(volume))
	e := te.Start(t, w, nil)

	rep := run(e, false)
	if rep.Failed() {
		t.Fatalf("run: %v %v", rep.ReadErrors, rep.Applied.Err())
	}
	handMade := "unmanaged is/backup-policy@" + te.Account + " → is every volumeId in " + te.Account + " (Operator)"
	want := []string{
		backupLine("backup", "instanceId", "Operator"), backupLine("backup", "snapshotConsistencyGroupId", "Editor"),
		backupLine("backup", "snapshotId", "Editor"), handMade,
	}
	sort.Strings(want)
	if diff := cmp.Diff(want, backupGrants(e)); diff != "" {
		t.Fatalf("with a backup policy (-want +got):\n%s", diff)
	}
	var text bytes.Buffer
	rep.WritePlan(&text)
	rep.WriteOutcome(&text)
	for _, s := range []string{"+ create  is/backup-policy@" + te.Account + " → is every snapshotId", "1 backup policies"} {
		if !strings.Contains(text.String(), s) {
			t.Errorf("the report does not say %q:\n%s", s, text.String())
		}
	}
	if got := rep.JSON(false).Read["backup_policies"]; got != 1 {
		t.Errorf("JSON read.backup_policies = %d, want 1", got)
	}

	// The backup policies cannot be read: nothing is known, nothing of ours goes.
	w = e.Emulator.World()
	w.BackupPolicies = nil
	if err := e.Emulator.Reset(w); err != nil {
		t.Fatal(err)
	}
	e.Emulator.SetFaults(emulator.Faults{P500: 1, Routes: []string{"GET /v1/backup_policies"}})
	if rep := run(e, false); !rep.Failed() || rep.OutOfScope != 3 || rep.Plan.Pending() {
		t.Errorf("unreadable backup policies: failed=%v out of scope %d, plan %v; want failed, ours left alone", rep.Failed(), rep.OutOfScope, rep.Plan.Count())
	}

	// The last backup policy is gone: ours go, the hand-made one stays.
	e.Emulator.SetFaults(emulator.Faults{})
	if rep := run(e, false); rep.Failed() {
		t.Fatalf("run: %v %v", rep.ReadErrors, rep.Applied.Err())
	}
	if diff := cmp.Diff([]string{handMade}, backupGrants(e)); diff != "" {
		t.Errorf("after the last backup policy (-want +got):\n%s", diff)
	}
}
