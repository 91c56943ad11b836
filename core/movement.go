package core

import "time"

// MovementKind says what moved money for an order: what an accountant
// matches with the bank's statement.
type MovementKind string

const (
	// MovementPayment: a provider's event made the order hold a payment.
	MovementPayment MovementKind = "payment"
	// MovementRefund: a provider's event recorded money given back.
	MovementRefund MovementKind = "refund"
	// MovementReview: a person settled an order in manual_review as paid
	// (an orphan payment, a wrong amount, a payment after expiry).
	MovementReview MovementKind = "review"
)

// Movement is one money movement of an order, from its journal. Amounts
// are integer minor units, negative for refunds.
type Movement struct {
	Kind        MovementKind
	At          time.Time // when paysync recorded it (the journal entry's time)
	OrderID     string
	Customer    string
	Provider    string
	ProviderRef string
	AmountMinor int64
	Currency    string
	JournalID   int64
}

// OrderJournal is an order with its journal entries, oldest first.
type OrderJournal struct {
	Order   Order
	Entries []JournalEntry
}

// Movements reads an order's money movements from its journal, in order:
//   - the entry that first makes the order hold a payment (paid, or a refund
//     status when the refund was seen first) is a payment of the order's
//     amount, or a review when a person's decision made it;
//   - each entry of a provider's event that raises the refunded total is a
//     refund of the difference (refund entries carry the total they leave
//     the order with; see Ledger.entry).
//
// An order that leaves review as paid after a payment was already counted
// (paid twice, sent to review) moves no money a second time.
func Movements(oj OrderJournal) []Movement {
	o := oj.Order
	var out []Movement
	counted := false
	var refunded int64
	for _, e := range oj.Entries {
		manual := e.Source == SourceManual
		m := Movement{At: e.CreatedAt, OrderID: o.ID, Customer: o.Customer.Label(), Provider: e.Provider,
			ProviderRef: e.ProviderRef, Currency: o.Currency, JournalID: e.ID}
		if m.Provider == "" {
			m.Provider = o.Provider
		}
		if m.ProviderRef == "" {
			m.ProviderRef = o.ProviderRef
		}
		if !counted && e.StatusAfter.HasPayment() {
			counted = true
			p := m
			p.Kind, p.AmountMinor = MovementPayment, o.AmountMinor
			if manual {
				p.Kind = MovementReview
			}
			out = append(out, p)
		}
		if manual || e.Source == SourceMigration {
			continue
		}
		if (e.StatusAfter == StatusPartiallyRefunded || e.StatusAfter == StatusRefunded) && e.AmountMinor > refunded {
			r := m
			r.Kind, r.AmountMinor = MovementRefund, -(e.AmountMinor - refunded)
			refunded = e.AmountMinor
			out = append(out, r)
		}
	}
	return out
}

// Label names the customer for a person: the name, else the Instagram
// handle, the phone or the email.
func (c Customer) Label() string {
	switch {
	case c.Name != "":
		return c.Name
	case c.Handle != "":
		return c.Handle
	case c.Phone != "":
		return c.Phone
	}
	return c.Email
}
