package httpapi

import (
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/paysync/paysync/core"
	"github.com/paysync/paysync/dispatcher"
	"github.com/paysync/paysync/internal/qrpng"
)

// CreateOrderRequest is the body of POST /v1/orders.
type CreateOrderRequest struct {
	OrderID     string         `json:"order_id"`
	AmountMinor int64          `json:"amount_minor"`
	Currency    string         `json:"currency"`
	Customer    core.Customer  `json:"customer"`
	Items       []core.Item    `json:"items"`
	Delivery    map[string]any `json:"delivery"`
	ExpiresIn   string         `json:"expires_in"`
	Provider    string         `json:"provider"`
}

// MaxExpiresIn bounds how long a payment link may stay open.
const MaxExpiresIn = core.MaxExpiry

// Order turns the request into an order, checking expires_in. Without it
// the order gets the ledger's default expiry (core.Ledger.DefaultExpiry).
func (req CreateOrderRequest) Order(now time.Time) (core.Order, error) {
	o := core.Order{ID: req.OrderID, AmountMinor: req.AmountMinor, Currency: strings.ToUpper(req.Currency),
		Customer: req.Customer, Items: req.Items, Shipping: req.Delivery, Provider: req.Provider}
	if req.ExpiresIn != "" {
		d, err := time.ParseDuration(req.ExpiresIn)
		if err != nil || d <= 0 || d > MaxExpiresIn {
			return o, core.Errorf(core.EINVALID, "expires_in %q must be a duration such as 30m or 24h, at most 2160h", req.ExpiresIn)
		}
		// Truncated so that a repeat of the same body hashes the same.
		exp := now.Add(d).UTC().Truncate(time.Microsecond)
		o.ExpiresAt = &exp
	}
	return o, nil
}

// OrderView is GET /v1/orders/{id}: the order, its journal and its deliveries.
type OrderView struct {
	Order      core.Order          `json:"order"`
	Journal    []core.JournalEntry `json:"journal"`
	Deliveries []DeliveryView      `json:"deliveries"`
}

// DeliveryView is one connector's delivery state for an order.
type DeliveryView struct {
	Connector string             `json:"connector"`
	State     core.DeliveryState `json:"state"`
	// Attempts counts the tries made; Failed those that did not go
	// through (a delivery that went through at once has none).
	Attempts   int    `json:"attempts"`
	Failed     int    `json:"failed"`
	ExternalID string `json:"external_id"`
	LastError  string `json:"last_error"`
}

func (s *Server) createOrder(w http.ResponseWriter, r *http.Request) {
	var req CreateOrderRequest
	if err := decode(w, r, &req); err != nil {
		s.Error(w, r, err)
		return
	}
	o, err := req.Order(s.now())
	if err != nil {
		s.Error(w, r, err)
		return
	}
	got, created, err := s.Orders.CreateOrder(r.Context(), o)
	if err != nil {
		s.Error(w, r, err)
		return
	}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
	}
	writeJSON(w, status, got)
}

