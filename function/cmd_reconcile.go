package main

import (
	"context"
	"fmt"

	"github.com/s2s-authorizer/s2s-authorizer/config"
	"github.com/s2s-authorizer/s2s-authorizer/internal/reconcile"
)

func runReconcile(ctx context.Context, a *app, args []string) int {
	fs := a.flags("reconcile", "[flags]", "Converge every authorization of the account: read all snapshots of IBMCLOUD_REGIONS,\nall KMS instances (and root keys in key scope) and all authorization policies, plan,\nand apply. Prints the plan like terraform plan.\n\nExit 0: done (with --detailed-exitcode: and nothing to change); 1: a read or write failed;\n2: usage or configuration error; 3: with --dry-run --detailed-exitcode, changes are pending\n(something to create, delete or replace), for a pipeline that fails on drift.")
	var l localFlags
	l.register(fs)
	var out reconcileOutput
	dryRun := fs.Bool("dry-run", false, "print the plan, write nothing (overrides DRY_RUN)")
	fs.BoolVar(&out.json, "json", false, "print the plan and its results as one JSON document")
	fs.IntVar(&out.concurrency, "concurrency", 4, "writes in flight at once")
	fs.Float64Var(&out.maxWrites, "max-writes-per-second", 5, "write rate limit, for IAM's rate limits")
	fs.BoolVar(&out.detailed, "detailed-exitcode", false, "with --dry-run (or DRY_RUN=true): exit 3 when changes are pending, like terraform plan -detailed-exitcode")
	if done, code := a.parse(fs, args, 0, 0); done {
		return code
	}
	if out.concurrency < 1 || out.maxWrites <= 0 {
		fmt.Fprintln(a.stderr, "reconcile: --concurrency and --max-writes-per-second must be positive")
		return exitUsage
	}
	s, code := a.open(ctx, l, func(c *config.Config) { c.DryRun = c.DryRun || *dryRun })
	if code != exitOK {
		return code
	}
	defer s.Close()
	if out.detailed && !s.Config.DryRun {
		// Without a dry run the changes are applied, and "pending" would mean nothing.
		fmt.Fprintln(a.stderr, "reconcile: --detailed-exitcode needs --dry-run (or DRY_RUN=true)")
		return exitUsage
	}
	return a.reconcileOnce(ctx, s, out)
}

type reconcileOutput struct {
	json        bool
	concurrency int
	maxWrites   float64
	// detailed makes pending changes of a dry run exit exitChanges.
	detailed bool
}

// exitChanges is reconcile --dry-run --detailed-exitcode's answer when changes are pending: a
// code of its own, apart from failure (1) and usage (2), as terraform plan -detailed-exitcode
// uses 2 beside its 1 for errors.
const exitChanges = 3

// reconcileOnce runs one full reconcile and prints its plan and outcome.
func (a *app) reconcileOnce(ctx context.Context, s *session, out reconcileOutput) int {
	rep := s.Reconciler(out.concurrency, out.maxWrites).Run(ctx)
	reconcile.LogReport(s.Logger, rep)
	if out.json {
		a.printJSON(rep.JSON(s.Config.DryRun))
	} else {
		rep.WritePlan(a.stdout)
		rep.WriteOutcome(a.stdout)
	}
	if rep.Failed() {
		return exitFailure
	}
	if out.detailed && rep.Plan.Pending() {
		return exitChanges
	}
	return exitOK
}
