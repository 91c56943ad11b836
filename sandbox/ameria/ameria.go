// Package ameria is a local double of Ameriabank's vPOS 3.1 REST API, for
// tests, the demo and `paysync sandbox`, written from the bank's protocol
// description and what integrators observed on its test host
// (/work/research: docs/payments.md sums it up), not from paysync's
// adapter, so that the two check each other:
//
//	POST /api/VPOS/InitPayment        register a payment; ResponseCode is the integer 1 on success
//	POST /api/VPOS/GetPaymentDetails  where a payment stands; ResponseCode "00" only means the query worked
//	POST /api/VPOS/GetPaymentId       the PaymentId (lower-case d and GUID) of an OrderID
//	POST /api/VPOS/RefundPayment      refunds accumulate; over the balance: "07"
//	POST /api/VPOS/CancelPayment      within 72 hours, never after a refund: "07"
//	GET  /Payments/Pay?id=…&lang=…    the payment page; paying sends the browser to BackURL
//
// As the bank does, it answers HTTP 200 whatever happened (bad credentials
// are ResponseCode 20), except that GetPaymentDetails of a payment nobody has
// tried to pay yet answers HTTP 500 {"Message":"An error has occurred."}
// (Options.NeverAttempted "550": HTTP 200 with "550" instead), and a wrong
// password there gives "550" "System Error", not 20. Amounts come back as
// JSON numbers such as 10.0, OrderID and OrderStatus as strings, empty
// values as "", and the card number only masked (first 6, "**", last 4).
//
// The bank never calls the merchant: a paid buyer's browser is sent to the
// BackURL with orderID, resposneCode (sic), paymentID (lower case), opaque
// and description, and nothing is signed. Go controls and /_sandbox/
// endpoints pay, decline, hold, refund and cancel payments, forge returns
// and inject faults.
//
// The double's own choices where the bank's behaviour was never recorded:
// an OrderID outside the assigned range, a non-integer OrderID, a missing
// Description or BackURL answer ResponseCode 510; an amount that is not a
// positive decimal with at most two places answers 50; an unknown currency
// 3; an unknown PaymentID "550" (GetPaymentDetails, RefundPayment,
// CancelPayment); an unknown OrderID in GetPaymentId "06"; InitPayment of an
// OrderID whose payment has moved past payment_started returns its
// PaymentID and changes nothing; a payment counts as attempted once its
// page was opened; a declined buyer returns with resposneCode 0116.
package ameria

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"log/slog"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Defaults of a sandbox merchant.
const (
	DefaultClientID = "5a1e3c9d-0d3e-4b6a-9f51-0a8e51a30051"
	DefaultUsername = "sandbox_api"
	DefaultPassword = "sandbox-password"
	// DefaultOrderFrom and DefaultOrderTo are the OrderID range the bank's
	// onboarding e-mail gave one merchant for its test environment.
	DefaultOrderFrom = 2350301
	DefaultOrderTo   = 2350400
)

// PaymentState values: the OrderStatus code and its PaymentState name.
const (
	StateStarted        = 0 // payment_started: registered, not paid
	StateApproved       = 1 // payment_approved: pre-authorised (two-stage), not taken
	StateDeposited      = 2 // payment_deposited: paid
	StateVoid           = 3 // payment_void: cancelled
	StateRefunded       = 4 // payment_refunded: also after a partial refund
	StateAutoAuthorized = 5 // payment_autoauthorized: 3-D Secure at the issuer
	StateDeclined       = 6 // payment_declined
)

// StateNames are the PaymentState strings, by OrderStatus code.
var StateNames = map[int]string{
	StateStarted: "payment_started", StateApproved: "payment_approved", StateDeposited: "payment_deposited",
	StateVoid: "payment_void", StateRefunded: "payment_refunded", StateAutoAuthorized: "payment_autoauthorized",
	StateDeclined: "payment_declined",
}

