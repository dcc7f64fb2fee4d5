package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/s2s-authorizer/s2s-authorizer/handlers"
	"github.com/s2s-authorizer/s2s-authorizer/internal/authz"
	"github.com/s2s-authorizer/s2s-authorizer/internal/converge"
	"github.com/s2s-authorizer/s2s-authorizer/internal/emulator"
	"github.com/s2s-authorizer/s2s-authorizer/internal/wiring"
)

// The real-latency section: every IBM API call delayed as IBM Cloud's are, so that what a
// figure hides at emulator speed (a listing of thousands of policies, lists one after another)
// shows.
const (
	realLatency       = 150 * time.Millisecond
	maxColdCalls      = 2
	maxColdTime       = 500 * time.Millisecond
	maxRefreshTail    = 5.0
	maxReadOverList   = 1.2
	targetColdCalls   = "≤ 2 IBM calls, 0 writes"
	targetColdTime    = "≤ 0.5 s"
	targetReadiness   = "≤ 2 × one call: the role reads overlap"
	targetRefreshTail = "p99 ≤ 5 × p50"
	targetReadPhase   = "wall time ≤ 1.2 × the slowest single list"
)

// slowIBM delays every IBM API call by realLatency; the emulator never delays its token
// endpoint (not an API call, and not counted in Stats.Total).
var slowIBM = emulator.Faults{Latency: realLatency}

// latencyParams are the inputs of the real-latency section.
type latencyParams struct {
	coldPolicies    int           // converged world of the cold first event
	refreshPolicies int           // converged world of the cache refresh under load
	refreshEvents   int           // events of that load
	refreshAfter    time.Duration // when into the load the cache is expired
	readSnapshots   int           // snapshots of the full reconcile's world (2 regions)
	readTagged      int           // of which tagged, so as many restore policies
}

// live is the function's event path as serve assembles it, behind HTTP, against srv.
type live struct {
	rt   *wiring.Runtime
	fn   *functionServer
	send *sender
	done func()
}

// startLive builds the runtime and its HTTP handler and waits until it would answer /readyz
// (a token and IAM's roles), as serve does before its first event.
func startLive(ctx context.Context, srv *emulator.Server) (*live, error) {
	rt, closeRT, err := newRuntime(ctx, srv, io.Discard)
	if err != nil {
		return nil, err
	}
	if err := rt.Cloud.Ready(ctx); err != nil {
		closeRT()
		return nil, fmt.Errorf("ready: %w", err)
	}
	fn, err := serveFunction(rt.Service(nil).NewHTTPHandler(handlers.HTTPOptions{Ready: rt.Cloud.Ready}))
	if err != nil {
		closeRT()
		return nil, err
	}
	send := newSender(fn.url, senders)
	return &live{rt: rt, fn: fn, send: send, done: func() { send.close(); fn.close(); closeRT() }}, nil
}

// warm handles one event and lists the account, so that the index is loaded and fresh.
func (l *live) warm(ctx context.Context, ev event) error {
	if outcome, err := l.send.send(ctx, "warm-up", ev.body); err != nil || outcome != converge.Unchanged {
		return fmt.Errorf("warm-up event: outcome %q, %v", outcome, err)
	}
	if _, err := l.rt.Index.Refresh(ctx); err != nil {
		return fmt.Errorf("warm-up listing: %w", err)
	}
	return nil
}

// convergedServer starts an emulator over the converged world of spec.
func convergedServer(ctx context.Context, spec worldSpec) (*emulator.Server, error) {
	world, err := spec.prepared(ctx, 0, 0)
	if err != nil {
		return nil, err
	}
	if got := len(world.Policies) + len(world.PoliciesV2); got != spec.policies() {
		return nil, fmt.Errorf("prepared world holds %d policies, want %d", got, spec.policies())
	}
	return emulator.Start(world, "127.0.0.1:0")
}

// policyCount is how many policies the emulator holds.
func policyCount(srv *emulator.Server) int {
	w := srv.World()
	return len(w.Policies) + len(w.PoliciesV2)
}

// MeasureReadiness is what a process just scaled from zero does before /readyz answers 200 and
// its first event is taken: take a token and read IAM's roles, one list per (target, source)
// pair, with every IBM call taking realLatency.
func MeasureReadiness(ctx context.Context) Measure {
	name := "150 ms per call: start to ready after a scale from zero (token, IAM's role lists)"
	how := fmt.Sprintf("the runtime serve builds (wiring.Build: the token, which the emulator never delays, and IAM's roles), then "+
		"its readiness check as /readyz runs it, timed together, with the emulator delaying every IBM API call by %s; emulator "+
		"Stats() delta", ms(realLatency))
	srv, err := emulator.Start(emulator.SampleWorld(), "127.0.0.1:0")
	if err != nil {
		return failure(name, targetReadiness, how, err)
	}
	defer srv.Close()
	srv.SetFaults(slowIBM)
	start := time.Now()
	rt, closeRT, err := newRuntime(ctx, srv, io.Discard)
	if err == nil {
		defer closeRT()
		err = rt.Cloud.Ready(ctx)
	}
	took := time.Since(start)
	srv.SetFaults(emulator.Faults{})
	if err != nil {
		return failure(name, targetReadiness, how, err)
	}
	c := callsOf(srv.Stats())
	return Measure{Name: name, Target: targetReadiness, How: how, Pass: took <= 2*realLatency,
		Figure: fmt.Sprintf("%s for %s (%s were they made one after another)", ms(took), c, ms(time.Duration(c.Total)*realLatency))}
}

