package payments_test

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/paysync/paysync/core"
	"github.com/paysync/paysync/internal/standardwebhooks"
	arcasandbox "github.com/paysync/paysync/sandbox/arca"
	vpossandbox "github.com/paysync/paysync/sandbox/vpos"
	"github.com/paysync/paysync/storage/testdb"
)

// cutThrough pads the JSON prefix so that byte n of the body falls inside a
// two-byte character of text: the old 16 KiB journal cut there.
func cutThrough(prefix string, n int, text string) string {
	if len(prefix)%2 != (n+1)%2 {
		prefix += " "
	}
	var b strings.Builder
	b.WriteString(prefix)
	for b.Len() < n+2*len(text) {
		b.WriteString(text)
	}
	return b.String()
}

// anyBytesBodies are signed event bodies that PostgreSQL's text columns
// refused before: a cut through an Armenian or Russian character, invalid
// UTF-8 and \u0000 in JSON strings. Each must be recorded, with its bytes.
func anyBytesBodies(event func(id, ref, extra string) string) map[string]string {
	return map[string]string{
		"armenian cut": cutThrough(event("armenian", "pi_hy", `"note":"`), 16<<10, "Հայաստան") + `"}`,
		"russian cut":  cutThrough(event("russian", "плат-1", `"note":"`), 16<<10, "Москва") + `"}`,
		"invalid utf8": event("invalid", "pi_\xff\xfe\xd5", "\"note\":\"caf\xe9 \xd0\"}"),
		"nul escaped":  event("nul", `pi_\u0000x`, `"note":"a\u0000b"}`),
	}
}

// TestAnyBytesRecorded: signed generic, VPOS.am and ArCa events are
// recorded whatever their bytes, the same on both databases, with the bytes
// kept exactly; text columns get cleaned text. Refused requests are recorded
// with their bytes too, whatever they are.
func TestAnyBytesRecorded(t *testing.T) {
	testdb.Each(t, func(t *testing.T, dialect string) {
		t.Parallel()
		h := newHarness(t, dialect, harnessOptions{vposConfirmOff: true})
		t.Run("generic", func(t *testing.T) {
			for name, body := range anyBytesBodies(func(id, ref, extra string) string {
				h.order("G-"+id, 1000, "")
				return `{"event_id":"g-` + id + `","order_id":"G-` + id + `","status":"paid","amount_minor":1000,"currency":"AMD","provider_ref":"` + ref + `",` + extra
			}) {
				a := h.do(h.signedRequest(genericSecret, h.id("msg"), time.Now(), []byte(body)))
				expect(t, a, 200, core.VerdictAccepted)
				checkRecorded(t, h, "G-"+strings.Fields(name)[0], body)
			}
		})
		t.Run("vpos", func(t *testing.T) {
			for name, body := range anyBytesBodies(func(id, ref, extra string) string {
				h.order("V-"+id, 1000, "")
				return `{"type":"payment.succeeded","data":{"merchantOrderId":"V-` + id + `","amountMinor":1000,"currency":"AMD","id":"` + ref + `"},` + extra
			}) {
				a := h.do(h.vposRequest(h.id("vmsg"), []byte(body)))
				expect(t, a, 200, core.VerdictAccepted)
				checkRecorded(t, h, "V-"+strings.Fields(name)[0], body)
			}
		})
		t.Run("arca", func(t *testing.T) {
			h.order("A-1", 1000, "")
			params := url.Values{"mdOrder": {"md-1"}, "orderNumber": {"A-1"}, "operation": {"deposited"}, "status": {"1"}, "amount": {"1000"},
				"description": {strings.Repeat("Հ", 20) + "\xd5"}, "note": {"a\x00b\xff"}}
			params.Set("checksum", arcasandbox.Checksum(params, h.arca.CallbackKey()))
			a := h.do(h.form("/webhooks/arca", params.Encode()))
			expect(t, a, 200, core.VerdictUnconfirmed)
			var last core.JournalEntry
			for _, e := range h.journal("A-1") {
				if e.Verdict == core.VerdictUnconfirmed && e.EventID != "" {
					last = e
				}
			}
			got, err := url.ParseQuery(string(last.Payload))
			if err != nil || got.Get("note") != "a\x00b\xff" || got.Get("description") != params.Get("description") {
				t.Fatalf("ArCa callback kept as %q (%v)", last.Payload, err)
			}
		})
		t.Run("refused", func(t *testing.T) {
			bodies := map[string]string{"generic": "{\"order_id\":\"\xff\x00\"}\x00\xd5", "vpos": "\x00\xff{\"type\":\"Հ\xd5\"}",
				"arca": "mdOrder=%00&orderNumber=%FF&operation=\xd5&status=1&checksum=00"}
			for provider, body := range bodies {
				a := h.do(h.form("/webhooks/"+provider, body))
				if a.status != http.StatusUnauthorized {
					t.Fatalf("%s: %d %s", provider, a.status, a.body)
				}
				if got := h.lastRefused(provider); string(got.Payload) != body || got.PayloadSize != int64(len(body)) || got.Verdict != core.VerdictRejected {
					t.Fatalf("%s: refused request recorded as %q (%d bytes, %s), want %q", provider, got.Payload, got.PayloadSize, got.Verdict, body)
				}
			}
			// Not JSON at all, but signed: refused as malformed, bytes kept.
			body := "{\"order_id\":\"G-raw\",\"status\":\"paid\x00\"}"
			a := h.do(h.signedRequest(genericSecret, h.id("msg"), time.Now(), []byte(body)))
			if a.status != http.StatusBadRequest || !strings.Contains(a.body, "not a generic payment event") {
				t.Fatalf("raw NUL: %d %s", a.status, a.body)
			}
			if got := h.lastRefused("generic"); string(got.Payload) != body || got.Verdict != core.VerdictMalformed {
				t.Fatalf("raw NUL body recorded as %q (%s)", got.Payload, got.Verdict)
			}
		})
	})
}

