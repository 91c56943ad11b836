// Package coretest holds what tests across paysync share about core's
// rules: the status an order's payment history implies, computed here
// independently of core's own code (core/property_test.go and the chaos test
// in e2e both hold paysync to it).
package coretest

import (
	"fmt"
	"strings"
	"time"

	"github.com/paysync/paysync/core"
)

// Event is one payment event of an order's history.
type Event struct {
	Key      string      // the event id; a redelivery repeats it
	Status   core.Status // paid, failed, expired or refunded
	Amount   int64       // a payment's amount
	Currency string      // a payment's or refund's currency ("" unstated, for refunds)
	Single   int64       // a refund reported on its own
	Total    int64       // a refund reported as a running total
	Ref      string      // a payment's provider reference ("" unstated)
	// Stated is the time the sender gave, to Precision (time.Second for
	// "…:20Z"); zero Stated: no time given.
	Stated    time.Time
	Precision time.Duration
}

// Interval is the stretch of time the stated time stands for.
func (e Event) Interval() (start, end time.Time, known bool) {
	if e.Stated.IsZero() {
		return time.Time{}, time.Time{}, false
	}
	p := max(e.Precision, time.Microsecond)
	start = e.Stated.Truncate(p)
	return start, start.Add(p), true
}

// Before reports whether a certainly happened before b: a's interval ends
// at or before b's begins. No event is before one without a time.
func Before(a, b Event) bool {
	_, aEnd, aKnown := a.Interval()
	bStart, _, bKnown := b.Interval()
	return aKnown && bKnown && !aEnd.After(bStart)
}

// History is every event an order's provider sent, redeliveries included.
type History struct {
	Amount     int64
	Currency   string // the order's currency (default AMD)
	Cumulative bool   // refunds report running totals
	Events     []Event
}

func (h History) currency() string {
	if h.Currency == "" {
		return "AMD"
	}
	return h.Currency
}

// Style says how the refunds are reported.
func (h History) Style() string {
	if h.Cumulative {
		return "refunds as running totals"
	}
	return "refunds one by one"
}

func (h History) String() string {
	var b strings.Builder
	for i, e := range h.Events {
		fmt.Fprintf(&b, "  #%d %s %s", i, e.Key, e.Status)
		switch e.Status {
		case core.StatusPaid:
			fmt.Fprintf(&b, " %d %s %q", e.Amount, e.Currency, e.Ref)
		case core.StatusRefunded:
			fmt.Fprintf(&b, " single %d total %d %q", e.Single, e.Total, e.Currency)
		}
		if start, end, ok := e.Interval(); ok {
			fmt.Fprintf(&b, " [%s, %s)", start.Format(time.RFC3339Nano), end.Format(time.RFC3339Nano))
		} else {
			b.WriteString(" (no time)")
		}
		b.WriteByte('\n')
	}
	return b.String()
}

// Implied is the status, and the refunds' total, the history implies for an
// order of Amount in Currency:
//   - manual_review, when a payment's amount or currency is not the
//     order's; or two payments state different references (the buyer paid
//     twice); or a refund's currency is stated and is not the order's; or
//     the refunds' total exceeds the amount; or some payment is not before
//     some expiry (money taken after the order expired, or not certainly
//     before);
//   - otherwise refunded when the refunds' total is the amount,
//     partially_refunded when it is above zero and below it (a refund
//     proves the payment it returns, whether or not the history holds it);
//   - otherwise paid when the history holds a payment;
//   - otherwise expired when it holds an expiry;
//   - otherwise failed when it holds a failed attempt;
//   - otherwise pending.
//
// Redeliveries (a repeated Key) count once. The refunds' total is the
// largest running total reported or, refund by refund, their sum, of the
// refunds in the order's currency (or unstated), above the amount too: the
// same refunds give the same total whatever order they arrive in.
func (h History) Implied() (core.Status, int64) {
	seen := map[string]bool{}
	var payments, expiries []Event
	var failed bool
	var refunded int64
	review := false
	refs := map[string]bool{}
	cur := h.currency()
	for _, e := range h.Events {
		if seen[e.Key] {
			continue
		}
		seen[e.Key] = true
		switch e.Status {
		case core.StatusPaid:
			payments = append(payments, e)
			review = review || e.Amount != h.Amount || e.Currency != cur
			if e.Ref != "" {
				refs[e.Ref] = true
			}
		case core.StatusExpired:
			expiries = append(expiries, e)
		case core.StatusFailed:
			failed = true
		case core.StatusRefunded:
			if e.Currency != "" && e.Currency != cur {
				review = true
				continue // in another currency: it cannot count
			}
			if h.Cumulative {
				refunded = max(refunded, e.Total)
			} else {
				refunded += e.Single
			}
		}
	}
	review = review || refunded > h.Amount || len(refs) > 1
	for _, p := range payments {
		for _, x := range expiries {
			review = review || !Before(p, x)
		}
	}
	switch {
	case review:
		return core.StatusManualReview, refunded
	case refunded == h.Amount:
		return core.StatusRefunded, refunded
	case refunded > 0:
		return core.StatusPartiallyRefunded, refunded
	case len(payments) > 0:
		return core.StatusPaid, 0
	case len(expiries) > 0:
		return core.StatusExpired, 0
	case failed:
		return core.StatusFailed, 0
	}
	return core.StatusPending, 0
}
