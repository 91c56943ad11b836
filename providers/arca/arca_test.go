package arca

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/paysync/paysync/core"
	arcasandbox "github.com/paysync/paysync/sandbox/arca"
)

// The RBS reference vector.
func TestChecksumVector(t *testing.T) {
	params := map[string]string{"amount": "1500", "mdOrder": "ed6f3abf-cea0-427e-afdf-0ba43ead124f",
		"operation": "deposited", "orderNumber": "89312", "status": "1", "checksum": "ignored", "sign_alias": "SHA-256"}
	wantString := "amount;1500;mdOrder;ed6f3abf-cea0-427e-afdf-0ba43ead124f;operation;deposited;orderNumber;89312;status;1;"
	if got := CallbackString(params); got != wantString {
		t.Fatalf("signed string %q", got)
	}
	const want = "9F8253A6BB7777D067DD955751119FA5AAF67B14B9215147190F96B505CDB72C"
	if got := Checksum(params, []byte("123")); got != want {
		t.Fatalf("Checksum = %s, want %s", got, want)
	}
	// The sandbox signs independently; both must agree.
	q := url.Values{}
	for k, v := range params {
		q.Set(k, v)
	}
	if got := arcasandbox.Checksum(q, "123"); got != want {
		t.Fatalf("sandbox Checksum = %s", got)
	}
}

