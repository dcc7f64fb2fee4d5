package main

import (
	"context"
	"encoding/json"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/s2s-authorizer/s2s-authorizer/internal/emulator"
	te "github.com/s2s-authorizer/s2s-authorizer/internal/testenv"
)

var (
	resourceLine = regexp.MustCompile(`(?m)^resource "ibm_iam_authorization_policy" "([a-z0-9_]+)" \{$`)
	importID     = regexp.MustCompile(`(?m)^  id = "([^"]+)"$`)
)

// The export names every managed policy once, with an import block carrying its policy ID; --all
// adds the hand-made ones.
func TestExportTerraform(t *testing.T) {
	ctx := context.Background()
	world := emulator.SampleWorld()
	world.Policies = append(world.Policies, te.HandMade(restoreGrant(t)))
	tests := []struct {
		name      string
		args      []string
		wantNames []string
	}{
		{"managed", []string{"export", "terraform"}, []string{
			"encryption_" + te.KPGUID,
			"encryption_" + te.HPCSGUID,
		}},
		{"all", []string{"export", "--all", "terraform"}, []string{
			"encryption_" + te.KPGUID,
			"encryption_" + te.HPCSGUID,
			"unmanaged_restore_" + te.Snap + "_" + te.Restorer,
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, env := emulatorEnv(t, world)
			// The hand-made grant covers the restore: the reconcile makes only the encryption grants.
			if code, out, errOut := run(t, ctx, env, "reconcile"); code != exitOK {
				t.Fatalf("reconcile: exit %d\n%s%s", code, out, errOut)
			}
			code, out, errOut := run(t, ctx, env, tc.args...)
			if code != exitOK {
				t.Fatalf("exit %d\n%s%s", code, out, errOut)
			}
			var names []string
			for _, m := range resourceLine.FindAllStringSubmatch(out, -1) {
				names = append(names, m[1])
			}
			var want []string
			for _, n := range tc.wantNames {
				want = append(want, strings.ReplaceAll(n, "-", "_"))
			}
			sort.Strings(want)
			if strings.Join(names, " ") != strings.Join(want, " ") {
				t.Errorf("resources %v, want %v\n%s", names, want, out)
			}
			_, listed, _ := run(t, ctx, env, "policies", "--json")
			var doc struct {
				Policies []struct {
					ID      string `json:"id"`
					Managed bool   `json:"managed"`
				} `json:"policies"`
			}
			if err := json.Unmarshal([]byte(listed), &doc); err != nil {
				t.Fatal(err)
			}
			var ids, wantIDs []string
			for _, m := range importID.FindAllStringSubmatch(out, -1) {
				ids = append(ids, m[1])
			}
			for _, p := range doc.Policies {
				if p.Managed || tc.name == "all" {
					wantIDs = append(wantIDs, p.ID)
				}
			}
			sort.Strings(ids)
			sort.Strings(wantIDs)
			if strings.Join(ids, " ") != strings.Join(wantIDs, " ") {
				t.Errorf("import ids %v, want the policies' %v", ids, wantIDs)
			}
			if n := strings.Count(out, "\nimport {\n  to = ibm_iam_authorization_policy."); n != len(want) {
				t.Errorf("%d import blocks, want %d", n, len(want))
			}
		})
	}
}

func TestExportUsage(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		args     []string
		wantCode int
		want     string
	}{
		{[]string{"export", "--help"}, exitOK, "usage: s2s-authorizer export [flags] FORMAT"},
		{[]string{"export"}, exitUsage, "missing arguments"},
		{[]string{"export", "pulumi"}, exitUsage, `format "pulumi": only terraform is supported`},
	}
	for _, tc := range tests {
		code, out, errOut := run(t, ctx, nil, tc.args...)
		if code != tc.wantCode || !strings.Contains(out+errOut, tc.want) {
			t.Errorf("%v: exit %d, output %q; want %d and %q", tc.args, code, out+errOut, tc.wantCode, tc.want)
		}
	}
}
