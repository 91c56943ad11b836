package vpos

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"html/template"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/paysync/paysync/sandbox/internal/outbound"
)

func (s *Server) routes() {
	m := http.NewServeMux()
	m.HandleFunc("GET /api/health", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	m.HandleFunc("GET /v1/capabilities", s.api(s.capabilities))
	m.HandleFunc("POST /v1/payment-sessions", s.api(s.createSession))
	m.HandleFunc("GET /v1/payment-sessions/{id}", s.api(s.getSession))
	m.HandleFunc("GET /checkout/{id}", s.checkoutPage)
	m.HandleFunc("POST /_sandbox/sessions/{id}/{action}", s.controlSession)
	m.HandleFunc("POST /_sandbox/orders/{order}/{action}", s.controlOrder)
	m.HandleFunc("POST /_sandbox/faults", s.controlFaults)
	m.HandleFunc("POST /_sandbox/webhooks/release", func(w http.ResponseWriter, r *http.Request) {
		s.ReleaseWebhooks(r.URL.Query().Get("order") == "reverse")
		writeJSON(w, http.StatusOK, map[string]bool{"released": true})
	})
	m.HandleFunc("GET /_sandbox/deliveries", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]any{"deliveries": s.Deliveries()})
	})
	m.HandleFunc("GET /_sandbox/sessions", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]any{"sessions": s.Sessions()})
	})
	s.mux = m
}

// api wraps an API handler with bearer auth and injected faults.
func (s *Server) api(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.stats.Requests++
		s.mu.Unlock()
		if r.Header.Get("Authorization") != "Bearer "+s.opts.Token {
			apiError(w, http.StatusUnauthorized, "Unauthorized: invalid or missing merchant API token")
			return
		}
		if f, ok := s.takeFault(); ok {
			if f.hang {
				select {
				case <-r.Context().Done():
				case <-s.closed:
				}
				return
			}
			switch f.status {
			case http.StatusForbidden:
				apiError(w, f.status, "Forbidden: untrusted origin")
			case http.StatusTooManyRequests:
				w.Header().Set("Retry-After", "1")
				apiError(w, f.status, "Too many requests")
			default:
				apiError(w, f.status, http.StatusText(f.status))
			}
			return
		}
		h(w, r)
	}
}

func (s *Server) takeFault() (fault, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.faults) == 0 {
		return fault{}, false
	}
	f := s.faults[0]
	s.faults = s.faults[1:]
	s.stats.Injected++
	return f, true
}

func (s *Server) capabilities(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{"providers": []any{
		map[string]any{"name": "arca", "capabilities": map[string]bool{"PayLink": true, "QR": false, "refund": true, "fiscalization": false, "tokenization": false}},
	}})
}

type createRequest struct {
	MerchantOrderID string            `json:"merchantOrderId"`
	AmountMinor     int64             `json:"amountMinor"`
	Currency        string            `json:"currency"`
	Provider        string            `json:"provider"`
	ReturnURL       string            `json:"returnUrl"`
	Customer        map[string]string `json:"customer"`
	Metadata        map[string]string `json:"metadata"`
}

func (s *Server) publicURL(r *http.Request) string {
	if s.opts.PublicURL != "" {
		return strings.TrimRight(s.opts.PublicURL, "/")
	}
	return "http://" + r.Host
}

func (s *Server) createSession(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		apiError(w, http.StatusBadRequest, "cannot read body")
		return
	}
	var req createRequest
	dec := json.NewDecoder(strings.NewReader(string(body)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		apiError(w, http.StatusBadRequest, "invalid JSON: "+err.Error())
		return
	}
	switch {
	case req.MerchantOrderID == "":
		apiError(w, http.StatusUnprocessableEntity, "merchantOrderId is required")
		return
	case req.AmountMinor <= 0:
		apiError(w, http.StatusUnprocessableEntity, "amountMinor must be a positive integer")
		return
	case len(req.Currency) != 3:
		apiError(w, http.StatusUnprocessableEntity, "currency must be an ISO 4217 code")
		return
	}
	sum := sha256.Sum256(body)
	hash := hex.EncodeToString(sum[:])
	key := r.Header.Get("Idempotency-Key")
	s.mu.Lock()
	defer s.mu.Unlock()
	if key != "" {
		if e, ok := s.idem[key]; ok {
			if e.hash != hash {
				apiError(w, http.StatusUnprocessableEntity, "Idempotency-Key "+key+" was used with different parameters")
				return
			}
			s.stats.Replayed++
			w.Header().Set("Idempotent-Replayed", "true")
			writeJSON(w, http.StatusCreated, s.sessions[e.session])
			return
		}
	}
	now := s.now().UTC()
	ss := &Session{ID: newID("ps_"), MerchantOrderID: req.MerchantOrderID, AmountMinor: req.AmountMinor,
		Currency: strings.ToUpper(req.Currency), Provider: req.Provider, Status: StatusPending, ReturnURL: req.ReturnURL,
		Customer: req.Customer, Metadata: req.Metadata, CreatedAt: now, UpdatedAt: now}
	ss.CheckoutURL = s.publicURL(r) + "/checkout/" + ss.ID
	s.sessions[ss.ID] = ss
	s.byOrder[ss.MerchantOrderID] = ss.ID
	if key != "" {
		s.idem[key] = idemEntry{hash: hash, session: ss.ID}
	}
	s.stats.Created++
	writeJSON(w, http.StatusCreated, ss)
}

