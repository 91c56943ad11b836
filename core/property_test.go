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
	"github.com/paysync/paysync/core/coretest"
	"github.com/paysync/paysync/storage/testdb"
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
//     two payments state different provider references (paid twice); or
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
// repeated under new ids, over-refunds, foreign currencies, short payments
// and payments under a second reference), applies each in two random arrival orders through the ledger on
// a real database, and compares the stored order with what H implies,
// computed independently of the rules by coretest.History.Implied.
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
			want, wantRefunded := h.Implied()
			implied[want]++
			for k := 0; k < 2; k++ {
				id := fmt.Sprintf("PT-%d-%d", c, k)
				if _, _, err := l.CreateOrder(ctx, core.Order{ID: id, AmountMinor: h.Amount, Currency: "AMD",
					Items: []core.Item{{Name: "Dress", Quantity: 1, PriceMinor: h.Amount}}}); err != nil {
					t.Fatal(err)
				}
				arrival := rng.Perm(len(h.Events))
				for _, i := range arrival {
					if _, err := l.ApplyEvent(ctx, paymentEvent(h.Events[i], id)); err != nil {
						t.Fatalf("%s: apply event %d: %v", id, i, err)
					}
				}
				o, err := l.Store.GetOrder(ctx, id)
				if err != nil {
					t.Fatal(err)
				}
				if o.Status != want || o.RefundedMinor != wantRefunded {
					j, _ := l.Store.ListJournal(ctx, id)
					var lines []string
					for _, e := range j[1:] {
						lines = append(lines, fmt.Sprintf("  %s %s: %s -> %s %s", e.EventID, e.Verdict, e.StatusBefore, e.StatusAfter, e.Reason))
					}
					t.Fatalf("seed %d, %s: ends %s with %d refunded; the history implies %s with %d refunded\nhistory (amount %d, %s):\n%s\narrival order %v\njournal:\n%s",
						seed, id, o.Status, o.RefundedMinor, want, wantRefunded, h.Amount, h.Style(), h, arrival, strings.Join(lines, "\n"))
				}
			}
		}
	})
}

// paymentEvent is the event e of a drawn history as a provider adapter
// would hand it to the ledger for order orderID.
func paymentEvent(e coretest.Event, orderID string) core.PaymentEvent {
	return core.PaymentEvent{Provider: "generic", EventID: orderID + "/" + e.Key, OrderID: orderID, Status: e.Status,
		AmountMinor: e.Amount, Currency: e.Currency, RefundMinor: e.Single, RefundedMinor: e.Total, ProviderRef: e.Ref,
		OccurredAt: e.Stated, Precision: e.Precision, Source: core.SourceWebhook, Verified: true}
}

// drawHistory draws one order's history: up to six events close together in
// time, so that their stated times often share a second or a millisecond.
func drawHistory(rng *rand.Rand) coretest.History {
	h := coretest.History{Amount: 1000 * (1 + rng.Int64N(100)), Cumulative: rng.IntN(2) == 0}
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
		e := coretest.Event{Key: fmt.Sprintf("e%d", i)}
		switch r := rng.IntN(100); {
		case r < 25:
			e.Status, e.Amount, e.Currency = core.StatusPaid, h.Amount, "AMD"
			if rng.IntN(20) == 0 {
				e.Amount -= 1 + rng.Int64N(h.Amount/2) // short payment
			}
			switch rng.IntN(10) { // its reference: mostly the one payment, now and then another
			case 0, 1, 2:
			case 3:
				e.Ref = "pi_2"
			default:
				e.Ref = "pi_1"
			}
		case r < 45:
			e.Status = core.StatusFailed
		case r < 65:
			e.Status = core.StatusExpired
		default:
			e.Status, e.Currency = core.StatusRefunded, "AMD"
			switch rng.IntN(20) {
			case 0:
				e.Currency = "USD"
			case 1:
				e.Currency = "" // the provider did not say
			}
			part := 1 + rng.Int64N(h.Amount/2)
			if rest := h.Amount - total; rest > 0 && rng.IntN(3) == 0 {
				part = rest // the rest, which makes the order refunded
			}
			if h.Cumulative && total > 0 && rng.IntN(5) == 0 {
				part = 0 // the same running total again, under a new id
			}
			total += part
			if h.Cumulative {
				e.Total = total
			} else {
				e.Single = part
			}
		}
		switch r := rng.IntN(100); {
		case r < 35:
			e.Precision = time.Second
		case r < 60:
			e.Precision = time.Millisecond
		case r < 75:
			e.Precision = time.Microsecond
		case r < 90:
			e.Precision = time.Nanosecond
		}
		if e.Precision > 0 {
			e.Stated = now.Truncate(e.Precision)
		}
		h.Events = append(h.Events, e)
		if rng.IntN(6) == 0 { // delivered twice
			h.Events = append(h.Events, e)
		}
	}
	return h
}
