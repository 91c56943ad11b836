package providertest

import (
	"context"
	"testing"
	"time"

	"github.com/paysync/paysync/core"
)

// BankPayer is a Harness whose double takes payments paysync is never
// told of (an order registered in the bank's back office, a lost
// callback). Every harness of a provider that lists its transactions
// (core.TransactionLister) must have it: the Lists case needs it.
type BankPayer interface {
	// PayAtBank makes a payment for orderID at the double, amountMinor in
	// currency, that reaches paysync by no message at all.
	PayAtBank(t *testing.T, orderID string, amountMinor int64, currency string)
}

// testLists: a provider that lists its transactions lists every payment of
// the window (a paid order of paysync's and one paysync never heard of),
// with its order, amount, currency and reference, and nothing outside the
// window; the daily reconciliation makes the unknown one a manual_review
// order, and a second run writes nothing.
func testLists(s *suite) {
	lister, ok := s.p.(core.TransactionLister)
	if !ok {
		s.t.Skipf("%s lists no transactions", s.p.Name())
	}
	bank, ok := s.h.(BankPayer)
	if !ok {
		s.t.Fatalf("%s lists its transactions but its harness cannot pay at the bank: add PayAtBank (providertest.BankPayer)", s.p.Name())
	}
	known := s.order()
	s.h.Pay(s.t, known, known.AmountMinor, known.Currency, 1)
	s.status(known.ID, core.StatusPaid)
	s.settle()
	unknown := "PT-BANK-" + known.ID
	bank.PayAtBank(s.t, unknown, Price+500, "AMD")

	ctx := context.Background()
	now := time.Now().UTC()
	txs, err := lister.ListTransactions(ctx, now.Add(-time.Hour), now.Add(time.Hour))
	if err != nil {
		s.t.Fatalf("ListTransactions: %v", err)
	}
	byOrder := map[string]core.BankTransaction{}
	for _, tx := range txs {
		if tx.At.Before(now.Add(-time.Hour)) || !tx.At.Before(now.Add(time.Hour)) {
			s.t.Errorf("%s is listed at %s, outside the window asked for", tx.OrderID, tx.At)
		}
		byOrder[tx.OrderID] = tx
	}
	for id, want := range map[string]int64{known.ID: known.AmountMinor, unknown: Price + 500} {
		tx, ok := byOrder[id]
		switch {
		case !ok:
			s.t.Fatalf("order %s is not listed (listed: %d transactions)", id, len(txs))
		case tx.AmountMinor != want || tx.Currency != "AMD" || tx.Status != core.StatusPaid || tx.ProviderRef == "":
			s.t.Errorf("order %s is listed as %d %s %s ref %q, want %d AMD paid with a reference", id, tx.AmountMinor, tx.Currency, tx.Status, tx.ProviderRef, want)
		}
	}
	if old, err := lister.ListTransactions(ctx, now.Add(-72*time.Hour), now.Add(-48*time.Hour)); err != nil || len(old) != 0 {
		s.t.Fatalf("two days ago lists %d transactions (%v), want none", len(old), err)
	}

	if _, err := s.svc.ReconcileDay(ctx, now, time.UTC); err != nil {
		s.t.Fatal(err)
	}
	o, found := s.get(unknown)
	if !found || o.Status != core.StatusManualReview || o.AmountMinor != Price+500 {
		s.t.Fatalf("after the reconciliation the unknown payment's order is %+v (found %v), want manual_review of %d", o.Status, found, Price+500)
	}
	before := len(s.journal(unknown)) + len(s.journal(known.ID))
	if _, err := s.svc.ReconcileDay(ctx, now, time.UTC); err != nil {
		s.t.Fatal(err)
	}
	if after := len(s.journal(unknown)) + len(s.journal(known.ID)); after != before {
		s.t.Fatalf("a second reconciliation of the day wrote %d journal entries, want none", after-before)
	}
}
