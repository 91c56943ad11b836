package core

import (
	"context"
	"errors"
	"time"
)

// FixedLink is a reusable payment link for one product at one price, for shops
// that do not create an order per chat.
type FixedLink struct {
	Slug        string `yaml:"slug" json:"slug"`
	Product     string `yaml:"product" json:"product"`
	AmountMinor int64  `yaml:"amount_minor" json:"amount_minor"`
	Currency    string `yaml:"currency" json:"currency"`
	URL         string `yaml:"url" json:"url,omitempty"`
}

// Ledger applies orders, payment events and decisions to the store: each
// one is a journal entry, an order change and its outbox records, written in
// one transaction. It holds every payment rule that needs the stored order.
type Ledger struct {
	Store Store
	// Connectors returns the names of the enabled CRM connectors; each change
	// to an order enqueues one outbox record per name.
	Connectors func() []string
	// FixedLinks resolves a fixed link by slug.
	FixedLinks func(slug string) (FixedLink, bool)
	// DefaultExpiry is when an order created without an expiry expires,
	// from its creation (0: it never does).
	DefaultExpiry time.Duration
	Now           func() time.Time
	// Recent, when set, keeps the orders this ledger wrote last, so that an
	// event is decided without reading its order back (see RecentOrders).
	// Share one between the ledgers of one store, or give none.
	Recent *RecentOrders
}

// MaxExpiry bounds how long an order may wait for its payment.
const MaxExpiry = 90 * 24 * time.Hour

// maxStaleRetries bounds optimistic retries when another writer moved the order.
const maxStaleRetries = 50

func (l *Ledger) now() time.Time {
	if l.Now != nil {
		return l.Now().UTC()
	}
	return time.Now().UTC()
}

func (l *Ledger) connectors() []string {
	if l.Connectors == nil {
		return nil
	}
	return l.Connectors()
}

// CreateOrder stores a new pending order. The same body again returns the
// stored order with created=false; the same id with another body is ECONFLICT.
func (l *Ledger) CreateOrder(ctx context.Context, o Order) (Order, bool, error) {
	o, err := NewOrder(o, l.now(), l.DefaultExpiry)
	if err != nil {
		return Order{}, false, err
	}
	err = l.Store.Apply(ctx, Change{
		Journal: &JournalEntry{Source: SourceAPI, Verdict: VerdictCreated, StatusAfter: StatusPending,
			AmountMinor: o.AmountMinor, Currency: o.Currency, Provider: o.Provider},
		Order:  &o,
		Outbox: l.connectors(),
	})
	if ErrorCode(err) == ECONFLICT {
		existing, gerr := l.Store.GetOrder(ctx, o.ID)
		if gerr != nil {
			return Order{}, false, gerr
		}
		if existing.RequestHash != o.RequestHash {
			return existing, false, Errorf(ECONFLICT, "order %s already exists with a different body; use a new order_id", o.ID)
		}
		return existing, false, nil
	}
	if err != nil {
		return Order{}, false, err
	}
	l.Recent.put(o)
	return o, true, nil
}

// NewOrder is o as CreateOrder stores it: validated, pending since now,
// expiring after defaultExpiry (0: never) unless it says when. paysync
// mapping render uses it to show what a new order would send.
func NewOrder(o Order, now time.Time, defaultExpiry time.Duration) (Order, error) {
	if err := o.Validate(); err != nil {
		return Order{}, err
	}
	o.Status = StatusPending
	o.RequestHash = o.Hash()
	o.CreatedAt, o.StatusChangedAt = now, now
	if o.ExpiresAt == nil && defaultExpiry > 0 {
		// Unpaid orders expire by default, so that expired happens at all.
		exp := now.Add(defaultExpiry).Truncate(time.Microsecond)
		o.ExpiresAt = &exp
	}
	if o.Items == nil {
		o.Items = []Item{}
	}
	return o, nil
}

// AttachLink stores the provider's checkout URL and reference on an order;
// the link's Note, if any, is kept in the journal entry's reason.
func (l *Ledger) AttachLink(ctx context.Context, id string, link PaymentLink) (Order, error) {
	return l.update(ctx, id, func(o *Order) (*JournalEntry, error) {
		if o.PaymentURL == link.URL && o.ProviderRef == link.ProviderRef {
			return nil, nil
		}
		o.PaymentURL, o.ProviderRef = link.URL, link.ProviderRef
		reason := "payment link created"
		if link.Note != "" {
			reason += "; " + link.Note
		}
		return &JournalEntry{Source: SourceAPI, Verdict: VerdictLinkCreated, Provider: o.Provider, ProviderRef: link.ProviderRef,
			StatusBefore: o.Status, StatusAfter: o.Status, Reason: reason}, nil
	})
}

