package generic

import (
	"context"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/paysync/paysync/core"
	"github.com/paysync/paysync/internal/standardwebhooks"
)

// signed builds a request as a Standard Webhooks sender would.
func signed(t testing.TB, secret, id string, ts time.Time, body string) core.InboundRequest {
	sig, err := standardwebhooks.Sign(secret, id, ts.Unix(), []byte(body))
	if err != nil {
		t.Fatal(err)
	}
	h := http.Header{}
	h.Set(standardwebhooks.HeaderID, id)
	h.Set(standardwebhooks.HeaderTimestamp, strconv.FormatInt(ts.Unix(), 10))
	h.Set(standardwebhooks.HeaderSignature, sig)
	return core.InboundRequest{Method: "POST", Header: h, Body: []byte(body), ReceivedAt: ts}
}

const testSecret = "whsec_dGVzdC1nZW5lcmljLXNlY3JldC0xMjM0NTY3OA=="

// previousSecret stands for the secret being rotated out.
const previousSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

func TestVerifyEvents(t *testing.T) {
	p, err := New(Options{Secret: testSecret})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	cases := []struct {
		name string
		body string
		code string // "" ok
		want core.PaymentEvent
	}{
		{"paid", `{"event_id":"e1","order_id":"A-1","status":"paid","amount_minor":1500000,"currency":"amd","provider_ref":"r1","occurred_at":"2025-03-01T11:59:00Z"}`, "",
			core.PaymentEvent{EventID: "e1", OrderID: "A-1", Status: core.StatusPaid, AmountMinor: 1500000, Currency: "AMD", ProviderRef: "r1", OccurredAt: now.Add(-time.Minute), Precision: time.Second}},
		{"time in milliseconds", `{"event_id":"e1","order_id":"A-1","status":"failed","occurred_at":"2025-03-01T15:59:00.250+04:00"}`, "",
			core.PaymentEvent{EventID: "e1", OrderID: "A-1", Status: core.StatusFailed, OccurredAt: now.Add(-time.Minute + 250*time.Millisecond), Precision: time.Millisecond}},
		{"event id from header", `{"order_id":"A-1","status":"failed"}`, "",
			core.PaymentEvent{EventID: "msg_1", OrderID: "A-1", Status: core.StatusFailed, OccurredAt: now, Precision: time.Second}},
		{"partial refund as a running total", `{"event_id":"e2","order_id":"A-1","status":"refunded","amount_minor":1500000,"refunded_minor":500000,"currency":"AMD"}`, "",
			core.PaymentEvent{EventID: "e2", OrderID: "A-1", Status: core.StatusRefunded, AmountMinor: 1500000, RefundedMinor: 500000, Currency: "AMD", OccurredAt: now, Precision: time.Second}},
		{"one refund", `{"event_id":"e2","order_id":"A-1","status":"refunded","amount_minor":330000,"currency":"AMD"}`, "",
			core.PaymentEvent{EventID: "e2", OrderID: "A-1", Status: core.StatusRefunded, AmountMinor: 330000, RefundMinor: 330000, Currency: "AMD", OccurredAt: now, Precision: time.Second}},
		{"refund of nothing", `{"order_id":"A-1","status":"refunded","amount_minor":0,"currency":"AMD"}`, core.EINVALID, core.PaymentEvent{}},
		{"running total of nothing", `{"order_id":"A-1","status":"refunded","amount_minor":5,"refunded_minor":0,"currency":"AMD"}`, core.EINVALID, core.PaymentEvent{}},
		{"unknown status is an ignored event", `{"event_id":"e3","order_id":"A-1","status":"authorized","amount_minor":1,"currency":"AMD"}`, "",
			core.PaymentEvent{EventID: "e3", OrderID: "A-1", Status: "", AmountMinor: 1, Currency: "AMD", OccurredAt: now, Precision: time.Second}},
		{"unknown fields are allowed", `{"event_id":"e4","order_id":"A-1","status":"expired","extra":{"x":1}}`, "",
			core.PaymentEvent{EventID: "e4", OrderID: "A-1", Status: core.StatusExpired, OccurredAt: now, Precision: time.Second}},
		{"not JSON", `order=A-1&status=paid`, core.EINVALID, core.PaymentEvent{}},
		{"trailing data", `{"order_id":"A-1","status":"paid","amount_minor":1,"currency":"AMD"} {}`, core.EINVALID, core.PaymentEvent{}},
		{"negative amount", `{"order_id":"A-1","status":"paid","amount_minor":-1,"currency":"AMD"}`, core.EINVALID, core.PaymentEvent{}},
		{"overflowing amount", `{"order_id":"A-1","status":"paid","amount_minor":99999999999999999999,"currency":"AMD"}`, core.EINVALID, core.PaymentEvent{}},
		{"amount above 2^53", `{"order_id":"A-1","status":"paid","amount_minor":9007199254740993,"currency":"AMD"}`, core.EINVALID, core.PaymentEvent{}},
		{"fractional amount", `{"order_id":"A-1","status":"paid","amount_minor":15.5,"currency":"AMD"}`, core.EINVALID, core.PaymentEvent{}},
		{"amount as string", `{"order_id":"A-1","status":"paid","amount_minor":"15","currency":"AMD"}`, core.EINVALID, core.PaymentEvent{}},
		{"unknown currency", `{"order_id":"A-1","status":"paid","amount_minor":1,"currency":"XYZ"}`, core.EINVALID, core.PaymentEvent{}},
		{"paid without amount", `{"order_id":"A-1","status":"paid"}`, core.EINVALID, core.PaymentEvent{}},
		{"missing order id", `{"status":"paid","amount_minor":1,"currency":"AMD"}`, core.EINVALID, core.PaymentEvent{}},
		{"order id with spaces", `{"order_id":"A 1","status":"paid","amount_minor":1,"currency":"AMD"}`, core.EINVALID, core.PaymentEvent{}},
		{"missing status", `{"order_id":"A-1"}`, core.EINVALID, core.PaymentEvent{}},
		{"bad occurred_at", `{"order_id":"A-1","status":"failed","occurred_at":"yesterday"}`, core.EINVALID, core.PaymentEvent{}},
		{"negative refund", `{"order_id":"A-1","status":"refunded","amount_minor":5,"refunded_minor":-5,"currency":"AMD"}`, core.EINVALID, core.PaymentEvent{}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			evs, err := p.Verify(context.Background(), signed(t, testSecret, "msg_1", now, c.body))
			if c.code != "" {
				if core.ErrorCode(err) != c.code {
					t.Fatalf("code = %q (%v), want %s", core.ErrorCode(err), err, c.code)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(evs) != 1 {
				t.Fatalf("%d events", len(evs))
			}
			got := evs[0]
			if !got.Verified || got.Provider != Name || got.Source != core.SourceWebhook {
				t.Fatalf("event not marked verified generic webhook: %+v", got)
			}
			w := c.want
			if got.EventID != w.EventID || got.OrderID != w.OrderID || got.Status != w.Status || got.AmountMinor != w.AmountMinor ||
				got.Currency != w.Currency || got.RefundedMinor != w.RefundedMinor || got.RefundMinor != w.RefundMinor ||
				got.ProviderRef != w.ProviderRef || !got.OccurredAt.Equal(w.OccurredAt) || got.Precision != w.Precision {
				t.Fatalf("got  %+v\nwant %+v", got, w)
			}
		})
	}
}

func TestVerifyRefusesUnsigned(t *testing.T) {
	p, _ := New(Options{Secret: testSecret, PreviousSecret: previousSecret})
	now := time.Now()
	body := `{"event_id":"e1","order_id":"A-1","status":"paid","amount_minor":1,"currency":"AMD"}`
	req := signed(t, "whsec_Zm9yZ2VkLXNlY3JldC1mb3JnZWQtc2VjcmV0", "msg_1", now, body)
	if _, err := p.Verify(context.Background(), req); core.ErrorCode(err) != core.EUNAUTHORIZED {
		t.Fatalf("forged: %v", err)
	}
	req = signed(t, previousSecret, "msg_1", now, body) // the previous secret still works
	if _, err := p.Verify(context.Background(), req); err != nil {
		t.Fatalf("previous secret: %v", err)
	}
	req = signed(t, testSecret, "msg_1", now.Add(-10*time.Minute), body)
	req.ReceivedAt = now
	if _, err := p.Verify(context.Background(), req); core.ErrorCode(err) != core.EUNAUTHORIZED {
		t.Fatalf("old timestamp: %v", err)
	}
	if _, err := p.Lookup(context.Background(), core.Order{}); err == nil {
		t.Fatal("Lookup should be unsupported")
	}
	if _, err := p.CreateLink(context.Background(), core.Order{}); err == nil {
		t.Fatal("CreateLink should be unsupported")
	}
}

// FuzzVerifyGeneric signs arbitrary bodies and checks that the parser never
// panics, only fails with EINVALID, and only returns events it would store.
func FuzzVerifyGeneric(f *testing.F) {
	f.Add([]byte(`{"event_id":"e1","order_id":"A-1","status":"paid","amount_minor":1500000,"currency":"AMD"}`), "msg_1", false)
	f.Add([]byte(`{"order_id":"A-1","status":"refunded","amount_minor":1,"refunded_minor":1,"currency":"usd"}`), "msg_2", true)
	f.Add([]byte(`{"order_id":"","status":""}`), "", false)
	p, err := New(Options{Secret: testSecret})
	if err != nil {
		f.Fatal(err)
	}
	now := time.Unix(1700000000, 0)
	f.Fuzz(func(t *testing.T, body []byte, id string, tamper bool) {
		req := core.InboundRequest{Header: http.Header{}, Body: body, ReceivedAt: now}
		if id != "" {
			r := signed(t, testSecret, id, now, string(body))
			req.Header = r.Header
		}
		if tamper {
			req.Body = append(append([]byte(nil), body...), ' ')
		}
		evs, err := p.Verify(context.Background(), req)
		if err != nil {
			if c := core.ErrorCode(err); c != core.EINVALID && c != core.EUNAUTHORIZED {
				t.Fatalf("unexpected error class %s: %v", c, err)
			}
			if (id == "" || tamper) && core.ErrorCode(err) != core.EUNAUTHORIZED {
				t.Fatalf("unsigned or tampered body got past the signature: %v", err)
			}
			return
		}
		if id == "" || tamper {
			t.Fatal("unsigned or tampered body accepted")
		}
		for _, ev := range evs {
			if !ev.Verified || core.ValidateOrderID(ev.OrderID) != nil || ev.EventID == "" {
				t.Fatalf("bad event %+v", ev)
			}
			if ev.Currency != "" || ev.AmountMinor != 0 {
				if err := core.ValidateMoney(ev.AmountMinor, ev.Currency); err != nil {
					t.Fatalf("event with invalid money: %v", err)
				}
			}
			if ev.RefundedMinor < 0 {
				t.Fatalf("negative refund %d", ev.RefundedMinor)
			}
		}
	})
}
