package core_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/paysync/paysync/core"
	"github.com/paysync/paysync/internal/testdb"
)

func newLedger(t *testing.T, dialect string) *core.Ledger {
	db := testdb.Open(t, dialect)
	return &core.Ledger{
		Store:      db,
		Connectors: func() []string { return []string{"bitrix24", "sheets"} },
		FixedLinks: func(slug string) (core.FixedLink, bool) {
			return core.FixedLink{Slug: "scarf", Product: "Silk scarf", AmountMinor: 800000, Currency: "AMD"}, slug == "scarf"
		},
	}
}

func sampleOrder(id string) core.Order {
	return core.Order{ID: id, AmountMinor: 1500000, Currency: "AMD",
		Customer: core.Customer{Handle: "anna", Name: "Anna", Phone: "+37491000001"},
		Items:    []core.Item{{SKU: "D1", Name: "Dress", Quantity: 1, PriceMinor: 1500000}}}
}

func paidEvent(id, evID string) core.PaymentEvent {
	return core.PaymentEvent{Provider: "generic", EventID: evID, OrderID: id, Status: core.StatusPaid, AmountMinor: 1500000,
		Currency: "AMD", Source: core.SourceWebhook, Verified: true, OccurredAt: time.Now(), Payload: []byte(`{"x":1}`)}
}

