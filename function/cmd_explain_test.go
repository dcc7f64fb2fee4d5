package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/s2s-authorizer/s2s-authorizer/internal/authz"
	"github.com/s2s-authorizer/s2s-authorizer/internal/emulator"
	te "github.com/s2s-authorizer/s2s-authorizer/internal/testenv"
)

// restoreGrant is the restore grant for te.Snap and te.Restorer as the rules make it.
func restoreGrant(t *testing.T) authz.Grant {
	t.Helper()
	r := authz.Rules{AccountID: te.Account, RestoreTagPrefix: "s2s-restore", RestoreAllowedAccounts: []string{te.Restorer}, KMSScope: authz.ScopeInstance}
	got, _ := r.ForSnapshot(&authz.Snapshot{ID: te.Snap, CRN: te.SnapCRN, UserTags: []string{"s2s-restore:" + te.Restorer}})
	return got[0].Grant
}

func TestExplain(t *testing.T) {
	ctx := context.Background()
	handMade := func(t *testing.T, w *emulator.World) { w.Policies = append(w.Policies, te.HandMade(restoreGrant(t))) }
	imitation := func(t *testing.T, w *emulator.World) {
		g := restoreGrant(t)
		g.Roles = []string{authz.RoleReader}
		w.Policies = append(w.Policies, te.PolicyJSON(g, "", authz.Owner{Kind: authz.KindRestore, Object: te.SnapCRN}.Description()))
	}
	tests := []struct {
		name      string
		world     func(*testing.T, *emulator.World)
		reconcile bool
		args      []string
		want      []string
	}{
		{
			name: "restore granted by this project", reconcile: true,
			args: []string{"restore", te.Snap, "--to", te.Restorer},
			want: []string{
				"  ✓ snapshot " + te.Snap + " exists in us-south (" + te.SnapCRN + ")",
				"  ✓ the tag s2s-restore:" + te.Restorer + " is there",
				"  ✓ " + te.Restorer + " is in RESTORE_ALLOWED_ACCOUNTS",
				"  · the grant that should exist: server-protect@" + te.Restorer + " → is snapshot " + te.Snap,
				"(managed, SnapshotRemoteAccountRestorer), which covers it",
				"  → the other account: its users who start the restore need the VolumeRemoteAccountSnapshotRestorer role",
				"verdict: yes",
			},
		},
		{
			name: "restore wanted, not made yet",
			args: []string{"restore", te.SnapCRN, "--to", te.Restorer},
			want: []string{
				"  ✗ IAM has no policy for it: the next event or reconcile creates it",
				"verdict: not yet: the grant is wanted and missing",
			},
		},
		{
			name: "restore for an account neither tagged nor allowed",
			args: []string{"restore", te.Snap, "--to", te.Stranger},
			want: []string{
				"  ✗ the tag s2s-restore:" + te.Stranger + " is not there",
				"  ✗ " + te.Stranger + " is not in RESTORE_ALLOWED_ACCOUNTS",
				"  · no grant should exist by this project's rules",
				"verdict: no: no policy gives the restore, and the rules ask for none",
			},
		},
		{
			name: "restore from a snapshot that does not exist",
			args: []string{"restore", "r006-00000000-0000-4000-8000-000000000000", "--to", te.Restorer},
			want: []string{"  ✗ snapshot r006-00000000-0000-4000-8000-000000000000 does not exist in us-south, eu-de", "verdict: no: there is no snapshot"},
		},
		{
			name: "restore given by a hand-made policy", world: handMade,
			args: []string{"restore", te.Snap, "--to", te.Restorer},
			want: []string{"(hand-made, SnapshotRemoteAccountRestorer), which covers it", "verdict: yes"},
		},
		{
			name: "restore blocked by an imitation of the marker", world: imitation,
			args: []string{"restore", te.Snap, "--to", te.Restorer},
			want: []string{"(imitation: carries this project's marker but is not its grant, Reader), which does not cover it", "verdict: not yet"},
		},
		{
			name: "encryption of the own account", reconcile: true,
			args: []string{"encryption", te.KPGUID},
			want: []string{
				"  ✓ instance " + te.KPGUID + " is an active kms instance",
				"  · KMS_SCOPE=instance: one policy per KMS instance",
				"(managed, Reader), which covers it",
				"verdict: yes",
			},
		},
		{
			name: "encryption with a standard key",
			args: []string{"encryption", te.StdKeyCRN},
			want: []string{"  ✗ key " + te.StdKey + " is a standard key: Block Storage encrypts only with root keys", "verdict: no: the key cannot encrypt volumes"},
		},
		{
			name: "encryption for an account not a consumer", reconcile: true,
			args: []string{"encryption", te.RootKeyCRN, "--for", te.Stranger},
			want: []string{
				"  ✓ key " + te.RootKey + " is an active root key",
				"  ✗ " + te.Stranger + " is not in KMS_CONSUMER_ACCOUNTS",
				"  → the other account: nothing in IAM",
				"verdict: no",
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			world := emulator.SampleWorld()
			if tc.world != nil {
				tc.world(t, world)
			}
			_, env := emulatorEnv(t, world)
			if tc.reconcile {
				if code, out, errOut := run(t, ctx, env, "reconcile"); code != exitOK {
					t.Fatalf("reconcile: exit %d\n%s%s", code, out, errOut)
				}
			}
			code, out, errOut := run(t, ctx, env, append([]string{"explain"}, tc.args...)...)
			if code != exitOK {
				t.Fatalf("exit %d\n%s%s", code, out, errOut)
			}
			for _, want := range tc.want {
				if !strings.Contains(out, want) {
					t.Errorf("missing %q in\n%s", want, out)
				}
			}
		})
	}
}

