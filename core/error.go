// Package core holds paysync's domain: orders and their state machine, money,
// payment events and verdicts, the journal, the outbox, CRM links, and the
// interfaces that storage drivers, payment providers and CRM connectors implement.
// It depends on nothing else of paysync.
package core

import (
	"errors"
	"fmt"
)

// Error codes. They map onto HTTP statuses in the HTTP layer.
const (
	ECONFLICT     = "conflict"           // 409: the request conflicts with what is stored
	EINTERNAL     = "internal"           // 500: a bug or an outage; details are logged, not shown
	EINVALID      = "invalid"            // 400: the input is wrong
	ENOTFOUND     = "not_found"          // 404
	EUNAUTHORIZED = "unauthorized"       // 401: missing or bad credentials or signature
	EFORBIDDEN    = "forbidden"          // 403: known, but not allowed (Meta's verification with a wrong verify token)
	ETOOLARGE     = "too_large"          // 413
	EUNAVAILABLE  = "unavailable"        // 503: a dependency is down; try again
	EMETHOD       = "method_not_allowed" // 405: the path exists, the method does not
	ETOOMANY      = "rate_limited"       // 429: too many requests; wait as Retry-After says
	ESTALE        = "stale_version"      // the row changed since it was read; re-read and retry
	ELEASELOST    = "lease_lost"         // the lease this work belonged to expired or moved on
	EDUPLICATE    = "duplicate"          // the event was seen before
)

// Error is paysync's one error type. Message is safe to show to a user; anything
// internal stays in the wrapped error, which is logged and never shown.
type Error struct {
	Code    string
	Message string
	// Field, when set, names the input the error is about: a config key
	// inside its section ("language"), or a JSON field ("items[0].quantity").
	Field string
	Err   error
}

func (e *Error) Error() string {
	if e.Err != nil && e.Message == "" {
		return e.Err.Error()
	}
	if e.Err != nil {
		return e.Message + ": " + e.Err.Error()
	}
	return e.Message
}

func (e *Error) Unwrap() error { return e.Err }

// Errorf returns an *Error with code and a formatted, user-safe message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// FieldErrorf returns an EINVALID *Error about one input field.
func FieldErrorf(field, format string, args ...any) *Error {
	return &Error{Code: EINVALID, Field: field, Message: fmt.Sprintf(format, args...)}
}

// ErrorField returns the Field of the first *Error in err's chain.
func ErrorField(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Field
	}
	return ""
}

// ErrorCode returns the code of the first *Error in err's chain, EINTERNAL for
// any other non-nil error, and "" for nil.
func ErrorCode(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return EINTERNAL
}

// ErrorMessage returns the user-safe message of err; internal errors get a
// generic text so that nothing internal leaks.
func ErrorMessage(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) && e.Code != EINTERNAL {
		if e.Message != "" {
			return e.Message
		}
	}
	return "internal error"
}
