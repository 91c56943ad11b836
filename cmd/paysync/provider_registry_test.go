package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/paysync/paysync/core"
	"github.com/paysync/paysync/internal/setting"
	"github.com/paysync/paysync/providers"
)

// testPaySettings is the config section of a provider that exists only in
// this test: PAYSYNC_TESTPAY_KEY turns it on.
type testPaySettings struct {
	Key      setting.Secret `yaml:"key" env:"PAYSYNC_TESTPAY_KEY, overwrite"`
	Checkout string         `yaml:"checkout_url" env:"PAYSYNC_TESTPAY_CHECKOUT_URL, overwrite"`
}

func (s *testPaySettings) Enabled() bool { return s.Key != "" }

func (s *testPaySettings) Validate(bad func(key, reason string)) {
	if s.Checkout != "" && !strings.HasPrefix(s.Checkout, "https://") {
		bad("checkout_url", "the testpay checkout must be an https URL")
	}
}

// testPay is a provider made up for this test: its links point at its own
// checkout, and it signs a webhook with a header holding its key.
type testPay struct {
	key, checkout, public string
}

func (p *testPay) Name() string { return "testpay" }
func (p *testPay) Capabilities() core.Capabilities {
	return core.Capabilities{Title: "TestPay", CreatesLinks: true}
}

func (p *testPay) Verify(_ context.Context, req core.InboundRequest) ([]core.PaymentEvent, error) {
	if req.Header.Get("X-TestPay-Key") != p.key {
		return nil, core.Errorf(core.EUNAUTHORIZED, "TestPay key does not match")
	}
	var b struct {
		ID, Order, Status string
		Amount            int64
	}
	if err := json.Unmarshal(req.Body, &b); err != nil {
		return nil, core.Errorf(core.EINVALID, "not a TestPay event: %v", err)
	}
	return []core.PaymentEvent{{EventID: b.ID, OrderID: b.Order, Status: core.Status(b.Status), AmountMinor: b.Amount, Currency: "AMD",
		Type: "testpay." + b.Status, Verified: true, Payload: req.Body}}, nil
}

func (p *testPay) Lookup(context.Context, core.Order) (core.PaymentEvent, error) {
	return core.PaymentEvent{}, core.Errorf(core.EINVALID, "TestPay cannot look payments up")
}

func (p *testPay) CreateLink(_ context.Context, o core.Order) (core.PaymentLink, error) {
	return core.PaymentLink{URL: p.checkout + "/" + url.PathEscape(o.ID) + "?back=" + url.QueryEscape(p.public+"/webhooks/testpay/return?order_id="+o.ID),
		ProviderRef: "tp-" + o.ID}, nil
}

// TestRegisteredProviderIsServed: a payment provider registered from
// outside the release (here, this test) is configured from its own section
// and environment, checked by config check, creates links and has its
// webhooks routed and applied by serve, with no other file knowing its name.
func TestRegisteredProviderIsServed(t *testing.T) {
	var got providers.Deps
	providers.Register(providers.Spec{
		Name:     "testpay",
		Title:    "TestPay",
		Settings: func() providers.Settings { return &testPaySettings{Checkout: "https://pay.example/testpay"} },
		New: func(_ context.Context, d providers.Deps) (core.Provider, error) {
			got = d
			s := d.Settings.(*testPaySettings)
			return &testPay{key: string(s.Key), checkout: s.Checkout, public: d.PublicURL}, nil
		},
		Enable: "PAYSYNC_TESTPAY_KEY",
	})
	t.Cleanup(func() { providers.Unregister("testpay") })

	// config check knows its settings and reports their problems as the
	// variable they came from.
	var out, errOut strings.Builder
	t.Setenv("PAYSYNC_TESTPAY_KEY", "tp-secret-1")
	t.Setenv("PAYSYNC_TESTPAY_CHECKOUT_URL", "http://insecure.example")
	if code := run(context.Background(), []string{"config", "check"}, &out, &errOut); code != 2 ||
		!strings.Contains(errOut.String(), "PAYSYNC_TESTPAY_CHECKOUT_URL: the testpay checkout must be an https URL") {
		t.Fatalf("config check: exit %d, %s%s", code, out.String(), errOut.String())
	}
	if strings.Contains(errOut.String(), "tp-secret-1") {
		t.Fatal("config check printed the provider's key")
	}

	e := startE2E(t, "sqlite", map[string]string{
		"PAYSYNC_TESTPAY_KEY":          "tp-secret-1",
		"PAYSYNC_TESTPAY_CHECKOUT_URL": "https://pay.example/tp",
		"PAYSYNC_PUBLIC_URL":           "https://shop.example",
	})
	if s, ok := got.Settings.(*testPaySettings); !ok || s.Checkout != "https://pay.example/tp" || got.PublicURL != "https://shop.example" || got.Store == nil {
		t.Fatalf("the provider was built with %+v", got)
	}
	code, body := e.api("POST", "/v1/orders", map[string]any{"order_id": "TP-1", "amount_minor": 250000, "currency": "AMD", "provider": "testpay"})
	if code != 201 || body["payment_url"] != "https://pay.example/tp/TP-1?back=https%3A%2F%2Fshop.example%2Fwebhooks%2Ftestpay%2Freturn%3Forder_id%3DTP-1" {
		t.Fatalf("create: %d %v", code, body)
	}
	post := func(key, payload string) int {
		req, _ := http.NewRequest("POST", e.base+"/webhooks/testpay", strings.NewReader(payload))
		req.Header.Set("X-TestPay-Key", key)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	paid := `{"ID":"tp-evt-1","Order":"TP-1","Status":"paid","Amount":250000}`
	if c := post("wrong", paid); c != 401 {
		t.Fatalf("a forged TestPay webhook was answered %d", c)
	}
	if c := post("tp-secret-1", paid); c != 200 {
		t.Fatalf("the TestPay webhook was answered %d", c)
	}
	_, view := e.api("GET", "/v1/orders/TP-1", nil)
	if o, _ := view["order"].(map[string]any); o["status"] != "paid" {
		t.Fatalf("TP-1 after its webhook: %v", view["order"])
	}
	// A provider nobody registered has no webhook.
	if c, _ := e.api("GET", "/webhooks/nosuch", nil); c != 404 {
		t.Fatalf("an unknown provider's webhook: %d", c)
	}
}
