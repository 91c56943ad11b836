package ameria

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/paysync/paysync/core"
	"github.com/paysync/paysync/providers"
	ameriasandbox "github.com/paysync/paysync/sandbox/ameria"
)

// bank is the double behind an httptest server that keeps every request
// body, by operation.
type bank struct {
	*ameriasandbox.Bank
	base    string // ends in /
	returns atomic.Int64
	backURL string
	mu      sync.Mutex
	bodies  map[string][][]byte
}

func newBank(t testing.TB, o ameriasandbox.Options) *bank {
	t.Helper()
	b := &bank{Bank: ameriasandbox.New(o), bodies: map[string][][]byte{}}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		b.mu.Lock()
		b.bodies[path.Base(r.URL.Path)] = append(b.bodies[path.Base(r.URL.Path)], body)
		b.mu.Unlock()
		r.Body = io.NopCloser(bytes.NewReader(body))
		b.Bank.ServeHTTP(w, r)
	}))
	back := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { b.returns.Add(1) }))
	t.Cleanup(func() { b.Close(); srv.Close(); back.Close() })
	b.base, b.backURL = srv.URL+"/", back.URL+"/webhooks/ameria/return"
	return b
}

func (b *bank) requests(op string) [][]byte {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([][]byte(nil), b.bodies[op]...)
}

// options are a provider's options for the double, with a store in memory.
func (b *bank) options() Options {
	return Options{BaseURL: b.base, ClientID: ameriasandbox.DefaultClientID, Username: ameriasandbox.DefaultUsername,
		Password: ameriasandbox.DefaultPassword, OrderIDs: Range{ameriasandbox.DefaultOrderFrom, ameriasandbox.DefaultOrderTo},
		BackURL: b.backURL, Store: newMemStore(), Timeout: 5 * time.Second}
}

