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
type Policies interface {
	Relevant(ctx context.Context, object string, desired []authz.Authorization) ([]authz.Policy, error)
	apply.Writer
}

// Object is what one event concerns.
type Object struct {
	Target authz.Target
	// KeyType is the event's keyType for a key, "" when it did not say.
	KeyType string
	// KeyRemoved is set for delete and purge events: the key's type no longer matters.
	KeyRemoved bool
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
	switch t.Kind {
	case authz.ObjectSnapshot:
		return c.snapshot(ctx, t)
	case authz.ObjectKMSKey, authz.ObjectKMSInstance:
		return c.kms(ctx, obj)
	case authz.ObjectBackup:
		return c.backup(ctx, t)
	}
	return Result{Object: t.Object, Outcome: Ignored, Reason: fmt.Sprintf("unknown object kind %q", t.Kind)}
}

func (c *Converger) snapshot(ctx context.Context, t authz.Target) Result {
	snap, err := c.snapshots.Get(ctx, t.CRN.Location, t.CRN.Resource)
	if err != nil {
		return failed(t.Object, err)
	}
	desired, refusals := c.opts.Rules.ForSnapshot(snap)
	r := c.plan(ctx, t.Object, desired)
	r.Refusals = refusals
	if snap == nil && r.Err == nil {
		// Said, so that an event naming a snapshot that is gone, or never was in that region
		// (a typo in a hand-written event), does not look like a success.
		r.Reason = fmt.Sprintf("snapshot %s not found in %s: nothing to grant", t.CRN.Resource, t.CRN.Location)
	}
	if r.Outcome == Unchanged && len(refusals) > 0 {
		r.Outcome = Refused
	}
	return r
}

func (c *Converger) kms(ctx context.Context, obj Object) Result {
	t := obj.Target
	inst := t.Instance()
	keyScope := c.opts.Rules.KMSScope == authz.ScopeKey
	var key *authz.Key
	// In key scope the key's own state decides; in instance scope only its type does, and only
	// when the event did not say it.
	if t.Kind == authz.ObjectKMSKey && (keyScope || (authz.KeyTypeUnknown(obj.KeyType) && !obj.KeyRemoved)) {
		var err error
		if key, err = c.keys.Get(ctx, inst, t.CRN.Resource); err != nil {
			return failed(t.Object, err)
		}
		if key != nil && !key.Root && !key.Deleted {
			return Result{Object: t.Object, Outcome: Ignored, Reason: authz.StandardKeyReason}
		}
	}
	if keyScope && t.Kind == authz.ObjectKMSKey {
		var root *authz.RootKey
		if key != nil && !key.Deleted {
			root = &key.RootKey
		}
		return c.plan(ctx, t.Object, c.opts.Rules.ForKey(root))
	}
	current, err := c.instances.Get(ctx, inst.GUID)
	if err != nil {
		return failed(t.Object, err)
	}
	return c.plan(ctx, t.Object, c.opts.Rules.ForInstance(current))
}

func (c *Converger) plan(ctx context.Context, object string, desired []authz.Authorization) Result {
	existing, err := c.policies.Relevant(ctx, object, desired)
	if err != nil {
		return failed(object, err)
	}
	p := plan.Compute(desired, existing, c.opts.Mode)
	report := apply.Apply(ctx, c.policies, p, apply.Options{DryRun: c.opts.DryRun})
	r := Result{Object: object, Report: report, Err: report.Err()}
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
	default:
		r.Outcome = Unchanged
	}
	return r
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
