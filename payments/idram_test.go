package payments_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/paysync/paysync/core"
	"github.com/paysync/paysync/internal/testutil"
	"github.com/paysync/paysync/providers/idram"
	idramdouble "github.com/paysync/paysync/sandbox/idram"
	"github.com/paysync/paysync/storage/testdb"
)

// idramHarness is the harness with the Idram adapter, pointed at an Idram
// double that calls the service's /webhooks/idram and opens its /pay pages.
func idramHarness(t *testing.T, dialect string) (*harness, *idramdouble.Double) {
	t.Helper()
	var d *idramdouble.Double
	h := newHarness(t, dialect, harnessOptions{extra: func(h *harness) []core.Provider {
		srv := httptest.NewUnstartedServer(nil)
		d = idramdouble.New(idramdouble.Options{PublicURL: "http://" + srv.Listener.Addr().String(),
			ResultURL: h.srv.URL + "/webhooks/idram", PaysyncURL: h.srv.URL, Logger: testutil.Logger(t)})
		srv.Config.Handler = d
		srv.Start()
		t.Cleanup(func() { d.Close(); srv.Close() })
		p, err := idram.New(idram.Options{Account: d.Account(), SecretKey: d.SecretKey(), PaymentURL: d.PaymentURL(),
			PublicURL: h.srv.URL, Store: h.db, Logger: testutil.Logger(t)})
		if err != nil {
			t.Fatal(err)
		}
		return []core.Provider{p}
	}})
	return h, d
}

