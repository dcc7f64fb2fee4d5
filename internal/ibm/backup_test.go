package ibm_test

import (
	"context"
	"testing"

	"github.com/s2s-authorizer/s2s-authorizer/config"
	"github.com/s2s-authorizer/s2s-authorizer/internal/authz"
	"github.com/s2s-authorizer/s2s-authorizer/internal/emulator"
	te "github.com/s2s-authorizer/s2s-authorizer/internal/testenv"
)

// A backup grant goes to IAM through v2 with stringExists as a JSON boolean (the emulator, like
// Terraform's provider, refuses the string "true"), with the role CRNs IAM lists for backup
// policies (source is), and reads back as the same grant, proven ours.
func TestBackupGrantRoundTrip(t *testing.T) {
	e := te.Start(t, te.World(), func(c *config.Config) { c.BackupShares = true })
	ctx := context.Background()
	rules := e.Runtime.Config.Rules()
	rules.Roles = e.Runtime.Cloud.Roles
	if err := e.Runtime.Cloud.Roles.Ready(ctx); err != nil {
		t.Fatalf("roles: %v", err)
	}
	wanted := rules.ForBackup(true)
	if len(wanted) != 5 {
		t.Fatalf("%d backup grants with shares, want 5", len(wanted))
	}
	for _, a := range wanted {
		created, err := e.Runtime.Cloud.Policies.Create(ctx, a)
		if err != nil {
			t.Fatalf("create %s: %v", a, err)
		}
		got, err := e.Runtime.Cloud.Policies.Get(ctx, created.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.Key() != a.Key() {
			t.Errorf("read back\n%s\nwant\n%s", got.Key(), a.Key())
		}
		if o, ok := got.Owner(); !ok || o.Kind != authz.KindBackup || o.Object != authz.BackupObject(e.Runtime.Config.AccountID) {
			t.Errorf("%s read back is not proven ours: %+v", a, got)
		}
	}
}

func TestCountBackupPolicies(t *testing.T) {
	e := te.Start(t, te.World(), nil)
	ctx := context.Background()
	s := e.Runtime.Cloud.Snapshots
	if n, err := s.CountBackupPolicies(ctx, "us-south"); err != nil || n != 0 {
		t.Fatalf("sample world: %d, %v; want none", n, err)
	}
	for _, b := range []emulator.BackupPolicy{
		{ID: "r006-b1", Region: "us-south", Name: "nightly"},
		{ID: "r006-b2", Region: "us-south", Name: "weekly"},
		{ID: "r010-b3", Region: "eu-de", Name: "eu"},
	} {
		if err := e.Emulator.AddBackupPolicy(b); err != nil {
			t.Fatal(err)
		}
	}
	for region, want := range map[string]int{"us-south": 2, "eu-de": 1, "jp-tok": 0} {
		if n, err := s.CountBackupPolicies(ctx, region); err != nil || n != want {
			t.Errorf("%s: %d, %v; want %d", region, n, err, want)
		}
	}
}
