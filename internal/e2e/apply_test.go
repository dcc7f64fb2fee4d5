package e2e_test

import (
	"context"
	"testing"

	"github.com/s2s-authorizer/s2s-authorizer/internal/apply"
	"github.com/s2s-authorizer/s2s-authorizer/internal/authz"
	"github.com/s2s-authorizer/s2s-authorizer/internal/fixture"
	"github.com/s2s-authorizer/s2s-authorizer/internal/plan"
	te "github.com/s2s-authorizer/s2s-authorizer/internal/testenv"
)

func createPlan(a authz.Authorization) plan.Plan {
	return plan.Plan{Changes: []plan.Change{{Action: plan.Create, Authorization: a, MayReplace: true}}}
}

func removePlan(p authz.Policy) plan.Plan {
	return plan.Plan{Changes: []plan.Change{{Action: plan.Delete, Policy: p}}}
}

func TestApplyAgainstIAM(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name string
		// setup prepares IAM and returns the plan to apply, as planned from a stale view.
		setup      func(t *testing.T, e *te.Env) plan.Plan
		opts       apply.Options
		upsertOnly bool // the plan went through upsert-only's filter
		want       apply.Outcome
		wantWrites int // policy writes seen by IAM
		wantDone   int // writes the record says succeeded
		wantErr    bool
	}{
		{
			name:  "create",
			setup: func(*testing.T, *te.Env) plan.Plan { return createPlan(fixture.Restore(te.Restorer)) },
			want:  apply.Created, wantWrites: 1,
		},
		{
			name: "create finds our own policy: adopted",
			setup: func(t *testing.T, e *te.Env) plan.Plan {
				mustCreate(t, e, fixture.Restore(te.Restorer))
				return createPlan(fixture.Restore(te.Restorer))
			},
			want: apply.Adopted, wantWrites: 2, // the create, and the attempt IAM answers 409
		},
		{
			name: "create finds an equal policy made by hand: covered",
			setup: func(t *testing.T, e *te.Env) plan.Plan {
				e.AddPolicy(te.HandMade(fixture.Restore(te.Restorer).Grant))
				return createPlan(fixture.Restore(te.Restorer))
			},
			want: apply.Covered, wantWrites: 1,
		},
		{
			name: "create finds our own policy with other roles: replaced",
			setup: func(t *testing.T, e *te.Env) plan.Plan {
				addManaged(t, e, fixture.WithRoles(fixture.Restore(te.Restorer), fixture.OutdatedRestorer))
				return createPlan(fixture.Restore(te.Restorer))
			},
			want: apply.Replaced, wantWrites: 3, wantDone: 2, // the 409; the old one's delete; the create
		},
		{
			name: "upsert-only does not replace: retained, as the plan says of an outdated policy",
			setup: func(t *testing.T, e *te.Env) plan.Plan {
				addManaged(t, e, fixture.WithRoles(fixture.Restore(te.Restorer), fixture.OutdatedRestorer))
				return createPlan(fixture.Restore(te.Restorer))
			},
			upsertOnly: true,
			want:       apply.Retained, wantWrites: 1, // the 409
		},
		{
			name: "a planned replace",
			setup: func(t *testing.T, e *te.Env) plan.Plan {
				old := addManaged(t, e, fixture.WithRoles(fixture.Restore(te.Restorer), fixture.OutdatedRestorer))
				return plan.Plan{Changes: []plan.Change{{Action: plan.Replace, Authorization: fixture.Restore(te.Restorer), Policy: old}}}
			},
			want: apply.Replaced, wantWrites: 2, wantDone: 2,
		},
		{
			name: "a policy made by hand with other roles: blocked, untouched",
			setup: func(t *testing.T, e *te.Env) plan.Plan {
				e.AddPolicy(te.HandMade(fixture.WithRoles(fixture.Restore(te.Restorer), authz.RoleReader).Grant))
				return createPlan(fixture.Restore(te.Restorer))
			},
			want: apply.Blocked, wantWrites: 1,
		},
		{
			name: "delete",
			setup: func(t *testing.T, e *te.Env) plan.Plan {
				return removePlan(mustCreate(t, e, fixture.Restore(te.Restorer)))
			},
			want: apply.Deleted, wantWrites: 2,
		},
		{
			name: "delete of a policy already deleted: gone",
			setup: func(t *testing.T, e *te.Env) plan.Plan {
				p := mustCreate(t, e, fixture.Restore(te.Restorer))
				if err := e.Runtime.Cloud.Policies.Delete(ctx, p.ID); err != nil {
					t.Fatal(err)
				}
				return removePlan(p)
			},
			want: apply.Gone, wantWrites: 3,
		},
		{
			name: "delete of an unknown policy: gone",
			setup: func(*testing.T, *te.Env) plan.Plan {
				a := fixture.Restore(te.Restorer)
				return removePlan(authz.Policy{ID: "never-existed", Description: a.Description(), Grant: a.Grant})
			},
			want: apply.Gone, wantWrites: 1,
		},
		{
			name: "never delete a policy without the marker",
			setup: func(t *testing.T, e *te.Env) plan.Plan {
				p := mustCreate(t, e, fixture.Restore(te.Restorer))
				p.Description = "made by hand"
				return removePlan(p)
			},
			want: apply.Failed, wantWrites: 1, wantErr: true,
		},
		{
			name: "never create a grant wider than its template",
			setup: func(*testing.T, *te.Env) plan.Plan {
				a := fixture.Restore(te.Restorer)
				a.Roles = append([]string{authz.RoleReader}, a.Roles...)
				return createPlan(a)
			},
			want: apply.Failed, wantWrites: 0, wantErr: true,
		},
		{
			name:  "dry run writes nothing",
			setup: func(*testing.T, *te.Env) plan.Plan { return createPlan(fixture.Restore(te.Restorer)) },
			opts:  apply.Options{DryRun: true},
			want:  apply.Planned, wantWrites: 0,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := te.Start(t, te.World(), nil)
			p := tt.setup(t, e)
			if tt.upsertOnly {
				p = plan.ModeUpsertOnly.Filter(p)
			}
			rep := apply.Apply(ctx, e.Runtime.Cloud.Policies, p, tt.opts)
			if got := rep.Results[0].Outcome; got != tt.want {
				t.Errorf("outcome %s, want %s (error %v)", got, tt.want, rep.Results[0].Err)
			}
			if (rep.Err() != nil) != tt.wantErr {
				t.Errorf("error %v, want error %v", rep.Err(), tt.wantErr)
			}
			if got := rep.Writes(); tt.want == apply.Replaced && got != tt.wantDone {
				t.Errorf("the record counts %d writes, want %d", got, tt.wantDone)
			}
			if got := e.Emulator.Stats().PolicyWrites; got != tt.wantWrites {
				t.Errorf("%d policy writes, want %d", got, tt.wantWrites)
			}
		})
	}
}

