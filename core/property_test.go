package core_test

import (
	"context"
	"flag"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/paysync/paysync/core"
	"github.com/paysync/paysync/internal/testdb"
)

var (
	propertyCases = flag.Int("property.cases", 60, "histories per database in TestArrivalOrderDoesNotMatter")
	propertySeed  = flag.Uint64("property.seed", 0, "seed of TestArrivalOrderDoesNotMatter (0: a new one each run, logged)")
)

// TestArrivalOrderDoesNotMatter is the property of issue 16: whatever order
// an order's payment events arrive in, the order ends in the status its
// event history implies.
//
// An order's history H is the set of distinct events its provider sent (a
// redelivery under the same event id is the same event): payments, failed
// attempts, expiries and refunds. An event stated at instant t to precision
// p (a second for "…:20Z"; a time stated in nanoseconds is kept to the
// microsecond, as both databases store it) stands for the interval
// [t, t+p); an event without a time stands for all time. Event a is before
// event b when a's interval ends at or before b's begins, so no event is
// before another of its own second, or before or after one without a time.
//
// The refunds' total is the largest running total the refunds report, or,
// for a provider that reports each refund on its own, the sum of the refunds.
//
// H implies, for an order of amount A in currency C:
//   - manual_review, when a payment's amount or currency is not A and C; or
//     a refund's currency is stated and is not C; or the refunds' total
//     exceeds A; or some payment is not before some expiry (money taken
//     after the order expired, or not certainly before);
//   - otherwise refunded when the refunds' total is A, partially_refunded
//     when it is above zero and below A (a refund proves the payment it
//     returns, whether or not H holds that payment);
//   - otherwise paid when H holds a payment;
//   - otherwise expired when H holds an expiry;
//   - otherwise failed when H holds a failed attempt;
//   - otherwise pending.
//
// The test draws random histories (random kinds, times close enough for
// precisions to collide, random precisions, redeliveries, running totals
// repeated under new ids, over-refunds, foreign currencies and short
// payments), applies each in two random arrival orders through the ledger on
// a real database, and compares the stored order with what H implies,
// computed here independently of the rules.
func TestArrivalOrderDoesNotMatter(t *testing.T) {
	seed := *propertySeed
	if seed == 0 {
		seed = uint64(time.Now().UnixNano())
	}
	t.Logf("seed %d (rerun with go test ./core -run TestArrivalOrderDoesNotMatter -args -property.seed=%d)", seed, seed)
	testdb.Each(t, func(t *testing.T, dialect string) {
		t.Parallel()
		l := newLedger(t, dialect)
		ctx := context.Background()
		rng := rand.New(rand.NewPCG(seed, uint64(len(dialect))))
		implied := map[core.Status]int{}
		defer func() { t.Logf("implied statuses drawn: %v", implied) }()
		for c := 0; c < *propertyCases; c++ {
			h := drawHistory(rng)
			want, wantRefunded := h.implied()
			implied[want]++
			for k := 0; k < 2; k++ {
				id := fmt.Sprintf("PT-%d-%d", c, k)
				if _, _, err := l.CreateOrder(ctx, core.Order{ID: id, AmountMinor: h.amount, Currency: "AMD",
					Items: []core.Item{{Name: "Dress", Quantity: 1, PriceMinor: h.amount}}}); err != nil {
					t.Fatal(err)
				}
				arrival := rng.Perm(len(h.events))
				for _, i := range arrival {
					if _, err := l.ApplyEvent(ctx, h.events[i].paymentEvent(id)); err != nil {
						t.Fatalf("%s: apply event %d: %v", id, i, err)
					}
				}
				o, err := l.Store.GetOrder(ctx, id)
				if err != nil {
					t.Fatal(err)
				}
				if o.Status != want || (want == core.StatusPartiallyRefunded || want == core.StatusRefunded) && o.RefundedMinor != wantRefunded {
					j, _ := l.Store.ListJournal(ctx, id)
					var lines []string
					for _, e := range j[1:] {
						lines = append(lines, fmt.Sprintf("  %s %s: %s -> %s %s", e.EventID, e.Verdict, e.StatusBefore, e.StatusAfter, e.Reason))
					}
					t.Fatalf("seed %d, %s: ends %s with %d refunded; the history implies %s with %d refunded\nhistory (amount %d, %s):\n%s\narrival order %v\njournal:\n%s",
						seed, id, o.Status, o.RefundedMinor, want, wantRefunded, h.amount, h.style(), h, arrival, strings.Join(lines, "\n"))
				}
			}
		}
	})
}

// drawnEvent is one event of a drawn history.
type drawnEvent struct {
	key       string // the event id, without the order's prefix; a redelivery repeats it
	status    core.Status
	amount    int64  // a payment's amount
	currency  string // a payment's or refund's currency ("" unstated, for refunds)
	single    int64  // a refund reported on its own
	total     int64  // a refund reported as a running total
	stated    time.Time
	precision time.Duration // 0 with a zero stated: no time given
}

func (e drawnEvent) paymentEvent(orderID string) core.PaymentEvent {
	return core.PaymentEvent{Provider: "generic", EventID: orderID + "/" + e.key, OrderID: orderID, Status: e.status,
		AmountMinor: e.amount, Currency: e.currency, RefundMinor: e.single, RefundedMinor: e.total,
		OccurredAt: e.stated, Precision: e.precision, Source: core.SourceWebhook, Verified: true}
}

