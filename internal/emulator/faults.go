package emulator

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"
	"time"
)

// Faults make the emulator misbehave the way IBM Cloud sometimes does. The zero value injects
// nothing. Over HTTP (/_emulator/faults) durations are whole milliseconds.
type Faults struct {
	// P429, P500 and P503 are the probabilities per request of answering that status instead of
	// the real answer (state unchanged).
	P429 float64 `json:"p429"`
	P500 float64 `json:"p500"`
	P503 float64 `json:"p503"`
	// PCommitThenFail is, for writes, the probability of applying the write and then answering
	// 500, as when a response is lost on the way back.
	PCommitThenFail float64 `json:"p_commit_then_fail"`
	// Latency plus a uniform random share of LatencyJitter is added to every IBM API request.
	Latency       time.Duration `json:"latency_ms"`
	LatencyJitter time.Duration `json:"latency_jitter_ms"`
	// NotFoundAfterCreate is how long GET /v1/policies/{id} answers 404 after the policy's
	// create (IAM's eventual consistency).
	NotFoundAfterCreate time.Duration `json:"not_found_after_create_ms"`
	// RetryAfter, when > 0, is sent as Retry-After (whole seconds, rounded up) on injected 429s.
	RetryAfter time.Duration `json:"retry_after_ms"`
	// Routes limits the probabilities to these route templates, e.g. "POST /v1/policies"; empty
	// means every IBM API route except the token endpoint.
	Routes []string `json:"routes"`
	// Seed makes the random draws reproducible when non-zero.
	Seed int64 `json:"seed"`
}

// faultsWire is the JSON form: the struct tags above name the fields, durations travel as
// milliseconds.
type faultsWire struct {
	P429                  float64  `json:"p429"`
	P500                  float64  `json:"p500"`
	P503                  float64  `json:"p503"`
	PCommitThenFail       float64  `json:"p_commit_then_fail"`
	LatencyMS             int64    `json:"latency_ms"`
	LatencyJitterMS       int64    `json:"latency_jitter_ms"`
	NotFoundAfterCreateMS int64    `json:"not_found_after_create_ms"`
	RetryAfterMS          int64    `json:"retry_after_ms"`
	Routes                []string `json:"routes"`
	Seed                  int64    `json:"seed"`
}

// maxFaultMS is the longest duration /_emulator/faults accepts: one hour.
const maxFaultMS = 3_600_000

// MarshalJSON writes durations as milliseconds.
func (f Faults) MarshalJSON() ([]byte, error) {
	routes := f.Routes
	if routes == nil {
		routes = []string{}
	}
	return json.Marshal(faultsWire{
		P429: f.P429, P500: f.P500, P503: f.P503, PCommitThenFail: f.PCommitThenFail,
		LatencyMS:             f.Latency.Milliseconds(),
		LatencyJitterMS:       f.LatencyJitter.Milliseconds(),
		NotFoundAfterCreateMS: f.NotFoundAfterCreate.Milliseconds(),
		RetryAfterMS:          f.RetryAfter.Milliseconds(),
		Routes:                routes,
		Seed:                  f.Seed,
	})
}

// UnmarshalJSON reads the millisecond form strictly (unknown fields are errors) and validates.
func (f *Faults) UnmarshalJSON(data []byte) error {
	var w faultsWire
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&w); err != nil {
		return fmt.Errorf("faults: %w", err)
	}
	for _, v := range []int64{w.LatencyMS, w.LatencyJitterMS, w.NotFoundAfterCreateMS, w.RetryAfterMS} {
		// Beyond an hour a duration is a mistake, and far beyond it the conversion overflows.
		if v > maxFaultMS {
			return fmt.Errorf("faults: durations are limited to %d ms", maxFaultMS)
		}
	}
	ms := time.Millisecond
	g := Faults{
		P429: w.P429, P500: w.P500, P503: w.P503, PCommitThenFail: w.PCommitThenFail,
		Latency:             time.Duration(w.LatencyMS) * ms,
		LatencyJitter:       time.Duration(w.LatencyJitterMS) * ms,
		NotFoundAfterCreate: time.Duration(w.NotFoundAfterCreateMS) * ms,
		RetryAfter:          time.Duration(w.RetryAfterMS) * ms,
		Routes:              w.Routes,
		Seed:                w.Seed,
	}
	if err := g.Validate(); err != nil {
		return err
	}
	*f = g
	return nil
}

// Validate checks probabilities are in [0,1], durations are not negative and routes are
// templates the emulator serves.
func (f Faults) Validate() error {
	for _, p := range []struct {
		name string
		v    float64
	}{{"p429", f.P429}, {"p500", f.P500}, {"p503", f.P503}, {"p_commit_then_fail", f.PCommitThenFail}} {
		if !(p.v >= 0 && p.v <= 1) { // also catches NaN
			return fmt.Errorf("faults: %s = %v is not a probability in [0,1]", p.name, p.v)
		}
	}
	if sum := f.P429 + f.P500 + f.P503; sum > 1 {
		return fmt.Errorf("faults: p429 + p500 + p503 = %v exceeds 1", sum)
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"latency_ms", f.Latency}, {"latency_jitter_ms", f.LatencyJitter}, {"not_found_after_create_ms", f.NotFoundAfterCreate}, {"retry_after_ms", f.RetryAfter}} {
		if d.v < 0 {
			return fmt.Errorf("faults: %s must not be negative", d.name)
		}
	}
	known := routeKeys()
	for _, r := range f.Routes {
		if !slices.Contains(known, r) {
			return fmt.Errorf("faults: unknown route %q (routes are e.g. %q)", r, "POST /v1/policies")
		}
	}
	return nil
}

func (f Faults) clone() Faults {
	f.Routes = append([]string(nil), f.Routes...)
	return f
}

// newRand gives the fault draws their source: seeded when asked, otherwise random per server.
func newRand(seed int64) *rand.Rand {
	if seed != 0 {
		return rand.New(rand.NewPCG(uint64(seed), 0x9e3779b97f4a7c15))
	}
	return rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64()))
}

// faultPlan is what the faults decided for one request.
type faultPlan struct {
	latency        time.Duration
	status         int // injected answer instead of the real one; 0 for none
	commitThenFail bool
}

// plan draws the faults of one request on rt; the caller holds Server.mu.
func (f *Faults) plan(rng *rand.Rand, rt *route) faultPlan {
	var fp faultPlan
	// Latency is for IBM API calls; the token endpoint is not one (Stats.Total leaves it out too),
	// and slowing it would only slow every client's first call.
	if rt.kind != kindToken {
		fp.latency = f.Latency
		if f.LatencyJitter > 0 {
			fp.latency += time.Duration(rng.Int64N(int64(f.LatencyJitter)))
		}
	}
	if !f.applies(rt) {
		return fp
	}
	if f.P429+f.P500+f.P503 > 0 {
		switch x := rng.Float64(); {
		case x < f.P429:
			fp.status = 429
		case x < f.P429+f.P500:
			fp.status = 500
		case x < f.P429+f.P500+f.P503:
			fp.status = 503
		}
	}
	if fp.status == 0 && rt.write && f.PCommitThenFail > 0 {
		fp.commitThenFail = rng.Float64() < f.PCommitThenFail
	}
	return fp
}

func (f *Faults) applies(rt *route) bool {
	if len(f.Routes) == 0 {
		return rt.kind != kindToken
	}
	return slices.Contains(f.Routes, rt.key())
}

// retryAfterSeconds rounds up, as a client must not retry earlier than asked.
func retryAfterSeconds(d time.Duration) int {
	s := int((d + time.Second - 1) / time.Second)
	return max(s, 1)
}
