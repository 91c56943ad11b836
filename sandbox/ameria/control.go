package ameria

import (
	"bytes"
	"encoding/json"
	"fmt"
	"html/template"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// The resposneCode (sic) a buyer's browser brings back to the BackURL.
const (
	ReturnApproved = "00"
	ReturnDeclined = "0116" // not enough money
)

// Pay is the buyer paying the order on the payment page: the payment is
// deposited (OrderStatus 2) and the browser goes back to the BackURL, as
// the bank sends it, so that paysync looks the payment up. orderID is the
// paysync order id (the Opaque), or the bank's OrderID.
func (b *Bank) Pay(orderID string) error {
	ret, err := b.change(orderID, func(p *Payment) error {
		if p.State != StateStarted && p.State != StateAutoAuthorized {
			return fmt.Errorf("order %s is %s and cannot be paid", orderID, StateNames[p.State])
		}
		p.State, p.Approved, p.Deposited = StateDeposited, p.Amount, p.Amount
		return nil
	}, ReturnApproved, "Operation Approved ")
	if err == nil {
		b.visit(ret, false)
	}
	return err
}

// PayWith is Pay as if the bank had taken amountMinor in currency (ISO 4217
// alphabetic: AMD, EUR, USD or RUB), and the cardholder's name were
// cardholder ("" leaves the default): a test of what paysync does with a
// payment that does not match its order, or with odd bytes in an answer.
func (b *Bank) PayWith(orderID string, amountMinor int64, currency, cardholder string) error {
	code, ok := map[string]string{"AMD": "051", "EUR": "978", "USD": "840", "RUB": "643"}[currency]
	if !ok {
		return fmt.Errorf("the bank takes no %s", currency)
	}
	ret, err := b.change(orderID, func(p *Payment) error {
		if p.State != StateStarted && p.State != StateAutoAuthorized {
			return fmt.Errorf("order %s is %s and cannot be paid", orderID, StateNames[p.State])
		}
		p.State, p.Approved, p.Deposited, p.Currency, p.Cardholder = StateDeposited, amountMinor, amountMinor, code, cardholder
		return nil
	}, ReturnApproved, "Operation Approved ")
	if err == nil {
		b.visit(ret, false)
	}
	return err
}

// Details is what GetPaymentDetails answers for the order's payment now,
// byte for byte.
func (b *Bank) Details(orderID string) ([]byte, error) {
	b.mu.Lock()
	p := b.find(orderID)
	var snap Payment
	if p != nil {
		snap = *p
	}
	b.mu.Unlock()
	if p == nil {
		return nil, fmt.Errorf("no payment for order %s", orderID)
	}
	var buf bytes.Buffer
	err := json.NewEncoder(&buf).Encode(detailsOf(snap)) // as writeJSON writes it
	return buf.Bytes(), err
}

// Fail is the buyer's card being declined (OrderStatus 6); the browser goes
// back to the BackURL with resposneCode 0116.
func (b *Bank) Fail(orderID string) error {
	ret, err := b.change(orderID, func(p *Payment) error {
		if p.State != StateStarted && p.State != StateAutoAuthorized {
			return fmt.Errorf("order %s is %s and cannot be declined", orderID, StateNames[p.State])
		}
		p.State = StateDeclined
		return nil
	}, ReturnDeclined, "Not enough money")
	if err == nil {
		b.visit(ret, false)
	}
	return err
}

// Hold pre-authorises the payment (OrderStatus 1, two-stage payments: the
// money is held, not taken, until ConfirmPayment); the browser returns
// with resposneCode 00.
func (b *Bank) Hold(orderID string) error {
	ret, err := b.change(orderID, func(p *Payment) error {
		if p.State != StateStarted && p.State != StateAutoAuthorized {
			return fmt.Errorf("order %s is %s and cannot be held", orderID, StateNames[p.State])
		}
		p.State, p.Approved = StateApproved, p.Amount
		return nil
	}, ReturnApproved, "Operation Approved ")
	if err == nil {
		b.visit(ret, false)
	}
	return err
}

// StartThreeDS leaves the buyer at the issuer's 3-D Secure page
// (OrderStatus 5, payment_autoauthorized); nobody returns yet.
func (b *Bank) StartThreeDS(orderID string) error {
	_, err := b.change(orderID, func(p *Payment) error {
		if p.State != StateStarted {
			return fmt.Errorf("order %s is %s; 3-D Secure comes before a payment", orderID, StateNames[p.State])
		}
		p.State = StateAutoAuthorized
		return nil
	}, "", "")
	return err
}

// Open is the buyer opening the payment page and leaving it: from then on
// GetPaymentDetails answers payment_started instead of a fault.
func (b *Bank) Open(orderID string) error {
	_, err := b.change(orderID, func(p *Payment) error { return nil }, "", "")
	return err
}

// Refund returns amountMinor of a paid order from the bank's back office
// (0: all that is left). The bank tells nobody: paysync finds the refund
// when it next looks the order up.
func (b *Bank) Refund(orderID string, amountMinor int64) error {
	_, err := b.change(orderID, func(p *Payment) error {
		amt := amountMinor
		if amt == 0 {
			amt = p.Deposited
		}
		if amt <= 0 {
			return fmt.Errorf("order %s has nothing left to refund", orderID)
		}
		if code, msg := refund(p, amt, b.now()); code != "00" {
			return fmt.Errorf("refund of order %s: %s %s", orderID, code, msg)
		}
		return nil
	}, "", "")
	return err
}

// Cancel reverses the payment from the back office (OrderStatus 3), as
// CancelPayment does; nobody is told.
func (b *Bank) Cancel(orderID string) error {
	_, err := b.change(orderID, func(p *Payment) error {
		if code, msg := cancel(p, b.now()); code != "00" {
			return fmt.Errorf("cancel of order %s: %s %s", orderID, code, msg)
		}
		return nil
	}, "", "")
	return err
}

// ReturnForged sends a browser to the order's BackURL with resposneCode 00
// without anything being paid: what anyone can do, since returns are not
// signed. It changes nothing at the bank.
func (b *Bank) ReturnForged(orderID string) error {
	b.mu.Lock()
	p := b.find(orderID)
	var ret string
	if p != nil {
		ret = returnURL(*p, ReturnApproved, "Operation Approved ")
	}
	b.mu.Unlock()
	if p == nil {
		return fmt.Errorf("no payment for order %s", orderID)
	}
	b.visit(ret, true)
	return nil
}

// change applies fn to the order's payment, marks it attempted, and
// returns the BackURL to send the buyer to with code ("" sends nobody).
func (b *Bank) change(orderID string, fn func(p *Payment) error, code, description string) (string, error) {
	return b.changeOf(func() *Payment { return b.find(orderID) }, orderID, fn, code, description)
}

// changeOf is change of the payment pick finds (under b.mu).
func (b *Bank) changeOf(pick func() *Payment, orderID string, fn func(p *Payment) error, code, description string) (string, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	p := pick()
	if p == nil {
		return "", fmt.Errorf("no payment for order %s", orderID)
	}
	before := *p
	if err := fn(p); err != nil {
		return "", err
	}
	p.Attempted = true
	if p.State != before.State || p.Refunded != before.Refunded {
		p.UpdatedAt = b.now()
	}
	if code == "" {
		return "", nil
	}
	return returnURL(*p, code, description), nil
}

// returnURL is where the bank sends the buyer: the BackURL with the
// parameters in the order the bank names them, joined with "&" when the
// BackURL already has a query (unconfirmed: nobody recorded it).
func returnURL(p Payment, code, description string) string {
	sep := "?"
	if strings.Contains(p.BackURL, "?") {
		sep = "&"
	}
	return p.BackURL + sep + "orderID=" + strconv.FormatInt(p.OrderID, 10) + "&resposneCode=" + url.QueryEscape(code) +
		"&paymentID=" + strings.ToLower(p.PaymentID) + "&opaque=" + url.QueryEscape(p.Opaque) +
		"&description=" + url.QueryEscape(description)
}

// visit is the buyer's browser following the redirect to the BackURL.
func (b *Bank) visit(u string, forged bool) {
	rec := Return{URL: u, Forged: forged, At: b.now()}
	resp, err := b.opts.Client.Get(u)
	if err != nil {
		rec.Error = err.Error()
	} else {
		io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
		resp.Body.Close()
		rec.Status = resp.StatusCode
	}
	if rec.Status/100 != 2 && b.opts.Logger != nil {
		b.opts.Logger.Warn("Ameriabank sandbox: the buyer's return was not answered with 2xx", "url", u, "status", rec.Status, "err", rec.Error)
	}
	b.mu.Lock()
	b.returns = append(b.returns, rec)
	b.mu.Unlock()
}

// FailNext makes the next n API calls answer HTTP status without doing
// anything (500 with ASP.NET's {"Message":"An error has occurred."}).
func (b *Bank) FailNext(n, status int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for i := 0; i < n; i++ {
		b.faults = append(b.faults, fault{status: status})
	}
}

// HangNext makes the next n API calls hang until the client gives up.
func (b *Bank) HangNext(n int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for i := 0; i < n; i++ {
		b.faults = append(b.faults, fault{hang: true})
	}
}

// SetNeverAttempted chooses how GetPaymentDetails answers a payment nobody
// tried to pay: "500" or "550" (see Options.NeverAttempted).
func (b *Bank) SetNeverAttempted(answer string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if answer == "550" {
		b.opts.NeverAttempted = "550"
	} else {
		b.opts.NeverAttempted = "500"
	}
}

func (b *Bank) publicURL(r *http.Request) string {
	if b.opts.PublicURL != "" {
		return strings.TrimRight(b.opts.PublicURL, "/")
	}
	return "http://" + r.Host
}

var pageTmpl = template.Must(template.New("page").Parse(`<!doctype html>
<html lang="{{.Lang}}"><head><meta charset="utf-8"><title>Ameriabank vPOS sandbox</title></head>
<body style="font-family:sans-serif;max-width:32em;margin:3em auto">
<h1>Ameriabank vPOS sandbox</h1>
<p>Order <b>{{.OrderID}}</b>: {{.Amount}} (currency {{.Currency}}), <b>{{.State}}</b></p>
<p>{{.Description}}</p>
{{if .Open}}
<form method="post" action="{{.Base}}/Payments/Pay">
<input type="hidden" name="id" value="{{.PaymentID}}"><input type="hidden" name="lang" value="{{.Lang}}">
<p>Card <input name="card" value="4083 06** **** 3143" disabled></p>
<button name="action" value="pay">Pay</button> <button name="action" value="decline">Decline</button>
</form>
{{end}}
<p><small>This is a local double; no money moves.</small></p>
</body></html>`))

// payPage is the payment page: /Payments/Pay?id=<PaymentID>&lang=am|ru|en.
// Opening it is the buyer's first attempt.
func (b *Bank) payPage(w http.ResponseWriter, r *http.Request) {
	lang := r.URL.Query().Get("lang")
	switch lang {
	case "":
		lang = "en"
	case "am", "ru", "en":
	default:
		http.Error(w, "lang must be am, ru or en (lower case)", http.StatusBadRequest)
		return
	}
	b.mu.Lock()
	p, ok := b.payments[strings.ToUpper(r.URL.Query().Get("id"))]
	var view map[string]any
	if ok {
		p.Attempted = true
		view = map[string]any{"OrderID": p.OrderID, "Amount": fmt.Sprintf("%d.%02d", p.Amount/100, p.Amount%100),
			"Currency": p.Currency, "State": StateNames[p.State], "Description": p.Description,
			"Open": p.State == StateStarted || p.State == StateAutoAuthorized, "PaymentID": p.PaymentID, "Lang": lang,
			"Base": b.publicURL(r)}
	}
	b.mu.Unlock()
	if !ok {
		http.Error(w, "no payment with this id", http.StatusNotFound)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	pageTmpl.Execute(w, view)
}

// payForm takes the page's form and redirects the browser to the BackURL.
func (b *Bank) payForm(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 1<<16)
	if err := r.ParseForm(); err != nil {
		http.Error(w, "bad form", http.StatusBadRequest)
		return
	}
	id := strings.ToUpper(r.PostForm.Get("id"))
	pay := r.PostForm.Get("action") == "pay"
	code, description := ReturnApproved, "Operation Approved "
	if !pay {
		code, description = ReturnDeclined, "Not enough money"
	}
	ret, err := b.changeOf(func() *Payment { return b.payments[id] }, id, func(p *Payment) error {
		if p.State != StateStarted && p.State != StateAutoAuthorized {
			return fmt.Errorf("this payment is %s", StateNames[p.State])
		}
		if pay {
			p.State, p.Approved, p.Deposited = StateDeposited, p.Amount, p.Amount
		} else {
			p.State = StateDeclined
		}
		return nil
	}, code, description)
	if err != nil {
		http.Error(w, err.Error(), http.StatusConflict)
		return
	}
	http.Redirect(w, r, ret, http.StatusSeeOther)
}

func (b *Bank) controlRoutes(m *http.ServeMux) {
	m.HandleFunc("POST /_sandbox/orders/{order}/{action}", b.control)
	m.HandleFunc("POST /_sandbox/faults", b.controlFaults)
	m.HandleFunc("POST /_sandbox/bank-payments", func(w http.ResponseWriter, r *http.Request) {
		// ?order_id=N&amount=MINOR[&currency=AMD][&opaque=TEXT]: PayAtBank.
		q := r.URL.Query()
		order, err1 := strconv.ParseInt(q.Get("order_id"), 10, 64)
		amount, err2 := strconv.ParseInt(q.Get("amount"), 10, 64)
		if err1 != nil || err2 != nil || order <= 0 || amount <= 0 {
			http.Error(w, "order_id (the bank's number) and amount (minor units) are required, e.g. ?order_id=990000001&amount=1500000&opaque=SHOP-1", http.StatusBadRequest)
			return
		}
		cur := q.Get("currency")
		if cur == "" {
			cur = "AMD"
		}
		p, err := b.PayAtBank(order, amount, cur, q.Get("opaque"))
		if err != nil {
			http.Error(w, err.Error(), http.StatusConflict)
			return
		}
		writeJSON(w, http.StatusOK, p)
	})
	m.HandleFunc("GET /_sandbox/payments", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]any{"payments": b.Payments()})
	})
	m.HandleFunc("GET /_sandbox/returns", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]any{"returns": b.Returns()})
	})
}

