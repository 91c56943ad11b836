package ameria

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/paysync/paysync/core"
	"github.com/paysync/paysync/internal/restclient"
)

// flexString reads a JSON string or number as text.
type flexString = restclient.FlexString

// decimal keeps a money amount as the bank wrote it (10.0, or "10.00"), so
// that it becomes minor units without ever being a float.
type decimal string

func (d *decimal) UnmarshalJSON(b []byte) error {
	var s flexString
	if err := s.UnmarshalJSON(b); err != nil {
		return err
	}
	*d = decimal(s)
	return nil
}

// minor converts the amount to minor units of a currency with exp decimals:
// "10.0" -> 1000. Trailing zeros past exp are fine; any other digit there,
// a sign or an exponent is refused.
func (d decimal) minor(exp int) (int64, error) {
	s := string(d)
	if s == "" {
		return 0, nil
	}
	whole, frac, dot := strings.Cut(s, ".")
	if whole == "" || strings.TrimLeft(whole, "0123456789") != "" || strings.TrimLeft(frac, "0123456789") != "" || dot && frac == "" {
		return 0, fmt.Errorf("%q is not an amount", s)
	}
	frac = strings.TrimRight(frac, "0")
	if len(frac) > exp {
		return 0, fmt.Errorf("%q has more than %d decimals", s, exp)
	}
	frac += strings.Repeat("0", exp-len(frac))
	n, err := strconv.ParseInt(whole+frac, 10, 64)
	if err != nil || n > core.MaxAmountMinor {
		return 0, fmt.Errorf("%q is too large", s)
	}
	return n, nil
}

// initPayment is InitPayment's request. Its fields are written in this
// order, always the same way, so that a retry is byte for byte the first
// request: the bank overwrites an earlier InitPayment of the same OrderID.
type initPayment struct {
	ClientID    string
	Amount      json.Number // major units with the currency's decimals: 15000.00
	OrderID     int64
	BackURL     string
	Username    string
	Password    string
	Description string
	Currency    string
	Opaque      string
	Timeout     int64
}

type initPaymentAnswer struct {
	PaymentID       string
	ResponseCode    flexString
	ResponseMessage string
}

type paymentIDAnswer struct {
	PaymentID       string `json:"PaymentId"` // sic
	ResponseCode    flexString
	ResponseMessage string
}

// fault is ASP.NET's answer to a request it failed on (HTTP 500).
type fault struct {
	Message *string
}

// Details is the part of GetPaymentDetails paysync reads.
type Details struct {
	ResponseCode    flexString
	Description     string
	OrderID         flexString
	OrderStatus     flexString
	PaymentState    flexString
	Amount          decimal
	ApprovedAmount  decimal
	DepositedAmount decimal
	RefundedAmount  decimal
	Currency        flexString
	DateTime        string
	Opaque          string
}

// Response codes paysync reacts to.
const (
	initOK          = "1"  // InitPayment: registered
	codeOK          = "00" // the query or operation worked
	codeBadLogin    = "20" // wrong ClientID, Username or Password
	codeSystemError = "550"
	codeTestAmount  = "560" // "In test mode amount must be 10 AMD"
)

// initPaymentBody is the InitPayment request of an order under the bank's
// order number num.
func (p *Provider) initPaymentBody(o core.Order, num int64) ([]byte, error) {
	cur, err := currencyCode(o.Currency)
	if err != nil {
		return nil, err
	}
	if o.AmountMinor <= 0 {
		return nil, core.Errorf(core.EINVALID, "Ameriabank vPOS cannot take a payment of %s", o.Money())
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	err = enc.Encode(initPayment{
		ClientID: p.o.ClientID,
		// From the integer, never through a float; all four currencies
		// have two decimals.
		Amount:   json.Number(core.FormatDecimal(o.AmountMinor, o.Currency)),
		OrderID:  num,
		BackURL:  p.o.BackURL,
		Username: p.o.Username, Password: p.o.Password,
		Description: "Order " + asciiOnly(o.ID),
		Currency:    cur,
		Opaque:      o.ID,
		Timeout:     int64(p.o.SessionTimeout / time.Second),
	})
	return bytes.TrimRight(b.Bytes(), "\n"), err
}

// asciiOnly replaces what is not printable ASCII with "?": Armenian letters
// in Description came back garbled.
func asciiOnly(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x20 && s[i] <= 0x7e {
			b.WriteByte(s[i])
		} else if s[i] < 0x80 || s[i] >= 0xc0 { // one "?" per character, not per byte
			b.WriteByte('?')
		}
	}
	return b.String()
}