// payPage is GET /pay/{id} as a buyer's browser gets it.
func (h *harness) payPage(id string) (int, string) {
	h.t.Helper()
	resp, err := h.client.Get(h.srv.URL + "/pay/" + url.PathEscape(id))
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// refusedWith reports whether a refusal record of Idram's has verdict v
// and a reason saying says.
func (h *harness) refusedWith(v core.Verdict, says string) bool {
	h.t.Helper()
	rs, err := h.db.ListRefusals(context.Background(), 100)
	if err != nil {
		h.t.Fatal(err)
	}
	for _, r := range rs {
		if r.Provider == "idram" && r.Verdict == v && (strings.Contains(r.Reason, says) || strings.Contains(r.LastReason, says)) {
			return true
		}
	}
	return false
}

// checkAnswered checks that a transaction's latest answer was HTTP 200 and
// whether its body was OK, and the state the double settled it in.
func checkAnswered(t *testing.T, tx idramdouble.Transaction, ok bool, state string) {
	t.Helper()
	if len(tx.Answers) == 0 {
		t.Fatalf("transaction %s was never answered: %+v", tx.TransID, tx)
	}
	a := tx.Answers[len(tx.Answers)-1]
	if a.Status != http.StatusOK || a.OK() != ok || !ok && !strings.HasPrefix(a.Body, "REFUSED: ") || tx.State != state {
		t.Fatalf("transaction %s: answered %s, settled %s; want 200, OK=%v, %s", tx.TransID, a, tx.State, ok, state)
	}
}

// TestEndToEndIdram: an Idram order from its link to paid, and every
// confirmation that must not be taken: a second payment, a forgery, another
// amount. Redelivery of the paying confirmation is answered OK again.
func TestEndToEndIdram(t *testing.T) {
	testdb.Each(t, func(t *testing.T, dialect string) {
		h, d := idramHarness(t, dialect)
		o := h.order("I-1", 190000, "idram")
		if o.PaymentURL != h.srv.URL+"/pay/I-1" || o.ProviderRef != "" {
			t.Fatalf("link: %+v", o)
		}
		if st, page := h.payPage("I-1"); st != 200 || !strings.Contains(page, `action="`+d.PaymentURL()+`"`) || !strings.Contains(page, `name="EDP_AMOUNT" value="1900.00"`) {
			t.Fatalf("pay page: %d\n%s", st, page)
		}

		// The buyer opens the link (the precheck), then pays (the confirmation).
		b, err := d.Open("I-1")
		if err != nil || !b.Precheck.OK() {
			t.Fatalf("open: %+v %v", b, err)
		}
		if v := h.verdicts("I-1"); len(v) != 2 {
			t.Fatalf("a precheck was journaled: %v", v)
		}
		tx, err := d.PayBill("I-1")
		if err != nil {
			t.Fatal(err)
		}
		checkAnswered(t, tx, true, idramdouble.TxPaid)
		checkPaidOnce(t, h, "I-1")
		paid := h.get("I-1")
		if paid.ProviderRef != tx.TransID {
			t.Fatalf("provider_ref %q, want the transaction %s", paid.ProviderRef, tx.TransID)
		}
		j := h.journal("I-1")
		last := j[len(j)-1]
		if last.EventID != tx.TransID || last.Provider != "idram" || last.Verdict != core.VerdictAccepted || last.EventType != "confirmation" ||
			!strings.Contains(string(last.Payload), "EDP_CHECKSUM="+tx.Checksum) {
			t.Fatalf("journal entry %+v", last)
		}
		if st, page := h.payPage("I-1"); st != 200 || !strings.Contains(page, "Already paid, thank you") || strings.Contains(page, "<form") {
			t.Fatalf("pay page after payment: %d\n%s", st, page)
		}

		// Idram delivers the same confirmation again: OK, a duplicate.
		again, err := d.Redeliver(tx.TransID)
		if err != nil {
			t.Fatal(err)
		}
		checkAnswered(t, again, true, idramdouble.TxPaid)
		if n := count(h.verdicts("I-1"), core.VerdictDuplicate); n != 1 {
			t.Fatalf("redelivery: %d duplicates in %v", n, h.verdicts("I-1"))
		}

		// A second payment (a new EDP_TRANS_ID) of the paid order is declined:
		// Idram cancels it and the buyer is not charged twice.
		second, err := d.Confirm("I-1", idramdouble.Forge{})
		if err != nil {
			t.Fatal(err)
		}
		checkAnswered(t, second, false, idramdouble.TxCancelled)
		if n := count(h.verdicts("I-1"), core.VerdictDeclined); n != 1 {
			t.Fatalf("second payment: %v", h.verdicts("I-1"))
		}
		if now := h.get("I-1"); now.Version != paid.Version || now.Status != core.StatusPaid || now.ProviderRef != tx.TransID {
			t.Fatalf("the declined payment moved the order: %+v", now)
		}
		checkPaidOnce(t, h, "I-1")

		// The buyer tries to pay the paid order again: Idram's precheck is refused.
		form := url.Values{"EDP_LANGUAGE": {"EN"}, "EDP_REC_ACCOUNT": {d.Account()}, "EDP_DESCRIPTION": {"Order I-1"}, "EDP_AMOUNT": {"1900.00"}, "EDP_BILL_NO": {"I-1"}}
		if b, err := d.Submit(form); err != nil || b.State != idramdouble.BillBlocked || b.Precheck.Status != 200 || !strings.Contains(b.Precheck.Body, "is paid, not awaiting payment") {
			t.Fatalf("precheck of a paid order: %+v %v", b, err)
		}
		if _, err := d.Open("I-1"); err == nil || !strings.Contains(err.Error(), "Already paid") {
			t.Fatalf("the paid order's page offers a form: %v", err)
		}

		// A forged confirmation (wrong key) is refused, counted, and changes nothing.
		h.order("I-2", 250000, "idram")
		if _, err := d.Open("I-2"); err != nil {
			t.Fatal(err)
		}
		forged, err := d.PayWithBadChecksum("I-2")
		if err != nil {
			t.Fatal(err)
		}
		checkAnswered(t, forged, false, idramdouble.TxCancelled)
		if got := h.get("I-2"); got.Status != core.StatusPending {
			t.Fatalf("forged confirmation moved I-2 to %s", got.Status)
		}
		if !h.refusedWith(core.VerdictRejected, "EDP_CHECKSUM for order I-2 does not match") {
			t.Fatal("the forged confirmation left no refusal record")
		}
		// The real payment still goes through.
		real, err := d.PayBill("I-2")
		if err != nil {
			t.Fatal(err)
		}
		checkAnswered(t, real, true, idramdouble.TxPaid)
		checkPaidOnce(t, h, "I-2")

		// A confirmation of another amount is never taken as paid.
		h.order("I-3", 190000, "idram")
		if _, err := d.Open("I-3"); err != nil {
			t.Fatal(err)
		}
		short, err := d.PayOtherAmount("I-3", "1800.00")
		if err != nil {
			t.Fatal(err)
		}
		checkAnswered(t, short, false, idramdouble.TxCancelled)
		if got := h.get("I-3"); got.Status != core.StatusPending || count(h.verdicts("I-3"), core.VerdictAccepted) != 0 {
			t.Fatalf("another amount: %s, %v", got.Status, h.verdicts("I-3"))
		}
		if !h.refusedWith(core.VerdictRejected, "says 1800.00 AMD, but order I-3 costs 1900.00 AMD") {
			t.Fatal("the short confirmation left no refusal record")
		}

		// A confirmation for an order paysync never had.
		ghost, err := d.Confirm("GHOST-1", idramdouble.Forge{AmountMinor: 100000})
		if err != nil {
			t.Fatal(err)
		}
		checkAnswered(t, ghost, false, idramdouble.TxCancelled)
		if _, err := h.db.GetOrder(context.Background(), "GHOST-1"); core.ErrorCode(err) != core.ENOTFOUND {
			t.Fatalf("an orphan was made of a cancelled payment: %v", err)
		}
	})
}

// TestIdramPrecheck: the precheck says OK only for a pending Idram order,
// unexpired, at its exact amount; the page agrees.
func TestIdramPrecheck(t *testing.T) {
	testdb.Each(t, func(t *testing.T, dialect string) {
		h, d := idramHarness(t, dialect)
		submit := func(id, amount string) idramdouble.Bill {
			t.Helper()
			b, err := d.Submit(url.Values{"EDP_LANGUAGE": {"AM"}, "EDP_REC_ACCOUNT": {d.Account()}, "EDP_DESCRIPTION": {"Order " + id},
				"EDP_AMOUNT": {amount}, "EDP_BILL_NO": {id}})
			if err != nil {
				t.Fatal(err)
			}
			return b
		}
		blocked := func(b idramdouble.Bill, says string) {
			t.Helper()
			if b.State != idramdouble.BillBlocked || b.Precheck.Status != 200 || !strings.HasPrefix(b.Precheck.Body, "REFUSED: ") || !strings.Contains(b.Precheck.Body, says) {
				t.Fatalf("bill %s: %s, precheck %s; want blocked by a 200 saying %q", b.BillNo, b.State, b.Precheck, says)
			}
		}
		h.order("P-1", 190000, "idram")
		if b := submit("P-1", "1900"); b.State != idramdouble.BillOpen {
			t.Fatalf("the right amount, written 1900: %+v", b)
		}
		blocked(submit("P-1", "1800.00"), "costs 1900.00 AMD, not 1800.00 AMD")
		blocked(submit("P-1", "1900.01"), "not 1900.01 AMD")
		blocked(submit("NOPE", "1900.00"), "not known")
		h.order("V-9", 190000, "vpos")
		blocked(submit("V-9", "1900.00"), "to be paid with vpos, not idram")

		// Past expires_at, before and after the scheduler expired it.
		past := time.Now().Add(-time.Minute).Truncate(time.Microsecond)
		for _, id := range []string{"P-2", "P-3"} {
			if _, _, err := h.svc.CreateOrder(context.Background(), core.Order{ID: id, AmountMinor: 190000, Currency: "AMD", Provider: "idram", ExpiresAt: &past}); err != nil {
				t.Fatal(err)
			}
		}
		if o, err := h.ledger.Expire(context.Background(), "P-3"); err != nil || o.Status != core.StatusExpired {
			t.Fatalf("expire P-3: %+v %v", o, err)
		}
		for _, id := range []string{"P-2", "P-3"} {
			blocked(submit(id, "1900.00"), "")
			if st, page := h.payPage(id); st != http.StatusGone || !strings.Contains(page, "This payment link has expired") {
				t.Fatalf("pay page of %s: %d\n%s", id, st, page)
			}
		}
		blocked(submit("P-2", "1900.00"), "expired at")
		blocked(submit("P-3", "1900.00"), "is expired, not awaiting payment")
		if st, _ := h.payPage("NOPE"); st != http.StatusNotFound {
			t.Fatalf("pay page of an unknown order: %d", st)
		}
		if st, _ := h.payPage("V-9"); st != http.StatusNotFound {
			t.Fatalf("pay page of a VPOS.am order: %d", st)
		}
		// Nothing of the prechecks is journaled.
		for _, id := range []string{"P-1", "P-2"} {
			if v := h.verdicts(id); len(v) > 2 {
				t.Fatalf("%s: %v", id, v)
			}
		}
	})
}

// TestIdramDatabaseDown: a confirmation paysync cannot check or record is
// answered 200 without OK, so that Idram cancels it rather than take money
// paysync knows nothing of.
func TestIdramDatabaseDown(t *testing.T) {
	testdb.Each(t, func(t *testing.T, dialect string) {
		h, d := idramHarness(t, dialect)
		h.order("D-1", 190000, "idram")
		if _, err := d.Open("D-1"); err != nil {
			t.Fatal(err)
		}
		h.db.Close()
		tx, err := d.PayBill("D-1")
		if err != nil {
			t.Fatal(err)
		}
		checkAnswered(t, tx, false, idramdouble.TxCancelled)
		if body := tx.Answers[0].Body; !strings.Contains(body, "could not be read") {
			t.Fatalf("answer %q does not say why", body)
		}
	})
}
