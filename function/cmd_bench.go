package main

import (
	"context"
	"fmt"
	"os"

	"github.com/s2s-authorizer/s2s-authorizer/internal/bench"
)

// exitNotMeasured is bench's status when a measure could not be taken at all: the bench is
// broken, which CI must tell apart from a missed target (1).
const exitNotMeasured = 3

func runBench(ctx context.Context, a *app, args []string) int {
	fs := a.flags("bench", "[--size small|full] [--out FILE] [--json] [--binary PATH]",
		"Measure, against the embedded emulator and in one run, the IBM API calls per event, throughput\n"+
			"against a plain SDK floor, latency, reconcile scaling, the same with 150 ms per IBM call (cold first\n"+
			"event, cache refresh under load, full reconcile), reconcile memory at scale, the write pace, cold\n"+
			"start, idle memory and binary size;\n"+
			"print each target with PASS or FAIL and write the figures to --out. Run it from the repository:\n"+
			"it builds the binary it measures (the release build at the full size).\n"+
			"Exit 0 when every target is met, 1 when one is missed, 2 on usage errors, 3 when a measure could\n"+
			"not be taken.")
	size := fs.String("size", string(bench.Full), "small (CI, under a minute) or full (BENCHMARKS.md)")
	out := fs.String("out", "BENCHMARKS.md", "file to write the figures to as Markdown; empty writes none")
	asJSON := fs.Bool("json", false, "print the report as JSON instead of a table")
	binary := fs.String("binary", "", "measure this built s2s-authorizer instead of building one")
	if done, code := a.parse(fs, args, 0, 0); done {
		return code
	}
	if *binary != "" && !a.existingPaths(fs, "--binary", *binary) {
		return exitUsage
	}
	s, err := bench.ParseSize(*size)
	if err != nil {
		fmt.Fprintf(a.stderr, "bench: %v\n", err)
		fs.Usage()
		return exitUsage
	}
	// The recorded command leaves out --binary and --out: they name paths of this machine.
	rep, err := bench.Run(ctx, bench.Options{Size: s, Binary: *binary, Command: "go run ./function bench --size " + string(s), Progress: a.stderr})
	if err != nil {
		fmt.Fprintf(a.stderr, "bench: %v\n", err)
		return exitNotMeasured
	}
	if *asJSON {
		a.printJSON(rep)
	} else if err := rep.WriteTable(a.stdout); err != nil {
		fmt.Fprintf(a.stderr, "bench: %v\n", err)
		return exitFailure
	}
	if *out != "" {
		f, err := os.Create(*out)
		if err == nil {
			err = rep.WriteMarkdown(f)
			if cerr := f.Close(); err == nil {
				err = cerr
			}
		}
		if err != nil {
			fmt.Fprintf(a.stderr, "bench: write %s: %v\n", *out, err)
			return exitFailure
		}
	}
	fmt.Fprintf(a.stderr, "bench: %s size took %s\n", s, rep.Duration.Round(1e8))
	switch {
	case !rep.Complete():
		return exitNotMeasured
	case !rep.Passed():
		return exitFailure
	}
	return exitOK
}