// CreateLink numbers the order, registers it with InitPayment and returns
// the payment page. A retry of the same order reuses its number and sends
// the same bytes, so the bank returns the same PaymentID.
func (p *Provider) CreateLink(ctx context.Context, o core.Order) (core.PaymentLink, error) {
	if err := p.ValidateOrder(o); err != nil {
		return core.PaymentLink{}, err
	}
	num, err := p.numbers.allocate(ctx, o.ID)
	if err != nil {
		return core.PaymentLink{}, err
	}
	body, err := p.initPaymentBody(o, num)
	if err != nil {
		return core.PaymentLink{}, err
	}
	what := fmt.Sprintf("register order %s (Ameriabank order number %d)", o.ID, num)
	status, raw, err := p.call(ctx, "InitPayment", body, what)
	if err != nil {
		return core.PaymentLink{}, err
	}
	var a initPaymentAnswer
	if err := json.Unmarshal(raw, &a); err != nil || a.ResponseCode == "" {
		return core.PaymentLink{}, p.unreadable(status, raw, what)
	}
	if a.ResponseCode != initOK {
		return core.PaymentLink{}, p.refused(string(a.ResponseCode), a.ResponseMessage, what)
	}
	if a.PaymentID == "" {
		return core.PaymentLink{}, core.Errorf(core.EUNAVAILABLE, "Ameriabank answered OK but sent no PaymentID trying to %s; it is tried again", what)
	}
	return core.PaymentLink{
		URL:         p.base + "Payments/Pay?id=" + url.QueryEscape(a.PaymentID) + "&lang=" + p.o.Language,
		ProviderRef: strings.ToUpper(a.PaymentID),
		Note:        "Ameriabank order number " + strconv.FormatInt(num, 10),
	}, nil
}

// Lookup asks GetPaymentDetails where the order's payment stands (see the
// package comment). The PaymentID is the order's provider reference, or,
// when InitPayment's answer was lost, what GetPaymentId says for its number.
func (p *Provider) Lookup(ctx context.Context, o core.Order) (core.PaymentEvent, error) {
	num, numbered, err := p.numbers.of(ctx, o.ID)
	if err != nil {
		return core.PaymentEvent{}, err
	}
	if !numbered && o.ProviderRef == "" {
		// Never numbered, so never sent to the bank: nothing can be paid.
		return pending(o, "not_registered"), nil
	}
	paymentID := o.ProviderRef
	if paymentID == "" {
		id, err := p.paymentID(ctx, num, "look up order "+o.ID)
		if err != nil {
			return core.PaymentEvent{}, err
		}
		paymentID = id
	}
	what := "look up order " + o.ID
	body, _ := json.Marshal(struct{ PaymentID, Username, Password string }{paymentID, p.o.Username, p.o.Password})
	status, raw, err := p.call(ctx, "GetPaymentDetails", body, what)
	if err != nil {
		return core.PaymentEvent{}, err
	}
	var d Details
	var f fault
	switch {
	case json.Unmarshal(raw, &d) == nil && d.ResponseCode != "":
	case json.Unmarshal(raw, &f) == nil && f.Message != nil:
		d.ResponseCode = codeSystemError // ASP.NET's fault: read as "550"
	default:
		return core.PaymentEvent{}, p.unreadable(status, raw, what)
	}
	switch d.ResponseCode {
	case codeOK:
	case codeSystemError:
		if !numbered {
			return core.PaymentEvent{}, core.Errorf(core.EUNAVAILABLE, "Ameriabank had a system error trying to %s, and paysync keeps no Ameriabank order number for it to tell why", what)
		}
		return p.unattempted(ctx, o, num, paymentID, raw)
	default:
		return core.PaymentEvent{}, core.Errorf(core.EUNAVAILABLE, "Ameriabank refused to %s (ResponseCode %s: %s); it is asked again later", what, d.ResponseCode, p.clean(d.Description))
	}
	// The answer must be about this order's number.
	got, err := strconv.ParseInt(string(d.OrderID), 10, 64)
	if err != nil {
		return core.PaymentEvent{}, core.Errorf(core.EUNAVAILABLE, "Ameriabank answered the lookup of order %s with OrderID %q, not a number", o.ID, p.clean(string(d.OrderID)))
	}
	if numbered && got != num {
		return core.PaymentEvent{}, core.Errorf(core.EUNAVAILABLE, "Ameriabank answered the lookup of order %s (order number %d) about order number %d: PaymentID %s is another order's", o.ID, num, got, paymentID)
	}
	if !numbered {
		if holder, ok, err := p.numbers.orderOf(ctx, got); err != nil {
			return core.PaymentEvent{}, err
		} else if !ok || holder != o.ID {
			return core.PaymentEvent{}, core.Errorf(core.EUNAVAILABLE, "Ameriabank answered the lookup of order %s about order number %d, which paysync never gave that order", o.ID, got)
		}
	}
	ev, err := EventFromDetails(&d, o)
	if err != nil {
		return core.PaymentEvent{}, err
	}
	ev.ProviderRef = strings.ToUpper(paymentID)
	ev.Payload = maskCardNumbers(raw)
	return ev, nil
}