// interval is the stretch of time the stated time stands for.
func (e drawnEvent) interval() (start, end time.Time, known bool) {
	if e.stated.IsZero() {
		return time.Time{}, time.Time{}, false
	}
	p := max(e.precision, time.Microsecond)
	start = e.stated.Truncate(p)
	return start, start.Add(p), true
}

func before(a, b drawnEvent) bool {
	_, aEnd, aKnown := a.interval()
	bStart, _, bKnown := b.interval()
	return aKnown && bKnown && !aEnd.After(bStart)
}

type drawnHistory struct {
	amount     int64
	cumulative bool // refunds report running totals
	events     []drawnEvent
}

func (h drawnHistory) style() string {
	if h.cumulative {
		return "refunds as running totals"
	}
	return "refunds one by one"
}

func (h drawnHistory) String() string {
	var b strings.Builder
	for i, e := range h.events {
		fmt.Fprintf(&b, "  #%d %s %s", i, e.key, e.status)
		switch e.status {
		case core.StatusPaid:
			fmt.Fprintf(&b, " %d %s", e.amount, e.currency)
		case core.StatusRefunded:
			fmt.Fprintf(&b, " single %d total %d %q", e.single, e.total, e.currency)
		}
		if start, end, ok := e.interval(); ok {
			fmt.Fprintf(&b, " [%s, %s)", start.Format(time.RFC3339Nano), end.Format(time.RFC3339Nano))
		} else {
			b.WriteString(" (no time)")
		}
		b.WriteByte('\n')
	}
	return b.String()
}

// implied is the status, and the refunds' total, the history implies (see
// TestArrivalOrderDoesNotMatter), computed without the rules under test.
func (h drawnHistory) implied() (core.Status, int64) {
	seen := map[string]drawnEvent{}
	var payments, expiries []drawnEvent
	var failed bool
	var refunded int64
	review := false
	for _, e := range h.events {
		if _, dup := seen[e.key]; dup {
			continue
		}
		seen[e.key] = e
		switch e.status {
		case core.StatusPaid:
			payments = append(payments, e)
			review = review || e.amount != h.amount || e.currency != "AMD"
		case core.StatusExpired:
			expiries = append(expiries, e)
		case core.StatusFailed:
			failed = true
		case core.StatusRefunded:
			review = review || e.currency != "" && e.currency != "AMD"
			if h.cumulative {
				refunded = max(refunded, e.total)
			} else {
				refunded += e.single
			}
		}
	}
	review = review || refunded > h.amount
	for _, p := range payments {
		for _, x := range expiries {
			review = review || !before(p, x)
		}
	}
	switch {
	case review:
		return core.StatusManualReview, refunded
	case refunded == h.amount:
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

// drawHistory draws one order's history: up to six events close together in
// time, so that their stated times often share a second or a millisecond.
func drawHistory(rng *rand.Rand) drawnHistory {
	h := drawnHistory{amount: 1000 * (1 + rng.Int64N(100)), cumulative: rng.IntN(2) == 0}
	now := time.Date(2026, 3, 1, 15, 7, 0, 0, time.UTC).Add(time.Duration(rng.Int64N(int64(time.Minute))))
	var total int64 // the refunds so far
	n := 1 + rng.IntN(6)
	if rng.IntN(30) == 0 {
		n = 0 // nothing happened yet: pending
	}
	for i := 0; i < n; i++ {
		switch rng.IntN(4) { // the gap since the previous event
		case 0:
			now = now.Add(time.Duration(rng.Int64N(int64(time.Millisecond))))
		case 1:
			now = now.Add(time.Duration(rng.Int64N(int64(time.Second))))
		default:
			now = now.Add(time.Duration(rng.Int64N(int64(3 * time.Second))))
		}
		e := drawnEvent{key: fmt.Sprintf("e%d", i)}
		switch r := rng.IntN(100); {
		case r < 25:
			e.status, e.amount, e.currency = core.StatusPaid, h.amount, "AMD"
			if rng.IntN(20) == 0 {
				e.amount -= 1 + rng.Int64N(h.amount/2) // short payment
			}
		case r < 45:
			e.status = core.StatusFailed
		case r < 65:
			e.status = core.StatusExpired
		default:
			e.status, e.currency = core.StatusRefunded, "AMD"
			switch rng.IntN(20) {
			case 0:
				e.currency = "USD"
			case 1:
				e.currency = "" // the provider did not say
			}
			part := 1 + rng.Int64N(h.amount/2)
			if rest := h.amount - total; rest > 0 && rng.IntN(3) == 0 {
				part = rest // the rest, which makes the order refunded
			}
			if h.cumulative && total > 0 && rng.IntN(5) == 0 {
				part = 0 // the same running total again, under a new id
			}
			total += part
			if h.cumulative {
				e.total = total
			} else {
				e.single = part
			}
		}
		switch r := rng.IntN(100); {
		case r < 35:
			e.precision = time.Second
		case r < 60:
			e.precision = time.Millisecond
		case r < 75:
			e.precision = time.Microsecond
		case r < 90:
			e.precision = time.Nanosecond
		}
		if e.precision > 0 {
			e.stated = now.Truncate(e.precision)
		}
		h.events = append(h.events, e)
		if rng.IntN(6) == 0 { // delivered twice
			h.events = append(h.events, e)
		}
	}
	return h
}
