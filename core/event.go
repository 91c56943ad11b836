package core

import "time"

// Event sources recorded in the journal.
const (
	SourceWebhook   = "webhook"
	SourceLookup    = "lookup"
	SourceManual    = "manual"
	SourceAPI       = "api"
	SourceScheduler = "scheduler"
	SourceConnector = "connector" // a CRM connector, about the order's record
)

// PaymentEvent is what a provider says happened to a payment, after the
// provider adapter has parsed it. It is only trusted once Verified is set.
type PaymentEvent struct {
	Provider      string    `json:"provider"`
	EventID       string    `json:"event_id"` // the provider's idempotency key
	Type          string    `json:"type"`     // the provider's own event name
	OrderID       string    `json:"order_id"`
	Status        Status    `json:"status"` // "" when the event does not move a payment
	AmountMinor   int64     `json:"amount_minor"`
	Currency      string    `json:"currency"`
	RefundedMinor int64     `json:"refunded_minor,omitempty"`
	ProviderRef   string    `json:"provider_ref,omitempty"`
	OccurredAt    time.Time `json:"occurred_at"`
	Source        string    `json:"source"`
	Verified      bool      `json:"verified"`
	// FixedLink names the configured fixed payment link the payment came
	// through, when the provider tells; it lets a payment create its order.
	FixedLink string `json:"fixed_link,omitempty"`
	Payload   []byte `json:"-"` // raw body, stored size-limited in the journal
}

// Verdict is what paysync concluded about one inbound request or event.
type Verdict string

const (
	VerdictAccepted       Verdict = "accepted"        // moved the order
	VerdictDuplicate      Verdict = "duplicate"       // seen before, or the order is already there
	VerdictStale          Verdict = "stale"           // older than what the order already reflects
	VerdictIgnored        Verdict = "ignored"         // an event type that does not move payments
	VerdictRejected       Verdict = "rejected"        // bad signature, checksum or timestamp
	VerdictMalformed      Verdict = "malformed"       // could not be parsed
	VerdictAmountMismatch Verdict = "amount_mismatch" // money differs from the order: manual review
	VerdictOrphan         Verdict = "orphan"          // money for an order paysync does not know
	VerdictRefused        Verdict = "refused"         // the state machine does not allow it
	VerdictCreated        Verdict = "created"         // order created
	VerdictLinkCreated    Verdict = "link_created"    // the provider issued a payment link
	VerdictManual         Verdict = "manual_decision" // settled by a person
	VerdictLookupFailed   Verdict = "lookup_failed"   // provider did not answer; retried later
	VerdictExpired        Verdict = "expired"         // expired by the scheduler
	VerdictNeedsReview    Verdict = "needs_review"    // a payment that cannot apply cleanly
	VerdictUnconfirmed    Verdict = "unconfirmed"     // a webhook the status lookup did not confirm
	VerdictRelinked       Verdict = "relinked"        // the CRM record in the link was not the order's; another one was written
)

// Decision is the outcome of Decide: a verdict and, when the order moves, where to.
type Decision struct {
	Verdict Verdict
	To      Status // "" when the order does not move
	Reason  string
}

// Decide applies the verification rules to a verified event and the order it
// names. It is pure: the caller writes the result in one transaction.
func Decide(o *Order, ev PaymentEvent) Decision {
	if ev.Status == "" || !ev.Status.Valid() || ev.Status == StatusPending || ev.Status == StatusManualReview {
		return Decision{Verdict: VerdictIgnored, Reason: "event type " + ev.Type + " does not change a payment"}
	}
	if o == nil {
		if ev.Status == StatusPaid || ev.Status == StatusRefunded {
			return Decision{Verdict: VerdictOrphan, To: StatusManualReview, Reason: "payment for an unknown order"}
		}
		return Decision{Verdict: VerdictIgnored, Reason: "event for an unknown order"}
	}
	from, to := o.Status, ev.Status
	if from == to && to != StatusRefunded {
		return Decision{Verdict: VerdictDuplicate, Reason: "order is already " + string(to)}
	}
	switch to {
	case StatusPaid:
		if ev.Currency != o.Currency || ev.AmountMinor != o.AmountMinor {
			reason := "paid " + Money{ev.AmountMinor, ev.Currency}.String() + ", order is " + o.Money().String()
			if CanTransition(from, StatusManualReview) {
				return Decision{Verdict: VerdictAmountMismatch, To: StatusManualReview, Reason: reason}
			}
			return Decision{Verdict: VerdictAmountMismatch, Reason: reason}
		}
		switch from {
		case StatusExpired:
			return Decision{Verdict: VerdictNeedsReview, To: StatusManualReview, Reason: "payment arrived after the order expired"}
		case StatusRefunded:
			return Decision{Verdict: VerdictStale, Reason: "order was already refunded"}
		case StatusManualReview:
			return Decision{Verdict: VerdictNeedsReview, Reason: "order is in manual review; a person settles it"}
		}
	case StatusRefunded:
		if from == StatusRefunded {
			if ev.RefundedMinor <= o.RefundedMinor {
				return Decision{Verdict: VerdictDuplicate, Reason: "refund already recorded"}
			}
			// A further partial refund: record the larger refunded amount.
			return Decision{Verdict: VerdictAccepted, To: StatusRefunded, Reason: "further refund"}
		}
		if ev.Currency != "" && ev.Currency != o.Currency || ev.RefundedMinor > o.AmountMinor {
			return Decision{Verdict: VerdictAmountMismatch, Reason: "refund of " + Money{ev.RefundedMinor, ev.Currency}.String() + " exceeds the order " + o.Money().String()}
		}
	case StatusFailed, StatusExpired:
		if !ev.OccurredAt.IsZero() && ev.OccurredAt.Before(o.StatusChangedAt) {
			return Decision{Verdict: VerdictStale, Reason: "event is older than the order's last change"}
		}
	}
	if !CanTransition(from, to) {
		if to == StatusFailed || to == StatusExpired || (to == StatusPaid && from == StatusRefunded) {
			return Decision{Verdict: VerdictStale, Reason: "order is " + string(from) + "; an older " + string(to) + " does not move it back"}
		}
		return Decision{Verdict: VerdictRefused, Reason: "order cannot move from " + string(from) + " to " + string(to)}
	}
	return Decision{Verdict: VerdictAccepted, To: to}
}
