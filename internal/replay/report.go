package replay

import (
	"bytes"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/s2s-authorizer/s2s-authorizer/handlers"
	"github.com/s2s-authorizer/s2s-authorizer/internal/converge"
	"github.com/s2s-authorizer/s2s-authorizer/internal/crn"
	"github.com/s2s-authorizer/s2s-authorizer/internal/delivery"
	"github.com/s2s-authorizer/s2s-authorizer/internal/reconcile"
)

// Report is what a replay did; it is also the --json document.
type Report struct {
	Mode   Mode   `json:"mode"`
	Target string `json:"target"`
	// World is what the emulator started from for the events outside scenarios.
	World    string      `json:"world,omitempty"`
	DryRun   bool        `json:"dry_run"`
	Runs     []RunReport `json:"runs"`
	Problems []Problem   `json:"problems"`
	Summary  Summary     `json:"summary"`

	eventsOnlyDryRun bool
}

// Problem is an input that could not be replayed at all.
type Problem struct {
	Path   string `json:"path"`
	Reason string `json:"reason"`
}

// RunReport is one target's life: the events outside scenarios, or one scenario.
type RunReport struct {
	// Name is "events" or the scenario's path.
	Name        string `json:"name"`
	Scenario    bool   `json:"scenario"`
	Description string `json:"description,omitempty"`
	Steps       []Step `json:"steps"`
	// Authorizations are the Block Storage authorizations at the end, nil when unreadable.
	Authorizations      []Authorization `json:"authorizations"`
	AuthorizationsError string          `json:"authorizations_error,omitempty"`
}

func (r *RunReport) setFinal(final []Authorization, err error) {
	if err != nil {
		r.AuthorizationsError = err.Error()
		return
	}
	r.Authorizations = final
}

// Step is one event delivered, one change to the world, or one expectation checked.
type Step struct {
	// Origin is the file (path, path[i] for a batch member, path:line for JSON Lines) or the
	// scenario step ("step 3").
	Origin string `json:"origin"`
	// Kind is event, tag_attach, tag_detach, snapshot_delete, key_create, key_delete or expect;
	// "step" for a scenario step that could not be read, "setup" for a scenario that could not
	// start.
	Kind string `json:"kind"`
	OK   bool   `json:"ok"`
	// Problem says why the step is not OK.
	Problem string `json:"problem,omitempty"`
	// Detail says what a world step did.
	Detail string `json:"detail,omitempty"`
	// ExpectedOutcome is the outcome the event had to have (malformed/ files: rejected).
	ExpectedOutcome converge.Outcome      `json:"expected_outcome,omitempty"`
	Result          *handlers.Result      `json:"result,omitempty"`
	APICalls        *int                  `json:"api_calls,omitempty"`
	PolicyWrites    *int                  `json:"policy_writes,omitempty"`
	Reconcile       *reconcile.JSONReport `json:"reconcile,omitempty"`
	// Expected and Diff are an expect step's.
	Expected int   `json:"expected,omitempty"`
	Diff     *Diff `json:"diff,omitempty"`

	reconcile *reconcile.Report
	// action and object name the event in the text when the result does not (a duplicate is
	// answered before its Activity Tracker event is read).
	action, object string
}

// describe keeps what the delivery says of the event, for the text.
func (st Step) describe(d delivery.Delivery) Step {
	switch {
	case d.Activity != nil:
		st.action, st.object = d.Activity.Action, d.Activity.Target.ID
	case d.Tick:
		st.action = d.Type
	}
	return st
}

// Summary counts the whole replay.
type Summary struct {
	Scenarios int `json:"scenarios"`
	Events    int `json:"events"`
	// Outcomes counts events by outcome.
	Outcomes map[converge.Outcome]int `json:"outcomes"`
	// ExpectedRejections are rejections the input asked for.
	ExpectedRejections int `json:"expected_rejections"`
	// PolicyWrites are IAM policy creates and deletes: the emulator's count (retries and 409s
	// included) in-process, created plus deleted from the answers otherwise.
	PolicyWrites int `json:"policy_writes"`
	// APICalls are the IBM API calls the events caused, counted by the emulator; absent for
	// --target and --live.
	APICalls          *int  `json:"api_calls,omitempty"`
	ExpectationsMet   int   `json:"expectations_met"`
	ExpectationsUnmet int   `json:"expectations_unmet"`
	Failures          int   `json:"failures"`
	ElapsedMS         int64 `json:"elapsed_ms"`
	OK                bool  `json:"ok"`
}

