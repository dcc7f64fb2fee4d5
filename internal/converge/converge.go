// Package converge brings the authorizations of one object (a snapshot, or a KMS instance or
// key) in line with its current state: read the object, compute what it should have, plan
// against the policies there, apply. Events are only hints of which object to look at; nothing
// in them decides what should exist, so duplicate, late and reordered events are harmless.
package converge

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/s2s-authorizer/s2s-authorizer/internal/apply"
	"github.com/s2s-authorizer/s2s-authorizer/internal/authz"
	"github.com/s2s-authorizer/s2s-authorizer/internal/crn"
	"github.com/s2s-authorizer/s2s-authorizer/internal/ibm"
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
	Get(ctx context.Context, inst authz.KMSInstance, keyID string) (*ibm.Key, error)
}

// Policies finds the policies a plan for one object needs, and writes.
type Policies interface {
	Relevant(ctx context.Context, object string, desired []authz.Authorization) ([]authz.Policy, error)
	apply.Writer
}

// Kind is the kind of object an event concerns.
type Kind string

const (
	KindSnapshot Kind = "snapshot"
	KindKey      Kind = "kms-key"
)

// Key types as Activity Tracker reports them.
const (
	RootKey     = "root_key"
	StandardKey = "standard_key"
)

// Object is what one event concerns.
type Object struct {
	Kind Kind
	CRN  crn.CRN
	// KeyType is the event's keyType for a key, "" when it did not say.
	KeyType string
	// KeyRemoved is set for delete and purge events: the key's type no longer matters.
	KeyRemoved bool
}

// Outcome sums up what converging one object did.
type Outcome string

const (
	Applied   Outcome = "applied"   // IAM was changed
	Unchanged Outcome = "unchanged" // everything was as it should be
	Planned   Outcome = "planned"   // dry run: changes were planned, none written
	Ignored   Outcome = "ignored"   // nothing to do for this object (Reason says why)
	Refused   Outcome = "refused"   // a tag asked for a grant the rules forbid, nothing else changed
	Failed    Outcome = "failed"
)

// Result is everything there is to report about one object.
type Result struct {
	Object   string // CRN of the object the authorizations belong to
	Outcome  Outcome
	Reason   string
	Plan     plan.Plan
	Report   apply.Report
	Refusals []authz.Refusal
	Err      error
	Duration time.Duration
}

// Transient reports whether the failure may go away on redelivery.
func (r Result) Transient() bool { return r.Err != nil && ibm.IsTransient(r.Err) }

// Options configure a Converger.
type Options struct {
	Rules  authz.Rules
	Mode   plan.Mode
	DryRun bool
	// MaxParallel bounds how many objects converge at once; below 1 means 8.
	MaxParallel int
}

// Converger converges one object at a time per object, different objects in parallel.
type Converger struct {
	opts      Options
	snapshots Snapshots
	instances Instances
	keys      Keys
	policies  Policies
	locks     *keyedMutex
	slots     chan struct{}
}

// New builds a Converger over the adapters.
func New(o Options, snapshots Snapshots, instances Instances, keys Keys, policies Policies) *Converger {
	if o.MaxParallel < 1 {
		o.MaxParallel = 8
	}
	return &Converger{opts: o, snapshots: snapshots, instances: instances, keys: keys, policies: policies,
		locks: newKeyedMutex(), slots: make(chan struct{}, o.MaxParallel)}
}

// Converge reads obj's current state and makes its authorizations match it.
func (c *Converger) Converge(ctx context.Context, obj Object) Result {
	start := time.Now()
	r := c.converge(ctx, obj)
	r.Duration = time.Since(start)
	return r
}

func (c *Converger) converge(ctx context.Context, obj Object) Result {
	if account := obj.CRN.Account(); account != c.opts.Rules.AccountID {
		return Result{Object: obj.CRN.String(), Outcome: Ignored, Reason: fmt.Sprintf("belongs to account %q, not to %s", account, c.opts.Rules.AccountID)}
	}
	select {
	case c.slots <- struct{}{}:
		defer func() { <-c.slots }()
	case <-ctx.Done():
		return Result{Object: obj.CRN.String(), Outcome: Failed, Err: fmt.Errorf("waiting for a free slot: %w", ctx.Err())}
	}
	switch obj.Kind {
	case KindSnapshot:
		return c.snapshot(ctx, obj.CRN)
	case KindKey:
		return c.key(ctx, obj)
	}
	return Result{Object: obj.CRN.String(), Outcome: Ignored, Reason: fmt.Sprintf("unknown object kind %q", obj.Kind)}
}

func (c *Converger) snapshot(ctx context.Context, id crn.CRN) Result {
	object := id.String()
	unlock := c.locks.lock(object)
	defer unlock()
	snap, err := c.snapshots.Get(ctx, id.Location, id.Resource)
	if err != nil {
		return failed(object, err)
	}
	desired, refusals := c.opts.Rules.ForSnapshot(snap)
	r := c.plan(ctx, object, desired)
	r.Refusals = refusals
	if r.Outcome == Unchanged && len(refusals) > 0 {
		r.Outcome = Refused
	}
	return r
}

func (c *Converger) key(ctx context.Context, obj Object) Result {
	inst := authz.KMSInstance{CRN: obj.CRN.Instance().String(), Service: obj.CRN.Service, GUID: obj.CRN.ServiceInstance}
	keyID := obj.CRN.Resource
	object := inst.CRN
	if c.opts.Rules.KMSScope == authz.ScopeKey {
		object = obj.CRN.String()
	}
	unlock := c.locks.lock(object)
	defer unlock()

	var key *ibm.Key
	readKey := c.opts.Rules.KMSScope == authz.ScopeKey || (obj.KeyType == "" && !obj.KeyRemoved)
	if readKey {
		var err error
		if key, err = c.keys.Get(ctx, inst, keyID); err != nil {
			return failed(object, err)
		}
		if key != nil && !key.Root && !key.Deleted {
			return Result{Object: object, Outcome: Ignored, Reason: "standard key: it needs no authorization"}
		}
	}
	if c.opts.Rules.KMSScope == authz.ScopeKey {
		var root *authz.RootKey
		if key != nil && !key.Deleted {
			root = &key.RootKey
		}
		return c.plan(ctx, object, c.opts.Rules.ForKey(root))
	}
	current, err := c.instances.Get(ctx, inst.GUID)
	if err != nil {
		return failed(object, err)
	}
	return c.plan(ctx, object, c.opts.Rules.ForInstance(current))
}

func (c *Converger) plan(ctx context.Context, object string, desired []authz.Authorization) Result {
	existing, err := c.policies.Relevant(ctx, object, desired)
	if err != nil {
		return failed(object, err)
	}
	p := plan.Compute(desired, existing, c.opts.Mode)
	report := apply.Apply(ctx, c.policies, p, apply.Options{DryRun: c.opts.DryRun, UpsertOnly: c.opts.Mode == plan.ModeUpsertOnly})
	r := Result{Object: object, Plan: p, Report: report, Err: report.Err()}
	switch {
	case r.Err != nil:
		r.Outcome = Failed
	case report.Writes() > 0:
		r.Outcome = Applied
	case c.opts.DryRun && p.Writes() > 0:
		r.Outcome = Planned
	default:
		r.Outcome = Unchanged
	}
	return r
}

func failed(object string, err error) Result {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		err = &ibm.APIError{Op: "converge " + object, Err: err}
	}
	return Result{Object: object, Outcome: Failed, Err: err}
}
