package core

import "time"

// Event sources recorded in the journal.
const (
	SourceWebhook   = "webhook"
	SourceLookup    = "lookup"
	SourceManual    = "manual"
	SourceAPI       = "api"
	SourceScheduler = "scheduler"
	SourceMigration = "migration" // a schema migration that moved an order (see migrations/)
	SourceConnector = "connector" // a CRM connector, about the order's record
)

// PaymentEvent is what a provider says happened to a payment, after the
// provider adapter has parsed it. It is only trusted once Verified is set.
type PaymentEvent struct {
	Provider    string `json:"provider"`
	EventID     string `json:"event_id"` // the provider's idempotency key
	Type        string `json:"type"`     // the provider's own event name
	OrderID     string `json:"order_id"`
	Status      Status `json:"status"` // "" when the event does not move a payment
	AmountMinor int64  `json:"amount_minor"`
	Currency    string `json:"currency"`
	// A refund carries one of two figures, as its provider reports refunds:
	// RefundedMinor, the running total refunded on the payment so far (VPOS.am,
	// ArCa lookups, generic with refunded_minor), which a repeat under a new
	// event id cannot count twice; or RefundMinor, this one refund's amount
	// (ArCa callbacks, generic without refunded_minor).
	RefundedMinor int64  `json:"refunded_minor,omitempty"`
	RefundMinor   int64  `json:"refund_minor,omitempty"`
	ProviderRef   string `json:"provider_ref,omitempty"`
	// OccurredAt is when the provider says it happened (zero: it did not
	// say), to Precision: time.Second for "…:20Z". A zero Precision is
	// inferred from OccurredAt (see NewEventTime).
	OccurredAt time.Time     `json:"occurred_at"`
	Precision  time.Duration `json:"precision,omitempty"`
	Source     string        `json:"source"`
	Verified   bool          `json:"verified"`
	// FixedLink names the configured fixed payment link the payment came
	// through, when the provider tells; it lets a payment create its order.
	FixedLink string `json:"fixed_link,omitempty"`
	// ReviewReason, with Status manual_review, says why the provider's
	// answer leaves the payment unclear, so that a person must look (an
	// ArCa refund whose amount the answer does not state). Such an event
	// sends the order to manual_review with that reason; any other
	// manual_review event is ignored. A paid event of the daily
	// reconciliation (Source reconcile) for an order paysync does not know
	// carries the reason of the manual_review order it creates.
	ReviewReason string `json:"review_reason,omitempty"`
	// Declinable: the provider waits for paysync's answer and cancels the
	// payment when it is declined (Capabilities.ApprovesPayments). Decide
	// declines such a payment rather than take money it cannot settle the
	// order with.
	Declinable bool   `json:"-"`
	Payload    []byte `json:"-"` // raw body, stored size-limited in the journal
}

// Time is the interval the event's time stands for.
func (ev PaymentEvent) Time() EventTime { return NewEventTime(ev.OccurredAt, ev.Precision) }

// RefundFigure is the amount a refund event states: this refund, or the
// running total, whichever its provider sends.
func (ev PaymentEvent) RefundFigure() int64 {
	if ev.RefundMinor > 0 {
		return ev.RefundMinor
	}
	return ev.RefundedMinor
}

// Bounds on what a provider may send, the same for every provider: they
// fit every CRM field the values are copied to, and an ArCa event id (made
// of the callback's mdOrder and operation) stays within MaxEventIDLen.
const (
	MaxEventIDLen     = 255 // as Standard Webhooks bounds webhook-id
	MaxEventTypeLen   = 64
	MaxProviderRefLen = 128
)

