package payments_test

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/paysync/paysync/core"
	"github.com/paysync/paysync/internal/standardwebhooks"
	vpossandbox "github.com/paysync/paysync/sandbox/vpos"
	"github.com/paysync/paysync/storage/testdb"
)

// TestVerdicts drives one request or decision per journal verdict, through
// the real HTTP handler and database, and checks what the journal says and
// where the order ends up.
func TestVerdicts(t *testing.T) {
	ctx := context.Background()
	cases := []struct {
		verdict core.Verdict
		// run returns the order to inspect ("" when the entry has no order)
		// and the status it must end in.
		run func(t *testing.T, h *harness) (string, core.Status)
	}{
		{core.VerdictCreated, func(t *testing.T, h *harness) (string, core.Status) {
			h.order("O-1", 1000, "")
			return "O-1", core.StatusPending
		}},
		{core.VerdictAccepted, func(t *testing.T, h *harness) (string, core.Status) {
			h.order("O-1", 1000, "")
			a := h.sendGeneric(genericEvent{EventID: "e1", OrderID: "O-1", Status: "paid", AmountMinor: 1000, Currency: "AMD"})
			expect(t, a, 200, core.VerdictAccepted)
			return "O-1", core.StatusPaid
		}},
		{core.VerdictDuplicate, func(t *testing.T, h *harness) (string, core.Status) {
			h.order("O-1", 1000, "")
			ev := genericEvent{EventID: "e1", OrderID: "O-1", Status: "paid", AmountMinor: 1000, Currency: "AMD"}
			expect(t, h.sendGeneric(ev), 200, core.VerdictAccepted)
			expect(t, h.sendGeneric(ev), 200, core.VerdictDuplicate)
			return "O-1", core.StatusPaid
		}},
		{core.VerdictStale, func(t *testing.T, h *harness) (string, core.Status) {
			h.order("O-1", 1000, "")
			expect(t, h.sendGeneric(genericEvent{EventID: "e1", OrderID: "O-1", Status: "paid", AmountMinor: 1000, Currency: "AMD"}), 200, core.VerdictAccepted)
			// An earlier failed attempt delivered late must not undo the payment.
			expect(t, h.sendGeneric(genericEvent{EventID: "e0", OrderID: "O-1", Status: "failed", OccurredAt: time.Now().Add(-time.Hour).Format(time.RFC3339)}), 200, core.VerdictStale)
			return "O-1", core.StatusPaid
		}},
		{core.VerdictIgnored, func(t *testing.T, h *harness) (string, core.Status) {
			h.order("O-1", 1000, "")
			expect(t, h.sendGeneric(genericEvent{EventID: "e1", OrderID: "O-1", Status: "charge.dispute.created", AmountMinor: 1000, Currency: "AMD"}), 200, core.VerdictIgnored)
			return "O-1", core.StatusPending
		}},
		{core.VerdictRejected, func(t *testing.T, h *harness) (string, core.Status) {
			h.order("O-1", 1000, "")
			body := genericEvent{EventID: "e1", OrderID: "O-1", Status: "paid", AmountMinor: 1000, Currency: "AMD"}.body()
			a := h.do(h.signedRequest("whsec_Zm9yZ2VkLWZvcmdlZC1mb3JnZWQtZm9yZ2Vk", "e1", time.Now(), body))
			expect(t, a, 401, "")
			if h.countVerdict(core.VerdictRejected) != 1 {
				t.Fatal("rejected request not journaled")
			}
			// The forged event id is not burned: the real event still applies.
			expect(t, h.sendGeneric(genericEvent{EventID: "e1", OrderID: "O-1", Status: "paid", AmountMinor: 1000, Currency: "AMD"}), 200, core.VerdictAccepted)
			return "", core.StatusPaid
		}},
		{core.VerdictMalformed, func(t *testing.T, h *harness) (string, core.Status) {
			a := h.do(h.signedRequest(genericSecret, "m1", time.Now(), []byte(`{"order_id":"O-1","status":"paid","amount_minor":"lots"`)))
			expect(t, a, 400, "")
			if h.countVerdict(core.VerdictMalformed) != 1 {
				t.Fatal("malformed request not journaled")
			}
			return "", ""
		}},
		{core.VerdictAmountMismatch, func(t *testing.T, h *harness) (string, core.Status) {
			h.order("O-1", 1000, "")
			expect(t, h.sendGeneric(genericEvent{EventID: "e1", OrderID: "O-1", Status: "paid", AmountMinor: 999, Currency: "AMD"}), 200, core.VerdictAmountMismatch)
			return "O-1", core.StatusManualReview
		}},
		{core.VerdictOrphan, func(t *testing.T, h *harness) (string, core.Status) {
			expect(t, h.sendGeneric(genericEvent{EventID: "e1", OrderID: "NOBODY-1", Status: "paid", AmountMinor: 5000, Currency: "AMD"}), 200, core.VerdictOrphan)
			if o := h.get("NOBODY-1"); !o.Orphan || o.AmountMinor != 5000 {
				t.Fatalf("orphan order %+v", o)
			}
			return "NOBODY-1", core.StatusManualReview
		}},
		{core.VerdictRefused, func(t *testing.T, h *harness) (string, core.Status) {
			// A failed attempt after the payment (not older: in its very
			// second) does not undo it.
			now := time.Now().UTC().Truncate(time.Second)
			h.order("O-1", 1000, "")
			expect(t, h.sendGeneric(genericEvent{EventID: "e1", OrderID: "O-1", Status: "paid", AmountMinor: 1000, Currency: "AMD", OccurredAt: now.Format(time.RFC3339)}), 200, core.VerdictAccepted)
			expect(t, h.sendGeneric(genericEvent{EventID: "e2", OrderID: "O-1", Status: "failed", OccurredAt: now.Format(time.RFC3339)}), 200, core.VerdictRefused)
			return "O-1", core.StatusPaid
		}},
		{core.VerdictManual, func(t *testing.T, h *harness) (string, core.Status) {
			h.order("O-1", 1000, "")
			h.sendGeneric(genericEvent{EventID: "e1", OrderID: "O-1", Status: "paid", AmountMinor: 900, Currency: "AMD"})
			if _, err := h.svc.Review(ctx, "O-1", core.StatusPaid, "customer paid 900 in cash top-up", "op"); err != nil {
				t.Fatal(err)
			}
			return "O-1", core.StatusPaid
		}},
		{core.VerdictLookupFailed, func(t *testing.T, h *harness) (string, core.Status) {
			h.order("V-1", 1000, "vpos")
			h.vpos.FailNext(1, 503)
			res, err := h.svc.Reconcile(ctx)
			if err != nil || res.Failed != 1 {
				t.Fatalf("reconcile %+v %v", res, err)
			}
			return "V-1", core.StatusPending
		}},
		{core.VerdictExpired, func(t *testing.T, h *harness) (string, core.Status) {
			past := time.Now().Add(-time.Minute).UTC()
			if _, _, err := h.svc.CreateOrder(ctx, core.Order{ID: "O-1", AmountMinor: 1000, Currency: "AMD", ExpiresAt: &past}); err != nil {
				t.Fatal(err)
			}
			future := time.Now().Add(time.Hour).UTC()
			h.svc.CreateOrder(ctx, core.Order{ID: "O-2", AmountMinor: 1000, Currency: "AMD", ExpiresAt: &future})
			n, err := h.svc.ExpireDue(ctx)
			if err != nil || n != 1 {
				t.Fatalf("expired %d, %v", n, err)
			}
			if h.get("O-2").Status != core.StatusPending {
				t.Fatal("future expiry expired")
			}
			return "O-1", core.StatusExpired
		}},
		{core.VerdictNeedsReview, func(t *testing.T, h *harness) (string, core.Status) {
			past := time.Now().Add(-time.Minute).UTC()
			h.svc.CreateOrder(ctx, core.Order{ID: "O-1", AmountMinor: 1000, Currency: "AMD", ExpiresAt: &past})
			h.svc.ExpireDue(ctx)
			expect(t, h.sendGeneric(genericEvent{EventID: "e1", OrderID: "O-1", Status: "paid", AmountMinor: 1000, Currency: "AMD"}), 200, core.VerdictNeedsReview)
			return "O-1", core.StatusManualReview
		}},
		{core.VerdictUnconfirmed, func(t *testing.T, h *harness) (string, core.Status) {
			o := h.order("V-1", 1000, "vpos")
			// A correctly signed VPOS.am webhook that claims a payment the
			// status lookup does not show: journaled, never applied.
			body := []byte(`{"id":"evt_x","type":"payment.succeeded","data":{"id":"` + o.ProviderRef + `","merchantOrderId":"V-1","amountMinor":1000,"currency":"AMD","status":"paid"}}`)
			req, _ := http.NewRequest(http.MethodPost, h.srv.URL+"/webhooks/vpos", strings.NewReader(string(body)))
			sig, _ := standardwebhooks.Sign(vpossandbox.DefaultWebhookSecret, "evt_x", time.Now().Unix(), body)
			req.Header.Set("webhook-id", "evt_x")
			req.Header.Set("webhook-timestamp", itoa(time.Now().Unix()))
			req.Header.Set("webhook-signature", sig)
			expect(t, h.do(req), 200, core.VerdictUnconfirmed)
			h.waitVerdict("V-1", core.VerdictUnconfirmed, 2) // on receipt, and after the lookup
			j := h.journal("V-1")
			if last := j[len(j)-1]; !strings.Contains(last.Reason, "status lookup says pending; the order was not moved") {
				t.Fatalf("reason %q", last.Reason)
			}
			return "V-1", core.StatusPending
		}},
	}
	testdb.Each(t, func(t *testing.T, dialect string) {
		for _, c := range cases {
			t.Run(string(c.verdict), func(t *testing.T) {
				h := newHarness(t, dialect, harnessOptions{})
				id, want := c.run(t, h)
				if c.verdict == core.VerdictRejected || c.verdict == core.VerdictMalformed {
					if h.countVerdict(c.verdict) == 0 {
						t.Fatalf("no %s entry", c.verdict)
					}
					return
				}
				if got := h.verdicts(id); count(got, c.verdict) == 0 {
					t.Fatalf("journal of %s has no %s entry: %v", id, c.verdict, got)
				}
				if got := h.get(id).Status; got != want {
					t.Fatalf("order %s is %s, want %s", id, got, want)
				}
			})
		}
	})
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// expect checks an answer's status and, when given, its one verdict.
func expect(t *testing.T, a answer, status int, v core.Verdict) {
	t.Helper()
	if a.status != status {
		t.Fatalf("status %d, want %d: %s", a.status, status, a.body)
	}
	if v != "" && (len(a.verdicts) != 1 || a.verdicts[0] != v) {
		t.Fatalf("verdicts %v, want [%s]: %s", a.verdicts, v, a.body)
	}
}
