package core

import "strings"

// Status is where an order stands in its payment life.
type Status string

const (
	StatusPending      Status = "pending"
	StatusPaid         Status = "paid"
	StatusFailed       Status = "failed"
	StatusExpired      Status = "expired"
	StatusManualReview Status = "manual_review"
	// StatusPartiallyRefunded: the refunds so far are less than what was paid.
	StatusPartiallyRefunded Status = "partially_refunded"
	// StatusRefunded: all that was paid has been refunded.
	StatusRefunded Status = "refunded"
)

// Statuses lists every status in lifecycle order.
var Statuses = []Status{StatusPending, StatusPaid, StatusFailed, StatusExpired, StatusManualReview, StatusPartiallyRefunded, StatusRefunded}

// transitions is the whole state machine; anything not listed is refused.
// Decide says which event takes which edge; a person's review leaves
// manual_review for paid (or the refund status the refunds make) or failed.
var transitions = map[Status][]Status{
	// A refund seen before its payment proves the payment: pending, failed
	// and expired orders may go straight to a refund status.
	StatusPending: {StatusPaid, StatusFailed, StatusExpired, StatusManualReview, StatusPartiallyRefunded, StatusRefunded},
	StatusFailed:  {StatusPaid, StatusExpired, StatusManualReview, StatusPartiallyRefunded, StatusRefunded},
	// expired -> paid only for a payment certainly made before the expiry.
	StatusExpired:           {StatusPaid, StatusManualReview, StatusPartiallyRefunded, StatusRefunded},
	StatusManualReview:      {StatusPaid, StatusFailed, StatusPartiallyRefunded, StatusRefunded},
	StatusPaid:              {StatusPartiallyRefunded, StatusRefunded, StatusManualReview},
	StatusPartiallyRefunded: {StatusRefunded, StatusManualReview},
	StatusRefunded:          {StatusManualReview},
}

// Valid reports whether s is a known status.
func (s Status) Valid() bool {
	for _, k := range Statuses {
		if k == s {
			return true
		}
	}
	return false
}

// HasPayment reports whether an order in s holds a payment: paid, or
// refunded in part or in whole.
func (s Status) HasPayment() bool {
	return s == StatusPaid || s == StatusPartiallyRefunded || s == StatusRefunded
}

// StatusNames lists the statuses for messages: "pending, paid, …, refunded".
func StatusNames() string {
	names := make([]string, len(Statuses))
	for i, s := range Statuses {
		names[i] = string(s)
	}
	return strings.Join(names, ", ")
}

// RefundStatus is the status an order paid amountMinor is in once
// refundedMinor of it is refunded.
func RefundStatus(refundedMinor, amountMinor int64) Status {
	switch {
	case refundedMinor <= 0:
		return StatusPaid
	case refundedMinor < amountMinor:
		return StatusPartiallyRefunded
	default:
		return StatusRefunded
	}
}

// CanTransition reports whether the state machine allows from -> to.
func CanTransition(from, to Status) bool {
	for _, t := range transitions[from] {
		if t == to {
			return true
		}
	}
	return false
}

// CheckTransition returns a typed error when from -> to is not allowed.
func CheckTransition(from, to Status) error {
	if CanTransition(from, to) {
		return nil
	}
	return Errorf(ECONFLICT, "order cannot move from %s to %s", from, to)
}

// Terminal reports whether no transition leaves s. Since an anomaly can
// send any paid or refunded order to manual_review, no status is.
func (s Status) Terminal() bool { return len(transitions[s]) == 0 }
