// Package vpossandbox is a local double of the VPOS.am merchant API, for
// tests, the demo and `paysync sandbox`. It creates payment sessions (bearer
// auth, Idempotency-Key replay), answers status lookups, serves a checkout
// page, and POSTs Standard Webhooks-signed events to a configured URL. A Go
// API and /_sandbox/ endpoints pay, fail, refund and expire sessions and
// inject faults: 5xx, 403, 429, hangs, dropped, duplicated, held and
// reordered webhooks.
//
// The session and webhook shapes are paysync's defaults for the UNCONFIRMED
// parts of the real API (see providers/vpos): sessions answer
// {"id","merchantOrderId","amountMinor","currency","status","checkoutUrl",…};
// webhooks are {"id","type","createdAt","data":<session>}.
//
// It lives in sandbox/vpos but is named vpossandbox so that tests can import
// it next to providers/vpos.
package vpos

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/paysync/paysync/sandbox/internal/outbound"
)

// Defaults of a sandbox merchant.
const (
	DefaultToken = "sandbox-vpos-token"
	// DefaultWebhookSecret is whsec_ + base64("paysync-sandbox-vpos-secret").
	DefaultWebhookSecret = "whsec_cGF5c3luYy1zYW5kYm94LXZwb3Mtc2VjcmV0"
)

// Session statuses the sandbox reports.
const (
	StatusPending           = "pending"
	StatusPaid              = "paid"
	StatusFailed            = "failed"
	StatusExpired           = "expired"
	StatusRefunded          = "refunded"
	StatusPartiallyRefunded = "partially_refunded"
)

// Options configure the sandbox. The zero value works with the defaults.
type Options struct {
	Token         string // bearer token the API accepts (default DefaultToken)
	WebhookSecret string // whsec_ secret webhooks are signed with (default DefaultWebhookSecret)
	// WebhookURL receives webhooks (e.g. http://127.0.0.1:8080/webhooks/vpos);
	// empty drops them until SetWebhookURL.
	WebhookURL string
	// PublicURL is how clients reach this sandbox, for checkout URLs
	// (default: from the request's Host, as http://HOST).
	PublicURL string
	// WebhookRetries is how many times a failed delivery is retried
	// (default 3); WebhookRetryDelay the pause between tries (default 200ms).
	WebhookRetries    int
	WebhookRetryDelay time.Duration
	Client            *http.Client
	Now               func() time.Time
	// Logger hears of failed deliveries (default: silent).
	Logger *slog.Logger
}

// Session is one payment session.
type Session struct {
	ID                  string            `json:"id"`
	MerchantOrderID     string            `json:"merchantOrderId"`
	AmountMinor         int64             `json:"amountMinor"`
	Currency            string            `json:"currency"`
	Provider            string            `json:"provider,omitempty"`
	Status              string            `json:"status"`
	RefundedAmountMinor int64             `json:"refundedAmountMinor"`
	CheckoutURL         string            `json:"checkoutUrl"`
	ReturnURL           string            `json:"returnUrl,omitempty"`
	Customer            map[string]string `json:"customer,omitempty"`
	Metadata            map[string]string `json:"metadata,omitempty"`
	CreatedAt           time.Time         `json:"createdAt"`
	UpdatedAt           time.Time         `json:"updatedAt"`
}

// Stats counts what the sandbox saw.
type Stats struct {
	Requests int // API requests (health and checkout pages excluded)
	Created  int // sessions created
	Replayed int // creates answered from the Idempotency-Key cache
	Lookups  int // status lookups served
	Injected int // requests answered by an injected fault
}

type idemEntry struct {
	hash    string
	session string
}

type fault struct {
	status int
	hang   bool
}

// Server is the sandbox; it is an http.Handler to mount at the root of a
// server (or under a prefix with http.StripPrefix and PublicURL set).
type Server struct {
	opts Options
	now  func() time.Time
	mux  *http.ServeMux
	out  *outbound.Deliverer

	mu       sync.Mutex
	sessions map[string]*Session // by id
	byOrder  map[string]string   // merchantOrderId -> latest session id
	idem     map[string]idemEntry
	faults   []fault
	stats    Stats
	closed   chan struct{}
	once     sync.Once
}

// New returns a sandbox.
func New(o Options) *Server {
	if o.Token == "" {
		o.Token = DefaultToken
	}
	if o.WebhookSecret == "" {
		o.WebhookSecret = DefaultWebhookSecret
	}
	if o.WebhookRetries == 0 {
		o.WebhookRetries = 3
	}
	if o.WebhookRetryDelay == 0 {
		o.WebhookRetryDelay = 200 * time.Millisecond
	}
	if o.Client == nil {
		o.Client = &http.Client{Timeout: 10 * time.Second}
	}
	now := o.Now
	if now == nil {
		now = time.Now
	}
	s := &Server{opts: o, now: now, sessions: map[string]*Session{}, byOrder: map[string]string{},
		idem: map[string]idemEntry{}, closed: make(chan struct{})}
	s.out = outbound.New(outbound.Config{Client: o.Client, Retries: o.WebhookRetries, RetryDelay: o.WebhookRetryDelay, Now: now, Noun: "webhook", Logger: o.Logger, LateURL: true})
	s.out.SetURL(o.WebhookURL)
	s.routes()
	return s
}

// ServeHTTP serves the API, the checkout page and the /_sandbox/ controls.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

// Close stops webhook deliveries (waiting for those in flight) and releases hung requests.
func (s *Server) Close() {
	s.once.Do(func() { close(s.closed) })
	s.out.Close()
}

// SetWebhookURL points webhooks somewhere else.
func (s *Server) SetWebhookURL(u string) { s.out.SetURL(u) }

// WebhookSecret is the secret webhooks are signed with.
func (s *Server) WebhookSecret() string { return s.opts.WebhookSecret }

// Token is the bearer token the API accepts.
func (s *Server) Token() string { return s.opts.Token }

// signHeaders signs a webhook the Standard Webhooks way. It is written
// independently of internal/standardwebhooks so that the two check each other.
func (s *Server) signHeaders(id string, ts int64, body []byte) http.Header {
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(s.opts.WebhookSecret, "whsec_"))
	if err != nil {
		key = []byte(s.opts.WebhookSecret)
	}
	m := hmac.New(sha256.New, key)
	m.Write([]byte(id + "." + strconv.FormatInt(ts, 10) + "."))
	m.Write(body)
	h := http.Header{}
	h.Set("webhook-id", id)
	h.Set("webhook-timestamp", strconv.FormatInt(ts, 10))
	h.Set("webhook-signature", "v1,"+base64.StdEncoding.EncodeToString(m.Sum(nil)))
	return h
}

func newID(prefix string) string {
	b := make([]byte, 12)
	rand.Read(b)
	return prefix + hex.EncodeToString(b)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func apiError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]any{"message": msg, "statusCode": status})
}

// Stats returns what the sandbox has seen so far.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stats
}

// Session returns the latest session of a merchant order.
func (s *Server) Session(orderID string) (Session, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	id, ok := s.byOrder[orderID]
	if !ok {
		return Session{}, false
	}
	return *s.sessions[id], true
}

// Sessions returns every session, in no particular order.
func (s *Server) Sessions() []Session {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Session, 0, len(s.sessions))
	for _, ss := range s.sessions {
		out = append(out, *ss)
	}
	return out
}

// Deliveries lists every webhook delivery attempt so far.
func (s *Server) Deliveries() []Delivery { return s.out.Deliveries() }

// WaitWebhooks blocks until the webhooks sent so far were delivered or given
// up (held ones excepted).
func (s *Server) WaitWebhooks() { s.out.Wait() }
