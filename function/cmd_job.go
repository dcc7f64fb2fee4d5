package main

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/s2s-authorizer/s2s-authorizer/config"
	"github.com/s2s-authorizer/s2s-authorizer/handlers"
	"github.com/s2s-authorizer/s2s-authorizer/internal/delivery"
	"github.com/s2s-authorizer/s2s-authorizer/internal/logging"
)

func runJob(ctx context.Context, a *app, args []string) int {
	fs := a.flags("job", "[flags]", "Handle the event a Code Engine job run was given (CE_ID, CE_SOURCE, CE_TYPE,\nCE_SPECVERSION, CE_SUBJECT, CE_TIME, CE_DATA, or an Event Notifications payload in\nibmendata) and print its result as JSON. With no event, run the full reconcile.\nExit 0: handled or ignored; 1: failed, a retry may help; 2: bad input or configuration.")
	var l localFlags
	l.register(fs)
	dryRun := fs.Bool("dry-run", false, "plan only, write nothing (overrides DRY_RUN)")
	if done, code := a.parse(fs, args, 0, 0); done {
		return code
	}
	cfg, ok := a.loadConfig(func(c *config.Config) { c.DryRun = c.DryRun || *dryRun })
	if !ok {
		return exitUsage
	}
	d, hasEvent := delivery.JobDelivery(a.lookupEnv)
	if hasEvent && d.Err != nil {
		// Bad input is refused before connecting anywhere: retrying the job cannot fix it.
		r := handlers.NewService(nil, handlers.Options{Logger: logging.New(cfg.LogLevel, a.stderr)}).Handle(ctx, d)
		a.printJSON(r)
		return handlers.JobExitCode(r)
	}
	s, code := a.connect(ctx, cfg, l)
	if code != exitOK {
		return code
	}
	defer s.Close()
	if !hasEvent || d.Tick {
		// No event, or the cron subscription's tick: the job is the daily reconcile, and exits
		// as reconcile does, so that Code Engine reruns a failed run and the failure is seen.
		return a.reconcileOnce(ctx, s, reconcileOutput{})
	}
	r := s.Service(nil).Handle(ctx, d)
	a.printJSON(r)
	return handlers.JobExitCode(r)
}

func (a *app) printJSON(v any) {
	enc := json.NewEncoder(a.stdout)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		fmt.Fprintf(a.stderr, "write output: %v\n", err)
	}
}