func TestLedger(t *testing.T) {
	ctx := context.Background()
	testdb.Each(t, func(t *testing.T, dialect string) {
		t.Run("create is idempotent", func(t *testing.T) {
			l := newLedger(t, dialect)
			o, created, err := l.CreateOrder(ctx, sampleOrder("IG-1"))
			if err != nil || !created || o.Status != core.StatusPending || o.Version != 1 {
				t.Fatalf("create: %+v %v %v", o, created, err)
			}
			again, created, err := l.CreateOrder(ctx, sampleOrder("IG-1"))
			if err != nil || created || again.ID != "IG-1" {
				t.Fatalf("repeat: %v %v", created, err)
			}
			other := sampleOrder("IG-1")
			other.AmountMinor = 1
			if _, _, err := l.CreateOrder(ctx, other); core.ErrorCode(err) != core.ECONFLICT {
				t.Fatalf("different body: %v", err)
			}
			recs, _ := l.Store.OrderDeliveries(ctx, "IG-1")
			if len(recs) != 2 {
				t.Fatalf("outbox after create: %d records, want one per connector", len(recs))
			}
		})
		t.Run("paid once under concurrency", func(t *testing.T) {
			l := newLedger(t, dialect)
			l.CreateOrder(ctx, sampleOrder("IG-2"))
			var wg sync.WaitGroup
			verdicts := make(chan core.Verdict, 10)
			for i := 0; i < 10; i++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					out, err := l.ApplyEvent(ctx, paidEvent("IG-2", "msg_1"))
					if err != nil {
						t.Error(err)
					}
					verdicts <- out.Verdict
				}()
			}
			wg.Wait()
			close(verdicts)
			n := map[core.Verdict]int{}
			for v := range verdicts {
				n[v]++
			}
			if n[core.VerdictAccepted] != 1 || n[core.VerdictDuplicate] != 9 {
				t.Fatalf("verdicts %v, want 1 accepted and 9 duplicates", n)
			}
			o, _ := l.Store.GetOrder(ctx, "IG-2")
			if o.Status != core.StatusPaid || o.Version != 2 || o.PaidAt == nil {
				t.Fatalf("order %+v", o)
			}
			recs, _ := l.Store.OrderDeliveries(ctx, "IG-2")
			if len(recs) != 4 {
				t.Fatalf("outbox has %d records, want 2 (create) + 2 (paid)", len(recs))
			}
			j, _ := l.Store.ListJournal(ctx, "IG-2")
			if len(j) != 11 {
				t.Fatalf("journal has %d entries, want create + 10 deliveries", len(j))
			}
		})
		t.Run("orphan payment kept for review", func(t *testing.T) {
			l := newLedger(t, dialect)
			out, err := l.ApplyEvent(ctx, paidEvent("NOPE-1", "msg_9"))
			if err != nil || out.Verdict != core.VerdictOrphan {
				t.Fatalf("%+v %v", out, err)
			}
			o, err := l.Store.GetOrder(ctx, "NOPE-1")
			if err != nil || o.Status != core.StatusManualReview || !o.Orphan || o.AmountMinor != 1500000 {
				t.Fatalf("orphan order: %+v %v", o, err)
			}
			settled, err := l.Review(ctx, "NOPE-1", core.StatusPaid, "customer sent the order number in Direct", "anna")
			if err != nil || settled.Status != core.StatusPaid {
				t.Fatalf("review: %+v %v", settled, err)
			}
			if _, err := l.Review(ctx, "NOPE-1", core.StatusFailed, "again", ""); core.ErrorCode(err) != core.ECONFLICT {
				t.Fatalf("second review: %v", err)
			}
			j, _ := l.Store.ListJournal(ctx, "NOPE-1")
			if last := j[len(j)-1]; last.Verdict != core.VerdictManual || last.Reason != "anna: customer sent the order number in Direct" {
				t.Fatalf("review journal: %+v", last)
			}
		})
		t.Run("mismatch goes to review", func(t *testing.T) {
			l := newLedger(t, dialect)
			l.CreateOrder(ctx, sampleOrder("IG-3"))
			ev := paidEvent("IG-3", "m")
			ev.AmountMinor = 100
			out, _ := l.ApplyEvent(ctx, ev)
			o, _ := l.Store.GetOrder(ctx, "IG-3")
			if out.Verdict != core.VerdictAmountMismatch || o.Status != core.StatusManualReview || o.Reason == "" {
				t.Fatalf("%+v %+v", out, o)
			}
		})
		t.Run("fixed link creates the order", func(t *testing.T) {
			l := newLedger(t, dialect)
			ev := paidEvent("FX-1", "f1")
			ev.FixedLink, ev.AmountMinor = "scarf", 800000
			out, err := l.ApplyEvent(ctx, ev)
			if err != nil || out.Verdict != core.VerdictAccepted || out.Order.Status != core.StatusPaid || out.Order.Items[0].Name != "Silk scarf" {
				t.Fatalf("%+v %v", out, err)
			}
			ev2 := paidEvent("FX-2", "f2")
			ev2.FixedLink, ev2.AmountMinor = "scarf", 100
			out, _ = l.ApplyEvent(ctx, ev2)
			if out.Verdict != core.VerdictAmountMismatch || out.Order.Status != core.StatusManualReview {
				t.Fatalf("underpaid fixed link: %+v", out)
			}
		})
		t.Run("refund keeps the amount", func(t *testing.T) {
			l := newLedger(t, dialect)
			l.CreateOrder(ctx, sampleOrder("IG-4"))
			l.ApplyEvent(ctx, paidEvent("IG-4", "p"))
			r := paidEvent("IG-4", "r")
			r.Status, r.RefundedMinor = core.StatusRefunded, 500000
			if out, err := l.ApplyEvent(ctx, r); err != nil || out.Order.RefundedMinor != 500000 || out.Order.Status != core.StatusRefunded {
				t.Fatalf("%+v %v", out, err)
			}
		})
		t.Run("expire only when due", func(t *testing.T) {
			l := newLedger(t, dialect)
			o := sampleOrder("IG-5")
			past := time.Now().Add(-time.Minute)
			o.ExpiresAt = &past
			l.CreateOrder(ctx, o)
			got, err := l.Expire(ctx, "IG-5")
			if err != nil || got.Status != core.StatusExpired {
				t.Fatalf("%+v %v", got, err)
			}
			o2 := sampleOrder("IG-6")
			future := time.Now().Add(time.Hour)
			o2.ExpiresAt = &future
			l.CreateOrder(ctx, o2)
			if got, _ := l.Expire(ctx, "IG-6"); got.Status != core.StatusPending {
				t.Fatalf("expired early: %s", got.Status)
			}
		})
		t.Run("rejected requests never burn an event id", func(t *testing.T) {
			l := newLedger(t, dialect)
			l.CreateOrder(ctx, sampleOrder("IG-7"))
			if err := l.Record(ctx, core.JournalEntry{OrderID: "IG-7", Provider: "generic", EventID: "msg_real", Source: core.SourceWebhook, Verdict: core.VerdictRejected, Reason: "bad signature"}); err != nil {
				t.Fatal(err)
			}
			out, err := l.ApplyEvent(ctx, paidEvent("IG-7", "msg_real"))
			if err != nil || out.Verdict != core.VerdictAccepted {
				t.Fatalf("real event after a forged one: %+v %v", out, err)
			}
		})
	})
}
