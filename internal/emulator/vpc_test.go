package emulator_test

import (
	"context"
	"fmt"
	"net/http"
	"sort"
	"testing"

	"github.com/IBM/go-sdk-core/v5/core"
	"github.com/IBM/vpc-go-sdk/vpcv1"

	"github.com/s2s-authorizer/s2s-authorizer/internal/emulator"
)

// manySnapshots is the sample world plus six us-south snapshots, three of them tagged team:a.
func manySnapshots() *emulator.World {
	return sampleWorldWith(func(w *emulator.World) {
		for i := range 6 {
			s := emulator.Snapshot{ID: fmt.Sprintf("r006-0000000%d", i), Region: "us-south", Name: fmt.Sprintf("extra-%d", i)}
			if i%2 == 0 {
				s.UserTags = []string{"team:a"}
			}
			w.Snapshots = append(w.Snapshots, s)
		}
	})
}

func TestSnapshotPagerAcrossPagesAndRegions(t *testing.T) {
	ctx := context.Background()
	srv := start(t, manySnapshots())
	c := newClients(t, srv)
	tests := []struct {
		name    string
		client  *vpcv1.VpcV1
		tag     string
		limit   int64
		wantN   int
		wantReq int
	}{
		{"us-south in pages of 3", c.vpc(t, "us-south"), "", 3, 8, 3},
		{"eu-de", c.vpc(t, "eu-de"), "", 3, 1, 1},
		{"tag filter", c.vpc(t, "us-south"), "team:a", 2, 3, 2},
		{"tag of the sample", c.vpc(t, "us-south"), "s2s-restore:" + otherAccount, 50, 1, 1},
		{"tag is matched exactly", c.vpc(t, "us-south"), "team", 50, 0, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv.ResetStats()
			opts := &vpcv1.ListSnapshotsOptions{Limit: core.Int64Ptr(tc.limit)}
			if tc.tag != "" {
				opts.Tag = core.StringPtr(tc.tag)
			}
			pager, err := tc.client.NewSnapshotsPager(opts)
			if err != nil {
				t.Fatal(err)
			}
			all, err := pager.GetAllWithContext(ctx)
			if err != nil {
				t.Fatalf("pager: %v", err)
			}
			if len(all) != tc.wantN {
				t.Errorf("got %d snapshots, want %d", len(all), tc.wantN)
			}
			seen := map[string]bool{}
			for _, s := range all {
				if seen[*s.ID] {
					t.Errorf("%s listed twice", *s.ID)
				}
				seen[*s.ID] = true
			}
			if got := srv.Stats().Calls["GET /v1/snapshots"]; got != tc.wantReq {
				t.Errorf("requests = %d, want %d", got, tc.wantReq)
			}
		})
	}

	// The unscoped /v1 path serves every region at once.
	list, _, err := c.vpc(t, "").ListSnapshotsWithContext(ctx, &vpcv1.ListSnapshotsOptions{})
	if err != nil || len(list.Snapshots) != 9 || *list.TotalCount != 9 || list.Next != nil {
		t.Errorf("unscoped list = %d snapshots, %v", len(list.Snapshots), err)
	}
}

