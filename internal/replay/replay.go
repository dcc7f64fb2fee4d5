// Package replay is the local harness: it loads recorded events and scenario files, runs them
// against a target (the function's own handlers on the embedded emulator, a running serve, or
// IBM Cloud itself) and reports what each event did, which authorizations exist at the end and
// whether they are the ones expected. It makes a recorded incident a regression test.
package replay

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"time"

	"go.uber.org/zap"

	"github.com/s2s-authorizer/s2s-authorizer/config"
	"github.com/s2s-authorizer/s2s-authorizer/internal/converge"
	"github.com/s2s-authorizer/s2s-authorizer/internal/emulator"
	"github.com/s2s-authorizer/s2s-authorizer/internal/ibm"
	"github.com/s2s-authorizer/s2s-authorizer/internal/localrun"
)

// Mode is where events go.
type Mode string

const (
	// Emulator runs the handlers in this process against the embedded emulator.
	Emulator Mode = "emulator"
	// Serve POSTs events to a running serve.
	Serve Mode = "serve"
	// Live runs the handlers in this process against IBM Cloud.
	Live Mode = "live"
)

// Options configure a replay.
type Options struct {
	Paths []string
	Mode  Mode
	// World seeds the emulator for the events outside scenarios (Emulator mode); nil means the
	// sample world. WorldName says where it came from, for the report.
	World     *emulator.World
	WorldName string
	// Config is the configuration from the environment: the settings of the events outside
	// scenarios, the credentials of Live mode, and those that read a Serve target's account.
	Config config.Config
	// DryRun plans without writing (Emulator and Live modes).
	DryRun bool
	// URL and Token address a Serve target.
	URL, Token string
	// Expect, when ExpectName is set, lists the authorizations that must exist after the events
	// outside scenarios.
	Expect     []Authorization
	ExpectName string
	Logger     *zap.Logger
	IBM        ibm.Options
	// Stdin is what the path StdinPath reads.
	Stdin io.Reader
}

func (o Options) logger() *zap.Logger {
	if o.Logger == nil {
		return zap.NewNop()
	}
	return o.Logger
}

// Run replays everything o.Paths holds. Files that cannot be replayed, failed events and unmet
// expectations are in the report; the error is for a target that cannot be reached at all.
func Run(ctx context.Context, o Options) (*Report, error) {
	start := time.Now()
	rep := &Report{Mode: o.Mode, Target: o.targetName(), DryRun: o.DryRun, Problems: []Problem{}, Runs: []RunReport{}}
	var units []unit
	var scenarios []*scenario
	for _, in := range load(o.Paths, o.Stdin) {
		switch {
		case in.problem != "":
			rep.Problems = append(rep.Problems, Problem{Path: in.path, Reason: in.problem})
		case in.scenario != nil && o.Mode != Emulator:
			rep.Problems = append(rep.Problems, Problem{Path: in.path,
				Reason: "a scenario changes the emulated world, so it runs only in-process on the emulator: drop --target and --live"})
		case in.scenario != nil:
			scenarios = append(scenarios, in.scenario)
		default:
			units = append(units, in.units...)
		}
	}
	if o.Mode == Emulator && (len(units) > 0 || o.ExpectName != "") {
		rep.World = o.WorldName
		if rep.World == "" {
			rep.World = "the sample world"
		}
	}
	if len(units) > 0 || o.ExpectName != "" {
		run, err := runEvents(ctx, o, units)
		if err != nil {
			return nil, err
		}
		rep.Runs = append(rep.Runs, run)
		// DRY_RUN from the environment governs these events only: scenarios carry their settings.
		rep.DryRun = rep.DryRun || (o.Config.DryRun && o.Mode != Serve)
		rep.eventsOnlyDryRun = !o.DryRun && rep.DryRun
	}
	for _, sc := range scenarios {
		if ctx.Err() != nil {
			break
		}
		rep.Runs = append(rep.Runs, runScenario(ctx, o, sc))
	}
	if err := ctx.Err(); err != nil {
		rep.Problems = append(rep.Problems, Problem{Path: "-", Reason: "interrupted: the report is incomplete"})
	}
	rep.finish(time.Since(start))
	return rep, nil
}

