package converge_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/s2s-authorizer/s2s-authorizer/internal/apply"
	"github.com/s2s-authorizer/s2s-authorizer/internal/authz"
	"github.com/s2s-authorizer/s2s-authorizer/internal/converge"
	"github.com/s2s-authorizer/s2s-authorizer/internal/fixture"
	"github.com/s2s-authorizer/s2s-authorizer/internal/plan"
)

// The fakes of the converger's ports: each method calls its function field.

type fakeSnapshots struct {
	get func(ctx context.Context, region, id string) (*authz.Snapshot, error)
}

func (f fakeSnapshots) Get(ctx context.Context, region, id string) (*authz.Snapshot, error) {
	return f.get(ctx, region, id)
}

type fakeInstances struct {
	get func(ctx context.Context, id string) (*authz.KMSInstance, error)
}

func (f fakeInstances) Get(ctx context.Context, id string) (*authz.KMSInstance, error) {
	return f.get(ctx, id)
}

type fakeKeys struct {
	get func(ctx context.Context, inst authz.KMSInstance, keyID string) (*authz.Key, error)
}

func (f fakeKeys) Get(ctx context.Context, inst authz.KMSInstance, keyID string) (*authz.Key, error) {
	return f.get(ctx, inst, keyID)
}

type fakePolicies struct {
	relevant func(ctx context.Context, object string, desired []authz.Authorization) ([]authz.Policy, error)
	fresh    func(ctx context.Context, object string, services []string, desired []authz.Authorization) ([]authz.Policy, error)
	confirm  func(ctx context.Context, id string) (bool, error)
	create   func(ctx context.Context, a authz.Authorization) (authz.Policy, error)
	delete   func(ctx context.Context, id string) error
}

func (f fakePolicies) Relevant(ctx context.Context, object string, desired []authz.Authorization) ([]authz.Policy, error) {
	return f.relevant(ctx, object, desired)
}

func (f fakePolicies) Fresh(ctx context.Context, object string, services []string, desired []authz.Authorization) ([]authz.Policy, error) {
	return f.fresh(ctx, object, services, desired)
}

func (f fakePolicies) Confirm(ctx context.Context, id string) (bool, error) {
	return f.confirm(ctx, id)
}

// Listed: the fakes answer from the account's truth, as a cache that has listed.
func (f fakePolicies) Listed() bool { return true }

func (f fakePolicies) Create(ctx context.Context, a authz.Authorization) (authz.Policy, error) {
	return f.create(ctx, a)
}

func (f fakePolicies) Delete(ctx context.Context, id string) error { return f.delete(ctx, id) }

// account is an in-memory account behind the fakes: the sample world's snapshots, KMS
// instances and keys, and its policies; it logs every call as "<port> <argument>".
type account struct {
	mu        sync.Mutex
	snapshots map[string]*authz.Snapshot
	instances map[string]*authz.KMSInstance
	keys      map[string]*authz.Key
	policies  map[string]authz.Policy
	next      int
	calls     []string
}

func sampleAccount(policies ...authz.Policy) *account {
	kp := authz.KMSInstance{CRN: fixture.KPCRN, Service: "kms", GUID: fixture.KPGUID}
	hpcs := authz.KMSInstance{CRN: fixture.HPCSCRN, Service: "hs-crypto", GUID: fixture.HPCSGUID}
	a := &account{
		snapshots: map[string]*authz.Snapshot{
			fixture.Snap:      {ID: fixture.Snap, CRN: fixture.SnapCRN, UserTags: []string{"s2s-restore:" + fixture.Restorer, "env:prod"}},
			fixture.SnapPlain: {ID: fixture.SnapPlain, CRN: fixture.SnapPlainCRN},
			fixture.SnapEU:    {ID: fixture.SnapEU, CRN: fixture.SnapEUCRN},
		},
		instances: map[string]*authz.KMSInstance{fixture.KPGUID: &kp, fixture.HPCSGUID: &hpcs},
		keys: map[string]*authz.Key{
			fixture.RootKey: {RootKey: authz.RootKey{Instance: kp, ID: fixture.RootKey, CRN: fixture.RootKeyCRN}, Root: true},
			fixture.StdKey:  {RootKey: authz.RootKey{Instance: kp, ID: fixture.StdKey, CRN: fixture.StdKeyCRN}},
			fixture.HPCSKey: {RootKey: authz.RootKey{Instance: hpcs, ID: fixture.HPCSKey, CRN: fixture.HPCSKeyCRN}, Root: true},
		},
		policies: map[string]authz.Policy{},
	}
	for _, p := range policies {
		a.policies[p.ID] = p
	}
	return a
}

