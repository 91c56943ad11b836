// Package httpapi serves paysync's HTTP interface: the admin API, health and
// readiness, metrics, and mounts for webhooks and the console.
package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/paysync/paysync/core"
	"github.com/paysync/paysync/dispatcher"
	"github.com/paysync/paysync/internal/logging"
	"github.com/paysync/paysync/internal/throttle"
	"github.com/paysync/paysync/people"
)

// OrderService creates orders (and their payment links) and settles reviews.
// core.Ledger satisfies it; the payments layer wraps it to create links.
type OrderService interface {
	CreateOrder(ctx context.Context, o core.Order) (core.Order, bool, error)
	Review(ctx context.Context, id string, decision core.Status, note, who string) (core.Order, error)
}

// Server is the HTTP interface. Fields are set before Handler is called.
type Server struct {
	Store      core.Store
	Orders     OrderService
	AdminToken string
	// People checks bearer tokens (the admin token and API tokens, with
	// their scopes) and throttles wrong ones; without it one is made from
	// AdminToken and Store.
	People *people.Service
	// Proxies are the reverse proxies whose X-Forwarded-For names the
	// client address that throttles count.
	Proxies throttle.Proxies
	Logger  *slog.Logger
	// Ready reports whether the database is reachable and migrated.
	Ready func(ctx context.Context) error
	// Webhooks serves /webhooks/ (signature-authenticated; no admin token).
	Webhooks http.Handler
	// Pages are the payment providers' own pages for buyers (Idram's
	// GET /pay/{order_id}) and the routes of connectors that hear from their
	// service (Instagram's /webhooks/instagram), by ServeMux pattern; no
	// admin token: each authenticates its sender itself.
	Pages map[string]http.Handler
	// Console serves /ui/ (admin token checked here first).
	Console http.Handler
	// Registry is exposed at /metrics.
	Registry *prometheus.Registry
	// Outbox, when set, reports each connector's backlog and its state on
	// this replica (the dispatcher has it); without it GET /v1/outbox/stats
	// has the store's counts only.
	Outbox OutboxStats
	// Connectors lists enabled connector names, for re-sync requests.
	Connectors func() []string
	Now        func() time.Time

	peopleOnce sync.Once
	auth       *people.Service
}

// OutboxStats reports the backlog and state of every connector;
// *dispatcher.Dispatcher has it.
type OutboxStats interface {
	Stats(ctx context.Context) ([]dispatcher.ConnectorStats, error)
	// Health reports each connector's state from memory (for /readyz).
	Health() []dispatcher.ConnectorHealth
}

// MaxBodyBytes bounds every request body (webhooks included).
const MaxBodyBytes = 256 << 10

// Handler returns the routed handler. Requests that came over TLS (paysync
// terminating it) are answered with Strict-Transport-Security.
func (s *Server) Handler() http.Handler { return hsts(s.requestIDs(s.recoverer(s.routes()))) }

// Routes lists the patterns Handler serves, for the test that keeps
// openapi.json true.
func (s *Server) Routes() []string { return s.routes().Patterns() }

func (s *Server) routes() *Router {
	mux := NewRouter()
	mux.HandleFunc("GET /openapi.json", serveOpenAPI)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("GET /readyz", s.readyz)
	if s.Registry != nil {
		mux.Handle("GET /metrics", promhttp.HandlerFor(s.Registry, promhttp.HandlerOpts{}))
	}
	mux.Handle("POST /v1/orders", s.scoped(core.ScopeOrdersCreate, s.createOrder))
	mux.Handle("GET /v1/orders", s.scoped(core.ScopeOrdersRead, s.listOrders))
	mux.Handle("GET /v1/orders/{order_id}", s.scoped(core.ScopeOrdersRead, s.getOrder))
	mux.Handle("GET /v1/orders/{order_id}/qr.png", s.scoped(core.ScopeOrdersRead, s.orderQR))
	mux.Handle("POST /v1/orders/{order_id}/review", s.admin(s.review))
	mux.Handle("POST /v1/orders/{order_id}/resync", s.admin(s.resync))
	mux.Handle("GET /v1/outbox/stats", s.admin(s.outboxStats))
	mux.Handle("GET /v1/outbox", s.admin(s.listOutbox))
	mux.Handle("POST /v1/outbox/{id}/retry", s.admin(s.retryOutbox))
	mux.Handle("POST /v1/outbox/retry-dead", s.admin(s.retryAllDead))
	mux.Handle("GET /v1/refusals", s.admin(s.listRefusals))
	mux.Handle("GET /v1/conversations", s.scoped(core.ScopeOrdersRead, s.listConversations))
	if s.Webhooks != nil {
		mux.Handle("/webhooks/", s.Webhooks)
	}
	for _, pattern := range slices.Sorted(maps.Keys(s.Pages)) {
		mux.Handle(pattern, s.Pages[pattern])
	}
	if s.Console != nil {
		mux.Handle("/ui/", s.Console)
	}
	return mux
}