// update re-reads the order and retries fn when another writer got there first.
// fn returns the journal entry for the change, or nil for no change.
func (l *Ledger) update(ctx context.Context, id string, fn func(o *Order) (*JournalEntry, error)) (Order, error) {
	for i := 0; i < maxStaleRetries; i++ {
		o, err := l.Store.GetOrder(ctx, id)
		if err != nil {
			return Order{}, err
		}
		j, err := fn(&o)
		if err != nil || j == nil {
			return o, err
		}
		err = l.Store.Apply(ctx, Change{Journal: j, Order: &o, ExpectedVersion: o.Version, Outbox: l.connectors()})
		if ErrorCode(err) == ESTALE {
			l.Recent.drop(id)
			continue
		}
		if err == nil {
			l.Recent.put(o)
		}
		return o, err
	}
	return Order{}, Errorf(EUNAVAILABLE, "order %s is changing too fast; try again", id)
}

// EventOutcome is what ApplyEvent concluded and wrote.
type EventOutcome struct {
	Verdict Verdict
	Reason  string
	Order   *Order // the order after the event; nil when none exists
	Entry   JournalEntry
}

// ApplyEvent journals a verified event and applies it to its order under the
// verification rules (see Decide), in one transaction, retrying when another
// writer moved the order meanwhile. A repeat of an event already journaled
// is recorded as a duplicate and changes nothing.
func (l *Ledger) ApplyEvent(ctx context.Context, ev PaymentEvent) (EventOutcome, error) {
	if !ev.Verified {
		return EventOutcome{}, Errorf(EUNAUTHORIZED, "event is not verified")
	}
	if err := ev.CheckFields(); err != nil {
		return EventOutcome{}, err
	}
	fresh := false // read the order, even if this ledger wrote it last
	for i := 0; i < maxStaleRetries; i++ {
		out, err := l.applyOnce(ctx, ev, fresh)
		if err == errDecideAfresh || ErrorCode(err) == ESTALE || (ErrorCode(err) == ECONFLICT && out.Verdict == VerdictOrphan) {
			// The order moved, or appeared, under us, or the decision
			// needs the stored order: read it and decide again.
			l.Recent.drop(ev.OrderID)
			fresh = true
			continue
		}
		if ErrorCode(err) == EDUPLICATE {
			entry := l.entry(ev, nil, Decision{Verdict: VerdictDuplicate, Reason: "event " + ev.EventID + " was already processed"})
			entry.EventID = ""
			if err := l.Store.Apply(ctx, Change{Journal: &entry}); err != nil {
				return EventOutcome{}, err
			}
			var op *Order
			if o, gerr := l.Store.GetOrder(ctx, ev.OrderID); gerr == nil {
				op = &o
			}
			return EventOutcome{Verdict: VerdictDuplicate, Reason: entry.Reason, Order: op, Entry: entry}, nil
		}
		return out, err
	}
	return EventOutcome{}, Errorf(EUNAVAILABLE, "order %s is changing too fast; try again", ev.OrderID)
}

func (l *Ledger) entry(ev PaymentEvent, o *Order, d Decision) JournalEntry {
	e := JournalEntry{
		OrderID: ev.OrderID, Provider: ev.Provider, Source: ev.Source, EventType: ev.Type, Verdict: d.Verdict,
		AmountMinor: ev.AmountMinor, Currency: ev.Currency, ProviderRef: ev.ProviderRef, Reason: d.Reason,
	}
	if d.Verdict == VerdictDuplicate {
		e.KeepSample(ev.Payload) // the first delivery kept it whole; the digest shows whether it is the same
	} else {
		e.KeepPayload(ev.Payload)
	}
	if ev.Status == StatusRefunded || ev.Status == StatusPartiallyRefunded {
		// A refund entry carries the refunded total it leaves the order
		// with, whichever figure the provider sent (one refund, or its
		// running total), so that each refund's share can be told from the
		// journal. A refund the rules do not record carries none: its
		// reason states the figures.
		switch {
		case o == nil:
			e.AmountMinor = ev.RefundFigure()
		case d.To != "" && d.RefundedMinor != o.RefundedMinor:
			e.AmountMinor = d.RefundedMinor // recorded, above what was paid or not
		case d.Verdict == VerdictAmountMismatch, d.Verdict == VerdictNeedsReview && d.To == "":
			e.AmountMinor = 0
		case d.To != "":
			e.AmountMinor = d.RefundedMinor
		default:
			e.AmountMinor = o.RefundedMinor
		}
	}
	if ev.Verified {
		e.EventID = ev.EventID
	}
	if o != nil {
		e.StatusBefore, e.StatusAfter = o.Status, o.Status
	}
	if d.To != "" {
		e.StatusAfter = d.To
	}
	return e
}