func (a *account) log(call string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.calls = append(a.calls, call)
}

// called returns the calls logged whose port is one of ports, in order.
func (a *account) called(ports ...string) []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []string
	for _, c := range a.calls {
		if slices.Contains(ports, strings.Fields(c)[0]) {
			out = append(out, c)
		}
	}
	return out
}

func (a *account) getSnapshot(_ context.Context, region, id string) (*authz.Snapshot, error) {
	a.log("snapshot " + region + "/" + id)
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.snapshots[id], nil
}

func (a *account) getInstance(_ context.Context, id string) (*authz.KMSInstance, error) {
	a.log("instance " + id)
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.instances[id], nil
}

func (a *account) getKey(_ context.Context, inst authz.KMSInstance, keyID string) (*authz.Key, error) {
	a.log("key " + inst.GUID + "/" + keyID)
	a.mu.Lock()
	defer a.mu.Unlock()
	k := a.keys[keyID]
	if k == nil || k.Instance.GUID != inst.GUID {
		return nil, nil
	}
	return k, nil
}

// relevant answers as the policy index does: the object's managed policies and every policy
// whose grant equals a desired one.
func (a *account) relevant(_ context.Context, object string, desired []authz.Authorization) ([]authz.Policy, error) {
	a.log("relevant " + object)
	return a.policiesOf(object, desired), nil
}

func (a *account) policiesOf(object string, desired []authz.Authorization) []authz.Policy {
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []authz.Policy
	for _, p := range a.policies {
		o, ours := p.Owner()
		if (ours && o.Object == object) || slices.ContainsFunc(desired, func(d authz.Authorization) bool { return d.Key() == p.Key() }) {
			out = append(out, p)
		}
	}
	return out
}

// fresh answers like relevant, from the account's truth: the fake has no cache to be stale.
func (a *account) fresh(ctx context.Context, object string, _ []string, desired []authz.Authorization) ([]authz.Policy, error) {
	a.log("fresh " + object)
	return a.policiesOf(object, desired), nil
}

// confirm says whether the policy is there.
func (a *account) confirm(_ context.Context, id string) (bool, error) {
	a.log("confirm " + id)
	a.mu.Lock()
	defer a.mu.Unlock()
	_, ok := a.policies[id]
	return ok, nil
}

// create keeps the Writer contract: one policy per type, subject and resource.
func (a *account) create(_ context.Context, az authz.Authorization) (authz.Policy, error) {
	a.log("create " + az.Object)
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, p := range a.policies {
		if p.AttributesKey() == az.AttributesKey() {
			return authz.Policy{}, &apply.ConflictError{Existing: p}
		}
	}
	a.next++
	p := fixture.Managed(fmt.Sprintf("p%d", a.next), az)
	a.policies[p.ID] = p
	return p, nil
}

func (a *account) delete(_ context.Context, id string) error {
	a.log("delete " + id)
	a.mu.Lock()
	defer a.mu.Unlock()
	if _, ok := a.policies[id]; !ok {
		return fmt.Errorf("delete %s: %w", id, apply.ErrNotFound)
	}
	delete(a.policies, id)
	return nil
}

// ports are the fakes over the account; a test replaces a function to change one answer.
type ports struct {
	snapshots fakeSnapshots
	instances fakeInstances
	keys      fakeKeys
	policies  fakePolicies
}

