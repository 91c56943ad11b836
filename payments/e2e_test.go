package payments_test

import (
	"bytes"
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/paysync/paysync/core"
	"github.com/paysync/paysync/internal/testutil"
	"github.com/paysync/paysync/payments"
	arcasandbox "github.com/paysync/paysync/sandbox/arca"
	"github.com/paysync/paysync/storage/testdb"
)

// checkPaidOnce checks the order is paid, its journal holds exactly one
// transition to paid, and that transition enqueued one outbox record per
// connector.
func checkPaidOnce(t *testing.T, h *harness, id string) {
	t.Helper()
	o := h.waitStatus(id, core.StatusPaid)
	var toPaid []core.JournalEntry
	for _, e := range h.journal(id) {
		if e.StatusAfter == core.StatusPaid && e.StatusBefore != core.StatusPaid {
			toPaid = append(toPaid, e)
		}
	}
	if len(toPaid) != 1 {
		t.Fatalf("%d transitions to paid: %+v", len(toPaid), h.journal(id))
	}
	if toPaid[0].Verdict != core.VerdictAccepted {
		t.Fatalf("paid by a %s entry", toPaid[0].Verdict)
	}
	got := h.outboxAt(id, o.Version)
	for _, c := range connectors {
		if got[c] != 1 {
			t.Fatalf("outbox at version %d: %v, want one record per connector %v", o.Version, got, connectors)
		}
	}
	if len(got) != len(connectors) {
		t.Fatalf("outbox at version %d: %v", o.Version, got)
	}
	if o.PaidAt == nil {
		t.Fatal("paid_at not set")
	}
}

func TestEndToEndGeneric(t *testing.T) {
	testdb.Each(t, func(t *testing.T, dialect string) {
		h := newHarness(t, dialect, harnessOptions{})
		h.order("G-1", 1500000, "generic")
		a := h.sendGeneric(genericEvent{EventID: "evt_1", OrderID: "G-1", Status: "paid", AmountMinor: 1500000, Currency: "AMD", ProviderRef: "pi_1"})
		expect(t, a, 200, core.VerdictAccepted)
		checkPaidOnce(t, h, "G-1")
		j := h.journal("G-1")
		last := j[len(j)-1]
		if last.EventID != "evt_1" || last.Provider != "generic" || last.Source != core.SourceWebhook || last.ProviderRef != "pi_1" || !strings.Contains(string(last.Payload), `"evt_1"`) {
			t.Fatalf("journal entry %+v", last)
		}
	})
}

func TestEndToEndVPOS(t *testing.T) {
	testdb.Each(t, func(t *testing.T, dialect string) {
		h := newHarness(t, dialect, harnessOptions{})
		o := h.order("V-1", 1500000, "vpos")
		if !strings.HasPrefix(o.PaymentURL, h.vposSrv.URL+"/checkout/") || o.ProviderRef == "" {
			t.Fatalf("order without link: %+v", o)
		}
		if err := h.vpos.Pay("V-1"); err != nil {
			t.Fatal(err)
		}
		checkPaidOnce(t, h, "V-1")
		v := h.verdicts("V-1")
		// created, link, the webhook (unconfirmed until looked up), the lookup.
		if count(v, core.VerdictUnconfirmed) != 1 || count(v, core.VerdictLinkCreated) != 1 || count(v, core.VerdictAccepted) != 1 {
			t.Fatalf("verdicts %v", v)
		}
		// A partial refund, then the rest: each confirmed by lookup.
		h.vpos.Refund("V-1", 500000)
		testutil.Eventually(t, "partial refund", func() bool { return h.get("V-1").RefundedMinor == 500000 })
		if got := h.get("V-1").Status; got != core.StatusPartiallyRefunded {
			t.Fatalf("after a partial refund the order is %s", got)
		}
		h.vpos.Refund("V-1", 0)
		testutil.Eventually(t, "full refund", func() bool { return h.get("V-1").RefundedMinor == 1500000 })
		if h.get("V-1").Status != core.StatusRefunded {
			t.Fatal("not refunded")
		}
	})
}

