package main

import (
	"context"
	"fmt"
	"strings"

	"go.uber.org/zap"

	"github.com/s2s-authorizer/s2s-authorizer/internal/emulator"
	"github.com/s2s-authorizer/s2s-authorizer/internal/ibm"
	"github.com/s2s-authorizer/s2s-authorizer/internal/logging"
	"github.com/s2s-authorizer/s2s-authorizer/internal/replay"
)

const replaySummary = `Replay recorded events and scenario files and show what the function does with each:
its outcome, the authorizations it creates or deletes, those that exist at the end.

PATH is a file, a directory (its files in name order, README and *.md skipped) or - for
standard input (its shape tells which of the following it is):
a CloudEvent (.json), a JSON array of them (a batch), JSON Lines (.jsonl, one event a
line), a bare Activity Tracker event (delivered as a Code Engine Kafka subscription
would), a job's environment (.env, CE_*=... or ibmendata=...), or a scenario (a world
and steps; see testdata/README.md). Events in a directory named malformed must be
rejected. By default events run in-process on the embedded emulator; the settings of
events outside scenarios come from the environment (e.g. RESTORE_ALLOWED_ACCOUNTS).
Set LOG_LEVEL to also see the function's own log lines on stderr.

Exit 0: every event handled as expected and every expectation met; 1: an event failed,
was rejected unexpectedly, or an expectation was not met, or a file could not be
replayed; 2: usage or configuration error.`

func runReplay(ctx context.Context, a *app, args []string) int {
	fs := a.flags("replay", "[flags] PATH...", replaySummary)
	world := fs.String("world", "", "world `FILE` to seed the emulator with for events outside scenarios (default: the sample world)")
	target := fs.String("target", "", "POST each event as a binary-mode CloudEvent to a running serve at `URL` instead")
	token := fs.String("token", "", "with --target: bearer `TOKEN` to send (default $EVENT_AUTH_TOKEN)")
	live := fs.Bool("live", false, "run the handlers against IBM Cloud with the configured credentials; dry run unless --apply")
	applyLive := fs.Bool("apply", false, "with --live: write the changes (DRY_RUN=true still holds)")
	dryRun := fs.Bool("dry-run", false, "plan only, write nothing (overrides DRY_RUN)")
	asJSON := fs.Bool("json", false, "print one JSON document instead of text")
	expect := fs.String("expect", "", "JSON `FILE` listing the Block Storage authorizations that must exist after the events outside scenarios")
	if done, code := a.parse(fs, args, 1, -1); done {
		return code
	}
	var files []string
	stdin := 0
	for _, p := range fs.Args() {
		if p == replay.StdinPath {
			stdin++
			continue
		}
		files = append(files, p)
	}
	if stdin > 1 {
		fmt.Fprintln(a.stderr, "replay: - (standard input) can be given once")
		return exitUsage
	}
	if !a.existingPaths(fs, "PATH", files...) {
		return exitUsage
	}
	var problems []string
	if *target != "" && *live {
		problems = append(problems, "--target and --live exclude each other")
	}
	if *applyLive && !*live {
		problems = append(problems, "--apply needs --live")
	}
	if *applyLive && *dryRun {
		problems = append(problems, "--apply and --dry-run exclude each other")
	}
	if *world != "" && (*target != "" || *live) {
		problems = append(problems, "--world seeds the emulator: not with --target or --live")
	}
	if *dryRun && *target != "" {
		problems = append(problems, "--dry-run: a serve target follows its own DRY_RUN")
	}
	if *token != "" && *target == "" {
		problems = append(problems, "--token needs --target")
	}
	if len(problems) > 0 {
		fmt.Fprintf(a.stderr, "replay: %s\n", strings.Join(problems, "; "))
		fs.Usage()
		return exitUsage
	}
	cfg, ok := a.loadConfig(nil)
	if !ok {
		return exitUsage
	}
	o := replay.Options{Paths: fs.Args(), Mode: replay.Emulator, Config: cfg, DryRun: *dryRun, IBM: ibm.DefaultOptions(), Logger: zap.NewNop(), WorldName: "the sample world",
		Stdin: a.stdin}
	if _, set := a.lookupEnv("LOG_LEVEL"); set {
		o.Logger = logging.New(cfg.LogLevel, a.stderr)
	}
	switch {
	case *target != "":
		o.Mode, o.URL, o.Token = replay.Serve, *target, *token
		if o.Token == "" {
			o.Token = cfg.EventAuthToken
		}
		if *expect != "" && cfg.Validate() != nil {
			fmt.Fprintf(a.stderr, "replay: --expect with --target reads the target account's policies: %v\n", cfg.Validate())
			return exitUsage
		}
	case *live:
		o.Mode, o.DryRun = replay.Live, !*applyLive
		if err := cfg.Validate(); err != nil {
			fmt.Fprintf(a.stderr, "replay: --live: %v\n", err)
			return exitUsage
		}
	case *world != "":
		w, err := emulator.LoadWorldFile(*world)
		if err != nil {
			fmt.Fprintf(a.stderr, "replay: --world: %v\n", err)
			return exitUsage
		}
		o.World, o.WorldName = w, *world
	}
	if *expect != "" {
		want, err := replay.LoadExpectations(*expect)
		if err != nil {
			fmt.Fprintf(a.stderr, "replay: --expect: %v\n", err)
			return exitUsage
		}
		o.Expect, o.ExpectName = want, *expect
	}
	rep, err := replay.Run(ctx, o)
	if err != nil {
		fmt.Fprintf(a.stderr, "replay: %v\n", err)
		return exitFailure
	}
	if *asJSON {
		a.printJSON(rep)
	} else {
		rep.WriteText(a.stdout)
	}
	if !rep.OK() {
		return exitFailure
	}
	return exitOK
}