func (a *account) ports() ports {
	return ports{
		snapshots: fakeSnapshots{get: a.getSnapshot},
		instances: fakeInstances{get: a.getInstance},
		keys:      fakeKeys{get: a.getKey},
		policies:  fakePolicies{relevant: a.relevant, fresh: a.fresh, confirm: a.confirm, create: a.create, delete: a.delete},
	}
}

func (p ports) converger(o converge.Options) *converge.Converger {
	if o.Mode == "" {
		o.Mode = plan.ModeSync
	}
	if o.Rules.AccountID == "" {
		o.Rules = fixture.Rules(authz.ScopeInstance)
	}
	return converge.New(o, p.snapshots, p.instances, p.keys, p.policies)
}

func object(scope authz.Scope, s string) converge.Object {
	return converge.Object{Target: fixture.Target(scope, s)}
}

// TestSameObjectIsSerialised: 16 deliveries for one snapshot at once create its policy once,
// without even a conflict, because they queue on the object's lock: no two ever read it at once.
func TestSameObjectIsSerialised(t *testing.T) {
	acct := sampleAccount()
	p := acct.ports()
	var mu sync.Mutex
	inside, overlaps := 0, 0
	p.snapshots.get = func(ctx context.Context, region, id string) (*authz.Snapshot, error) {
		mu.Lock()
		inside++
		if inside > 1 {
			overlaps++
		}
		mu.Unlock()
		time.Sleep(time.Millisecond) // long enough for an unserialised converger to overlap
		defer func() { mu.Lock(); inside--; mu.Unlock() }()
		return acct.getSnapshot(ctx, region, id)
	}
	c := p.converger(converge.Options{})
	var wg sync.WaitGroup
	results := make([]converge.Result, 16)
	for i := range results {
		wg.Go(func() { results[i] = c.Converge(context.Background(), object(authz.ScopeInstance, fixture.SnapCRN)) })
	}
	wg.Wait()
	applied := 0
	for _, r := range results {
		if r.Err != nil {
			t.Fatal(r.Err)
		}
		if r.Outcome == converge.Applied {
			applied++
		}
	}
	creates := acct.called("create")
	if applied != 1 || len(creates) != 1 || overlaps != 0 {
		t.Errorf("%d applied, creates %v, %d overlapping reads; want exactly 1 applied, 1 create, no overlap", applied, creates, overlaps)
	}
}

// TestDifferentObjectsRunInParallel: one slow object does not hold up another.
func TestDifferentObjectsRunInParallel(t *testing.T) {
	acct := sampleAccount()
	p := acct.ports()
	release := make(chan struct{})
	p.snapshots.get = func(ctx context.Context, region, id string) (*authz.Snapshot, error) {
		if id == fixture.Snap {
			<-release // stuck until the other object is done
		}
		return acct.getSnapshot(ctx, region, id)
	}
	c := p.converger(converge.Options{})
	slow := make(chan converge.Result)
	go func() { slow <- c.Converge(context.Background(), object(authz.ScopeInstance, fixture.SnapCRN)) }()
	done := make(chan converge.Result)
	go func() { done <- c.Converge(context.Background(), object(authz.ScopeInstance, fixture.SnapPlainCRN)) }()
	select {
	case r := <-done:
		if r.Outcome != converge.Unchanged {
			t.Errorf("the untagged snapshot: %s (%v), want unchanged", r.Outcome, r.Err)
		}
	case <-time.After(5 * time.Second):
		t.Error("an object waited for another one")
	}
	close(release)
	if r := <-slow; r.Outcome != converge.Applied {
		t.Errorf("the tagged snapshot: %s (%v), want applied", r.Outcome, r.Err)
	}
}

