// Package arcasandbox is a local double of an ArCa vPOS (BPC "RBS") gateway,
// for tests, the demo and `paysync sandbox`: register.do,
// getOrderStatusExtended.do, getLastOrdersForMerchants.do (the day's
// payments, for the daily reconciliation), a payment page, and callbacks (GET or POST, with
// an HMAC-SHA256 checksum when a key is set) to the order's
// dynamicCallbackUrl or a configured URL. A Go API and /_sandbox/ endpoints
// pay, hold, decline, reverse and refund orders and inject faults: HTTP 5xx,
// RBS system errors, hangs, dropped, duplicated, held and reordered callbacks.
//
// Mount it at the root of a server: the REST API is under /payment/rest/,
// so the adapter's base URL is <server>/payment/rest.
package arca

import (
	"crypto"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"log/slog"
	"math/big"
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
	// MaxOrderNumber is the longest orderNumber register.do takes (ANS..32
	// in the RBS manuals; ArCa's own limit is not published).
	MaxOrderNumber = 32
)

// Yerevan is Armenia's time, UTC+4 without daylight saving since 2012.
var Yerevan = time.FixedZone("AMT", 4*60*60)

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
	// RSASigned signs callbacks with the gateway's own RSA key instead
	// (the asymmetric checksum: RSA with SHA-512 over the same string, in
	// hex); CertificatePEM is the certificate a merchant gets from the
	// gateway console to check them. It overrides CallbackKey.
	RSASigned bool
	// StatusVersion is the getOrderStatusExtended version set for the
	// merchant, which decides what the answer holds: 1 answers without
	// paymentAmountInfo (how much was deposited, refunded), 2 and higher
	// with it. Default 2.
	StatusVersion int
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
	// Location is the gateway's time zone, in which
	// getLastOrdersForMerchants.do reads from and to (default Yerevan,
	// UTC+4 all year).
	Location *time.Location
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
	// PaidAt is when the buyer paid (deposited or held); zero before.
	// getLastOrdersForMerchants.do lists orders by it.
	PaidAt time.Time `json:"paidAt,omitempty"`
}

// Stats counts what the gateway saw.
type Stats struct {
	Requests   int // REST requests
	Registered int
	Lookups    int
	Lists      int // getLastOrdersForMerchants.do pages answered
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

	rsaKey  *rsa.PrivateKey // RSASigned
	certPEM []byte

	mu       sync.Mutex
	version  int               // StatusVersion
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
	if o.Location == nil {
		o.Location = Yerevan
	}
	if o.StatusVersion <= 0 {
		o.StatusVersion = 2
	}
	g := &Gateway{opts: o, now: now, orders: map[string]*Order{}, byNumber: map[string]string{}, closed: make(chan struct{}), version: o.StatusVersion}
	if o.RSASigned {
		g.rsaKey, g.certPEM = gatewayKey()
	}
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

// SetStatusVersion changes the getOrderStatusExtended version the gateway
// answers in (Options.StatusVersion).
func (g *Gateway) SetStatusVersion(v int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.version = v
}

// CertificatePEM is the certificate of the key RSA-signed callbacks are
// signed with (Options.RSASigned), as the gateway console hands it out;
// nil when callbacks are not RSA-signed.
func (g *Gateway) CertificatePEM() []byte { return append([]byte(nil), g.certPEM...) }

// gatewayKey makes the gateway's RSA key and a self-signed certificate of it.
func gatewayKey() (*rsa.PrivateKey, []byte) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "ArCa sandbox callbacks"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().AddDate(10, 0, 0)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		panic(err)
	}
	return key, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

// SignRSA is the asymmetric callback checksum: RSA (PKCS #1 v1.5) with
// SHA-512 over the string the symmetric one signs, in uppercase hex. It is
// written independently of providers/arca so that the two check each other.
func SignRSA(params url.Values, key *rsa.PrivateKey) string {
	sum := sha512.Sum512([]byte(signedString(params)))
	sig, err := rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA512, sum[:])
	if err != nil {
		panic(err)
	}
	return strings.ToUpper(hex.EncodeToString(sig))
}

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
	m := hmac.New(sha256.New, []byte(key))
	m.Write([]byte(signedString(params)))
	return strings.ToUpper(hex.EncodeToString(m.Sum(nil)))
}

// signedString is what a checksum signs: every parameter but checksum and
// sign_alias, sorted by name, as "name;value;".
func signedString(params url.Values) string {
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
	return b.String()
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