func TestSnapshotShape(t *testing.T) {
	srv := start(t, emulator.SampleWorld())
	c := newClients(t, srv)
	s, resp, err := c.vpc(t, "us-south").GetSnapshot(&vpcv1.GetSnapshotOptions{ID: core.StringPtr(taggedSnapshotID)})
	if err != nil {
		t.Fatal(err)
	}
	wantKey := emulator.KeyCRN("kms", sampleAccount, "us-south", kpGUID, rootKeyID)
	checks := []struct {
		what string
		ok   bool
	}{
		{"etag", resp.Headers.Get("ETag") != ""},
		{"crn", *s.CRN == emulator.SnapshotCRN(sampleAccount, "us-south", taggedSnapshotID)},
		{"encryption", *s.Encryption == "user_managed" && *s.EncryptionKey.CRN == wantKey},
		{"lifecycle", *s.LifecycleState == "stable" && *s.ResourceType == "snapshot"},
		{"href", *s.Href == srv.URL()+"/vpc/us-south/v1/snapshots/"+taggedSnapshotID},
		{"source volume", s.SourceVolume != nil && *s.SourceVolume.ID != "" && *s.SourceVolume.ResourceType == "volume"},
		{"resource group", s.ResourceGroup != nil && *s.ResourceGroup.Name == "Default"},
		{"created", s.CreatedAt != nil && s.UserTags != nil && s.ServiceTags != nil && *s.Size > 0},
	}
	for _, ch := range checks {
		if !ch.ok {
			t.Errorf("%s is wrong: %+v", ch.what, s)
		}
	}
	other, _, err := c.vpc(t, "us-south").GetSnapshot(&vpcv1.GetSnapshotOptions{ID: core.StringPtr(euSnapshotID)})
	if err == nil {
		t.Errorf("eu-de snapshot visible in us-south: %v", other)
	}
	eu, _, err := c.vpc(t, "eu-de").GetSnapshot(&vpcv1.GetSnapshotOptions{ID: core.StringPtr(euSnapshotID)})
	if err != nil || *eu.Encryption != "provider_managed" || eu.EncryptionKey != nil {
		t.Errorf("eu-de snapshot = %v, %v", eu, err)
	}
}

func TestVPCQueryValidation(t *testing.T) {
	srv := start(t, emulator.SampleWorld())
	c := newClients(t, srv)
	tok := c.token(t)
	list := srv.URL() + "/vpc/us-south/v1/snapshots"
	tests := []struct {
		name, url, code, target string
		status                  int
	}{
		{"no version", query(list, "generation", "2"), "missing_version", "version", 400},
		{"bad version", query(list, "version", "2026-13-45", "generation", "2"), "invalid_version", "version", 400},
		{"version not a date", query(list, "version", "today", "generation", "2"), "invalid_version", "version", 400},
		{"no generation", query(list, "version", vpcVersion), "invalid_generation", "generation", 400},
		{"generation 1", query(list, "version", vpcVersion, "generation", "1"), "invalid_generation", "generation", 400},
		{"limit 101", query(list, "version", vpcVersion, "generation", "2", "limit", "101"), "invalid_limit", "limit", 400},
		{"bad start", query(list, "version", vpcVersion, "generation", "2", "start", "x"), "invalid_start", "start", 400},
		{"get needs version too", query(list+"/"+taggedSnapshotID, "generation", "2"), "missing_version", "version", 400},
		{"unknown snapshot", query(list+"/r006-nope", "version", vpcVersion, "generation", "2"), "snapshot_not_found", "", 404},
		{"unknown region", query(srv.URL()+"/vpc/mars-1/v1/snapshots", "version", vpcVersion, "generation", "2"), "not_found", "", 404},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := call(t, http.MethodGet, tc.url, tok, nil)
			if a.status != tc.status {
				t.Fatalf("status = %d, want %d: %s", a.status, tc.status, a.raw)
			}
			if path(a.body, "errors", 0, "code") != tc.code || path(a.body, "trace") == nil {
				t.Errorf("body = %s", a.raw)
			}
			if tc.target != "" && (path(a.body, "errors", 0, "target", "name") != tc.target || path(a.body, "errors", 0, "target", "type") != "parameter") {
				t.Errorf("target = %v", path(a.body, "errors", 0, "target"))
			}
		})
	}
	// Through the SDK, a bad version is an HTTPProblem with VPC's message.
	fresh, err := core.NewIamAuthenticatorBuilder().SetApiKey("k").SetURL(srv.URL()).Build()
	if err != nil {
		t.Fatal(err)
	}
	bad := newVPC(t, srv.URL()+"/vpc/us-south/v1", fresh, "2026-1-1")
	_, resp, err := bad.ListSnapshots(&vpcv1.ListSnapshotsOptions{})
	if err == nil || resp.StatusCode != 400 || problem(t, err).Summary == "" {
		t.Errorf("bad version through the SDK: %v, %v", resp, err)
	}
}

