package policyindex

import (
	"context"
	"errors"
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
	// fail, when set, may answer a call ("list", "create", "delete") with an error instead.
	fail func(op string) error
}

func (f *fakeIAM) failure(op string) error {
	if f.fail == nil {
		return nil
	}
	return f.fail(op)
}

func newFake() *fakeIAM { return &fakeIAM{policies: map[string]authz.Policy{}} }

func (f *fakeIAM) List(context.Context) ([]authz.Policy, error) {
	f.mu.Lock()
	f.lists++
	if err := f.failure("list"); err != nil {
		f.mu.Unlock()
		return nil, err
	}
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

func (f *fakeIAM) ListService(ctx context.Context, service string) ([]authz.Policy, error) {
	all, err := f.List(ctx)
	var out []authz.Policy
	for _, p := range all {
		if p.Resource("serviceName") == service {
			out = append(out, p)
		}
	}
	return out, err
}

func (f *fakeIAM) Get(_ context.Context, id string) (authz.Policy, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.failure("get"); err != nil {
		return authz.Policy{}, err
	}
	p, ok := f.policies[id]
	if !ok {
		return authz.Policy{}, fmt.Errorf("get %s: %w", id, apply.ErrNotFound)
	}
	return p, nil
}

func (f *fakeIAM) Create(_ context.Context, a authz.Authorization) (authz.Policy, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.failure("create"); err != nil {
		return authz.Policy{}, err
	}
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
	if err := f.failure("delete"); err != nil {
		return err
	}
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
func restore(snapshot string) authz.Authorization {
	return fixture.RestoreOf(snapshot, fixture.Restorer)
}

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
	x := New(f, time.Minute, -1)
	x.coldDelay = 0
	a := restore("s1")
	// Cold: answered at once from what the process wrote (nothing), listing in the background.
	if got, _ := x.Relevant(ctx, a.Object, []authz.Authorization{a}); len(got) != 0 {
		t.Fatalf("cold read: %v", got)
	}
	x.bg.Wait()
	if f.lists != 1 || !x.Listed() {
		t.Fatalf("after the cold read: %d lists, listed %v; want the one background listing", f.lists, x.Listed())
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
	x := New(f, time.Minute, -1)
	if _, err := x.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
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
	x := New(f, time.Minute, -1)
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
	x := New(f, 0, -1)
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
	x := New(f, time.Hour, -1)
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
	x := New(f, time.Hour, -1)
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

var errUnavailable = apply.Transient(errors.New("IAM answered 503 Service Unavailable"))

// TestFailures: a failed call changes nothing the index knows, and its error reaches the caller
// unchanged, still transient.
func TestFailures(t *testing.T) {
	tests := []struct {
		name string
		// run makes the failing call on a warm index that holds the policy kept.
		run       func(ctx context.Context, x *Index, kept authz.Policy) error
		failing   string
		wantIDs   func(kept authz.Policy) []string // what the index holds afterwards, without listing
		wantLists int                              // lists after the failure, for the next read
	}{
		{
			name: "a create that fails is not recorded", failing: "create",
			run: func(ctx context.Context, x *Index, _ authz.Policy) error {
				_, err := x.Create(ctx, restore("s2"))
				return err
			},
			wantIDs: func(kept authz.Policy) []string { return []string{kept.ID} },
		},
		{
			name: "a delete that fails keeps the policy", failing: "delete",
			run:     func(ctx context.Context, x *Index, kept authz.Policy) error { return x.Delete(ctx, kept.ID) },
			wantIDs: func(kept authz.Policy) []string { return []string{kept.ID} },
		},
		{
			name: "a refresh whose list fails leaves the index cold", failing: "list",
			run: func(ctx context.Context, x *Index, _ authz.Policy) error {
				_, err := x.Refresh(ctx)
				return err
			},
			wantIDs:   func(kept authz.Policy) []string { return []string{kept.ID} },
			wantLists: 1, // the next read lists again
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			f := newFake()
			kept := f.behindTheBack(restore("s1"))
			x := New(f, time.Hour, -1)
			if _, err := x.All(ctx); err != nil {
				t.Fatal(err)
			}
			f.fail = func(op string) error {
				if op == tt.failing {
					return fmt.Errorf("%s: %w", op, errUnavailable)
				}
				return nil
			}
			if err := tt.run(ctx, x, kept); !errors.Is(err, errUnavailable) || !apply.IsTransient(err) {
				t.Errorf("error %v, want the store's transient error", err)
			}
			f.fail = nil
			lists := f.lists
			got, err := x.All(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.wantIDs(kept), ids(got)); diff != "" {
				t.Errorf("afterwards (-want +got):\n%s", diff)
			}
			if f.lists-lists != tt.wantLists {
				t.Errorf("%d lists for the next read, want %d", f.lists-lists, tt.wantLists)
			}
		})
	}
}

// TestColdListFailureIsReturned: a cold read answers at once (the converger's rules make a cold
// answer safe) and stays cold when its background listing fails; a full read answers the error,
// not an empty account.
func TestColdListFailureIsReturned(t *testing.T) {
	f := newFake()
	f.behindTheBack(restore("s1"))
	f.fail = func(string) error { return errUnavailable }
	x := New(f, time.Hour, -1)
	x.coldDelay = 0
	if got, err := x.Relevant(context.Background(), restore("s1").Object, nil); err != nil || len(got) != 0 {
		t.Errorf("Relevant: %v, %v; want nothing known yet, no error", got, err)
	}
	x.bg.Wait()
	if x.Listed() {
		t.Error("a failed listing counts as listed")
	}
	if got, err := x.All(context.Background()); !errors.Is(err, errUnavailable) || got != nil {
		t.Errorf("All: %v, %v; want the list's error", got, err)
	}
}

// TestDeletedPoliciesAreNotIndexed: IAM lists a deleted policy for a while; it concerns nobody.
func TestDeletedPoliciesAreNotIndexed(t *testing.T) {
	f := newFake()
	p := f.behindTheBack(restore("s1"))
	p.State = "deleted"
	f.policies[p.ID] = p
	live := f.behindTheBack(restore("s2"))
	x := New(f, time.Hour, -1)
	got, _ := x.All(context.Background())
	if diff := cmp.Diff([]string{live.ID}, ids(got)); diff != "" {
		t.Errorf("indexed (-want +got):\n%s", diff)
	}
	if got, _ := x.Relevant(context.Background(), restore("s1").Object, []authz.Authorization{restore("s1")}); len(got) != 0 {
		t.Errorf("a deleted policy is relevant: %v", got)
	}
}

// TestRefreshListsWhateverTheAge: a full reconcile sees IAM as it is, even on a fresh index.
func TestRefreshListsWhateverTheAge(t *testing.T) {
	ctx := context.Background()
	f := newFake()
	x := New(f, time.Hour, -1)
	_, _ = x.All(ctx)
	p := f.behindTheBack(restore("s1"))
	got, err := x.Refresh(ctx)
	if diff := cmp.Diff([]string{p.ID}, ids(got)); diff != "" || err != nil || f.lists != 2 {
		t.Errorf("refresh (-want +got):\n%s\nerror %v, %d lists", diff, err, f.lists)
	}
}

// TestConcurrentColdReadsListOnce: callers of a cold index wait for one list, not one each.
func TestConcurrentColdReadsListOnce(t *testing.T) {
	f := newFake()
	release := make(chan struct{})
	f.duringList = func() { <-release }
	x := New(f, time.Hour, -1)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() { _, _ = x.All(context.Background()) })
	}
	time.Sleep(20 * time.Millisecond) // let the readers queue behind the first list
	close(release)
	wg.Wait()
	if f.lists != 1 {
		t.Errorf("%d lists for 8 concurrent reads of a cold index, want 1", f.lists)
	}
}