func TestEndToEndArca(t *testing.T) {
	for _, method := range []string{"GET", "POST"} {
		t.Run(method, func(t *testing.T) {
			testdb.Each(t, func(t *testing.T, dialect string) {
				h := newHarness(t, dialect, harnessOptions{arca: arcasandbox.Options{CallbackMethod: method}})
				o := h.order("R-1", 1500000, "arca")
				if !strings.Contains(o.PaymentURL, "mdOrder="+o.ProviderRef) {
					t.Fatalf("order without link: %+v", o)
				}
				if err := h.arca.Pay("R-1"); err != nil {
					t.Fatal(err)
				}
				checkPaidOnce(t, h, "R-1")
				h.arca.Refund("R-1", 300000)
				testutil.Eventually(t, "refund", func() bool {
					o := h.get("R-1")
					return o.Status == core.StatusPartiallyRefunded && o.RefundedMinor == 300000
				})
				h.arca.Refund("R-1", 200000)
				testutil.Eventually(t, "second refund", func() bool { return h.get("R-1").RefundedMinor == 500000 })
				h.arca.Refund("R-1", 0)
				testutil.Eventually(t, "the rest refunded", func() bool {
					o := h.get("R-1")
					return o.Status == core.StatusRefunded && o.RefundedMinor == 1500000
				})
			})
		})
	}
}

// TestConcurrentIdenticalWebhooks sends ten identical webhooks at once: one
// transition, one set of outbox records, every answer 2xx.
func TestConcurrentIdenticalWebhooks(t *testing.T) {
	testdb.Each(t, func(t *testing.T, dialect string) {
		h := newHarness(t, dialect, harnessOptions{})
		h.order("C-1", 1500000, "")
		body := genericEvent{EventID: "evt_same", OrderID: "C-1", Status: "paid", AmountMinor: 1500000, Currency: "AMD"}.body()
		ts := time.Now()
		var wg sync.WaitGroup
		answers := make([]answer, 10)
		start := make(chan struct{})
		for i := range answers {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				<-start
				resp, err := h.client.Do(h.signedRequest(genericSecret, "evt_same", ts, body))
				if err != nil {
					t.Error(err)
					return
				}
				resp.Body.Close()
				answers[i] = answer{status: resp.StatusCode}
			}(i)
		}
		close(start)
		wg.Wait()
		for i, a := range answers {
			if a.status != 200 {
				t.Fatalf("answer %d: %d", i, a.status)
			}
		}
		checkPaidOnce(t, h, "C-1")
		v := h.verdicts("C-1")
		if count(v, core.VerdictDuplicate) != 9 {
			t.Fatalf("verdicts %v", v)
		}
	})
}

// TestDuplicateAndReorderedDeliveries uses the doubles' fault injection:
// duplicated VPOS.am webhooks, and ArCa callbacks delivered newest first.
func TestDuplicateAndReorderedDeliveries(t *testing.T) {
	testdb.Each(t, func(t *testing.T, dialect string) {
		h := newHarness(t, dialect, harnessOptions{})
		h.order("D-1", 1500000, "vpos")
		h.vpos.DuplicateWebhooks(1, 10)
		h.vpos.Pay("D-1")
		checkPaidOnce(t, h, "D-1")
		h.vpos.WaitWebhooks()

		// Paid then refunded at the bank, callbacks arriving refund first.
		h.order("D-2", 1500000, "arca")
		h.arca.HoldCallbacks()
		h.arca.Pay("D-2")
		h.arca.Refund("D-2", 0)
		h.arca.ReleaseCallbacks(true)
		o := h.waitStatus("D-2", core.StatusRefunded)
		if o.RefundedMinor != 1500000 || o.PaidAt == nil {
			t.Fatalf("order %+v", o)
		}
		h.arca.WaitCallbacks()
		// The late "deposited" callback must not move it back.
		testutil.Eventually(t, "both callbacks looked up", func() bool { return count(h.verdicts("D-2"), core.VerdictUnconfirmed) >= 2 })
		if got := h.get("D-2").Status; got != core.StatusRefunded {
			t.Fatalf("moved back to %s", got)
		}

		// The same with the generic provider: refund first, payment after.
		h.order("D-3", 1000, "")
		expect(t, h.sendGeneric(genericEvent{EventID: "r1", OrderID: "D-3", Status: "refunded", AmountMinor: 1000, RefundedMinor: 1000, Currency: "AMD"}), 200, core.VerdictAccepted)
		expect(t, h.sendGeneric(genericEvent{EventID: "p1", OrderID: "D-3", Status: "paid", AmountMinor: 1000, Currency: "AMD"}), 200, core.VerdictStale)
		if got := h.get("D-3"); got.Status != core.StatusRefunded || got.PaidAt == nil {
			t.Fatalf("generic out of order: %+v", got)
		}
	})
}