// checkRecorded checks that the order is paid and its last journal entry
// holds the body byte for byte, with its size, and clean text fields.
func checkRecorded(t *testing.T, h *harness, id, body string) {
	t.Helper()
	o := h.get(id)
	if o.Status != core.StatusPaid || !core.IsText(o.ProviderRef) {
		t.Fatalf("%s: order %s, provider_ref %q", id, o.Status, o.ProviderRef)
	}
	j := h.journal(id)
	last := j[len(j)-1]
	if last.Verdict != core.VerdictAccepted || string(last.Payload) != body || last.PayloadSize != int64(len(body)) {
		t.Fatalf("%s: journal kept %d of %d bytes (equal: %v), verdict %s", id, len(last.Payload), len(body), string(last.Payload) == body, last.Verdict)
	}
	for _, f := range []string{last.ProviderRef, last.EventType, last.Reason, last.EventID} {
		if !core.IsText(f) {
			t.Fatalf("%s: journal text field %q is not clean text", id, f)
		}
	}
}

// vposRequest signs body as VPOS.am signs webhooks.
func (h *harness) vposRequest(msgID string, body []byte) *http.Request {
	h.t.Helper()
	ts := time.Now().Unix()
	sig, err := standardwebhooks.Sign(vpossandbox.DefaultWebhookSecret, msgID, ts, body)
	if err != nil {
		h.t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodPost, h.srv.URL+"/webhooks/vpos", strings.NewReader(string(body)))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("webhook-id", msgID)
	req.Header.Set("webhook-timestamp", strconv.FormatInt(ts, 10))
	req.Header.Set("webhook-signature", sig)
	return req
}

// form posts a body (form-encoded or anything) to a webhook path, unsigned.
func (h *harness) form(path, body string) *http.Request {
	req, _ := http.NewRequest(http.MethodPost, h.srv.URL+path, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return req
}

// lastRefused is the latest refusal record of a provider, with its sample
// (the first refused request of its window) as a journal-like entry.
func (h *harness) lastRefused(provider string) core.JournalEntry {
	h.t.Helper()
	rs, err := h.db.ListRefusals(context.Background(), 100)
	if err != nil {
		h.t.Fatal(err)
	}
	for _, r := range rs {
		if r.Provider == provider {
			return core.JournalEntry{Verdict: r.Verdict, Payload: r.Sample, PayloadSize: r.SampleSize, Reason: r.Reason}
		}
	}
	h.t.Fatalf("no refusal recorded for %s", provider)
	return core.JournalEntry{}
}