// TestStaleIndexServesTheLastListingWhileOneRefreshRuns: under load no event waits for a relist;
// one refresh runs for all the stale reads, and its result is used afterwards.
func TestStaleIndexServesTheLastListingWhileOneRefreshRuns(t *testing.T) {
	ctx := context.Background()
	f := newFake()
	old := f.behindTheBack(restore("s1"))
	now := time.Now()
	x := New(f, time.Minute, -1)
	x.now = func() time.Time { return now }
	if _, err := x.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	now = now.Add(2 * time.Minute) // stale
	added := f.behindTheBack(restore("s1-later"))
	release := make(chan struct{})
	f.duringList = func() { <-release } // the refresh is slow
	for range 10 {
		got, err := x.Relevant(ctx, restore("s1").Object, nil)
		if err != nil || len(got) != 1 || got[0].ID != old.ID {
			t.Fatalf("a stale read during the refresh: %v %v, want the last listing's %s at once", got, err, old.ID)
		}
	}
	close(release)
	x.bg.Wait()
	if f.lists != 2 {
		t.Errorf("%d lists, want one refresh for all the stale reads", f.lists)
	}
	if got, _ := x.Relevant(ctx, restore("s1-later").Object, nil); len(got) != 1 || got[0].ID != added.ID {
		t.Errorf("after the refresh: %v, want %s", got, added.ID)
	}
}
