package ameria

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

func (b *Bank) routes() {
	m := http.NewServeMux()
	m.HandleFunc("POST /api/VPOS/InitPayment", b.api(b.initPayment))
	m.HandleFunc("POST /api/VPOS/GetPaymentDetails", b.api(b.paymentDetails))
	m.HandleFunc("POST /api/VPOS/GetPaymentId", b.api(b.paymentID))
	m.HandleFunc("POST /api/VPOS/RefundPayment", b.api(b.refundPayment))
	m.HandleFunc("POST /api/VPOS/CancelPayment", b.api(b.cancelPayment))
	m.HandleFunc("POST "+ReportingPath, b.transactionList)
	m.HandleFunc("GET /Payments/Pay", b.payPage)
	m.HandleFunc("POST /Payments/Pay", b.payForm)
	b.controlRoutes(m)
	b.mux = m
}

// request is one API call's JSON body, read field by field so that a field
// of the wrong JSON type is noticed, as the bank's typed models would.
type request map[string]json.RawMessage

// str is a string field; ok is false when it is there but not a string.
func (q request) str(key string) (string, bool) {
	raw, there := q[key]
	if !there || string(raw) == "null" {
		return "", true
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", false
	}
	return s, true
}

// integer is a JSON integer field (OrderID is an int in the bank's model).
func (q request) integer(key string) (int64, bool) {
	raw, there := q[key]
	if !there {
		return 0, false
	}
	n, err := strconv.ParseInt(string(raw), 10, 64)
	return n, err == nil
}

// decimal reads a money field in hundredths: a JSON number or a string
// ("10.00" and 10 were both accepted by the bank), at most two places.
func (q request) decimal(key string) (int64, bool) {
	raw, there := q[key]
	if !there {
		return 0, false
	}
	s := string(raw)
	if strings.HasPrefix(s, `"`) {
		if err := json.Unmarshal(raw, &s); err != nil {
			return 0, false
		}
	}
	whole, frac, dot := strings.Cut(s, ".")
	if whole == "" || strings.TrimLeft(whole, "0123456789") != "" || strings.TrimLeft(frac, "0123456789") != "" || dot && frac == "" {
		return 0, false
	}
	frac = strings.TrimRight(frac, "0")
	if len(frac) > 2 || len(whole) > 15 {
		return 0, false
	}
	frac += strings.Repeat("0", 2-len(frac))
	n, err := strconv.ParseInt(whole+frac, 10, 64)
	return n, err == nil
}

// api reads the JSON body and applies injected faults.
func (b *Bank) api(h func(w http.ResponseWriter, q request)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 1<<16))
		b.mu.Lock()
		b.stats.Requests++
		b.mu.Unlock()
		if f, ok := b.takeFault(); ok {
			switch {
			case f.hang:
				select {
				case <-r.Context().Done():
				case <-b.closed:
				}
			case f.status == http.StatusInternalServerError:
				aspNetFault(w)
			default:
				http.Error(w, http.StatusText(f.status), f.status)
			}
			return
		}
		var q request
		if err != nil || json.NewDecoder(bytes.NewReader(body)).Decode(&q) != nil || q == nil {
			// What ASP.NET says when the model cannot be bound at all.
			writeJSON(w, http.StatusBadRequest, map[string]string{"Message": "The request is invalid."})
			return
		}
		h(w, q)
	}
}

func (b *Bank) takeFault() (fault, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.faults) == 0 {
		return fault{}, false
	}
	f := b.faults[0]
	b.faults = b.faults[1:]
	b.stats.Injected++
	return f, true
}

// credentials checks Username and Password, and ClientID when the
// operation takes one.
func (b *Bank) credentials(q request, withClient bool) bool {
	user, _ := q.str("Username")
	pass, _ := q.str("Password")
	if withClient {
		client, _ := q.str("ClientID")
		if !strings.EqualFold(client, b.opts.ClientID) {
			return false
		}
	}
	return user == b.opts.Username && pass == b.opts.Password
}

type initResponse struct {
	PaymentID       string
	ResponseCode    int // an integer here, a string everywhere else
	ResponseMessage string
}

var knownCurrencies = map[string]bool{"051": true, "978": true, "840": true, "643": true}

