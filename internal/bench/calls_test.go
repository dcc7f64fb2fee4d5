package bench

import (
	"context"
	"strings"
	"testing"
)

// TestMeasureCalls runs the call-count part of the bench. Calls are deterministic, so the
// figures are asserted exactly: a warm instance reads the object once and writes nothing when
// it is converged (+ one policy GET), reads it again after a write, plans a removal from a
// narrowed listing, and a duplicate costs nothing.
func TestMeasureCalls(t *testing.T) {
	measures, section, err := MeasureCalls(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want := []struct{ name, figure string }{
		{"calls: converged snapshot tag event, warm", "2 calls (GET /v1/snapshots/{id} ×1, GET /v2/policies/{id} ×1), 0 writes"},
		{"calls: converged KMS root key event, warm", "2 calls (GET /v2/policies/{id} ×1, GET /v2/resource_instances/{id} ×1), 0 writes"},
		{"calls: snapshot tag event needing one change", "3 calls (GET /v1/snapshots/{id} ×2, POST /v2/policies ×1), 1 write (the converged event: 2 reads)"},
		{"calls: KMS root key event needing one change", "3 calls (GET /v2/resource_instances/{id} ×2, POST /v2/policies ×1), 1 write (the converged event: 2 reads)"},
		{"calls: tag detach event removing a grant", "4 calls (DELETE /v2/policies/{id} ×1, GET /v1/snapshots/{id} ×2, GET /v2/policies ×1), 1 write"},
		{"calls: duplicate event (same source and id)", "0 calls, 0 writes"},
	}
	if !strings.Contains(section.Body, "| duplicate (same source and id) | 0 calls | 0 calls, 0 writes |") {
		t.Errorf("the calls section lacks the duplicate row:\n%s", section.Body)
	}
	if len(measures) != len(want) {
		t.Fatalf("%d measures, want %d: %+v", len(measures), len(want), measures)
	}
	for i, w := range want {
		m := measures[i]
		if m.Name != w.name || m.Figure != w.figure || !m.Pass {
			t.Errorf("row %d:\n got %s | %s | %s\nwant %s | %s | PASS", i, m.Name, m.Figure, m.Result(), w.name, w.figure)
		}
		if !strings.Contains(m.How, "event") {
			t.Errorf("row %d does not say how it is measured: %q", i, m.How)
		}
	}
}
