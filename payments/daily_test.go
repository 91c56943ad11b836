package payments_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/paysync/paysync/core"
	arcasandbox "github.com/paysync/paysync/sandbox/arca"
	"github.com/paysync/paysync/storage/testdb"
)

// reconcileDay is the shop's day the reconciliation tests pay in: noon in
// Yerevan, so that no payment falls near the day's edges.
var reconcileNoon = time.Date(2026, 3, 10, 12, 0, 0, 0, arcasandbox.Yerevan)

func newReconcileHarness(t *testing.T, dialect string) *harness {
	return newHarness(t, dialect, harnessOptions{now: func() time.Time { return reconcileNoon }})
}

func (h *harness) reconcile() core.ReconcileReport {
	h.t.Helper()
	rs, err := h.svc.ReconcileDay(context.Background(), reconcileNoon, arcasandbox.Yerevan)
	if err != nil {
		h.t.Fatal(err)
	}
	for _, r := range rs {
		if r.Provider == "arca" {
			if r.Error != "" {
				h.t.Fatalf("ArCa could not be asked: %s", r.Error)
			}
			return r
		}
	}
	h.t.Fatalf("no ArCa report among %d (listers %v)", len(rs), h.svc.Listers())
	return core.ReconcileReport{}
}

func (h *harness) journalCount() int {
	h.t.Helper()
	var n int
	w := h.db.Writer()
	if err := w.Get(&n, `SELECT COUNT(*) FROM journal`); err != nil {
		h.t.Fatal(err)
	}
	return n
}

func lineOf(t *testing.T, r core.ReconcileReport, orderID string) core.ReconcileLine {
	t.Helper()
	for _, l := range r.Lines {
		if l.OrderID == orderID {
			return l
		}
	}
	t.Fatalf("the report has no line for order %s: %+v", orderID, r.Lines)
	return core.ReconcileLine{}
}

func TestReconcileUnknownPaymentBecomesReview(t *testing.T) {
	testdb.Each(t, func(t *testing.T, dialect string) {
		h := newReconcileHarness(t, dialect)
		if _, err := h.arca.PayAtBank("BANK-7", 250000, "AMD"); err != nil {
			t.Fatal(err)
		}
		r := h.reconcile()
		if l := lineOf(t, r, "BANK-7"); l.Finding != core.FindingUnknown {
			t.Fatalf("finding = %s, want %s", l.Finding, core.FindingUnknown)
		}
		o := h.get("BANK-7")
		if o.Status != core.StatusManualReview || o.AmountMinor != 250000 || o.Currency != "AMD" || !strings.HasPrefix(o.Reason, core.PaidAtBankReason) {
			t.Fatalf("order = %s %d %s %q, want manual_review 250000 AMD with reason %q…", o.Status, o.AmountMinor, o.Currency, o.Reason, core.PaidAtBankReason)
		}
		j := h.journal("BANK-7")
		if len(j) != 1 || j[0].Source != core.SourceReconcile || j[0].Verdict != core.VerdictOrphan {
			t.Fatalf("journal = %+v, want one orphan entry from reconcile", j)
		}
		if r.BankTotals["AMD"] != 250000 || r.BankCount != 1 || r.Clean() {
			t.Fatalf("bank totals %v, count %d, clean %v: want 250000 AMD, 1, not clean", r.BankTotals, r.BankCount, r.Clean())
		}
	})
}

