package plan

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/s2s-authorizer/s2s-authorizer/internal/authz"
	"github.com/s2s-authorizer/s2s-authorizer/internal/fixture"
)

const (
	own      = fixture.Account
	restorer = fixture.Restorer
	other    = fixture.Consumer
	snapID   = fixture.Snap
)

var snapCRN = fixture.SnapCRN

func desired(accounts ...string) []authz.Authorization {
	var tags []string
	for _, a := range accounts {
		tags = append(tags, "s2s-restore:"+a)
	}
	r := authz.Rules{AccountID: own, RestoreTagPrefix: "s2s-restore", RestoreAllowedAccounts: []string{restorer, other}}
	out, _ := r.ForSnapshot(&authz.Snapshot{ID: snapID, CRN: snapCRN, UserTags: tags})
	return out
}

func managed(id, account string) authz.Policy {
	return fixture.Managed(id, desired(account)[0])
}

func unmanaged(id, account string) authz.Policy {
	p := managed(id, account)
	p.Description = "made by hand"
	return p
}

func withRoles(p authz.Policy, roles ...string) authz.Policy {
	p.Roles = roles
	return p
}

type line struct {
	Action Action
	Policy string
	Object string
}

func lines(p Plan) []line {
	var out []line
	for _, c := range p.Changes {
		out = append(out, line{c.Action, c.Policy.ID, c.Object()})
	}
	return out
}

func TestCompute(t *testing.T) {
	deleted := managed("p-deleted", restorer)
	deleted.State = "deleted"
	tests := []struct {
		name     string
		desired  []authz.Authorization
		existing []authz.Policy
		mode     Mode
		want     []line
	}{
		{name: "nothing", mode: ModeSync},
		{name: "create the missing", desired: desired(restorer), mode: ModeSync, want: []line{{Create, "", snapCRN}}},
		{name: "keep ours", desired: desired(restorer), existing: []authz.Policy{managed("p1", restorer)}, mode: ModeSync, want: []line{{Keep, "p1", snapCRN}}},
		{
			name: "an equal policy made by hand covers the grant", desired: desired(restorer),
			existing: []authz.Policy{unmanaged("h1", restorer)}, mode: ModeSync, want: []line{{Covered, "h1", snapCRN}},
		},
		{
			name: "an equal one made by hand covers; our copy would duplicate it and goes", desired: desired(restorer),
			existing: []authz.Policy{unmanaged("h1", restorer), managed("p1", restorer)}, mode: ModeSync,
			want: []line{{Covered, "h1", snapCRN}, {Delete, "p1", snapCRN}},
		},
		{name: "delete ours when no longer wanted", existing: []authz.Policy{managed("p1", restorer)}, mode: ModeSync, want: []line{{Delete, "p1", snapCRN}}},
		{name: "upsert-only retains instead", existing: []authz.Policy{managed("p1", restorer)}, mode: ModeUpsertOnly, want: []line{{Retain, "p1", snapCRN}}},
		{name: "never touch a policy made by hand", existing: []authz.Policy{unmanaged("h1", restorer)}, mode: ModeSync},
		{
			name: "a second managed copy goes", desired: desired(restorer),
			existing: []authz.Policy{managed("p1", restorer), managed("p2", restorer)}, mode: ModeSync,
			want: []line{{Keep, "p1", snapCRN}, {Delete, "p2", snapCRN}},
		},
		{
			name: "a policy IAM already deleted counts for nothing", desired: desired(restorer),
			existing: []authz.Policy{deleted}, mode: ModeSync, want: []line{{Create, "", snapCRN}},
		},
		{
			name: "swap one account for another", desired: desired(other),
			existing: []authz.Policy{managed("p1", restorer)}, mode: ModeSync,
			want: []line{{Create, "", snapCRN}, {Delete, "p1", snapCRN}},
		},
		{
			name: "ours with other roles is replaced", desired: desired(restorer),
			existing: []authz.Policy{withRoles(managed("p1", restorer), fixture.OutdatedRestorer)}, mode: ModeSync,
			want: []line{{Replace, "p1", snapCRN}},
		},
		{
			name: "upsert-only retains ours with other roles", desired: desired(restorer),
			existing: []authz.Policy{withRoles(managed("p1", restorer), fixture.OutdatedRestorer)}, mode: ModeUpsertOnly,
			want: []line{{Retain, "p1", snapCRN}},
		},
		{
			name: "one made by hand with other roles blocks ours", desired: desired(restorer),
			existing: []authz.Policy{withRoles(unmanaged("h1", restorer), authz.RoleReader)}, mode: ModeSync,
			want: []line{{Blocked, "h1", snapCRN}},
		},
		{
			name: "the same desired grant twice is created once", desired: append(desired(restorer), desired(restorer)...),
			mode: ModeSync, want: []line{{Create, "", snapCRN}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := lines(Compute(tt.desired, tt.existing, tt.mode))
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestComputeIsIdempotent(t *testing.T) {
	p := Compute(desired(restorer, other), nil, ModeSync)
	var after []authz.Policy
	for i, c := range p.Changes {
		after = append(after, authz.Policy{ID: string(rune('a' + i)), Description: c.Authorization.Description(), Grant: c.Authorization.Grant})
	}
	again := Compute(desired(other, restorer), after, ModeSync)
	if again.Pending() {
		t.Errorf("planning the applied state again wants writes:\n%v", again.Changes)
	}
}

func TestReplaceIsOneChange(t *testing.T) {
	p := Compute(desired(restorer), []authz.Policy{withRoles(managed("p1", restorer), fixture.OutdatedRestorer)}, ModeSync)
	if n := p.Count(); len(p.Changes) != 1 || n[Replace] != 1 || !p.Pending() {
		t.Errorf("plan %v, want one replace", p.Changes)
	}
	if got := p.Changes[0].String(); !strings.HasPrefix(got, "-/+ replace") || !strings.Contains(got, "replaces policy p1 with roles SnapshotRemoteAccountRestorer") {
		t.Errorf("plan line %q", got)
	}
}

func TestPlanText(t *testing.T) {
	p := Compute(desired(other), []authz.Policy{managed("p1", restorer), unmanaged("h1", restorer)}, ModeSync)
	var got []string
	for _, c := range p.Changes {
		got = append(got, c.String())
	}
	want := []string{
		"+ create  server-protect@" + other + " → is snapshot " + snapID + " in " + own + " (SnapshotRemoteAccountRestorer)",
		"- delete  server-protect@" + restorer + " → is snapshot " + snapID + " in " + own + " (SnapshotRemoteAccountRestorer) [policy p1]",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if got, want := p.Summary(), "Plan: 1 to create, 1 to delete, 0 unchanged, 0 covered by policies not managed, 0 retained (upsert-only)."; got != want {
		t.Errorf("Summary() = %q, want %q", got, want)
	}
}
