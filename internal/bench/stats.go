package bench

import (
	"fmt"
	"maps"
	"math"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/s2s-authorizer/s2s-authorizer/internal/emulator"
)

// Percentile is the nearest-rank percentile p (0 < p ≤ 100) of samples: the smallest sample
// that at least p% of the samples do not exceed. It is 0 for no samples.
func Percentile(samples []time.Duration, p float64) time.Duration {
	if len(samples) == 0 {
		return 0
	}
	sorted := slices.Clone(samples)
	slices.Sort(sorted)
	rank := int(math.Ceil(p / 100 * float64(len(sorted))))
	rank = min(max(rank, 1), len(sorted))
	return sorted[rank-1]
}

// Median is the middle of values (the mean of the two middle ones for an even count); 0 for none.
func Median(values []float64) float64 {
	if len(values) == 0 {
		return 0
	}
	sorted := slices.Clone(values)
	slices.Sort(sorted)
	mid := len(sorted) / 2
	if len(sorted)%2 == 1 {
		return sorted[mid]
	}
	return (sorted[mid-1] + sorted[mid]) / 2
}

// MedianDuration is Median over durations.
func MedianDuration(samples []time.Duration) time.Duration {
	values := make([]float64, len(samples))
	for i, d := range samples {
		values[i] = float64(d)
	}
	return time.Duration(Median(values))
}

// ms renders a duration in milliseconds with a precision that suits its size.
func ms(d time.Duration) string {
	if d > 0 && d%time.Millisecond == 0 {
		return fmt.Sprintf("%d ms", d/time.Millisecond)
	}
	v := float64(d) / float64(time.Millisecond)
	switch {
	case v >= 100:
		return fmt.Sprintf("%.0f ms", v)
	case v >= 10:
		return fmt.Sprintf("%.1f ms", v)
	}
	return fmt.Sprintf("%.2f ms", v)
}

// mib renders a byte count in MiB.
func mib(bytes int64) string { return fmt.Sprintf("%.1f MiB", float64(bytes)/(1<<20)) }

// tokenRoutes are the emulator's IAM token endpoints: counted in Stats.Calls, not in Total.
var tokenRoutes = []string{"POST /identity/token", "POST /oidc/token"}

// Calls is what the emulator counted for one piece of work.
type Calls struct {
	Total  int            // IBM API calls, token requests excluded
	Writes int            // POST, PATCH and DELETE among Total
	Tokens int            // IAM token requests
	Routes map[string]int // per "METHOD /route", token routes excluded
}

// callsOf reads the emulator's counters.
func callsOf(s emulator.Stats) Calls {
	c := Calls{Total: s.Total, Writes: s.Writes, Routes: map[string]int{}}
	for route, n := range s.Calls {
		if slices.Contains(tokenRoutes, route) {
			c.Tokens += n
			continue
		}
		if n > 0 {
			c.Routes[route] = n
		}
	}
	return c
}

// Reads is the calls that are not writes.
func (c Calls) Reads() int { return c.Total - c.Writes }

// readRoutes are the GET routes and their counts.
func (c Calls) readRoutes() map[string]int {
	out := map[string]int{}
	for r, n := range c.Routes {
		if strings.HasPrefix(r, "GET ") {
			out[r] = n
		}
	}
	return out
}

// String lists the calls per route, e.g. "2 calls (GET /v1/snapshots/{id} ×1, POST /v2/policies ×1), 1 write".
func (c Calls) String() string {
	routes := make([]string, 0, len(c.Routes))
	for r := range c.Routes {
		routes = append(routes, r)
	}
	sort.Strings(routes)
	parts := make([]string, len(routes))
	for i, r := range routes {
		parts[i] = fmt.Sprintf("%s ×%d", r, c.Routes[r])
	}
	s := plural(c.Total, "call")
	if len(parts) > 0 {
		s += " (" + strings.Join(parts, ", ") + ")"
	}
	s += ", " + plural(c.Writes, "write")
	if c.Tokens > 0 {
		s += fmt.Sprintf(", +%s", plural(c.Tokens, "token request"))
	}
	return s
}

func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

// convergedOK is the target for an event whose object is already converged: at most maxCalls
// calls and no write.
func convergedOK(c Calls, maxCalls int) bool { return c.Total <= maxCalls && c.Writes == 0 }

// oneChangeOK is the target for an event that needs one change: the converged case's object read
// twice (the plan's read and the read that verifies nothing changed meanwhile), no policy read
// (a create needs no confirmation: IAM's 409 answers it), and exactly one write.
func oneChangeOK(converged, changed Calls) bool {
	want := map[string]int{}
	for r, n := range converged.readRoutes() {
		if !strings.HasPrefix(r, "GET /v2/policies") {
			want[r] = 2 * n
		}
	}
	return changed.Writes == 1 && maps.Equal(changed.readRoutes(), want)
}
