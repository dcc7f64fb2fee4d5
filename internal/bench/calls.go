package bench

import (
	"context"
	"fmt"
	"io"

	"github.com/s2s-authorizer/s2s-authorizer/handlers"
	"github.com/s2s-authorizer/s2s-authorizer/internal/converge"
	"github.com/s2s-authorizer/s2s-authorizer/internal/emulator"
)

// Targets of the call-count measures.
const (
	maxConvergedCalls = 2
	targetConverged   = "≤ 2 calls (the object read + one policy GET), 0 writes"
	targetOneChange   = "the object read twice (plan, verify) + exactly 1 write"
	targetDuplicate   = "0 calls"
)

// callMeter sends one event at a time to a warm function and reads what the emulator counted.
type callMeter struct {
	srv  *emulator.Server
	send *sender
}

func (m *callMeter) event(ctx context.Context, id string, ev event) (Calls, converge.Outcome, error) {
	m.srv.ResetStats()
	outcome, err := m.send.send(ctx, id, ev.body)
	return callsOf(m.srv.Stats()), outcome, err
}

// MeasureCalls measures the IBM API calls of single events on a warm instance: events whose
// object is already converged, events that need one change, and a duplicate. The counts are
// deterministic; they come from the emulator's statistics.
func MeasureCalls(ctx context.Context) ([]Measure, error) {
	spec := worldSpec{snapshots: 3, instances: 3}
	world, err := spec.prepared(ctx, 1, 1)
	if err != nil {
		return nil, err
	}
	srv, err := emulator.Start(world, "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	defer srv.Close()
	rt, closeRT, err := newRuntime(ctx, srv, io.Discard)
	if err != nil {
		return nil, err
	}
	defer closeRT()
	service := rt.Service(nil)
	fn, err := serveFunction(service.NewHTTPHandler(handlers.HTTPOptions{Ready: rt.Cloud.Ready}))
	if err != nil {
		return nil, err
	}
	defer fn.close()
	m := &callMeter{srv: srv, send: newSender(fn.url, 1)}
	defer m.send.close()

	// Warm: the process has handled an event and listed the account (a cold index lists in the
	// background after its first events), so its policy index is loaded and fresh.
	warm, outcome, err := m.event(ctx, "warm-up", snapshotEvent(spec.snapshot(1)))
	if err != nil {
		return nil, fmt.Errorf("warm-up event: %w", err)
	}
	if outcome != converge.Unchanged {
		return nil, fmt.Errorf("warm-up event: outcome %s, want unchanged: the prepared world is not converged", outcome)
	}
	if _, err := rt.Index.Refresh(ctx); err != nil {
		return nil, fmt.Errorf("warm-up listing: %w", err)
	}
	warmHow := fmt.Sprintf("the process first handled one other event (a cold one: %s) and listed the account", warm)

	type probe struct {
		id   string
		ev   event
		want converge.Outcome
	}
	probes := []probe{
		{"converged-snapshot", snapshotEvent(spec.snapshot(0)), converge.Unchanged},
		{"converged-key", keyEvent(spec.instance(0)), converge.Unchanged},
		{"pending-snapshot", snapshotEvent(spec.snapshot(2)), converge.Applied},
		{"pending-key", keyEvent(spec.instance(2)), converge.Applied},
		{"converged-snapshot", snapshotEvent(spec.snapshot(0)), converge.Duplicate}, // same source and id
	}
	got := make([]Calls, len(probes))
	bad := make([]string, len(probes)) // why a probe's outcome makes its row fail
	for i, p := range probes {
		c, outcome, err := m.event(ctx, p.id, p.ev)
		if err != nil {
			return nil, err
		}
		got[i] = c
		if outcome != p.want {
			bad[i] = fmt.Sprintf("; outcome %s, want %s", outcome, p.want)
		}
	}

	row := func(name, target string, pass bool, i int, note, how string) Measure {
		return Measure{Name: name, Target: target, Figure: got[i].String() + note + bad[i], Pass: pass && bad[i] == "", How: how}
	}
	sameReads := func(converged, changed int) string {
		return fmt.Sprintf(" (the converged event: %s)", plural(got[converged].Reads(), "read"))
	}
	return []Measure{
		row("calls: converged snapshot tag event, warm", targetConverged, convergedOK(got[0], maxConvergedCalls), 0, "",
			"an is.tag.attach event (binary CloudEvent over HTTP to the function) for a snapshot whose restore policy exists; "+warmHow+"; emulator Stats() delta"),
		row("calls: converged KMS root key event, warm", targetConverged, convergedOK(got[1], maxConvergedCalls), 1, "",
			"a kms.secrets.create event (keyType root_key, as Key Protect sends it) for a key whose instance's policy exists; same warm process; Stats() delta"),
		row("calls: snapshot tag event needing one change", targetOneChange, oneChangeOK(got[0], got[2]), 2, sameReads(0, 2),
			"the same event for a tagged snapshot without its policy; reads compared route by route with the converged snapshot event"),
		row("calls: KMS root key event needing one change", targetOneChange, oneChangeOK(got[1], got[3]), 3, sameReads(1, 3),
			"the same event for a root key of an instance without its policy; reads compared route by route with the converged key event"),
		row("calls: duplicate event (same source and id)", targetDuplicate, got[4].Total == 0 && got[4].Tokens == 0, 4, "",
			"the converged snapshot event sent again with the same ce-source and ce-id; the answer's outcome must be duplicate"),
	}, nil
}