// TestReconcileMissingWebhook: the webhook never arrives; the scheduled
// reconcile finds the payment by status lookup.
func TestReconcileMissingWebhook(t *testing.T) {
	testdb.Each(t, func(t *testing.T, dialect string) {
		h := newHarness(t, dialect, harnessOptions{})
		ctx := context.Background()
		h.order("M-1", 1500000, "vpos")
		h.order("M-2", 250000, "arca")
		h.order("M-3", 100, "vpos") // stays unpaid
		h.vpos.DropWebhooks(1)
		h.arca.DropCallbacks(1)
		h.vpos.Pay("M-1")
		h.arca.Pay("M-2")
		h.vpos.WaitWebhooks()
		h.arca.WaitCallbacks()
		if h.get("M-1").Status != core.StatusPending || h.get("M-2").Status != core.StatusPending {
			t.Fatal("paid without a webhook?")
		}
		res, err := h.svc.Reconcile(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if res.Checked != 3 || res.Changed != 2 || res.Failed != 0 {
			t.Fatalf("reconcile %+v", res)
		}
		checkPaidOnce(t, h, "M-1")
		checkPaidOnce(t, h, "M-2")
		if e := h.journal("M-1"); e[len(e)-1].Source != core.SourceLookup || !strings.HasPrefix(e[len(e)-1].EventID, "lookup:vpos:") {
			t.Fatalf("last entry %+v", e[len(e)-1])
		}
		// Running again changes nothing and journals nothing new.
		before := len(h.journal("M-3"))
		res, _ = h.svc.Reconcile(ctx)
		if res.Changed != 0 || len(h.journal("M-3")) != before {
			t.Fatalf("second run %+v", res)
		}
	})
}

func TestLookupTimeoutRetriedByReconcile(t *testing.T) {
	testdb.Each(t, func(t *testing.T, dialect string) {
		h := newHarness(t, dialect, harnessOptions{lookupTimeout: 300 * time.Millisecond})
		ctx := context.Background()
		h.order("T-1", 1000, "vpos")
		h.vpos.HangNext(1) // the lookup the webhook triggers
		h.vpos.Pay("T-1")
		h.waitVerdict("T-1", core.VerdictLookupFailed, 1)
		if h.get("T-1").Status != core.StatusPending {
			t.Fatal("guessed a status without an answer")
		}
		if _, err := h.svc.Reconcile(ctx); err != nil {
			t.Fatal(err)
		}
		checkPaidOnce(t, h, "T-1")
	})
}

// TestReturnPageTriggersLookup: the buyer's return proves nothing, but it is
// when paysync asks the provider.
func TestReturnPageTriggersLookup(t *testing.T) {
	testdb.Each(t, func(t *testing.T, dialect string) {
		h := newHarness(t, dialect, harnessOptions{})
		h.order("B-1", 1000, "arca")
		h.arca.DropCallbacks(1)
		h.arca.Pay("B-1")
		h.arca.WaitCallbacks()
		resp, err := h.client.Get(h.srv.URL + "/webhooks/arca/return?order_id=B-1&orderId=whatever")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("return page %d", resp.StatusCode)
		}
		checkPaidOnce(t, h, "B-1")
	})
}