func newProvider(t testing.TB, o Options) *Provider {
	t.Helper()
	p, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func order(id string, amount int64) core.Order {
	return core.Order{ID: id, AmountMinor: amount, Currency: "AMD", Provider: Name, Status: core.StatusPending}
}

// link creates o's payment link and returns o with it.
func link(t *testing.T, p *Provider, o core.Order) core.Order {
	t.Helper()
	l, err := p.CreateLink(context.Background(), o)
	if err != nil {
		t.Fatalf("link for %s: %v", o.ID, err)
	}
	o.PaymentURL, o.ProviderRef = l.URL, l.ProviderRef
	return o
}

func lookup(t *testing.T, p *Provider, o core.Order) core.PaymentEvent {
	t.Helper()
	ev, err := p.Lookup(context.Background(), o)
	if err != nil {
		t.Fatalf("lookup of %s: %v", o.ID, err)
	}
	if !ev.Verified || ev.Provider != Name || ev.OrderID != o.ID || ev.Source != core.SourceLookup {
		t.Fatalf("lookup event %+v", ev)
	}
	return ev
}

// TestInitPayment checks the request byte for byte, and that a retry of the
// same order sends exactly the same bytes and gets the same PaymentID.
func TestInitPayment(t *testing.T) {
	b := newBank(t, ameriasandbox.Options{})
	p := newProvider(t, b.options())
	o := order("IG-1001", 1500000)
	first, err := p.CreateLink(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"ClientID":"` + ameriasandbox.DefaultClientID + `","Amount":15000.00,"OrderID":2350301,"BackURL":"` + b.backURL +
		`","Username":"sandbox_api","Password":"sandbox-password","Description":"Order IG-1001","Currency":"051","Opaque":"IG-1001","Timeout":1200}`
	bodies := b.requests("InitPayment")
	if len(bodies) != 1 || string(bodies[0]) != want {
		t.Fatalf("InitPayment body\n got %s\nwant %s", bodies, want)
	}
	if first.URL != b.base+"Payments/Pay?id="+first.ProviderRef+"&lang=en" || first.ProviderRef != strings.ToUpper(first.ProviderRef) ||
		first.Note != "Ameriabank order number 2350301" {
		t.Fatalf("link %+v", first)
	}
	// The answer was lost; the same order again.
	again, err := p.CreateLink(context.Background(), o)
	if err != nil || again != first {
		t.Fatalf("retry: %+v %v, want %+v", again, err, first)
	}
	if bodies = b.requests("InitPayment"); len(bodies) != 2 || !bytes.Equal(bodies[0], bodies[1]) {
		t.Fatalf("the retry sent other bytes:\n%s\n%s", bodies[0], bodies[1])
	}
	if bp, _ := b.Payment("IG-1001"); bp.Inits != 2 || bp.OrderID != 2350301 || bp.Amount != 1500000 || len(b.Payments()) != 1 {
		t.Fatalf("the bank holds %+v", b.Payments())
	}
	// The next order gets the next number; the page opens in the language set.
	p2 := newProvider(t, func() Options { o := b.options(); o.Store = p.o.Store; o.Language = "am"; return o }())
	second, err := p2.CreateLink(context.Background(), order("IG-1002", 1))
	if err != nil || second.Note != "Ameriabank order number 2350302" || !strings.HasSuffix(second.URL, "&lang=am") {
		t.Fatalf("second link %+v %v", second, err)
	}
	if last := b.requests("InitPayment")[2]; !bytes.Contains(last, []byte(`"Amount":0.01,`)) {
		t.Fatalf("1 minor unit sent as %s", last)
	}
	// The page the link names is there, in that language.
	resp, err := http.Get(second.URL)
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !bytes.Contains(page, []byte(`lang="am"`)) {
		t.Fatalf("payment page %d: %s", resp.StatusCode, page)
	}
}

func TestDescriptionIsASCII(t *testing.T) {
	for in, want := range map[string]string{"IG-1001": "IG-1001", "Պատվեր-7": "??????-7", "Ä": "?"} {
		if got := asciiOnly(in); got != want {
			t.Errorf("asciiOnly(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestConcurrentLinks: two orders linked at once get different numbers.
func TestConcurrentLinks(t *testing.T) {
	b := newBank(t, ameriasandbox.Options{})
	o := b.options()
	var wg sync.WaitGroup
	links := make([]core.PaymentLink, 2)
	for i := range links {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var err error
			links[i], err = newProvider(t, o).CreateLink(context.Background(), order("CC-"+string(rune('A'+i)), 1000))
			if err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if links[0].Note == links[1].Note || links[0].ProviderRef == links[1].ProviderRef {
		t.Fatalf("two orders share a number: %+v", links)
	}
}

func TestCreateLinkRefusals(t *testing.T) {
	ctx := context.Background()
	b := newBank(t, ameriasandbox.Options{TestMode: true})
	// Wrong credentials: 20, an integer here.
	bad := b.options()
	bad.Password = "wrong-password"
	_, err := newProvider(t, bad).CreateLink(ctx, order("R-1", 1000))
	if core.ErrorCode(err) != core.EUNAUTHORIZED || !strings.Contains(core.ErrorMessage(err), "PAYSYNC_AMERIA_USERNAME") ||
		!strings.Contains(core.ErrorMessage(err), "PAYSYNC_AMERIA_PASSWORD") {
		t.Fatalf("bad credentials: %v", err)
	}
	p := newProvider(t, b.options())
	// Test mode takes exactly 10 AMD.
	_, err = p.CreateLink(ctx, order("R-2", 1500000))
	if core.ErrorCode(err) != core.EINVALID || !strings.Contains(core.ErrorMessage(err), "exactly 10 AMD") || !strings.Contains(core.ErrorMessage(err), "amount_minor 1000") {
		t.Fatalf("test-mode amount: %v", err)
	}
	if _, err := p.CreateLink(ctx, order("R-3", 1000)); err != nil {
		t.Fatalf("10 AMD in test mode: %v", err)
	}
	// A number outside the range the bank assigned.
	out := b.options()
	out.OrderIDs = Range{1, 5}
	_, err = newProvider(t, out).CreateLink(ctx, order("R-4", 1000))
	if core.ErrorCode(err) != core.EINVALID || !strings.Contains(core.ErrorMessage(err), "ResponseCode 510") {
		t.Fatalf("out of range: %v", err)
	}
	// HTTP 500 with ASP.NET's body.
	b.FailNext(1, 500)
	_, err = p.CreateLink(ctx, order("R-5", 1000))
	if core.ErrorCode(err) != core.EUNAVAILABLE || !strings.Contains(core.ErrorMessage(err), "An error has occurred.") || !strings.Contains(core.ErrorMessage(err), "HTTP 500") {
		t.Fatalf("HTTP 500: %v", err)
	}
	// and the retry (the order kept its number) goes through.
	if l, err := p.CreateLink(ctx, order("R-5", 1000)); err != nil || l.Note != "Ameriabank order number 2350303" {
		t.Fatalf("retry after a 500: %+v %v", l, err)
	}
	// A currency the bank does not list, before anything is numbered.
	if _, err := p.CreateLink(ctx, core.Order{ID: "R-6", AmountMinor: 1000, Currency: "GEL"}); core.ErrorCode(err) != core.EINVALID {
		t.Fatalf("GEL: %v", err)
	}
	if _, ok, _ := p.numbers.of(ctx, "R-6"); ok {
		t.Fatal("an order refused for its currency was numbered")
	}
}

func TestValidateOrder(t *testing.T) {
	p := newProvider(t, newBank(t, ameriasandbox.Options{}).options())
	for cur, ok := range map[string]bool{"AMD": true, "EUR": true, "USD": true, "RUB": true, "GEL": false, "JPY": false, "KZT": false, "": false} {
		err := p.ValidateOrder(core.Order{ID: "V-1", AmountMinor: 100, Currency: cur})
		if ok != (err == nil) || !ok && (core.ErrorCode(err) != core.EINVALID || !strings.Contains(core.ErrorMessage(err), "AMD, EUR, USD or RUB")) {
			t.Errorf("%q: %v", cur, err)
		}
	}
}

// TestLookupStates drives the double through every state and checks what
// the lookup makes of it.
func TestLookupStates(t *testing.T) {
	b := newBank(t, ameriasandbox.Options{})
	p := newProvider(t, b.options())
	paid := func(o core.Order) core.Order { o.Status = core.StatusPaid; return o }
	cases := []struct {
		name     string
		drive    func(id string) error
		o        func(core.Order) core.Order
		status   core.Status
		typ      string
		refunded int64
	}{
		{"0 started (page opened)", b.Open, nil, core.StatusPending, "payment_started", 0},
		{"1 approved is held, not paid", b.Hold, nil, core.StatusPending, "payment_approved", 0},
		{"2 deposited", b.Pay, nil, core.StatusPaid, "payment_deposited", 0},
		{"3 void before paysync saw it paid", func(id string) error { b.Pay(id); return b.Cancel(id) }, nil, core.StatusFailed, "payment_void", 0},
		{"3 void after paysync saw it paid", func(id string) error { b.Pay(id); return b.Cancel(id) }, paid, core.StatusRefunded, "payment_void", 1000},
		{"4 refunded in part", func(id string) error { b.Pay(id); return b.Refund(id, 400) }, paid, core.StatusRefunded, "payment_refunded", 400},
		{"4 refunded in full", func(id string) error { b.Pay(id); return b.Refund(id, 0) }, paid, core.StatusRefunded, "payment_refunded", 1000},
		{"5 3-D Secure", b.StartThreeDS, nil, core.StatusPending, "payment_autoauthorized", 0},
		{"6 declined", b.Fail, nil, core.StatusFailed, "payment_declined", 0},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			o := link(t, p, order("S-"+string(rune('a'+i)), 1000))
			if err := c.drive(o.ID); err != nil {
				t.Fatal(err)
			}
			if c.o != nil {
				o = c.o(o)
			}
			ev := lookup(t, p, o)
			if ev.Status != c.status || ev.Type != c.typ || ev.RefundedMinor != c.refunded || ev.ProviderRef != o.ProviderRef {
				t.Fatalf("event %+v", ev)
			}
			if c.status == core.StatusPaid || c.status == core.StatusRefunded {
				if ev.AmountMinor != 1000 || ev.Currency != "AMD" {
					t.Fatalf("amount %d %s, want 1000 AMD", ev.AmountMinor, ev.Currency)
				}
			}
			if ev.OccurredAt.IsZero() || ev.Precision != time.Second || time.Since(ev.OccurredAt).Abs() > time.Minute {
				t.Fatalf("occurred at %v (precision %v)", ev.OccurredAt, ev.Precision)
			}
			if !bytes.Contains(ev.Payload, []byte(`"OrderStatus"`)) {
				t.Fatalf("payload %s", ev.Payload)
			}
		})
	}
}

// TestPartialRefunds: 10 AMD paid, 4 refunded: the bank says 10/6/4, and
// the running total is 400 minor units; a second refund of 3 makes it 700.
func TestPartialRefunds(t *testing.T) {
	b := newBank(t, ameriasandbox.Options{})
	p := newProvider(t, b.options())
	o := link(t, p, order("PR-1", 1000))
	b.Pay(o.ID)
	b.Refund(o.ID, 400)
	o.Status = core.StatusPaid
	ev := lookup(t, p, o)
	for _, want := range []string{`"ApprovedAmount":10.0`, `"DepositedAmount":6.0`, `"RefundedAmount":4.0`, `"OrderStatus":"4"`, `"PaymentState":"payment_refunded"`} {
		if !bytes.Contains(ev.Payload, []byte(want)) {
			t.Fatalf("the bank's answer lacks %s: %s", want, ev.Payload)
		}
	}
	if ev.Status != core.StatusRefunded || ev.RefundedMinor != 400 || ev.AmountMinor != 1000 {
		t.Fatalf("after 4 of 10: %+v", ev)
	}
	if got := core.RefundStatus(ev.RefundedMinor, o.AmountMinor); got != core.StatusPartiallyRefunded {
		t.Fatalf("400 of 1000 refunded is %s", got)
	}
	b.Refund(o.ID, 300)
	if ev := lookup(t, p, o); ev.RefundedMinor != 700 {
		t.Fatalf("after a second refund: %+v", ev)
	}
	// Over the balance: the bank refuses, nothing changes.
	if err := b.Refund(o.ID, 301); err == nil || !strings.Contains(err.Error(), "Refund amount exceeds deposited amount") {
		t.Fatalf("over-refund: %v", err)
	}
}

func TestAmounts(t *testing.T) {
	for in, want := range map[string]int64{"10.0": 1000, "10": 1000, "10.00": 1000, "10.000": 1000, "0.01": 1, "15000.5": 1500050, "": 0} {
		if got, err := decimal(in).minor(2); err != nil || got != want {
			t.Errorf("%q: %d %v, want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"10.001", "1e3", "-1", "+1", ".5", "1.", "ten", "1,5", "99999999999999999999"} {
		if got, err := decimal(in).minor(2); err == nil {
			t.Errorf("%q read as %d", in, got)
		}
	}
	// Numbers and strings alike, straight from JSON.
	var d Details
	if err := json.Unmarshal([]byte(`{"ApprovedAmount":10.0,"RefundedAmount":"4.00","DepositedAmount":6}`), &d); err != nil {
		t.Fatal(err)
	}
	if a, _ := d.ApprovedAmount.minor(2); a != 1000 {
		t.Fatalf("10.0 -> %d", a)
	}
	if r, _ := d.RefundedAmount.minor(2); r != 400 {
		t.Fatalf(`"4.00" -> %d`, r)
	}
}

func TestEventFromDetails(t *testing.T) {
	o := order("E-1", 1000)
	d := func(status, state, currency string) *Details {
		return &Details{ResponseCode: "00", OrderID: "2350301", OrderStatus: flexString(status), PaymentState: flexString(state),
			ApprovedAmount: "10.0", Currency: flexString(currency), DateTime: "26/08/2026 17:29:07"}
	}
	ev, err := EventFromDetails(d("2", "payment_deposited", "051"), o)
	if err != nil || ev.Status != core.StatusPaid || ev.AmountMinor != 1000 || ev.Currency != "AMD" {
		t.Fatalf("paid: %+v %v", ev, err)
	}
	// DateTime is Yerevan time (UTC+4).
	if want := time.Date(2026, 8, 26, 13, 29, 7, 0, time.UTC); !ev.OccurredAt.Equal(want) {
		t.Fatalf("occurred at %v, want %v", ev.OccurredAt.UTC(), want)
	}
	if ev, err := EventFromDetails(d("", "payment_deposited", "051"), o); err != nil || ev.Status != core.StatusPaid {
		t.Fatalf("PaymentState alone: %+v %v", ev, err)
	}
	if ev, err := EventFromDetails(d("", "2", "051"), o); err != nil || ev.Status != core.StatusPaid {
		t.Fatalf("PaymentState as a number: %+v %v", ev, err)
	}
	if ev, err := EventFromDetails(d("9", "payment_something", "051"), o); err != nil || ev.Status != "" || ev.Type != "OrderStatus=9" {
		t.Fatalf("a state added later: %+v %v", ev, err)
	}
	if ev, err := EventFromDetails(&Details{OrderStatus: "6", PaymentState: "payment_declined", DateTime: "not a date"}, o); err != nil || ev.Status != core.StatusFailed || !ev.OccurredAt.IsZero() {
		t.Fatalf("declined without a date: %+v %v", ev, err)
	}
	for name, bad := range map[string]*Details{
		"status and state disagree": d("2", "payment_declined", "051"),
		"no state":                  d("", "", "051"),
		"paid without a currency":   d("2", "payment_deposited", ""),
		"unknown currency":          d("2", "payment_deposited", "999"),
		"status not a number":       d("two", "", "051"),
		"amount with 3 decimals":    {OrderStatus: "2", Currency: "051", ApprovedAmount: "10.005"},
	} {
		if _, err := EventFromDetails(bad, o); core.ErrorCode(err) != core.EUNAVAILABLE {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// TestNeverAttempted: a payment whose page nobody opened makes
// GetPaymentDetails fail (HTTP 500 or "550"), and so does a wrong password;
// GetPaymentId tells them apart.
func TestNeverAttempted(t *testing.T) {
	for _, answer := range []string{"500", "550"} {
		t.Run(answer, func(t *testing.T) {
			b := newBank(t, ameriasandbox.Options{NeverAttempted: answer})
			opts := b.options()
			p := newProvider(t, opts)
			o := link(t, p, order("NA-1", 1000))
			ev := lookup(t, p, o)
			if ev.Status != core.StatusPending || ev.Type != "no_payment_attempt" || ev.ProviderRef != o.ProviderRef {
				t.Fatalf("never attempted: %+v", ev)
			}
			if n := len(b.requests("GetPaymentId")); n != 1 {
				t.Fatalf("%d GetPaymentId calls, want 1 to check the credentials", n)
			}
			// The same answer, with a wrong password: the credentials are blamed.
			bad := opts
			bad.Password = "not-the-password"
			_, err := newProvider(t, bad).Lookup(context.Background(), o)
			if core.ErrorCode(err) != core.EUNAUTHORIZED || !strings.Contains(core.ErrorMessage(err), "PAYSYNC_AMERIA_PASSWORD") {
				t.Fatalf("wrong password on an unattempted payment: %v", err)
			}
			// A paid order read with a wrong password: "550" too, then 20.
			b.Pay(o.ID)
			_, err = newProvider(t, bad).Lookup(context.Background(), o)
			if core.ErrorCode(err) != core.EUNAUTHORIZED {
				t.Fatalf("wrong password on a paid order: %v", err)
			}
			if ev := lookup(t, p, o); ev.Status != core.StatusPaid {
				t.Fatalf("paid: %+v", ev)
			}
		})
	}
}

// TestLookupRecoversPaymentID: InitPayment's answer was lost, so the order
// has no reference; GetPaymentId gives it (in lower case).
func TestLookupRecoversPaymentID(t *testing.T) {
	b := newBank(t, ameriasandbox.Options{})
	p := newProvider(t, b.options())
	o := link(t, p, order("LR-1", 1000))
	ref := o.ProviderRef
	b.Pay(o.ID)
	o.ProviderRef, o.PaymentURL = "", ""
	ev := lookup(t, p, o)
	if ev.Status != core.StatusPaid || ev.ProviderRef != ref {
		t.Fatalf("event %+v, want paid with reference %s", ev, ref)
	}
	// An order never numbered was never sent: pending, no call to the bank.
	before := len(b.requests("GetPaymentDetails"))
	if ev := lookup(t, p, order("LR-2", 1000)); ev.Status != core.StatusPending || len(b.requests("GetPaymentDetails")) != before {
		t.Fatalf("unnumbered order: %+v", ev)
	}
}

// TestLookupOfAnotherOrder: an answer about another order number is an
// error, never applied.
func TestLookupOfAnotherOrder(t *testing.T) {
	b := newBank(t, ameriasandbox.Options{})
	p := newProvider(t, b.options())
	a := link(t, p, order("X-1", 1000))
	other := link(t, p, order("X-2", 1000))
	b.Pay(other.ID)
	a.ProviderRef = other.ProviderRef // a mix-up, or a reference someone edited
	_, err := p.Lookup(context.Background(), a)
	if core.ErrorCode(err) != core.EUNAVAILABLE || !strings.Contains(core.ErrorMessage(err), "order number 2350302") {
		t.Fatalf("answer about another order: %v", err)
	}
	// With an unknown PaymentID the bank says "550", and GetPaymentId names another one.
	x3 := link(t, p, order("X-3", 1000))
	b.Open(x3.ID)
	x3.ProviderRef = "00000000-0000-4000-8000-000000000000"
	if _, err := p.Lookup(context.Background(), x3); core.ErrorCode(err) != core.EUNAVAILABLE || !strings.Contains(core.ErrorMessage(err), "not 00000000") {
		t.Fatalf("an unknown PaymentID: %v", err)
	}
	// The same mix-up when paysync lost X-1's number: X-2's number is not X-1's.
	p.numbers.store.(*memStore).m = map[string]memValue{Name + "\x00number/2350302": {"X-2", 1}}
	if _, err := p.Lookup(context.Background(), a); core.ErrorCode(err) != core.EUNAVAILABLE || !strings.Contains(core.ErrorMessage(err), "never gave") {
		t.Fatalf("without the number: %v", err)
	}
}

func TestBankDown(t *testing.T) {
	b := newBank(t, ameriasandbox.Options{})
	o := b.options()
	o.Timeout = 200 * time.Millisecond
	p := newProvider(t, o)
	ord := link(t, p, order("D-1", 1000))
	b.Pay(ord.ID)
	for name, fault := range map[string]func(){"503": func() { b.FailNext(1, 503) }, "hang": func() { b.HangNext(1) }} {
		fault()
		if _, err := p.Lookup(context.Background(), ord); core.ErrorCode(err) != core.EUNAVAILABLE {
			t.Errorf("%s: %v", name, err)
		}
	}
	down := b.options()
	down.BaseURL = "http://127.0.0.1:1/VPOS/"
	if _, err := newProvider(t, down).Lookup(context.Background(), ord); core.ErrorCode(err) != core.EUNAVAILABLE || !strings.Contains(core.ErrorMessage(err), "cannot reach Ameriabank") {
		t.Fatalf("unreachable: %v", err)
	}
}

func TestReturnOrderID(t *testing.T) {
	b := newBank(t, ameriasandbox.Options{})
	p := newProvider(t, b.options())
	o := link(t, p, order("RT-1", 1000))
	lower := strings.ToLower(o.ProviderRef)
	cases := []struct {
		query string
		want  string
	}{
		{"orderID=2350301&resposneCode=00&paymentID=" + lower + "&opaque=RT-1&description=Operation+Approved+", "RT-1"},
		{"orderID=2350301&resposneCode=0116&paymentID=" + lower + "&opaque=RT-1", "RT-1"},
		{"ORDERID=2350301&Opaque=RT-1", "RT-1"},
		// The bank garbled the opaque: the order number says whose it is.
		{"orderID=2350301&opaque=%C2%BF%C2%BF-1", "RT-1"},
		{"orderID=999&opaque=%C2%BF%C2%BF-1", "¿¿-1"},
		{"order_id=RT-1", "RT-1"},
		{"paymentID=" + lower, ""},
	}
	for _, c := range cases {
		q, _ := url.ParseQuery(c.query)
		if got := p.ReturnOrderID(q); got != c.want {
			t.Errorf("%s: %q, want %q", c.query, got, c.want)
		}
	}
}

// TestCardNumbersMasked: nothing journaled shows a whole card number.
func TestCardNumbersMasked(t *testing.T) {
	in := []byte(`{"CardNumber":"408306**3143","Description":"card 4111111111111111 and 4111 1111 1111 1111","MDOrderID":"400000000001","OrderID":"2350301","TerminalId":"1234567890123"}`)
	got := string(maskCardNumbers(in))
	want := `{"CardNumber":"408306**3143","Description":"card 411111******1111 and 411111******1111","MDOrderID":"400000000001","OrderID":"2350301","TerminalId":"1234567890123"}`
	if got != want {
		t.Fatalf("masked\n got %s\nwant %s", got, want)
	}
	// What the double sends is masked already; the lookup keeps it so.
	b := newBank(t, ameriasandbox.Options{})
	p := newProvider(t, b.options())
	o := link(t, p, order("CN-1", 1000))
	b.Pay(o.ID)
	if ev := lookup(t, p, o); !bytes.Contains(ev.Payload, []byte(`"CardNumber":"408306**3143"`)) {
		t.Fatalf("payload %s", ev.Payload)
	}
}

// TestPasswordNeverLeaks drives the error paths with a bank that echoes
// the password and checks no error carries it.
func TestPasswordNeverLeaks(t *testing.T) {
	const password = "s3cr3t-Ameria-Pa55"
	echo := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch path.Base(r.URL.Path) {
		case "InitPayment":
			io.WriteString(w, `{"PaymentID":"","ResponseCode":510,"ResponseMessage":"bad Password `+password+`"}`)
		case "GetPaymentId":
			io.WriteString(w, `{"PaymentId":"","ResponseMessage":"Incorrect `+password+`","ResponseCode":"20"}`)
		default:
			w.WriteHeader(500)
			io.WriteString(w, `{"Message":"An error has occurred: `+password+`"}`)
		}
	}))
	defer echo.Close()
	b := newBank(t, ameriasandbox.Options{Password: password})
	o := b.options()
	o.Password = password
	echoing := o
	echoing.BaseURL = echo.URL + "/VPOS/"
	wrong := o
	wrong.Password = password + "x"
	ctx := context.Background()
	var errs []error
	for _, opts := range []Options{echoing, wrong} {
		p := newProvider(t, opts)
		_, err := p.CreateLink(ctx, order("PW-1", 1000))
		errs = append(errs, err)
		_, err = p.Lookup(ctx, core.Order{ID: "PW-1", ProviderRef: "ABC"})
		errs = append(errs, err)
	}
	// PW-1 was numbered by the first CreateLink: a lookup goes on to GetPaymentId.
	_, err := newProvider(t, o).Lookup(ctx, core.Order{ID: "PW-1", ProviderRef: "ABC"})
	errs = append(errs, err)
	if n := len(b.requests("GetPaymentId")); n == 0 {
		t.Fatal("GetPaymentId was not reached")
	}
	for i, err := range errs {
		if err == nil {
			t.Fatalf("error %d is nil", i)
		}
		if strings.Contains(err.Error(), password) || strings.Contains(core.ErrorMessage(err), password) {
			t.Fatalf("error %d leaks the password: %v", i, err)
		}
	}
	if _, err := New(Options{BaseURL: "ftp://x", ClientID: "c", Username: "u", Password: password}); err == nil || strings.Contains(err.Error(), password) {
		t.Fatalf("New: %v", err)
	}
}

func TestNoWebhooks(t *testing.T) {
	p := newProvider(t, newBank(t, ameriasandbox.Options{}).options())
	c := p.Capabilities()
	if !c.NoWebhooks || !c.RefundsByLookup || !c.LooksUp || !c.CreatesLinks || c.ConfirmsByLookup || c.Title != "Ameriabank vPOS" {
		t.Fatalf("capabilities %+v", c)
	}
	if _, err := p.Verify(context.Background(), core.InboundRequest{Method: "POST", Body: []byte(`{}`)}); err == nil {
		t.Fatal("a webhook verified")
	}
}

func TestNew(t *testing.T) {
	base := Options{ClientID: "c", Username: "u", Password: "p", OrderIDs: Range{1, 2}, BackURL: "https://pay.example.am/webhooks/ameria/return"}
	p, err := New(base)
	if err != nil || p.base != LiveBaseURL || p.o.Language != "en" || p.o.SessionTimeout != 20*time.Minute {
		t.Fatalf("defaults: %+v %v", p, err)
	}
	for name, c := range map[string]struct {
		mod   func(*Options)
		field string
	}{
		"no client id":          {func(o *Options) { o.ClientID = "" }, "client_id"},
		"no password":           {func(o *Options) { o.Password = "" }, "password"},
		"no range":              {func(o *Options) { o.OrderIDs = Range{} }, "order_ids"},
		"base not http":         {func(o *Options) { o.BaseURL = "services.ameriabank.am" }, "base_url"},
		"hy is not the bank's":  {func(o *Options) { o.Language = "hy" }, "language"},
		"session too long":      {func(o *Options) { o.SessionTimeout = time.Hour }, "session_timeout"},
		"back URL with a query": {func(o *Options) { o.BackURL += "?order_id=1" }, ""},
	} {
		o := base
		c.mod(&o)
		_, err := New(o)
		if core.ErrorCode(err) != core.EINVALID || core.ErrorField(err) != c.field {
			t.Errorf("%s: %v (field %q)", name, err, core.ErrorField(err))
		}
	}
}

func TestSettings(t *testing.T) {
	problems := func(s *Settings) map[string]string {
		out := map[string]string{}
		s.Validate(func(key, reason string) { out[key] = reason })
		return out
	}
	s := DefaultSettings()
	if s.Enabled() || len(problems(s)) != 0 || s.BaseURL != "https://services.ameriabank.am/VPOS/" {
		t.Fatalf("defaults: %+v %v", s, problems(s))
	}
	s.ClientID, s.Username, s.Password = "c", "u", "p"
	if !s.Enabled() {
		t.Fatal("not enabled by the three credentials")
	}
	if p := problems(s)["order_ids"]; !strings.Contains(p, "PAYSYNC_AMERIA_ORDER_IDS") || !strings.Contains(p, ExampleRange) || !strings.Contains(p, "assigned") {
		t.Fatalf("missing range: %q", p)
	}
	for _, bad := range []string{"2350400-2350301", "2350301", "0-5", "a-b"} {
		s.OrderIDs = bad
		if p := problems(s)["order_ids"]; !strings.Contains(p, ExampleRange) {
			t.Errorf("%q: %q", bad, p)
		}
	}
	s.OrderIDs, s.Language, s.BaseURL = "2350301-2350400", "hy", "ftp://x"
	ps := problems(s)
	if ps["language"] == "" || ps["base_url"] == "" || ps["order_ids"] != "" {
		t.Fatalf("problems %v", ps)
	}
	// Built as serve builds it: the return page has no query string.
	s.Language, s.BaseURL = "en", TestBaseURL
	spec, ok := providers.Lookup(Name)
	if !ok || spec.Title != "Ameriabank vPOS" || !strings.Contains(spec.Enable, "PAYSYNC_AMERIA_ORDER_IDS") {
		t.Fatalf("registration %+v", spec)
	}
	pr, err := spec.New(context.Background(), providers.Deps{Settings: s, PublicURL: "https://pay.example.am"})
	if err != nil {
		t.Fatal(err)
	}
	if got := pr.(*Provider).o.BackURL; got != "https://pay.example.am/webhooks/ameria/return" {
		t.Fatalf("BackURL %q", got)
	}
	// Without a database (config check) it builds, and says why it cannot number orders.
	if _, err := pr.CreateLink(context.Background(), order("NS-1", 1000)); core.ErrorCode(err) != core.EUNAVAILABLE || !strings.Contains(core.ErrorMessage(err), "no database") {
		t.Fatalf("without a store: %v", err)
	}
}

func TestCheck(t *testing.T) {
	b := newBank(t, ameriasandbox.Options{})
	s := DefaultSettings()
	s.BaseURL, s.ClientID, s.Username, s.Password, s.OrderIDs = b.base, b.ClientID(), b.Username(), "sandbox-password", b.OrderRange()
	spec, _ := providers.Lookup(Name)
	var out bytes.Buffer
	probs, err := spec.Check(context.Background(), providers.Deps{Settings: s, PublicURL: "http://127.0.0.1:8080"}, &out)
	if err != nil || len(probs) != 0 || !strings.Contains(out.String(), "the credentials work") {
		t.Fatalf("good credentials: %v %v %q", probs, err, out.String())
	}
	if reqs := b.requests("GetPaymentId"); len(reqs) != 1 || !bytes.Contains(reqs[0], []byte(`"OrderID":2350300`)) {
		t.Fatalf("check asked %s", reqs)
	}
	s.Password = "wrong"
	probs, err = spec.Check(context.Background(), providers.Deps{Settings: s, PublicURL: "http://127.0.0.1:8080"}, &out)
	if err != nil || len(probs) != 1 || !strings.Contains(probs[0], "PAYSYNC_AMERIA_PASSWORD") {
		t.Fatalf("bad credentials: %v %v", probs, err)
	}
}
