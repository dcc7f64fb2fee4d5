// Package converge brings the authorizations of one object (a snapshot, or a KMS instance or
// key) in line with its current state: read the object, compute what it should have, plan
// against the policies there, apply. Events are only hints of which object to look at; nothing
// in them decides what should exist, so duplicate, late and reordered events are harmless. The
// object comes already classified (authz.Rules.Target): converge does not check accounts again.
package converge

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/s2s-authorizer/s2s-authorizer/internal/apply"
	"github.com/s2s-authorizer/s2s-authorizer/internal/authz"
	"github.com/s2s-authorizer/s2s-authorizer/internal/plan"
)

// Snapshots reads one snapshot; nil when it no longer exists.
type Snapshots interface {
	Get(ctx context.Context, region, id string) (*authz.Snapshot, error)
}

// Instances reads one KMS instance by GUID or CRN; nil when it no longer exists.
type Instances interface {
	Get(ctx context.Context, id string) (*authz.KMSInstance, error)
}

// Keys reads one key; nil when the instance does not know it.
type Keys interface {
	Get(ctx context.Context, inst authz.KMSInstance, keyID string) (*authz.Key, error)
}

// Policies finds the policies a plan for one object needs, and writes (apply.Writer's contract).
// Relevant may answer from a cache: the managed policies of the object and every policy whose
// grant covers one of desired. Fresh answers the same from IAM now, reading the given services'
// policies. Confirm reads one policy from IAM: false when it is gone or deleted.
type Policies interface {
	Relevant(ctx context.Context, object string, desired []authz.Authorization) ([]authz.Policy, error)
	Fresh(ctx context.Context, object string, services []string, desired []authz.Authorization) ([]authz.Policy, error)
	Confirm(ctx context.Context, id string) (bool, error)
	// Listed reports whether Relevant's answers rest on a listing of the account: false for a
	// cache that has not listed yet (a process just scaled from zero).
	Listed() bool
	apply.Writer
}

// Object is what one event concerns.
type Object struct {
	Target authz.Target
	// KeyType is the event's keyType for a key, "" when it did not say.
	KeyType string
	// KeyRemoved is set for delete and purge events: the key's type no longer matters.
	KeyRemoved bool
	// MayRemove is set when the event may mean that a grant is no longer wanted (a tag detached,
	// a snapshot or key deleted or updated): the decision is then made from a fresh read of IAM.
	MayRemove bool
}

// Outcome is the one word for what happened to an event or an object, the same in the HTTP
// answer, the job's JSON, replay and the log line. The first six are the converger's; the
// delivery layer adds the last three for events that never reach it.
type Outcome string

const (
	Applied   Outcome = "applied"   // IAM was changed
	Unchanged Outcome = "unchanged" // everything was as it should be
	Planned   Outcome = "planned"   // dry run: changes were planned, none written
	Ignored   Outcome = "ignored"   // nothing to do for this object (Reason says why)
	Refused   Outcome = "refused"   // a tag asked for a grant the rules forbid, nothing else changed
	Failed    Outcome = "failed"

	Rejected  Outcome = "rejected"  // bad input: 4xx, never retried
	Duplicate Outcome = "duplicate" // handled before: nothing done
	Accepted  Outcome = "accepted"  // a cron tick: the full reconcile was started (or is running)
)

// Outcomes lists every outcome, in the order reports count them.
func Outcomes() []Outcome {
	return []Outcome{Applied, Planned, Unchanged, Refused, Ignored, Duplicate, Accepted, Rejected, Failed}
}

// Result is everything there is to report about one object.
type Result struct {
	Object   string // CRN of the object the authorizations belong to
	Outcome  Outcome
	Reason   string
	Report   apply.Report
	Refusals []authz.Refusal
	Err      error
	Duration time.Duration
}

// Transient reports whether the failure may go away on redelivery.
func (r Result) Transient() bool { return r.Err != nil && apply.IsTransient(r.Err) }