// control is POST /_sandbox/orders/{order}/pay|fail|hold|3ds|open|cancel|refund?amount=|forge-return.
func (b *Bank) control(w http.ResponseWriter, r *http.Request) {
	order := r.PathValue("order")
	var err error
	switch action := r.PathValue("action"); action {
	case "pay":
		err = b.Pay(order)
	case "fail":
		err = b.Fail(order)
	case "hold":
		err = b.Hold(order)
	case "3ds":
		err = b.StartThreeDS(order)
	case "open":
		err = b.Open(order)
	case "cancel":
		err = b.Cancel(order)
	case "refund":
		var amt int64
		if s := r.URL.Query().Get("amount"); s != "" {
			if amt, err = strconv.ParseInt(s, 10, 64); err != nil || amt < 0 {
				http.Error(w, "amount is in minor units (hundredths), e.g. amount=500", http.StatusBadRequest)
				return
			}
		}
		err = b.Refund(order, amt)
	case "forge-return":
		err = b.ReturnForged(order)
	default:
		http.Error(w, "unknown action "+action+" (pay, fail, hold, 3ds, open, cancel, refund?amount=, forge-return)", http.StatusNotFound)
		return
	}
	if err != nil {
		http.Error(w, err.Error(), http.StatusConflict)
		return
	}
	p, _ := b.Payment(order)
	writeJSON(w, http.StatusOK, p)
}

// faultRequest is the body of POST /_sandbox/faults.
type faultRequest struct {
	FailNext       int    `json:"fail_next"`
	Status         int    `json:"status"` // default 500
	HangNext       int    `json:"hang_next"`
	NeverAttempted string `json:"never_attempted"` // "500" or "550"
}

func (b *Bank) controlFaults(w http.ResponseWriter, r *http.Request) {
	var f faultRequest
	if err := json.NewDecoder(io.LimitReader(r.Body, 1<<16)).Decode(&f); err != nil {
		http.Error(w, `the body is {"fail_next":1,"status":500,"hang_next":0,"never_attempted":"550"}: `+err.Error(), http.StatusBadRequest)
		return
	}
	if f.FailNext > 0 {
		if f.Status == 0 {
			f.Status = http.StatusInternalServerError
		}
		b.FailNext(f.FailNext, f.Status)
	}
	if f.HangNext > 0 {
		b.HangNext(f.HangNext)
	}
	if f.NeverAttempted != "" {
		b.SetNeverAttempted(f.NeverAttempted)
	}
	writeJSON(w, http.StatusOK, map[string]bool{"ok": true})
}
