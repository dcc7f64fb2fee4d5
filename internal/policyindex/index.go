// Package policyindex keeps the account's authorization policies in memory between events.
// IAM has no server-side filter on policy attributes, so without it every event would list every
// policy of the account; with it, a warm instance answers "which policies concern this object"
// without a call. The index is write-through (this process's creates and deletes update it), has
// a bounded age, and is dropped whenever IAM surprises it (a 409 for a policy it did not know, a
// 404 for one it thought was there).
package policyindex

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/s2s-authorizer/s2s-authorizer/internal/apply"
	"github.com/s2s-authorizer/s2s-authorizer/internal/authz"
)

// Store is the IAM adapter underneath: List returns every active authorization policy of the
// account, ListService those whose resource is of one service, Get one policy (an error matching
// apply.ErrNotFound when it is gone); Create and Delete keep apply.Writer's contract, which the
// index keeps in turn.
type Store interface {
	List(ctx context.Context) ([]authz.Policy, error)
	ListService(ctx context.Context, service string) ([]authz.Policy, error)
	Get(ctx context.Context, id string) (authz.Policy, error)
	apply.Writer
}

// createdLag is how long a policy this process created may be missing from IAM's reads: after a
// create, GET can answer 404 for a while (Terraform retries for 5 minutes; facts file,
// section 2), and that is not the policy being gone.
const createdLag = 5 * time.Minute

// Index is safe for concurrent use.
type Index struct {
	store Store
	ttl   time.Duration
	now   func() time.Time
	// headroom is how far below authz.AccountPolicyCap creates stop; negative: never.
	headroom int

	// loadMu makes concurrent callers of a stale index wait for one List instead of each
	// listing the whole account.
	loadMu sync.Mutex
	// refreshing is set while a background listing runs; bg waits for it (tests).
	refreshing atomic.Bool
	bg         sync.WaitGroup
	// coldDelay is how long a cold index lets the first events go before it lists.
	coldDelay time.Duration
	// background bounds background listings; Close cancels it.
	background context.Context
	stop       context.CancelFunc

	mu sync.RWMutex
	// created are the policies this process created, and when: a read that lags is no proof they
	// are gone.
	created    map[string]time.Time
	loadedAt   time.Time
	valid      bool
	generation int
	loading    bool
	journal    []func() // writes made while a List was in flight, replayed on its result
	byID       map[string]authz.Policy
	byObject   map[string]set // policies with the marker, by the object the marker names
	byKey      map[string]set // all policies by grant identity
}

type set map[string]struct{}

func (x *Index) reset(n int) {
	x.byID = make(map[string]authz.Policy, n)
	x.byObject = make(map[string]set, n)
	x.byKey = make(map[string]set, n)
}

func (x *Index) add(p authz.Policy) {
	x.remove(p.ID)
	x.byID[p.ID] = p
	// By the marker's claim, proven or not: the plan tells ours from imitations.
	if o, ok := authz.ParseOwner(p.Description); ok {
		addTo(x.byObject, o.Object, p.ID)
	}
	addTo(x.byKey, p.Key(), p.ID)
}

func (x *Index) remove(id string) {
	p, ok := x.byID[id]
	if !ok {
		return
	}
	delete(x.byID, id)
	if o, ok := authz.ParseOwner(p.Description); ok {
		removeFrom(x.byObject, o.Object, id)
	}
	removeFrom(x.byKey, p.Key(), id)
}

func addTo(m map[string]set, k, id string) {
	if m[k] == nil {
		m[k] = set{}
	}
	m[k][id] = struct{}{}
}

func removeFrom(m map[string]set, k, id string) {
	delete(m[k], id)
	if len(m[k]) == 0 {
		delete(m, k)
	}
}

// New indexes the policies of store; ttl 0 disables caching (every read lists). Creates that
// would bring the account within headroom of authz.AccountPolicyCap are refused (negative: never refused
// here; IAM's own refusal still is).
func New(store Store, ttl time.Duration, headroom int) *Index {
	x := &Index{store: store, ttl: ttl, now: time.Now, headroom: headroom, created: map[string]time.Time{}, coldDelay: coldDelay}
	x.background, x.stop = context.WithCancel(context.Background())
	x.reset(0)
	return x
}