// errDecideAfresh: a decision made on a copy of the order would write no
// order, so nothing would check that the copy is current.
var errDecideAfresh = errors.New("decide on the stored order")

// applyOnce decides ev on the order (the copy this ledger wrote last, unless
// fresh) and writes the outcome. A write of the order is checked against
// the version decided on; an outcome that writes no order is only written
// when decided on the stored order.
func (l *Ledger) applyOnce(ctx context.Context, ev PaymentEvent, fresh bool) (EventOutcome, error) {
	var op *Order
	o, cached := Order{}, false
	if !fresh {
		o, cached = l.Recent.get(ev.OrderID)
	}
	var err error
	if cached {
		op = &o
	} else {
		o, err = l.Store.GetOrder(ctx, ev.OrderID)
		switch {
		case err == nil:
			op = &o
		case ErrorCode(err) != ENOTFOUND:
			return EventOutcome{}, err
		}
	}
	now := l.now()
	if op == nil && ev.FixedLink != "" && l.FixedLinks != nil && (ev.Status == StatusPaid) {
		if fl, ok := l.FixedLinks(ev.FixedLink); ok {
			return l.applyFixedLink(ctx, ev, fl, now)
		}
	}
	d := Decide(op, ev)
	entry := l.entry(ev, op, d)
	switch {
	case op == nil && d.Verdict == VerdictOrphan:
		// Money for an order we do not know is never dropped.
		orphan := Order{ID: ev.OrderID, Status: StatusManualReview, AmountMinor: ev.AmountMinor, Currency: ev.Currency,
			Provider: ev.Provider, ProviderRef: ev.ProviderRef, Orphan: true, Reason: d.Reason, CreatedAt: now,
			StatusChangedAt: now, Items: []Item{}, FixedLink: ev.FixedLink, History: newHistory(ev)}
		if ValidateOrderID(orphan.ID) != nil {
			orphan.ID = "orphan-" + ev.Provider + "-" + ev.EventID
			entry.OrderID = orphan.ID
		}
		if ev.Status != StatusPaid {
			orphan.RefundedMinor = ev.RefundFigure()
		}
		err := l.Store.Apply(ctx, Change{Journal: &entry, Order: &orphan, Outbox: l.connectors()})
		l.remember(orphan, err)
		return EventOutcome{Verdict: d.Verdict, Reason: d.Reason, Order: &orphan, Entry: entry}, err
	case op == nil:
		entry.OrderID = ""
		if ValidateOrderID(ev.OrderID) == nil {
			entry.OrderID = ev.OrderID
		}
		err := l.Store.Apply(ctx, Change{Journal: &entry})
		return EventOutcome{Verdict: d.Verdict, Reason: d.Reason, Entry: entry}, err
	case d.To == "" && d.History.Equal(op.History):
		if cached {
			return EventOutcome{}, errDecideAfresh
		}
		err := l.Store.Apply(ctx, Change{Journal: &entry})
		return EventOutcome{Verdict: d.Verdict, Reason: d.Reason, Order: op, Entry: entry}, err
	case d.To == "":
		// Nothing a CRM shows changes, but the order must remember the event
		// (an expiry after the payment) to judge the ones still to come.
		next := *op
		next.History = d.History
		err := l.Store.Apply(ctx, Change{Journal: &entry, Order: &next, ExpectedVersion: op.Version, HistoryOnly: true})
		l.remember(next, err)
		return EventOutcome{Verdict: d.Verdict, Reason: d.Reason, Order: &next, Entry: entry}, err
	}
	if d.To != op.Status {
		if err := CheckTransition(op.Status, d.To); err != nil {
			return EventOutcome{}, &Error{Code: EINTERNAL, Message: "payment rules broke the state machine", Err: err}
		}
	}
	next := *op
	next.Status, next.RefundedMinor, next.History = d.To, d.RefundedMinor, d.History
	if d.To != op.Status {
		next.StatusChangedAt = now
	}
	if d.Reason != "" || d.To == StatusManualReview {
		next.Reason = d.Reason
	}
	if ev.ProviderRef != "" {
		next.ProviderRef = ev.ProviderRef
	}
	if (d.To == StatusPaid || d.RefundedMinor > 0) && next.PaidAt == nil {
		// A refund seen first proves the payment: it was made by the refund's time.
		paid := now
		if !ev.OccurredAt.IsZero() {
			paid = ev.OccurredAt.UTC()
		}
		next.PaidAt = &paid
	}
	err = l.Store.Apply(ctx, Change{Journal: &entry, Order: &next, ExpectedVersion: op.Version, Outbox: l.connectors()})
	l.remember(next, err)
	return EventOutcome{Verdict: d.Verdict, Reason: d.Reason, Order: &next, Entry: entry}, err
}