// MeasureColdEvent is the first event of a process just scaled from zero, on a converged
// snapshot of an account holding n policies, with every IBM call taking realLatency.
func MeasureColdEvent(ctx context.Context, n int) []Measure {
	nameCalls := fmt.Sprintf("150 ms per call: IBM calls for the first event after a cold start, converged snapshot, %s policies", count(n))
	nameTime := "150 ms per call: time of that first event"
	howCalls := fmt.Sprintf("a fresh runtime as serve builds it after scale from zero (token and IAM's roles read, as /readyz needs: "+
		"%d role reads before the event, not counted), its policy index never listed; one is.tag.attach event over HTTP for a snapshot "+
		"whose restore policy exists, among %s; emulator Stats() delta from the event's send to its answer (the index lists in the "+
		"background after its first second)", roleReads, count(n))
	howTime := fmt.Sprintf("the same event timed at its sender, with the emulator delaying every IBM API call by %s (token requests excepted)", ms(realLatency))
	fail := func(err error) []Measure {
		return []Measure{failure(nameCalls, targetColdCalls, howCalls, err), failure(nameTime, targetColdTime, howTime, err)}
	}
	spec := worldSpec{snapshots: n}
	srv, err := convergedServer(ctx, spec)
	if err != nil {
		return fail(err)
	}
	defer srv.Close()
	l, err := startLive(ctx, srv)
	if err != nil {
		return fail(err)
	}
	defer l.done()
	before := policyCount(srv)
	srv.ResetStats()
	srv.SetFaults(slowIBM)
	start := time.Now()
	outcome, err := l.send.send(ctx, "cold", snapshotEvent(spec.snapshot(n/2)).body)
	took := time.Since(start)
	c := callsOf(srv.Stats())
	srv.SetFaults(emulator.Faults{}) // the background listing that follows runs at emulator speed
	if err == nil && outcome != converge.Unchanged {
		err = fmt.Errorf("outcome %s, want unchanged", outcome)
	}
	if err != nil {
		return fail(err)
	}
	// A cold index does not know the policy, so it lets the create go; IAM's 409 answers it and
	// the existing policy is adopted: a POST that changes nothing.
	made := policyCount(srv) - before
	return []Measure{
		{Name: nameCalls, Target: targetColdCalls, Pass: c.Total <= maxColdCalls && made == 0, How: howCalls + "; a create answered 409 (the grant exists, adopted) changes nothing and is not a write",
			Figure: fmt.Sprintf("%s (the emulator counts the POST as a write; IAM answered it 409: the grant exists, adopted), %d policies created, outcome unchanged", c, made)},
		{Name: nameTime, Target: targetColdTime, Pass: took <= maxColdTime, How: howTime,
			Figure: fmt.Sprintf("%s (%s × %s = %s of it waiting on IBM)", ms(took), plural(c.Total, "call"), ms(realLatency), ms(time.Duration(c.Total)*realLatency))},
	}
}

// MeasureRefreshUnderLoad expires the policy cache of a loaded process while 8 senders keep
// sending converged events, every IBM call taking realLatency, and compares the tail with the
// median.
func MeasureRefreshUnderLoad(ctx context.Context, n, events int, after time.Duration) Measure {
	name := fmt.Sprintf("150 ms per call: p99 / p50 per event while the cache refreshes under load, %d senders, %s policies", senders, count(n))
	how := fmt.Sprintf("a warm function (one event handled, the account listed) over a converged world of %s snapshots; %d senders post %d "+
		"is.tag.attach events on random converged snapshots; %s into the load the policy index is expired (as its TTL does), so that the "+
		"next event starts the one background listing (%d pages × %s) while events go on; each event timed at its sender, "+
		"nearest-rank percentiles", count(n), senders, events, ms(after), pages(n), ms(realLatency))
	spec := worldSpec{snapshots: n}
	srv, err := convergedServer(ctx, spec)
	if err != nil {
		return failure(name, targetRefreshTail, how, err)
	}
	defer srv.Close()
	l, err := startLive(ctx, srv)
	if err != nil {
		return failure(name, targetRefreshTail, how, err)
	}
	defer l.done()
	if err := l.warm(ctx, snapshotEvent(spec.snapshot(0))); err != nil {
		return failure(name, targetRefreshTail, how, err)
	}
	r := rand.New(rand.NewPCG(16, 16))
	evs := make([]event, events)
	for i := range evs {
		evs[i] = snapshotEvent(spec.snapshot(r.IntN(n)))
	}
	srv.ResetStats()
	srv.SetFaults(slowIBM)
	defer srv.SetFaults(emulator.Faults{})
	var expiredAt time.Time
	var once sync.Once
	start := time.Now()
	got, err := drive(ctx, evs, func(ctx context.Context, i int, ev event) error {
		if time.Since(start) >= after {
			once.Do(func() { expiredAt = time.Now(); l.rt.Index.Invalidate() })
		}
		outcome, err := l.send.send(ctx, fmt.Sprintf("load-%d", i), ev.body)
		if err == nil && outcome != converge.Unchanged {
			err = fmt.Errorf("event %d: outcome %s", i, outcome)
		}
		return err
	})
	if err != nil {
		return failure(name, targetRefreshTail, how, err)
	}
	c := callsOf(srv.Stats())
	listed := c.Routes["GET /v2/policies"]
	if expiredAt.IsZero() || listed < pages(n) {
		return failure(name, targetRefreshTail, how, fmt.Errorf("the refresh did not run within the load (%d of %d list pages): make the load longer", listed, pages(n)))
	}
	p50, p99 := Percentile(got.latencies, 50), Percentile(got.latencies, 99)
	tail := float64(p99) / float64(p50)
	return Measure{Name: name, Target: targetRefreshTail, Pass: tail <= maxRefreshTail, How: how,
		Figure: fmt.Sprintf("p50 %s, p99 %s: p99 = %.2f × p50; %.0f events/s; the refresh listed %d pages (%s) from %s into the %s load",
			ms(p50), ms(p99), tail, got.perSecond(), listed, ms(time.Duration(listed)*realLatency), ms(expiredAt.Sub(start).Round(time.Millisecond)), ms(got.wall.Round(time.Millisecond)))}
}