func newProvider(t testing.TB, o Options) *Provider {
	t.Helper()
	if o.Username == "" {
		o.Username, o.Password = arcasandbox.DefaultUsername, arcasandbox.DefaultPassword
	}
	p, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestVerifyCallback(t *testing.T) {
	key := "123"
	p := newProvider(t, Options{CallbackKey: "new-key", CallbackKeyPrevious: key})
	base := url.Values{"amount": {"1500"}, "mdOrder": {"ed6f3abf-cea0-427e-afdf-0ba43ead124f"}, "operation": {"deposited"},
		"orderNumber": {"89312"}, "status": {"1"}}
	sum := "9F8253A6BB7777D067DD955751119FA5AAF67B14B9215147190F96B505CDB72C"
	with := func(mod func(v url.Values)) url.Values {
		v := url.Values{}
		for k, vs := range base {
			v[k] = append([]string(nil), vs...)
		}
		v.Set("checksum", sum)
		v.Set("sign_alias", "SHA-256")
		if mod != nil {
			mod(v)
		}
		return v
	}
	now := time.Now()
	cases := []struct {
		name   string
		method string
		params url.Values
		code   string
		status core.Status
	}{
		{"GET with the vector checksum (previous key)", "GET", with(nil), "", core.StatusPaid},
		{"POST form", "POST", with(nil), "", core.StatusPaid},
		{"lowercase checksum", "GET", with(func(v url.Values) { v.Set("checksum", strings.ToLower(sum)) }), "", core.StatusPaid},
		{"wrong checksum", "GET", with(func(v url.Values) { v.Set("checksum", strings.Repeat("A", 64)) }), core.EUNAUTHORIZED, ""},
		{"amount changed", "GET", with(func(v url.Values) { v.Set("amount", "150000") }), core.EUNAUTHORIZED, ""},
		{"missing checksum", "GET", with(func(v url.Values) { v.Del("checksum") }), core.EUNAUTHORIZED, ""},
		{"checksum not hex", "GET", with(func(v url.Values) { v.Set("checksum", "zz") }), core.EUNAUTHORIZED, ""},
		{"parameter twice", "GET", with(func(v url.Values) { v.Add("status", "0") }), core.EINVALID, ""},
		{"no parameters", "GET", url.Values{}, core.EINVALID, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			req := core.InboundRequest{Method: c.method, Header: http.Header{}, ReceivedAt: now}
			if c.method == "GET" {
				req.Query = c.params
			} else {
				req.Body = []byte(c.params.Encode())
			}
			evs, err := p.Verify(context.Background(), req)
			if c.code != "" {
				if core.ErrorCode(err) != c.code {
					t.Fatalf("code %q (%v), want %s", core.ErrorCode(err), err, c.code)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			ev := evs[0]
			if !ev.Verified || ev.Status != c.status || ev.OrderID != "89312" || ev.AmountMinor != 1500 ||
				ev.ProviderRef != "ed6f3abf-cea0-427e-afdf-0ba43ead124f" || ev.EventID != "callback:ed6f3abf-cea0-427e-afdf-0ba43ead124f:deposited:1:1500" {
				t.Fatalf("event %+v", ev)
			}
		})
	}
	// Without a key, callbacks are parsed but not trusted.
	p2 := newProvider(t, Options{})
	evs, err := p2.Verify(context.Background(), core.InboundRequest{Method: "GET", Query: base})
	if err != nil || evs[0].Verified {
		t.Fatalf("unsigned callback: %+v %v", evs, err)
	}
}

func TestParseCallbackOperations(t *testing.T) {
	cases := []struct {
		op, status string
		want       core.Status
	}{
		{"deposited", "1", core.StatusPaid},
		{"deposited", "0", core.StatusFailed},
		{"approved", "1", core.StatusPending},
		{"approved", "0", core.StatusFailed},
		{"reversed", "1", core.StatusFailed},
		{"reversed", "0", ""},
		{"refunded", "1", core.StatusRefunded},
		{"declinedByTimeout", "0", core.StatusFailed},
		{"declinedCardPresent", "1", core.StatusFailed},
		{"somethingNew", "1", ""},
	}
	for _, c := range cases {
		ev, err := ParseCallback(map[string]string{"orderNumber": "A-1", "mdOrder": "m", "operation": c.op, "status": c.status})
		if err != nil || ev.Status != c.want {
			t.Errorf("%s/%s: %q %v, want %q", c.op, c.status, ev.Status, err, c.want)
		}
	}
	// A refund callback carries that one refund's amount, not the total so far.
	ev, err := ParseCallback(map[string]string{"orderNumber": "A-1", "mdOrder": "m", "operation": "refunded", "status": "1", "amount": "500"})
	if err != nil || ev.RefundMinor != 500 || ev.RefundedMinor != 0 || ev.RefundFigure() != 500 {
		t.Errorf("refund callback: %+v %v", ev, err)
	}
	for _, bad := range []map[string]string{
		{"orderNumber": "A-1", "operation": "deposited", "status": "2"},
		{"orderNumber": "", "operation": "deposited", "status": "1"},
		{"orderNumber": "A-1", "operation": "deposited", "status": "1", "amount": "-1"},
		{"orderNumber": "A-1", "operation": "deposited", "status": "1", "amount": "1.5"},
		{"orderNumber": "A-1", "operation": "deposited", "status": "1", "amount": "99999999999999999999"},
	} {
		if _, err := ParseCallback(bad); core.ErrorCode(err) != core.EINVALID {
			t.Errorf("%v: %v", bad, err)
		}
	}
}

func TestEventFromStatus(t *testing.T) {
	st := func(code int64, deposited, refunded int64) *StatusResponse {
		s := &StatusResponse{Amount: 1500000, Currency: "051"}
		c := flexInt(code)
		s.OrderStatus = &c
		s.PaymentAmountInfo = &PaymentAmountInfo{DepositedAmount: flexInt(deposited), RefundedAmount: flexInt(refunded)}
		return s
	}
	pending := core.Order{ID: "A-1", Status: core.StatusPending, AmountMinor: 1500000, Currency: "AMD"}
	paid := pending
	paid.Status = core.StatusPaid
	partly := paid
	partly.Status, partly.RefundedMinor = core.StatusPartiallyRefunded, 500000
	cases := []struct {
		name     string
		s        *StatusResponse
		o        core.Order
		want     core.Status
		amount   int64
		refunded int64
	}{
		{"0 registered", st(0, 0, 0), pending, core.StatusPending, 1500000, 0},
		{"1 held is not paid", st(1, 0, 0), pending, core.StatusPending, 1500000, 0},
		{"2 deposited", st(2, 1500000, 0), pending, core.StatusPaid, 1500000, 0},
		{"2 deposited less", st(2, 1000000, 0), pending, core.StatusPaid, 1000000, 0},
		{"3 reversed before deposit", st(3, 0, 0), pending, core.StatusFailed, 1500000, 0},
		{"3 reversed after paysync saw it paid", st(3, 0, 0), paid, core.StatusRefunded, 1500000, 1500000},
		{"3 reversed after a partial refund", st(3, 0, 0), partly, core.StatusRefunded, 1500000, 1500000},
		{"4 partial refund", st(4, 1500000, 500000), paid, core.StatusRefunded, 1500000, 500000},
		{"2 deposited, refunded in part", st(2, 1500000, 300000), paid, core.StatusRefunded, 1500000, 300000},
		{"5 3-D Secure", st(5, 0, 0), pending, core.StatusPending, 1500000, 0},
		{"6 declined", st(6, 0, 0), pending, core.StatusFailed, 1500000, 0},
		{"7 unknown", st(7, 0, 0), pending, "", 1500000, 0},
	}
	for _, c := range cases {
		ev, err := EventFromStatus(c.s, c.o)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if ev.Status != c.want || ev.AmountMinor != c.amount || ev.RefundedMinor != c.refunded || ev.Currency != "AMD" || !ev.Verified {
			t.Errorf("%s: %+v", c.name, ev)
		}
	}
}

func sandbox(t *testing.T, o arcasandbox.Options) (*arcasandbox.Gateway, string) {
	t.Helper()
	g := arcasandbox.New(o)
	srv := httptest.NewServer(g)
	t.Cleanup(func() { g.Close(); srv.Close() })
	return g, srv.URL + arcasandbox.RESTPath
}

func TestRegisterAndLookup(t *testing.T) {
	g, base := sandbox(t, arcasandbox.Options{})
	p := newProvider(t, Options{BaseURL: base, ReturnURL: "https://shop.example/r?o={order_id}", CallbackURL: "https://paysync.example/webhooks/arca"})
	ctx := context.Background()
	o := core.Order{ID: "A-77", AmountMinor: 1500000, Currency: "AMD", Status: core.StatusPending}
	link, err := p.CreateLink(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(link.URL, "mdOrder="+link.ProviderRef) || link.ProviderRef == "" {
		t.Fatalf("link %+v", link)
	}
	so, _ := g.Order("A-77")
	if so.Amount != 1500000 || so.Currency != "051" || so.CallbackURL != "https://paysync.example/webhooks/arca" || so.ReturnURL != "https://shop.example/r?o=A-77" {
		t.Fatalf("registered %+v", so)
	}
	o.ProviderRef = link.ProviderRef
	g.Pay("A-77")
	ev, err := p.Lookup(ctx, o)
	if err != nil || ev.Status != core.StatusPaid || ev.AmountMinor != 1500000 || ev.Currency != "AMD" || ev.ProviderRef != link.ProviderRef {
		t.Fatalf("lookup %+v %v", ev, err)
	}
	// Registering the same order number again (a retry after a lost answer)
	// finds the existing ArCa order instead of failing.
	again, err := p.CreateLink(ctx, core.Order{ID: "A-77", AmountMinor: 1500000, Currency: "AMD"})
	if err != nil || again.ProviderRef != link.ProviderRef || again.URL != "" {
		t.Fatalf("re-register: %+v %v", again, err)
	}
	// Lookup by order number when paysync has no mdOrder.
	ev, err = p.Lookup(ctx, core.Order{ID: "A-77"})
	if err != nil || ev.Status != core.StatusPaid {
		t.Fatalf("lookup by number %+v %v", ev, err)
	}
	if _, err := p.Lookup(ctx, core.Order{ID: "nope"}); core.ErrorCode(err) != core.ENOTFOUND {
		t.Fatalf("unknown order: %v", err)
	}
}

// TestPasswordNeverLeaks drives every error path and checks that neither
// errors nor logs carry the password.
func TestPasswordNeverLeaks(t *testing.T) {
	const password = "s3cr3t-Pa55"
	g, base := sandbox(t, arcasandbox.Options{Password: password})
	var logs bytes.Buffer
	slog.SetDefault(slog.New(slog.NewTextHandler(&logs, nil)))
	defer slog.SetDefault(slog.New(slog.NewTextHandler(&bytes.Buffer{}, nil)))
	good := newProvider(t, Options{BaseURL: base, Username: arcasandbox.DefaultUsername, Password: password, ReturnURL: "https://x/r", Timeout: 300 * time.Millisecond})
	bad := newProvider(t, Options{BaseURL: base, Username: arcasandbox.DefaultUsername, Password: password + "x", ReturnURL: "https://x/r"})
	down := newProvider(t, Options{BaseURL: "http://127.0.0.1:1/payment/rest", Username: "u", Password: password, ReturnURL: "https://x/r"})
	ctx := context.Background()
	o := core.Order{ID: "A-1", AmountMinor: 100, Currency: "AMD"}
	var errs []error
	_, err := bad.CreateLink(ctx, o)
	if core.ErrorCode(err) != core.EUNAUTHORIZED {
		t.Fatalf("bad password: %v", err)
	}
	errs = append(errs, err)
	_, err = down.CreateLink(ctx, o)
	errs = append(errs, err)
	g.FailNext(1, 502)
	_, err = good.CreateLink(ctx, o)
	errs = append(errs, err)
	g.HangNext(1)
	_, err = good.Lookup(ctx, o)
	errs = append(errs, err)
	g.ErrorNext(1, "7", "System error "+password)
	_, err = good.CreateLink(ctx, o)
	if core.ErrorCode(err) != core.EUNAVAILABLE {
		t.Fatalf("system error: %v", err)
	}
	errs = append(errs, err)
	_, err = good.CreateLink(ctx, core.Order{ID: "A-2", AmountMinor: 100, Currency: "JPY"})
	errs = append(errs, err)
	for _, e := range errs {
		if e == nil {
			t.Fatal("expected an error")
		}
		if strings.Contains(e.Error(), password) || strings.Contains(core.ErrorMessage(e), password) {
			t.Fatalf("error leaks the password: %v", e)
		}
	}
	if strings.Contains(logs.String(), password) {
		t.Fatal("logs leak the password")
	}
}

// FuzzVerifyArca feeds arbitrary query strings and form bodies, signed with
// the right key, and checks that parsing never panics and yields only
// storable events.
func FuzzVerifyArca(f *testing.F) {
	f.Add("mdOrder=ed6f3abf-cea0-427e-afdf-0ba43ead124f&orderNumber=89312&operation=deposited&status=1&amount=1500", "", true)
	f.Add("", "mdOrder=m&orderNumber=A-1&operation=refunded&status=1&amount=500", true)
	f.Add("orderNumber=A%201&operation=x&status=7", "a=1&a=2", false)
	key := []byte("fuzz-key")
	p := newProvider(f, Options{CallbackKey: string(key)})
	f.Fuzz(func(t *testing.T, query, body string, sign bool) {
		q, err := url.ParseQuery(query)
		if err != nil {
			return
		}
		if sign {
			flat := map[string]string{}
			for k, v := range q {
				flat[k] = v[0]
			}
			if b, err := url.ParseQuery(body); err == nil {
				for k, v := range b {
					flat[k] = v[0]
				}
			}
			q.Set("checksum", Checksum(flat, key))
		}
		method := "GET"
		if body != "" {
			method = "POST"
		}
		evs, err := p.Verify(context.Background(), core.InboundRequest{Method: method, Query: q, Body: []byte(body), ReceivedAt: time.Unix(1700000000, 0)})
		if err != nil {
			if c := core.ErrorCode(err); c != core.EINVALID && c != core.EUNAUTHORIZED {
				t.Fatalf("error class %s: %v", c, err)
			}
			return
		}
		if !sign && q.Get("checksum") == "" && !strings.Contains(body, "checksum") {
			t.Fatalf("unsigned callback accepted: %+v", evs)
		}
		for _, ev := range evs {
			if !ev.Verified || core.ValidateOrderID(ev.OrderID) != nil || ev.EventID == "" || ev.AmountMinor < 0 || ev.AmountMinor > core.MaxAmountMinor {
				t.Fatalf("bad event %+v", ev)
			}
		}
	})
}
