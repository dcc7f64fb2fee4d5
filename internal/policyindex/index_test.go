package policyindex

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/s2s-authorizer/s2s-authorizer/internal/apply"
	"github.com/s2s-authorizer/s2s-authorizer/internal/authz"
	"github.com/s2s-authorizer/s2s-authorizer/internal/fixture"
)

// fakeIAM is a hand-written stand-in for the IAM adapter: the index's logic is about when it
// calls, which a fake shows directly; the adapter itself is tested against the emulator.
type fakeIAM struct {
	mu       sync.Mutex
	policies map[string]authz.Policy
	lists    int
	next     int
	// duringList runs inside List, after the policies were read: a write racing the list.
	duringList func()
}

func newFake() *fakeIAM { return &fakeIAM{policies: map[string]authz.Policy{}} }

func (f *fakeIAM) List(context.Context) ([]authz.Policy, error) {
	f.mu.Lock()
	f.lists++
	out := make([]authz.Policy, 0, len(f.policies))
	for _, p := range f.policies {
		out = append(out, p)
	}
	hook := f.duringList
	f.duringList = nil
	f.mu.Unlock()
	if hook != nil {
		hook()
	}
	return out, nil
}

func (f *fakeIAM) Create(_ context.Context, a authz.Authorization) (authz.Policy, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, p := range f.policies {
		if p.Key() == a.Key() {
			return authz.Policy{}, &apply.ConflictError{Existing: p}
		}
	}
	f.next++
	p := authz.Policy{ID: fmt.Sprintf("p%d", f.next), Description: a.Description(), State: "active", Grant: a.Grant}
	f.policies[p.ID] = p
	return p, nil
}

func (f *fakeIAM) Delete(_ context.Context, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.policies[id]; !ok {
		return fmt.Errorf("delete %s: %w", id, apply.ErrNotFound)
	}
	delete(f.policies, id)
	return nil
}

// behindTheBack adds a policy without the index seeing it, as another process would.
func (f *fakeIAM) behindTheBack(a authz.Authorization) authz.Policy {
	p, _ := f.Create(context.Background(), a)
	return p
}

// restore is the restore grant of one of the account's snapshots.
func restore(snapshot string) authz.Authorization { return fixture.RestoreOf(snapshot, fixture.Restorer) }

func ids(ps []authz.Policy) []string {
	out := []string{}
	for _, p := range ps {
		out = append(out, p.ID)
	}
	sort.Strings(out)
	return out
}

func TestWarmIndexAnswersWithoutListing(t *testing.T) {
	ctx := context.Background()
	f := newFake()
	x := New(f, time.Minute)
	a := restore("s1")
	if got, _ := x.Relevant(ctx, a.Object, []authz.Authorization{a}); len(got) != 0 || f.lists != 1 {
		t.Fatalf("cold read: %v after %d lists", got, f.lists)
	}
	p, err := x.Create(ctx, a)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := x.Relevant(ctx, a.Object, nil)
	if diff := cmp.Diff([]string{p.ID}, ids(got)); diff != "" || f.lists != 1 {
		t.Errorf("after a create: %s, %d lists (want the write seen without a list)", diff, f.lists)
	}
	if err := x.Delete(ctx, p.ID); err != nil {
		t.Fatal(err)
	}
	if got, _ := x.Relevant(ctx, a.Object, nil); len(got) != 0 || f.lists != 1 {
		t.Errorf("after a delete: %v, %d lists", got, f.lists)
	}
}

func TestRelevantSelectsByObjectAndGrant(t *testing.T) {
	ctx := context.Background()
	f := newFake()
	mine := f.behindTheBack(restore("s1"))
	other := f.behindTheBack(restore("s2"))
	x := New(f, time.Minute)
	got, _ := x.Relevant(ctx, restore("s1").Object, nil)
	if diff := cmp.Diff([]string{mine.ID}, ids(got)); diff != "" {
		t.Errorf("by object: %s", diff)
	}
	got, _ = x.Relevant(ctx, "crn:unrelated", []authz.Authorization{restore("s2")})
	if diff := cmp.Diff([]string{other.ID}, ids(got)); diff != "" {
		t.Errorf("by grant: %s", diff)
	}
}

func TestAgeIsBounded(t *testing.T) {
	ctx := context.Background()
	f := newFake()
	x := New(f, time.Minute)
	now := time.Now()
	x.now = func() time.Time { return now }
	_, _ = x.All(ctx)
	p := f.behindTheBack(restore("s1"))
	if got, _ := x.All(ctx); len(got) != 0 {
		t.Fatalf("a fresh index listed again")
	}
	now = now.Add(61 * time.Second)
	if got, _ := x.All(ctx); len(got) != 1 || got[0].ID != p.ID || f.lists != 2 {
		t.Errorf("an index older than its TTL was trusted: %v, %d lists", got, f.lists)
	}
}

func TestNoCacheListsEveryTime(t *testing.T) {
	f := newFake()
	x := New(f, 0)
	for range 3 {
		_, _ = x.All(context.Background())
	}
	if f.lists != 3 {
		t.Errorf("TTL 0: %d lists for 3 reads", f.lists)
	}
}

func TestSurprisesInvalidate(t *testing.T) {
	ctx := context.Background()
	f := newFake()
	x := New(f, time.Hour)
	_, _ = x.All(ctx)
	hidden := f.behindTheBack(restore("s1"))
	f.behindTheBack(restore("s2"))
	// A 409 for a policy the index did not know: it learns that one at once, and lists again.
	if _, err := x.Create(ctx, restore("s1")); err == nil {
		t.Fatal("no conflict")
	}
	got, _ := x.All(ctx)
	if len(got) != 2 || f.lists != 2 {
		t.Errorf("after a 409 surprise: %d policies, %d lists; want both policies, 2 lists", len(got), f.lists)
	}
	// A 404 for a policy it thought was there.
	_ = f.Delete(ctx, hidden.ID)
	if err := x.Delete(ctx, hidden.ID); err == nil {
		t.Fatal("no 404")
	}
	_, _ = x.All(ctx)
	if f.lists != 3 {
		t.Errorf("after a 404 surprise: %d lists, want 3", f.lists)
	}
}

func TestWriteDuringListIsKept(t *testing.T) {
	ctx := context.Background()
	f := newFake()
	x := New(f, time.Hour)
	var created authz.Policy
	f.duringList = func() {
		// The list result is already taken; this create finishes before the index stores it.
		created, _ = x.Create(ctx, restore("s1"))
	}
	got, _ := x.All(ctx)
	if diff := cmp.Diff([]string{created.ID}, ids(got)); diff != "" {
		t.Errorf("a create racing the list was lost: %s", diff)
	}
}