// Relevant returns what a plan for one object needs: the managed policies of that object, and
// every policy (managed or not) whose grant covers one of desired. With caching on it never waits
// for a listing: a stale index answers from its last listing while one refresh runs in the
// background, and a cold one (a process just scaled from zero) from what it wrote itself. Every
// decision it feeds is safe against a stale view (the converger's rules: IAM's 409 answers a
// create for a grant that exists, keeps are confirmed by a GET, removals read IAM afresh), so
// waiting would only make events slow. With caching off (ttl 0) it lists every time.
func (x *Index) Relevant(ctx context.Context, object string, desired []authz.Authorization) ([]authz.Policy, error) {
	if x.ttl <= 0 {
		if err := x.ensure(ctx); err != nil {
			return nil, err
		}
	} else if !x.fresh() {
		x.refreshInBackground()
	}
	x.mu.RLock()
	defer x.mu.RUnlock()
	ids := set{}
	for id := range x.byObject[object] {
		ids[id] = struct{}{}
	}
	for _, d := range desired {
		for _, k := range d.CoveringKeys() {
			for id := range x.byKey[k] {
				ids[id] = struct{}{}
			}
		}
	}
	out := make([]authz.Policy, 0, len(ids))
	for id := range ids {
		out = append(out, x.byID[id])
	}
	return out, nil
}

// All returns every active authorization policy, listing the account when the index is stale.
func (x *Index) All(ctx context.Context) ([]authz.Policy, error) {
	if err := x.ensure(ctx); err != nil {
		return nil, err
	}
	x.mu.RLock()
	defer x.mu.RUnlock()
	out := make([]authz.Policy, 0, len(x.byID))
	for _, p := range x.byID {
		out = append(out, p)
	}
	return out, nil
}

// Refresh lists the account now, whatever the index's age: a full reconcile must see IAM as it is.
func (x *Index) Refresh(ctx context.Context) ([]authz.Policy, error) {
	x.Invalidate()
	return x.All(ctx)
}

// Invalidate makes the next read list the account again.
func (x *Index) Invalidate() {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.valid = false
	x.generation++
}

// Count is how many active authorization policies the index last saw: a floor of the account's
// policies against authz.AccountPolicyCap (access policies count too, and are not listed here).
func (x *Index) Count() int {
	x.mu.RLock()
	defer x.mu.RUnlock()
	return len(x.byID)
}

// Create creates through the store and records the result. A create that would pass the cap's
// headroom is refused without a call: retrying cannot help, a person must make room.
func (x *Index) Create(ctx context.Context, a authz.Authorization) (authz.Policy, error) {
	if limit := authz.AccountPolicyCap - x.headroom; x.headroom >= 0 && x.Count()+1 > limit {
		return authz.Policy{}, &apply.LimitError{Reason: fmt.Sprintf(
			"the account holds %d authorization policies; IAM allows %d policies per account and this function stops %d below (POLICY_CAP_HEADROOM)",
			x.Count(), authz.AccountPolicyCap, x.headroom)}
	}
	p, err := x.store.Create(ctx, a)
	conflict, isConflict := apply.AsConflict(err)
	switch {
	case isConflict:
		// The index missed a policy: remember this one, and distrust the rest unless it never
		// listed (a cold index misses everything; the 409 is how it learns).
		x.write(func() { x.add(conflict.Existing) })
		if x.listed() {
			x.Invalidate()
		}
	case err == nil:
		now := x.now()
		x.write(func() {
			x.add(p)
			x.created[p.ID] = now
			x.pruneCreated(now)
		})
	}
	return p, err
}

// Confirm reads a policy the index holds from IAM, so that keeping a grant never rests on what
// another writer may have changed: false when IAM says it is gone or deleted (the index then
// forgets it), unless this process created it so recently that IAM's reads may lag.
func (x *Index) Confirm(ctx context.Context, id string) (bool, error) {
	p, err := x.store.Get(ctx, id)
	switch {
	case err == nil && p.Active():
		return true, nil
	case err != nil && !apply.IsNotFound(err):
		return false, err
	case err != nil:
		// 404: gone, unless this process made it so recently that IAM's reads may lag. A policy
		// IAM answers with state "deleted" is gone whoever made it.
		x.mu.RLock()
		createdAt, ours := x.created[id]
		x.mu.RUnlock()
		if ours && x.now().Sub(createdAt) < createdLag {
			return true, nil
		}
	}
	x.write(func() { x.remove(id) })
	return false, nil
}