// unattempted sorts out a "550" (or ASP.NET's fault) from GetPaymentDetails:
// a wrong password and a payment nobody has tried to pay both give it, so
// GetPaymentId, which says 20 to a wrong password, decides.
func (p *Provider) unattempted(ctx context.Context, o core.Order, num int64, paymentID string, raw []byte) (core.PaymentEvent, error) {
	id, err := p.paymentID(ctx, num, "look up order "+o.ID)
	if err != nil {
		return core.PaymentEvent{}, err
	}
	// The bank gives this PaymentID in lower case, InitPayment in upper.
	if !strings.EqualFold(id, paymentID) {
		return core.PaymentEvent{}, core.Errorf(core.EUNAVAILABLE, "Ameriabank holds PaymentID %s for order number %d of order %s, not %s as paysync recorded", id, num, o.ID, paymentID)
	}
	ev := pending(o, "no_payment_attempt")
	ev.ProviderRef = strings.ToUpper(paymentID)
	ev.Payload = raw
	return ev, nil
}

// pending is a lookup answer that changes nothing (typ says why).
func pending(o core.Order, typ string) core.PaymentEvent {
	return core.PaymentEvent{Provider: Name, OrderID: o.ID, Source: core.SourceLookup, Verified: true, Status: core.StatusPending,
		Type: typ, ProviderRef: o.ProviderRef}
}

// paymentID asks GetPaymentId for the PaymentID of an order number.
func (p *Provider) paymentID(ctx context.Context, num int64, what string) (string, error) {
	a, err := p.getPaymentID(ctx, num, what)
	if err != nil {
		return "", err
	}
	switch {
	case a.ResponseCode == codeBadLogin:
		return "", p.refused(codeBadLogin, a.ResponseMessage, what)
	case a.ResponseCode != codeOK:
		return "", core.Errorf(core.EUNAVAILABLE, "Ameriabank does not give the PaymentID of order number %d trying to %s (ResponseCode %s: %s)", num, what, a.ResponseCode, p.clean(a.ResponseMessage))
	case a.PaymentID == "":
		return "", core.Errorf(core.EUNAVAILABLE, "Ameriabank answered GetPaymentId of order number %d without a PaymentId trying to %s", num, what)
	}
	return a.PaymentID, nil
}

func (p *Provider) getPaymentID(ctx context.Context, num int64, what string) (paymentIDAnswer, error) {
	body, _ := json.Marshal(struct {
		ClientID, Username, Password string
		OrderID                      int64
	}{p.o.ClientID, p.o.Username, p.o.Password, num})
	status, raw, err := p.call(ctx, "GetPaymentId", body, what)
	if err != nil {
		return paymentIDAnswer{}, err
	}
	var a paymentIDAnswer
	if err := json.Unmarshal(raw, &a); err != nil || a.ResponseCode == "" {
		return paymentIDAnswer{}, p.unreadable(status, raw, what)
	}
	return a, nil
}