func (r *Report) finish(elapsed time.Duration) {
	s := Summary{Outcomes: map[converge.Outcome]int{}, ElapsedMS: elapsed.Milliseconds(), Failures: len(r.Problems)}
	calls, counted := 0, false
	for _, run := range r.Runs {
		if run.Scenario {
			s.Scenarios++
		}
		for _, st := range run.Steps {
			if !st.OK {
				s.Failures++
			}
			if st.Kind == StepExpect {
				if st.OK {
					s.ExpectationsMet++
				} else {
					s.ExpectationsUnmet++
				}
			}
			if st.Result == nil {
				continue
			}
			s.Events++
			s.Outcomes[st.Result.Outcome]++
			if st.OK && st.ExpectedOutcome == converge.Rejected {
				s.ExpectedRejections++
			}
			if st.PolicyWrites != nil {
				s.PolicyWrites += *st.PolicyWrites
			}
			if st.APICalls != nil {
				calls += *st.APICalls
				counted = true
			}
		}
	}
	if counted {
		s.APICalls = &calls
	}
	s.OK = s.Failures == 0
	r.Summary = s
}

// OK reports whether every event was handled as it should be and every expectation met.
func (r *Report) OK() bool { return r.Summary.OK }

// WriteText prints the report for people.
func (r *Report) WriteText(w io.Writer) {
	var b bytes.Buffer
	r.writeHeader(&b)
	for _, p := range r.Problems {
		fmt.Fprintf(&b, "\ncannot replay %s: %s\n", p.Path, p.Reason)
	}
	for _, run := range r.Runs {
		run.write(&b)
	}
	r.writeSummary(&b)
	_, _ = w.Write(b.Bytes())
}

func (r *Report) writeHeader(b *bytes.Buffer) {
	switch r.Mode {
	case Serve:
		fmt.Fprintf(b, "Replaying to serve at %s: each event is POSTed as a binary-mode CloudEvent.\n", r.Target)
	case Live:
		fmt.Fprintf(b, "Replaying against IBM Cloud with the configured credentials")
		if r.DryRun {
			fmt.Fprintf(b, ", dry run: nothing is written (--apply writes).\n")
		} else {
			fmt.Fprintf(b, ": changes are written.\n")
		}
	default:
		fmt.Fprintf(b, "Replaying in-process against the embedded IBM Cloud emulator: no IBM Cloud account is used.\n")
		switch {
		case r.World != "" && r.Summary.Scenarios > 0:
			fmt.Fprintf(b, "Events outside scenarios start from %s; each scenario from its own world.\n", r.World)
		case r.World != "":
			fmt.Fprintf(b, "The events start from %s.\n", r.World)
		}
		switch {
		case r.eventsOnlyDryRun:
			fmt.Fprintf(b, "DRY_RUN=true: events outside scenarios are planned, not written.\n")
		case r.DryRun:
			fmt.Fprintf(b, "Dry run: changes are planned, not written.\n")
		}
	}
	fmt.Fprintf(b, "Each event: origin, id, action, object → outcome; then its authorizations:\n")
	fmt.Fprintf(b, "+ create, - delete, = keep or covered (an equal policy not managed exists), ~ adopt, -/+ replace, ! refused or blocked.\n")
}

func (run RunReport) write(b *bytes.Buffer) {
	if run.Scenario {
		fmt.Fprintf(b, "\nscenario %s\n", run.Name)
		if run.Description != "" {
			fmt.Fprintf(b, "  %s\n", run.Description)
		}
	} else {
		fmt.Fprintf(b, "\nevents\n")
	}
	for _, st := range run.Steps {
		st.write(b)
	}
	switch {
	case run.AuthorizationsError != "":
		fmt.Fprintf(b, "  Block Storage authorizations at the end: %s\n", run.AuthorizationsError)
	case len(run.Authorizations) == 0:
		fmt.Fprintf(b, "  Block Storage authorizations at the end: none\n")
	default:
		fmt.Fprintf(b, "  Block Storage authorizations at the end (%d):\n", len(run.Authorizations))
		for _, a := range run.Authorizations {
			fmt.Fprintf(b, "    %s  [policy %s]\n", a.Summary(), a.PolicyID)
		}
	}
}

