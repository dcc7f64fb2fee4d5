package emulator_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/IBM/go-sdk-core/v5/core"
	"github.com/IBM/vpc-go-sdk/vpcv1"

	"github.com/s2s-authorizer/s2s-authorizer/internal/emulator"
)

func backupWorld() *emulator.World {
	return sampleWorldWith(func(w *emulator.World) {
		for i := range 5 {
			w.BackupPolicies = append(w.BackupPolicies, emulator.BackupPolicy{ID: fmt.Sprintf("r006-bp%d", i), Region: "us-south", Name: fmt.Sprintf("nightly-%d", i), MatchUserTags: []string{"backup:nightly"}})
		}
		w.BackupPolicies = append(w.BackupPolicies, emulator.BackupPolicy{ID: "r010-bp9", Region: "eu-de", Name: "weekly", MatchResourceType: "instance"})
	})
}

func TestBackupPolicies(t *testing.T) {
	ctx := context.Background()
	srv := start(t, backupWorld())
	c := newClients(t, srv)
	vpc := c.vpc(t, "us-south")

	pager, err := vpc.NewBackupPoliciesPager(&vpcv1.ListBackupPoliciesOptions{Limit: core.Int64Ptr(2)})
	if err != nil {
		t.Fatal(err)
	}
	all, err := pager.GetAllWithContext(ctx)
	if err != nil {
		t.Fatalf("pager: %v", err)
	}
	if len(all) != 5 || srv.Stats().Calls["GET /v1/backup_policies"] != 3 {
		t.Errorf("%d backup policies in %d pages, want 5 in 3", len(all), srv.Stats().Calls["GET /v1/backup_policies"])
	}
	bp, ok := all[0].(*vpcv1.BackupPolicy)
	if !ok {
		t.Fatalf("backup policy is %T", all[0])
	}
	if *bp.ID != "r006-bp0" || *bp.CRN != "crn:v1:bluemix:public:is:us-south:a/"+sampleAccount+"::backup-policy:r006-bp0" ||
		*bp.Name != "nightly-0" || *bp.LifecycleState != "stable" || *bp.MatchResourceType != "volume" ||
		fmt.Sprint(bp.MatchUserTags) != "[backup:nightly]" || len(bp.Plans) != 1 || *bp.ResourceGroup.Name != "Default" ||
		*bp.ResourceType != "backup_policy" || *bp.Href != srv.URL()+"/vpc/us-south/v1/backup_policies/r006-bp0" || bp.CreatedAt == nil {
		t.Errorf("backup policy = %+v", bp)
	}
	list, _, err := vpc.ListBackupPoliciesWithContext(ctx, &vpcv1.ListBackupPoliciesOptions{Name: core.StringPtr("nightly-3")})
	if err != nil || len(list.BackupPolicies) != 1 || *list.TotalCount != 1 || list.First == nil || *list.Limit != 50 {
		t.Errorf("name filter = %+v, %v", list, err)
	}
	eu, _, err := c.vpc(t, "eu-de").GetBackupPolicyWithContext(ctx, &vpcv1.GetBackupPolicyOptions{ID: core.StringPtr("r010-bp9")})
	if err != nil || *eu.(*vpcv1.BackupPolicy).MatchResourceType != "instance" {
		t.Errorf("eu-de get = %v, %v", eu, err)
	}
	_, resp, err := vpc.GetBackupPolicyWithContext(ctx, &vpcv1.GetBackupPolicyOptions{ID: core.StringPtr("r010-bp9")})
	if err == nil || resp.StatusCode != http.StatusNotFound || path(resp.Result, "errors", 0, "code") != "backup_policy_not_found" {
		t.Errorf("eu-de policy in us-south: %v, %v", resp, err)
	}
	tok := c.token(t)
	for _, tc := range []struct{ url, code string }{
		{srv.URL() + "/vpc/us-south/v1/backup_policies?generation=2", "missing_version"},
		{srv.URL() + "/vpc/us-south/v1/backup_policies?version=" + vpcVersion, "invalid_generation"},
		{srv.URL() + "/vpc/us-south/v1/backup_policies/r006-bp0?version=x&generation=2", "invalid_version"},
		{srv.URL() + "/vpc/us-south/v1/backup_policies?version=" + vpcVersion + "&generation=2&limit=101", "invalid_limit"},
	} {
		if a := call(t, http.MethodGet, tc.url, tok, nil); a.status != 400 || path(a.body, "errors", 0, "code") != tc.code {
			t.Errorf("%s: %d %s", tc.url, a.status, a.raw)
		}
	}

	// Scenarios add and remove backup policies through Go or the control endpoints.
	if err := srv.AddBackupPolicy(emulator.BackupPolicy{ID: "r006-new", Region: "us-south", Name: "added"}); err != nil {
		t.Fatal(err)
	}
	if err := srv.AddBackupPolicy(emulator.BackupPolicy{ID: "r006-new", Region: "us-south", Name: "again"}); err == nil {
		t.Error("duplicate id accepted")
	}
	if err := srv.AddBackupPolicy(emulator.BackupPolicy{ID: "r006-x", Region: "mars", Name: "x"}); err == nil || !strings.Contains(err.Error(), "$.region") {
		t.Errorf("bad region: %v", err)
	}
	base := srv.URL() + "/_emulator/backup_policies"
	if a := call(t, http.MethodPost, base, "", []byte(`{"id":"r006-ctl","region":"us-south","name":"ctl","match_user_tags":["a:b"]}`)); a.status != 201 || a.body["match_resource_type"] != "volume" {
		t.Errorf("control add: %d %s", a.status, a.raw)
	}
	if a := call(t, http.MethodPost, base, "", []byte(`{"id":"r006-bad","region":"us-south","name":"Bad Name"}`)); a.status != 400 {
		t.Errorf("control add of a bad name: %d %s", a.status, a.raw)
	}
	if a := call(t, http.MethodDelete, base+"/r006-bp1", "", nil); a.status != 204 {
		t.Errorf("control delete: %d %s", a.status, a.raw)
	}
	if a := call(t, http.MethodDelete, base+"/r006-bp1", "", nil); a.status != 404 {
		t.Errorf("second control delete: %d %s", a.status, a.raw)
	}
	if a := call(t, http.MethodGet, base, "", nil); a.status != 405 {
		t.Errorf("GET on the control collection: %d", a.status)
	}
	if !srv.DeleteBackupPolicy("r006-new") || srv.DeleteBackupPolicy("r006-new") {
		t.Error("DeleteBackupPolicy")
	}
	var ids []string
	for _, b := range srv.World().BackupPolicies {
		ids = append(ids, b.ID)
	}
	if fmt.Sprint(ids) != "[r006-bp0 r006-bp2 r006-bp3 r006-bp4 r006-ctl r010-bp9]" {
		t.Errorf("world backup policies = %v", ids)
	}

	data, err := json.Marshal(srv.World())
	if err != nil {
		t.Fatal(err)
	}
	if w, err := emulator.ParseWorld(data); err != nil || len(w.BackupPolicies) != 6 {
		t.Errorf("World() does not round-trip: %v", err)
	}

	for _, tc := range []struct{ doc, want string }{
		{world(`,"backup_policies":[{"id":"r006-a","region":"us-south"}]`), "$.backup_policies[0].name: required"},
		{world(`,"backup_policies":[{"id":"r006-a","region":"us-south","name":"a","match_resource_type":"bucket"}]`), `$.backup_policies[0].match_resource_type: "bucket" is not volume, instance or share`},
		{world(`,"backup_policies":[{"id":"r006-a","region":"us-south","name":"a"},{"id":"r006-a","region":"us-south","name":"b"}]`), `$.backup_policies[1].id: duplicate id`},
		{world(`,"backup_policies":[{"id":"r006-a","region":"us-south","name":"a","match_user_tags":["x/y"]}]`), `$.backup_policies[0].match_user_tags[0]`},
	} {
		if _, err := emulator.ParseWorld([]byte(tc.doc)); err == nil || !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("error = %v, want prefix %q", err, tc.want)
		}
	}
}
