package arca_test

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/paysync/paysync/core"
	"github.com/paysync/paysync/payments/providertest"
	"github.com/paysync/paysync/providers/arca"
	arcasandbox "github.com/paysync/paysync/sandbox/arca"
)

// TestConformance runs the provider suite against the ArCa double:
// callbacks signed with an HMAC checksum, every one confirmed by a lookup.
func TestConformance(t *testing.T) {
	providertest.Run(t, &harness{})
}

type harness struct {
	env providertest.Env
	g   *arcasandbox.Gateway
	srv *httptest.Server
}

func (h *harness) Features() providertest.Features {
	// Callbacks carry no time: a replay is a duplicate of the same operation.
	return providertest.Features{Signed: true, ReportsCurrency: true, UnknownOrders: true}
}

func (h *harness) Provider(t *testing.T, env providertest.Env) core.Provider {
	h.env = env
	h.g = arcasandbox.New(arcasandbox.Options{CallbackURL: env.PaysyncURL + "/webhooks/arca", CallbackMethod: http.MethodPost,
		CallbackRetryDelay: 10 * time.Millisecond})
	h.srv = httptest.NewServer(h.g)
	t.Cleanup(func() { h.g.Close(); h.srv.Close() })
	p, err := arca.New(arca.Options{BaseURL: h.srv.URL + arcasandbox.RESTPath, Username: arcasandbox.DefaultUsername,
		Password: arcasandbox.DefaultPassword, CallbackKey: arcasandbox.DefaultCallbackKey,
		ReturnURL: env.PaysyncURL + "/webhooks/arca/return?order_id={order_id}", Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func (h *harness) Pay(t *testing.T, o core.Order, amount int64, currency string, copies int) {
	if copies > 1 {
		h.g.DuplicateCallbacks(1, copies)
	}
	if err := h.g.PayWith(o.ID, amount, currency); err != nil {
		t.Fatal(err)
	}
	h.g.WaitCallbacks()
}

func (h *harness) PayUnknown(t *testing.T, orderID string, amount int64, currency string) {
	// An order the merchant's other system registered at the gateway.
	f := url.Values{"userName": {arcasandbox.DefaultUsername}, "password": {arcasandbox.DefaultPassword}, "orderNumber": {orderID},
		"amount": {strconv.FormatInt(amount, 10)}, "returnUrl": {"https://shop.example/back"}}
	resp, err := http.PostForm(h.srv.URL+arcasandbox.RESTPath+"/register.do", f)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	h.Pay(t, core.Order{ID: orderID}, amount, currency, 1)
}

// PayAtBank is a payment registered and paid outside paysync, of which no
// callback comes (providertest.BankPayer).
func (h *harness) PayAtBank(t *testing.T, orderID string, amount int64, currency string) {
	if _, err := h.g.PayAtBank(orderID, amount, currency); err != nil {
		t.Fatal(err)
	}
}

// callback is a "deposited" callback about o, signed with key.
func (h *harness) callback(t *testing.T, o core.Order, key string, extra url.Values) url.Values {
	ao, ok := h.g.Order(o.ID)
	if !ok {
		t.Fatalf("the gateway has no order %s", o.ID)
	}
	p := url.Values{"mdOrder": {ao.MdOrder}, "orderNumber": {o.ID}, "operation": {"deposited"}, "status": {"1"},
		"amount": {strconv.FormatInt(o.AmountMinor, 10)}}
	for k, v := range extra {
		p[k] = v
	}
	p.Set("checksum", arcasandbox.Checksum(p, key))
	p.Set("sign_alias", "SHA-256")
	return p
}

func (h *harness) post(body string) *http.Request {
	req, _ := http.NewRequest(http.MethodPost, h.env.PaysyncURL+"/webhooks/arca", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return req
}

func (h *harness) Forge(t *testing.T, o core.Order) *http.Request {
	return h.post(h.callback(t, o, "somebody-else's-key", nil).Encode())
}

func (h *harness) Tamper(t *testing.T, o core.Order) *http.Request {
	p := h.callback(t, o, arcasandbox.DefaultCallbackKey, nil)
	p.Set("amount", "1")
	return h.post(p.Encode())
}

func (h *harness) Replay(t *testing.T, o core.Order) *http.Request {
	t.Fatal("ArCa callbacks carry no time")
	return nil
}

func (h *harness) Claim(t *testing.T, o core.Order) {
	if err := h.g.SendCallback(o.ID, "deposited", "1"); err != nil {
		t.Fatal(err)
	}
	h.g.WaitCallbacks()
}

func (h *harness) PayOddly(t *testing.T, o core.Order) []byte {
	// The gateway's own callback is dropped; this one, signed with the
	// same key, carries an invalid byte and a NUL in an extra parameter.
	h.g.DropCallbacks(1)
	if err := h.g.Pay(o.ID); err != nil {
		t.Fatal(err)
	}
	h.g.WaitCallbacks()
	body := h.callback(t, o, arcasandbox.DefaultCallbackKey, url.Values{"description": {"Ani \xff\xfe \x00 ֏"}}).Encode()
	resp, err := h.env.Client.Do(h.post(body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("the odd callback was answered %d", resp.StatusCode)
	}
	return []byte(body)
}