// CheckFields refuses an event paysync cannot keep as it is, whichever
// provider sent it, and names the field: a string longer than its bound
// (the CRM would refuse it later, and a sender could fill the database),
// or an event id that is not text (it is the dedup key: cleaning it, see
// CleanText, could make two events one). Other text is cleaned when stored.
func (ev PaymentEvent) CheckFields() error {
	for _, f := range []struct {
		name, value string
		max         int
	}{
		{"order_id", ev.OrderID, MaxOrderIDLen},
		{"provider_ref", ev.ProviderRef, MaxProviderRefLen},
		{"event type", ev.Type, MaxEventTypeLen},
		{"fixed_link", ev.FixedLink, MaxOrderIDLen},
		{"currency", ev.Currency, 3},
		{"event_id", ev.EventID, MaxEventIDLen},
	} {
		if len(f.value) > f.max {
			return Errorf(EINVALID, "%s is %d bytes long; at most %d are accepted", f.name, len(f.value), f.max)
		}
	}
	return CheckText("event_id", ev.EventID)
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
	VerdictDeclined       Verdict = "declined"        // a payment paysync told the provider to cancel: the buyer is not charged
	VerdictNotSent        Verdict = "not_sent"        // a connector deliberately sent nothing for this change (a message outside Instagram's window)
	VerdictMessageSent    Verdict = "message_sent"    // a person sent the customer a message through paysync (Send link in Direct)
	VerdictNewLink        Verdict = "new_link"        // a person made an expired or failed order a new link, as a new order
)

// Decision is the outcome of Decide: a verdict and, when the order changes, how.
type Decision struct {
	Verdict Verdict
	// To is the order's status after the event; "" when neither its status
	// nor its refunds change. It equals the current status when only the
	// refunds' total moves (a further partial refund).
	To     Status
	Reason string
	// RefundedMinor is the refunds' total after the event, when To is set.
	RefundedMinor int64
	// History is what the order remembers after the event. It can change
	// when nothing else does (an expiry seen after the payment is still
	// remembered), so that the order ends the same whatever order its events
	// arrive in.
	History PaymentHistory
}

// reviewReason is why an event does not move an order in manual_review.
const reviewReason = "order is in manual review; a person settles it"

// PaidTwiceReason begins the reason of an order paid under two provider
// references: the buyer was charged twice.
const PaidTwiceReason = "paid twice: refund one"

// Decide applies the payment rules to a verified event and the order it
// names. It is pure: the caller writes the result in one transaction.
//
// The rules make an order's status a function of the set of its payment
// events, whatever order they arrive in (docs/payments.md, "How events move
// an order"):
//   - manual_review when the provider asks for a person (ReviewReason),
//     when a payment's money differs from the order's, a
//     refund's currency differs or the refunds' total exceeds the amount
//     paid, or a payment was not certainly made before an expiry of the
//     order; only a person takes an order out of manual_review;
//   - otherwise refunded or partially_refunded when anything was refunded
//     (a refund proves the payment it returns);
//   - otherwise paid after a payment, expired after an expiry, failed after
//     a failed attempt, pending before anything.
//
// Time decides only whether a payment came before an expiry, and whether a
// failed or expired event that changes nothing is stale (certainly older
// than the newest event applied to the order) or merely refused.
func Decide(o *Order, ev PaymentEvent) Decision {
	st := ev.Status
	if st == StatusPartiallyRefunded {
		st = StatusRefunded // the amounts say how much; the status only says "a refund"
	}
	if st == StatusManualReview && ev.ReviewReason != "" && o != nil {
		// The provider cannot say what happened (an amount its answer does
		// not state): a person looks. manual_review is left only by a
		// person, so the order ends there whatever order the events came in.
		d := decider{o: o, ev: ev, mark: EventMark{EventID: ev.EventID, Status: st, Time: ev.Time()}, h: o.History}
		if o.Status == StatusManualReview {
			return d.keep(VerdictNeedsReview, reviewReason+"; "+ev.ReviewReason)
		}
		return d.move(VerdictNeedsReview, StatusManualReview, ev.ReviewReason)
	}
	if st == "" || !st.Valid() || st == StatusPending || st == StatusManualReview {
		return Decision{Verdict: VerdictIgnored, Reason: "event type " + ev.Type + " does not change a payment"}
	}
	if o == nil {
		if st == StatusPaid && ev.Declinable {
			return declined("payment for an unknown order")
		}
		if st == StatusPaid || st == StatusRefunded {
			reason := "payment for an unknown order"
			if ev.Source == SourceReconcile && ev.ReviewReason != "" {
				// The daily reconciliation says where it found the payment.
				reason = ev.ReviewReason
			}
			return Decision{Verdict: VerdictOrphan, To: StatusManualReview, Reason: reason}
		}
		return Decision{Verdict: VerdictIgnored, Reason: "event for an unknown order"}
	}
	d := decider{o: o, ev: ev, mark: EventMark{EventID: ev.EventID, Status: st, Time: ev.Time()}, h: o.History}
	if o.Status == StatusExpired && !d.h.Expiry.Set() {
		// Expired before paysync kept payment histories: when is not known.
		d.h.Expiry = EventMark{Status: StatusExpired}
	}
	switch st {
	case StatusFailed:
		return d.failed()
	case StatusExpired:
		return d.expired()
	case StatusPaid:
		dec := d.paid()
		if ev.Declinable && dec.Verdict != VerdictAccepted {
			// The provider cancels what paysync declines: money that could
			// not settle the order cleanly is never taken.
			dec = declined(dec.Reason)
			dec.History = o.History
		}
		return dec
	default:
		return d.refund()
	}
}