// TestKeyEvents covers what a key event reads and decides in each scope.
func TestKeyEvents(t *testing.T) {
	unknownKey := fixture.KeyCRN("kms", fixture.Account, "us-south", fixture.KPGUID, "00000000-0000-4000-8000-0000000beef0")
	keyRead := "key " + fixture.KPGUID + "/" + fixture.RootKey
	tests := []struct {
		name        string
		scope       authz.Scope
		key         string
		keyType     string
		removed     bool
		existing    []authz.Policy
		wantOutcome converge.Outcome
		wantReason  string
		wantReads   []string // the reads of keys and instances, in order
		wantWrites  []string
	}{
		{
			name: "instance scope, type given", scope: authz.ScopeInstance, key: fixture.RootKeyCRN, keyType: authz.RootKeyType,
			wantOutcome: converge.Applied, wantReads: []string{"instance " + fixture.KPGUID}, wantWrites: []string{"create " + fixture.KPCRN},
		},
		{
			name: "instance scope, type unknown: read", scope: authz.ScopeInstance, key: fixture.RootKeyCRN,
			wantOutcome: converge.Applied, wantReads: []string{keyRead, "instance " + fixture.KPGUID}, wantWrites: []string{"create " + fixture.KPCRN},
		},
		{
			name: "instance scope, an undocumented type: read", scope: authz.ScopeInstance, key: fixture.RootKeyCRN, keyType: "rootKey",
			wantOutcome: converge.Applied, wantReads: []string{keyRead, "instance " + fixture.KPGUID}, wantWrites: []string{"create " + fixture.KPCRN},
		},
		{
			name: "instance scope, standard key found by reading", scope: authz.ScopeInstance, key: fixture.StdKeyCRN,
			wantOutcome: converge.Ignored, wantReason: authz.StandardKeyReason, wantReads: []string{"key " + fixture.KPGUID + "/" + fixture.StdKey},
		},
		{
			name: "instance scope, removed: no read", scope: authz.ScopeInstance, key: fixture.RootKeyCRN, removed: true,
			wantOutcome: converge.Applied, wantReads: []string{"instance " + fixture.KPGUID}, wantWrites: []string{"create " + fixture.KPCRN},
		},
		{
			name: "instance scope, the instance's grant is there: unchanged", scope: authz.ScopeInstance, key: fixture.RootKeyCRN, keyType: authz.RootKeyType,
			existing:    []authz.Policy{fixture.Managed("kp", fixture.Encryption(fixture.Account))},
			wantOutcome: converge.Unchanged, wantReads: []string{"instance " + fixture.KPGUID},
		},
		{
			name: "key scope always reads", scope: authz.ScopeKey, key: fixture.RootKeyCRN, keyType: authz.RootKeyType,
			wantOutcome: converge.Applied, wantReads: []string{keyRead}, wantWrites: []string{"create " + fixture.RootKeyCRN},
		},
		{
			name: "key scope, standard key: ignored", scope: authz.ScopeKey, key: fixture.StdKeyCRN, keyType: authz.RootKeyType,
			wantOutcome: converge.Ignored, wantReason: authz.StandardKeyReason, wantReads: []string{"key " + fixture.KPGUID + "/" + fixture.StdKey},
		},
		{
			name: "key scope, unknown key: nothing wanted", scope: authz.ScopeKey, key: unknownKey,
			wantOutcome: converge.Unchanged, wantReads: []string{"key " + fixture.KPGUID + "/00000000-0000-4000-8000-0000000beef0"},
		},
		{
			name: "key scope, removed key: its grant goes", scope: authz.ScopeKey, key: unknownKey, removed: true,
			existing:    []authz.Policy{stale("gone-key", unknownKey)},
			wantOutcome: converge.Applied, wantReads: []string{"key " + fixture.KPGUID + "/00000000-0000-4000-8000-0000000beef0"}, wantWrites: []string{"delete gone-key"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			acct := sampleAccount(tt.existing...)
			c := acct.ports().converger(converge.Options{Rules: fixture.Rules(tt.scope)})
			obj := object(tt.scope, tt.key)
			obj.KeyType, obj.KeyRemoved = tt.keyType, tt.removed
			r := c.Converge(context.Background(), obj)
			if r.Outcome != tt.wantOutcome || r.Reason != tt.wantReason || r.Err != nil {
				t.Errorf("outcome %s %q (%v), want %s %q", r.Outcome, r.Reason, r.Err, tt.wantOutcome, tt.wantReason)
			}
			wantReads := tt.wantReads
			if len(tt.wantWrites) > 0 {
				// After a write the object is read again, to verify that its state did not change
				// meanwhile.
				wantReads = append(slices.Clone(wantReads), wantReads...)
			}
			if diff := cmp.Diff(wantReads, acct.called("key", "instance")); diff != "" {
				t.Errorf("reads (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.wantWrites, acct.called("create", "delete")); diff != "" {
				t.Errorf("writes (-want +got):\n%s", diff)
			}
		})
	}
}

// stale is a managed encryption policy recorded for object, whose key or instance is gone.
// stale is our key-scope policy of the key object: its grant names that key, as the template
// wants (a marker naming another key than the grant would be an imitation).
func stale(id, object string) authz.Policy {
	a := fixture.KeyEncryption(fixture.Account)
	a.Object = object
	keyID := object[strings.LastIndex(object, ":")+1:]
	resources := make([]authz.Attribute, len(a.Resources))
	for i, r := range a.Resources {
		if r.Name == "resource" {
			r.Value = keyID
		}
		resources[i] = r
	}
	a.Resources = resources
	return fixture.Managed(id, a)
}

// TestObjects covers snapshots and instances: what they want decides, whatever the event said.
func TestObjects(t *testing.T) {
	ours := fixture.Managed("ours", fixture.Restore(fixture.Restorer))
	tests := []struct {
		name        string
		object      string
		change      func(*account)
		existing    []authz.Policy
		wantOutcome converge.Outcome
		wantWrites  []string
		wantRefused []string // the refused tags
	}{
		{name: "tagged snapshot: its restore grant is created", object: fixture.SnapCRN,
			wantOutcome: converge.Applied, wantWrites: []string{"create " + fixture.SnapCRN}},
		{name: "tagged snapshot with its grant: unchanged", object: fixture.SnapCRN, existing: []authz.Policy{ours},
			wantOutcome: converge.Unchanged},
		{name: "untagged snapshot: nothing to do", object: fixture.SnapPlainCRN,
			wantOutcome: converge.Unchanged},
		{name: "tag removed: the grant goes", object: fixture.SnapCRN, existing: []authz.Policy{ours},
			change:      func(a *account) { a.snapshots[fixture.Snap].UserTags = nil },
			wantOutcome: converge.Applied, wantWrites: []string{"delete ours"}},
		{name: "snapshot deleted: the grant goes", object: fixture.SnapCRN, existing: []authz.Policy{ours},
			change:      func(a *account) { delete(a.snapshots, fixture.Snap) },
			wantOutcome: converge.Applied, wantWrites: []string{"delete ours"}},
		{name: "a tag for an account not allowed: refused, nothing written", object: fixture.SnapPlainCRN,
			change: func(a *account) {
				a.snapshots[fixture.SnapPlain].UserTags = []string{"s2s-restore:" + fixture.Stranger}
			},
			wantOutcome: converge.Refused, wantRefused: []string{"s2s-restore:" + fixture.Stranger}},
		{name: "an allowed and a refused tag: applied, the refusal reported", object: fixture.SnapPlainCRN,
			change: func(a *account) {
				a.snapshots[fixture.SnapPlain].UserTags = []string{"s2s-restore:" + fixture.Stranger, "s2s-restore:" + fixture.Restorer}
			},
			wantOutcome: converge.Applied, wantWrites: []string{"create " + fixture.SnapPlainCRN}, wantRefused: []string{"s2s-restore:" + fixture.Stranger}},
		{name: "KMS instance: its encryption grant is created", object: fixture.HPCSCRN,
			wantOutcome: converge.Applied, wantWrites: []string{"create " + fixture.HPCSCRN}},
		{name: "KMS instance deleted: its grant goes", object: fixture.KPCRN, existing: []authz.Policy{fixture.Managed("kp", fixture.Encryption(fixture.Account))},
			change:      func(a *account) { delete(a.instances, fixture.KPGUID) },
			wantOutcome: converge.Applied, wantWrites: []string{"delete kp"}},
		{name: "a policy made by hand that covers the grant: unchanged", object: fixture.SnapCRN,
			existing:    []authz.Policy{fixture.HandMade("theirs", fixture.Restore(fixture.Restorer).Grant)},
			wantOutcome: converge.Unchanged},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			acct := sampleAccount(tt.existing...)
			if tt.change != nil {
				tt.change(acct)
			}
			r := acct.ports().converger(converge.Options{}).Converge(context.Background(), object(authz.ScopeInstance, tt.object))
			if r.Outcome != tt.wantOutcome || r.Err != nil || r.Object != tt.object {
				t.Errorf("%s: outcome %s (%v), want %s for %s", r.Object, r.Outcome, r.Err, tt.wantOutcome, tt.object)
			}
			if diff := cmp.Diff(tt.wantWrites, acct.called("create", "delete")); diff != "" {
				t.Errorf("writes (-want +got):\n%s", diff)
			}
			var refused []string
			for _, ref := range r.Refusals {
				refused = append(refused, ref.Tag)
			}
			if diff := cmp.Diff(tt.wantRefused, refused); diff != "" {
				t.Errorf("refused tags (-want +got):\n%s", diff)
			}
		})
	}
}

