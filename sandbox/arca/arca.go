// Package arcasandbox is a local double of an ArCa vPOS (BPC "RBS") gateway,
// for tests, the demo and `paysync sandbox`: register.do,
// getOrderStatusExtended.do, a payment page, and callbacks (GET or POST, with
// an HMAC-SHA256 checksum when a key is set) to the order's
// dynamicCallbackUrl or a configured URL. A Go API and /_sandbox/ endpoints
// pay, hold, decline, reverse and refund orders and inject faults: HTTP 5xx,
// RBS system errors, hangs, dropped, duplicated, held and reordered callbacks.
//
// Mount it at the root of a server: the REST API is under /payment/rest/,
// so the adapter's base URL is <server>/payment/rest.
package arca

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/paysync/paysync/sandbox/internal/outbound"
)

// Defaults of a sandbox merchant.
const (
	DefaultUsername    = "sandbox-api"
	DefaultPassword    = "sandbox-password"
	DefaultCallbackKey = "sandbox-callback-key"
	RESTPath           = "/payment/rest"
)

// RBS orderStatus values.
const (
	OrderRegistered = 0
	OrderHeld       = 1
	OrderDeposited  = 2
	OrderReversed   = 3
	OrderRefunded   = 4
	OrderACS        = 5
	OrderDeclined   = 6
)

// Options configure the gateway. The zero value works with the defaults.
type Options struct {
	Username string // default DefaultUsername
	Password string // default DefaultPassword
	// CallbackKey signs callbacks with a checksum; "-" sends them unsigned.
	// Default DefaultCallbackKey.
	CallbackKey string
	// CallbackURL receives callbacks for orders registered without a
	// dynamicCallbackUrl; empty drops those.
	CallbackURL string
	// CallbackMethod is GET (default) or POST.
	CallbackMethod string
	// PublicURL is how browsers reach the gateway, for formUrl (default:
	// from the request's Host).
	PublicURL string
	// CallbackRetries (default 3) and CallbackRetryDelay (default 200ms).
	CallbackRetries    int
	CallbackRetryDelay time.Duration
	Client             *http.Client
	Now                func() time.Time
	// Logger hears of failed deliveries (default: silent).
	Logger *slog.Logger
}

// Order is one registered order.
type Order struct {
	MdOrder         string    `json:"mdOrder"`
	OrderNumber     string    `json:"orderNumber"`
	Amount          int64     `json:"amount"`
	Currency        string    `json:"currency"` // numeric, e.g. 051
	Status          int       `json:"orderStatus"`
	ApprovedAmount  int64     `json:"approvedAmount"`
	DepositedAmount int64     `json:"depositedAmount"`
	RefundedAmount  int64     `json:"refundedAmount"`
	ReturnURL       string    `json:"returnUrl"`
	FailURL         string    `json:"failUrl"`
	CallbackURL     string    `json:"dynamicCallbackUrl,omitempty"`
	Description     string    `json:"description"`
	Language        string    `json:"language"`
	CreatedAt       time.Time `json:"createdAt"`
}

// Stats counts what the gateway saw.
type Stats struct {
	Requests   int // REST requests
	Registered int
	Lookups    int
	Injected   int
}

type fault struct {
	status    int // HTTP status; 0 with rbsCode set answers HTTP 200 with that errorCode
	rbsCode   string
	rbsMsg    string
	hang      bool
	onlyPaths string // "" for every REST call, else the method name (register.do)
}

// Gateway is the sandbox; it is an http.Handler.
type Gateway struct {
	opts Options
	now  func() time.Time
	mux  *http.ServeMux
	out  *outbound.Deliverer

	mu       sync.Mutex
	orders   map[string]*Order // by mdOrder
	byNumber map[string]string // orderNumber -> mdOrder
	faults   []fault
	stats    Stats
	closed   chan struct{}
	once     sync.Once
}