// Options configure a Converger.
type Options struct {
	Rules  authz.Rules
	Mode   plan.Mode
	DryRun bool
	// Ready, when set, makes sure before each object that what the rules need from IBM (the role
	// CRNs IAM offers) is known; its error fails the object.
	Ready func(ctx context.Context) error
	// Limiter paces writes, shared with the full reconcile in the same process; nil: none.
	Limiter apply.Limiter
}

// maxParallel bounds how many objects converge at once in one process.
const maxParallel = 8

// Converger converges one object at a time per object, different objects in parallel.
type Converger struct {
	opts      Options
	snapshots Snapshots
	instances Instances
	keys      Keys
	policies  Policies
	backups   *backupSource // backup.go
	locks     *keyedMutex
	slots     chan struct{}
}

// New builds a Converger over the adapters.
func New(o Options, snapshots Snapshots, instances Instances, keys Keys, policies Policies) *Converger {
	return &Converger{opts: o, snapshots: snapshots, instances: instances, keys: keys, policies: policies,
		locks: newKeyedMutex(), slots: make(chan struct{}, maxParallel)}
}

// Converge reads obj's current state and makes its authorizations match it.
func (c *Converger) Converge(ctx context.Context, obj Object) Result {
	start := time.Now()
	r := c.converge(ctx, obj)
	r.Duration = time.Since(start)
	return r
}

func (c *Converger) converge(ctx context.Context, obj Object) Result {
	t := obj.Target
	select {
	case c.slots <- struct{}{}:
		defer func() { <-c.slots }()
	case <-ctx.Done():
		return Result{Object: t.Object, Outcome: Failed, Err: apply.Transient(fmt.Errorf("waiting for a free slot: %w", ctx.Err()))}
	}
	if c.opts.Ready != nil {
		if err := c.opts.Ready(ctx); err != nil {
			return failed(t.Object, err)
		}
	}
	unlock := c.locks.lock(t.Object)
	defer unlock()

	// Verify after writing: another writer (an app instance, the reconcile job) may have changed
	// the object while this one planned, so after any write the object is read again, and a
	// changed state is converged again. The last writer to finish therefore writes from a read
	// that follows the last change. Bounded: a state that keeps changing fails transiently.
	var records []apply.Result
	st, done := c.read(ctx, obj)
	for round := 1; ; round++ {
		if done != nil {
			done.Report.Results = append(records, done.Report.Results...)
			return *done
		}
		r := c.plan(ctx, obj, st, round > 1)
		wrote := r.Report.Writes() > 0
		records = append(records, r.Report.Results...)
		r.Report.Results = records
		if r.Outcome == Unchanged && apply.Writes(records) > 0 {
			r.Outcome = Applied // an earlier round wrote
		}
		if r.Err != nil || !wrote || c.opts.DryRun {
			return r
		}
		if round == maxRounds {
			r.Outcome, r.Err = Failed, apply.Transient(fmt.Errorf("converge %s: its state changed during %d rounds of writes; try again", t.Object, maxRounds))
			return r
		}
		again, againDone := c.read(ctx, obj)
		if againDone == nil && sameDesired(st.desired, again.desired) {
			return r
		}
		st, done = again, againDone
		if done != nil && done.Err == nil {
			// The object is now ignored (a standard key): nothing more to write, and what was
			// written stays reported.
			done.Outcome = Applied
		}
	}
}

// maxRounds bounds the verify-after-write loop of one object.
const maxRounds = 4

// state is what an object's current state asks for.
type state struct {
	desired  []authz.Authorization
	refusals []authz.Refusal
	reason   string // why nothing is wanted, when the object is not there
}