// remember keeps the order a write stored, for the next event.
func (l *Ledger) remember(o Order, err error) {
	if err == nil {
		l.Recent.put(o)
	}
}

// newHistory is the history of an order a payment event creates.
func newHistory(ev PaymentEvent) PaymentHistory {
	var h PaymentHistory
	m := EventMark{EventID: ev.EventID, Status: ev.Status, Time: ev.Time()}
	h.noteApplied(m)
	if ev.Status == StatusPaid {
		h.notePayment(m)
		h.notePaymentRef(ev.ProviderRef)
	}
	return h
}

// applyFixedLink creates the order a fixed-link payment stands for, paid at
// once when the money matches the configured price, else in manual review.
func (l *Ledger) applyFixedLink(ctx context.Context, ev PaymentEvent, fl FixedLink, now time.Time) (EventOutcome, error) {
	o := Order{ID: ev.OrderID, AmountMinor: fl.AmountMinor, Currency: fl.Currency, Provider: ev.Provider,
		ProviderRef: ev.ProviderRef, FixedLink: fl.Slug, CreatedAt: now, StatusChangedAt: now,
		Items: []Item{{SKU: fl.Slug, Name: fl.Product, Quantity: 1, PriceMinor: fl.AmountMinor}}, History: newHistory(ev)}
	d := Decision{Verdict: VerdictAccepted, To: StatusPaid}
	if ev.AmountMinor != fl.AmountMinor || ev.Currency != fl.Currency {
		d = Decision{Verdict: VerdictAmountMismatch, To: StatusManualReview,
			Reason: "fixed link " + fl.Slug + " costs " + Money{fl.AmountMinor, fl.Currency}.String() + ", paid " + Money{ev.AmountMinor, ev.Currency}.String()}
	}
	o.Status, o.Reason = d.To, d.Reason
	if d.To == StatusPaid {
		paid := now
		if !ev.OccurredAt.IsZero() {
			paid = ev.OccurredAt.UTC()
		}
		o.PaidAt = &paid
	}
	o.RequestHash = o.Hash()
	entry := l.entry(ev, nil, d)
	entry.StatusBefore = ""
	err := l.Store.Apply(ctx, Change{Journal: &entry, Order: &o, Outbox: l.connectors()})
	if ErrorCode(err) == ECONFLICT {
		return EventOutcome{Verdict: VerdictOrphan}, err // created concurrently: decide again
	}
	return EventOutcome{Verdict: d.Verdict, Reason: d.Reason, Order: &o, Entry: entry}, err
}

// Record journals an inbound request that did not become a verified event
// (bad signature, malformed body, …). It never carries an event id, so a
// forged request cannot burn a real event's id.
func (l *Ledger) Record(ctx context.Context, e JournalEntry) error {
	e.EventID = ""
	if e.OrderID != "" && ValidateOrderID(e.OrderID) != nil {
		e.OrderID = ""
	}
	return l.Store.Apply(ctx, Change{Journal: &e})
}

