// Package reconcile converges the whole account in one run: it reads every snapshot of the
// configured regions, every KMS instance (and, in key scope, every root key) and every
// authorization policy once, computes one plan for the account with the same pure functions the
// event path uses, and applies it with bounded concurrency and a write rate limit. It heals what
// events missed and what people changed by hand.
package reconcile

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/s2s-authorizer/s2s-authorizer/internal/apply"
	"github.com/s2s-authorizer/s2s-authorizer/internal/authz"
	"github.com/s2s-authorizer/s2s-authorizer/internal/converge"
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
	// Concurrency bounds the objects converged at once; 4 when below 1. Writes are paced by the
	// converger's limiter, which the event path shares.
	Concurrency int
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
	// ObjectErrors are objects whose converge failed before it planned anything.
	ObjectErrors []error
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
func (r Report) Failed() bool {
	return len(r.ReadErrors) > 0 || len(r.ObjectErrors) > 0 || r.Applied.Err() != nil
}

// Converger converges one object, as for an event.
type Converger interface {
	Converge(ctx context.Context, obj converge.Object) converge.Result
}

// Reconciler runs full reconciles.
type Reconciler struct {
	opts      Options
	converger Converger
	snapshots Snapshots
	instances Instances
	keys      Keys
	policies  Policies
	backups   BackupPolicies // backup.go
}

// New builds a Reconciler over the adapters.
func New(o Options, c Converger, snapshots Snapshots, instances Instances, keys Keys, policies Policies) *Reconciler {
	if o.Concurrency < 1 {
		o.Concurrency = 4
	}
	return &Reconciler{opts: o, converger: c, snapshots: snapshots, instances: instances, keys: keys, policies: policies}
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
	// The account's lists are independent: they run at once, so that the read phase takes as
	// long as the slowest list, not their sum. Pages are streamed: a snapshot is kept only as
	// the grants it asks for.
	var (
		mu          sync.Mutex // guards rep, desired and sc while the lists run
		wg          sync.WaitGroup
		policies    []authz.Policy
		policiesErr error
	)
	wg.Add(1)
	go func() {
		defer wg.Done()
		policies, policiesErr = r.policies.Refresh(ctx)
	}()
	for _, region := range r.opts.Regions {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var want []authz.Authorization
			var refused []authz.Refusal
			n := 0
			err := r.snapshots.List(ctx, region, func(page []authz.Snapshot) error {
				for i := range page {
					d, refusals := r.opts.Rules.ForSnapshot(&page[i])
					want = append(want, d...)
					refused = append(refused, refusals...)
				}
				n += len(page)
				return nil
			})
			mu.Lock()
			defer mu.Unlock()
			rep.Snapshots += n
			if err != nil {
				rep.ReadErrors = append(rep.ReadErrors, fmt.Errorf("list snapshots in %s: %w", region, err))
				return
			}
			desired = append(desired, want...)
			rep.Refusals = append(rep.Refusals, refused...)
			sc.regions[region] = true
		}()
	}
	// The backup policy probe is one more list, run with the others; its findings are merged
	// below, after the policies are known to have been read, as when it ran after them.
	var (
		backups     []authz.Authorization
		backupKnown bool
		backupRep   Report
	)
	wg.Add(1)
	go func() {
		defer wg.Done()
		backups, backupKnown = r.backup(ctx, &backupRep)
	}()
	wg.Add(1)
	go func() {
		defer wg.Done()
		want := r.readKMS(ctx, &mu, &rep, &sc)
		mu.Lock()
		desired = append(desired, want...)
		mu.Unlock()
	}()
	wg.Wait()
	if policiesErr != nil {
		// Without the policies there is nothing to compare with: stop before writing anything.
		rep.ReadErrors = append([]error{fmt.Errorf("list policies: %w", policiesErr)}, rep.ReadErrors...)
		rep.Duration = time.Since(start)
		return rep
	}
	rep.Policies = len(policies)
	// The lists finished in any order; the report reads the same every time.
	slices.SortFunc(rep.Refusals, func(a, b authz.Refusal) int { return strings.Compare(a.Object+a.Tag, b.Object+b.Tag) })
	slices.SortFunc(rep.ReadErrors, func(a, b error) int { return strings.Compare(a.Error(), b.Error()) })

	rep.ReadErrors = append(rep.ReadErrors, backupRep.ReadErrors...)
	rep.BackupPolicies += backupRep.BackupPolicies
	desired, sc.backupKnown = append(desired, backups...), backupKnown

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
	if r.opts.DryRun {
		rep.Applied = apply.Apply(ctx, r.policies, rep.Plan, apply.Options{DryRun: true})
	} else {
		r.converge(ctx, &rep)
	}
	rep.Duration = time.Since(start)
	return rep
}

