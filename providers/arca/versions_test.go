package arca

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/paysync/paysync/core"
	arcasandbox "github.com/paysync/paysync/sandbox/arca"
)

// The getOrderStatusExtended answer depends on the version set for the
// merchant (issue 24): version 1 has no paymentAmountInfo, and a partial
// refund shows only as orderStatus 4. paysync never infers the amount: the
// order goes to a person, with what to check.
func TestRefundAmountIsNeverInferred(t *testing.T) {
	g, base := sandbox(t, arcasandbox.Options{StatusVersion: 1})
	p := newProvider(t, Options{BaseURL: base, ReturnURL: "https://shop.example/r"})
	ctx := context.Background()
	o := core.Order{ID: "VER-1", AmountMinor: 1500000, Currency: "AMD", Status: core.StatusPending}
	link, err := p.CreateLink(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	o.ProviderRef = link.ProviderRef
	g.Pay("VER-1")
	ev, err := p.Lookup(ctx, o)
	if err != nil || ev.Status != core.StatusPaid || ev.AmountMinor != 1500000 {
		t.Fatalf("paid, version 1: %+v %v", ev, err)
	}
	o.Status = core.StatusPaid
	g.Refund("VER-1", 500000)
	ev, err = p.Lookup(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	if ev.Status != core.StatusManualReview || ev.RefundedMinor != 0 || ev.RefundMinor != 0 ||
		!strings.Contains(ev.ReviewReason, "does not say how much") || !strings.Contains(ev.ReviewReason, "version") {
		t.Fatalf("a refund whose amount the answer does not state: %+v", ev)
	}
	if d := core.Decide(&o, ev); d.To != core.StatusManualReview {
		t.Fatalf("the order is not sent to a person: %+v", d)
	}
	// Version 2 states the amount: a partial refund is a partial refund.
	g.SetStatusVersion(2)
	if ev, err = p.Lookup(ctx, o); err != nil || ev.Status != core.StatusRefunded || ev.RefundedMinor != 500000 {
		t.Fatalf("version 2: %+v %v", ev, err)
	}
}

// Callbacks may be unsigned, HMAC-signed or RSA-signed, per merchant
// (issue 24): with the gateway's certificate (or public key) in the config,
// RSA-signed callbacks verify, beside HMAC-signed ones.
func TestRSASignedCallbacks(t *testing.T) {
	var mu sync.Mutex
	var got []url.Values
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.ParseForm()
		mu.Lock()
		got = append(got, r.Form)
		mu.Unlock()
	}))
	t.Cleanup(hook.Close)
	g, base := sandbox(t, arcasandbox.Options{RSASigned: true, CallbackURL: hook.URL, CallbackRetryDelay: time.Millisecond})
	p := newProvider(t, Options{BaseURL: base, ReturnURL: "https://shop.example/r", CallbackKey: "hmac-key",
		CallbackPublicKey: string(g.CertificatePEM())})
	if _, err := p.CreateLink(context.Background(), core.Order{ID: "RSA-1", AmountMinor: 1500000, Currency: "AMD"}); err != nil {
		t.Fatal(err)
	}
	g.Pay("RSA-1")
	g.WaitCallbacks()
	mu.Lock()
	params := got[0]
	mu.Unlock()
	verify := func(v url.Values) ([]core.PaymentEvent, error) {
		return p.Verify(context.Background(), core.InboundRequest{Method: "GET", Query: v, ReceivedAt: time.Now()})
	}
	evs, err := verify(params)
	if err != nil || len(evs) != 1 || !evs[0].Verified || evs[0].Status != core.StatusPaid {
		t.Fatalf("an RSA-signed callback: %+v %v", evs, err)
	}
	forged := url.Values{}
	for k, vs := range params {
		forged[k] = vs
	}
	forged.Set("amount", "1")
	if _, err := verify(forged); core.ErrorCode(err) != core.EUNAUTHORIZED {
		t.Fatalf("a forged RSA-signed callback: %v", err)
	}
	// The HMAC key still verifies the merchant's HMAC-signed callbacks.
	hm := url.Values{"mdOrder": {"x"}, "orderNumber": {"RSA-1"}, "operation": {"deposited"}, "status": {"1"}}
	hm.Set("checksum", arcasandbox.Checksum(hm, "hmac-key"))
	if evs, err := verify(hm); err != nil || !evs[0].Verified {
		t.Fatalf("an HMAC-signed callback beside the RSA key: %v", err)
	}
	// A key that is not PEM is refused at start, with the fix.
	if _, err := New(Options{Username: "u", Password: "p", CallbackPublicKey: "not a key"}); err == nil ||
		!strings.Contains(err.Error(), "callback_public_key") {
		t.Fatalf("a bad public key: %v", err)
	}
}

// Order ids longer than the gateway takes are refused when the order is
// created, with the limit in the message (issue 24), not when the buyer is
// sent to pay.
func TestLongOrderIDRefusedAtCreation(t *testing.T) {
	p := newProvider(t, Options{})
	ov, ok := any(p).(core.OrderValidator)
	if !ok {
		t.Fatal("the ArCa adapter is no core.OrderValidator")
	}
	long := core.Order{ID: strings.Repeat("A", arcasandbox.MaxOrderNumber+1), AmountMinor: 100, Currency: "AMD"}
	err := ov.ValidateOrder(long)
	if core.ErrorCode(err) != core.EINVALID || !strings.Contains(core.ErrorMessage(err), "32 characters") {
		t.Fatalf("a 33-character order id: %v", err)
	}
	if err := ov.ValidateOrder(core.Order{ID: long.ID[1:], AmountMinor: 100, Currency: "AMD"}); err != nil {
		t.Fatalf("a 32-character order id: %v", err)
	}
}
