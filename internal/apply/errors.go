package apply

import (
	"errors"
	"fmt"

	"github.com/s2s-authorizer/s2s-authorizer/internal/authz"
)

// The errors of the Writer contract. The adapters translate IBM's answers into them, so that
// nothing above the adapters reads HTTP statuses.

// ErrNotFound is what a Writer's Delete returns (wrapped) when the policy is gone already.
var ErrNotFound = errors.New("not found")

// IsNotFound reports whether err, anywhere in its chain, says the thing is gone.
func IsNotFound(err error) bool { return errors.Is(err, ErrNotFound) }

// ConflictError is a create that IAM refused because an active policy with the same type,
// subject and resource attributes exists; Existing is that policy, read from IAM's answer.
type ConflictError struct {
	Existing authz.Policy
}

func (e *ConflictError) Error() string {
	return fmt.Sprintf("an equal policy exists already: %s", e.Existing.ID)
}

// AsConflict returns the conflict in err's chain.
func AsConflict(err error) (*ConflictError, bool) {
	var c *ConflictError
	ok := errors.As(err, &c)
	return c, ok
}

// LimitError is a create refused because the account is at IAM's cap of policies (facts file,
// section 2: 4,020 per account), or near it by the configured headroom. Retrying cannot help: the
// change is reported as refused, not failed.
type LimitError struct {
	Reason string
}

func (e *LimitError) Error() string { return e.Reason }

// transient is implemented by errors that know whether a retry may help (the adapters' API
// errors).
type transient interface{ Transient() bool }

// IsTransient reports whether err, anywhere in its chain, is a failure that may pass when tried
// again later: the sender should redeliver the event.
func IsTransient(err error) bool {
	var t transient
	return errors.As(err, &t) && t.Transient()
}

// Transient marks err as one a retry may cure (a deadline, a cancelled wait).
func Transient(err error) error {
	if err == nil {
		return nil
	}
	return transientError{err}
}

type transientError struct{ err error }

func (e transientError) Error() string   { return e.err.Error() }
func (e transientError) Unwrap() error   { return e.err }
func (e transientError) Transient() bool { return true }
