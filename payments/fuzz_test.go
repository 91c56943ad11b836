package payments_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/paysync/paysync/core"
	"github.com/paysync/paysync/internal/standardwebhooks"
	"github.com/paysync/paysync/payments"
	vpossandbox "github.com/paysync/paysync/sandbox/vpos"
	"github.com/paysync/paysync/storage/testdb"
)

// FuzzWebhookIngest feeds arbitrary bytes, correctly signed, as generic and
// VPOS.am webhook bodies through the webhook handler, on SQLite and on
// PostgreSQL. Every verified request is either recorded (2xx, and the
// journal grows) or refused with a 4xx whose message says why (and the
// refusal is counted); never a 5xx, which would make the sender retry the
// same bytes for ever. Named seeds are in testdata/fuzz/FuzzWebhookIngest.
//
//	go test -run '^$' -fuzz FuzzWebhookIngest -fuzztime 5m ./payments/
func FuzzWebhookIngest(f *testing.F) {
	f.Add([]byte(`{"event_id":"e1","order_id":"FZ-1","status":"paid","amount_minor":1000,"currency":"AMD","provider_ref":"pi_1"}`))
	f.Add([]byte(`{"type":"payment.succeeded","data":{"merchantOrderId":"FZ-1","amountMinor":1000,"currency":"AMD","id":"sess_1"}}`))
	type target struct {
		h       *harness
		handler http.Handler
	}
	var targets []target
	for _, dialect := range testdb.Dialects {
		h := newHarness(f, dialect, harnessOptions{vposConfirmOff: true, svc: func(o *payments.Options) {
			o.FailingBurst = 1 << 30 // every refusal is recorded at once, none throttled
			// Not the test logger: it would log through f inside the fuzz target.
			o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
		}})
		for _, id := range []string{"FZ-1", "FZ-2"} {
			h.order(id, 1000, "")
		}
		targets = append(targets, target{h, h.svc.Webhooks()})
	}
	var seq int
	f.Fuzz(func(t *testing.T, body []byte) {
		for _, tg := range targets {
			for _, provider := range []string{"generic", "vpos"} {
				seq++
				msgID := fmt.Sprintf("fz-%d", seq)
				journal, refused := fuzzCounts(t, tg.h, provider)
				rec := httptest.NewRecorder()
				tg.handler.ServeHTTP(rec, signedFor(t, provider, msgID, body))
				status := rec.Code
				var answer struct {
					Error struct{ Code, Message string } `json:"error"`
				}
				json.Unmarshal(rec.Body.Bytes(), &answer)
				j, r := fuzzCounts(t, tg.h, provider)
				switch {
				case status >= 200 && status < 300:
					if j <= journal {
						t.Fatalf("%s %s: answered %d but nothing was journaled (body %q)", tg.h.db.Dialect(), provider, status, body)
					}
				case status >= 400 && status < 500:
					if answer.Error.Message == "" || answer.Error.Code == core.EINTERNAL {
						t.Fatalf("%s %s: %d without a reason: %s", tg.h.db.Dialect(), provider, status, rec.Body.Bytes())
					}
					if r <= refused {
						t.Fatalf("%s %s: refused with %d (%s) but the refusal was not recorded", tg.h.db.Dialect(), provider, status, answer.Error.Message)
					}
				default:
					t.Fatalf("%s %s: answered %d for a signed body: %s (body %q)", tg.h.db.Dialect(), provider, status, rec.Body.Bytes(), body)
				}
			}
		}
	})
}

// signedFor signs body as the provider's sender does.
func signedFor(t *testing.T, provider, msgID string, body []byte) *http.Request {
	secret := genericSecret
	if provider == "vpos" {
		secret = vpossandbox.DefaultWebhookSecret
	}
	ts := time.Now().Unix()
	sig, err := standardwebhooks.Sign(secret, msgID, ts, body)
	if err != nil {
		t.Fatal(err)
	}
	req := httptest.NewRequest(http.MethodPost, "/webhooks/"+provider, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("webhook-id", msgID)
	req.Header.Set("webhook-timestamp", strconv.FormatInt(ts, 10))
	req.Header.Set("webhook-signature", sig)
	return req
}

// fuzzCounts returns the latest journal entry's id (nothing else writes
// while the fuzzer runs: no lookups, no scheduler) and the provider's
// refused requests, both cheap however long the fuzzer has run.
func fuzzCounts(t *testing.T, h *harness, provider string) (journal, refused int64) {
	w := h.db.Writer()
	if err := w.Get(&journal, `SELECT COALESCE(MAX(id), 0) FROM journal`); err != nil {
		t.Fatal(err)
	}
	if err := w.Get(&refused, w.Rebind(`SELECT COALESCE(SUM(requests), 0) FROM refusals WHERE provider = ?`), provider); err != nil {
		t.Fatal(err)
	}
	return journal, refused
}
