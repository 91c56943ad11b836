package vpos

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/paysync/paysync/core"
	"github.com/paysync/paysync/internal/standardwebhooks"
	vpossandbox "github.com/paysync/paysync/sandbox/vpos"
)

func order(id string) core.Order {
	return core.Order{ID: id, AmountMinor: 1500000, Currency: "AMD", Provider: Name,
		Customer: core.Customer{Name: "Anna", Phone: "+37491000000", Email: "anna@example.am", Handle: "anna.shop"}}
}

// env is a sandbox with an adapter pointed at it and a receiver that keeps
// the webhooks the sandbox sends.
type env struct {
	sb       *vpossandbox.Server
	srv      *httptest.Server
	p        *Provider
	mu       sync.Mutex
	received []core.InboundRequest
	hook     *httptest.Server
}

func newEnv(t *testing.T, mutate func(*Options)) *env {
	t.Helper()
	e := &env{}
	e.hook = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		e.mu.Lock()
		e.received = append(e.received, core.InboundRequest{Method: r.Method, Header: r.Header.Clone(), Body: b, ReceivedAt: time.Now()})
		e.mu.Unlock()
	}))
	t.Cleanup(e.hook.Close)
	e.sb = vpossandbox.New(vpossandbox.Options{WebhookURL: e.hook.URL, WebhookRetryDelay: time.Millisecond})
	e.srv = httptest.NewServer(e.sb)
	t.Cleanup(func() { e.sb.Close(); e.srv.Close() })
	o := Options{BaseURL: e.srv.URL, APIToken: vpossandbox.DefaultToken, WebhookSecret: vpossandbox.DefaultWebhookSecret,
		ReturnURL: "https://shop.example/return?order={order_id}", Timeout: 2 * time.Second}
	if mutate != nil {
		mutate(&o)
	}
	p, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	e.p = p
	return e
}

func (e *env) webhooks() []core.InboundRequest {
	e.sb.WaitWebhooks()
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]core.InboundRequest(nil), e.received...)
}

func TestCreateLinkAndLookup(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	o := order("A-1001")
	link, err := e.p.CreateLink(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(link.URL, e.srv.URL+"/checkout/") || !strings.HasPrefix(link.ProviderRef, "ps_") {
		t.Fatalf("link = %+v", link)
	}
	// A retry after a lost answer gets the same session (Idempotency-Key).
	again, err := e.p.CreateLink(ctx, o)
	if err != nil || again != link {
		t.Fatalf("retry: %+v %v", again, err)
	}
	if st := e.sb.Stats(); st.Created != 1 || st.Replayed != 1 {
		t.Fatalf("sandbox stats %+v", st)
	}
	ss, _ := e.sb.Session("A-1001")
	if ss.ReturnURL != "https://shop.example/return?order=A-1001" || ss.Customer["email"] != "anna@example.am" || ss.Metadata["order_id"] != "A-1001" {
		t.Fatalf("session %+v", ss)
	}
	o.ProviderRef = link.ProviderRef
	ev, err := e.p.Lookup(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	if ev.Status != core.StatusPending || !ev.Verified || ev.Source != core.SourceLookup || ev.OrderID != "A-1001" {
		t.Fatalf("pending lookup %+v", ev)
	}
	if err := e.sb.Pay("A-1001"); err != nil {
		t.Fatal(err)
	}
	ev, err = e.p.Lookup(ctx, o)
	if err != nil || ev.Status != core.StatusPaid || ev.AmountMinor != 1500000 || ev.Currency != "AMD" || ev.ProviderRef != link.ProviderRef {
		t.Fatalf("paid lookup %+v %v", ev, err)
	}
	if err := e.sb.Refund("A-1001", 500000); err != nil {
		t.Fatal(err)
	}
	ev, _ = e.p.Lookup(ctx, o)
	if ev.Status != core.StatusRefunded || ev.RefundedMinor != 500000 {
		t.Fatalf("partial refund lookup %+v", ev)
	}
	o.ProviderRef = ""
	if _, err := e.p.Lookup(ctx, o); core.ErrorCode(err) != core.EINVALID {
		t.Fatalf("lookup without a session id: %v", err)
	}
}

func TestAPIErrors(t *testing.T) {
	ctx := context.Background()
	cases := []struct {
		name   string
		setup  func(e *env)
		opts   func(o *Options)
		code   string
		phrase string
	}{
		{"bad token", nil, func(o *Options) { o.APIToken = "wrong" }, core.EUNAUTHORIZED, "PAYSYNC_VPOS_API_TOKEN"},
		{"untrusted origin", func(e *env) { e.sb.FailNext(1, 403) }, nil, core.EUNAUTHORIZED, "untrusted origin"},
		{"rate limited", func(e *env) { e.sb.FailNext(1, 429) }, nil, core.EUNAVAILABLE, "retry after 1s"},
		{"outage", func(e *env) { e.sb.FailNext(1, 503) }, nil, core.EUNAVAILABLE, "503"},
		{"timeout", func(e *env) { e.sb.HangNext(1) }, func(o *Options) { o.Timeout = 200 * time.Millisecond }, core.EUNAVAILABLE, "in time"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t, c.opts)
			if c.setup != nil {
				c.setup(e)
			}
			_, err := e.p.CreateLink(ctx, order("A-1"))
			if core.ErrorCode(err) != c.code || !strings.Contains(core.ErrorMessage(err), c.phrase) {
				t.Fatalf("got %s %q, want %s containing %q", core.ErrorCode(err), core.ErrorMessage(err), c.code, c.phrase)
			}
			if strings.Contains(err.Error(), vpossandbox.DefaultToken) {
				t.Fatal("error leaks the API token")
			}
		})
	}
}

