package bench

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"time"

	"github.com/s2s-authorizer/s2s-authorizer/internal/converge"
	"github.com/s2s-authorizer/s2s-authorizer/internal/emulator"
)

// Targets of the scale measures.
const (
	maxReconcileRSS    = 64 << 20
	maxWorldLoad       = 2 * time.Second
	maxLookupGrowth    = 2.0
	lookupSmallWorld   = 1000
	lookups            = 300
	targetReconcileRSS = "≤ 64 MiB"
	targetWorldLoad    = "load ≤ 2 s; lookup O(1): time per lookup ≤ 2 × that in a 1,000-snapshot world"
	targetPace         = "≤ MAX_WRITES_PER_SECOND after the first write, events and the reconcile on one limiter per process"
)

// MeasureScale loads an emulator world of snapshots (tagged of them for restore, converged),
// times its load and snapshot lookups, and reads the peak memory of the binary's full
// reconcile over it.
func MeasureScale(ctx context.Context, b binary, snapshots, tagged int) []Measure {
	nameRSS := fmt.Sprintf("reconcile peak memory, %s snapshots of which %s tagged", count(snapshots), count(tagged))
	nameLoad := fmt.Sprintf("emulator: world load and snapshot lookup at %s snapshots", count(snapshots))
	howRSS := fmt.Sprintf("VmHWM of `reconcile --json` of the binary (read from /proc/PID/status every 2 ms) against a converged world of %s "+
		"snapshots in 2 regions, %s of them tagged for restore (as many policies); emulator speed; the run must write nothing", count(snapshots), count(tagged))
	howLoad := fmt.Sprintf("emulator.Start of the converged world (parse, index, listen); lookups: median time of %d GET /v1/snapshots/{id} "+
		"of random snapshots through the project's adapter, one at a time, against this world and against a %s-snapshot one, same run",
		lookups, count(lookupSmallWorld))
	fail := func(err error) []Measure {
		return []Measure{failure(nameRSS, targetReconcileRSS, howRSS, err), failure(nameLoad, targetWorldLoad, howLoad, err)}
	}
	spec := worldSpec{snapshots: snapshots, untagged: snapshots - tagged}
	world, err := spec.prepared(ctx, 0, 0)
	if err != nil {
		return fail(err)
	}
	start := time.Now()
	srv, err := emulator.Start(world, "127.0.0.1:0")
	load := time.Since(start)
	if err != nil {
		return fail(err)
	}
	defer srv.Close()
	world = nil

	small, err := emulator.Start(worldSpec{snapshots: lookupSmallWorld}.build(), "127.0.0.1:0")
	if err != nil {
		return fail(err)
	}
	defer small.Close()
	bigLookup, err := lookupTime(ctx, srv, spec)
	if err != nil {
		return fail(err)
	}
	smallLookup, err := lookupTime(ctx, small, worldSpec{snapshots: lookupSmallWorld})
	if err != nil {
		return fail(err)
	}
	growth := float64(bigLookup) / float64(max(smallLookup, time.Microsecond))

	r, err := runReconcile(ctx, b.path, srv)
	if err == nil && (r.calls.Writes != 0 || r.changes != 0) {
		err = fmt.Errorf("the converged world is not converged: %s", r.calls)
	}
	if err != nil {
		return fail(err)
	}
	return []Measure{
		{Name: nameRSS, Target: targetReconcileRSS, Pass: r.peak > 0 && r.peak <= maxReconcileRSS, How: howRSS,
			Figure: fmt.Sprintf("%s VmHWM (%s in the run, %s)", mib(r.peak), ms(r.duration), r.calls)},
		{Name: nameLoad, Target: targetWorldLoad, Pass: load <= maxWorldLoad && growth <= maxLookupGrowth, How: howLoad,
			Figure: fmt.Sprintf("load %s; lookup %s at %s vs %s at %s snapshots: %.2f ×",
				ms(load.Round(time.Millisecond)), ms(bigLookup), count(snapshots), ms(smallLookup), count(lookupSmallWorld), growth)},
	}
}

// lookupTime is the median time of one snapshot GET through the project's adapter.
func lookupTime(ctx context.Context, srv *emulator.Server, spec worldSpec) (time.Duration, error) {
	rt, closeRT, err := newRuntime(ctx, srv, io.Discard)
	if err != nil {
		return 0, err
	}
	defer closeRT()
	r := rand.New(rand.NewPCG(50, 50))
	times := make([]time.Duration, 0, lookups)
	for range lookups {
		s := spec.snapshot(r.IntN(spec.snapshots))
		t := time.Now()
		if _, err := rt.Cloud.Snapshots.Get(ctx, s.region, s.id); err != nil {
			return 0, fmt.Errorf("get snapshot %s: %w", s.id, err)
		}
		times = append(times, time.Since(t))
	}
	return MedianDuration(times), nil
}

// MeasurePace sends a burst of events that each need a create to a function with the default
// configuration and measures the creates per second it achieves.
func MeasurePace(ctx context.Context, pending int) Measure {
	name := "event-path writes paced"
	how := fmt.Sprintf("a warm function with the default configuration; %d senders post at once one is.tag.attach event for each of %d "+
		"tagged snapshots without their policy (a bulk tagging burst), at emulator speed; creates/s = (creates - 1) / the burst's wall "+
		"time (the limiter lets one write through at once); the same limiter paces the reconcile of the process", senders, pending)
	spec := worldSpec{snapshots: pending + 1}
	world, err := spec.prepared(ctx, pending, 0)
	if err != nil {
		return failure(name, targetPace, how, err)
	}
	srv, err := emulator.Start(world, "127.0.0.1:0")
	if err != nil {
		return failure(name, targetPace, how, err)
	}
	defer srv.Close()
	l, err := startLive(ctx, srv)
	if err != nil {
		return failure(name, targetPace, how, err)
	}
	defer l.done()
	if err := l.warm(ctx, snapshotEvent(spec.snapshot(0))); err != nil {
		return failure(name, targetPace, how, err)
	}
	pace := l.rt.Config.MaxWritesPerSecond
	evs := make([]event, pending)
	for i := range evs {
		evs[i] = snapshotEvent(spec.snapshot(1 + i))
	}
	srv.ResetStats()
	got, err := drive(ctx, evs, func(ctx context.Context, i int, ev event) error {
		outcome, err := l.send.send(ctx, fmt.Sprintf("burst-%d", i), ev.body)
		if err == nil && outcome != converge.Applied {
			err = fmt.Errorf("event %d: outcome %s, want applied", i, outcome)
		}
		return err
	})
	if err != nil {
		return failure(name, targetPace, how, err)
	}
	c := callsOf(srv.Stats())
	rate := float64(c.Writes-1) / got.wall.Seconds()
	return Measure{Name: name, Target: targetPace, Pass: c.Writes == pending && rate <= pace*1.05, How: how,
		Figure: fmt.Sprintf("MAX_WRITES_PER_SECOND %g (the default): %d creates in %s: %.2f creates/s", pace, c.Writes, ms(got.wall.Round(time.Millisecond)), rate)}
}
