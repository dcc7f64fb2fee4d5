package ibm

import (
	"fmt"
	"net/http"

	"github.com/IBM/go-sdk-core/v5/core"

	"github.com/s2s-authorizer/s2s-authorizer/internal/apply"
)

// APIError is a failed call: which operation on which object, and IBM's answer.
type APIError struct {
	Op     string // e.g. "create policy for crn:…"
	Status int    // HTTP status, 0 when no answer came
	Err    error
}

func (e *APIError) Error() string {
	if e.Status == 0 {
		return fmt.Sprintf("%s: %v", e.Op, e.Err)
	}
	return fmt.Sprintf("%s: IBM Cloud answered %d: %v", e.Op, e.Status, e.Err)
}

func (e *APIError) Unwrap() error { return e.Err }

// Transient reports whether trying again later may succeed: no answer at all, rate limiting, or
// a server error that survived the SDK's own retries. apply.IsTransient finds it in a chain.
func (e *APIError) Transient() bool {
	return e.Status == 0 || e.Status == http.StatusTooManyRequests || e.Status >= 500
}

// wrap turns an SDK failure into an *APIError; a 404 also matches apply.ErrNotFound, the writer
// contract's "gone", so that the layers above read no statuses.
func wrap(op string, resp *core.DetailedResponse, err error) error {
	status := 0
	if resp != nil {
		status = resp.StatusCode
	}
	if status == http.StatusNotFound {
		err = fmt.Errorf("%w: %w", apply.ErrNotFound, err)
	}
	return &APIError{Op: op, Status: status, Err: err}
}
