package core

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Delivery is one order to bring in step with a CRM: its latest state, the link
// from an earlier sync (nil the first time), and the journal entries since that
// sync, for notes and timeline comments.
type Delivery struct {
	Order       Order
	Link        *CRMLink
	Transitions []JournalEntry
}

// DeliveryResult is what a connector reports for one Delivery.
type DeliveryResult struct {
	ExternalID string // the CRM's id of the record (deal id, lead id, row key)
	LinkData   string // connector-private JSON stored with the link
	// Notice, on success, tells the operator something the connector did
	// that they should know of: "linked deal 1 belongs to order SHOP-2;
	// wrote deal 7 instead". The dispatcher journals it for the order.
	Notice string
	// Skipped, on success, says that the connector did its work by sending
	// nothing, and why: a rule of the service, not a failure (Instagram
	// allows no automatic message 24 hours after the customer last wrote;
	// the order has no Direct conversation). The delivery is settled as
	// done, never retried or dead-lettered, and the reason is journaled for
	// the order with verdict not_sent, so that the order's page says why.
	// A connector reports a skip once per order change: a redelivery of a
	// change it already skipped is plain success. Skipped wins over Notice.
	Skipped string
	Err     error // nil on success; classify with a *DeliveryError
}

// Connector writes orders into one CRM. Deliver receives a batch and returns
// exactly one result per item, in order; a failure of one item does not fail
// the others. A Delivery's Link is a hint, never trusted alone: before
// writing to the linked record the connector checks that it is this order's
// (the CRM account may have been rebuilt and the id reused); a record that
// belongs to another order, or to none, counts as gone, and the order's own
// record is found or created, with a Notice. Implementations live in
// connectors/<name>.
type Connector interface {
	Name() string
	// MaxBatch is the largest batch Deliver accepts.
	MaxBatch() int
	Deliver(ctx context.Context, batch []Delivery) []DeliveryResult
}

// Pacer is implemented by a connector whose CRM grants a small request
// budget. Pace is how long the dispatcher lets orders gather before the
// next delivery, after one that took everything due: 0 while the budget is
// unspent, so a lone payment goes at once, and longer as it is spent, so
// that a stream of payments shares deliveries instead of spending the
// budget one order at a time and then queueing behind it.
type Pacer interface {
	Pace() time.Duration
}

// ErrorClass tells the dispatcher what to do with a failed delivery.
type ErrorClass int

const (
	// Retryable: try again later (network, 5xx, rate limits).
	Retryable ErrorClass = iota
	// Permanent: the CRM refused the data; retrying cannot help. Dead-letter at once.
	Permanent
	// NeedsReauth: credentials are dead; a person must re-authorise. Pauses the connector.
	NeedsReauth
	// Paused: the account is blocked or unpaid. Pauses the connector.
	Paused
)

func (c ErrorClass) String() string {
	switch c {
	case Retryable:
		return "retryable"
	case Permanent:
		return "permanent"
	case NeedsReauth:
		return "needs_reauth"
	case Paused:
		return "paused"
	}
	return fmt.Sprintf("class(%d)", int(c))
}

// DeliveryError is a classified connector failure. Reason is shown to the
// operator and must say how to fix the problem; it never holds secrets.
type DeliveryError struct {
	Class      ErrorClass
	Reason     string
	RetryAfter time.Duration // a server hint; 0 when none
	// SlowDown marks a rate-limit answer: the whole connector backs off, not only this item.
	SlowDown bool
	Err      error
}

func (e *DeliveryError) Error() string {
	if e.Err != nil {
		return e.Reason + ": " + e.Err.Error()
	}
	return e.Reason
}

func (e *DeliveryError) Unwrap() error { return e.Err }

// ClassifyDelivery returns the classified form of err; unclassified errors are retryable.
func ClassifyDelivery(err error) *DeliveryError {
	var de *DeliveryError
	if errors.As(err, &de) {
		return de
	}
	return &DeliveryError{Class: Retryable, Reason: "delivery failed", Err: err}
}

// CheckConnector refuses a connector name that is not one of the enabled
// ones, listing them: work queued for a connector that never runs would stay
// pending for ever.
func CheckConnector(name string, enabled []string) error {
	if slices.Contains(enabled, name) {
		return nil
	}
	if len(enabled) == 0 {
		return Errorf(EINVALID, "connector %q is not enabled, and no CRM connector is: set a connector's credentials (see config.example.yaml)", name)
	}
	return Errorf(EINVALID, "connector %q is not enabled; enabled connectors: %s", name, strings.Join(enabled, ", "))
}

// ErrNoConnector is the answer to a re-sync when no CRM connector is enabled.
var ErrNoConnector = Errorf(EINVALID, "no CRM connector is enabled, so there is nothing to re-sync: set a connector's credentials (see config.example.yaml)")

// RequestOutcome is what one request a connector made to its CRM says
// about the CRM's health. The dispatcher's circuit breaker counts requests,
// not whole deliveries: a delivery is a chain of requests, and one that
// failed its orders after nine good requests and one bad one is no sign of
// an outage.
type RequestOutcome int

const (
	// RequestAnswered: the CRM answered, with what was asked or refusing
	// the data (it is up).
	RequestAnswered RequestOutcome = iota
	// RequestFailed: a 5xx, a timeout or a network error.
	RequestFailed
	// RequestThrottled: the CRM's rate-limit answer; it says nothing about
	// the CRM's health (the connector's SlowDown error pauses it instead).
	RequestThrottled
)

type requestObserverKey struct{}

// WithRequestObserver returns a context whose connector calls report each
// request's outcome to observe (the dispatcher passes one to Deliver).
func WithRequestObserver(ctx context.Context, observe func(RequestOutcome)) context.Context {
	return context.WithValue(ctx, requestObserverKey{}, observe)
}

// ObserveRequest reports the outcome of one request to the observer in
// ctx, if any. Connectors call it once per request sent to their CRM
// (token requests included); a request that was never sent is not reported.
func ObserveRequest(ctx context.Context, o RequestOutcome) {
	if observe, ok := ctx.Value(requestObserverKey{}).(func(RequestOutcome)); ok && observe != nil {
		observe(o)
	}
}

type sendCheckKey struct{}

// WithSendCheck returns a context whose CRM requests are sent only while
// mayAct reports true. The dispatcher sets it to "this replica still trusts
// its lease": a replica paused mid-delivery (SIGSTOP, a VM freeze) wakes
// with its goroutines runnable in any order, and without the check one of
// them could send its next request before the one cancelling the delivery
// ran, after another replica had taken the connector over.
func WithSendCheck(ctx context.Context, mayAct func() bool) context.Context {
	return context.WithValue(ctx, sendCheckKey{}, mayAct)
}

// MaySend reports whether a request may still be sent under ctx (true when
// ctx carries no check). HTTP clients given to connectors call it before
// each request.
func MaySend(ctx context.Context) bool {
	if mayAct, ok := ctx.Value(sendCheckKey{}).(func() bool); ok && mayAct != nil {
		return mayAct()
	}
	return true
}