// TestUpsertOnlyKeepsWhatIsNoLongerWanted: in upsert-only mode a grant no longer wanted stays.
func TestUpsertOnlyKeepsWhatIsNoLongerWanted(t *testing.T) {
	acct := sampleAccount(fixture.Managed("ours", fixture.Restore(fixture.Restorer)))
	acct.snapshots[fixture.Snap].UserTags = nil
	r := acct.ports().converger(converge.Options{Mode: plan.ModeUpsertOnly}).Converge(context.Background(), object(authz.ScopeInstance, fixture.SnapCRN))
	if r.Outcome != converge.Unchanged || r.Report.Count()[apply.Retained] != 1 || len(acct.called("create", "delete")) != 0 {
		t.Errorf("outcome %s, results %v, writes %v; want unchanged, 1 retained, no write", r.Outcome, r.Report.Count(), acct.called("create", "delete"))
	}
}

// TestDryRun plans without writing.
func TestDryRun(t *testing.T) {
	acct := sampleAccount()
	c := acct.ports().converger(converge.Options{DryRun: true})
	r := c.Converge(context.Background(), object(authz.ScopeInstance, fixture.SnapCRN))
	writes := acct.called("create", "delete")
	if r.Outcome != converge.Planned || r.Report.Count()[apply.Planned] != 1 || len(writes) != 0 {
		t.Errorf("outcome %s, results %v, writes %v; want planned, 1 planned write, none made", r.Outcome, r.Report.Count(), writes)
	}
}

