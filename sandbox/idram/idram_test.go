package idram_test

import (
	"crypto/md5"
	"encoding/hex"
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

	provider "github.com/paysync/paysync/providers/idram"
	"github.com/paysync/paysync/sandbox/idram"
)

// merchant is a RESULT_URL that records what Idram sends and answers as
// told (200 "OK" by default).
type merchant struct {
	mu     sync.Mutex
	got    []url.Values
	answer func(f url.Values) (int, string)
}

func (m *merchant) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("Content-Type") != "application/x-www-form-urlencoded" || r.Method != http.MethodPost {
		http.Error(w, "not a form POST", http.StatusBadRequest)
		return
	}
	r.ParseForm()
	m.mu.Lock()
	m.got = append(m.got, r.PostForm)
	answer := m.answer
	m.mu.Unlock()
	status, body := 200, "OK"
	if answer != nil {
		status, body = answer(r.PostForm)
	}
	w.WriteHeader(status)
	io.WriteString(w, body)
}

func (m *merchant) calls() []url.Values {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]url.Values(nil), m.got...)
}

func (m *merchant) set(f func(url.Values) (int, string)) {
	m.mu.Lock()
	m.answer = f
	m.mu.Unlock()
}

// answers answers prechecks OK and confirmations with status and body.
func answers(status int, body string) func(url.Values) (int, string) {
	return func(f url.Values) (int, string) {
		if f.Get("EDP_PRECHECK") == "YES" {
			return 200, "OK"
		}
		return status, body
	}
}

func setup(t *testing.T, o idram.Options) (*idram.Double, *httptest.Server, *merchant) {
	t.Helper()
	m := &merchant{}
	ms := httptest.NewServer(m)
	t.Cleanup(ms.Close)
	if o.ResultURL == "" {
		o.ResultURL = ms.URL + "/webhooks/idram"
	}
	o.Now = func() time.Time { return time.Date(2025, 2, 1, 21, 30, 0, 0, time.UTC) } // 2 Feb 01:30 in Yerevan
	d := idram.New(o)
	srv := httptest.NewServer(d)
	t.Cleanup(func() { d.Close(); srv.Close() })
	return d, srv, m
}

func checkoutForm(bill, amount string) url.Values {
	return url.Values{"EDP_LANGUAGE": {"EN"}, "EDP_REC_ACCOUNT": {idram.DefaultAccount}, "EDP_DESCRIPTION": {"Order description"},
		"EDP_AMOUNT": {amount}, "EDP_BILL_NO": {bill}}
}