// EventFromDetails turns a GetPaymentDetails answer with ResponseCode "00"
// into a verified lookup event for o (see the package comment).
func EventFromDetails(d *Details, o core.Order) (core.PaymentEvent, error) {
	ev := core.PaymentEvent{Provider: Name, OrderID: o.ID, Source: core.SourceLookup, Verified: true}
	code, err := stateOf(d)
	if err != nil {
		return ev, core.Errorf(core.EUNAVAILABLE, "Ameriabank's answer about order %s: %v", o.ID, err)
	}
	ev.Type = stateNames[code]
	if ev.Type == "" {
		ev.Type = "OrderStatus=" + strconv.Itoa(code)
	}
	if d.Currency != "" {
		cur, ok := core.LookupCurrency(string(d.Currency))
		if !ok {
			return ev, core.Errorf(core.EUNAVAILABLE, "Ameriabank reported order %s in currency %q, which paysync does not know", o.ID, d.Currency)
		}
		ev.Currency = cur.Code
	}
	exp := 2 // AMD, EUR, USD and RUB alike
	approved, err1 := d.ApprovedAmount.minor(exp)
	refunded, err2 := d.RefundedAmount.minor(exp)
	if err1 != nil || err2 != nil {
		return ev, core.Errorf(core.EUNAVAILABLE, "Ameriabank reported amounts paysync cannot read for order %s (ApprovedAmount %q, RefundedAmount %q)", o.ID, d.ApprovedAmount, d.RefundedAmount)
	}
	if t, err := time.ParseInLocation("02/01/2006 15:04:05", strings.TrimSpace(d.DateTime), bankZone); err == nil {
		ev.OccurredAt, ev.Precision = t, time.Second
	}
	ev.AmountMinor = approved
	switch code {
	case 0, 1, 5:
		ev.Status = core.StatusPending
	case 2:
		ev.Status = core.StatusPaid
	case 3:
		ev.Status = core.StatusFailed
		if o.Status.HasPayment() {
			// A deposit cancelled after paysync recorded it: the money went back.
			ev.Status, ev.AmountMinor, ev.RefundedMinor = core.StatusRefunded, o.AmountMinor, o.AmountMinor
		}
	case 4:
		ev.Status, ev.RefundedMinor = core.StatusRefunded, refunded
		if ev.RefundedMinor <= 0 {
			ev.RefundedMinor = approved
		}
	case 6:
		ev.Status = core.StatusFailed
	default:
		ev.Status = "" // a state the bank added later: journaled as ignored
	}
	if (ev.Status == core.StatusPaid || ev.Status == core.StatusRefunded) && ev.Currency == "" {
		return ev, core.Errorf(core.EUNAVAILABLE, "Ameriabank reported order %s %s without a currency", o.ID, ev.Type)
	}
	return ev, nil
}

// stateNames are the PaymentState names, by OrderStatus code.
var stateNames = map[int]string{0: "payment_started", 1: "payment_approved", 2: "payment_deposited", 3: "payment_void",
	4: "payment_refunded", 5: "payment_autoauthorized", 6: "payment_declined"}

// stateOf reads OrderStatus and PaymentState, which must agree.
func stateOf(d *Details) (int, error) {
	code, byStatus := -1, false
	if s := string(d.OrderStatus); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 {
			return 0, fmt.Errorf("OrderStatus %q is not a number", s)
		}
		code, byStatus = n, true
	}
	if s := string(d.PaymentState); s != "" {
		n, err := strconv.Atoi(s) // some integrators saw it as a number
		if err != nil {
			n = -1
			for c, name := range stateNames {
				if strings.EqualFold(name, s) {
					n = c
				}
			}
		}
		switch {
		case n < 0 && !byStatus:
			return 0, fmt.Errorf("PaymentState %q is not one paysync knows, and there is no OrderStatus", s)
		case n >= 0 && byStatus && n != code:
			return 0, fmt.Errorf("OrderStatus %s and PaymentState %s disagree", d.OrderStatus, s)
		case !byStatus:
			code = n
		}
	}
	if code < 0 {
		return 0, fmt.Errorf("it has neither OrderStatus nor PaymentState")
	}
	return code, nil
}

// bankZone is the zone of DateTime: Yerevan time, as far as anyone can
// tell (UNCONFIRMED: the bank does not say).
var bankZone = func() *time.Location {
	if l, err := time.LoadLocation("Asia/Yerevan"); err == nil {
		return l
	}
	return time.FixedZone("Asia/Yerevan", 4*60*60)
}()

