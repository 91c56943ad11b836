package vpos_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/paysync/paysync/core"
	"github.com/paysync/paysync/internal/standardwebhooks"
	"github.com/paysync/paysync/payments/providertest"
	"github.com/paysync/paysync/providers/vpos"
	vpossandbox "github.com/paysync/paysync/sandbox/vpos"
)

// TestConformance runs the provider suite against the VPOS.am double:
// webhooks signed the Standard Webhooks way, confirmed by a status lookup.
func TestConformance(t *testing.T) {
	providertest.Run(t, &harness{})
}

type harness struct {
	env providertest.Env
	sb  *vpossandbox.Server
	srv *httptest.Server
	seq int
}

func (h *harness) Features() providertest.Features {
	return providertest.Features{Signed: true, Timestamps: true, ReportsCurrency: true, UnknownOrders: true}
}

func (h *harness) Provider(t *testing.T, env providertest.Env) core.Provider {
	h.env = env
	h.sb = vpossandbox.New(vpossandbox.Options{WebhookURL: env.PaysyncURL + "/webhooks/vpos", WebhookRetryDelay: 10 * time.Millisecond})
	h.srv = httptest.NewServer(h.sb)
	t.Cleanup(func() { h.sb.Close(); h.srv.Close() })
	p, err := vpos.New(vpos.Options{BaseURL: h.srv.URL, APIToken: vpossandbox.DefaultToken, WebhookSecret: vpossandbox.DefaultWebhookSecret,
		ReturnURL: env.PaysyncURL + "/webhooks/vpos/return?order_id={order_id}", Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func (h *harness) Pay(t *testing.T, o core.Order, amount int64, currency string, copies int) {
	if copies > 1 {
		h.sb.DuplicateWebhooks(1, copies)
	}
	if err := h.sb.PayWith(o.ID, amount, currency); err != nil {
		t.Fatal(err)
	}
	h.sb.WaitWebhooks()
}

func (h *harness) PayUnknown(t *testing.T, orderID string, amount int64, currency string) {
	// A session the merchant's other system made at VPOS.am.
	body, _ := json.Marshal(map[string]any{"merchantOrderId": orderID, "amountMinor": amount, "currency": currency})
	req, _ := http.NewRequest(http.MethodPost, h.srv.URL+"/v1/payment-sessions", bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+vpossandbox.DefaultToken)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("creating a session at the double: %d", resp.StatusCode)
	}
	h.Pay(t, core.Order{ID: orderID}, amount, currency, 1)
}

// event is a webhook body about o's session, as VPOS.am sends them.
func (h *harness) event(t *testing.T, o core.Order, extra string) (string, []byte) {
	ss, ok := h.sb.Session(o.ID)
	if !ok {
		t.Fatalf("the double has no session for %s", o.ID)
	}
	ss.Status = "paid"
	h.seq++
	id := "evt_conf_" + strconv.Itoa(h.seq)
	data, _ := json.Marshal(ss)
	body := []byte(`{"id":"` + id + `","type":"payment.succeeded","createdAt":"` + time.Now().UTC().Format(time.RFC3339) + `"` + extra + `,"data":` + string(data) + `}`)
	return id, body
}

func (h *harness) request(t *testing.T, key, id string, ts time.Time, body []byte) *http.Request {
	sig, err := standardwebhooks.Sign(key, id, ts.Unix(), body)
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodPost, h.env.PaysyncURL+"/webhooks/vpos", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("webhook-id", id)
	req.Header.Set("webhook-timestamp", strconv.FormatInt(ts.Unix(), 10))
	req.Header.Set("webhook-signature", sig)
	return req
}

func (h *harness) Forge(t *testing.T, o core.Order) *http.Request {
	id, body := h.event(t, o, "")
	return h.request(t, "whsec_Zm9yZ2VkLWJ5LXNvbWVib2R5LWVsc2UtMDEyMzQ1Njc=", id, time.Now(), body)
}

func (h *harness) Tamper(t *testing.T, o core.Order) *http.Request {
	id, body := h.event(t, o, "")
	req := h.request(t, vpossandbox.DefaultWebhookSecret, id, time.Now(), body)
	tampered := bytes.Replace(body, []byte(`"amountMinor":`+strconv.FormatInt(o.AmountMinor, 10)), []byte(`"amountMinor":1`), 1)
	if bytes.Equal(tampered, body) {
		t.Fatal("the event carries no amount to tamper with")
	}
	req.Body, req.ContentLength = readCloser{bytes.NewReader(tampered)}, int64(len(tampered))
	return req
}

func (h *harness) Replay(t *testing.T, o core.Order) *http.Request {
	id, body := h.event(t, o, "")
	return h.request(t, vpossandbox.DefaultWebhookSecret, id, time.Now().Add(-time.Hour), body)
}

func (h *harness) Claim(t *testing.T, o core.Order) {
	if err := h.sb.SendEvent(o.ID, "payment.succeeded"); err != nil {
		t.Fatal(err)
	}
	h.sb.WaitWebhooks()
}

func (h *harness) PayOddly(t *testing.T, o core.Order) []byte {
	// The double's own webhook is dropped; this one, signed with the same
	// secret, carries a raw invalid byte and an escaped NUL.
	h.sb.DropWebhooks(1)
	if err := h.sb.Pay(o.ID); err != nil {
		t.Fatal(err)
	}
	h.sb.WaitWebhooks()
	id, body := h.event(t, o, `,"description":"Ani `+"\xff\xfe"+` \u0000 ֏"`)
	resp, err := h.env.Client.Do(h.request(t, vpossandbox.DefaultWebhookSecret, id, time.Now(), body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "\xff") {
		t.Fatalf("the odd webhook was answered %d", resp.StatusCode)
	}
	return body
}

type readCloser struct{ *bytes.Reader }

func (readCloser) Close() error { return nil }
