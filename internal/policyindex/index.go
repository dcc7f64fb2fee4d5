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
	"time"

	"github.com/s2s-authorizer/s2s-authorizer/internal/apply"
	"github.com/s2s-authorizer/s2s-authorizer/internal/authz"
)

// Store is the IAM adapter underneath: List returns every active authorization policy of the
// account; Create and Delete keep apply.Writer's contract, which the index keeps in turn.
type Store interface {
	List(ctx context.Context) ([]authz.Policy, error)
	apply.Writer
}

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

	mu         sync.RWMutex
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
	x := &Index{store: store, ttl: ttl, now: time.Now, headroom: headroom}
	x.reset(0)
	return x
}

// Relevant returns what a plan for one object needs: the managed policies of that object, and
// every policy (managed or not) whose grant equals one of desired.
func (x *Index) Relevant(ctx context.Context, object string, desired []authz.Authorization) ([]authz.Policy, error) {
	if err := x.ensure(ctx); err != nil {
		return nil, err
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
		// The index missed a policy: remember this one and distrust the rest.
		x.write(func() { x.add(conflict.Existing) })
		x.Invalidate()
	case err == nil:
		x.write(func() { x.add(p) })
	}
	return p, err
}

// Delete deletes through the store and forgets the policy.
func (x *Index) Delete(ctx context.Context, id string) error {
	err := x.store.Delete(ctx, id)
	if err == nil || apply.IsNotFound(err) {
		x.write(func() { x.remove(id) })
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
