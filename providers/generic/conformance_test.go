package generic_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/paysync/paysync/core"
	"github.com/paysync/paysync/internal/standardwebhooks"
	"github.com/paysync/paysync/payments/providertest"
	"github.com/paysync/paysync/providers/generic"
)

// TestConformance runs the provider suite: generic events are the shop's own
// backend's, signed the Standard Webhooks way, so the harness is the sender.
func TestConformance(t *testing.T) {
	providertest.Run(t, &harness{})
}

const secret = "whsec_cGF5c3luYy1jb25mb3JtYW5jZS1nZW5lcmljLTAx"

type harness struct {
	env providertest.Env
	seq int
}

func (h *harness) Features() providertest.Features {
	return providertest.Features{Signed: true, Timestamps: true, ReportsCurrency: true, UnknownOrders: true}
}

func (h *harness) Provider(t *testing.T, env providertest.Env) core.Provider {
	h.env = env
	p, err := generic.New(generic.Options{Secret: secret})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// body is a paid event for an order.
func (h *harness) body(orderID string, amount int64, currency string, extra map[string]any) (string, []byte) {
	h.seq++
	id := "evt_conf_" + strconv.Itoa(h.seq)
	ev := map[string]any{"event_id": id, "order_id": orderID, "status": "paid", "amount_minor": amount, "currency": currency,
		"provider_ref": "tr_" + id, "occurred_at": time.Now().UTC().Format(time.RFC3339)}
	for k, v := range extra {
		ev[k] = v
	}
	b, _ := json.Marshal(ev)
	return id, b
}

func (h *harness) request(t *testing.T, key, id string, ts time.Time, body []byte) *http.Request {
	sig, err := standardwebhooks.Sign(key, id, ts.Unix(), body)
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodPost, h.env.PaysyncURL+"/webhooks/generic", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("webhook-id", id)
	req.Header.Set("webhook-timestamp", strconv.FormatInt(ts.Unix(), 10))
	req.Header.Set("webhook-signature", sig)
	return req
}

func (h *harness) send(t *testing.T, req *http.Request) {
	resp, err := h.env.Client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("a genuine event was answered %d", resp.StatusCode)
	}
}

func (h *harness) Pay(t *testing.T, o core.Order, amount int64, currency string, copies int) {
	id, body := h.body(o.ID, amount, currency, nil)
	for range copies {
		h.send(t, h.request(t, secret, id, time.Now(), body))
	}
}

func (h *harness) PayUnknown(t *testing.T, orderID string, amount int64, currency string) {
	h.Pay(t, core.Order{ID: orderID}, amount, currency, 1)
}

func (h *harness) Forge(t *testing.T, o core.Order) *http.Request {
	id, body := h.body(o.ID, o.AmountMinor, o.Currency, nil)
	return h.request(t, "whsec_"+"Zm9yZ2VkLWJ5LXNvbWVib2R5LWVsc2UtMDEyMzQ1Njc=", id, time.Now(), body)
}

func (h *harness) Tamper(t *testing.T, o core.Order) *http.Request {
	id, body := h.body(o.ID, o.AmountMinor, o.Currency, nil)
	req := h.request(t, secret, id, time.Now(), body)
	tampered := bytes.Replace(body, []byte(strconv.FormatInt(o.AmountMinor, 10)), []byte(strconv.FormatInt(o.AmountMinor/10, 10)), 1)
	req.Body, req.ContentLength = nopCloser{bytes.NewReader(tampered)}, int64(len(tampered))
	return req
}

func (h *harness) Replay(t *testing.T, o core.Order) *http.Request {
	id, body := h.body(o.ID, o.AmountMinor, o.Currency, nil)
	return h.request(t, secret, id, time.Now().Add(-time.Hour), body)
}

func (h *harness) Claim(t *testing.T, o core.Order) {
	t.Fatal("generic events are not confirmed by lookup")
}

func (h *harness) PayOddly(t *testing.T, o core.Order) []byte {
	id, body := h.body(o.ID, o.AmountMinor, o.Currency, nil)
	// A raw invalid byte and an escaped NUL in a field paysync does not read.
	body = append(body[:len(body)-1], []byte(`,"note":"Ani `+"\xff\xfe"+` \u0000 ֏"}`)...)
	h.send(t, h.request(t, secret, id, time.Now(), body))
	return body
}

type nopCloser struct{ *bytes.Reader }

func (nopCloser) Close() error { return nil }