func TestVerifySandboxWebhooks(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	if _, err := e.p.CreateLink(ctx, order("A-2")); err != nil {
		t.Fatal(err)
	}
	e.sb.Pay("A-2")
	e.sb.SendEvent("A-2", "payment_session.viewed")
	hooks := e.webhooks()
	if len(hooks) != 2 {
		t.Fatalf("%d webhooks", len(hooks))
	}
	byType := map[string]core.PaymentEvent{}
	for _, h := range hooks {
		evs, err := e.p.Verify(ctx, h)
		if err != nil {
			t.Fatal(err)
		}
		byType[evs[0].Type] = evs[0]
	}
	paid := byType["payment.succeeded"]
	if paid.Status != core.StatusPaid || paid.OrderID != "A-2" || paid.AmountMinor != 1500000 || paid.Currency != "AMD" ||
		!strings.HasPrefix(paid.ProviderRef, "ps_") || paid.EventID != hooks[0].Header.Get("webhook-id") && paid.EventID != hooks[1].Header.Get("webhook-id") {
		t.Fatalf("paid event %+v", paid)
	}
	if v := byType["payment_session.viewed"]; v.Status != "" {
		t.Fatalf("unknown event type should not move a payment: %+v", v)
	}
	// Forged: same body, signed with another secret.
	h := hooks[0]
	forged := h
	forged.Header = h.Header.Clone()
	sig, _ := standardwebhooks.Sign("whsec_Zm9yZ2VyLXNlY3JldC0xMjM0NTY3ODkw", h.Header.Get("webhook-id"), time.Now().Unix(), h.Body)
	forged.Header.Set("webhook-signature", sig)
	if _, err := e.p.Verify(ctx, forged); core.ErrorCode(err) != core.EUNAUTHORIZED {
		t.Fatalf("forged: %v", err)
	}
	// No secret configured: refused, with the fix in the message.
	p2, _ := New(Options{BaseURL: e.srv.URL, APIToken: "x"})
	if _, err := p2.Verify(ctx, h); core.ErrorCode(err) != core.EUNAUTHORIZED || !strings.Contains(core.ErrorMessage(err), "PAYSYNC_VPOS_WEBHOOK_SECRET") {
		t.Fatalf("no secret: %v", err)
	}
}

// TestConfigurableFormat shows how an operator adapts paysync to the real
// VPOS.am format once known: other headers, field paths and status names.
func TestConfigurableFormat(t *testing.T) {
	const secret = "whsec_b3RoZXItZm9ybWF0LXNlY3JldC0xMjM0NQ=="
	p, err := New(Options{BaseURL: "https://api.vpos.am", APIToken: "t", WebhookSecret: secret,
		SignatureHeader: "X-Vpos-Signature", IDHeader: "X-Vpos-Id", TimestampHeader: "X-Vpos-Time",
		Fields:   map[string]string{"order_id": "payment.orderRef", "status": "payment.state", "amount_minor": "payment.total.minor", "currency": "payment.total.ccy", "event_id": "eventUuid"},
		Statuses: map[string]string{"SETTLED": "paid", "OPENED": ""}})
	if err != nil {
		t.Fatal(err)
	}
	body := []byte(`{"eventUuid":"u-1","payment":{"orderRef":"A-9","state":"SETTLED","total":{"minor":"2500","ccy":"usd"}}}`)
	now := time.Now()
	sig, _ := standardwebhooks.Sign(secret, "hdr-1", now.Unix(), body)
	h := http.Header{}
	h.Set("X-Vpos-Signature", sig)
	h.Set("X-Vpos-Id", "hdr-1")
	h.Set("X-Vpos-Time", strconv.FormatInt(now.Unix(), 10))
	evs, err := p.Verify(context.Background(), core.InboundRequest{Header: h, Body: body, ReceivedAt: now})
	if err != nil {
		t.Fatal(err)
	}
	ev := evs[0]
	if ev.EventID != "u-1" || ev.OrderID != "A-9" || ev.Status != core.StatusPaid || ev.AmountMinor != 2500 || ev.Currency != "USD" {
		t.Fatalf("event %+v", ev)
	}
	if _, err := New(Options{APIToken: "t", Fields: map[string]string{"ordr_id": "x"}}); err == nil || !strings.Contains(err.Error(), "unknown field") {
		t.Fatalf("typo in fields: %v", err)
	}
	if _, err := New(Options{APIToken: "t", Statuses: map[string]string{"X": "settled"}}); err == nil {
		t.Fatal("bad status mapping accepted")
	}
	if _, err := New(Options{WebhookSecret: secret}); err == nil || !strings.Contains(err.Error(), "confirm_with_lookup") {
		t.Fatalf("webhooks confirmed by lookup need a token: %v", err)
	}
	off := false
	if _, err := New(Options{WebhookSecret: secret, ConfirmWithLookup: &off}); err != nil {
		t.Fatalf("confirm off without token: %v", err)
	}
}