func (o Options) targetName() string {
	switch o.Mode {
	case Serve:
		return o.URL
	case Live:
		return "IBM Cloud"
	}
	return "emulator"
}

// EventsRun is the name of the run of the events outside scenarios.
const EventsRun = "events"

// runEvents delivers the events outside scenarios, in order, to one target.
func runEvents(ctx context.Context, o Options, units []unit) (RunReport, error) {
	run := RunReport{Name: EventsRun, Steps: []Step{}}
	var t target
	switch o.Mode {
	case Serve:
		t = newRemote(ctx, o)
	case Live:
		cfg := o.Config
		cfg.DryRun = cfg.DryRun || o.DryRun
		l, err := newLocal(ctx, cfg, nil, o)
		if err != nil {
			return run, fmt.Errorf("connect to IBM Cloud: %w", err)
		}
		defer l.rt.Close()
		t = l
	default:
		emu, err := localrun.Start(o.World)
		if err != nil {
			return run, err
		}
		defer emu.Close()
		cfg := localrun.PointAt(o.Config, emu)
		cfg.DryRun = cfg.DryRun || o.DryRun
		l, err := newLocal(ctx, cfg, emu, o)
		if err != nil {
			return run, err
		}
		defer l.rt.Close()
		t = l
	}
	for _, u := range units {
		if ctx.Err() != nil {
			break
		}
		run.Steps = append(run.Steps, judge(t.deliver(ctx, u)))
	}
	final, err := t.authorizations(ctx)
	run.setFinal(final, err)
	if o.ExpectName != "" {
		st := Step{Origin: "--expect " + o.ExpectName, Kind: StepExpect}
		switch {
		case len(units) == 0:
			st.Problem = "no events outside scenarios to check it against (scenarios carry their own expect steps)"
		case err != nil:
			st.Problem = "cannot read the authorizations: " + err.Error()
		default:
			st = compareStep(st, o.Expect, final)
		}
		run.Steps = append(run.Steps, st)
	}
	return run, nil
}

// runScenario runs one scenario on a fresh emulator.
func runScenario(ctx context.Context, o Options, sc *scenario) RunReport {
	run := RunReport{Name: sc.path, Scenario: true, Description: sc.description, Steps: []Step{}}
	fail := func(reason string) RunReport {
		run.Steps = append(run.Steps, Step{Origin: "setup", Kind: "setup", Problem: reason})
		return run
	}
	emu, err := localrun.Start(sc.world)
	if err != nil {
		return fail(err.Error())
	}
	defer emu.Close()
	cfg := localrun.PointAt(sc.config, emu)
	cfg.DryRun = cfg.DryRun || o.DryRun
	t, err := newLocal(ctx, cfg, emu, o)
	if err != nil {
		return fail(err.Error())
	}
	defer t.rt.Close()
	u, err := newUser(emu)
	if err != nil {
		return fail(err.Error())
	}
	defer u.close()
	vars := map[string]string{}
	for _, s := range sc.steps {
		if ctx.Err() != nil {
			break
		}
		run.Steps = append(run.Steps, runStep(ctx, sc, s, t, u, vars)...)
	}
	final, err := t.authorizations(ctx)
	run.setFinal(final, err)
	return run
}