func TestReconcileAmountMismatchIsFlagged(t *testing.T) {
	testdb.Each(t, func(t *testing.T, dialect string) {
		h := newReconcileHarness(t, dialect)
		h.order("MM-1", 150000, "arca")
		h.arca.DropCallbacks(1) // paysync never hears of it
		if err := h.arca.PayWith("MM-1", 140000, "AMD"); err != nil {
			t.Fatal(err)
		}
		h.arca.WaitCallbacks()
		if st := h.get("MM-1").Status; st != core.StatusPending {
			t.Fatalf("before the reconciliation the order is %s, want pending (the callback was dropped)", st)
		}
		r := h.reconcile()
		l := lineOf(t, r, "MM-1")
		if l.Finding != core.FindingMismatch || l.BankAmountMinor != 140000 || l.OrderAmountMinor != 150000 {
			t.Fatalf("line = %+v, want a mismatch of 140000 against 150000", l)
		}
		o := h.get("MM-1")
		if o.Status != core.StatusManualReview || o.AmountMinor != 150000 {
			t.Fatalf("order is %s of %d, want manual_review and its amount kept at 150000", o.Status, o.AmountMinor)
		}
		if n := count(h.verdicts("MM-1"), core.VerdictAmountMismatch); n != 1 {
			t.Fatalf("%d amount_mismatch entries, want 1", n)
		}
		// A person settles it; the next run does not flag it again.
		if _, err := h.ledger.Review(context.Background(), "MM-1", core.StatusPaid, "customer paid 1,400 by agreement", "test"); err != nil {
			t.Fatal(err)
		}
		before := h.journalCount()
		if l := lineOf(t, h.reconcile(), "MM-1"); l.Finding != core.FindingFlaggedBefore {
			t.Fatalf("after review the finding is %s, want %s", l.Finding, core.FindingFlaggedBefore)
		}
		if after := h.journalCount(); after != before {
			t.Fatalf("the run after the review wrote %d journal entries, want none", after-before)
		}
	})
}

func TestReconcileMatchingDayIsClean(t *testing.T) {
	testdb.Each(t, func(t *testing.T, dialect string) {
		h := newReconcileHarness(t, dialect)
		for _, id := range []string{"OK-1", "OK-2"} {
			h.order(id, 150000, "arca")
			if err := h.arca.Pay(id); err != nil {
				t.Fatal(err)
			}
			h.waitStatus(id, core.StatusPaid)
		}
		before := h.journalCount()
		r := h.reconcile()
		if !r.Clean() || r.Count(core.FindingMatched) != 2 || len(r.Lines) != 2 {
			t.Fatalf("report = %+v, want two matched lines and clean", r.Lines)
		}
		if r.BankTotals["AMD"] != 300000 || r.PaysyncTotals["AMD"] != 300000 {
			t.Fatalf("totals bank %v paysync %v, want 300000 AMD on both", r.BankTotals, r.PaysyncTotals)
		}
		if after := h.journalCount(); after != before {
			t.Fatalf("a clean day wrote %d journal entries, want none", after-before)
		}
	})
}

func TestReconcileLostPaymentAndMissingAtBank(t *testing.T) {
	testdb.Each(t, func(t *testing.T, dialect string) {
		h := newReconcileHarness(t, dialect)
		h.order("LOST-1", 150000, "arca")
		h.arca.DropCallbacks(1)
		if err := h.arca.Pay("LOST-1"); err != nil {
			t.Fatal(err)
		}
		h.arca.WaitCallbacks()
		// Paid in paysync by a message the bank's list does not back.
		h.order("GHOST-1", 90000, "arca")
		if _, err := h.ledger.ApplyEvent(context.Background(), core.PaymentEvent{Provider: "arca", EventID: "test:ghost", Type: "test",
			OrderID: "GHOST-1", Status: core.StatusPaid, AmountMinor: 90000, Currency: "AMD", OccurredAt: reconcileNoon.Add(-time.Hour),
			Source: core.SourceWebhook, Verified: true}); err != nil {
			t.Fatal(err)
		}
		r := h.reconcile()
		if l := lineOf(t, r, "LOST-1"); l.Finding != core.FindingRecovered || l.OrderStatus != core.StatusPaid {
			t.Fatalf("lost payment line = %+v, want recovered and paid", l)
		}
		if st := h.get("LOST-1").Status; st != core.StatusPaid {
			t.Fatalf("LOST-1 is %s, want paid", st)
		}
		if l := lineOf(t, r, "GHOST-1"); l.Finding != core.FindingMissingAtBank {
			t.Fatalf("GHOST-1 finding = %s, want %s", l.Finding, core.FindingMissingAtBank)
		}
		if st := h.get("GHOST-1").Status; st != core.StatusPaid {
			t.Fatalf("GHOST-1 is %s: a payment missing at the bank is reported, never changed", st)
		}
	})
}

