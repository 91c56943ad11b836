package payments_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/paysync/paysync/core"
	"github.com/paysync/paysync/httpapi"
	"github.com/paysync/paysync/internal/standardwebhooks"
	"github.com/paysync/paysync/internal/testutil"
	"github.com/paysync/paysync/payments"
	"github.com/paysync/paysync/providers/arca"
	"github.com/paysync/paysync/providers/generic"
	"github.com/paysync/paysync/providers/vpos"
	arcasandbox "github.com/paysync/paysync/sandbox/arca"
	vpossandbox "github.com/paysync/paysync/sandbox/vpos"
	"github.com/paysync/paysync/storage"
	"github.com/paysync/paysync/storage/testdb"
)

const genericSecret = "whsec_cGF5c3luYy10ZXN0LWdlbmVyaWMtc2VjcmV0LTAx"

// connectors are the CRM connectors every change is enqueued for.
var connectors = []string{"crm_a", "crm_b"}

// harness is one database, the payments service serving its webhooks over
// real HTTP on loopback, and the VPOS.am and ArCa doubles pointed at it.
type harness struct {
	t       testing.TB
	db      *storage.DB
	ledger  *core.Ledger
	svc     *payments.Service
	srv     *httptest.Server
	client  *http.Client
	vpos    *vpossandbox.Server
	vposSrv *httptest.Server
	arca    *arcasandbox.Gateway
	arcaSrv *httptest.Server
	handler atomic.Value // http.Handler
	seq     atomic.Int64
}

type harnessOptions struct {
	svc            func(*payments.Options)
	arca           arcasandbox.Options
	vposConfirmOff bool
	lookupTimeout  time.Duration
	// extra adds providers built once the harness has its database and
	// server (the Idram adapter reads orders); their pages are served too.
	extra func(h *harness) []core.Provider
	// storage, when its DataDir or DatabaseURL is set, opens the database
	// with these options instead of a fresh one of the dialect.
	storage storage.Options
	// now, when set, is the clock of the ledger, the service and the ArCa
	// double.
	now func() time.Time
}

func newHarness(t testing.TB, dialect string, ho harnessOptions) *harness {
	t.Helper()
	h := &harness{t: t, client: &http.Client{Timeout: 30 * time.Second}}
	if ho.storage.DataDir != "" || ho.storage.DatabaseURL != "" {
		h.db = testdb.OpenWith(t, ho.storage)
	} else {
		h.db = testdb.Open(t, dialect)
	}
	h.ledger = &core.Ledger{Store: h.db, Recent: core.NewRecentOrders(0), Connectors: func() []string { return connectors }, Now: ho.now} // as serve wires it
	h.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.handler.Load().(http.Handler).ServeHTTP(w, r)
	}))
	t.Cleanup(h.srv.Close)

	h.vpos = vpossandbox.New(vpossandbox.Options{WebhookURL: h.srv.URL + "/webhooks/vpos", WebhookRetryDelay: 10 * time.Millisecond})
	h.vposSrv = httptest.NewServer(h.vpos)
	ao := ho.arca
	if ao.CallbackURL == "" {
		ao.CallbackURL = h.srv.URL + "/webhooks/arca"
	}
	ao.CallbackRetryDelay = 10 * time.Millisecond
	if ho.now != nil {
		ao.Now = ho.now
	}
	h.arca = arcasandbox.New(ao)
	h.arcaSrv = httptest.NewServer(h.arca)

	lt := ho.lookupTimeout
	if lt == 0 {
		lt = 5 * time.Second
	}
	g, err := generic.New(generic.Options{Secret: genericSecret})
	if err != nil {
		t.Fatal(err)
	}
	confirm := !ho.vposConfirmOff
	v, err := vpos.New(vpos.Options{BaseURL: h.vposSrv.URL, APIToken: vpossandbox.DefaultToken, WebhookSecret: vpossandbox.DefaultWebhookSecret,
		ConfirmWithLookup: &confirm, ReturnURL: h.srv.URL + "/webhooks/vpos/return?order_id={order_id}", Timeout: lt})
	if err != nil {
		t.Fatal(err)
	}
	a, err := arca.New(arca.Options{BaseURL: h.arcaSrv.URL + arcasandbox.RESTPath, Username: arcasandbox.DefaultUsername,
		Password: arcasandbox.DefaultPassword, CallbackKey: h.arca.CallbackKey(),
		ReturnURL: h.srv.URL + "/webhooks/arca/return?order_id={order_id}", Timeout: lt})
	if err != nil {
		t.Fatal(err)
	}
	provs := []core.Provider{g, v, a}
	if ho.extra != nil {
		provs = append(provs, ho.extra(h)...)
	}
	o := payments.Options{Ledger: h.ledger, Store: h.db, Providers: provs, Logger: testutil.Logger(t),
		ConfirmRetry: []time.Duration{}, LookupTimeout: lt, Now: ho.now}
	if ho.svc != nil {
		ho.svc(&o)
	}
	h.svc, err = payments.New(o)
	if err != nil {
		t.Fatal(err)
	}
	if pages := h.svc.Pages(); len(pages) == 0 {
		h.handler.Store(h.svc.Webhooks())
	} else {
		mux := http.NewServeMux()
		mux.Handle("/webhooks/", h.svc.Webhooks())
		for pattern, ph := range pages {
			mux.Handle(pattern, ph)
		}
		h.handler.Store(http.Handler(mux))
	}
	// Cleanups run last-in first-out: stop the senders, then the service, then the database.
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- h.svc.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	t.Cleanup(func() { h.vpos.Close(); h.vposSrv.Close(); h.arca.Close(); h.arcaSrv.Close() })
	return h
}