func post(t *testing.T, u string, form url.Values) (int, string) {
	t.Helper()
	resp, err := http.PostForm(u, form)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func md5hex(s string) string {
	sum := md5.Sum([]byte(s))
	return strings.ToUpper(hex.EncodeToString(sum[:]))
}

func TestCheckoutAndPay(t *testing.T) {
	t.Parallel()
	d, srv, m := setup(t, idram.Options{})
	// The vendor's form example, as a browser posts it.
	status, page := post(t, srv.URL+idram.PaymentPath, checkoutForm("1806", "1900"))
	if status != 200 || !strings.Contains(page, "/_sandbox/bills/1806/pay?page=1") || !strings.Contains(page, "1900 AMD") {
		t.Fatalf("checkout page: %d\n%s", status, page)
	}
	calls := m.calls()
	want := url.Values{"EDP_PRECHECK": {"YES"}, "EDP_BILL_NO": {"1806"}, "EDP_REC_ACCOUNT": {idram.DefaultAccount}, "EDP_AMOUNT": {"1900.00"}}
	if len(calls) != 1 || calls[0].Encode() != want.Encode() {
		t.Fatalf("precheck %v, want %v", calls, want)
	}
	if b, _ := d.Bill("1806"); b.State != idram.BillOpen || !b.Precheck.OK() || b.AmountMinor != 190000 {
		t.Fatalf("bill %+v", b)
	}

	resp, err := http.Post(srv.URL+"/_sandbox/bills/1806/pay", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	var tx idram.Transaction
	json.NewDecoder(resp.Body).Decode(&tx)
	resp.Body.Close()
	if resp.StatusCode != 200 || tx.State != idram.TxPaid || tx.Alert != "" || !tx.Prechecked || len(tx.Answers) != 1 {
		t.Fatalf("pay: %d %+v", resp.StatusCode, tx)
	}
	calls = m.calls()
	if len(calls) != 2 {
		t.Fatalf("%d calls, want a precheck and a confirmation", len(calls))
	}
	c := calls[1]
	if c.Get("EDP_PRECHECK") != "" || c.Get("EDP_BILL_NO") != "1806" || c.Get("EDP_REC_ACCOUNT") != idram.DefaultAccount ||
		c.Get("EDP_PAYER_ACCOUNT") != idram.DefaultPayerAccount || c.Get("EDP_AMOUNT") != "1900.00" || len(c) != 7 {
		t.Fatalf("confirmation %v", c)
	}
	if !regexp.MustCompile(`^[0-9]{14}$`).MatchString(c.Get("EDP_TRANS_ID")) || c.Get("EDP_TRANS_ID") != tx.TransID {
		t.Errorf("EDP_TRANS_ID %q", c.Get("EDP_TRANS_ID"))
	}
	if c.Get("EDP_TRANS_DATE") != "02/02/2025" {
		t.Errorf("EDP_TRANS_DATE %q, want the date in Yerevan", c.Get("EDP_TRANS_DATE"))
	}
	in := strings.Join([]string{idram.DefaultAccount, "1900.00", idram.DefaultSecretKey, "1806", idram.DefaultPayerAccount, c.Get("EDP_TRANS_ID"), "02/02/2025"}, ":")
	if c.Get("EDP_CHECKSUM") != md5hex(in) {
		t.Errorf("EDP_CHECKSUM %s, want the upper-case MD5 of %q", c.Get("EDP_CHECKSUM"), in)
	}
	// The double and the adapter sign alike, each with its own code.
	if !strings.EqualFold(c.Get("EDP_CHECKSUM"), provider.Checksum(idram.DefaultAccount, "1900.00", idram.DefaultSecretKey, "1806", idram.DefaultPayerAccount, tx.TransID, "02/02/2025")) {
		t.Error("the double's checksum differs from providers/idram's")
	}
	if b, _ := d.Bill("1806"); b.State != idram.BillPaid {
		t.Errorf("bill after payment: %s", b.State)
	}
	resp, _ = http.Get(srv.URL + "/_sandbox/transactions?bill=1806")
	var list struct{ Transactions []idram.Transaction }
	json.NewDecoder(resp.Body).Decode(&list)
	resp.Body.Close()
	if len(list.Transactions) != 1 || list.Transactions[0].TransID != tx.TransID || list.Transactions[0].Answers[0].Body != "OK" {
		t.Errorf("transactions %+v", list)
	}
	// The buyer pays the paid bill again: no open checkout, no PaysyncURL.
	if err := d.Pay("1806"); err == nil || !strings.Contains(err.Error(), "PaysyncURL") {
		t.Errorf("second payment: %v", err)
	}
}

func TestFormChecks(t *testing.T) {
	t.Parallel()
	d, srv, m := setup(t, idram.Options{})
	for name, mut := range map[string]func(url.Values){
		"unknown merchant":       func(v url.Values) { v.Set("EDP_REC_ACCOUNT", "100000999") },
		"zero amount":            func(v url.Values) { v.Set("EDP_AMOUNT", "0.00") },
		"comma":                  func(v url.Values) { v.Set("EDP_AMOUNT", "1900,50") },
		"negative":               func(v url.Values) { v.Set("EDP_AMOUNT", "-1900") },
		"three decimals":         func(v url.Values) { v.Set("EDP_AMOUNT", "1900.001") },
		"not a number":           func(v url.Values) { v.Set("EDP_AMOUNT", "much") },
		"no amount":              func(v url.Values) { v.Del("EDP_AMOUNT") },
		"empty bill":             func(v url.Values) { v.Set("EDP_BILL_NO", " ") },
		"lower-case language":    func(v url.Values) { v.Set("EDP_LANGUAGE", "en") },
		"hy is not a language":   func(v url.Values) { v.Set("EDP_LANGUAGE", "HY") },
		"no language":            func(v url.Values) { v.Del("EDP_LANGUAGE") },
		"no description":         func(v url.Values) { v.Del("EDP_DESCRIPTION") },
		"not UTF-8":              func(v url.Values) { v.Set("EDP_DESCRIPTION", "Order \xff") },
		"amount given twice":     func(v url.Values) { v.Add("EDP_AMOUNT", "1900") },
		"dot without a fraction": func(v url.Values) { v.Set("EDP_AMOUNT", "1900.") },
	} {
		f := checkoutForm("B-"+name, "1900")
		mut(f)
		status, page := post(t, srv.URL+idram.PaymentPath, f)
		if status != 400 || !strings.Contains(page, "Invalid payment request") {
			t.Errorf("%s: %d\n%s", name, status, page)
		}
		if _, ok := d.Bill("B-" + name); ok {
			t.Errorf("%s: a bill was registered", name)
		}
	}
	if n := len(m.calls()); n != 0 {
		t.Errorf("%d calls to the merchant for forms Idram refuses", n)
	}
	// Fields without EDP_ go back to the merchant with the confirmation.
	f := checkoutForm("B-pass", "10.5")
	f.Set("shop_ref", "abc")
	if b, err := d.Submit(f); err != nil || b.AmountMinor != 1050 || b.PassBack["shop_ref"] != "abc" {
		t.Fatalf("pass-back: %+v %v", b, err)
	}
	tx, err := d.PayBill("B-pass")
	if err != nil || tx.State != idram.TxPaid {
		t.Fatal(tx, err)
	}
	if calls := m.calls(); calls[len(calls)-1].Get("shop_ref") != "abc" || calls[len(calls)-1].Get("EDP_AMOUNT") != "10.50" {
		t.Errorf("confirmation %v", calls[len(calls)-1])
	}
}

func TestPrecheckBlocks(t *testing.T) {
	t.Parallel()
	d, _, m := setup(t, idram.Options{})
	for i, c := range []struct {
		status int
		body   string
		open   bool
	}{
		{200, "OK", true},
		{200, "ok", false},
		{200, "OK\n", false},
		{200, "<html><body>OK</body></html>", false},
		{500, "OK", false},
		{201, "OK", false},
		{200, "", false},
	} {
		m.set(func(url.Values) (int, string) { return c.status, c.body })
		bill := "P-" + string(rune('a'+i))
		b, err := d.Submit(checkoutForm(bill, "100"))
		if err != nil || (b.State == idram.BillOpen) != c.open {
			t.Errorf("precheck answered %d %q: bill %s %v", c.status, c.body, b.State, err)
		}
		if !c.open {
			if _, err := d.PayBill(bill); err == nil {
				t.Errorf("precheck answered %d %q: a blocked bill was paid", c.status, c.body)
			}
		}
	}
	// Nobody at RESULT_URL: blocked.
	down := idram.New(idram.Options{ResultURL: "http://127.0.0.1:1/webhooks/idram"})
	defer down.Close()
	if b, err := down.Submit(checkoutForm("P-down", "100")); err != nil || b.State != idram.BillBlocked || b.Precheck.Error == "" {
		t.Errorf("no merchant: %+v %v", b, err)
	}
}

// TestConfirmationRules: the 16.10.2025 rules for the answer to a
// confirmation, and no retry after any of them.
func TestConfirmationRules(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		status int
		body   string
		state  string
		alert  string
	}{
		{200, "OK", idram.TxPaid, ""},
		{200, "REFUSED: order is already paid", idram.TxCancelled, "cancelled and the buyer is not charged"},
		{200, "OK ", idram.TxCancelled, "cancelled"},
		{202, "", idram.TxCancelled, "cancelled"},
		{204, "", idram.TxCancelled, "cancelled"},
		{400, "bad checksum", idram.TxPaid, "still counts"},
		{500, "", idram.TxPaid, "still counts"},
		{503, "OK", idram.TxPaid, "still counts"},
	} {
		d, _, m := setup(t, idram.Options{})
		m.set(answers(c.status, c.body))
		if _, err := d.Submit(checkoutForm("C-1", "1900")); err != nil {
			t.Fatal(err)
		}
		tx, err := d.PayBill("C-1")
		if err != nil || tx.State != c.state || (c.alert == "") != (tx.Alert == "") || !strings.Contains(tx.Alert, c.alert) {
			t.Errorf("answer %d %q: %+v %v", c.status, c.body, tx, err)
		}
		if n := len(m.calls()); n != 2 {
			t.Errorf("answer %d %q: %d calls; a confirmation is never retried", c.status, c.body, n)
		}
	}
	// No answer at all: the payment stands, with an alert.
	d, _, m := setup(t, idram.Options{})
	if _, err := d.Submit(checkoutForm("C-2", "1900")); err != nil {
		t.Fatal(err)
	}
	d.DropConfirmations(1)
	tx, err := d.PayBill("C-2")
	if err != nil || tx.State != idram.TxPaid || !strings.Contains(tx.Alert, "lost") || len(m.calls()) != 1 {
		t.Errorf("dropped: %+v %v, %d calls", tx, err, len(m.calls()))
	}
	if err := d.Pay("C-2"); err == nil {
		t.Error("Pay of a paid bill succeeded without a checkout")
	}
}

func TestAmountFormats(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		o      idram.Options
		posted string
		sent   string
	}{
		{idram.Options{}, "1900", "1900.00"},
		{idram.Options{AmountFormat: idram.AmountWhole}, "1900.00", "1900"},
		{idram.Options{AmountFormat: idram.AmountWhole}, "1900.50", "1900.5"},
		{idram.Options{AmountFormat: idram.AmountAsPosted}, "1900.0", "1900.0"},
		{idram.Options{LowerCaseChecksum: true}, "1900", "1900.00"},
	} {
		d, _, m := setup(t, c.o)
		if _, err := d.Submit(checkoutForm("F-1", c.posted)); err != nil {
			t.Fatal(err)
		}
		if _, err := d.PayBill("F-1"); err != nil {
			t.Fatal(err)
		}
		calls := m.calls()
		pre, conf := calls[0], calls[1]
		if pre.Get("EDP_AMOUNT") != c.sent || conf.Get("EDP_AMOUNT") != c.sent {
			t.Errorf("%+v posted %s: sent %s and %s, want %s", c.o, c.posted, pre.Get("EDP_AMOUNT"), conf.Get("EDP_AMOUNT"), c.sent)
		}
		want := md5hex(strings.Join([]string{idram.DefaultAccount, c.sent, idram.DefaultSecretKey, "F-1", idram.DefaultPayerAccount, conf.Get("EDP_TRANS_ID"), conf.Get("EDP_TRANS_DATE")}, ":"))
		if c.o.LowerCaseChecksum {
			want = strings.ToLower(want)
		}
		if conf.Get("EDP_CHECKSUM") != want {
			t.Errorf("%+v: checksum %s, want %s (hashed over %s)", c.o, conf.Get("EDP_CHECKSUM"), want, c.sent)
		}
	}
}

