package apply

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/s2s-authorizer/s2s-authorizer/internal/authz"
	"github.com/s2s-authorizer/s2s-authorizer/internal/plan"
)

// Outcome is what applying one change did. Together with the plan's action it is the whole
// vocabulary of a change, the same words in the HTTP answer, the job's and the reconcile's JSON,
// replay and the logs (the README's "Results" section lists them).
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
	Refused  Outcome = "refused"  // a create refused at the account's policy cap (Reason says why)
	// Imitation: a policy with this project's marker that is not its grant; left alone.
	Imitation Outcome = "imitation"
	Failed    Outcome = "failed"
)

// Result is the one record of a change: the planned change and what IAM answered. Apply makes
// it; every consumer shows it as it is, through String (text) and MarshalJSON (JSON).
type Result struct {
	Change   plan.Change
	Outcome  Outcome
	PolicyID string // the policy the change concerns afterwards (created, adopted, deleted, …)
	Writes   int    // IAM writes that succeeded: 1 for a create or a delete, 2 for a replace
	Reason   string // why a change was refused
	Err      error

	// view holds what a record read back from JSON says of its change, whose grant cannot be
	// rebuilt from its text.
	view *view
}

type view struct{ kind, object, grant string }

// Op is the plan's verb for the change.
func (r Result) Op() plan.Action { return r.Change.Action }

// Kind is the kind of authorization the change is about.
func (r Result) Kind() authz.Kind {
	if r.view != nil {
		return authz.Kind(r.view.kind)
	}
	return r.Change.Kind()
}

// Object is the CRN of the object the change is about.
func (r Result) Object() string {
	if r.view != nil {
		return r.view.object
	}
	return r.Change.Object()
}

// Grant is the grant the change is about, as text.
func (r Result) Grant() string {
	if r.view != nil {
		return r.view.grant
	}
	return r.Change.Grant().String()
}

// Symbol is the line's prefix: the plan's (+ create, - delete, -/+ replace, ! blocked, = the
// rest), except ~ for a create that found our own policy and ! for a failure.
func (r Result) Symbol() string {
	switch r.Outcome {
	case Adopted:
		return "~"
	case Failed, Refused:
		return "!"
	}
	return r.Change.Symbol()
}

// note is what the outcome adds to the line, when the symbol and verb do not say it.
func (r Result) note() string {
	switch r.Outcome {
	case Gone:
		return ", already gone"
	case Covered:
		return ", not managed"
	case Retained:
		return ", kept: upsert-only"
	case Blocked:
		return ", blocked by a policy not managed with other roles"
	case Imitation:
		return ", carries this project's marker but is not its grant; created by " + createdBy(r.Change.Policy.CreatedBy) + "; left alone"
	case Planned:
		return ", dry run: not written"
	case Refused:
		return ", REFUSED: " + r.Reason
	case Failed:
		return ", FAILED: " + strings.Join(strings.Fields(errText(r.Err)), " ")
	}
	return ""
}

// String is the record's text form, one line: symbol, verb, kind, grant, and the policy.
func (r Result) String() string {
	policy := "policy " + r.PolicyID
	if r.PolicyID == "" {
		policy = "no policy"
	}
	return fmt.Sprintf("%s %-7s %s %s  [%s%s]", r.Symbol(), r.Op(), r.Kind(), r.Grant(), policy, r.note())
}

// wire is the record's JSON form.
type wire struct {
	Op       plan.Action `json:"op"`
	Symbol   string      `json:"symbol"`
	Result   Outcome     `json:"result"`
	Kind     string      `json:"kind,omitempty"`
	Object   string      `json:"object,omitempty"`
	Grant    string      `json:"grant"`
	PolicyID string      `json:"policy_id,omitempty"`
	// CreatedBy is who made an imitation, so that the answer to an event names them.
	CreatedBy string `json:"created_by,omitempty"`
	Writes    int    `json:"writes"`
	Reason    string `json:"reason,omitempty"`
	Error     string `json:"error,omitempty"`
}

// MarshalJSON is the record's JSON form: op (the plan's verb), symbol, result (the outcome),
// kind, object, grant, policy_id, created_by (of an imitation), writes and error.
func (r Result) MarshalJSON() ([]byte, error) {
	w := wire{Op: r.Op(), Symbol: r.Symbol(), Result: r.Outcome, Kind: string(r.Kind()), Object: r.Object(),
		Grant: r.Grant(), PolicyID: r.PolicyID, Writes: r.Writes, Reason: r.Reason, Error: errText(r.Err)}
	if r.Outcome == Imitation {
		w.CreatedBy = createdBy(r.Change.Policy.CreatedBy)
	}
	return json.Marshal(w)
}

// UnmarshalJSON reads a record another process wrote (replay reading serve's answer).
func (r *Result) UnmarshalJSON(data []byte) error {
	var w wire
	if err := json.Unmarshal(data, &w); err != nil {
		return err
	}
	*r = Result{Change: plan.Change{Action: w.Op, Policy: authz.Policy{CreatedBy: w.CreatedBy}}, Outcome: w.Result, PolicyID: w.PolicyID, Writes: w.Writes, Reason: w.Reason,
		view: &view{kind: w.Kind, object: w.Object, grant: w.Grant}}
	if w.Error != "" {
		r.Err = errors.New(w.Error)
	}
	return nil
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// Report is the results of one plan, in plan order.
type Report struct {
	Results []Result
}

// Writes counts the IAM writes that succeeded: the one write counter of the project.
func (r Report) Writes() int { return Writes(r.Results) }

// Writes counts the IAM writes that succeeded in results.
func Writes(results []Result) int {
	n := 0
	for _, res := range results {
		n += res.Writes
	}
	return n
}

// Count returns how many results have each outcome.
func (r Report) Count() map[Outcome]int {
	n := map[Outcome]int{}
	for _, res := range r.Results {
		n[res.Outcome]++
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

func createdBy(id string) string {
	if id == "" {
		return "unknown"
	}
	return id
}