func TestCreateOrderLinks(t *testing.T) {
	testdb.Each(t, func(t *testing.T, dialect string) {
		h := newHarness(t, dialect, harnessOptions{})
		ctx := context.Background()
		in := core.Order{ID: "L-1", AmountMinor: 1000, Currency: "AMD", Provider: "vpos"}

		// The provider is down: the order is kept, pending, without a link.
		h.vpos.FailNext(1, 503)
		o, created, err := h.svc.CreateOrder(ctx, in)
		if core.ErrorCode(err) != core.EUNAVAILABLE || !created || !strings.Contains(core.ErrorMessage(err), "saved as pending") {
			t.Fatalf("create during outage: %v %v", created, err)
		}
		if got := h.get("L-1"); got.Status != core.StatusPending || got.PaymentURL != "" {
			t.Fatalf("order %+v", got)
		}
		// The same request again makes the link.
		o, created, err = h.svc.CreateOrder(ctx, in)
		if err != nil || created || o.PaymentURL == "" {
			t.Fatalf("retry: %+v %v %v", o, created, err)
		}
		// And again returns it without a second session.
		again, _, err := h.svc.CreateOrder(ctx, in)
		if err != nil || again.PaymentURL != o.PaymentURL || h.vpos.Stats().Created != 1 {
			t.Fatalf("repeat: %+v %v %+v", again, err, h.vpos.Stats())
		}
		// A different body under the same id is a conflict.
		in2 := in
		in2.AmountMinor = 2000
		if _, _, err := h.svc.CreateOrder(ctx, in2); core.ErrorCode(err) != core.ECONFLICT {
			t.Fatalf("conflict: %v", err)
		}
		// A provider that is not enabled is refused before anything is stored.
		if _, _, err := h.svc.CreateOrder(ctx, core.Order{ID: "L-2", AmountMinor: 1, Currency: "AMD", Provider: "stripe"}); core.ErrorCode(err) != core.EINVALID {
			t.Fatalf("unknown provider: %v", err)
		}
		if _, err := h.db.GetOrder(ctx, "L-2"); core.ErrorCode(err) != core.ENOTFOUND {
			t.Fatal("order stored for an unknown provider")
		}
		// Bad token: the message says what to fix.
		h.vpos.FailNext(1, 403)
		_, _, err = h.svc.CreateOrder(ctx, core.Order{ID: "L-3", AmountMinor: 1, Currency: "AMD", Provider: "vpos"})
		if !strings.Contains(core.ErrorMessage(err), "untrusted origin") {
			t.Fatalf("403: %v", err)
		}

		// ArCa already knows the order number (an earlier attempt's answer
		// was lost) and has meanwhile been paid: paysync attaches the
		// reference, says why there is no link, and settles it by lookup.
		arcaProv, _ := h.svc.Provider("arca")
		first, err := arcaProv.CreateLink(ctx, core.Order{ID: "L-4", AmountMinor: 1000, Currency: "AMD"})
		if err != nil {
			t.Fatal(err)
		}
		h.arca.DropCallbacks(1)
		h.arca.Pay("L-4")
		o, _, err = h.svc.CreateOrder(ctx, core.Order{ID: "L-4", AmountMinor: 1000, Currency: "AMD", Provider: "arca"})
		if core.ErrorCode(err) != core.EUNAVAILABLE || o.ProviderRef != first.ProviderRef {
			t.Fatalf("re-register: %+v %v", o, err)
		}
		checkPaidOnce(t, h, "L-4")
	})
}

