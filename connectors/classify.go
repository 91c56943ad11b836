package connectors

import (
	"context"
	"errors"
	"net/http"

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

// ObserveStatus reports a request that got an HTTP answer to the
// dispatcher's breaker (core.ObserveRequest): a 5xx or a 408 failed, a 429
// was throttled, anything else was answered. Connectors whose CRM says
// more in its body (Bitrix24's QUERY_LIMIT_EXCEEDED is a 503) report
// through core.ObserveRequest themselves.
func ObserveStatus(ctx context.Context, status int) {
	switch {
	case status == http.StatusTooManyRequests:
		core.ObserveRequest(ctx, core.RequestThrottled)
	case status >= 500 || status == http.StatusRequestTimeout:
		core.ObserveRequest(ctx, core.RequestFailed)
	default:
		core.ObserveRequest(ctx, core.RequestAnswered)
	}
}