// TestFailures: a failure is transient (the event is worth redelivering) exactly when the
// adapter says so, or when time ran out.
func TestFailures(t *testing.T) {
	errUnavailable := apply.Transient(errors.New("503 Service Unavailable"))
	errForbidden := errors.New("403 Forbidden")
	tests := []struct {
		name          string
		object        string
		scope         authz.Scope
		fault         func(*ports)
		wantTransient bool
	}{
		{name: "snapshot read fails for now", object: fixture.SnapCRN, wantTransient: true,
			fault: func(p *ports) {
				p.snapshots.get = func(context.Context, string, string) (*authz.Snapshot, error) { return nil, errUnavailable }
			}},
		{name: "snapshot read refused", object: fixture.SnapCRN,
			fault: func(p *ports) {
				p.snapshots.get = func(context.Context, string, string) (*authz.Snapshot, error) { return nil, errForbidden }
			}},
		{name: "instance read fails for now", object: fixture.KPCRN, wantTransient: true,
			fault: func(p *ports) {
				p.instances.get = func(context.Context, string) (*authz.KMSInstance, error) { return nil, errUnavailable }
			}},
		{name: "key read refused", object: fixture.RootKeyCRN, scope: authz.ScopeKey,
			fault: func(p *ports) {
				p.keys.get = func(context.Context, authz.KMSInstance, string) (*authz.Key, error) { return nil, errForbidden }
			}},
		{name: "key read fails for now", object: fixture.RootKeyCRN, scope: authz.ScopeKey, wantTransient: true,
			fault: func(p *ports) {
				p.keys.get = func(context.Context, authz.KMSInstance, string) (*authz.Key, error) { return nil, errUnavailable }
			}},
		{name: "listing the policies fails for now", object: fixture.SnapCRN, wantTransient: true,
			fault: func(p *ports) {
				p.policies.relevant = func(context.Context, string, []authz.Authorization) ([]authz.Policy, error) {
					return nil, errUnavailable
				}
			}},
		{name: "the create fails for now", object: fixture.SnapCRN, wantTransient: true,
			fault: func(p *ports) {
				p.policies.create = func(context.Context, authz.Authorization) (authz.Policy, error) {
					return authz.Policy{}, errUnavailable
				}
			}},
		{name: "the create is refused", object: fixture.SnapCRN,
			fault: func(p *ports) {
				p.policies.create = func(context.Context, authz.Authorization) (authz.Policy, error) { return authz.Policy{}, errForbidden }
			}},
		{name: "the read ran out of time", object: fixture.SnapCRN, wantTransient: true,
			fault: func(p *ports) {
				p.snapshots.get = func(context.Context, string, string) (*authz.Snapshot, error) {
					return nil, fmt.Errorf("get snapshot: %w", context.DeadlineExceeded)
				}
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			scope := tt.scope
			if scope == "" {
				scope = authz.ScopeInstance
			}
			p := sampleAccount().ports()
			tt.fault(&p)
			r := p.converger(converge.Options{Rules: fixture.Rules(scope)}).Converge(context.Background(), object(scope, tt.object))
			if r.Outcome != converge.Failed || r.Err == nil || r.Transient() != tt.wantTransient {
				t.Errorf("outcome %s, error %v, transient %v; want failed, transient %v", r.Outcome, r.Err, r.Transient(), tt.wantTransient)
			}
		})
	}
}