func (st Step) write(b *bytes.Buffer) {
	switch {
	case st.Result != nil:
		st.writeEvent(b)
	case st.Kind == StepExpect && st.Diff != nil:
		if st.OK {
			fmt.Fprintf(b, "  %s  expect: met, %s\n", st.Origin, plural(st.Expected, "authorization"))
		} else {
			fmt.Fprintf(b, "  %s  expect: NOT MET, %s\n", st.Origin, st.Problem)
			for _, m := range st.Diff.Missing {
				fmt.Fprintf(b, "      missing:    %s\n", m)
			}
			for _, u := range st.Diff.Unexpected {
				fmt.Fprintf(b, "      unexpected: %s\n", u)
			}
		}
		return
	default:
		fmt.Fprintf(b, "  %s  %s", st.Origin, st.Kind)
		if st.Detail != "" {
			fmt.Fprintf(b, ": %s", st.Detail)
		}
		b.WriteString("\n")
	}
	if !st.OK {
		fmt.Fprintf(b, "      FAILED: %s\n", oneLine(st.Problem))
	}
}

func (st Step) writeEvent(b *bytes.Buffer) {
	r := st.Result
	outcome := string(r.Outcome)
	if st.ExpectedOutcome != "" && st.OK {
		outcome += " as expected"
	}
	// Every reason is shown: "unchanged: snapshot … not found in us-south" is how a typo in a
	// hand-written event stands out from a success.
	if why := r.Reason; why != "" {
		outcome += ": " + oneLine(why)
	}
	if r.Error != "" {
		outcome += ": " + oneLine(r.Error)
	}
	action, object := r.Action, r.Object
	if action == "" {
		action = st.action
	}
	if object == "" {
		object = st.object
	}
	fmt.Fprintf(b, "  %s  %s  %s  %s → %s", st.Origin, orDash(r.ID), orDash(action), shortObject(object), outcome)
	if st.APICalls != nil {
		fmt.Fprintf(b, "  (%s, %s)", plural(*st.APICalls, "API call"), plural(*st.PolicyWrites, "policy write"))
	}
	b.WriteString("\n")
	for _, c := range r.Changes {
		fmt.Fprintf(b, "      %s\n", c)
	}
	for _, ref := range r.Refusals {
		fmt.Fprintf(b, "      ! refused  tag %q: %s\n", ref.Tag, ref.Reason)
	}
	if st.reconcile != nil {
		var plan bytes.Buffer
		st.reconcile.WritePlan(&plan)
		st.reconcile.WriteOutcome(&plan)
		for _, line := range strings.Split(strings.TrimRight(plan.String(), "\n"), "\n") {
			fmt.Fprintf(b, "      reconcile: %s\n", line)
		}
	}
}

func (r *Report) writeSummary(b *bytes.Buffer) {
	s := r.Summary
	var counts []string
	for _, o := range converge.Outcomes() {
		if n := s.Outcomes[o]; n > 0 {
			text := fmt.Sprintf("%d %s", n, o)
			if o == converge.Rejected && s.ExpectedRejections > 0 {
				text += fmt.Sprintf(" (%d expected)", s.ExpectedRejections)
			}
			counts = append(counts, text)
		}
	}
	fmt.Fprintf(b, "\nSummary: %s", plural(s.Events, "event"))
	if s.Scenarios > 0 {
		fmt.Fprintf(b, " in %s", plural(s.Scenarios, "scenario"))
	}
	if len(counts) > 0 {
		fmt.Fprintf(b, ": %s", strings.Join(counts, ", "))
	}
	fmt.Fprintf(b, ".\n  %s", plural(s.PolicyWrites, "policy write"))
	if s.APICalls != nil {
		fmt.Fprintf(b, ", %s", plural(*s.APICalls, "IBM API call"))
	}
	fmt.Fprintf(b, "; expectations: %d met, %d not met; %s.\n", s.ExpectationsMet, s.ExpectationsUnmet, (time.Duration(s.ElapsedMS) * time.Millisecond).String())
	if s.OK {
		fmt.Fprintf(b, "OK: every event was handled as expected.\n")
	} else {
		fmt.Fprintf(b, "FAILED: %s (see FAILED and cannot replay above).\n", plural(s.Failures, "failure"))
	}
}

func plural(n int, what string) string {
	if n == 1 {
		return fmt.Sprintf("1 %s", what)
	}
	return fmt.Sprintf("%d %ss", n, what)
}

// oneLine keeps a message on its line: some decoders end theirs with a newline.
func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// shortObject names an object by kind and ID; the JSON report keeps the whole CRN.
func shortObject(object string) string {
	c, err := crn.Parse(object)
	if err != nil {
		return orDash(object)
	}
	switch {
	case c.ResourceType != "" && slices.Contains([]string{"snapshot", "key"}, c.ResourceType):
		return fmt.Sprintf("%s %s %s", c.Service, c.ResourceType, c.Resource)
	case c.ServiceInstance != "" && c.ResourceType == "":
		return fmt.Sprintf("%s instance %s", c.Service, c.ServiceInstance)
	}
	return object
}