func runStep(ctx context.Context, sc *scenario, s scenarioStep, t *local, u *user, vars map[string]string) []Step {
	origin := fmt.Sprintf("step %d", s.number)
	raw, err := substitute(s.raw, vars)
	if err != nil {
		return []Step{{Origin: origin, Kind: "step", Problem: err.Error()}}
	}
	spec, kind, err := decodeStep(raw)
	if err != nil {
		return []Step{{Origin: origin, Kind: "step", Problem: err.Error()}}
	}
	st := Step{Origin: origin, Kind: kind, OK: true}
	var detail string
	switch kind {
	case StepEvent:
		d := decodeEvent(spec.Event)
		return []Step{judge(t.deliver(ctx, unit{origin: origin, delivery: d, expect: spec.ExpectOutcome}))}
	case "event_file":
		return eventFileSteps(ctx, origin, relativeTo(sc.path, *spec.EventFile), spec.ExpectOutcome, t)
	case StepExpect:
		final, err := t.authorizations(ctx)
		if err != nil {
			st.OK, st.Problem = false, "cannot read the authorizations: "+err.Error()
			return []Step{st}
		}
		return []Step{compareStep(st, *spec.Expect, final)}
	case StepTagAttach:
		detail, err = u.tag(ctx, true, *spec.TagAttach)
	case StepTagDetach:
		detail, err = u.tag(ctx, false, *spec.TagDetach)
	case StepSnapshotDelete:
		detail, err = u.deleteSnapshot(ctx, *spec.SnapshotDelete)
	case StepKeyCreate:
		var id string
		id, detail, err = u.createKey(ctx, *spec.KeyCreate)
		if err == nil && spec.KeyCreate.As != "" {
			vars[spec.KeyCreate.As] = id
		}
	case StepKeyDelete:
		detail, err = u.deleteKey(ctx, *spec.KeyDelete)
	case StepBackupCreate:
		detail, err = u.createBackupPolicy(*spec.BackupPolicyCreate)
	case StepBackupDelete:
		detail, err = u.deleteBackupPolicy(*spec.BackupPolicyDelete)
	}
	st.Detail = detail
	if err != nil {
		st.OK, st.Problem = false, err.Error()
	}
	return []Step{st}
}

// eventFileSteps delivers every event of a file or directory a scenario names.
func eventFileSteps(ctx context.Context, origin, path string, expect converge.Outcome, t *local) []Step {
	var steps []Step
	for _, in := range load([]string{path}, nil) {
		label := origin + " " + filepath.ToSlash(in.path)
		switch {
		case in.problem != "":
			steps = append(steps, Step{Origin: label, Kind: StepEvent, Problem: in.problem})
		case in.scenario != nil:
			steps = append(steps, Step{Origin: label, Kind: StepEvent, Problem: "a scenario cannot be an event_file"})
		}
		for _, u := range in.units {
			u.origin = origin + " " + filepath.ToSlash(u.origin)
			if expect != "" {
				u.expect = expect
			}
			steps = append(steps, judge(t.deliver(ctx, u)))
		}
	}
	if len(steps) == 0 {
		steps = append(steps, Step{Origin: origin, Kind: StepEvent, Problem: path + ": no events"})
	}
	return steps
}

// judge decides whether an event's outcome is acceptable: the expected one when one is
// expected; otherwise anything but a failure or a rejection.
func judge(st Step) Step {
	r := st.Result
	switch {
	case st.ExpectedOutcome != "" && r.Outcome != st.ExpectedOutcome:
		st.Problem = fmt.Sprintf("expected %s, got %s", st.ExpectedOutcome, r.Outcome)
	case st.ExpectedOutcome != "":
	case r.Outcome == converge.Failed:
		st.Problem = "failed: " + r.Error
	case r.Outcome == converge.Rejected:
		st.Problem = "rejected as bad input (put files of malformed events under a " + MalformedDir + "/ directory to expect that)"
	case st.reconcile != nil && st.reconcile.Failed():
		st.Problem = "the full reconcile failed"
	}
	st.OK = st.Problem == ""
	return st
}

func compareStep(st Step, want, got []Authorization) Step {
	d := Compare(want, got)
	st.Diff = &d
	st.Expected = len(want)
	st.OK = d.Empty()
	if !st.OK {
		st.Problem = fmt.Sprintf("%d missing, %d unexpected", len(d.Missing), len(d.Unexpected))
	}
	return st
}