func TestFaultTools(t *testing.T) {
	t.Parallel()
	d, srv, m := setup(t, idram.Options{})
	if _, err := d.Submit(checkoutForm("X-1", "1900")); err != nil {
		t.Fatal(err)
	}
	good := func(c url.Values) string {
		return md5hex(strings.Join([]string{c.Get("EDP_REC_ACCOUNT"), c.Get("EDP_AMOUNT"), idram.DefaultSecretKey, c.Get("EDP_BILL_NO"), c.Get("EDP_PAYER_ACCOUNT"), c.Get("EDP_TRANS_ID"), c.Get("EDP_TRANS_DATE")}, ":"))
	}
	last := func() url.Values { c := m.calls(); return c[len(c)-1] }

	tx, err := d.PayWithBadChecksum("X-1")
	if err != nil || tx.Prechecked || !strings.Contains(tx.Fault, "wrong key") || last().Get("EDP_CHECKSUM") == good(last()) {
		t.Errorf("bad checksum: %+v %v", tx, err)
	}
	tx, err = d.PayOtherAmount("X-1", "1800.00")
	if err != nil || tx.AmountMinor != 180000 || last().Get("EDP_AMOUNT") != "1800.00" || last().Get("EDP_CHECKSUM") != good(last()) {
		t.Errorf("other amount: %+v %v, sent %v", tx, err, last())
	}
	if _, err := d.Confirm("NEVER-SEEN", idram.Forge{}); err == nil {
		t.Error("a confirmation without an amount for an unknown bill was sent")
	}
	tx, err = d.Confirm("NEVER-SEEN", idram.Forge{AmountMinor: 50000})
	if err != nil || tx.Prechecked || !strings.Contains(tx.Fault, "no precheck") || last().Get("EDP_AMOUNT") != "500.00" || last().Get("EDP_CHECKSUM") != good(last()) {
		t.Errorf("unprechecked: %+v %v", tx, err)
	}
	n := len(m.calls())
	again, err := d.Redeliver(tx.TransID)
	if err != nil || len(again.Answers) != 2 || len(m.calls()) != n+1 || last().Encode() != m.calls()[n-1].Encode() {
		t.Errorf("redelivery: %+v %v", again, err)
	}
	if _, err := d.Redeliver("00000000000000"); err == nil {
		t.Error("redelivered an unknown transaction")
	}

	// Held confirmations wait; released, they settle their bills.
	d.HoldConfirmations()
	n = len(m.calls())
	tx, err = d.PayBill("X-1")
	if err != nil || tx.State != idram.TxAwaiting || len(m.calls()) != n {
		t.Fatalf("held: %+v %v", tx, err)
	}
	if b, _ := d.Bill("X-1"); b.State != idram.BillAwaiting {
		t.Errorf("bill while held: %s", b.State)
	}
	resp, err := http.Post(srv.URL+"/_sandbox/confirmations/release", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if got, _ := d.Transaction(tx.TransID); got.State != idram.TxPaid || len(m.calls()) != n+1 {
		t.Errorf("released: %+v", got)
	}
	if b, _ := d.Bill("X-1"); b.State != idram.BillPaid {
		t.Errorf("bill after release: %s", b.State)
	}
	// Over HTTP: faults, and a confirmation with a given checksum.
	resp, _ = http.Post(srv.URL+"/_sandbox/faults", "application/json", strings.NewReader(`{"drop_confirmations":1}`))
	resp.Body.Close()
	resp, _ = http.Post(srv.URL+"/_sandbox/bills/X-1/confirm", "application/json", strings.NewReader(`{"checksum":"00"}`))
	json.NewDecoder(resp.Body).Decode(&tx)
	resp.Body.Close()
	if tx.Checksum != "00" || !strings.Contains(tx.Alert, "lost") || len(m.calls()) != n+1 {
		t.Errorf("dropped forged confirmation: %+v", tx)
	}
	resp, _ = http.Post(srv.URL+"/_sandbox/faults", "application/json", strings.NewReader(`{"drop":1}`))
	resp.Body.Close()
	if resp.StatusCode != 400 {
		t.Errorf("unknown fault: %d", resp.StatusCode)
	}
}

func TestFailAndRefund(t *testing.T) {
	t.Parallel()
	d, srv, m := setup(t, idram.Options{})
	if _, err := d.Submit(checkoutForm("A-1", "100")); err != nil {
		t.Fatal(err)
	}
	resp, _ := http.Post(srv.URL+"/_sandbox/bills/A-1/fail", "", nil)
	resp.Body.Close()
	if b, _ := d.Bill("A-1"); resp.StatusCode != 200 || b.State != idram.BillAbandoned {
		t.Errorf("abandoned: %d %s", resp.StatusCode, b.State)
	}
	if err := d.Fail("UNSEEN"); err != nil {
		t.Errorf("abandoning an unseen bill: %v", err)
	}
	if n := len(m.calls()); n != 1 {
		t.Errorf("%d calls: Idram tells the merchant nothing of an abandoned bill", n)
	}
	if err := d.Refund("A-1", 0); err == nil || !strings.Contains(err.Error(), "no Idram refund API") {
		t.Errorf("refund: %v", err)
	}
}

// TestPayOpensPaysyncsPage: Pay on a bill the double has not seen does
// what the buyer's browser does with the payment link.
func TestPayOpensPaysyncsPage(t *testing.T) {
	t.Parallel()
	var doubleURL string
	pages := map[string]string{}
	shop := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Accept-Language") == "" {
			http.Error(w, "no Accept-Language", 400)
			return
		}
		page, ok := pages[strings.TrimPrefix(r.URL.EscapedPath(), "/pay/")]
		if !ok {
			http.NotFound(w, r)
			return
		}
		io.WriteString(w, strings.ReplaceAll(page, "DOUBLE", doubleURL))
	}))
	defer shop.Close()
	m := &merchant{}
	ms := httptest.NewServer(m)
	defer ms.Close()
	var d *idram.Double
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { d.ServeHTTP(w, r) }))
	defer srv.Close()
	doubleURL = srv.URL
	d = idram.New(idram.Options{ResultURL: ms.URL, PaysyncURL: shop.URL, PublicURL: srv.URL})
	defer d.Close()
	form := `<form id="f" method="post" action="DOUBLE/Payment/GetPayment" accept-charset="UTF-8">
<input type="hidden" name="EDP_LANGUAGE" value="AM">
<input type="hidden" name="EDP_REC_ACCOUNT" value="` + idram.DefaultAccount + `">
<input type="hidden" name="EDP_DESCRIPTION" value="Order &lt;IG/1&gt;">
<input type="hidden" name="EDP_AMOUNT" value="1900.00">
<input type="hidden" name="EDP_BILL_NO" value="IG/1&amp;2">
<button type="submit">Pay with Idram</button></form>`
	pages["IG%2F1&2"] = "<html><body><h1>Pay</h1>" + form + "</body></html>"
	pages["PAID"] = "<html><body><h1>Already paid, thank you</h1></body></html>"
	pages["ELSEWHERE"] = strings.ReplaceAll(form, "DOUBLE", "https://banking.idram.am")

	if err := d.Pay("IG/1&2"); err != nil {
		t.Fatal(err)
	}
	b, _ := d.Bill("IG/1&2")
	if b.State != idram.BillPaid || b.Language != "AM" || b.Description != "Order <IG/1>" || b.Checkouts != 1 {
		t.Errorf("bill %+v", b)
	}
	if calls := m.calls(); len(calls) != 2 || calls[0].Get("EDP_PRECHECK") != "YES" || calls[1].Get("EDP_BILL_NO") != "IG/1&2" {
		t.Errorf("calls %v", calls)
	}
	if err := d.Pay("PAID"); err == nil || !strings.Contains(err.Error(), "Already paid, thank you") {
		t.Errorf("page without a form: %v", err)
	}
	if err := d.Pay("ELSEWHERE"); err == nil || !strings.Contains(err.Error(), "set PAYSYNC_IDRAM_PAYMENT_URL="+srv.URL+"/Payment/GetPayment") {
		t.Errorf("form posting to the real Idram: %v", err)
	}
	if err := d.Pay("NOPE"); err == nil || !strings.Contains(err.Error(), "HTTP 404") {
		t.Errorf("unknown page: %v", err)
	}
	// A precheck refused: the buyer is blocked and nothing is paid.
	pages["R-1"] = strings.ReplaceAll(form, "IG/1&amp;2", "R-1")
	m.set(func(url.Values) (int, string) { return 200, "REFUSED: order R-1 is paid" })
	if err := d.Pay("R-1"); err == nil || !strings.Contains(err.Error(), `bill R-1 is blocked at Idram: paysync answered Idram's precheck with HTTP 200 "REFUSED: order R-1 is paid"`) {
		t.Errorf("precheck refused: %v", err)
	}
	if b, _ := d.Bill("R-1"); b.State != idram.BillBlocked || len(d.Transactions("R-1")) != 0 {
		t.Errorf("blocked bill %+v", b)
	}
	if err := d.Fail("IG/1&2"); err == nil {
		t.Error("a paid bill was abandoned")
	}
}
