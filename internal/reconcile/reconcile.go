// Package reconcile converges the whole account in one run: it reads every snapshot of the
// configured regions, every KMS instance (and, in key scope, every root key) and every
// authorization policy once, computes one plan for the account with the same pure functions the
// event path uses, and applies it with bounded concurrency and a write rate limit. It heals what
// events missed and what people changed by hand.
package reconcile

import (
	"context"
	"fmt"
	"time"

	"golang.org/x/time/rate"

	"github.com/s2s-authorizer/s2s-authorizer/internal/apply"
	"github.com/s2s-authorizer/s2s-authorizer/internal/authz"
	"github.com/s2s-authorizer/s2s-authorizer/internal/crn"
	"github.com/s2s-authorizer/s2s-authorizer/internal/plan"
)

// Snapshots lists a region's snapshots page by page.
type Snapshots interface {
	List(ctx context.Context, region string, fn func([]authz.Snapshot) error) error
}

// Instances lists the account's active KMS instances.
type Instances interface {
	List(ctx context.Context) ([]authz.KMSInstance, error)
}

// Keys lists an instance's active root keys.
type Keys interface {
	RootKeys(ctx context.Context, inst authz.KMSInstance) ([]authz.RootKey, error)
}

// Policies lists every policy afresh and writes.
type Policies interface {
	Refresh(ctx context.Context) ([]authz.Policy, error)
	apply.Writer
}

// Options configure a run.
type Options struct {
	Rules   authz.Rules
	Regions []string
	Mode    plan.Mode
	DryRun  bool
	// Concurrency bounds writes in flight; 4 when below 1.
	Concurrency int
	// MaxWritesPerSecond paces writes for IAM's rate limits; 5 when 0, unlimited when negative.
	MaxWritesPerSecond float64
	// Ready, when set, makes sure before the run that what the rules need from IBM (the role
	// CRNs IAM offers) is known; its error stops the run before any read.
	Ready func(ctx context.Context) error
}

// Report is what a run found and did.
type Report struct {
	Plan     plan.Plan
	Applied  apply.Report
	Refusals []authz.Refusal
	// ReadErrors are the parts of the account that could not be read; managed policies of
	// objects there were left alone, since their objects' state is unknown.
	ReadErrors []error
	// OutOfScope counts managed policies left alone because their object is outside what this
	// run read (another region, an unreadable part).
	OutOfScope int
	Snapshots  int
	Instances  int
	RootKeys   int
	// BackupPolicies counts the Backup for VPC policies of the regions (backup.go).
	BackupPolicies int
	Policies       int
	Duration       time.Duration
}

// Failed reports whether anything went wrong: a read or a write.
func (r Report) Failed() bool { return len(r.ReadErrors) > 0 || r.Applied.Err() != nil }

// Reconciler runs full reconciles.
type Reconciler struct {
	opts      Options
	snapshots Snapshots
	instances Instances
	keys      Keys
	policies  Policies
	backups   BackupPolicies // backup.go
}

// New builds a Reconciler over the adapters.
func New(o Options, snapshots Snapshots, instances Instances, keys Keys, policies Policies) *Reconciler {
	if o.Concurrency < 1 {
		o.Concurrency = 4
	}
	if o.MaxWritesPerSecond == 0 {
		o.MaxWritesPerSecond = 5
	}
	return &Reconciler{opts: o, snapshots: snapshots, instances: instances, keys: keys, policies: policies}
}

// scope records which objects this run knows the state of.
type scope struct {
	regions        map[string]bool // listed completely
	instancesKnown bool
	instances      map[string]bool // GUIDs of active instances
	keysKnown      map[string]bool // instance GUIDs whose root keys were listed
	backupKnown    bool            // whether the account backs up is known (backup.go)
}