func TestApplyCreatesBeforeDeletes(t *testing.T) {
	e := te.Start(t, te.World(), nil)
	old := mustCreate(t, e, fixture.Restore(te.Consumer))
	p := plan.Plan{Changes: []plan.Change{{Action: plan.Delete, Policy: old}, {Action: plan.Create, Authorization: fixture.Restore(te.Restorer)}}}
	rec := &orderRecorder{w: e.Runtime.Cloud.Policies}
	rep := apply.Apply(context.Background(), rec, p, apply.Options{})
	if rep.Err() != nil {
		t.Fatal(rep.Err())
	}
	if rec.deleteFirst {
		t.Error("a delete ran before the create that replaces it")
	}
	if got := rep.Results[1].Outcome; got != apply.Created {
		t.Fatalf("create: %s", got)
	}
}

// orderRecorder notes a delete that comes before any create.
type orderRecorder struct {
	w           apply.Writer
	created     bool
	deleteFirst bool
}

func (o *orderRecorder) Create(ctx context.Context, a authz.Authorization) (authz.Policy, error) {
	o.created = true
	return o.w.Create(ctx, a)
}

func (o *orderRecorder) Delete(ctx context.Context, id string) error {
	o.deleteFirst = o.deleteFirst || !o.created
	return o.w.Delete(ctx, id)
}

// addManaged puts a policy of ours into IAM's store directly: IAM offers one CRN form of a role,
// so an outdated one can only be a policy made before.
func addManaged(t *testing.T, e *te.Env, a authz.Authorization) authz.Policy {
	t.Helper()
	e.AddPolicy(te.PolicyJSON(a.Grant, "", a.Description()))
	for _, p := range e.Policies() {
		if p.Key() == a.Key() {
			return p
		}
	}
	t.Fatal("the added policy is not in the world")
	return authz.Policy{}
}

func mustCreate(t *testing.T, e *te.Env, a authz.Authorization) authz.Policy {
	t.Helper()
	p, err := e.Runtime.Cloud.Policies.Create(context.Background(), a)
	if err != nil {
		t.Fatal(err)
	}
	return p
}