// read reads the object and what it should have; done is set when there is nothing to plan (a
// failed read, an object to ignore).
func (c *Converger) read(ctx context.Context, obj Object) (state, *Result) {
	t := obj.Target
	switch t.Kind {
	case authz.ObjectSnapshot:
		snap, err := c.snapshots.Get(ctx, t.CRN.Location, t.CRN.Resource)
		if err != nil {
			r := failed(t.Object, err)
			return state{}, &r
		}
		st := state{}
		st.desired, st.refusals = c.opts.Rules.ForSnapshot(snap)
		if snap == nil {
			// Said, so that an event naming a snapshot that is gone, or never was in that region
			// (a typo in a hand-written event), does not look like a success.
			st.reason = fmt.Sprintf("snapshot %s not found in %s: nothing to grant", t.CRN.Resource, t.CRN.Location)
		}
		return st, nil
	case authz.ObjectKMSKey, authz.ObjectKMSInstance:
		return c.readKMS(ctx, obj)
	case authz.ObjectBackup:
		return c.readBackup(ctx, t)
	}
	return state{}, &Result{Object: t.Object, Outcome: Ignored, Reason: fmt.Sprintf("unknown object kind %q", t.Kind)}
}

func (c *Converger) readKMS(ctx context.Context, obj Object) (state, *Result) {
	t := obj.Target
	inst := t.Instance()
	keyScope := c.opts.Rules.KMSScope == authz.ScopeKey
	if t.Kind == authz.ObjectKMSKey && !keyScope && t.Object == t.CRN.String() {
		// A key addressed as itself in instance scope (a key-scope policy left from a scope
		// switch): no key has grants of its own here.
		return state{}, nil
	}
	var key *authz.Key
	// In key scope the key's own state decides; in instance scope only its type does, and only
	// when the event did not say it.
	if t.Kind == authz.ObjectKMSKey && (keyScope || (authz.KeyTypeUnknown(obj.KeyType) && !obj.KeyRemoved)) {
		var err error
		if key, err = c.keys.Get(ctx, inst, t.CRN.Resource); err != nil {
			r := failed(t.Object, err)
			return state{}, &r
		}
		if key != nil && !key.Root && !key.Deleted {
			return state{}, &Result{Object: t.Object, Outcome: Ignored, Reason: authz.StandardKeyReason}
		}
	}
	if keyScope && t.Kind == authz.ObjectKMSKey {
		var root *authz.RootKey
		if key != nil && !key.Deleted {
			root = &key.RootKey
		}
		return state{desired: c.opts.Rules.ForKey(root)}, nil
	}
	current, err := c.instances.Get(ctx, inst.GUID)
	if err != nil {
		r := failed(t.Object, err)
		return state{}, &r
	}
	return state{desired: c.opts.Rules.ForInstance(current)}, nil
}

// sameDesired reports whether two reads of an object ask for the same grants.
func sameDesired(a, b []authz.Authorization) bool {
	if len(a) != len(b) {
		return false
	}
	keys := map[string]int{}
	for _, d := range a {
		keys[d.Key()]++
	}
	for _, d := range b {
		keys[d.Key()]--
	}
	for _, n := range keys {
		if n != 0 {
			return false
		}
	}
	return true
}