func (b *Bank) initPayment(w http.ResponseWriter, q request) {
	refuse := func(code int, msg string) {
		writeJSON(w, http.StatusOK, initResponse{ResponseCode: code, ResponseMessage: msg})
	}
	if !b.credentials(q, true) {
		refuse(20, "Incorrect Username and Password")
		return
	}
	orderID, ok := q.integer("OrderID")
	if !ok || orderID <= 0 {
		refuse(510, "Incorrect parameters: OrderID must be a positive integer")
		return
	}
	if !b.opts.AnyOrderID && (orderID < b.opts.OrderFrom || orderID > b.opts.OrderTo) {
		refuse(510, "Incorrect parameters: OrderID "+strconv.FormatInt(orderID, 10)+" is outside the range "+b.OrderRange()+" assigned to the merchant")
		return
	}
	amount, ok := q.decimal("Amount")
	if !ok || amount <= 0 {
		refuse(50, "Payment sum error")
		return
	}
	currency, ok := q.str("Currency")
	if currency == "" && ok {
		currency = "051"
	}
	if !knownCurrencies[currency] {
		refuse(3, "Incorrect Currency")
		return
	}
	desc, ok1 := q.str("Description")
	back, ok2 := q.str("BackURL")
	opaque, ok3 := q.str("Opaque")
	if !ok1 || !ok2 || !ok3 || desc == "" || back == "" {
		refuse(510, "Incorrect parameters: Description and BackURL are required")
		return
	}
	if b.opts.TestMode && (amount != 1000 || currency != "051") {
		refuse(560, "In test mode amount must be 10 AMD")
		return
	}
	timeout, ok := q.integer("Timeout")
	if !ok {
		timeout = 1200
	}
	now := b.now()
	b.mu.Lock()
	defer b.mu.Unlock()
	if id, dup := b.byOrder[orderID]; dup {
		// Observed: the same PaymentID, and the later parameters overwrite
		// the earlier ones, while nothing has been paid.
		p := b.payments[id]
		if p.State == StateStarted {
			p.Amount, p.Currency, p.Description, p.BackURL, p.Opaque, p.Timeout = amount, currency, desc, back, opaque, timeout
			p.Inits++
		}
		b.stats.Inits++
		writeJSON(w, http.StatusOK, initResponse{PaymentID: p.PaymentID, ResponseCode: 1, ResponseMessage: "OK"})
		return
	}
	b.seq++
	p := &Payment{PaymentID: newGUID(), OrderID: orderID, Amount: amount, Currency: currency, Description: desc,
		BackURL: back, Opaque: opaque, Timeout: timeout, State: StateStarted, Inits: 1,
		MDOrderID: strconv.FormatInt(400000000000+b.seq, 10), CreatedAt: now, UpdatedAt: now}
	b.payments[p.PaymentID] = p
	b.byOrder[orderID] = p.PaymentID
	b.stats.Inits++
	writeJSON(w, http.StatusOK, initResponse{PaymentID: p.PaymentID, ResponseCode: 1, ResponseMessage: "OK"})
}

// bankInfo is the issuer, as GetPaymentDetails names it.
type bankInfo struct {
	BankName        string
	BankCountryCode string
	BankCountryName string
}

// details is GetPaymentDetails' answer, its fields in the bank's order.
// There is no ResponseMessage.
type details struct {
	Amount          amount
	ApprovedAmount  amount
	ApprovalCode    string
	CardNumber      string
	ClientName      string
	ClientEmail     string
	Currency        string
	DateTime        string
	DepositedAmount amount
	Description     string
	MDOrderID       string
	MerchantId      string
	TerminalId      string
	OrderID         string
	PaymentState    string
	PaymentType     int
	PrimaryRC       string
	ResponseCode    string
	ExpDate         string
	ProcessingIP    string
	OrderStatus     string
	CardHolderID    string
	BindingID       string
	RefundedAmount  amount
	Opaque          string
	TrxnDescription string
	Rrn             string `json:"rrn"`
	ActionCode      string
	ExchangeRate    amount
	BankInfo        bankInfo
}

// systemError is the "550" answer: every string empty.
func systemError() details {
	return details{ResponseCode: "550", Description: "System Error"}
}

func (b *Bank) paymentDetails(w http.ResponseWriter, q request) {
	id, _ := q.str("PaymentID")
	b.mu.Lock()
	b.stats.Details++
	p, found := b.payments[strings.ToUpper(id)]
	var snap Payment
	if found {
		snap = *p
	}
	b.mu.Unlock()
	switch {
	case found && !snap.Attempted && snap.State == StateStarted:
		// Observed whatever the credentials: the bank has no processing
		// order to read yet.
		if b.opts.NeverAttempted == "550" {
			writeJSON(w, http.StatusOK, systemError())
		} else {
			aspNetFault(w)
		}
		return
	case !b.credentials(q, false), !found:
		writeJSON(w, http.StatusOK, systemError())
		return
	}
	writeJSON(w, http.StatusOK, detailsOf(snap))
}