func TestSnapshotUpdateAndDelete(t *testing.T) {
	srv := start(t, emulator.SampleWorld())
	c := newClients(t, srv)
	vpc := c.vpc(t, "us-south")
	get := func() (*vpcv1.Snapshot, string) {
		t.Helper()
		s, resp, err := vpc.GetSnapshot(&vpcv1.GetSnapshotOptions{ID: core.StringPtr(untaggedSnapshotID)})
		if err != nil {
			t.Fatal(err)
		}
		return s, resp.Headers.Get("ETag")
	}
	_, etag := get()
	patch, err := (&vpcv1.SnapshotPatch{Name: core.StringPtr("renamed"), UserTags: []string{"env:test"}}).AsPatch()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		ifMatch string
		patch   map[string]any
		status  int
	}{
		{"array without If-Match", "", patch, http.StatusPreconditionRequired},
		{"stale If-Match", `W/"stale"`, patch, http.StatusPreconditionFailed},
		{"unknown field", etag, map[string]any{"size": 5}, http.StatusBadRequest},
		{"bad tag", etag, map[string]any{"user_tags": []string{"a/b"}}, http.StatusBadRequest},
		{"bad name", etag, map[string]any{"name": "Bad Name"}, http.StatusBadRequest},
		{"name only needs no If-Match", "", map[string]any{"name": "renamed-first"}, http.StatusOK},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			opts := &vpcv1.UpdateSnapshotOptions{ID: core.StringPtr(untaggedSnapshotID), SnapshotPatch: tc.patch}
			if tc.ifMatch != "" {
				opts.IfMatch = core.StringPtr(tc.ifMatch)
			}
			_, resp, err := vpc.UpdateSnapshot(opts)
			if resp == nil || resp.StatusCode != tc.status {
				t.Fatalf("status = %v, err %v", resp, err)
			}
		})
	}
	s, etag := get()
	if *s.Name != "renamed-first" || len(s.UserTags) != 0 {
		t.Fatalf("after the table: %+v", s)
	}
	updated, resp, err := vpc.UpdateSnapshot(&vpcv1.UpdateSnapshotOptions{ID: core.StringPtr(untaggedSnapshotID), SnapshotPatch: patch, IfMatch: core.StringPtr(etag)})
	if err != nil || *updated.Name != "renamed" || fmt.Sprint(updated.UserTags) != "[env:test]" || resp.Headers.Get("ETag") == etag {
		t.Fatalf("update = %v, %v", updated, err)
	}
	// The old ETag no longer deletes; the new one does.
	resp, err = vpc.DeleteSnapshot(&vpcv1.DeleteSnapshotOptions{ID: core.StringPtr(untaggedSnapshotID), IfMatch: core.StringPtr(etag)})
	if err == nil || resp.StatusCode != http.StatusPreconditionFailed {
		t.Errorf("delete with stale ETag: %v, %v", resp, err)
	}
	resp, err = vpc.DeleteSnapshot(&vpcv1.DeleteSnapshotOptions{ID: core.StringPtr(untaggedSnapshotID)})
	if err != nil || resp.StatusCode != http.StatusAccepted {
		t.Fatalf("delete: %v, %v", resp, err)
	}
	_, resp, err = vpc.GetSnapshot(&vpcv1.GetSnapshotOptions{ID: core.StringPtr(untaggedSnapshotID)})
	if err == nil || resp.StatusCode != http.StatusNotFound || path(resp.Result, "errors", 0, "code") != "snapshot_not_found" {
		t.Errorf("get after delete: %v, %v", resp, err)
	}
	var left []string
	for _, sn := range srv.World().Snapshots {
		left = append(left, sn.ID)
	}
	sort.Strings(left)
	if fmt.Sprint(left) != fmt.Sprint([]string{taggedSnapshotID, euSnapshotID}) {
		t.Errorf("world snapshots = %v", left)
	}
}
