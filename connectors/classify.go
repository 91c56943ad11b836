package connectors

import (
	"context"
	"errors"

	"github.com/paysync/paysync/core"
)

// Unanswered is the end of a connector's Classify, once its own API errors
// are ruled out: the request got no answer. transport says err is the
// connector's network error, timeout that it timed out; afterTimeout says
// what the retry does first, since a write may have landed unseen. Every
// such error is retryable; its reason names crm.
func Unanswered(crm string, err error, transport, timeout bool, afterTimeout string) *core.DeliveryError {
	reason := "the " + crm + " request failed; will retry"
	switch {
	case transport && timeout:
		reason = crm + " did not answer in time; will retry (" + afterTimeout + ")"
	case transport:
		reason = crm + " did not answer (network error); will retry"
	case errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded):
		reason = "the " + crm + " request was cut short; will retry"
	}
	return &core.DeliveryError{Class: core.Retryable, Reason: reason, Err: err}
}