// Options configure the double. The zero value works with the defaults.
type Options struct {
	ClientID string // default DefaultClientID
	Username string // default DefaultUsername
	Password string // default DefaultPassword
	// OrderFrom and OrderTo bound the OrderIDs InitPayment takes (default
	// DefaultOrderFrom to DefaultOrderTo); AnyOrderID takes every positive
	// OrderID, as the live host does.
	OrderFrom, OrderTo int64
	AnyOrderID         bool
	// TestMode takes only payments of exactly 10 AMD (ResponseCode 560), as
	// the bank's test environment does.
	TestMode bool
	// NeverAttempted is how GetPaymentDetails answers a payment whose page
	// nobody opened: "500" (default, HTTP 500 {"Message":…}) or "550"
	// (HTTP 200, ResponseCode "550"). The bank was seen doing both.
	NeverAttempted string
	// PublicURL is how browsers reach the double, for the payment page's
	// form (default: from the request's Host).
	PublicURL string
	// Client is the buyer's browser when a Go control sends it back to
	// the BackURL (default: a client with a 10-second timeout).
	Client *http.Client
	Now    func() time.Time
	// Logger hears of returns paysync did not answer with 2xx (default: silent).
	Logger *slog.Logger
}

// Payment is one registered payment, amounts in hundredths (minor units of
// AMD, EUR, USD and RUB alike).
type Payment struct {
	PaymentID   string    `json:"payment_id"` // upper case, as InitPayment returns it
	OrderID     int64     `json:"order_id"`
	Amount      int64     `json:"amount_minor"`
	Currency    string    `json:"currency"` // numeric, e.g. 051
	Description string    `json:"description"`
	BackURL     string    `json:"back_url"`
	Opaque      string    `json:"opaque"`
	Timeout     int64     `json:"timeout"`
	State       int       `json:"order_status"`
	Approved    int64     `json:"approved_minor"`
	Deposited   int64     `json:"deposited_minor"`
	Refunded    int64     `json:"refunded_minor"`
	Attempted   bool      `json:"attempted"` // the payment page was opened
	Inits       int       `json:"inits"`     // InitPayment calls that registered or overwrote it
	MDOrderID   string    `json:"md_order_id"`
	Cardholder  string    `json:"cardholder,omitempty"` // ClientName once paid (default SANDBOX BUYER)
	CreatedAt   time.Time `json:"created_at"`
	UpdatedAt   time.Time `json:"updated_at"` // the last change of state: DateTime
}

// Return is one visit of the buyer's browser to a BackURL.
type Return struct {
	URL    string    `json:"url"`
	Status int       `json:"status"` // 0 when the request failed
	Error  string    `json:"error,omitempty"`
	Forged bool      `json:"forged,omitempty"`
	At     time.Time `json:"at"`
}

// Stats counts what the double saw.
type Stats struct {
	Requests int // API calls
	Inits    int // InitPayment calls answered 1
	Details  int // GetPaymentDetails calls
	Lists    int // GetTransactionList calls answered
	Injected int // faults injected
}

type fault struct {
	status int
	hang   bool
}

// Bank is the double; it is an http.Handler.
type Bank struct {
	opts Options
	now  func() time.Time
	mux  *http.ServeMux

	mu       sync.Mutex
	payments map[string]*Payment // by upper-case PaymentID
	byOrder  map[int64]string    // OrderID -> PaymentID
	seq      int64
	faults   []fault
	returns  []Return
	stats    Stats
	closed   chan struct{}
	once     sync.Once
}

// New returns a double.
func New(o Options) *Bank {
	if o.ClientID == "" {
		o.ClientID = DefaultClientID
	}
	if o.Username == "" {
		o.Username = DefaultUsername
	}
	if o.Password == "" {
		o.Password = DefaultPassword
	}
	if o.OrderFrom == 0 && o.OrderTo == 0 {
		o.OrderFrom, o.OrderTo = DefaultOrderFrom, DefaultOrderTo
	}
	if o.NeverAttempted != "550" {
		o.NeverAttempted = "500"
	}
	if o.Client == nil {
		o.Client = &http.Client{Timeout: 10 * time.Second}
	}
	now := o.Now
	if now == nil {
		now = time.Now
	}
	b := &Bank{opts: o, now: now, payments: map[string]*Payment{}, byOrder: map[int64]string{}, closed: make(chan struct{})}
	b.routes()
	return b
}