// decider holds one event being decided against one order.
type decider struct {
	o    *Order
	ev   PaymentEvent
	mark EventMark
	h    PaymentHistory // the order's history with this event added
}

// move changes the order; the event becomes part of what it was judged on.
func (d *decider) move(v Verdict, to Status, reason string) Decision {
	d.h.noteApplied(d.mark)
	return Decision{Verdict: v, To: to, Reason: reason, RefundedMinor: d.o.RefundedMinor, History: d.h}
}

// keep leaves the order's status and refunds as they are.
func (d *decider) keep(v Verdict, reason string) Decision {
	return Decision{Verdict: v, Reason: reason, History: d.h}
}

// stale explains why the event is certainly older than the newest event
// applied to the order, or returns "" when it is not.
func (d *decider) stale() string {
	if !d.mark.Time.Before(d.h.Latest.Time) {
		return ""
	}
	return string(d.mark.Status) + " event at " + d.mark.Time.String() + " is older than " + d.h.Latest.String() + ", already applied to the order"
}

func (d *decider) failed() Decision {
	switch from := d.o.Status; from {
	case StatusPending:
		return d.move(VerdictAccepted, StatusFailed, "")
	case StatusFailed:
		return d.keep(VerdictDuplicate, "order is already failed")
	default:
		if reason := d.stale(); reason != "" {
			return d.keep(VerdictStale, reason)
		}
		switch from {
		case StatusManualReview:
			return d.keep(VerdictNeedsReview, reviewReason)
		case StatusExpired:
			return d.keep(VerdictRefused, "order is expired; a failed attempt does not reopen it")
		}
		return d.keep(VerdictRefused, "order is "+string(from)+"; a failed attempt does not undo a payment")
	}
}

func (d *decider) expired() Decision {
	d.h.noteExpiry(d.mark)
	switch from := d.o.Status; from {
	case StatusPending, StatusFailed:
		return d.move(VerdictAccepted, StatusExpired, "")
	case StatusExpired:
		return d.keep(VerdictDuplicate, "order is already expired")
	case StatusManualReview:
		if reason := d.stale(); reason != "" {
			return d.keep(VerdictStale, reason)
		}
		return d.keep(VerdictNeedsReview, reviewReason)
	default: // money was taken
		if p := d.h.Payment; p.Set() && !p.Time.Before(d.mark.Time) {
			return d.move(VerdictNeedsReview, StatusManualReview, paymentAfterExpiry(p, d.mark))
		}
		if reason := d.stale(); reason != "" {
			return d.keep(VerdictStale, reason)
		}
		if p := d.h.Payment; p.Set() {
			return d.keep(VerdictRefused, "order was paid before this expiry ("+p.String()+"); an expiry does not undo a payment")
		}
		return d.keep(VerdictRefused, "order is "+string(from)+"; an expiry does not undo a payment")
	}
}

// declined is the decision on a payment the provider cancels when told to.
func declined(reason string) Decision {
	return Decision{Verdict: VerdictDeclined, Reason: reason + "; declined, so the provider cancels the payment and the buyer is not charged"}
}

// paymentAfterExpiry is why a payment and an expiry of one order need a person.
func paymentAfterExpiry(payment, expiry EventMark) string {
	return payment.String() + " was not certainly made before " + expiry.String() + "; money taken after an order expired needs a person"
}