// TestCancelledIsTransient: an event whose context is cancelled while its object is read fails
// in a way worth redelivering, even though the adapter's error does not say so itself.
func TestCancelledIsTransient(t *testing.T) {
	p := sampleAccount().ports()
	ctx, cancel := context.WithCancel(context.Background())
	p.snapshots.get = func(ctx context.Context, _, _ string) (*authz.Snapshot, error) {
		cancel()
		<-ctx.Done()
		return nil, fmt.Errorf("get snapshot: %w", ctx.Err())
	}
	r := p.converger(converge.Options{}).Converge(ctx, object(authz.ScopeInstance, fixture.SnapCRN))
	if r.Outcome != converge.Failed || !r.Transient() || !errors.Is(r.Err, context.Canceled) {
		t.Errorf("outcome %s, error %v, transient %v; want a transient failure", r.Outcome, r.Err, r.Transient())
	}
}

// TestUnknownKindIsIgnored: a target of no kind the converger knows reads nothing.
func TestUnknownKindIsIgnored(t *testing.T) {
	acct := sampleAccount()
	r := acct.ports().converger(converge.Options{}).Converge(context.Background(), converge.Object{Target: authz.Target{Kind: "volume", Object: "crn:x"}})
	if r.Outcome != converge.Ignored || r.Reason == "" || len(acct.called("snapshot", "instance", "key", "relevant")) != 0 {
		t.Errorf("outcome %s %q, calls %v; want ignored with a reason, no calls", r.Outcome, r.Reason, acct.calls)
	}
}