// detailsOf is what GetPaymentDetails says of a payment.
func detailsOf(p Payment) details {
	d := details{Amount: amount(p.Amount), ApprovedAmount: amount(p.Approved), DepositedAmount: amount(p.Deposited),
		RefundedAmount: amount(p.Refunded), Currency: p.Currency, DateTime: dateTime(p.UpdatedAt), MDOrderID: p.MDOrderID,
		MerchantId: "SANDBOX0051", TerminalId: "SBX00051", OrderID: strconv.FormatInt(p.OrderID, 10),
		PaymentState: StateNames[p.State], PaymentType: 5, ResponseCode: "00", OrderStatus: strconv.Itoa(p.State),
		Opaque: p.Opaque, TrxnDescription: p.Description, Rrn: p.MDOrderID,
		BankInfo: bankInfo{BankCountryCode: "AM", BankCountryName: "Armenia"}}
	if p.State != StateStarted {
		// Only ever masked, as the bank sends it.
		d.CardNumber, d.ClientName, d.ExpDate, d.ProcessingIP = "408306**3143", "SANDBOX BUYER", "202812", "127.0.0.1"
		if p.Cardholder != "" {
			d.ClientName = p.Cardholder
		}
	}
	switch p.State {
	case StateStarted, StateAutoAuthorized:
		d.Description, d.ActionCode, d.PrimaryRC = "", "", ""
	case StateDeclined:
		d.Description, d.ActionCode, d.PrimaryRC = "Not enough money", "116", "0116"
	default:
		d.ApprovalCode, d.ActionCode, d.PrimaryRC = "123456", "0", "00"
		d.Description = "Approved. - Payment post authorized"
	}
	return d
}

type paymentIDResponse struct {
	PaymentId       string // sic: lower-case d, unlike every other model
	ResponseMessage string
	ResponseCode    string
}

func (b *Bank) paymentID(w http.ResponseWriter, q request) {
	if !b.credentials(q, true) {
		writeJSON(w, http.StatusOK, paymentIDResponse{ResponseCode: "20", ResponseMessage: "Incorrect Username and Password"})
		return
	}
	orderID, ok := q.integer("OrderID")
	b.mu.Lock()
	id, found := b.byOrder[orderID]
	b.mu.Unlock()
	if !ok || !found {
		writeJSON(w, http.StatusOK, paymentIDResponse{ResponseCode: "06", ResponseMessage: "Unregistered OrderId"})
		return
	}
	// Observed in lower case, while InitPayment answered in upper case.
	writeJSON(w, http.StatusOK, paymentIDResponse{PaymentId: strings.ToLower(id), ResponseCode: "00"})
}

// operationResponse is the answer of RefundPayment and CancelPayment.
type operationResponse struct {
	ResponseCode    string
	ResponseMessage string
	Opaque          string
}

func (b *Bank) refundPayment(w http.ResponseWriter, q request) {
	b.operation(w, q, func(p *Payment) (string, string) {
		amt, ok := q.decimal("Amount")
		if !ok || amt <= 0 {
			return "50", "Payment sum error"
		}
		return refund(p, amt, b.now())
	})
}

func (b *Bank) cancelPayment(w http.ResponseWriter, q request) {
	b.operation(w, q, func(p *Payment) (string, string) { return cancel(p, b.now()) })
}

// operation checks the credentials and finds the payment of a
// RefundPayment or CancelPayment, then applies op to it.
func (b *Bank) operation(w http.ResponseWriter, q request, op func(p *Payment) (code, msg string)) {
	if !b.credentials(q, false) {
		writeJSON(w, http.StatusOK, operationResponse{ResponseCode: "20", ResponseMessage: "Incorrect Username and Password"})
		return
	}
	id, _ := q.str("PaymentID")
	b.mu.Lock()
	defer b.mu.Unlock()
	p, ok := b.payments[strings.ToUpper(id)]
	if !ok {
		writeJSON(w, http.StatusOK, operationResponse{ResponseCode: "550", ResponseMessage: "System Error"})
		return
	}
	code, msg := op(p)
	writeJSON(w, http.StatusOK, operationResponse{ResponseCode: code, ResponseMessage: msg, Opaque: p.Opaque})
}

// refund returns amt of what is deposited; refunds accumulate:
// ApprovedAmount stays, DepositedAmount shrinks, RefundedAmount grows.
func refund(p *Payment, amt int64, now time.Time) (code, msg string) {
	if p.State != StateDeposited && p.State != StateRefunded {
		return "07", "Refund is impossible for current transaction state"
	}
	if amt > p.Deposited {
		return "07", "Refund amount exceeds deposited amount"
	}
	p.Deposited -= amt
	p.Refunded += amt
	p.State, p.UpdatedAt = StateRefunded, now
	return "00", "Success"
}

// cancel reverses a payment within 72 hours of its initialisation, and
// never after a refund.
func cancel(p *Payment, now time.Time) (code, msg string) {
	if p.State != StateDeposited && p.State != StateApproved || p.Refunded > 0 {
		return "07", "Reversal is impossible for current transaction state"
	}
	if now.Sub(p.CreatedAt) > 72*time.Hour {
		return "07", "Reversal is possible only within 72 hours of payment initialization"
	}
	p.State, p.Approved, p.Deposited, p.UpdatedAt = StateVoid, 0, 0, now
	return "00", "Success"
}
