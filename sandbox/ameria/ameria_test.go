package ameria_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/paysync/paysync/sandbox/ameria"
)

// merchant is the double behind a server, and a shop's return page that
// records the buyers' visits.
type merchant struct {
	*ameria.Bank
	base   string
	back   string
	mu     sync.Mutex
	visits []url.Values
}

func setup(t *testing.T, o ameria.Options) *merchant {
	t.Helper()
	m := &merchant{}
	shop := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		m.mu.Lock()
		m.visits = append(m.visits, r.URL.Query())
		m.mu.Unlock()
	}))
	m.Bank = ameria.New(o)
	srv := httptest.NewServer(m.Bank)
	t.Cleanup(func() { m.Close(); srv.Close(); shop.Close() })
	m.base, m.back = srv.URL, shop.URL+"/webhooks/ameria/return"
	return m
}

// call posts a JSON body to the API and returns the status and the raw answer.
func (m *merchant) call(t *testing.T, op string, body map[string]any) (int, []byte) {
	t.Helper()
	b, _ := json.Marshal(body)
	resp, err := http.Post(m.base+"/api/VPOS/"+op, "application/json", bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, raw
}

func creds(extra map[string]any) map[string]any {
	m := map[string]any{"ClientID": ameria.DefaultClientID, "Username": ameria.DefaultUsername, "Password": ameria.DefaultPassword}
	for k, v := range extra {
		m[k] = v
	}
	return m
}

func (m *merchant) initPayment(t *testing.T, orderID int64, amount any, opaque string) map[string]any {
	t.Helper()
	_, raw := m.call(t, "InitPayment", creds(map[string]any{"Amount": amount, "OrderID": orderID, "BackURL": m.back,
		"Description": "Order " + opaque, "Currency": "051", "Opaque": opaque, "Timeout": 1200}))
	var a map[string]any
	json.Unmarshal(raw, &a)
	return a
}

var guidUpper = regexp.MustCompile(`^[0-9A-F]{8}-[0-9A-F]{4}-4[0-9A-F]{3}-[89AB][0-9A-F]{3}-[0-9A-F]{12}$`)

func TestInitPayment(t *testing.T) {
	m := setup(t, ameria.Options{})
	_, raw := m.call(t, "InitPayment", creds(map[string]any{"Amount": 10.0, "OrderID": 2350301, "BackURL": m.back, "Description": "Order IG-1", "Opaque": "IG-1"}))
	if !regexp.MustCompile(`^\{"PaymentID":"[0-9A-F-]{36}","ResponseCode":1,"ResponseMessage":"OK"\}\n$`).Match(raw) {
		t.Fatalf("answer %s", raw)
	}
	var a struct{ PaymentID string }
	json.Unmarshal(raw, &a)
	if !guidUpper.MatchString(a.PaymentID) {
		t.Fatalf("PaymentID %q", a.PaymentID)
	}
	if p, _ := m.Payment("IG-1"); p.Currency != "051" || p.Amount != 1000 {
		t.Fatalf("without a Currency: %+v", p)
	}
	// The same OrderID again: the same PaymentID, the later parameters win.
	again := m.initPayment(t, 2350301, "12.50", "IG-1-again")
	if again["PaymentID"] != a.PaymentID || again["ResponseCode"] != 1.0 {
		t.Fatalf("repeat: %v", again)
	}
	if p, ok := m.Payment("IG-1-again"); !ok || p.Amount != 1250 || p.Inits != 2 || len(m.Payments()) != 1 {
		t.Fatalf("after the repeat: %+v", m.Payments())
	}
	cases := []struct {
		name string
		body map[string]any
		code float64
	}{
		{"wrong password", map[string]any{"Password": "nope"}, 20},
		{"wrong client", map[string]any{"ClientID": "nope"}, 20},
		{"outside the range", map[string]any{"OrderID": 2350401}, 510},
		{"OrderID a string", map[string]any{"OrderID": "2350302"}, 510},
		{"three decimals", map[string]any{"Amount": 10.005}, 50},
		{"negative", map[string]any{"Amount": -10}, 50},
		{"unknown currency", map[string]any{"Currency": "999"}, 3},
		{"no description", map[string]any{"Description": ""}, 510},
	}
	for _, c := range cases {
		body := creds(map[string]any{"Amount": "10.00", "OrderID": 2350302, "BackURL": m.back, "Description": "x", "Currency": "840", "Opaque": "x"})
		for k, v := range c.body {
			body[k] = v
		}
		status, raw := m.call(t, "InitPayment", body)
		var got map[string]any
		json.Unmarshal(raw, &got)
		// Failures are HTTP 200 with an integer code and no PaymentID.
		if status != 200 || got["ResponseCode"] != c.code || got["PaymentID"] != "" {
			t.Errorf("%s: %d %s", c.name, status, raw)
		}
	}
	// Test mode: exactly 10 AMD.
	tm := setup(t, ameria.Options{TestMode: true, AnyOrderID: true})
	if got := tm.initPayment(t, 7, 11, "T-1"); got["ResponseCode"] != 560.0 || got["ResponseMessage"] != "In test mode amount must be 10 AMD" {
		t.Fatalf("test mode: %v", got)
	}
	if got := tm.initPayment(t, 7, "10.00", "T-1"); got["ResponseCode"] != 1.0 {
		t.Fatalf("10 AMD in test mode: %v", got)
	}
}

func TestPaymentDetails(t *testing.T) {
	now := time.Date(2026, 8, 26, 13, 29, 7, 0, time.UTC)
	m := setup(t, ameria.Options{Now: func() time.Time { return now }})
	id := m.initPayment(t, 2350301, 10, "IG-7")["PaymentID"].(string)
	details := func(pass string) (int, []byte) {
		return m.call(t, "GetPaymentDetails", map[string]any{"PaymentID": strings.ToLower(id), "Username": ameria.DefaultUsername, "Password": pass})
	}
	// Never attempted: ASP.NET's fault, whatever the credentials.
	for _, pass := range []string{ameria.DefaultPassword, "wrong"} {
		if status, raw := details(pass); status != 500 || string(raw) != `{"Message":"An error has occurred."}`+"\n" {
			t.Fatalf("never attempted (%s): %d %s", pass, status, raw)
		}
	}
	m.SetNeverAttempted("550")
	if status, raw := details(ameria.DefaultPassword); status != 200 || !bytes.Contains(raw, []byte(`"ResponseCode":"550"`)) {
		t.Fatalf("never attempted, 550: %d %s", status, raw)
	}
	if err := m.Pay("IG-7"); err != nil {
		t.Fatal(err)
	}
	status, raw := details(ameria.DefaultPassword)
	want := `{"Amount":10.0,"ApprovedAmount":10.0,"ApprovalCode":"123456","CardNumber":"408306**3143","ClientName":"SANDBOX BUYER","ClientEmail":"",` +
		`"Currency":"051","DateTime":"26/08/2026 17:29:07","DepositedAmount":10.0,"Description":"Approved. - Payment post authorized",` +
		`"MDOrderID":"400000000001","MerchantId":"SANDBOX0051","TerminalId":"SBX00051","OrderID":"2350301","PaymentState":"payment_deposited",` +
		`"PaymentType":5,"PrimaryRC":"00","ResponseCode":"00","ExpDate":"202812","ProcessingIP":"127.0.0.1","OrderStatus":"2","CardHolderID":"",` +
		`"BindingID":"","RefundedAmount":0.0,"Opaque":"IG-7","TrxnDescription":"Order IG-7","rrn":"400000000001","ActionCode":"0",` +
		`"ExchangeRate":0.0,"BankInfo":{"BankName":"","BankCountryCode":"AM","BankCountryName":"Armenia"}}` + "\n"
	if status != 200 || string(raw) != want {
		t.Fatalf("details\n got %d %s\nwant %s", status, raw, want)
	}
	// A wrong password on a paid order: "550", System Error, every string
	// empty, no ResponseMessage.
	_, raw = details("wrong")
	var bad map[string]any
	json.Unmarshal(raw, &bad)
	if bad["ResponseCode"] != "550" || bad["Description"] != "System Error" || bad["OrderID"] != "" || bad["CardNumber"] != "" {
		t.Fatalf("wrong password: %s", raw)
	}
	if _, has := bad["ResponseMessage"]; has {
		t.Fatal("GetPaymentDetails has no ResponseMessage")
	}
	// No number anywhere is a whole card number.
	if regexp.MustCompile(`\d{13,}`).Match(raw) {
		t.Fatalf("a long number in %s", raw)
	}
}

func TestPaymentID(t *testing.T) {
	m := setup(t, ameria.Options{})
	id := m.initPayment(t, 2350301, 10, "IG-8")["PaymentID"].(string)
	_, raw := m.call(t, "GetPaymentId", creds(map[string]any{"OrderID": 2350301}))
	if string(raw) != `{"PaymentId":"`+strings.ToLower(id)+`","ResponseMessage":"","ResponseCode":"00"}`+"\n" {
		t.Fatalf("answer %s", raw)
	}
	_, raw = m.call(t, "GetPaymentId", creds(map[string]any{"OrderID": 2350301, "Password": "wrong"}))
	if !bytes.Contains(raw, []byte(`"ResponseCode":"20"`)) {
		t.Fatalf("wrong password: %s", raw)
	}
	_, raw = m.call(t, "GetPaymentId", creds(map[string]any{"OrderID": 1}))
	if !bytes.Contains(raw, []byte(`"ResponseCode":"06"`)) {
		t.Fatalf("unknown order: %s", raw)
	}
}

func TestRefundAndCancel(t *testing.T) {
	now := time.Now()
	m := setup(t, ameria.Options{Now: func() time.Time { return now }})
	op := func(name, id string, amount any) map[string]any {
		body := map[string]any{"PaymentID": id, "Username": ameria.DefaultUsername, "Password": ameria.DefaultPassword}
		if amount != nil {
			body["Amount"] = amount
		}
		_, raw := m.call(t, name, body)
		var a map[string]any
		json.Unmarshal(raw, &a)
		return a
	}
	id := m.initPayment(t, 2350301, 10, "IG-9")["PaymentID"].(string)
	if a := op("RefundPayment", id, 4); a["ResponseCode"] != "07" {
		t.Fatalf("refund of an unpaid payment: %v", a)
	}
	m.Pay("IG-9")
	if a := op("RefundPayment", id, 4.0); a["ResponseCode"] != "00" || a["ResponseMessage"] != "Success" || a["Opaque"] != "IG-9" {
		t.Fatalf("refund: %v", a)
	}
	if a := op("RefundPayment", id, "3"); a["ResponseCode"] != "00" {
		t.Fatalf("second refund: %v", a)
	}
	if a := op("RefundPayment", id, 3.01); a["ResponseCode"] != "07" || a["ResponseMessage"] != "Refund amount exceeds deposited amount" {
		t.Fatalf("over the balance: %v", a)
	}
	if p, _ := m.Payment("IG-9"); p.State != ameria.StateRefunded || p.Approved != 1000 || p.Deposited != 300 || p.Refunded != 700 {
		t.Fatalf("after refunds: %+v", p)
	}
	if a := op("CancelPayment", id, nil); a["ResponseCode"] != "07" || a["ResponseMessage"] != "Reversal is impossible for current transaction state" {
		t.Fatalf("cancel after a refund: %v", a)
	}
	// Cancel: within 72 hours only.
	id2 := m.initPayment(t, 2350302, 10, "IG-10")["PaymentID"].(string)
	m.Pay("IG-10")
	now = now.Add(73 * time.Hour)
	if a := op("CancelPayment", id2, nil); a["ResponseCode"] != "07" {
		t.Fatalf("cancel after 73h: %v", a)
	}
	now = now.Add(-2 * time.Hour)
	if a := op("CancelPayment", id2, nil); a["ResponseCode"] != "00" {
		t.Fatalf("cancel within 72h: %v", a)
	}
	if p, _ := m.Payment("IG-10"); p.State != ameria.StateVoid {
		t.Fatalf("cancelled: %+v", p)
	}
	if a := op("RefundPayment", id, 1); a["ResponseCode"] != "00" {
		t.Fatalf("refund of the rest: %v", a)
	}
	if a := op("CancelPayment", "nope", nil); a["ResponseCode"] != "550" {
		t.Fatalf("unknown payment: %v", a)
	}
	bad := map[string]any{"PaymentID": id, "Username": ameria.DefaultUsername, "Password": "wrong", "Amount": 1}
	if _, raw := m.call(t, "RefundPayment", bad); !bytes.Contains(raw, []byte(`"ResponseCode":"20"`)) {
		t.Fatalf("wrong password: %s", raw)
	}
}

// TestBuyer: the payment page, paying on it, and the browser sent back to
// the BackURL with the bank's parameters.
func TestBuyer(t *testing.T) {
	m := setup(t, ameria.Options{})
	id := m.initPayment(t, 2350301, 10, "IG-11")["PaymentID"].(string)
	resp, err := http.Get(m.base + "/Payments/Pay?id=" + id + "&lang=hy")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 400 {
		t.Fatalf("lang=hy: %d", resp.StatusCode)
	}
	resp, err = http.Get(m.base + "/Payments/Pay?id=" + strings.ToLower(id) + "&lang=ru")
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !bytes.Contains(page, []byte(`<button name="action" value="pay">`)) {
		t.Fatalf("page %d %s", resp.StatusCode, page)
	}
	// The form: a browser that does not follow the redirect sees where it goes.
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err = noFollow.PostForm(m.base+"/Payments/Pay", url.Values{"id": {id}, "lang": {"ru"}, "action": {"pay"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	want := m.back + "?orderID=2350301&resposneCode=00&paymentID=" + strings.ToLower(id) + "&opaque=IG-11&description=Operation+Approved+"
	if resp.StatusCode != 303 || resp.Header.Get("Location") != want {
		t.Fatalf("redirect %d to %q, want %q", resp.StatusCode, resp.Header.Get("Location"), want)
	}
	if p, _ := m.Payment("IG-11"); p.State != ameria.StateDeposited || p.Deposited != 1000 {
		t.Fatalf("paid on the page: %+v", p)
	}
	// Go controls send the browser themselves.
	m.initPayment(t, 2350302, 10, "IG-12")
	if err := m.Fail("IG-12"); err != nil {
		t.Fatal(err)
	}
	if err := m.Pay("IG-12"); err == nil {
		t.Fatal("a declined payment was paid")
	}
	m.initPayment(t, 2350303, 10, "IG-13")
	if err := m.ReturnForged("IG-13"); err != nil {
		t.Fatal(err)
	}
	if p, _ := m.Payment("IG-13"); p.State != ameria.StateStarted || p.Attempted {
		t.Fatalf("a forged return changed the payment: %+v", p)
	}
	m.mu.Lock()
	visits := m.visits
	m.mu.Unlock()
	if len(visits) != 2 || visits[0].Get("resposneCode") != "0116" || visits[0].Get("opaque") != "IG-12" ||
		visits[1].Get("resposneCode") != "00" || visits[1].Get("orderID") != "2350303" || visits[1].Get("paymentID") != strings.ToLower(visits[1].Get("paymentID")) {
		t.Fatalf("visits %v", visits)
	}
	if r := m.Returns(); len(r) != 2 || !r[1].Forged || r[0].Status != 200 {
		t.Fatalf("returns %+v", r)
	}
}

// TestBackURLWithQuery: a BackURL that has a query gets the bank's
// parameters joined with "&" (the double's reading; unconfirmed).
func TestBackURLWithQuery(t *testing.T) {
	m := setup(t, ameria.Options{})
	m.back += "?shop=1"
	m.initPayment(t, 2350301, 10, "IG-14")
	m.Pay("IG-14")
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.visits) != 1 || m.visits[0].Get("shop") != "1" || m.visits[0].Get("orderID") != "2350301" {
		t.Fatalf("visits %v", m.visits)
	}
}

func TestControlsAndFaults(t *testing.T) {
	m := setup(t, ameria.Options{})
	m.initPayment(t, 2350301, 10, "IG-15")
	post := func(path, body string) (int, string) {
		resp, err := http.Post(m.base+path, "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := post("/_sandbox/orders/IG-15/pay", ""); code != 200 || !strings.Contains(body, `"order_status":2`) {
		t.Fatalf("pay: %d %s", code, body)
	}
	if code, body := post("/_sandbox/orders/IG-15/refund?amount=250", ""); code != 200 || !strings.Contains(body, `"refunded_minor":250`) {
		t.Fatalf("refund: %d %s", code, body)
	}
	if code, _ := post("/_sandbox/orders/IG-15/pay", ""); code != 409 {
		t.Fatalf("paying twice: %d", code)
	}
	if code, _ := post("/_sandbox/orders/nope/pay", ""); code != 409 {
		t.Fatalf("unknown order: %d", code)
	}
	if code, _ := post("/_sandbox/faults", `{"fail_next":1,"status":502}`); code != 200 {
		t.Fatal("faults")
	}
	if status, _ := m.call(t, "GetPaymentId", creds(map[string]any{"OrderID": 2350301})); status != 502 {
		t.Fatalf("injected 502: %d", status)
	}
	m.FailNext(1, 500)
	if status, raw := m.call(t, "GetPaymentId", creds(map[string]any{"OrderID": 2350301})); status != 500 || !bytes.Contains(raw, []byte("An error has occurred.")) {
		t.Fatalf("injected 500: %d %s", status, raw)
	}
	if s := m.Stats(); s.Injected != 2 {
		t.Fatalf("stats %+v", s)
	}
	resp, err := http.Get(m.base + "/_sandbox/payments")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(b), `"opaque":"IG-15"`) {
		t.Fatalf("payments %s", b)
	}
}