func TestReconcileTwiceCreatesNothingTwice(t *testing.T) {
	testdb.Each(t, func(t *testing.T, dialect string) {
		h := newReconcileHarness(t, dialect)
		if _, err := h.arca.PayAtBank("BANK-9", 120000, "AMD"); err != nil {
			t.Fatal(err)
		}
		h.order("MM-9", 150000, "arca")
		h.arca.DropCallbacks(1)
		if err := h.arca.PayWith("MM-9", 150000, "USD"); err != nil {
			t.Fatal(err)
		}
		h.arca.WaitCallbacks()
		h.reconcile()
		journal, outbox := h.journalCount(), h.outboxCount()
		orders, err := h.db.ListOrders(context.Background(), core.OrderQuery{Limit: 100})
		if err != nil {
			t.Fatal(err)
		}
		second := h.reconcile()
		if n := h.journalCount(); n != journal {
			t.Fatalf("the second run wrote %d journal entries, want none", n-journal)
		}
		if n := h.outboxCount(); n != outbox {
			t.Fatalf("the second run enqueued %d outbox records, want none", n-outbox)
		}
		again, err := h.db.ListOrders(context.Background(), core.OrderQuery{Limit: 100})
		if err != nil {
			t.Fatal(err)
		}
		if len(again) != len(orders) {
			t.Fatalf("%d orders after the second run, %d before", len(again), len(orders))
		}
		if second.Count(core.FindingInReview) != 2 || second.Count(core.FindingUnknown) != 0 || second.Count(core.FindingMismatch) != 0 {
			t.Fatalf("second report = %+v, want both orders in review and nothing new", second.Lines)
		}
		reports, err := h.db.ListReconcileReports(context.Background(), 10)
		if err != nil {
			t.Fatal(err)
		}
		if len(reports) != 1 || reports[0].Day != "2026-03-10" || reports[0].Count(core.FindingInReview) != 2 {
			t.Fatalf("stored reports = %+v, want the one of 2026-03-10, from the second run", reports)
		}
	})
}

func (h *harness) outboxCount() int {
	h.t.Helper()
	var n int
	w := h.db.Writer()
	if err := w.Get(&n, `SELECT COUNT(*) FROM outbox`); err != nil {
		h.t.Fatal(err)
	}
	return n
}

func TestReconcileProviderDownIsReportedNotGuessed(t *testing.T) {
	testdb.Each(t, func(t *testing.T, dialect string) {
		h := newReconcileHarness(t, dialect)
		if _, err := h.arca.PayAtBank("BANK-3", 100000, "AMD"); err != nil {
			t.Fatal(err)
		}
		h.arca.FailMethodNext("getLastOrdersForMerchants.do", 1, 503)
		rs, err := h.svc.ReconcileDay(context.Background(), reconcileNoon, arcasandbox.Yerevan)
		if err != nil {
			t.Fatal(err)
		}
		var r core.ReconcileReport
		for _, x := range rs {
			if x.Provider == "arca" {
				r = x
			}
		}
		if r.Error == "" || r.Clean() || len(r.Lines) != 0 {
			t.Fatalf("report with ArCa down = %+v, want an error, no lines, not clean", r)
		}
		if strings.Contains(r.Error, arcasandbox.DefaultPassword) {
			t.Fatalf("the report's error shows the password: %s", r.Error)
		}
		if _, err := h.db.GetOrder(context.Background(), "BANK-3"); core.ErrorCode(err) != core.ENOTFOUND {
			t.Fatalf("with ArCa down an order was made anyway: %v", err)
		}
		// The next run, with ArCa up, does the work.
		if l := lineOf(t, h.reconcile(), "BANK-3"); l.Finding != core.FindingUnknown {
			t.Fatalf("after ArCa is back the finding is %s, want %s", l.Finding, core.FindingUnknown)
		}
	})
}

func TestReconcileNeverTouchesAnotherProvidersOrder(t *testing.T) {
	testdb.Each(t, func(t *testing.T, dialect string) {
		h := newReconcileHarness(t, dialect)
		h.order("SAME-1", 150000, "vpos")
		if _, err := h.arca.PayAtBank("SAME-1", 150000, "AMD"); err != nil {
			t.Fatal(err)
		}
		before := len(h.journal("SAME-1"))
		if l := lineOf(t, h.reconcile(), "SAME-1"); l.Finding != core.FindingMismatch || !strings.Contains(l.Note, "nothing was changed") {
			t.Fatalf("line = %+v, want a mismatch that changed nothing", l)
		}
		if o := h.get("SAME-1"); o.Status != core.StatusPending || len(h.journal("SAME-1")) != before {
			t.Fatalf("the VPOS.am order moved to %s or was journaled on an ArCa payment", o.Status)
		}
	})
}
