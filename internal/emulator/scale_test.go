package emulator_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/IBM/go-sdk-core/v5/core"
	"github.com/IBM/vpc-go-sdk/vpcv1"

	"github.com/s2s-authorizer/s2s-authorizer/internal/emulator"
)

// bigWorld is the sample world plus n us-south snapshots, every tenth tagged for restore and
// encrypted with the sample's root key.
func bigWorld(n int) *emulator.World {
	return sampleWorldWith(func(w *emulator.World) {
		key := emulator.KeyCRN("kms", sampleAccount, "us-south", kpGUID, rootKeyID)
		for i := range n {
			s := emulator.Snapshot{ID: fmt.Sprintf("r006-%08d-5f60-4718-9a2b-3c4d5e6f7a8b", i), Region: "us-south", Name: fmt.Sprintf("snap-%d", i)}
			if i%10 == 0 {
				s.UserTags = []string{"s2s-restore:" + otherAccount, "env:prod"}
				s.EncryptionKeyCRN = key
			}
			w.Snapshots = append(w.Snapshots, s)
		}
	})
}

// BenchmarkLoad50kSnapshots measures what New does with a 50,000-snapshot world: validation
// through the world's JSON, then the state with its indexes.
func BenchmarkLoad50kSnapshots(b *testing.B) {
	w := bigWorld(50_000)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := emulator.New(w); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSnapshotLookup gets one snapshot by id in worlds of 500 and 50,000 snapshots: the
// two figures are the same when the lookup does not scan.
func BenchmarkSnapshotLookup(b *testing.B) {
	for _, n := range []int{500, 50_000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			srv, err := emulator.New(bigWorld(n))
			if err != nil {
				b.Fatal(err)
			}
			h := srv.Handler()
			tok := handlerToken(b, h)
			url := "/vpc/us-south/v1/snapshots/" + fmt.Sprintf("r006-%08d-5f60-4718-9a2b-3c4d5e6f7a8b", n/2) + "?version=2026-01-01&generation=2"
			for b.Loop() {
				rec := httptest.NewRecorder()
				req := httptest.NewRequest(http.MethodGet, url, nil)
				req.Header.Set("Authorization", "Bearer "+tok)
				h.ServeHTTP(rec, req)
				if rec.Code != http.StatusOK {
					b.Fatalf("%d %s", rec.Code, rec.Body)
				}
			}
		})
	}
}

func handlerToken(tb testing.TB, h http.Handler) string {
	tb.Helper()
	rec := httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodPost, "/identity/token", strings.NewReader("grant_type=urn:ibm:params:oauth:grant-type:apikey&apikey=k"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	h.ServeHTTP(rec, req)
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &tok); err != nil || tok.AccessToken == "" {
		tb.Fatalf("token: %s", rec.Body)
	}
	return tok.AccessToken
}

// TestLargeWorld exercises the snapshot indexes on a world of some thousands of snapshots:
// lookups by id and CRN, the key registrations, deletes and paging (no timing is asserted).
func TestLargeWorld(t *testing.T) {
	ctx := context.Background()
	const n = 3000
	srv := start(t, bigWorld(n))
	c := newClients(t, srv)
	vpc := c.vpc(t, "us-south")
	id := func(i int) string { return fmt.Sprintf("r006-%08d-5f60-4718-9a2b-3c4d5e6f7a8b", i) }
	if s, _, err := vpc.GetSnapshotWithContext(ctx, &vpcv1.GetSnapshotOptions{ID: core.StringPtr(id(1234))}); err != nil || *s.Name != "snap-1234" {
		t.Fatalf("get = %v, %v", s, err)
	}
	tags, _, err := c.tagging.ListTagsWithContext(ctx, c.tagging.NewListTagsOptions().SetAttachedTo(emulator.SnapshotCRN(sampleAccount, "us-south", id(20))))
	if err != nil || len(tags.Items) != 2 {
		t.Errorf("tags of a snapshot by CRN = %v, %v", tags, err)
	}
	list, _, err := vpc.ListSnapshotsWithContext(ctx, &vpcv1.ListSnapshotsOptions{Tag: core.StringPtr("s2s-restore:" + otherAccount), Limit: core.Int64Ptr(100)})
	if err != nil || *list.TotalCount != n/10+1 || len(list.Snapshots) != 100 || list.Next == nil {
		t.Fatalf("tagged list = %v, %v", list, err)
	}
	if _, err := vpc.DeleteSnapshotWithContext(ctx, &vpcv1.DeleteSnapshotOptions{ID: core.StringPtr(id(1234))}); err != nil {
		t.Fatal(err)
	}
	if _, resp, _ := vpc.GetSnapshotWithContext(ctx, &vpcv1.GetSnapshotOptions{ID: core.StringPtr(id(1234))}); resp.StatusCode != http.StatusNotFound {
		t.Errorf("get after delete: %d", resp.StatusCode)
	}
	all, _, err := c.vpc(t, "").ListSnapshotsWithContext(ctx, &vpcv1.ListSnapshotsOptions{})
	if err != nil || *all.TotalCount != n+2 || *all.Snapshots[0].ID > *all.Snapshots[1].ID {
		t.Errorf("list after delete = %v, %v", all.TotalCount, err)
	}
	if w := srv.World(); len(w.Snapshots) != n+2 || w.Snapshots[3].ID != id(0) {
		t.Errorf("World() keeps the file order: %d snapshots, [3] = %s", len(w.Snapshots), w.Snapshots[3].ID)
	}
}