// New returns a gateway.
func New(o Options) *Gateway {
	if o.Username == "" {
		o.Username = DefaultUsername
	}
	if o.Password == "" {
		o.Password = DefaultPassword
	}
	switch o.CallbackKey {
	case "":
		o.CallbackKey = DefaultCallbackKey
	case "-":
		o.CallbackKey = ""
	}
	o.CallbackMethod = strings.ToUpper(o.CallbackMethod)
	if o.CallbackMethod != http.MethodPost {
		o.CallbackMethod = http.MethodGet
	}
	if o.CallbackRetries == 0 {
		o.CallbackRetries = 3
	}
	if o.CallbackRetryDelay == 0 {
		o.CallbackRetryDelay = 200 * time.Millisecond
	}
	if o.Client == nil {
		o.Client = &http.Client{Timeout: 10 * time.Second}
	}
	now := o.Now
	if now == nil {
		now = time.Now
	}
	g := &Gateway{opts: o, now: now, orders: map[string]*Order{}, byNumber: map[string]string{}, closed: make(chan struct{})}
	g.out = outbound.New(outbound.Config{Client: o.Client, Retries: o.CallbackRetries, RetryDelay: o.CallbackRetryDelay, Now: now, Noun: "callback", Logger: o.Logger})
	g.out.SetURL(o.CallbackURL)
	g.routes()
	return g
}

// ServeHTTP serves the REST API, the payment page and the /_sandbox/ controls.
func (g *Gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) { g.mux.ServeHTTP(w, r) }

// Close stops callbacks (waiting for those in flight) and releases hung requests.
func (g *Gateway) Close() {
	g.once.Do(func() { close(g.closed) })
	g.out.Close()
}

// SetCallbackURL changes where callbacks go for orders without a dynamicCallbackUrl.
func (g *Gateway) SetCallbackURL(u string) { g.out.SetURL(u) }

// CallbackKey is the checksum key ("" when callbacks are unsigned).
func (g *Gateway) CallbackKey() string { return g.opts.CallbackKey }

// Username and Password are the API credentials the gateway accepts.
func (g *Gateway) Username() string { return g.opts.Username }
func (g *Gateway) Password() string { return g.opts.Password }

// Order returns an order by its order number.
func (g *Gateway) Order(orderNumber string) (Order, bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	md, ok := g.byNumber[orderNumber]
	if !ok {
		return Order{}, false
	}
	return *g.orders[md], true
}

// Orders returns every order, in no particular order.
func (g *Gateway) Orders() []Order {
	g.mu.Lock()
	defer g.mu.Unlock()
	out := make([]Order, 0, len(g.orders))
	for _, o := range g.orders {
		out = append(out, *o)
	}
	return out
}

// Stats returns what the gateway has seen so far.
func (g *Gateway) Stats() Stats {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.stats
}

// Deliveries lists every callback attempt so far.
func (g *Gateway) Deliveries() []Delivery { return g.out.Deliveries() }

// WaitCallbacks blocks until the callbacks sent so far were delivered or
// given up (held ones excepted).
func (g *Gateway) WaitCallbacks() { g.out.Wait() }

// Checksum signs callback parameters the RBS way. It is written
// independently of providers/arca so that the two check each other.
func Checksum(params url.Values, key string) string {
	names := make([]string, 0, len(params))
	for n := range params {
		if n != "checksum" && n != "sign_alias" {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	var b strings.Builder
	for _, n := range names {
		b.WriteString(n)
		b.WriteByte(';')
		b.WriteString(params.Get(n))
		b.WriteByte(';')
	}
	m := hmac.New(sha256.New, []byte(key))
	m.Write([]byte(b.String()))
	return strings.ToUpper(hex.EncodeToString(m.Sum(nil)))
}

func newMdOrder() string {
	b := make([]byte, 16)
	rand.Read(b)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b)
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json;charset=UTF-8")
	json.NewEncoder(w).Encode(v)
}

func rbsError(w http.ResponseWriter, code, msg string) {
	writeJSON(w, map[string]string{"errorCode": code, "errorMessage": msg})
}