// cardNumbers finds what could be a whole card number: 13 to 19 digits,
// possibly in groups separated by single spaces.
var cardNumbers = regexp.MustCompile(`\d(?: ?\d){12,18}`)

// maskCardNumbers hides any whole card number in an answer before it is
// journaled (the bank masks CardNumber itself, first 6 + "**" + last 4;
// this is for any other field that ever carries one): a digit run that
// passes the Luhn check keeps its first 6 and last 4 digits.
func maskCardNumbers(raw []byte) []byte {
	return cardNumbers.ReplaceAllFunc(raw, func(m []byte) []byte {
		digits := bytes.ReplaceAll(m, []byte(" "), nil)
		if !luhn(digits) {
			return m
		}
		out := append([]byte(nil), digits[:6]...)
		out = append(out, bytes.Repeat([]byte("*"), len(digits)-10)...)
		return append(out, digits[len(digits)-4:]...)
	})
}

func luhn(digits []byte) bool {
	sum := 0
	for i := range digits {
		d := int(digits[len(digits)-1-i] - '0')
		if i%2 == 1 {
			if d *= 2; d > 9 {
				d -= 9
			}
		}
		sum += d
	}
	return sum%10 == 0
}

// call POSTs a JSON body to api/VPOS/<op> and returns the answer whatever
// its HTTP status: the bank's status means nothing, its body decides.
func (p *Provider) call(ctx context.Context, op string, body []byte, what string) (int, []byte, error) {
	resp, err := p.client.R().SetContext(ctx).SetHeader("Content-Type", "application/json").SetBody(body).Post("/api/VPOS/" + op)
	if err != nil {
		msg, timeout, _ := restclient.Failure(err) // without the URL; the password travels in the body
		if timeout {
			return 0, nil, core.Errorf(core.EUNAVAILABLE, "Ameriabank did not answer in time to %s; it is tried again later", what)
		}
		return 0, nil, &core.Error{Code: core.EUNAVAILABLE, Message: "cannot reach Ameriabank to " + what + ": " + p.clean(msg), Err: err}
	}
	return resp.StatusCode(), resp.Body(), nil
}

// unreadable is an answer that is not the operation's JSON: ASP.NET's fault
// (HTTP 500 {"Message":"An error has occurred."}), a proxy's page, nothing.
func (p *Provider) unreadable(status int, raw []byte, what string) error {
	var f fault
	if json.Unmarshal(raw, &f) == nil && f.Message != nil {
		return core.Errorf(core.EUNAVAILABLE, "Ameriabank failed trying to %s (HTTP %d, %q); it is tried again later", what, status, p.clean(*f.Message))
	}
	if status != http.StatusOK {
		return core.Errorf(core.EUNAVAILABLE, "Ameriabank answered HTTP %d trying to %s; it is tried again later", status, what)
	}
	return core.Errorf(core.EUNAVAILABLE, "Ameriabank answered something paysync cannot read trying to %s; it is tried again later", what)
}

// refused is a ResponseCode other than success, with what to do about it.
func (p *Provider) refused(code, msg, what string) error {
	msg = p.clean(msg)
	switch code {
	case codeBadLogin:
		return core.Errorf(core.EUNAUTHORIZED, "Ameriabank refused the credentials trying to %s (ResponseCode 20: %s): check PAYSYNC_AMERIA_CLIENT_ID, PAYSYNC_AMERIA_USERNAME and PAYSYNC_AMERIA_PASSWORD (the test and live hosts have different ones)", what, msg)
	case codeTestAmount:
		if strings.Contains(msg, "10 AMD") {
			return core.Errorf(core.EINVALID, "Ameriabank's test environment takes only payments of exactly 10 AMD (ResponseCode 560: %s): test with orders of amount_minor 1000 in AMD, or point PAYSYNC_AMERIA_BASE_URL at the live host %s", msg, LiveBaseURL)
		}
	}
	return core.Errorf(core.EINVALID, "Ameriabank refused to %s (ResponseCode %s: %s)", what, code, msg)
}

// clean keeps the password and overlong bank text out of messages.
func (p *Provider) clean(msg string) string {
	if p.o.Password != "" {
		msg = strings.ReplaceAll(msg, p.o.Password, "[redacted]")
	}
	if len(msg) > 200 {
		msg = msg[:200] + "…"
	}
	return core.CleanText(msg)
}