func TestExplainJSONAndLocal(t *testing.T) {
	ctx := context.Background()
	env := map[string]string{"RESTORE_ALLOWED_ACCOUNTS": te.Restorer}
	code, out, errOut := run(t, ctx, env, "explain", "--local", "--world", "../testdata/worlds/hand-made-policies.json", "--json", "restore", te.Snap, "--to", te.Restorer)
	if code != exitOK {
		t.Fatalf("exit %d\n%s%s", code, out, errOut)
	}
	var e struct {
		Possible bool `json:"possible"`
		Grant    *struct {
			Roles []string `json:"roles"`
		} `json:"grant"`
		Policies []struct {
			ID        string `json:"id"`
			Ownership string `json:"ownership"`
			Covers    bool   `json:"covers"`
		} `json:"policies"`
		OtherSide []string `json:"other_account_needs"`
	}
	if err := json.Unmarshal([]byte(out), &e); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if !e.Possible || e.Grant == nil || len(e.Policies) != 1 || e.Policies[0].Ownership != "hand-made" || !e.Policies[0].Covers || len(e.OtherSide) != 1 {
		t.Errorf("got %+v from\n%s", e, out)
	}
}

func TestExplainUsage(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		args     []string
		wantCode int
		want     string
	}{
		{[]string{"explain", "--help"}, exitOK, "usage: s2s-authorizer explain restore SNAPSHOT --to ACCOUNT"},
		{[]string{"explain", "restore", te.Snap}, exitUsage, "restore needs --to ACCOUNT"},
		{[]string{"explain", "restore", te.Snap, "--to", "nobody"}, exitUsage, "restore needs --to ACCOUNT"},
		{[]string{"explain", "encryption", te.KPGUID, "--to", te.Restorer}, exitUsage, "--to and --region are for restore"},
		{[]string{"explain", "billing", "x"}, exitUsage, `unknown question "billing"`},
		{[]string{"explain", "restore"}, exitUsage, "want restore SNAPSHOT or encryption INSTANCE|KEY"},
		{[]string{"explain", "restore", te.Snap, "--to"}, exitUsage, "flag needs an argument"},
	}
	for _, tc := range tests {
		code, out, errOut := run(t, ctx, nil, tc.args...)
		if code != tc.wantCode || !strings.Contains(out+errOut, tc.want) {
			t.Errorf("%v: exit %d, output %q; want %d and %q", tc.args, code, out+errOut, tc.wantCode, tc.want)
		}
	}
}