func (h *harness) id(prefix string) string {
	return fmt.Sprintf("%s-%d", prefix, h.seq.Add(1))
}

// order creates an order through the service (and its link, for a provider).
func (h *harness) order(id string, amount int64, provider string) core.Order {
	h.t.Helper()
	o, _, err := h.svc.CreateOrder(context.Background(), core.Order{ID: id, AmountMinor: amount, Currency: "AMD", Provider: provider,
		Customer: core.Customer{Name: "Anna", Phone: "+37491000000", Email: "anna@example.am"}})
	if err != nil {
		h.t.Fatalf("create order %s: %v", id, err)
	}
	return o
}

func (h *harness) get(id string) core.Order {
	h.t.Helper()
	o, err := h.db.GetOrder(context.Background(), id)
	if err != nil {
		h.t.Fatalf("get order %s: %v", id, err)
	}
	return o
}

func (h *harness) journal(id string) []core.JournalEntry {
	h.t.Helper()
	j, err := h.db.ListJournal(context.Background(), id)
	if err != nil {
		h.t.Fatal(err)
	}
	return j
}

// verdicts lists an order's journal verdicts, oldest first.
func (h *harness) verdicts(id string) []core.Verdict {
	var out []core.Verdict
	for _, e := range h.journal(id) {
		out = append(out, e.Verdict)
	}
	return out
}

func count[T comparable](xs []T, x T) int {
	n := 0
	for _, y := range xs {
		if y == x {
			n++
		}
	}
	return n
}

// countVerdict counts the requests recorded with a verdict: journal entries,
// order or none, plus refused requests counted in the refusal records.
func (h *harness) countVerdict(v core.Verdict) int {
	h.t.Helper()
	var n, refused int
	w := h.db.Writer()
	if err := w.Get(&n, w.Rebind(`SELECT COUNT(*) FROM journal WHERE verdict = ?`), string(v)); err != nil {
		h.t.Fatal(err)
	}
	if err := w.Get(&refused, w.Rebind(`SELECT COALESCE(SUM(requests), 0) FROM refusals WHERE verdict = ?`), string(v)); err != nil {
		h.t.Fatal(err)
	}
	return n + refused
}

// outboxAt counts outbox records per connector at one order version.
func (h *harness) outboxAt(id string, version int64) map[string]int {
	h.t.Helper()
	recs, err := h.db.OrderDeliveries(context.Background(), id)
	if err != nil {
		h.t.Fatal(err)
	}
	out := map[string]int{}
	for _, r := range recs {
		if r.OrderVersion == version {
			out[r.Connector]++
		}
	}
	return out
}

// genericEvent is a generic webhook body.
type genericEvent struct {
	EventID       string `json:"event_id,omitempty"`
	OrderID       string `json:"order_id"`
	Status        string `json:"status"`
	AmountMinor   int64  `json:"amount_minor,omitempty"`
	Currency      string `json:"currency,omitempty"`
	RefundedMinor int64  `json:"refunded_minor,omitempty"`
	ProviderRef   string `json:"provider_ref,omitempty"`
	OccurredAt    string `json:"occurred_at,omitempty"`
}

func (e genericEvent) body() []byte {
	b, _ := json.Marshal(e)
	return b
}

// signedRequest builds a generic webhook request signed at ts.
func (h *harness) signedRequest(secret, msgID string, ts time.Time, body []byte) *http.Request {
	req, _ := http.NewRequest(http.MethodPost, h.srv.URL+"/webhooks/generic", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if secret != "" {
		sig, err := standardwebhooks.Sign(secret, msgID, ts.Unix(), body)
		if err != nil {
			h.t.Fatal(err)
		}
		req.Header.Set("webhook-id", msgID)
		req.Header.Set("webhook-timestamp", strconv.FormatInt(ts.Unix(), 10))
		req.Header.Set("webhook-signature", sig)
	}
	return req
}

type answer struct {
	status   int
	verdicts []core.Verdict
	body     string
}

func (h *harness) do(req *http.Request) answer {
	h.t.Helper()
	resp, err := h.client.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	a := answer{status: resp.StatusCode, body: string(b)}
	var res payments.WebhookResult
	if json.Unmarshal(b, &res) == nil {
		a.verdicts = res.Verdicts
	}
	return a
}

// sendGeneric signs and posts a generic event; msgID defaults to the event id.
func (h *harness) sendGeneric(ev genericEvent) answer {
	h.t.Helper()
	id := ev.EventID
	if id == "" {
		id = h.id("msg")
	}
	return h.do(h.signedRequest(genericSecret, id, time.Now(), ev.body()))
}

func (h *harness) waitStatus(id string, st core.Status) core.Order {
	h.t.Helper()
	var o core.Order
	testutil.Eventually(h.t, "order "+id+" to be "+string(st), func() bool {
		var err error
		o, err = h.db.GetOrder(context.Background(), id)
		return err == nil && o.Status == st
	})
	return o
}

// waitVerdict waits until the order's journal holds n entries with verdict v.
func (h *harness) waitVerdict(id string, v core.Verdict, n int) {
	h.t.Helper()
	testutil.Eventually(h.t, fmt.Sprintf("%d %s entries for %s", n, v, id), func() bool {
		return count(h.verdicts(id), v) >= n
	})
}

// The service is what the HTTP API's POST /v1/orders and review call.
var _ httpapi.OrderService = (*payments.Service)(nil)
