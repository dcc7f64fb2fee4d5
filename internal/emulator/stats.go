package emulator

import (
	"maps"
	"strconv"
)

// Stats counts the requests the emulator answered, so that tests can assert how many IBM API
// calls a piece of code makes.
type Stats struct {
	// Calls is per "METHOD /route/template", e.g. "GET /v1/policies/{id}"; VPC routes are
	// counted without their /vpc/{region} prefix. The token endpoint is included.
	Calls map[string]int `json:"calls"`
	// Total is IBM API calls, excluding the token endpoint and /_emulator/*.
	Total int `json:"total"`
	// Writes is the POST, PATCH and DELETE calls among Total.
	Writes int `json:"writes"`
	// PolicyWrites is POST /v1/policies and /v2/policies plus DELETE /v1/policies/{id} and
	// /v2/policies/{id}.
	PolicyWrites int `json:"policy_writes"`
	// Faults counts injected answers per route and status, e.g. "POST /v1/policies 503".
	Faults map[string]int `json:"faults"`
}

func newStats() Stats {
	return Stats{Calls: map[string]int{}, Faults: map[string]int{}}
}

func (s Stats) clone() Stats {
	s.Calls = maps.Clone(s.Calls)
	s.Faults = maps.Clone(s.Faults)
	return s
}

// count records one call of rt; requests are counted whatever their outcome, because each one
// is a call the client made.
func (s *Stats) count(rt *route) {
	s.Calls[rt.key()]++
	if rt.kind == kindToken {
		return
	}
	s.Total++
	if rt.write {
		s.Writes++
	}
	if rt.policyWrite {
		s.PolicyWrites++
	}
}

func (s *Stats) fault(rt *route, status int) {
	s.Faults[rt.key()+" "+strconv.Itoa(status)]++
}
