package main

import (
	"cmp"
	"slices"
	"testing"

	gocmp "github.com/google/go-cmp/cmp"

	"github.com/s2s-authorizer/s2s-authorizer/internal/authz"
	"github.com/s2s-authorizer/s2s-authorizer/internal/fixture"
)

// The policies listing shows Backup for VPC grants: ours as kind backup with their object, and a
// hand-made one in the v1 form as an unmanaged backup grant, both naming every volume.
func TestPoliciesListsBackupGrants(t *testing.T) {
	ours := authz.Rules{AccountID: fixture.Account}.ForBackup(true)[0]
	handMade := ours.Grant
	handMade.Resources = slices.Clone(ours.Resources)
	handMade.Resources[2] = authz.Attribute{Name: "volumeId", Value: "*", Operator: "stringEquals"}
	rows := policyRows([]authz.Policy{fixture.Managed("p1", ours), fixture.HandMade("p2", handMade)})
	var got [][]string
	for _, r := range rows {
		got = append(got, []string{r.Kind, r.Target, authz.RoleNames(r.Roles), r.Object, r.ID})
	}
	want := [][]string{
		{"backup", "is/every volumeId", "Operator", authz.BackupObject(fixture.Account), "p1"},
		{"backup", "is/every volumeId", "Operator", "", "p2"},
	}
	// Equal targets and subjects leave the listing's order open: compare by policy ID.
	slices.SortFunc(got, func(a, b []string) int { return cmp.Compare(a[4], b[4]) })
	if diff := gocmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	for _, r := range rows {
		if r.Managed != (r.ID == "p1") {
			t.Errorf("%s managed=%v: want only ours managed", r.ID, r.Managed)
		}
	}
}