// plan plans the object's state against IAM and applies. No decision rests on state another
// writer could have changed: a create is safe from any cache (IAM's 409 makes it idempotent); a
// keep, or a policy not ours said to cover a grant, is confirmed with a GET of that policy; and a
// decision that may leave a grant absent (an event that may mean a removal, a second round after
// the state changed) is planned from a fresh read of the object's service's policies.
func (c *Converger) plan(ctx context.Context, obj Object, st state, again bool) Result {
	object := obj.Target.Object
	var existing []authz.Policy
	var err error
	if again || obj.MayRemove {
		existing, err = c.policies.Fresh(ctx, object, []string{serviceOf(obj.Target)}, st.desired)
	} else {
		existing, err = c.policies.Relevant(ctx, object, st.desired)
	}
	if err != nil {
		return failed(object, err)
	}
	p := plan.Compute(st.desired, existing, c.opts.Mode)
	if p, err = c.confirm(ctx, p, st.desired, existing); err != nil {
		return failed(object, err)
	}
	report := apply.Apply(ctx, c.policies, p, apply.Options{DryRun: c.opts.DryRun, Limiter: c.opts.Limiter})
	if fresh := again || obj.MayRemove; !fresh && !c.opts.DryRun && report.Count()[apply.Created] > 0 && !c.policies.Listed() {
		// A cache that has not listed yet answers a converged grant through IAM's 409, which is
		// cheap; but a create it let through may duplicate a grant in another form IBM documents,
		// or leave a policy from before an upgrade: look now, once, and plan again.
		if report, err = c.recheck(ctx, obj, st, report); err != nil {
			return failed(object, err)
		}
	}
	r := Result{Object: object, Report: report, Refusals: st.refusals, Err: report.Err()}
	n := report.Count()
	switch {
	case r.Err != nil:
		r.Outcome = Failed
	case n[apply.Refused] > 0:
		// At the account's policy cap: a retry cannot help, so the sender is answered 2xx.
		r.Outcome, r.Reason = Refused, refusedReason(report)
	case report.Writes() > 0:
		r.Outcome = Applied
	case n[apply.Planned] > 0:
		r.Outcome = Planned
	case len(st.refusals) > 0:
		r.Outcome = Refused
	default:
		r.Outcome, r.Reason = Unchanged, st.reason
	}
	if r.Reason == "" && r.Err == nil {
		r.Reason = st.reason
	}
	return r
}

// recheck plans the object again from a fresh read and applies, adding to report what that
// changed or found (keeps of what was just created are not repeated).
func (c *Converger) recheck(ctx context.Context, obj Object, st state, report apply.Report) (apply.Report, error) {
	existing, err := c.policies.Fresh(ctx, obj.Target.Object, []string{serviceOf(obj.Target)}, st.desired)
	if err != nil {
		return report, err
	}
	again := apply.Apply(ctx, c.policies, plan.Compute(st.desired, existing, c.opts.Mode), apply.Options{Limiter: c.opts.Limiter})
	for _, res := range again.Results {
		if res.Outcome != apply.Kept {
			report.Results = append(report.Results, res)
		}
	}
	return report, nil
}

// confirm asks IAM whether each policy the plan keeps, or counts as covering, is still there;
// the plan is made again without those that are gone (at most twice: a second plan keeps only
// what it just confirmed or what the first did).
func (c *Converger) confirm(ctx context.Context, p plan.Plan, desired []authz.Authorization, existing []authz.Policy) (plan.Plan, error) {
	confirmed := map[string]bool{}
	for range 2 {
		gone := map[string]bool{}
		for _, ch := range p.Changes {
			if ch.Action != plan.Keep && ch.Action != plan.Covered || confirmed[ch.Policy.ID] {
				continue
			}
			ok, err := c.policies.Confirm(ctx, ch.Policy.ID)
			if err != nil {
				return p, err
			}
			confirmed[ch.Policy.ID] = ok
			if !ok {
				gone[ch.Policy.ID] = true
			}
		}
		if len(gone) == 0 {
			return p, nil
		}
		var left []authz.Policy
		for _, e := range existing {
			if !gone[e.ID] {
				left = append(left, e)
			}
		}
		existing = left
		p = plan.Compute(desired, existing, c.opts.Mode)
	}
	return p, nil
}

// serviceOf is the service of the object's grants' resource, by which IAM's v2 list narrows.
func serviceOf(t authz.Target) string {
	return t.CRN.Service
}

func failed(object string, err error) Result {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		err = apply.Transient(fmt.Errorf("converge %s: %w", object, err))
	}
	return Result{Object: object, Outcome: Failed, Err: err}
}

func refusedReason(report apply.Report) string {
	for _, res := range report.Results {
		if res.Outcome == apply.Refused {
			return res.Reason
		}
	}
	return ""
}
