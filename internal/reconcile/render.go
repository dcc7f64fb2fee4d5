package reconcile

import (
	"fmt"
	"io"

	"github.com/s2s-authorizer/s2s-authorizer/internal/apply"
	"github.com/s2s-authorizer/s2s-authorizer/internal/authz"
	"github.com/s2s-authorizer/s2s-authorizer/internal/plan"
)

// WritePlan prints the plan the way terraform plan does: one line per change that writes (or
// that upsert-only holds back), then the count line. A dry run and the apply that follows print
// the same text for the same state.
func (r Report) WritePlan(w io.Writer) {
	for _, c := range r.Plan.Changes {
		if c.Action != plan.Keep && c.Action != plan.Covered {
			fmt.Fprintf(w, "%s  (%s)\n", c, c.Object())
		}
	}
	fmt.Fprintln(w, r.Plan.Summary())
}

// WriteOutcome prints what the run did and what went wrong.
func (r Report) WriteOutcome(w io.Writer) {
	for _, ref := range r.Refusals {
		fmt.Fprintf(w, "refused: %s\n", ref)
	}
	for _, err := range r.ReadErrors {
		fmt.Fprintf(w, "failed to read: %v\n", err)
	}
	n := r.Applied.Count()
	for _, res := range r.Applied.Results {
		if res.Err != nil {
			fmt.Fprintf(w, "failed: %s: %v\n", res.Change, res.Err)
		}
	}
	if n[apply.Planned] > 0 || (!r.Plan.Pending() && len(r.Applied.Results) == 0) {
		fmt.Fprintf(w, "Dry run: nothing written.\n")
	} else {
		fmt.Fprintf(w, "Apply: %d created, %d deleted, %d replaced, %d already gone, %d adopted, %d covered, %d blocked, %d failed.\n",
			n[apply.Created], n[apply.Deleted], n[apply.Replaced], n[apply.Gone], n[apply.Adopted], n[apply.Covered], n[apply.Blocked], n[apply.Failed])
	}
	fmt.Fprintf(w, "Read %d snapshots, %d KMS instances, %d root keys, %d backup policies, %d policies (%d managed policies outside this run's scope left alone) in %s.\n",
		r.Snapshots, r.Instances, r.RootKeys, r.BackupPolicies, r.Policies, r.OutOfScope, r.Duration.Round(1e6))
	fmt.Fprintln(w, authz.CapLine(r.Policies))
}

// JSONReport is the --json form of a run.
type JSONReport struct {
	DryRun     bool           `json:"dry_run"`
	Changes    []apply.Result `json:"changes"`
	Summary    map[string]int `json:"summary"`
	Refusals   []string       `json:"refusals,omitempty"`
	ReadErrors []string       `json:"read_errors,omitempty"`
	Read       map[string]int `json:"read"`
	Writes     int            `json:"writes"`
	AccountCap int            `json:"account_cap"`
	DurationMS int64          `json:"duration_ms"`
}

// JSON renders the report for scripts; keep and covered changes are included so that a script
// sees the whole desired state. The changes are apply's records, as an event's answer has them.
func (r Report) JSON(dryRun bool) JSONReport {
	out := JSONReport{DryRun: dryRun, Summary: map[string]int{}, Changes: r.Applied.Results,
		Read:   map[string]int{"snapshots": r.Snapshots, "kms_instances": r.Instances, "root_keys": r.RootKeys, "backup_policies": r.BackupPolicies, "policies": r.Policies, "out_of_scope": r.OutOfScope},
		Writes: r.Applied.Writes(), AccountCap: authz.AccountPolicyCap, DurationMS: r.Duration.Milliseconds()}
	if out.Changes == nil {
		out.Changes = []apply.Result{}
	}
	for a, n := range r.Plan.Count() {
		out.Summary[string(a)] = n
	}
	for _, ref := range r.Refusals {
		out.Refusals = append(out.Refusals, ref.String())
	}
	for _, err := range r.ReadErrors {
		out.ReadErrors = append(out.ReadErrors, err.Error())
	}
	return out
}
