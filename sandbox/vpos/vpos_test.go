package vpos_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/paysync/paysync/internal/standardwebhooks"
	vpossandbox "github.com/paysync/paysync/sandbox/vpos"
)

type received struct {
	mu   sync.Mutex
	reqs []*http.Request
	body [][]byte
}

func setup(t *testing.T) (*vpossandbox.Server, *httptest.Server, *received) {
	t.Helper()
	rec := &received{}
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		rec.mu.Lock()
		rec.reqs = append(rec.reqs, r)
		rec.body = append(rec.body, b)
		rec.mu.Unlock()
	}))
	t.Cleanup(hook.Close)
	sb := vpossandbox.New(vpossandbox.Options{WebhookURL: hook.URL, WebhookRetryDelay: time.Millisecond})
	srv := httptest.NewServer(sb)
	t.Cleanup(func() { sb.Close(); srv.Close() })
	return sb, srv, rec
}

func call(t *testing.T, method, url, token, key, body string) (int, map[string]any, http.Header) {
	t.Helper()
	req, _ := http.NewRequest(method, url, strings.NewReader(body))
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if key != "" {
		req.Header.Set("Idempotency-Key", key)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	json.NewDecoder(resp.Body).Decode(&m)
	return resp.StatusCode, m, resp.Header
}

const session = `{"merchantOrderId":"A-1","amountMinor":1500000,"currency":"AMD","returnUrl":"https://shop/r","metadata":{}}`

func TestSessionsAndWebhooks(t *testing.T) {
	sb, srv, rec := setup(t)
	tok := vpossandbox.DefaultToken
	if code, _, _ := call(t, "POST", srv.URL+"/v1/payment-sessions", "wrong", "", session); code != 401 {
		t.Fatalf("bad token: %d", code)
	}
	code, s1, _ := call(t, "POST", srv.URL+"/v1/payment-sessions", tok, "order-A-1-pay-attempt-1", session)
	if code != 201 || s1["status"] != "pending" || !strings.HasPrefix(s1["checkoutUrl"].(string), srv.URL+"/checkout/") {
		t.Fatalf("create: %d %v", code, s1)
	}
	code, s2, h := call(t, "POST", srv.URL+"/v1/payment-sessions", tok, "order-A-1-pay-attempt-1", session)
	if code != 201 || s2["id"] != s1["id"] || h.Get("Idempotent-Replayed") != "true" {
		t.Fatalf("replay: %d %v", code, s2)
	}
	if code, _, _ := call(t, "POST", srv.URL+"/v1/payment-sessions", tok, "order-A-1-pay-attempt-1", strings.Replace(session, "1500000", "1", 1)); code != 422 {
		t.Fatalf("key reuse: %d", code)
	}
	resp, _ := http.Get(s1["checkoutUrl"].(string))
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(page), "A-1") {
		t.Fatal("checkout page")
	}
	if code, _, _ := call(t, "POST", srv.URL+"/_sandbox/orders/A-1/pay", "", "", ""); code != 200 {
		t.Fatalf("pay: %d", code)
	}
	code, got, _ := call(t, "GET", srv.URL+"/v1/payment-sessions/"+s1["id"].(string), tok, "", "")
	if code != 200 || got["status"] != "paid" {
		t.Fatalf("lookup: %d %v", code, got)
	}
	if code, _, _ := call(t, "POST", srv.URL+"/_sandbox/orders/A-1/refund?amount=500000", "", "", ""); code != 200 {
		t.Fatal("refund")
	}
	if s, _ := sb.Session("A-1"); s.Status != vpossandbox.StatusPartiallyRefunded || s.RefundedAmountMinor != 500000 {
		t.Fatalf("after partial refund %+v", s)
	}
	sb.WaitWebhooks()
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if len(rec.reqs) != 2 {
		t.Fatalf("%d webhooks", len(rec.reqs))
	}
	for i, r := range rec.reqs {
		if _, err := standardwebhooks.Verify([]string{vpossandbox.DefaultWebhookSecret}, r.Header.Get("webhook-id"),
			r.Header.Get("webhook-timestamp"), r.Header.Get("webhook-signature"), rec.body[i], time.Now()); err != nil {
			t.Fatalf("webhook %d does not verify: %v", i, err)
		}
	}
}

func TestFaults(t *testing.T) {
	sb, srv, rec := setup(t)
	tok := vpossandbox.DefaultToken
	call(t, "POST", srv.URL+"/_sandbox/faults", "", "", `{"fail_next":1,"status":429}`)
	code, _, h := call(t, "POST", srv.URL+"/v1/payment-sessions", tok, "", session)
	if code != 429 || h.Get("Retry-After") != "1" {
		t.Fatalf("429: %d", code)
	}
	sb.FailNext(1, 403)
	if code, _, _ := call(t, "POST", srv.URL+"/v1/payment-sessions", tok, "", session); code != 403 {
		t.Fatalf("403: %d", code)
	}
	if code, _, _ := call(t, "POST", srv.URL+"/v1/payment-sessions", tok, "", session); code != 201 {
		t.Fatalf("after faults: %d", code)
	}
	call(t, "POST", srv.URL+"/_sandbox/faults", "", "", `{"drop_webhooks":1,"duplicate_webhooks":1,"copies":3}`)
	sb.Pay("A-1") // dropped
	sb.Expire("A-1")
	if err := sb.Fail("A-1"); err == nil {
		t.Fatal("paid session failed")
	}
	sb.WaitWebhooks()
	ds := sb.Deliveries()
	dropped := 0
	for _, d := range ds {
		if d.Dropped {
			dropped++
		}
	}
	if dropped != 1 {
		t.Fatalf("deliveries %+v", ds)
	}
	rec.mu.Lock()
	n := len(rec.reqs)
	rec.mu.Unlock()
	if n != 0 {
		// Pay was dropped; Expire refused (the session was paid): nothing sent.
		t.Fatalf("%d webhooks", n)
	}
	sb.Refund("A-1", 0) // duplicated three times
	sb.WaitWebhooks()
	rec.mu.Lock()
	n = len(rec.reqs)
	ids := map[string]bool{}
	for _, r := range rec.reqs {
		ids[r.Header.Get("webhook-id")] = true
	}
	rec.mu.Unlock()
	if n != 3 || len(ids) != 1 {
		t.Fatalf("%d deliveries of %d ids", n, len(ids))
	}
	// Held and released newest first.
	call(t, "POST", srv.URL+"/v1/payment-sessions", tok, "k2", strings.Replace(session, "A-1", "A-2", 1))
	sb.HoldWebhooks()
	sb.Pay("A-2")
	sb.Refund("A-2", 0)
	sb.ReleaseWebhooks(true)
	sb.WaitWebhooks()
	rec.mu.Lock()
	defer rec.mu.Unlock()
	var types []string
	for _, b := range rec.body[3:] {
		var ev struct{ Type string }
		json.Unmarshal(b, &ev)
		types = append(types, ev.Type)
	}
	if strings.Join(types, ",") != "payment.refunded,payment.succeeded" {
		t.Fatalf("order %v", types)
	}
}
