// Package apply carries out a plan against IAM idempotently: a create that IAM answers 409 is
// adopted when the existing policy is this project's and recorded as covered when it is not; a
// delete of a policy that is already gone succeeds. It never touches a policy without the
// ownership marker and never creates a grant that does not fit its template.
package apply

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/s2s-authorizer/s2s-authorizer/internal/authz"
	"github.com/s2s-authorizer/s2s-authorizer/internal/ibm"
	"github.com/s2s-authorizer/s2s-authorizer/internal/plan"
)

// Writer creates and deletes policies: the IAM adapter, or the policy index in front of it.
type Writer interface {
	Create(ctx context.Context, a authz.Authorization) (authz.Policy, error)
	Delete(ctx context.Context, id string) error
}

// Limiter paces writes; golang.org/x/time/rate.Limiter fits.
type Limiter interface {
	Wait(ctx context.Context) error
}

// Options say how to apply.
type Options struct {
	DryRun      bool    // plan only: report what would be written, write nothing
	UpsertOnly  bool    // never delete, not even to replace our own outdated policy
	Concurrency int     // writes in flight at once; below 1 means 1
	Limiter     Limiter // nil: no pacing
}

// Outcome is what happened to one change.
type Outcome string

const (
	Created  Outcome = "created"
	Adopted  Outcome = "adopted" // a create found our own policy already there
	Covered  Outcome = "covered" // an equal policy not ours exists; left alone
	Deleted  Outcome = "deleted"
	Gone     Outcome = "gone" // a delete found the policy gone already
	Kept     Outcome = "kept"
	Replaced Outcome = "replaced" // our policy with outdated roles deleted, the wanted one created
	Blocked  Outcome = "blocked"  // a policy not ours holds the subject and resource with other roles
	Retained Outcome = "retained" // upsert-only kept a policy no longer wanted
	Planned  Outcome = "planned"  // dry run: would be written
	Failed   Outcome = "failed"
)

// Result is one change and what became of it.
type Result struct {
	Change   plan.Change
	Outcome  Outcome
	PolicyID string
	Err      error
}

// Report is the results of one plan, in plan order.
type Report struct {
	Results []Result
}

// Writes counts the changes that changed IAM.
func (r Report) Writes() int {
	n := 0
	for _, res := range r.Results {
		switch res.Outcome {
		case Created, Deleted:
			n++
		case Replaced:
			n += 2
		}
	}
	return n
}

// Err joins the failures, nil when there are none.
func (r Report) Err() error {
	var errs []error
	for _, res := range r.Results {
		if res.Err != nil {
			errs = append(errs, res.Err)
		}
	}
	return errors.Join(errs...)
}

// Apply carries out p. Creates go before deletes, so that replacing one grant by another never
// leaves a moment without either. A failed change does not stop the others.
func Apply(ctx context.Context, w Writer, p plan.Plan, o Options) Report {
	results := make([]Result, len(p.Changes))
	var creates, deletes []int
	for i, c := range p.Changes {
		results[i] = Result{Change: c, PolicyID: c.Policy.ID}
		switch c.Action {
		case plan.Create, plan.Replace:
			creates = append(creates, i)
		case plan.Delete:
			deletes = append(deletes, i)
		case plan.Keep:
			results[i].Outcome = Kept
		case plan.Covered:
			results[i].Outcome = Covered
		case plan.Retain:
			results[i].Outcome = Retained
		case plan.Blocked:
			results[i].Outcome = Blocked
		}
	}
	for _, batch := range [][]int{creates, deletes} {
		run(ctx, batch, o, func(i int) { results[i] = one(ctx, w, results[i], o) })
	}
	return Report{Results: results}
}

func run(ctx context.Context, indexes []int, o Options, fn func(int)) {
	workers := max(o.Concurrency, 1)
	sem := make(chan struct{}, workers)
	var wg sync.WaitGroup
	for _, i := range indexes {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			fn(i)
		}()
	}
	wg.Wait()
}

func one(ctx context.Context, w Writer, r Result, o Options) Result {
	c := r.Change
	if c.Action != plan.Delete {
		if err := authz.CheckTemplate(c.Authorization); err != nil {
			return failed(r, fmt.Errorf("refusing to create: %w", err))
		}
	}
	if c.Action != plan.Create {
		if _, ours := c.Policy.Owner(); !ours {
			return failed(r, fmt.Errorf("refusing to delete policy %s: it does not carry this project's marker", c.Policy.ID))
		}
	}
	if o.DryRun {
		r.Outcome = Planned
		return r
	}
	switch c.Action {
	case plan.Create:
		return create(ctx, w, r, o)
	case plan.Replace:
		return replace(ctx, w, r, o, c.Policy)
	}
	return remove(ctx, w, r, o)
}

func create(ctx context.Context, w Writer, r Result, o Options) Result {
	if err := wait(ctx, o); err != nil {
		return failed(r, err)
	}
	p, err := w.Create(ctx, r.Change.Authorization)
	var conflict *ibm.ConflictError
	switch {
	case err == nil:
		r.Outcome, r.PolicyID = Created, p.ID
	case errors.As(err, &conflict):
		existing := conflict.Existing
		_, ours := existing.Owner()
		same := existing.Key() == r.Change.Authorization.Key()
		switch {
		case ours && same:
			r.Outcome, r.PolicyID, r.Change.Policy = Adopted, existing.ID, existing
		case ours && !o.UpsertOnly && r.Change.Action == plan.Create:
			// Our own policy for this subject and resource with other roles, which this
			// process did not know of: replace it, once.
			return replace(ctx, w, r, o, existing)
		case !ours && same:
			// An equal grant someone else made: it covers ours, and is theirs.
			r.Outcome, r.PolicyID, r.Change.Policy = Covered, existing.ID, existing
		default:
			r.Outcome, r.PolicyID, r.Change.Policy = Blocked, existing.ID, existing
		}
	default:
		return failed(r, err)
	}
	return r
}

// replace deletes our outdated policy and creates the wanted one: IAM holds one active policy
// per subject and resource, so the two cannot overlap.
func replace(ctx context.Context, w Writer, r Result, o Options, old authz.Policy) Result {
	if err := wait(ctx, o); err != nil {
		return failed(r, err)
	}
	if err := w.Delete(ctx, old.ID); err != nil && !errors.Is(err, ibm.ErrNotFound) {
		return failed(r, fmt.Errorf("replace policy %s: %w", old.ID, err))
	}
	r.Change.Action, r.Change.Policy = plan.Replace, old
	created := create(ctx, w, r, o)
	if created.Outcome == Created {
		created.Outcome = Replaced
	}
	return created
}

func remove(ctx context.Context, w Writer, r Result, o Options) Result {
	if err := wait(ctx, o); err != nil {
		return failed(r, err)
	}
	err := w.Delete(ctx, r.Change.Policy.ID)
	switch {
	case err == nil:
		r.Outcome = Deleted
	case errors.Is(err, ibm.ErrNotFound):
		r.Outcome = Gone
	default:
		return failed(r, err)
	}
	return r
}

func wait(ctx context.Context, o Options) error {
	if o.Limiter == nil {
		return nil
	}
	if err := o.Limiter.Wait(ctx); err != nil {
		return fmt.Errorf("waiting for the write rate limit: %w", err)
	}
	return nil
}

func failed(r Result, err error) Result {
	r.Outcome, r.Err = Failed, err
	return r
}