// MeasureReadPhase runs the binary's full reconcile of a converged account, every IBM call
// taking realLatency, and compares its wall time with the slowest of the lists it makes.
func MeasureReadPhase(ctx context.Context, b binary, snapshots, tagged int) Measure {
	name := fmt.Sprintf("150 ms per call: full reconcile, converged, %s snapshots in 2 regions + %s policies", count(snapshots), count(tagged))
	how := fmt.Sprintf("duration_ms of `reconcile --json` of the binary (the role reads of its start not included) against a converged world "+
		"of %s snapshots (2 regions), %s of them tagged for restore and so as many policies, every IBM call delayed by %s; the slowest "+
		"single list = the longest of the policy, each region's snapshot, KMS instance and backup policy lists, each timed alone "+
		"through the project's adapters (all at once, each page after page); emulator Stats() checked: the run writes nothing",
		count(snapshots), count(tagged), ms(realLatency))
	spec := worldSpec{snapshots: snapshots, untagged: snapshots - tagged}
	srv, err := convergedServer(ctx, spec)
	if err != nil {
		return failure(name, targetReadPhase, how, err)
	}
	defer srv.Close()
	rt, closeRT, err := newRuntime(ctx, srv, io.Discard)
	if err != nil {
		return failure(name, targetReadPhase, how, err)
	}
	defer closeRT()
	srv.SetFaults(slowIBM)
	defer srv.SetFaults(emulator.Faults{})
	type list struct {
		name string
		run  func() error
		took time.Duration
		err  error
	}
	lists := []*list{{name: "policies", run: func() error { _, err := rt.Cloud.Policies.List(ctx); return err }},
		{name: "KMS instances", run: func() error { _, err := rt.Cloud.Instances.List(ctx); return err }}}
	for _, region := range regions {
		lists = append(lists,
			&list{name: "snapshots in " + region, run: func() error {
				return rt.Cloud.Snapshots.List(ctx, region, func([]authz.Snapshot) error { return nil })
			}},
			&list{name: "backup policies in " + region, run: func() error { _, err := rt.Cloud.Snapshots.CountBackupPolicies(ctx, region); return err }})
	}
	var wg sync.WaitGroup
	for _, l := range lists {
		wg.Add(1)
		go func() {
			defer wg.Done()
			t := time.Now()
			l.err = l.run()
			l.took = time.Since(t)
		}()
	}
	wg.Wait()
	slowest := lists[0]
	for _, l := range lists {
		if l.err != nil {
			return failure(name, targetReadPhase, how, fmt.Errorf("list %s: %w", l.name, l.err))
		}
		if l.took > slowest.took {
			slowest = l
		}
	}
	r, err := runReconcile(ctx, b.path, srv)
	if err == nil && (r.calls.Writes != 0 || r.changes != 0) {
		err = fmt.Errorf("the converged world is not converged: %s", r.calls)
	}
	if err != nil {
		return failure(name, targetReadPhase, how, err)
	}
	if slowest.took <= 0 {
		return failure(name, targetReadPhase, how, errors.New("no list took any time"))
	}
	ratio := float64(r.duration) / float64(slowest.took)
	return Measure{Name: name, Target: targetReadPhase, Pass: ratio <= maxReadOverList, How: how,
		Figure: fmt.Sprintf("%.2f × (reconcile %s, the slowest list %s: %s; the run made %s)",
			ratio, ms(r.duration), slowest.name, ms(slowest.took.Round(time.Millisecond)), r.calls)}
}