// TestBadInput is the table of hostile and broken requests.
func TestBadInput(t *testing.T) {
	testdb.Each(t, func(t *testing.T, dialect string) {
		h := newHarness(t, dialect, harnessOptions{})
		h.order("X-1", 1000, "")
		good := genericEvent{EventID: "e1", OrderID: "X-1", Status: "paid", AmountMinor: 1000, Currency: "AMD"}.body()
		post := func(path, body string, hdr map[string]string) *http.Request {
			req, _ := http.NewRequest(http.MethodPost, h.srv.URL+path, strings.NewReader(body))
			for k, v := range hdr {
				req.Header.Set(k, v)
			}
			return req
		}
		cases := []struct {
			name    string
			req     *http.Request
			status  int
			journal core.Verdict
		}{
			{"forged signature", h.signedRequest("whsec_Zm9yZ2VkLWZvcmdlZC1mb3JnZWQtZm9yZ2Vk", "m1", time.Now(), good), 401, core.VerdictRejected},
			{"missing signature", h.signedRequest("", "", time.Now(), good), 401, core.VerdictRejected},
			{"old timestamp", h.signedRequest(genericSecret, "m2", time.Now().Add(-6*time.Minute), good), 401, core.VerdictRejected},
			{"future timestamp", h.signedRequest(genericSecret, "m3", time.Now().Add(6*time.Minute), good), 401, core.VerdictRejected},
			{"malformed JSON", h.signedRequest(genericSecret, "m4", time.Now(), []byte(`{"order_id":`)), 400, core.VerdictMalformed},
			{"negative amount", h.signedRequest(genericSecret, "m5", time.Now(), []byte(`{"order_id":"X-1","status":"paid","amount_minor":-1000,"currency":"AMD"}`)), 400, core.VerdictMalformed},
			{"overflowing amount", h.signedRequest(genericSecret, "m6", time.Now(), []byte(`{"order_id":"X-1","status":"paid","amount_minor":92233720368547758070,"currency":"AMD"}`)), 400, core.VerdictMalformed},
			{"unknown currency", h.signedRequest(genericSecret, "m7", time.Now(), []byte(`{"order_id":"X-1","status":"paid","amount_minor":1000,"currency":"XAU"}`)), 400, core.VerdictMalformed},
			{"too large", h.signedRequest(genericSecret, "m8", time.Now(), bytes.Repeat([]byte("a"), payments.MaxWebhookBytes+1)), 413, core.VerdictMalformed},
			{"vpos forged", post("/webhooks/vpos", `{"type":"payment.succeeded"}`, map[string]string{"webhook-id": "x", "webhook-timestamp": itoa(time.Now().Unix()), "webhook-signature": "v1,AAAA"}), 401, core.VerdictRejected},
			{"arca bad checksum", post("/webhooks/arca", "mdOrder=m&orderNumber=X-1&operation=deposited&status=1&checksum=00", map[string]string{"Content-Type": "application/x-www-form-urlencoded"}), 401, core.VerdictRejected},
			{"arca no checksum", post("/webhooks/arca", "mdOrder=m&orderNumber=X-1&operation=deposited&status=1", nil), 401, core.VerdictRejected},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				before := h.countVerdict(c.journal)
				a := h.do(c.req)
				if a.status != c.status {
					t.Fatalf("status %d, want %d: %s", a.status, c.status, a.body)
				}
				if !strings.Contains(a.body, `"error"`) {
					t.Fatalf("body %s", a.body)
				}
				if h.countVerdict(c.journal) != before+1 {
					t.Fatalf("not journaled as %s", c.journal)
				}
			})
		}
		if got := h.get("X-1"); got.Status != core.StatusPending {
			t.Fatalf("a bad request moved the order to %s", got.Status)
		}
		// Wrong methods and unknown providers.
		resp, _ := h.client.Get(h.srv.URL + "/webhooks/generic")
		resp.Body.Close()
		if resp.StatusCode != http.StatusMethodNotAllowed {
			t.Fatalf("GET generic: %d", resp.StatusCode)
		}

		// Customer fields with SQL and HTML are stored verbatim.
		nasty := core.Customer{Handle: "<script>alert(1)</script>", Name: "Robert'); DROP TABLE orders;--",
			Phone: "+374 91' OR '1'='1", Email: `"><img src=x onerror=alert(1)>@example.am`, ID: "17841400000000000"}
		o, _, err := h.svc.CreateOrder(context.Background(), core.Order{ID: "X-<b>2</b>", AmountMinor: 1000, Currency: "AMD", Customer: nasty,
			Items: []core.Item{{Name: "<i>scarf</i> 'wool'; --", Quantity: 1, PriceMinor: 1000}}})
		if err != nil {
			t.Fatal(err)
		}
		got := h.get(o.ID)
		if got.Customer != nasty || got.Items[0].Name != "<i>scarf</i> 'wool'; --" || got.ID != "X-<b>2</b>" {
			t.Fatalf("stored %+v", got)
		}
		expect(t, h.sendGeneric(genericEvent{EventID: "e9", OrderID: "X-<b>2</b>", Status: "paid", AmountMinor: 1000, Currency: "AMD"}), 200, core.VerdictAccepted)
		if _, err := h.db.GetOrder(context.Background(), "X-1"); err != nil {
			t.Fatal("orders table damaged")
		}
	})
}

func TestShutdownWithHungLookup(t *testing.T) {
	h := newHarness(t, "sqlite", harnessOptions{lookupTimeout: time.Minute})
	h.order("S-1", 1000, "vpos")
	h.vpos.HangNext(1)
	h.vpos.Pay("S-1")
	h.waitVerdict("S-1", core.VerdictUnconfirmed, 1)
	testutil.Eventually(t, "the lookup to hang", func() bool { return h.vpos.Stats().Injected == 1 })
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if err := h.svc.Shutdown(ctx); err == nil {
		t.Fatal("shutdown should report that it cancelled the hung lookup")
	}
	// The cancelled lookup is journaled; the next reconcile settles the order.
	h.waitVerdict("S-1", core.VerdictLookupFailed, 1)
	if h.get("S-1").Status != core.StatusPending {
		t.Fatal("status guessed")
	}
}
