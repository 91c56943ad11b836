package core_test

import (
	"context"
	"testing"
	"time"

	"github.com/paysync/paysync/core"
	"github.com/paysync/paysync/storage/testdb"
)

// TestStaleCopies: two ledgers on one store (two replicas) each keep the
// orders they wrote. A copy the other replica has since changed never
// decides an event: a write made on it is refused by the version check and
// decided again on the stored order, and an outcome that writes no order is
// only decided on the stored order. So every event ends exactly as it ends
// for ledgers that keep no copies.
func TestStaleCopies(t *testing.T) {
	ctx := context.Background()
	type step struct {
		ledger string // "a" or "b"
		ev     core.PaymentEvent
	}
	refund := func(id, evID string) core.PaymentEvent {
		ev := paidEvent(id, evID)
		ev.Status, ev.RefundedMinor = core.StatusRefunded, ev.AmountMinor
		return ev
	}
	failedBefore := func(id, evID string) core.PaymentEvent {
		ev := paidEvent(id, evID)
		ev.Status, ev.OccurredAt = core.StatusFailed, ev.OccurredAt.Add(-time.Hour)
		return ev
	}
	steps := []step{
		// a created both orders (its copies say pending); b pays them.
		{"b", paidEvent("S-1", "b-pay-S-1")},
		{"b", paidEvent("S-2", "b-pay-S-2")},
		// On a's pending copy a second payment looks like the first.
		{"a", paidEvent("S-1", "a-pay-S-1")},
		// b refunds S-2; a, holding a pending copy, sees a refund too.
		{"b", refund("S-2", "b-refund-S-2")},
		{"a", refund("S-2", "a-refund-S-2")},
		// a holds the stored S-1 again; its refund lands.
		{"a", refund("S-1", "a-refund-S-1")},
		// a pays S-3 (its copy: paid), b refunds it, then a failure older
		// than the payment reaches a: it changes nothing, and its journal
		// entry must say the order was refunded, not paid.
		{"a", paidEvent("S-3", "a-pay-S-3")},
		{"b", refund("S-3", "b-refund-S-3")},
		{"a", failedBefore("S-3", "a-fail-S-3")},
	}
	type outcome struct {
		verdict core.Verdict
		before  core.Status
		status  core.Status
		version int64
	}
	play := func(t *testing.T, dialect string, recent func() *core.RecentOrders) []outcome {
		db := testdb.Open(t, dialect)
		conns := func() []string { return []string{"bitrix24"} }
		ls := map[string]*core.Ledger{
			"a": {Store: db, Recent: recent(), Connectors: conns},
			"b": {Store: db, Recent: recent(), Connectors: conns},
		}
		for _, id := range []string{"S-1", "S-2", "S-3"} {
			if _, _, err := ls["a"].CreateOrder(ctx, sampleOrder(id)); err != nil {
				t.Fatal(err)
			}
		}
		var out []outcome
		for _, s := range steps {
			res, err := ls[s.ledger].ApplyEvent(ctx, s.ev)
			if err != nil {
				t.Fatalf("%s applies %s: %v", s.ledger, s.ev.EventID, err)
			}
			o, err := db.GetOrder(ctx, s.ev.OrderID)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, outcome{res.Verdict, res.Entry.StatusBefore, o.Status, o.Version})
		}
		return out
	}
	testdb.Each(t, func(t *testing.T, dialect string) {
		t.Parallel()
		want := play(t, dialect, func() *core.RecentOrders { return nil })
		got := play(t, dialect, func() *core.RecentOrders { return core.NewRecentOrders(0) })
		for i := range steps {
			if got[i] != want[i] {
				t.Errorf("%s applies %s: %+v with copies, %+v without", steps[i].ledger, steps[i].ev.EventID, got[i], want[i])
			}
		}
		if want[2].before != core.StatusPaid || want[4].before != core.StatusRefunded || want[8].before != core.StatusRefunded {
			t.Fatalf("the scenario lost its point: %+v", want)
		}
	})
}