// readKMS lists the KMS instances (and, in key scope, their root keys) and gives the grants
// they ask for; failures and counts go to rep and sc under mu.
func (r *Reconciler) readKMS(ctx context.Context, mu *sync.Mutex, rep *Report, sc *scope) []authz.Authorization {
	instances, err := r.instances.List(ctx)
	mu.Lock()
	defer mu.Unlock()
	if err != nil {
		rep.ReadErrors = append(rep.ReadErrors, fmt.Errorf("list KMS instances: %w", err))
		return nil
	}
	var desired []authz.Authorization
	sc.instancesKnown = true
	rep.Instances = len(instances)
	for i := range instances {
		inst := &instances[i]
		sc.instances[inst.GUID] = true
		desired = append(desired, r.opts.Rules.ForInstance(inst)...)
		if r.opts.Rules.KMSScope != authz.ScopeKey {
			continue
		}
		mu.Unlock()
		keys, err := r.keys.RootKeys(ctx, *inst)
		mu.Lock()
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
	return desired
}

// converge writes what the plan wants written, object by object through the same converger as
// events, under the same per-object lock: the listing is minutes old by the time of a write,
// and an event may have changed the object since, so each object the plan would write is read
// again and converged from that read (verify after write included). Changes that write nothing
// are reported as planned.
func (r *Reconciler) converge(ctx context.Context, rep *Report) {
	var quiet plan.Plan
	var objects []string
	seen := map[string]bool{}
	for _, c := range rep.Plan.Changes {
		switch c.Action {
		case plan.Create, plan.Delete, plan.Replace:
			if o := c.Object(); !seen[o] {
				seen[o] = true
				objects = append(objects, o)
			}
		}
	}
	for _, c := range rep.Plan.Changes {
		if !seen[c.Object()] {
			quiet.Changes = append(quiet.Changes, c)
		}
	}
	rep.Applied = apply.Apply(ctx, r.policies, quiet, apply.Options{})
	results := make([]converge.Result, len(objects))
	sem := make(chan struct{}, r.opts.Concurrency)
	var wg sync.WaitGroup
	for i, o := range objects {
		obj, err := r.object(o)
		if err != nil {
			results[i] = converge.Result{Object: o, Outcome: converge.Failed, Err: err}
			continue
		}
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			results[i] = r.converger.Converge(ctx, obj)
		}()
	}
	wg.Wait()
	for _, res := range results {
		rep.Applied.Results = append(rep.Applied.Results, res.Report.Results...)
		rep.Refusals = appendNew(rep.Refusals, res.Refusals)
		if res.Err != nil && len(res.Report.Results) == 0 {
			rep.ObjectErrors = append(rep.ObjectErrors, fmt.Errorf("%s: %w", res.Object, res.Err))
		}
	}
}

// object is the object a plan line's CRN names, addressed by that CRN (a key-scope policy's key
// in instance scope too, so that the policy is found).
func (r *Reconciler) object(object string) (converge.Object, error) {
	c, err := crn.Parse(object)
	if err != nil {
		return converge.Object{}, err
	}
	t, err := r.opts.Rules.Target(c)
	if err != nil {
		return converge.Object{}, err
	}
	t.Object = object
	// The run's own listing is the fresh read of its decisions: the index was refreshed at its
	// start and is written through since.
	return converge.Object{Target: t}, nil
}

// appendNew adds the refusals not there yet: the converger reads again what the listing read.
func appendNew(have, more []authz.Refusal) []authz.Refusal {
	for _, m := range more {
		if !slices.Contains(have, m) {
			have = append(have, m)
		}
	}
	return have
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