// Run reads, plans and (unless dry-run) applies.
func (r *Reconciler) Run(ctx context.Context) Report {
	start := time.Now()
	rep := Report{}
	sc := scope{regions: map[string]bool{}, instances: map[string]bool{}, keysKnown: map[string]bool{}}
	var desired []authz.Authorization

	if r.opts.Ready != nil {
		if err := r.opts.Ready(ctx); err != nil {
			rep.ReadErrors = append(rep.ReadErrors, err)
			rep.Duration = time.Since(start)
			return rep
		}
	}
	policies, err := r.policies.Refresh(ctx)
	if err != nil {
		// Without the policies there is nothing to compare with: stop before writing anything.
		rep.ReadErrors = append(rep.ReadErrors, fmt.Errorf("list policies: %w", err))
		rep.Duration = time.Since(start)
		return rep
	}
	rep.Policies = len(policies)

	for _, region := range r.opts.Regions {
		err := r.snapshots.List(ctx, region, func(page []authz.Snapshot) error {
			for i := range page {
				d, refusals := r.opts.Rules.ForSnapshot(&page[i])
				desired = append(desired, d...)
				rep.Refusals = append(rep.Refusals, refusals...)
			}
			rep.Snapshots += len(page)
			return nil
		})
		if err != nil {
			rep.ReadErrors = append(rep.ReadErrors, fmt.Errorf("list snapshots in %s: %w", region, err))
			continue
		}
		sc.regions[region] = true
	}

	instances, err := r.instances.List(ctx)
	if err != nil {
		rep.ReadErrors = append(rep.ReadErrors, fmt.Errorf("list KMS instances: %w", err))
	} else {
		sc.instancesKnown = true
		rep.Instances = len(instances)
		for i := range instances {
			inst := &instances[i]
			sc.instances[inst.GUID] = true
			desired = append(desired, r.opts.Rules.ForInstance(inst)...)
			if r.opts.Rules.KMSScope != authz.ScopeKey {
				continue
			}
			keys, err := r.keys.RootKeys(ctx, *inst)
			if err != nil {
				rep.ReadErrors = append(rep.ReadErrors, fmt.Errorf("list root keys of %s: %w", inst.CRN, err))
				continue
			}
			sc.keysKnown[inst.GUID] = true
			rep.RootKeys += len(keys)
			for j := range keys {
				desired = append(desired, r.opts.Rules.ForKey(&keys[j])...)
			}
		}
	}

	backups, known := r.backup(ctx, &rep)
	desired, sc.backupKnown = append(desired, backups...), known

	existing := make([]authz.Policy, 0, len(policies))
	for _, p := range policies {
		owner, managed := p.Owner()
		if managed && !sc.covers(owner.Object, r.opts.Rules) {
			rep.OutOfScope++
			continue
		}
		existing = append(existing, p)
	}
	rep.Plan = plan.Compute(desired, existing, r.opts.Mode)

	limit := rate.Inf
	if r.opts.MaxWritesPerSecond > 0 {
		limit = rate.Limit(r.opts.MaxWritesPerSecond)
	}
	rep.Applied = apply.Apply(ctx, r.policies, rep.Plan, apply.Options{
		DryRun: r.opts.DryRun, Concurrency: r.opts.Concurrency, Limiter: rate.NewLimiter(limit, 1),
	})
	rep.Duration = time.Since(start)
	return rep
}

// covers reports whether this run read the state of object, so that a managed policy of it may
// be deleted when it is not wanted. The object's kind comes from the rules' one mapping of CRNs.
func (s scope) covers(object string, rules authz.Rules) bool {
	c, err := crn.Parse(object)
	if err != nil {
		return false
	}
	t, err := rules.Target(c)
	if err != nil || t.Foreign {
		return false
	}
	switch t.Kind {
	case authz.ObjectSnapshot:
		return s.regions[c.Location]
	case authz.ObjectKMSInstance:
		return s.instancesKnown
	case authz.ObjectKMSKey:
		if !s.instancesKnown {
			return false
		}
		// A key of a vanished instance is gone too; in instance scope no key wants a policy.
		return !s.instances[c.ServiceInstance] || rules.KMSScope != authz.ScopeKey || s.keysKnown[c.ServiceInstance]
	case authz.ObjectBackup:
		return s.backupKnown
	}
	return false
}