// ServeHTTP serves the API, the payment page and the /_sandbox/ controls.
func (b *Bank) ServeHTTP(w http.ResponseWriter, r *http.Request) { b.mux.ServeHTTP(w, r) }

// Close releases hung requests.
func (b *Bank) Close() { b.once.Do(func() { close(b.closed) }) }

// ClientID, Username and Password are the credentials the double accepts.
func (b *Bank) ClientID() string { return b.opts.ClientID }
func (b *Bank) Username() string { return b.opts.Username }
func (b *Bank) Password() string { return b.opts.Password }

// OrderRange is the OrderID range InitPayment takes, as FROM-TO.
func (b *Bank) OrderRange() string {
	return strconv.FormatInt(b.opts.OrderFrom, 10) + "-" + strconv.FormatInt(b.opts.OrderTo, 10)
}

// Payment finds a payment by the paysync order id it carries as Opaque
// (the newest, if several do), else by its OrderID.
func (b *Bank) Payment(orderID string) (Payment, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	p := b.find(orderID)
	if p == nil {
		return Payment{}, false
	}
	return *p, true
}

// Payments returns every payment, oldest first.
func (b *Bank) Payments() []Payment {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := make([]Payment, 0, len(b.payments))
	for _, p := range b.payments {
		out = append(out, *p)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].OrderID < out[j].OrderID })
	return out
}

// Returns lists every visit of a buyer's browser to a BackURL so far.
func (b *Bank) Returns() []Return {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]Return(nil), b.returns...)
}

// Stats returns what the double has seen so far.
func (b *Bank) Stats() Stats {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.stats
}

// find is Payment under b.mu.
func (b *Bank) find(orderID string) *Payment {
	var best *Payment
	for _, p := range b.payments {
		if p.Opaque == orderID && (best == nil || p.CreatedAt.After(best.CreatedAt) || p.CreatedAt.Equal(best.CreatedAt) && p.OrderID > best.OrderID) {
			best = p
		}
	}
	if best != nil {
		return best
	}
	if n, err := strconv.ParseInt(orderID, 10, 64); err == nil {
		if id, ok := b.byOrder[n]; ok {
			return b.payments[id]
		}
	}
	return nil
}

// newGUID is a random version-4 GUID in upper case, as InitPayment returns
// PaymentIDs.
func newGUID() string {
	x := make([]byte, 16)
	rand.Read(x)
	x[6] = x[6]&0x0f | 0x40
	x[8] = x[8]&0x3f | 0x80
	h := strings.ToUpper(hex.EncodeToString(x))
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// yerevan is the bank's clock: DateTime is Yerevan time (UTC+4, no DST
// since 2012), as far as anyone could tell.
var yerevan = time.FixedZone("Asia/Yerevan", 4*60*60)

// dateTime renders a time the way GetPaymentDetails does: dd/MM/yyyy HH:mm:ss.
func dateTime(t time.Time) string { return t.In(yerevan).Format("02/01/2006 15:04:05") }

// amount renders hundredths as the bank's JSON numbers: 1000 -> 10.0,
// 1050 -> 10.5, 1234 -> 12.34 (always with a decimal point, like .NET
// decimals with one place).
type amount int64

func (a amount) MarshalJSON() ([]byte, error) {
	n := int64(a)
	neg := n < 0
	if neg {
		n = -n
	}
	s := strconv.FormatInt(n/100, 10) + "."
	switch frac := n % 100; {
	case frac == 0:
		s += "0"
	case frac%10 == 0:
		s += strconv.FormatInt(frac/10, 10)
	default:
		s += strconv.FormatInt(frac/10, 10) + strconv.FormatInt(frac%10, 10)
	}
	if neg {
		s = "-" + s
	}
	return []byte(s), nil
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

// aspNetFault is the body ASP.NET Web API sends with HTTP 500.
func aspNetFault(w http.ResponseWriter) {
	writeJSON(w, http.StatusInternalServerError, map[string]string{"Message": "An error has occurred."})
}