func TestSessionRequestShape(t *testing.T) {
	p, _ := New(Options{APIToken: "t", ProviderName: "arca", ReturnURL: "https://x/r?o={order_id}"})
	b, _ := json.Marshal(p.SessionRequest(order("A 1/2")))
	want := `{"merchantOrderId":"A 1/2","amountMinor":1500000,"currency":"AMD","provider":"arca","returnUrl":"https://x/r?o=A+1%2F2","customer":{"email":"anna@example.am","phone":"+37491000000","name":"Anna"},"metadata":{"instagram":"anna.shop","order_id":"A 1/2","source":"paysync"}}`
	if string(b) != want {
		t.Fatalf("got  %s\nwant %s", b, want)
	}
	if IdempotencyKey(order("1001")) != "order-1001-pay-attempt-1" {
		t.Fatal(IdempotencyKey(order("1001")))
	}
}

// FuzzVerifyVPOS signs arbitrary bodies with the sandbox secret and checks
// that parsing never panics and yields only storable events.
func FuzzVerifyVPOS(f *testing.F) {
	f.Add([]byte(`{"id":"evt_1","type":"payment.succeeded","data":{"id":"ps_1","merchantOrderId":"A-1","amountMinor":1500000,"currency":"AMD","status":"paid"}}`), false)
	f.Add([]byte(`{"type":"payment.refunded","data":{"merchantOrderId":"A-1","amountMinor":"10","refundedAmountMinor":5,"currency":"amd","status":"partially_refunded"}}`), false)
	f.Add([]byte(`[1,2,3]`), true)
	p, err := New(Options{BaseURL: "http://127.0.0.1:1", APIToken: "t", WebhookSecret: vpossandbox.DefaultWebhookSecret})
	if err != nil {
		f.Fatal(err)
	}
	now := time.Unix(1700000000, 0)
	f.Fuzz(func(t *testing.T, body []byte, tamper bool) {
		sig, _ := standardwebhooks.Sign(vpossandbox.DefaultWebhookSecret, "msg_f", now.Unix(), body)
		if tamper {
			sig = "v1,AAAA"
		}
		h := http.Header{}
		h.Set("webhook-id", "msg_f")
		h.Set("webhook-timestamp", strconv.FormatInt(now.Unix(), 10))
		h.Set("webhook-signature", sig)
		evs, err := p.Verify(context.Background(), core.InboundRequest{Header: h, Body: body, ReceivedAt: now})
		if tamper {
			if core.ErrorCode(err) != core.EUNAUTHORIZED {
				t.Fatalf("tampered signature: %v", err)
			}
			return
		}
		if err != nil {
			if core.ErrorCode(err) != core.EINVALID {
				t.Fatalf("error class %s: %v", core.ErrorCode(err), err)
			}
			return
		}
		for _, ev := range evs {
			if !ev.Verified || ev.EventID == "" {
				t.Fatalf("bad event %+v", ev)
			}
			moving := ev.Status != "" && ev.Status != core.StatusPending
			if moving && core.ValidateOrderID(ev.OrderID) != nil {
				t.Fatalf("moving event without a valid order id: %+v", ev)
			}
			if ev.Currency != "" {
				if err := core.ValidateMoney(ev.AmountMinor, ev.Currency); err != nil {
					t.Fatalf("invalid money: %v", err)
				}
			}
			if ev.AmountMinor < 0 || ev.RefundedMinor < 0 {
				t.Fatalf("negative amount %+v", ev)
			}
		}
	})
}

func TestParseTimePrecision(t *testing.T) {
	for _, c := range []struct {
		in        string
		at        time.Time
		precision time.Duration
	}{
		{"2026-03-01T15:07:20Z", time.Date(2026, 3, 1, 15, 7, 20, 0, time.UTC), time.Second},
		{"2026-03-01T15:07:20.483Z", time.Date(2026, 3, 1, 15, 7, 20, 483000000, time.UTC), time.Millisecond},
		{"1772377640", time.Date(2026, 3, 1, 15, 7, 20, 0, time.UTC), time.Second},
		{"1772377640483", time.Date(2026, 3, 1, 15, 7, 20, 483000000, time.UTC), time.Millisecond},
		{"yesterday", time.Time{}, 0},
	} {
		at, precision := parseTime(c.in)
		if !at.Equal(c.at) || precision != c.precision {
			t.Errorf("parseTime(%q) = %v, %v; want %v, %v", c.in, at, precision, c.at, c.precision)
		}
	}
}
