package ameria_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/paysync/paysync/core"
	"github.com/paysync/paysync/internal/testutil"
	"github.com/paysync/paysync/payments"
	"github.com/paysync/paysync/providers/ameria"
	ameriasandbox "github.com/paysync/paysync/sandbox/ameria"
	"github.com/paysync/paysync/storage"
	"github.com/paysync/paysync/storage/testdb"
)

// shop is paysync's payments service with the Ameriabank adapter, serving
// its webhooks over HTTP on loopback, and the bank's double pointed at it
// through the BackURL the adapter sends: the double's browser comes back
// to paysync's return page as a buyer's would.
type shop struct {
	t    *testing.T
	db   *storage.DB
	svc  *payments.Service
	srv  *httptest.Server
	bank *ameriasandbox.Bank
	seq  atomic.Int64
}

func newShop(t *testing.T, dialect string, bo ameriasandbox.Options) *shop {
	t.Helper()
	s := &shop{t: t, db: testdb.Open(t, dialect)}
	var handler atomic.Value
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { handler.Load().(http.Handler).ServeHTTP(w, r) }))
	s.bank = ameriasandbox.New(bo)
	bankSrv := httptest.NewServer(s.bank)
	p, err := ameria.New(ameria.Options{BaseURL: bankSrv.URL + "/", ClientID: s.bank.ClientID(), Username: s.bank.Username(),
		Password: s.bank.Password(), OrderIDs: ameria.Range{From: ameriasandbox.DefaultOrderFrom, To: ameriasandbox.DefaultOrderTo},
		BackURL: s.srv.URL + "/webhooks/ameria/return", Store: s.db, Timeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	ledger := &core.Ledger{Store: s.db, Recent: core.NewRecentOrders(0), Connectors: func() []string { return []string{"crm"} }}
	s.svc, err = payments.New(payments.Options{Ledger: ledger, Store: s.db, Providers: []core.Provider{p}, Logger: testutil.Logger(t),
		ConfirmRetry: []time.Duration{}, LookupTimeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	handler.Store(s.svc.Webhooks())
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.svc.Run(ctx) }()
	// Last in, first out: the servers, then the service, then the database.
	t.Cleanup(func() { cancel(); <-done })
	t.Cleanup(func() { s.bank.Close(); bankSrv.Close(); s.srv.Close() })
	return s
}

// order creates an Ameriabank order of 10 AMD through the service.
func (s *shop) order() core.Order {
	s.t.Helper()
	id := "AM-" + string(rune('0'+s.seq.Add(1)))
	o, created, err := s.svc.CreateOrder(context.Background(), core.Order{ID: id, AmountMinor: 1000, Currency: "AMD", Provider: ameria.Name})
	if err != nil || !created {
		s.t.Fatalf("create %s: %v", id, err)
	}
	return o
}

func (s *shop) get(id string) core.Order {
	s.t.Helper()
	o, err := s.db.GetOrder(context.Background(), id)
	if err != nil {
		s.t.Fatal(err)
	}
	return o
}

func (s *shop) journal(id string) []core.JournalEntry {
	s.t.Helper()
	j, err := s.db.ListJournal(context.Background(), id)
	if err != nil {
		s.t.Fatal(err)
	}
	return j
}

func (s *shop) verdicts(id string) map[core.Verdict]int {
	out := map[core.Verdict]int{}
	for _, e := range s.journal(id) {
		out[e.Verdict]++
	}
	return out
}

func (s *shop) waitStatus(id string, st core.Status) core.Order {
	s.t.Helper()
	var o core.Order
	testutil.Eventually(s.t, id+" to be "+string(st), func() bool { o = s.get(id); return o.Status == st })
	return o
}

func (s *shop) reconcile() payments.ReconcileResult {
	s.t.Helper()
	res, err := s.svc.Reconcile(context.Background())
	if err != nil {
		s.t.Fatal(err)
	}
	return res
}

// TestPaidThroughReturn is issue 25's story: link, payment at the bank,
// the buyer's return, the lookup, paid; then refunds made in the bank's
// back office, found by reconcile.
func TestPaidThroughReturn(t *testing.T) {
	testdb.Each(t, func(t *testing.T, dialect string) {
		s := newShop(t, dialect, ameriasandbox.Options{})
		o := s.order()
		if !strings.Contains(o.PaymentURL, "/Payments/Pay?id="+o.ProviderRef+"&lang=en") || o.ProviderRef == "" {
			t.Fatalf("order without its link: %+v", o)
		}
		var linkEntry core.JournalEntry
		for _, e := range s.journal(o.ID) {
			if e.Verdict == core.VerdictLinkCreated {
				linkEntry = e
			}
		}
		if linkEntry.Reason != "payment link created; Ameriabank order number 2350301" || linkEntry.ProviderRef != o.ProviderRef {
			t.Fatalf("the link's journal entry: %+v", linkEntry)
		}
		if err := s.bank.Pay(o.ID); err != nil {
			t.Fatal(err)
		}
		if r := s.bank.Returns(); len(r) != 1 || r[0].Status != 200 || !strings.Contains(r[0].URL, "resposneCode=00") {
			t.Fatalf("the buyer's return: %+v", r)
		}
		paid := s.waitStatus(o.ID, core.StatusPaid)
		if paid.PaidAt == nil {
			t.Fatal("paid_at not set")
		}
		j := s.journal(o.ID)
		last := j[len(j)-1]
		if last.Verdict != core.VerdictAccepted || last.Source != core.SourceLookup || last.EventID != "lookup:ameria:"+o.ProviderRef+":paid" ||
			last.EventType != "payment_deposited" || !strings.Contains(string(last.Payload), `"CardNumber":"408306**3143"`) {
			t.Fatalf("the payment's entry: %+v %s", last, last.Payload)
		}

		// 4 of 10 AMD refunded at the bank, which tells nobody.
		if err := s.bank.Refund(o.ID, 400); err != nil {
			t.Fatal(err)
		}
		if res := s.reconcile(); res.Checked != 1 || res.Changed != 1 || res.Failed != 0 {
			t.Fatalf("reconcile after a partial refund: %+v", res)
		}
		if got := s.get(o.ID); got.Status != core.StatusPartiallyRefunded || got.RefundedMinor != 400 {
			t.Fatalf("after a partial refund: %s, %d refunded", got.Status, got.RefundedMinor)
		}
		// Nothing new at the bank: nothing new in the journal.
		before := len(s.journal(o.ID))
		if res := s.reconcile(); res.Changed != 0 || len(s.journal(o.ID)) != before {
			t.Fatalf("a reconcile with nothing new: %+v, journal %d -> %d", res, before, len(s.journal(o.ID)))
		}
		// The rest refunded.
		s.bank.Refund(o.ID, 0)
		s.reconcile()
		if got := s.get(o.ID); got.Status != core.StatusRefunded || got.RefundedMinor != 1000 {
			t.Fatalf("after the full refund: %s, %d refunded", got.Status, got.RefundedMinor)
		}
		if v := s.verdicts(o.ID); v[core.VerdictAccepted] != 3 || v[core.VerdictLookupFailed] != 0 {
			t.Fatalf("verdicts %v", v)
		}
	})
}

// TestForgedReturn: returns are not signed, so a return claiming success
// for an unpaid order only makes paysync ask; the bank says unpaid.
func TestForgedReturn(t *testing.T) {
	testdb.Each(t, func(t *testing.T, dialect string) {
		s := newShop(t, dialect, ameriasandbox.Options{})
		never := s.order()  // the page was never opened
		opened := s.order() // opened, not paid
		s.bank.Open(opened.ID)
		for _, o := range []core.Order{never, opened} {
			before := s.bank.Stats().Details
			if err := s.bank.ReturnForged(o.ID); err != nil {
				t.Fatal(err)
			}
			testutil.Eventually(t, "paysync to ask the bank about "+o.ID, func() bool { return s.bank.Stats().Details > before })
		}
		// An attacker's own request, with parameters of their choosing.
		resp, err := http.Get(s.srv.URL + "/webhooks/ameria/return?orderID=2350301&resposneCode=00&paymentID=" + strings.ToLower(never.ProviderRef) + "&opaque=" + never.ID)
		if err != nil {
			t.Fatal(err)
		}
		page, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.Contains(string(page), "being confirmed with the bank") {
			t.Fatalf("return page %d: %s", resp.StatusCode, page)
		}
		s.reconcile() // and a lookup that certainly finished
		for _, o := range []core.Order{never, opened} {
			got := s.get(o.ID)
			v := s.verdicts(o.ID)
			if got.Status != core.StatusPending || v[core.VerdictAccepted] != 0 || v[core.VerdictLookupFailed] != 0 {
				t.Fatalf("%s after a forged return: %s, verdicts %v", o.ID, got.Status, v)
			}
			for _, e := range s.journal(o.ID) {
				if e.StatusAfter == core.StatusPaid {
					t.Fatalf("%s journaled as paid: %+v", o.ID, e)
				}
			}
		}
		// The bank sends no webhooks; paysync takes none, whatever the method.
		for _, method := range []string{"POST", "GET"} {
			req, _ := http.NewRequest(method, s.srv.URL+"/webhooks/ameria", strings.NewReader(`{"OrderStatus":"2"}`))
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 404 || !strings.Contains(string(body), "Ameriabank vPOS sends no webhooks: its buyers return to /webhooks/ameria/return") {
				t.Fatalf("%s /webhooks/ameria: %d %s", method, resp.StatusCode, body)
			}
		}
		if got := s.get(never.ID); got.Status != core.StatusPending {
			t.Fatalf("a webhook moved the order to %s", got.Status)
		}
	})
}

// TestDeclinedThroughReturn: a declined card comes back with a failure
// code; the lookup says declined.
func TestDeclinedThroughReturn(t *testing.T) {
	testdb.Each(t, func(t *testing.T, dialect string) {
		s := newShop(t, dialect, ameriasandbox.Options{})
		o := s.order()
		if err := s.bank.Fail(o.ID); err != nil {
			t.Fatal(err)
		}
		s.waitStatus(o.ID, core.StatusFailed)
	})
}

// TestUnattemptedReconciled: pending orders nobody tried to pay make the
// bank fail its lookup (HTTP 500 or "550"); reconcile checks them every
// run without journaling a failure each time.
func TestUnattemptedReconciled(t *testing.T) {
	for _, answer := range []string{"500", "550"} {
		t.Run(answer, func(t *testing.T) {
			testdb.Each(t, func(t *testing.T, dialect string) {
				s := newShop(t, dialect, ameriasandbox.Options{NeverAttempted: answer})
				o := s.order()
				before := len(s.journal(o.ID))
				for range 3 {
					if res := s.reconcile(); res.Checked != 1 || res.Failed != 0 || res.Changed != 0 {
						t.Fatalf("reconcile: %+v", res)
					}
				}
				if n := len(s.journal(o.ID)); n != before {
					t.Fatalf("the journal grew from %d to %d entries: %v", before, n, s.verdicts(o.ID))
				}
			})
		})
	}
}

// TestBankDown: a lookup the bank does not answer is journaled as
// lookup_failed, the order is left as it is, and the next reconcile
// settles it.
func TestBankDown(t *testing.T) {
	testdb.Each(t, func(t *testing.T, dialect string) {
		s := newShop(t, dialect, ameriasandbox.Options{})
		o := s.order()
		s.bank.FailNext(1, http.StatusServiceUnavailable)
		s.bank.Pay(o.ID) // the return's lookup meets the outage
		testutil.Eventually(t, "lookup_failed to be journaled", func() bool { return s.verdicts(o.ID)[core.VerdictLookupFailed] == 1 })
		j := s.journal(o.ID)
		if failed := j[len(j)-1]; !strings.Contains(failed.Reason, "Ameriabank vPOS status lookup failed") || !strings.Contains(failed.Reason, "HTTP 503") {
			t.Fatalf("lookup_failed entry: %+v", failed)
		}
		if got := s.get(o.ID); got.Status != core.StatusPending {
			t.Fatalf("the order moved without an answer: %s", got.Status)
		}
		if res := s.reconcile(); res.Changed != 1 {
			t.Fatalf("reconcile: %+v", res)
		}
		if got := s.get(o.ID); got.Status != core.StatusPaid {
			t.Fatalf("after the bank came back: %s", got.Status)
		}
	})
}

// TestLinkRetry: the bank fails InitPayment; the order is kept without a
// link, and the same request again links it under the same number.
func TestLinkRetry(t *testing.T) {
	testdb.Each(t, func(t *testing.T, dialect string) {
		s := newShop(t, dialect, ameriasandbox.Options{})
		in := core.Order{ID: "LR-1", AmountMinor: 1000, Currency: "AMD", Provider: ameria.Name}
		s.bank.FailNext(1, http.StatusInternalServerError)
		_, _, err := s.svc.CreateOrder(context.Background(), in)
		if core.ErrorCode(err) != core.EUNAVAILABLE || !strings.Contains(core.ErrorMessage(err), "saved as pending") {
			t.Fatalf("create during a fault: %v", err)
		}
		o, _, err := s.svc.CreateOrder(context.Background(), in)
		if err != nil || o.PaymentURL == "" {
			t.Fatalf("retry: %+v %v", o, err)
		}
		if p, ok := s.bank.Payment("LR-1"); !ok || p.OrderID != ameriasandbox.DefaultOrderFrom || len(s.bank.Payments()) != 1 {
			t.Fatalf("the bank holds %+v", s.bank.Payments())
		}
		// Currencies the bank does not list are refused before anything is stored.
		if _, _, err := s.svc.CreateOrder(context.Background(), core.Order{ID: "LR-2", AmountMinor: 1000, Currency: "GEL", Provider: ameria.Name}); core.ErrorCode(err) != core.EINVALID {
			t.Fatalf("GEL: %v", err)
		}
		if _, err := s.db.GetOrder(context.Background(), "LR-2"); core.ErrorCode(err) != core.ENOTFOUND {
			t.Fatal("an order in GEL was stored")
		}
	})
}
