package payments_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/paysync/paysync/core"
	"github.com/paysync/paysync/internal/testutil"
	"github.com/paysync/paysync/payments"
	arcasandbox "github.com/paysync/paysync/sandbox/arca"
	"github.com/paysync/paysync/storage/testdb"
)

// TestAnonymousTrafficCostsNothingAtTheBank is issue 22, item 5. With no
// callback key, every anonymous ArCa callback used to be journaled and
// looked up at the bank (5,000 callbacks: 7,503 journal rows and 5,244
// lookups), and every visit of the buyer's return page asked the bank too
// (20,000 visits: 2,306 lookups in 2.4 s). Now a callback for an order
// paysync did not register is refused and counted in refusal records; the
// others, and return visits, are coalesced per order (one lookup in flight,
// one per PromptInterval) and bounded per source; none is journaled. The
// bank's real callback still settles the order, and the return page says
// what paysync knows.
func TestAnonymousTrafficCostsNothingAtTheBank(t *testing.T) {
	testdb.Each(t, func(t *testing.T, dialect string) {
		t.Parallel()
		h := newHarness(t, dialect, harnessOptions{arca: arcasandbox.Options{CallbackKey: "-"}})
		h.order("AN-1", 1500000, "arca")
		handler := h.svc.Webhooks()
		base := h.arca.Stats().Lookups
		journal := len(h.journal("AN-1"))
		const requests, sources = 400, 40
		start := time.Now()
		var known, unknown, limited, visits int
		for i := 0; i < requests; i++ {
			src := fmt.Sprintf("192.0.%d.%d:5000", i%sources, 1+i%sources)
			order := "AN-1"
			if i%2 == 1 {
				order = fmt.Sprintf("NOPE-%d", i) // an order paysync never registered
			}
			cb := httptest.NewRequest(http.MethodGet, "/webhooks/arca?mdOrder=x&orderNumber="+order+"&operation=deposited&status=1", nil)
			cb.RemoteAddr = src
			rec := httptest.NewRecorder()
			handler.ServeHTTP(rec, cb)
			switch {
			case rec.Code == 200 && order == "AN-1":
				known++
			case rec.Code == 401 && order != "AN-1":
				unknown++
			case rec.Code == 429:
				limited++
			default:
				t.Fatalf("callback %d for %s: %d %s", i, order, rec.Code, rec.Body)
			}
			visit := httptest.NewRequest(http.MethodGet, "/webhooks/arca/return?order_id=AN-1", nil)
			visit.RemoteAddr = src
			rec = httptest.NewRecorder()
			handler.ServeHTTP(rec, visit)
			if rec.Code != 200 || !strings.Contains(rec.Body.String(), "AN-1") {
				t.Fatalf("return page: %d %s", rec.Code, rec.Body)
			}
			visits++
		}
		took := time.Since(start)
		if err := h.svc.WaitIdle(context.Background()); err != nil {
			t.Fatal(err)
		}
		lookups := h.arca.Stats().Lookups - base
		// One in flight at a time and one per PromptInterval: at most one
		// per interval the run took, plus the first and the deferred last.
		allowed := int(took/payments.DefaultPromptInterval) + 2
		t.Logf("%s: %d callbacks for the order (200), %d for unknown orders (401), %d limited (429), %d visits in %s: %d lookups at the bank",
			dialect, known, unknown, limited, visits, took.Round(time.Millisecond), lookups)
		if lookups > allowed || lookups == 0 {
			t.Fatalf("%d lookups at the bank for %d anonymous requests in %s; want between 1 and %d", lookups, 2*requests, took, allowed)
		}
		if got := len(h.journal("AN-1")); got != journal {
			t.Fatalf("anonymous requests journaled: %d entries, had %d: %v", got, journal, h.verdicts("AN-1"))
		}
		var anyJournal int
		if err := h.db.Writer().Get(&anyJournal, `SELECT COUNT(*) FROM journal WHERE order_id IS NULL OR order_id LIKE 'NOPE-%'`); err != nil || anyJournal != 0 {
			t.Fatalf("%d journal entries for unknown orders (%v)", anyJournal, err)
		}
		if err := h.svc.FlushRefusals(context.Background()); err != nil {
			t.Fatal(err)
		}
		rs, _ := h.db.ListRefusals(context.Background(), 100)
		var refused int64
		for _, r := range rs {
			refused += r.Requests
		}
		if refused != int64(unknown+limited) || len(rs) > 2*(core.MaxRefusalSources+1) {
			t.Fatalf("%d refusal records counting %d, want %d refused requests counted", len(rs), refused, unknown+limited)
		}

		// One source past its allowance of prompts is answered 429 and counted.
		var ok200, ok429 int
		for i := 0; i < 60; i++ {
			cb := httptest.NewRequest(http.MethodPost, "/webhooks/arca", strings.NewReader("mdOrder=x&orderNumber=AN-1&operation=deposited&status=1"))
			cb.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			cb.RemoteAddr = "198.51.100.7:5000"
			rec := httptest.NewRecorder()
			handler.ServeHTTP(rec, cb)
			switch rec.Code {
			case 200:
				ok200++
			case 429:
				ok429++
				if rec.Header().Get("Retry-After") == "" {
					t.Fatalf("429 without Retry-After: %s", rec.Body)
				}
			default:
				t.Fatalf("callback %d: %d %s", i, rec.Code, rec.Body)
			}
		}
		if ok200 < payments.DefaultPromptBurst || ok200 > payments.DefaultPromptBurst+3 || ok429 == 0 {
			t.Fatalf("one source: %d answered 200, %d answered 429; want its allowance of %d, then 429", ok200, ok429, payments.DefaultPromptBurst)
		}

		// The bank's real callback, unsigned as every other, still settles the order.
		if err := h.arca.Pay("AN-1"); err != nil {
			t.Fatal(err)
		}
		h.waitStatus("AN-1", core.StatusPaid)
		resp, err := h.client.Get(h.srv.URL + "/webhooks/arca/return?order_id=AN-1")
		if err != nil {
			t.Fatal(err)
		}
		page, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if !strings.Contains(string(page), "Payment received") || !strings.Contains(string(page), "is confirmed") {
			t.Fatalf("return page of a paid order: %s", page)
		}
		testutil.Eventually(t, "no lookup left", func() bool { return h.svc.WaitIdle(context.Background()) == nil })
	})
}
