// Package bench measures what a scale-to-zero function is judged on, against the embedded
// emulator and in one run: IBM API calls per event, throughput against a plain SDK floor and
// latency under that load, how a full reconcile grows with the account, a real-latency section
// (150 ms per IBM call: the first event after a cold start, the cache refreshing under load, the
// full reconcile against its slowest list), memory and emulator load at 50,000 snapshots, the
// write pace, cold start, idle memory and binary size. Every target is checked here, by the bench, never by timed unit tests; call
// counts are the emulator's own statistics, never estimates.
package bench

import (
	"context"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
	"time"
)

// Size is how big the bench's inputs are.
type Size string

const (
	// Small keeps every measure and shrinks the inputs so that CI can run it in well under a
	// minute on 2 cores.
	Small Size = "small"
	// Full is the size BENCHMARKS.md is written from.
	Full Size = "full"
)

// ParseSize reads a --size value.
func ParseSize(s string) (Size, error) {
	switch Size(s) {
	case Small, Full:
		return Size(s), nil
	}
	return "", fmt.Errorf("size %q: want small or full", s)
}

// params are the inputs of one size.
type params struct {
	throughput      throughputParams
	latency         latencyParams
	scaleSnapshots  int // the reconcile memory and emulator load world
	scaleTagged     int
	pending         int // creates of the write pace burst
	reconcileSmall  int
	reconcileBig    int
	reconcileRuns   int
	starts, idleRSS int
}

func (s Size) params() params {
	t := throughputParams{
		mix:     mixSpec{world: worldSpec{snapshots: 200, instances: 10}, pendingSnapshots: 50, pendingInstances: 3, keyEvery: 5},
		latency: 20 * time.Millisecond,
	}
	if s == Full {
		t.mix.events, t.passes, t.latencyEvents, t.latencyPasses = 2000, 12, 400, 4
		l := latencyParams{coldPolicies: 2000, refreshPolicies: 1000, refreshEvents: 160, refreshAfter: time.Second, readSnapshots: 10000, readTagged: 2000}
		return params{throughput: t, latency: l, scaleSnapshots: 50000, scaleTagged: 2000, pending: 25,
			reconcileSmall: 1000, reconcileBig: 10000, reconcileRuns: 7, starts: 20, idleRSS: 3}
	}
	t.mix.events, t.passes, t.latencyEvents, t.latencyPasses = 500, 4, 200, 2
	l := latencyParams{coldPolicies: 200, refreshPolicies: 200, refreshEvents: 48, refreshAfter: 300 * time.Millisecond, readSnapshots: 1000, readTagged: 200}
	return params{throughput: t, latency: l, scaleSnapshots: 5000, scaleTagged: 200, pending: 10,
		reconcileSmall: 100, reconcileBig: 1000, reconcileRuns: 3, starts: 10, idleRSS: 3}
}

// Options configure a run.
type Options struct {
	Size Size
	// Binary is a built s2s-authorizer to measure; empty builds one from the repository the
	// bench runs in (see buildBinary).
	Binary string
	// Command is the command line that reproduces the run, recorded in the report.
	Command string
	// Progress receives one line per step; nil discards them.
	Progress io.Writer
}

// Run takes every measure. A measure that cannot be taken fails with the reason as its figure;
// the error is for a run that cannot start at all.
func Run(ctx context.Context, o Options) (*Report, error) {
	start := time.Now()
	p := o.Size.params()
	progress := o.Progress
	if progress == nil {
		progress = io.Discard
	}
	step := func(format string, args ...any) {
		fmt.Fprintf(progress, "bench: %5.1fs  %s\n", time.Since(start).Seconds(), fmt.Sprintf(format, args...))
	}

	bin := binary{path: o.Binary, how: "the binary given with --binary"}
	if bin.path == "" {
		repo, err := repoRoot(ctx)
		if err != nil {
			return nil, err
		}
		dir, err := os.MkdirTemp("", "s2s-bench-")
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(dir)
		step("building the binary (%s size)", o.Size)
		if bin, err = buildBinary(ctx, o.Size, repo, dir); err != nil {
			return nil, err
		}
	}

	r := &Report{Size: o.Size, Date: start.UTC(), Command: o.Command, Machine: machine(bin.path)}
	step("calls per event")
	calls, section, err := MeasureCalls(ctx)
	if err == nil {
		r.Sections = append(r.Sections, section)
	} else {
		calls = []Measure{failure("calls per event", "≤ 2 calls, 0 writes; + 1 write; 0 for a duplicate", "see the other rows", err)}
	}
	r.Measures = append(r.Measures, calls...)
	step("throughput and latency: function vs floor, %d passes of %d events, then %d of %d with %s per call",
		p.throughput.passes, p.throughput.mix.events, p.throughput.latencyPasses, p.throughput.latencyEvents, ms(p.throughput.latency))
	measures, notes := MeasureThroughput(ctx, p.throughput)
	r.Measures, r.Notes = append(r.Measures, measures...), append(r.Notes, notes...)
	step("reconcile: %s and %s snapshots, %d runs each", count(p.reconcileSmall), count(p.reconcileBig), p.reconcileRuns)
	r.Measures = append(r.Measures, MeasureReconcile(ctx, bin, p.reconcileSmall, p.reconcileBig, p.reconcileRuns)...)
	l := p.latency
	step("real latency (%s per call): readiness, cold first event at %s policies, cache refresh under load at %s, full reconcile of %s snapshots",
		ms(realLatency), count(l.coldPolicies), count(l.refreshPolicies), count(l.readSnapshots))
	r.Measures = append(r.Measures, MeasureReadiness(ctx))
	r.Measures = append(r.Measures, MeasureColdEvent(ctx, l.coldPolicies)...)
	r.Measures = append(r.Measures, MeasureRefreshUnderLoad(ctx, l.refreshPolicies, l.refreshEvents, l.refreshAfter))
	r.Measures = append(r.Measures, MeasureReadPhase(ctx, bin, l.readSnapshots, l.readTagged))
	step("scale: %s snapshots (%s tagged): emulator load, lookups, reconcile memory", count(p.scaleSnapshots), count(p.scaleTagged))
	r.Measures = append(r.Measures, MeasureScale(ctx, bin, p.scaleSnapshots, p.scaleTagged)...)
	step("write pace: a burst of %d creates", p.pending)
	r.Measures = append(r.Measures, MeasurePace(ctx, p.pending))
	r.Sections = append(r.Sections, capSection())
	step("cold start and idle memory: %d starts", p.starts)
	r.Measures = append(r.Measures, MeasureStart(ctx, bin, p.starts, p.idleRSS)...)
	r.Measures = append(r.Measures, MeasureBinary(bin))
	r.Duration = time.Since(start)
	r.Machine.LoadEnd = loadAverage()
	step("done")
	return r, ctx.Err()
}

func machine(bin string) Machine {
	m := Machine{CPUs: runtime.NumCPU(), GOMAXPROCS: runtime.GOMAXPROCS(0), OS: runtime.GOOS + "/" + runtime.GOARCH,
		GoVersion: runtime.Version(), BinaryGoVersion: goVersion(bin), LoadStart: loadAverage()}
	if data, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(data), "\n") {
			if name, value, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(name) == "model name" {
				m.CPUModel = strings.TrimSpace(value)
				break
			}
		}
	}
	return m
}

// loadAverage is the 1-minute load average from /proc/loadavg, "" where there is none.
func loadAverage() string {
	data, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	if f := strings.Fields(string(data)); len(f) > 0 {
		return f[0]
	}
	return ""
}