func (s *Server) getSession(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ss, ok := s.sessions[r.PathValue("id")]
	if !ok {
		apiError(w, http.StatusNotFound, "payment session not found")
		return
	}
	s.stats.Lookups++
	writeJSON(w, http.StatusOK, ss)
}

var checkoutTmpl = template.Must(template.New("checkout").Parse(`<!doctype html>
<html><head><meta charset="utf-8"><title>VPOS.am sandbox checkout</title></head>
<body style="font-family:sans-serif;max-width:32em;margin:3em auto">
<h1>VPOS.am sandbox</h1>
<p>Order <b>{{.MerchantOrderID}}</b>: {{.Amount}} {{.Currency}} — status <b>{{.Status}}</b></p>
{{if eq .Status "pending"}}
<form method="post" action="{{.Base}}/_sandbox/sessions/{{.ID}}/pay?redirect=1"><button>Pay</button></form>
<form method="post" action="{{.Base}}/_sandbox/sessions/{{.ID}}/fail?redirect=1"><button>Decline</button></form>
{{end}}
<p><small>This is a local double; no money moves.</small></p>
</body></html>`))

func (s *Server) checkoutPage(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	ss, ok := s.sessions[r.PathValue("id")]
	var view map[string]any
	if ok {
		view = map[string]any{"ID": ss.ID, "MerchantOrderID": ss.MerchantOrderID, "Currency": ss.Currency,
			"Amount": decimal(ss.AmountMinor), "Status": ss.Status, "Base": s.publicURL(r)}
	}
	s.mu.Unlock()
	if !ok {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	checkoutTmpl.Execute(w, view)
}

func decimal(minor int64) string {
	return fmt.Sprintf("%d.%02d", minor/100, minor%100)
}

func (s *Server) controlSession(w http.ResponseWriter, r *http.Request) {
	s.control(w, r, r.PathValue("id"), "")
}

func (s *Server) controlOrder(w http.ResponseWriter, r *http.Request) {
	s.control(w, r, "", r.PathValue("order"))
}

func (s *Server) control(w http.ResponseWriter, r *http.Request, sessionID, orderID string) {
	if sessionID == "" {
		s.mu.Lock()
		sessionID = s.byOrder[orderID]
		s.mu.Unlock()
	}
	var err error
	switch action := r.PathValue("action"); action {
	case "pay":
		err = s.transition(sessionID, StatusPaid, 0)
	case "fail":
		err = s.transition(sessionID, StatusFailed, 0)
	case "expire":
		err = s.transition(sessionID, StatusExpired, 0)
	case "refund":
		amount, _ := strconv.ParseInt(r.URL.Query().Get("amount"), 10, 64)
		err = s.transition(sessionID, StatusRefunded, amount)
	default:
		apiError(w, http.StatusNotFound, "unknown action "+action+" (pay, fail, expire, refund?amount=)")
		return
	}
	if err != nil {
		apiError(w, http.StatusConflict, err.Error())
		return
	}
	s.mu.Lock()
	ss := *s.sessions[sessionID]
	s.mu.Unlock()
	if r.URL.Query().Get("redirect") != "" && ss.ReturnURL != "" {
		http.Redirect(w, r, ss.ReturnURL, http.StatusSeeOther)
		return
	}
	writeJSON(w, http.StatusOK, ss)
}

// faultRequest is the body of POST /_sandbox/faults.
type faultRequest struct {
	FailNext          int  `json:"fail_next"`
	Status            int  `json:"status"` // for fail_next; default 503
	HangNext          int  `json:"hang_next"`
	DropWebhooks      int  `json:"drop_webhooks"`
	DuplicateWebhooks int  `json:"duplicate_webhooks"`
	Copies            int  `json:"copies"` // for duplicate_webhooks; default 2
	HoldWebhooks      bool `json:"hold_webhooks"`
}

func (s *Server) controlFaults(w http.ResponseWriter, r *http.Request) {
	var f faultRequest
	if err := json.NewDecoder(io.LimitReader(r.Body, 1<<16)).Decode(&f); err != nil {
		apiError(w, http.StatusBadRequest, "invalid JSON: "+err.Error())
		return
	}
	if f.FailNext > 0 {
		if f.Status == 0 {
			f.Status = http.StatusServiceUnavailable
		}
		s.FailNext(f.FailNext, f.Status)
	}
	if f.HangNext > 0 {
		s.HangNext(f.HangNext)
	}
	s.out.Inject(outbound.Faults{Drop: f.DropWebhooks, Duplicate: f.DuplicateWebhooks, Copies: f.Copies, Hold: f.HoldWebhooks})
	writeJSON(w, http.StatusOK, map[string]bool{"ok": true})
}
