package handlers

import "github.com/s2s-authorizer/s2s-authorizer/internal/converge"

// Exit codes of the job: retried by Code Engine on 1, not on 2.
const (
	JobOK       = 0
	JobRetry    = 1
	JobBadInput = 2
)

// JobExitCode maps an event's result to the job's exit code.
func JobExitCode(r Result) int {
	switch r.Outcome {
	case converge.Rejected:
		return JobBadInput
	case converge.Failed:
		return JobRetry
	}
	return JobOK
}