// Refuse records inbound requests refused before they became an event (bad
// signature, malformed, too large): counted per provider, source, verdict
// and window, with the first one's sample, never journaled one by one.
func (l *Ledger) Refuse(ctx context.Context, r Refusal) error {
	if r.Verdict != VerdictRejected && r.Verdict != VerdictMalformed {
		return Errorf(EINVALID, "a refusal is rejected or malformed, not %q", r.Verdict)
	}
	if r.Requests <= 0 {
		return nil
	}
	return l.Store.RecordRefusal(ctx, r)
}

// Review settles an order in manual_review with a person's decision.
func (l *Ledger) Review(ctx context.Context, id string, decision Status, note, who string) (Order, error) {
	if decision != StatusPaid && decision != StatusFailed {
		return Order{}, Errorf(EINVALID, "decision must be paid or failed (got %q)", decision)
	}
	if note == "" {
		return Order{}, Errorf(EINVALID, "a note is required: say why, for the journal")
	}
	if err := CheckText("note", note); err != nil {
		return Order{}, err
	}
	return l.update(ctx, id, func(o *Order) (*JournalEntry, error) {
		if o.Status != StatusManualReview {
			return nil, Errorf(ECONFLICT, "order %s is %s, not manual_review; only orders in review can be settled", id, o.Status)
		}
		from := o.Status
		now := l.now()
		to := decision
		if decision == StatusPaid {
			// Paid means the money is as recorded: refunds already seen stay.
			to = RefundStatus(o.RefundedMinor, o.AmountMinor)
		}
		o.Status, o.StatusChangedAt, o.Reason = to, now, note
		if decision == StatusPaid && o.PaidAt == nil {
			o.PaidAt = &now
		}
		// The person has weighed the expiry against the money: a later event
		// is judged afresh, not sent back to review for the same expiry.
		o.History.Expiry = EventMark{}
		if decision == StatusFailed {
			// No payment stands: one under a new reference is not a second.
			o.History.PaymentRefs = nil
		}
		reason := note
		if who != "" {
			reason = who + ": " + note
		}
		return &JournalEntry{Source: SourceManual, Verdict: VerdictManual, StatusBefore: from, StatusAfter: to,
			AmountMinor: o.AmountMinor, Currency: o.Currency, Reason: reason}, nil
	})
}

// Expire moves an unpaid order past its expiry to expired.
func (l *Ledger) Expire(ctx context.Context, id string) (Order, error) {
	return l.update(ctx, id, func(o *Order) (*JournalEntry, error) {
		now := l.now()
		if o.ExpiresAt == nil || o.ExpiresAt.After(now) || !CanTransition(o.Status, StatusExpired) {
			return nil, nil
		}
		from := o.Status
		o.Status, o.StatusChangedAt = StatusExpired, now
		// Not paid before expires_at: a payment made before it, delivered
		// late, still counts (see Decide).
		o.History.noteExpiry(EventMark{Status: StatusExpired, Time: NewEventTime(*o.ExpiresAt, MinPrecision)})
		return &JournalEntry{Source: SourceScheduler, Verdict: VerdictExpired, StatusBefore: from, StatusAfter: StatusExpired,
			Reason: "not paid before " + o.ExpiresAt.Format(time.RFC3339)}, nil
	})
}

// Receive journals a verified event that waits for confirmation (a status
// lookup) with its event id, so that a redelivery is EDUPLICATE; the order
// does not move until the confirmation is applied with ApplyEvent.
func (l *Ledger) Receive(ctx context.Context, e JournalEntry) error {
	if e.EventID == "" || e.Provider == "" {
		return Errorf(EINVALID, "a received event needs its provider and event id")
	}
	if e.OrderID != "" && ValidateOrderID(e.OrderID) != nil {
		e.OrderID = ""
	}
	return l.Store.Apply(ctx, Change{Journal: &e})
}

// RecordNewLink journals on an expired or failed order that a person made
// it a new payment link as order to (a new order with the same customer and
// items: a provider never takes the same order number twice). The order
// itself does not move.
func (l *Ledger) RecordNewLink(ctx context.Context, from, to, who string) error {
	o, err := l.Store.GetOrder(ctx, from)
	if err != nil {
		return err
	}
	reason := "new payment link in order " + to
	if who != "" {
		reason = who + ": " + reason
	}
	return l.Store.Apply(ctx, Change{Journal: &JournalEntry{OrderID: from, Source: SourceManual, Verdict: VerdictNewLink,
		StatusBefore: o.Status, StatusAfter: o.Status, Provider: o.Provider, Reason: reason, CreatedAt: l.now()}})
}