// requestIDs gives every request an id, from a sane X-Request-ID header (a
// proxy's) or a new one, answers it in X-Request-ID, and puts it in the
// request's context so that every line logged about the request carries it.
func (s *Server) requestIDs(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.Header.Get("X-Request-ID")
		if !saneRequestID(id) {
			id = logging.NewRequestID()
		}
		w.Header().Set("X-Request-ID", id)
		next.ServeHTTP(w, r.WithContext(logging.WithRequestID(r.Context(), id)))
	})
}

// saneRequestID accepts a short token of letters, digits and -_.:, never
// anything that could forge a log line.
func saneRequestID(id string) bool {
	if id == "" || len(id) > 64 {
		return false
	}
	for _, c := range id {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.ContainsRune("-_.:", c)) {
			return false
		}
	}
	return true
}

func (s *Server) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

func (s *Server) log() *slog.Logger {
	if s.Logger != nil {
		return s.Logger
	}
	return slog.Default()
}

func (s *Server) recoverer(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				s.log().Error("panic serving request", "path", r.URL.Path, "panic", v)
				s.Error(w, r, errors.New("panic"))
			}
		}()
		next.ServeHTTP(w, r)
	})
}

// admin requires a bearer credential with the admin scope: the admin token
// or an owner's API token. With no admin token and no API tokens the admin
// API is closed, never open.
func (s *Server) admin(h http.HandlerFunc) http.Handler { return s.scoped(core.ScopeAdmin, h) }

// whoKey is the context key of the caller a scoped handler runs for.
type whoKey struct{}

// Caller is who a scoped request runs for (the zero Who outside one).
func Caller(r *http.Request) people.Who {
	w, _ := r.Context().Value(whoKey{}).(people.Who)
	return w
}

// scoped requires a bearer credential that carries scope: 401 without a
// right one, 403 when it lacks the scope, 429 (with Retry-After) when the
// client's address has guessed too often.
func (s *Server) scoped(scope core.Scope, h http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok || tok == "" {
			w.Header().Set("WWW-Authenticate", `Bearer realm="paysync"`)
			msg := "missing token: send Authorization: Bearer with an API token (paysync tokens add) or $PAYSYNC_ADMIN_TOKEN"
			s.Error(w, r, core.Errorf(core.EUNAUTHORIZED, "%s", msg))
			return
		}
		who, err := s.people().Bearer(r.Context(), tok, s.Proxies.Client(r))
		if err != nil {
			switch core.ErrorCode(err) {
			case core.ETOOMANY:
				w.Header().Set("Retry-After", strconv.Itoa(people.RetryAfter(err)))
			case core.EUNAUTHORIZED:
				w.Header().Set("WWW-Authenticate", `Bearer realm="paysync"`)
				if s.AdminToken == "" {
					err = core.Errorf(core.EUNAUTHORIZED, "wrong token, and the admin token is not set: set PAYSYNC_ADMIN_TOKEN and restart, or use an API token (paysync tokens add)")
				}
			}
			s.Error(w, r, err)
			return
		}
		if !who.Can(scope) {
			s.Error(w, r, core.Errorf(core.EFORBIDDEN, "this token may not do that: it needs the %s scope (paysync tokens add --scope %s, by a person whose role allows it)", scope, scope))
			return
		}
		if err := checkURLText(r); err != nil {
			s.Error(w, r, err)
			return
		}
		h(w, r.WithContext(context.WithValue(r.Context(), whoKey{}, who)))
	})
}

// people is the credential checker: People, or one over AdminToken and Store.
func (s *Server) people() *people.Service {
	s.peopleOnce.Do(func() {
		if s.People != nil {
			s.auth = s.People
			return
		}
		st, _ := s.Store.(core.People)
		s.auth = &people.Service{Store: st, AdminToken: s.AdminToken, Guard: people.NewGuard(s.log()), Logger: s.log()}
	})
	return s.auth
}

// checkURLText refuses a path or query parameter holding a NUL character
// or invalid UTF-8: no order id or search can hold one, PostgreSQL refuses
// to compare with one, and SQLite ends a LIKE pattern at a NUL (q=%00
// matched every order).
func checkURLText(r *http.Request) error {
	if err := core.CheckText("the URL path", r.URL.Path); err != nil {
		return err
	}
	for k, vs := range r.URL.Query() {
		if err := core.CheckText("a query parameter name", k); err != nil {
			return err
		}
		for _, v := range vs {
			if err := core.CheckText("query parameter "+k, v); err != nil {
				return err
			}
		}
	}
	return nil
}

// Readiness is the body of /readyz: the database, and each connector's
// state on this replica. Only the database decides readiness: a CRM that is
// down must not take paysync out of the load balancer, since webhooks are
// still accepted and journaled.
type Readiness struct {
	Status     string                       `json:"status"` // ready | unavailable
	Database   string                       `json:"database"`
	Error      string                       `json:"error,omitempty"`
	Connectors []dispatcher.ConnectorHealth `json:"connectors"`
}