func (s *Server) getOrder(w http.ResponseWriter, r *http.Request) {
	v, err := LoadOrderView(r, s.Store, r.PathValue("order_id"))
	if err != nil {
		s.Error(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, v)
}

// LoadOrderView gathers what the API and the console show for one order.
func LoadOrderView(r *http.Request, st core.Store, id string) (OrderView, error) {
	ctx := r.Context()
	o, err := st.GetOrder(ctx, id)
	if err != nil {
		return OrderView{}, err
	}
	j, err := st.ListJournal(ctx, id)
	if err != nil {
		return OrderView{}, err
	}
	recs, err := st.OrderDeliveries(ctx, id)
	if err != nil {
		return OrderView{}, err
	}
	return OrderView{Order: o, Journal: j, Deliveries: SummarizeDeliveries(recs)}, nil
}

// SummarizeDeliveries folds an order's outbox records into one line per
// connector: dead if its latest record is dead, pending if any is pending,
// else delivered.
func SummarizeDeliveries(recs []core.OutboxRecord) []DeliveryView {
	var out []DeliveryView
	idx := map[string]int{}
	for _, rec := range recs {
		i, ok := idx[rec.Connector]
		if !ok {
			i = len(out)
			idx[rec.Connector] = i
			out = append(out, DeliveryView{Connector: rec.Connector, State: core.DeliveryDelivered})
		}
		d := &out[i]
		d.Attempts += rec.Attempts
		failed := rec.Attempts
		if rec.State == core.DeliveryDelivered && failed > 0 {
			failed-- // the last try is the one that went through
		}
		d.Failed += failed
		if rec.ExternalID != "" {
			d.ExternalID = rec.ExternalID
		}
		switch rec.State {
		case core.DeliveryDead:
			d.State, d.LastError = core.DeliveryDead, rec.LastError
		case core.DeliveryPending:
			if d.State != core.DeliveryDead {
				d.State = core.DeliveryPending
			}
			if rec.LastError != "" {
				d.LastError = rec.LastError
			}
		case core.DeliveryDelivered:
			if d.State == core.DeliveryDead {
				d.State = core.DeliveryDelivered // a later successful sync supersedes the dead one
			}
		}
	}
	if out == nil {
		out = []DeliveryView{}
	}
	return out
}

func (s *Server) listOrders(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	st := core.Status(q.Get("status"))
	if st != "" && !st.Valid() {
		s.Error(w, r, core.Errorf(core.EINVALID, "unknown status %q (statuses are %s)", st, core.StatusNames()))
		return
	}
	orders, err := s.Store.ListOrders(r.Context(), core.OrderQuery{Status: st, Q: q.Get("q"), Limit: atoi(q.Get("limit"), 100), Before: q.Get("before")})
	if err != nil {
		s.Error(w, r, err)
		return
	}
	if orders == nil {
		orders = []core.Order{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"orders": orders})
}

type reviewRequest struct {
	Decision core.Status `json:"decision"`
	Note     string      `json:"note"`
}

func (s *Server) review(w http.ResponseWriter, r *http.Request) {
	var req reviewRequest
	if err := decode(w, r, &req); err != nil {
		s.Error(w, r, err)
		return
	}
	o, err := s.Orders.Review(r.Context(), r.PathValue("order_id"), req.Decision, req.Note, "api ("+Caller(r).Journal()+")")
	if err != nil {
		s.Error(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, o)
}

// resync queues the order for every enabled connector, or for the one named
// by ?connector=, which must be enabled.
func (s *Server) resync(w http.ResponseWriter, r *http.Request) {
	enabled := []string{}
	if s.Connectors != nil {
		enabled = s.Connectors()
	}
	conns := enabled
	if c := r.URL.Query().Get("connector"); c != "" {
		if err := core.CheckConnector(c, enabled); err != nil {
			s.Error(w, r, err)
			return
		}
		conns = []string{c}
	}
	if len(conns) == 0 {
		s.Error(w, r, core.ErrNoConnector)
		return
	}
	if err := s.Store.Enqueue(r.Context(), r.PathValue("order_id"), conns, s.now()); err != nil {
		s.Error(w, r, err)
		return
	}
	writeJSON(w, http.StatusAccepted, map[string]any{"enqueued": conns})
}

// outboxStats answers each connector's backlog and, from the dispatcher,
// its state and the reason (oldest_pending and until only when set).
func (s *Server) outboxStats(w http.ResponseWriter, r *http.Request) {
	var stats []dispatcher.ConnectorStats
	if s.Outbox != nil {
		var err error
		if stats, err = s.Outbox.Stats(r.Context()); err != nil {
			s.Error(w, r, err)
			return
		}
	} else {
		all, err := s.Store.OutboxStats(r.Context())
		if err != nil {
			s.Error(w, r, err)
			return
		}
		for _, st := range all {
			cs := dispatcher.ConnectorStats{Connector: st.Connector, Pending: st.Pending, Dead: st.Dead, Delivered: st.Delivered}
			if st.Pending > 0 {
				cs.OldestPending = st.OldestPending
			}
			stats = append(stats, cs)
		}
	}
	if stats == nil {
		stats = []dispatcher.ConnectorStats{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"connectors": stats})
}

func (s *Server) listOutbox(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	recs, err := s.Store.ListOutbox(r.Context(), q.Get("connector"), core.DeliveryState(q.Get("state")), atoi(q.Get("limit"), 100))
	if err != nil {
		s.Error(w, r, err)
		return
	}
	if recs == nil {
		recs = []core.OutboxRecord{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"records": recs})
}

func (s *Server) retryOutbox(w http.ResponseWriter, r *http.Request) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		s.Error(w, r, core.Errorf(core.EINVALID, "outbox id must be a number"))
		return
	}
	if err := s.Store.RetryOutbox(r.Context(), id, s.now()); err != nil {
		s.Error(w, r, err)
		return
	}
	writeJSON(w, http.StatusAccepted, map[string]any{"requeued": id})
}

func (s *Server) retryAllDead(w http.ResponseWriter, r *http.Request) {
	n, err := s.Store.RetryAllDead(r.Context(), r.URL.Query().Get("connector"), s.now())
	if err != nil {
		s.Error(w, r, err)
		return
	}
	writeJSON(w, http.StatusAccepted, map[string]any{"requeued": n})
}

// listRefusals shows the refused webhook requests, counted per provider,
// source, verdict and hour, the latest first.
func (s *Server) listRefusals(w http.ResponseWriter, r *http.Request) {
	rs, err := s.Store.ListRefusals(r.Context(), atoi(r.URL.Query().Get("limit"), 100))
	if err != nil {
		s.Error(w, r, err)
		return
	}
	if rs == nil {
		rs = []core.Refusal{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"refusals": rs})
}

// orderQR is the order's payment link as a QR code (PNG), to print or to
// show on a screen for the customer's phone.
func (s *Server) orderQR(w http.ResponseWriter, r *http.Request) {
	o, err := s.Store.GetOrder(r.Context(), r.PathValue("order_id"))
	if err != nil {
		s.Error(w, r, err)
		return
	}
	if o.PaymentURL == "" {
		s.Error(w, r, core.Errorf(core.ENOTFOUND, "order %s has no payment link: create it with a provider that makes links", o.ID))
		return
	}
	png, err := qrpng.PNG(o.PaymentURL)
	if err != nil {
		s.Error(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "image/png")
	w.Header().Set("Cache-Control", "private, max-age=300")
	w.Write(png)
}