func (d *decider) paid() Decision {
	ev, o := d.ev, d.o
	// A provider that approves payments declines a second one instead
	// (Decide): the buyer is never charged twice, so it is not "paid twice".
	twice := !ev.Declinable && d.h.paidTwice(ev.ProviderRef)
	seen := d.h.PaymentRefs
	d.h.notePayment(d.mark)
	d.h.notePaymentRef(ev.ProviderRef)
	if o.Status == StatusManualReview {
		return d.keep(VerdictNeedsReview, reviewReason)
	}
	if ev.Currency != o.Currency || ev.AmountMinor != o.AmountMinor {
		return d.move(VerdictAmountMismatch, StatusManualReview, "paid "+Money{ev.AmountMinor, ev.Currency}.String()+", order is "+o.Money().String())
	}
	if twice {
		// The buyer was charged twice: a person refunds one payment, then
		// settles the order as paid.
		return d.move(VerdictNeedsReview, StatusManualReview, PaidTwiceReason+" (references "+bothRefs(seen, ev.ProviderRef)+")")
	}
	if x := d.h.Expiry; x.Set() && !d.mark.Time.Before(x.Time) {
		return d.move(VerdictNeedsReview, StatusManualReview, paymentAfterExpiry(d.mark, x))
	}
	switch o.Status {
	case StatusPending, StatusFailed:
		return d.move(VerdictAccepted, StatusPaid, "")
	case StatusExpired:
		return d.move(VerdictAccepted, StatusPaid, "payment made before "+d.h.Expiry.String()+", delivered after it")
	case StatusPaid:
		return d.keep(VerdictDuplicate, "order is already paid")
	default:
		return d.keep(VerdictStale, "order was already "+string(o.Status)+" ("+o.refunds()+")")
	}
}

func (d *decider) refund() Decision {
	ev, o := d.ev, d.o
	money := func(n int64) string { return Money{n, o.Currency}.String() }
	// total is the refunds' total once this refund counts; what says what
	// the provider reported, for the journal.
	var total int64
	var what, over string
	switch {
	case ev.RefundMinor > 0:
		total = o.RefundedMinor + ev.RefundMinor
		what = "refund of " + money(ev.RefundMinor)
		over = what + " would bring the refunds to " + money(total)
	case ev.RefundedMinor > 0:
		total = max(o.RefundedMinor, ev.RefundedMinor)
		what = "refunds reported as " + money(ev.RefundedMinor) + " so far"
		over = what
	default:
		total = o.AmountMinor
		what = "refund without an amount, taken as the whole payment"
		over = what
	}
	if ev.Currency != "" && ev.Currency != o.Currency {
		// Its amount is in another currency: it cannot count.
		reason := "refund in " + ev.Currency + ", but the order was paid in " + o.Currency
		if o.Status == StatusManualReview {
			return d.keep(VerdictNeedsReview, reviewReason+"; "+reason+": not recorded")
		}
		return d.move(VerdictAmountMismatch, StatusManualReview, reason)
	}
	if total == o.RefundedMinor {
		return d.keep(VerdictDuplicate, what+": already recorded ("+o.refunds()+")")
	}
	if total > o.AmountMinor {
		// Recorded all the same: the refunds' total is then the same
		// whatever order they arrive in (a sum, or the largest running
		// total), and the person who settles the order sees all of them.
		reason := over + ", more than the " + o.Money().String() + " paid"
		var dec Decision
		if o.Status == StatusManualReview {
			dec = d.move(VerdictNeedsReview, StatusManualReview, reviewReason+"; "+reason)
		} else {
			dec = d.move(VerdictAmountMismatch, StatusManualReview, reason)
		}
		dec.RefundedMinor = total
		return dec
	}
	reason := what + "; refunded so far: " + money(total) + " of " + o.Money().String()
	if ev.RefundMinor == 0 && ev.RefundedMinor > 0 {
		reason = "refunded so far: " + money(total) + " of " + o.Money().String()
	}
	var dec Decision
	switch o.Status {
	case StatusManualReview:
		dec = d.move(VerdictNeedsReview, StatusManualReview, reviewReason+"; "+reason)
	case StatusPending, StatusFailed, StatusExpired:
		dec = d.move(VerdictAccepted, RefundStatus(total, o.AmountMinor), reason+"; the refund proves a payment paysync had not seen")
	default:
		dec = d.move(VerdictAccepted, RefundStatus(total, o.AmountMinor), reason)
	}
	dec.RefundedMinor = total
	return dec
}
