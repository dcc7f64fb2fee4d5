package bench

import (
	"context"
	"fmt"
	"io"
	"strings"

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
	targetRemoval     = "the object read twice + a narrowed policy listing + exactly 1 delete"
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
func MeasureCalls(ctx context.Context) ([]Measure, Section, error) {
	// Snapshots 0 and 1 are converged, 2 has its policy but has lost its tag (a removal), 3 lacks
	// its policy; instances 0 and 1 are converged, 2 lacks its policy.
	spec := worldSpec{snapshots: 4, instances: 3}
	world, err := spec.prepared(ctx, 1, 1)
	if err != nil {
		return nil, Section{}, err
	}
	for i := range world.Snapshots {
		if world.Snapshots[i].ID == spec.snapshot(2).id {
			world.Snapshots[i].UserTags = []string{"env:bench"}
		}
	}
	srv, err := emulator.Start(world, "127.0.0.1:0")
	if err != nil {
		return nil, Section{}, err
	}
	defer srv.Close()
	rt, closeRT, err := newRuntime(ctx, srv, io.Discard)
	if err != nil {
		return nil, Section{}, err
	}
	defer closeRT()
	service := rt.Service(nil)
	fn, err := serveFunction(service.NewHTTPHandler(handlers.HTTPOptions{Ready: rt.Cloud.Ready}))
	if err != nil {
		return nil, Section{}, err
	}
	defer fn.close()
	m := &callMeter{srv: srv, send: newSender(fn.url, 1)}
	defer m.send.close()

	// Warm: the process has handled an event and listed the account (a cold index lists in the
	// background after its first events), so its policy index is loaded and fresh.
	warm, outcome, err := m.event(ctx, "warm-up", snapshotEvent(spec.snapshot(1)))
	if err != nil {
		return nil, Section{}, fmt.Errorf("warm-up event: %w", err)
	}
	if outcome != converge.Unchanged {
		return nil, Section{}, fmt.Errorf("warm-up event: outcome %s, want unchanged: the prepared world is not converged", outcome)
	}
	if _, err := rt.Index.Refresh(ctx); err != nil {
		return nil, Section{}, fmt.Errorf("warm-up listing: %w", err)
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
		{"pending-snapshot", snapshotEvent(spec.snapshot(3)), converge.Applied},
		{"pending-key", keyEvent(spec.instance(2)), converge.Applied},
		{"converged-snapshot", snapshotEvent(spec.snapshot(0)), converge.Duplicate}, // same source and id
		{"removal", detachEvent(spec.snapshot(2)), converge.Applied},
	}
	got := make([]Calls, len(probes))
	bad := make([]string, len(probes)) // why a probe's outcome makes its row fail
	for i, p := range probes {
		c, outcome, err := m.event(ctx, p.id, p.ev)
		if err != nil {
			return nil, Section{}, err
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
		row("calls: tag detach event removing a grant", targetRemoval, removalOK(got[5]), 5, "",
			"an is.tag.detach event for a snapshot that lost its restore tag and still has its policy: planned from a fresh v2 listing "+
				"narrowed by service_name (never from the cache), the policy deleted, the snapshot read again to verify; Stats() delta"),
		row("calls: duplicate event (same source and id)", targetDuplicate, got[4].Total == 0 && got[4].Tokens == 0, 4, "",
			"the converged snapshot event sent again with the same ce-source and ce-id; the answer's outcome must be duplicate"),
	}, callsSection(got[0], got[2], got[5], got[4]), nil
}

// removalOK: one delete, and no read of the whole account (the narrowed listing's pages only).
func removalOK(c Calls) bool {
	return c.Writes == 1 && c.Routes["DELETE /v2/policies/{id}"] == 1 && c.Routes["GET /v2/policies"] >= 1
}

// callsSection sets the calls per event of the many-writers design next to the figures of the
// last run before it (converged: the object read; one change: the read + the create; duplicate:
// nothing; a removal was planned from the cache, and not measured).
func callsSection(converged, change, removal, duplicate Calls) Section {
	var b strings.Builder
	b.WriteString("Snapshot tag events on a warm process, counted by the emulator in this run, next to the figures of ")
	b.WriteString("the last BENCHMARKS.md before the many-writers change (every decision then came from the policy cache).\n\n")
	b.WriteString("| event | before | now | what the extra calls buy |\n|---|---|---|---|\n")
	fmt.Fprintf(&b, "| converged (keep) | 1 call (the object read) | %s | the keep is confirmed with a GET of the policy: a policy deleted behind the cache is planned again |\n", converged)
	fmt.Fprintf(&b, "| one change (create) | 2 calls (the object read + the create) | %s | the object is read again after the write: a change made meanwhile by another writer is converged |\n", change)
	fmt.Fprintf(&b, "| removal (tag detached) | not measured (then planned from the policy cache) | %s | planned from a fresh listing narrowed by service_name: no grant is removed or kept from a stale cache |\n", removal)
	fmt.Fprintf(&b, "| duplicate (same source and id) | 0 calls | %s | — |\n", duplicate)
	return Section{Title: "Calls per event: before and after the many-writers change", Body: b.String()}
}
