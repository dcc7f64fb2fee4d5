package ibm

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/IBM/go-sdk-core/v5/core"

	"github.com/s2s-authorizer/s2s-authorizer/internal/authz"
)

// ErrNotFound is returned when IBM Cloud answers 404: the object or policy is gone.
var ErrNotFound = errors.New("not found")

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
// a server error that survived the SDK's own retries.
func (e *APIError) Transient() bool {
	return e.Status == 0 || e.Status == http.StatusTooManyRequests || e.Status >= 500
}

// IsTransient reports whether err, anywhere in its chain, is a transient IBM Cloud failure.
func IsTransient(err error) bool {
	var apiErr *APIError
	return errors.As(err, &apiErr) && apiErr.Transient()
}

// ConflictError is a create answered 409: an active policy with the same grant exists.
type ConflictError struct {
	Existing authz.Policy
}

func (e *ConflictError) Error() string {
	return fmt.Sprintf("an equal policy exists already: %s", e.Existing.ID)
}

// wrap turns an SDK failure into an *APIError; a 404 also matches ErrNotFound.
func wrap(op string, resp *core.DetailedResponse, err error) error {
	status := 0
	if resp != nil {
		status = resp.StatusCode
	}
	if status == http.StatusNotFound {
		err = fmt.Errorf("%w: %w", ErrNotFound, err)
	}
	return &APIError{Op: op, Status: status, Err: err}
}