func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	body := Readiness{Status: "ready", Database: "ok", Connectors: []dispatcher.ConnectorHealth{}}
	if s.Outbox != nil {
		if hs := s.Outbox.Health(); hs != nil {
			body.Connectors = hs
		}
	}
	if s.Ready != nil {
		ctx, cancel := context.WithTimeout(r.Context(), 3*time.Second)
		defer cancel()
		if err := s.Ready(ctx); err != nil {
			s.log().WarnContext(r.Context(), "not ready", "err", err)
			body.Status, body.Database, body.Error = "unavailable", "unavailable", core.ErrorMessage(err)
			writeJSON(w, http.StatusServiceUnavailable, body)
			return
		}
	}
	writeJSON(w, http.StatusOK, body)
}

// StatusFor maps an error code onto an HTTP status.
func StatusFor(code string) int {
	switch code {
	case core.EINVALID:
		return http.StatusBadRequest
	case core.EUNAUTHORIZED:
		return http.StatusUnauthorized
	case core.EFORBIDDEN:
		return http.StatusForbidden
	case core.ENOTFOUND:
		return http.StatusNotFound
	case core.ECONFLICT, core.ESTALE:
		return http.StatusConflict
	case core.ETOOLARGE:
		return http.StatusRequestEntityTooLarge
	case core.EUNAVAILABLE:
		return http.StatusServiceUnavailable
	case core.EMETHOD:
		return http.StatusMethodNotAllowed
	case core.ETOOMANY:
		return http.StatusTooManyRequests
	}
	return http.StatusInternalServerError
}

// Error writes err as JSON `{"error":{"code","message"}}`; internal details are
// logged, never sent.
func (s *Server) Error(w http.ResponseWriter, r *http.Request, err error) {
	code := core.ErrorCode(err)
	if code == core.EINTERNAL {
		ctx := logging.WithOrderID(r.Context(), r.PathValue("order_id"))
		s.log().ErrorContext(ctx, "request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	writeJSON(w, StatusFor(code), map[string]any{"error": map[string]string{"code": code, "message": core.ErrorMessage(err)}})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}

// MaxJSONDepth bounds how deep objects and arrays nest in a request body:
// an order's "delivery" (an address, a pickup point) needs a few levels.
const MaxJSONDepth = 16

// jsonDepth is how deep objects and arrays nest in b, read as JSON (strings
// skipped).
func jsonDepth(b []byte) int {
	depth, deepest, inString, escaped := 0, 0, false, false
	for _, c := range b {
		switch {
		case inString:
			switch {
			case escaped:
				escaped = false
			case c == '\\':
				escaped = true
			case c == '"':
				inString = false
			}
		case c == '"':
			inString = true
		case c == '{' || c == '[':
			if depth++; depth > deepest {
				deepest = depth
			}
		case c == '}' || c == ']':
			depth--
		}
	}
	return deepest
}

// decode reads a JSON body of at most MaxBodyBytes and decodes it with
// DecodeJSON.
func decode(w http.ResponseWriter, r *http.Request, v any) error {
	r.Body = http.MaxBytesReader(w, r.Body, MaxBodyBytes)
	body, err := io.ReadAll(r.Body)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return core.Errorf(core.ETOOLARGE, "body is larger than %d bytes", MaxBodyBytes)
		}
		return core.Errorf(core.EINVALID, "cannot read the body")
	}
	return DecodeJSON(body, v)
}

// DecodeJSON decodes a request body of at most MaxJSONDepth levels,
// refusing unknown fields, anything after the object, invalid UTF-8 (which
// the decoder would quietly replace) and NUL characters in any string,
// naming the field. The CLI reads files with it (paysync mapping render),
// so that a file is read exactly as the API reads the same body.
func DecodeJSON(body []byte, v any) error {
	if !utf8.Valid(body) {
		return core.Errorf(core.EINVALID, "the body is not valid UTF-8 text; send JSON encoded as UTF-8")
	}
	if d := jsonDepth(body); d > MaxJSONDepth {
		// Read deep, a small body is echoed back huge: each level is a line
		// indented by one more step (a 20 KB order 9,990 levels deep made
		// every GET of it 200 MB).
		return core.Errorf(core.EINVALID, "the JSON body nests objects and arrays %d levels deep; at most %d are accepted (flatten \"delivery\")", d, MaxJSONDepth)
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return core.Errorf(core.EINVALID, "malformed JSON body: %s", core.CleanText(err.Error()))
	}
	if rest := bytes.TrimSpace(body[dec.InputOffset():]); len(rest) > 0 {
		return core.Errorf(core.EINVALID, "the body holds more after its JSON object (at byte %d): send exactly one JSON object", dec.InputOffset())
	}
	if bytes.Contains(body, []byte(`\u0000`)) {
		var doc any
		if json.Unmarshal(body, &doc) == nil {
			return core.CheckTextIn("", doc)
		}
	}
	return nil
}

func atoi(s string, def int) int {
	n, err := strconv.Atoi(s)
	if err != nil {
		return def
	}
	return n
}
