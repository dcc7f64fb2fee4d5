package converge_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/s2s-authorizer/s2s-authorizer/internal/apply"
	"github.com/s2s-authorizer/s2s-authorizer/internal/authz"
	"github.com/s2s-authorizer/s2s-authorizer/internal/converge"
	"github.com/s2s-authorizer/s2s-authorizer/internal/crn"
	"github.com/s2s-authorizer/s2s-authorizer/internal/fixture"
	"github.com/s2s-authorizer/s2s-authorizer/internal/plan"
)

// backupCounts answers CountBackupPolicies from a map of region to count or error.
type backupCounts map[string]any

func (b backupCounts) CountBackupPolicies(_ context.Context, region string) (int, error) {
	switch v := b[region].(type) {
	case int:
		return v, nil
	case error:
		return 0, v
	}
	return 0, nil
}

func backupEvent(t *testing.T) converge.Object {
	t.Helper()
	c, err := crn.Parse("crn:v1:bluemix:public:is:eu-de:a/" + fixture.Account + "::backup-policy:r010-0b1c2d3e-4f50-4617-8a9b-0c1d2e3f4a5b")
	if err != nil {
		t.Fatal(err)
	}
	target, err := fixture.Rules(authz.ScopeInstance).Target(c)
	if err != nil {
		t.Fatal(err)
	}
	return converge.Object{Target: target}
}

// managedBackup are the account's four backup grants, already made by the project.
func managedBackup() []authz.Policy {
	var out []authz.Policy
	for i, a := range fixture.Rules(authz.ScopeInstance).ForBackup(true) {
		out = append(out, fixture.Managed(fmt.Sprintf("b%d", i), a))
	}
	return out
}

func TestBackupConverge(t *testing.T) {
	unreadable := apply.Transient(errors.New("VPC answered 503"))
	tests := []struct {
		name        string
		mode        authz.BackupMode
		sync        plan.Mode
		counts      backupCounts
		existing    []authz.Policy
		wantOutcome converge.Outcome
		wantCreates int
		wantDeletes int
		wantReason  string
	}{
		{name: "first backup policy: the four grants", counts: backupCounts{"eu-de": 1}, wantOutcome: converge.Applied, wantCreates: 4, wantReason: "backup policy in eu-de"},
		{name: "again: nothing to do", counts: backupCounts{"us-south": 2}, existing: managedBackup(), wantOutcome: converge.Unchanged},
		{name: "last backup policy gone: ours go", existing: managedBackup(), wantOutcome: converge.Applied, wantDeletes: 4, wantReason: "no backup policy in us-south, eu-de"},
		{name: "upsert-only keeps them", sync: plan.ModeUpsertOnly, existing: managedBackup(), wantOutcome: converge.Unchanged},
		{name: "never makes none", mode: authz.BackupNever, counts: backupCounts{"eu-de": 1}, wantOutcome: converge.Unchanged, wantReason: "never"},
		{name: "always, before any backup policy", mode: authz.BackupAlways, wantOutcome: converge.Applied, wantCreates: 4},
		{name: "a region unreadable: nothing deleted", counts: backupCounts{"us-south": unreadable}, existing: managedBackup(), wantOutcome: converge.Failed},
		{name: "a region unreadable, another has one: granted", counts: backupCounts{"us-south": unreadable, "eu-de": 1}, wantOutcome: converge.Applied, wantCreates: 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			acct := sampleAccount(tt.existing...)
			rules := fixture.Rules(authz.ScopeInstance)
			rules.Backup = tt.mode
			c := acct.ports().converger(converge.Options{Rules: rules, Mode: tt.sync}).WithBackupPolicies(tt.counts, []string{"us-south", "eu-de"})
			r := c.Converge(context.Background(), backupEvent(t))
			if r.Outcome != tt.wantOutcome {
				t.Fatalf("outcome %s (%v), want %s", r.Outcome, r.Err, tt.wantOutcome)
			}
			if r.Object != authz.BackupObject(fixture.Account) {
				t.Errorf("object %s, want the account's backup configuration", r.Object)
			}
			if n := len(acct.called("create")); n != tt.wantCreates {
				t.Errorf("%d creates, want %d", n, tt.wantCreates)
			}
			if n := len(acct.called("delete")); n != tt.wantDeletes {
				t.Errorf("%d deletes, want %d", n, tt.wantDeletes)
			}
			if tt.wantReason != "" && !strings.Contains(r.Reason, tt.wantReason) {
				t.Errorf("reason %q, want one saying %q", r.Reason, tt.wantReason)
			}
		})
	}
}

// Without a backup policy reader, auto cannot know: the event fails instead of deleting.
func TestBackupConvergeWithoutReader(t *testing.T) {
	acct := sampleAccount(managedBackup()...)
	r := acct.ports().converger(converge.Options{}).Converge(context.Background(), backupEvent(t))
	if r.Outcome != converge.Failed || len(acct.called("delete")) != 0 {
		t.Errorf("outcome %s, deletes %v; want failed and none", r.Outcome, acct.called("delete"))
	}
}
