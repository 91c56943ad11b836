package storagetest

import (
	"errors"
	"testing"
	"time"

	"github.com/paysync/paysync/core"
)

// testPaymentHistory: what an order remembers of its payment events comes
// back exactly (times to the microsecond, their precision, unknown times),
// and a history-only change moves the version without telling any CRM.
func testPaymentHistory(t *testing.T, open Factory) {
	s := open(t, nil)
	at := time.Date(2026, 3, 1, 15, 7, 20, 0, time.UTC)
	o := NewOrder("H-1")
	o.History = core.PaymentHistory{
		Latest:  core.EventMark{EventID: "evt_1", Status: core.StatusPaid, Time: core.NewEventTime(at, time.Second)},
		Payment: core.EventMark{EventID: "lookup:vpos:s1:paid", Status: core.StatusPaid}, // no time given
		Expiry:  core.EventMark{Status: core.StatusExpired, Time: core.NewEventTime(at.Add(483123*time.Microsecond), time.Microsecond)},
		// The payments' references, to tell a second payment from the first.
		PaymentRefs: []string{"pi_1", "pi_\"2\" Հ"},
	}
	create(t, s, o, "bitrix24")
	got, err := s.GetOrder(ctx, "H-1")
	if err != nil {
		t.Fatal(err)
	}
	if !got.History.Equal(o.History) {
		t.Fatalf("history stored as %+v, want %+v", got.History, o.History)
	}
	if list, _ := s.ListOrders(ctx, core.OrderQuery{Q: "H-1"}); len(list) != 1 || !list[0].History.Equal(o.History) {
		t.Fatalf("listed history %+v", list)
	}

	// A history-only change: the version moves, no outbox record, and the
	// journal entry is no transition a CRM would be told about.
	next := got
	next.History.Expiry = core.EventMark{EventID: "x1", Status: core.StatusExpired, Time: core.NewEventTime(at.Add(-time.Minute), time.Millisecond)}
	entry := &core.JournalEntry{Source: core.SourceWebhook, Verdict: core.VerdictRefused, StatusBefore: got.Status, StatusAfter: got.Status}
	if err := s.Apply(ctx, core.Change{Journal: entry, Order: &next, ExpectedVersion: got.Version, HistoryOnly: true}); err != nil {
		t.Fatal(err)
	}
	after, _ := s.GetOrder(ctx, "H-1")
	if after.Version != got.Version+1 || !after.History.Equal(next.History) {
		t.Fatalf("after a history-only change: v%d %+v", after.Version, after.History)
	}
	if _, outbox := count(t, s, "H-1"); outbox != 1 {
		t.Fatalf("%d outbox records, want only the create's", outbox)
	}
	j, _ := s.ListJournal(ctx, "H-1")
	if last := j[len(j)-1]; last.OrderVersion != 0 || last.Verdict != core.VerdictRefused {
		t.Fatalf("history-only journal entry %+v", last)
	}
	// Asking for deliveries with a history-only change is a bug: nothing lands.
	err = s.Apply(ctx, core.Change{Journal: &core.JournalEntry{Source: core.SourceWebhook, Verdict: core.VerdictRefused},
		Order: &after, ExpectedVersion: after.Version, HistoryOnly: true, Outbox: []string{"bitrix24"}})
	var ce *core.Error
	if !errors.As(err, &ce) {
		t.Fatalf("history-only change with deliveries: %v", err)
	}
	if j2, _ := s.ListJournal(ctx, "H-1"); len(j2) != len(j) {
		t.Fatal("a refused change left a journal entry")
	}
	if again, _ := s.GetOrder(ctx, "H-1"); again.Version != after.Version {
		t.Fatal("a refused change moved the version")
	}
}