// Fresh is Relevant from IAM now, not from the index: the policies of the given services, read
// narrowed by service, for a decision that leaves a grant absent. What it finds that the index
// did not know is added to the index.
func (x *Index) Fresh(ctx context.Context, object string, services []string, desired []authz.Authorization) ([]authz.Policy, error) {
	var listed []authz.Policy
	for _, s := range services {
		ps, err := x.store.ListService(ctx, s)
		if err != nil {
			return nil, err
		}
		listed = append(listed, ps...)
	}
	keys := map[string]bool{}
	for _, d := range desired {
		for _, k := range d.CoveringKeys() {
			keys[k] = true
		}
	}
	var out []authz.Policy
	for _, p := range listed {
		if !p.Active() {
			continue
		}
		o, marked := authz.ParseOwner(p.Description)
		if (marked && o.Object == object) || keys[p.Key()] {
			out = append(out, p)
			x.write(func() { x.add(p) })
		}
	}
	return out, nil
}

// Delete deletes through the store and forgets the policy.
func (x *Index) Delete(ctx context.Context, id string) error {
	err := x.store.Delete(ctx, id)
	if err == nil || apply.IsNotFound(err) {
		x.write(func() { x.remove(id); delete(x.created, id) })
	}
	if apply.IsNotFound(err) {
		x.Invalidate()
	}
	return err
}

func (x *Index) write(op func()) {
	x.mu.Lock()
	defer x.mu.Unlock()
	op()
	if x.loading {
		x.journal = append(x.journal, op)
	}
}

// Listed reports whether the index has listed the account at least once: before that it knows
// only what this process wrote.
func (x *Index) Listed() bool { return x.listed() }

// listed reports whether the index has ever listed the account.
func (x *Index) listed() bool {
	x.mu.RLock()
	defer x.mu.RUnlock()
	return !x.loadedAt.IsZero()
}

// coldDelay is how long a cold index lets the first events go before it lists the account: their
// reads and IAM's 409s answer them, and a listing of thousands of policies would only share their
// time.
const coldDelay = time.Second

// backgroundListTimeout bounds a background listing, which no request waits for.
const backgroundListTimeout = 2 * time.Minute

// Close stops a background listing and waits for it: the index's process part is over.
func (x *Index) Close() {
	x.stop()
	x.bg.Wait()
}

// refreshInBackground starts one listing unless one is running.
func (x *Index) refreshInBackground() {
	if !x.refreshing.CompareAndSwap(false, true) {
		return
	}
	cold := !x.listed()
	x.bg.Add(1)
	go func() {
		defer x.bg.Done()
		defer x.refreshing.Store(false)
		if cold {
			select {
			case <-time.After(x.coldDelay):
			case <-x.background.Done():
				return
			}
		}
		ctx, cancel := context.WithTimeout(x.background, backgroundListTimeout)
		defer cancel()
		// A failure leaves the last listing in use; the next stale read tries again.
		_ = x.ensure(ctx)
	}()
}

func (x *Index) fresh() bool {
	x.mu.RLock()
	defer x.mu.RUnlock()
	return x.valid && x.ttl > 0 && x.now().Sub(x.loadedAt) < x.ttl
}

func (x *Index) ensure(ctx context.Context) error {
	if x.fresh() {
		return nil
	}
	x.loadMu.Lock()
	defer x.loadMu.Unlock()
	if x.fresh() {
		return nil
	}
	x.mu.Lock()
	x.loading, x.journal = true, nil
	generation := x.generation
	x.mu.Unlock()

	started := x.now()
	policies, err := x.store.List(ctx)

	x.mu.Lock()
	defer x.mu.Unlock()
	journal := x.journal
	x.loading, x.journal = false, nil
	if err != nil {
		return err
	}
	x.reset(len(policies))
	for _, p := range policies {
		if p.Active() {
			x.add(p)
		}
	}
	// A write that finished while the list was on its way may or may not be in it; replaying
	// it makes the index agree with IAM either way.
	for _, op := range journal {
		op()
	}
	x.loadedAt = started
	x.valid = x.generation == generation
	return nil
}

// pruneCreated forgets creations older than the lag, so that the record stays as small as the
// writes of the last few minutes.
func (x *Index) pruneCreated(now time.Time) {
	if len(x.created) < 1024 {
		return
	}
	for id, at := range x.created {
		if now.Sub(at) >= createdLag {
			delete(x.created, id)
		}
	}
}
