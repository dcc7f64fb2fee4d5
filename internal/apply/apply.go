// Package apply carries out a plan against IAM idempotently and produces the one record of each
// change that every consumer (the HTTP answer, the job's and the reconcile's JSON, replay, the
// log line, the bench) shows unchanged. A create that IAM answers 409 is adopted when the
// existing policy is this project's and recorded as covered when it is not; a delete of a policy
// that is already gone succeeds. It never touches a policy without the ownership marker and
// never creates a grant that does not fit its template. It knows nothing of sync modes: the
// plan it is given already says what may be deleted.
package apply

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/s2s-authorizer/s2s-authorizer/internal/authz"
	"github.com/s2s-authorizer/s2s-authorizer/internal/plan"
)

// Writer creates and deletes authorization policies: the IAM adapter, or the policy index in
// front of it. Apply is idempotent only because every Writer keeps this contract (the way
// crossplane-runtime writes the contract of its ExternalClient on the interface):
//
//   - Create makes the policy for a and returns it as IAM holds it (with its ID). When an active
//     policy with the same type, subject and resource attributes exists already, whatever its
//     roles, Create makes nothing and returns a *ConflictError naming that policy: IAM allows one
//     such policy, so a retried or concurrent create is answered, not duplicated.
//   - Delete deletes the policy with that ID. When the policy is already gone (or deleted) it
//     returns an error that matches ErrNotFound, and the caller takes that as done.
//   - Every other failure that may pass when tried again later (no answer, 429, 5xx) is an error
//     for which IsTransient is true; any other error is permanent.
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
	Concurrency int     // writes in flight at once; below 1 means 1
	Limiter     Limiter // nil: no pacing
}

// Apply carries out p. Creates and replaces run before plain deletes, so that a plan which adds
// one grant and removes another adds first. A replace itself deletes before it creates: IAM holds
// one active policy per subject and resource, so the old one must go before the new one is
// accepted. A failed change does not stop the others.
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
		case plan.Imitation:
			results[i].Outcome = Imitation
		}
	}
	for _, batch := range [][]int{creates, deletes} {
		run(batch, o, func(i int) { results[i] = one(ctx, w, results[i], o) })
	}
	return Report{Results: results}
}

func run(indexes []int, o Options, fn func(int)) {
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
	conflict, isConflict := AsConflict(err)
	var limit *LimitError
	switch {
	case errors.As(err, &limit):
		r.Outcome, r.Reason = Refused, limit.Reason
	case err == nil:
		r.Outcome, r.PolicyID = Created, p.ID
		r.Writes++
	case isConflict:
		existing := conflict.Existing
		_, ours := existing.Owner()
		same := existing.Key() == r.Change.Authorization.Key()
		switch {
		case ours && same:
			r.Outcome, r.PolicyID, r.Change.Policy = Adopted, existing.ID, existing
		case ours && r.Change.Action == plan.Create && r.Change.MayReplace:
			// Our own policy for this subject and resource with other roles, which the plan did
			// not know of: replace it, once, as the plan would have.
			return replace(ctx, w, r, o, existing)
		case ours:
			// The plan forbids the delete a replace needs (upsert-only): keep the old grant, as
			// the plan says of an outdated policy it knows.
			r.Outcome, r.PolicyID, r.Change.Policy = Retained, existing.ID, existing
		case same:
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
	switch err := w.Delete(ctx, old.ID); {
	case err == nil:
		r.Writes++
	case !IsNotFound(err):
		return failed(r, fmt.Errorf("replace policy %s: %w", old.ID, err))
	}
	r.Change.Action, r.Change.Policy, r.Change.MayReplace = plan.Replace, old, false
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
		r.Writes++
	case IsNotFound(err):
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
		return Transient(fmt.Errorf("waiting for the write rate limit: %w", err))
	}
	return nil
}

func failed(r Result, err error) Result {
	r.Outcome, r.Err = Failed, err
	return r
}
