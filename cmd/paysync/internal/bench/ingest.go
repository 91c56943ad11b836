package bench

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/paysync/paysync/core"
	"github.com/paysync/paysync/internal/standardwebhooks"
	"github.com/paysync/paysync/payments"
	"github.com/paysync/paysync/providers/generic"
	"github.com/paysync/paysync/storage"
)

// IngestResult is one database at one number of clients: paysync beside
// the baseline, each client sending its next event when the last one was
// answered.
type IngestResult struct {
	Database string `json:"database"`
	Clients  int    `json:"clients"`
	Events   int    `json:"events"`
	// PerSecond is signed webhooks answered 200 a second, over HTTP.
	PerSecond float64 `json:"webhooks_per_s"`
	P50ms     float64 `json:"p50_ms"`
	P99ms     float64 `json:"p99_ms"`
	// Baseline is the same rows (journal entry, order update, two outbox
	// records) written by a plain loop of one transaction per event,
	// statement by statement through the driver, with no HTTP at all.
	BaselinePerSecond float64 `json:"baseline_per_s"`
	BaselineP50ms     float64 `json:"baseline_p50_ms"`
	BaselineP99ms     float64 `json:"baseline_p99_ms"`
	Ratio             float64 `json:"ratio"`
	Goal              float64 `json:"goal_ratio"`
	Met               bool    `json:"met"`
}

// RateResult is the latency of webhooks sent at a steady rate, each
// measured from when it was due to be sent (a late send counts).
type RateResult struct {
	Database  string  `json:"database"`
	Rate      int     `json:"rate_per_s"`
	Events    int     `json:"events"`
	PerSecond float64 `json:"webhooks_per_s"`
	P50ms     float64 `json:"p50_ms"`
	P99ms     float64 `json:"p99_ms"`
	GoalP99ms float64 `json:"goal_p99_ms"`
	Met       bool    `json:"met"`
	// FloorP99ms is the p99 of the database alone at the same rate: a
	// one-row INSERT committed on its own, through the driver. paysync's
	// p99 cannot be below it.
	FloorP99ms float64 `json:"floor_p99_ms"`
}

// Goals of issue 15 for ingest.
const (
	ingestRate      = 500
	ingestGoalP99ms = 25
)

var ingestClients = []int{1, 8, 32}

// ingestGoal is the ratio to the baseline a number of clients must reach.
func ingestGoal(clients int) float64 {
	if clients == 1 {
		return 1.0
	}
	return 1.5
}

// benchSecret signs the bench's webhooks (a Standard Webhooks whsec_ secret).
const benchSecret = "whsec_cGF5c3luYy1iZW5jaC1zZWNyZXQtMDEyMzQ1Njc4OQ=="

// benchConnectors are the CRMs each change is enqueued for in section 1:
// two outbox records per event, as in the baseline.
var benchConnectors = []string{"bitrix24", "amocrm"}

func (r *run) ingest(ctx context.Context) error {
	dbs := []string{storage.SQLite}
	if r.o.DatabaseURL != "" {
		dbs = append(dbs, storage.Postgres)
	} else {
		r.skip("ingest on PostgreSQL: no --database-url and no PAYSYNC_TEST_DATABASE_URL")
	}
	for _, dialect := range dbs {
		if err := r.ingestOn(ctx, dialect); err != nil {
			return fmt.Errorf("%s: %w", dialect, err)
		}
	}
	return nil
}

func (r *run) ingestOn(ctx context.Context, dialect string) error {
	sc, err := r.scratchDB(ctx, dialect)
	if err != nil {
		return err
	}
	defer sc.close()
	in, err := startIngest(ctx, sc.db)
	if err != nil {
		return err
	}
	defer in.close()
	events := r.pick(200, 3000)
	for _, clients := range ingestClients {
		r.progress("ingest on %s, %d clients: baseline (%d events)", dialect, clients, events)
		base, err := in.baselineOn(ctx, sc, r.prefix("base", clients), events, clients)
		if err != nil {
			return fmt.Errorf("baseline: %w", err)
		}
		r.progress("ingest on %s, %d clients: paysync (%d events)", dialect, clients, events)
		ours, err := in.webhooks(ctx, r.prefix("hook", clients), events, clients)
		if err != nil {
			return err
		}
		res := IngestResult{Database: dialect, Clients: clients, Events: events,
			PerSecond: ours.perSecond(), P50ms: ours.quantileMS(0.50), P99ms: ours.quantileMS(0.99),
			BaselinePerSecond: base.perSecond(), BaselineP50ms: base.quantileMS(0.50), BaselineP99ms: base.quantileMS(0.99),
			Goal: ingestGoal(clients)}
		res.Ratio = round2(res.PerSecond / res.BaselinePerSecond)
		res.Met = res.Ratio >= res.Goal
		r.rep.Ingest = append(r.rep.Ingest, res)
		r.progress("  paysync %.0f/s (p99 %.1f ms), baseline %.0f/s: %.2fx", res.PerSecond, res.P99ms, res.BaselinePerSecond, res.Ratio)
	}
	n := ingestRate * r.pick(1, 10)
	r.progress("ingest on %s at %d webhooks/s (%d events)", dialect, ingestRate, n)
	at, err := in.atRate(ctx, r.prefix("rate", 0), n, ingestRate)
	if err != nil {
		return err
	}
	rr := RateResult{Database: dialect, Rate: ingestRate, Events: n, PerSecond: at.perSecond(),
		P50ms: at.quantileMS(0.50), P99ms: at.quantileMS(0.99), GoalP99ms: ingestGoalP99ms}
	rr.Met = rr.P99ms <= rr.GoalP99ms
	r.progress("  p50 %.1f ms, p99 %.1f ms; the database alone at that rate", rr.P50ms, rr.P99ms)
	floor, err := in.floor(ctx, sc, n, ingestRate)
	if err != nil {
		return fmt.Errorf("floor: %w", err)
	}
	rr.FloorP99ms = floor.quantileMS(0.99)
	r.rep.IngestAtRate = append(r.rep.IngestAtRate, rr)
	r.progress("  one-row inserts: p99 %.1f ms", rr.FloorP99ms)
	return nil
}

// floor inserts n one-row records at rate a second, each committed alone,
// through the driver's pool (as the baseline's).
func (in *ingestEnv) floor(ctx context.Context, sc *scratch, n, rate int) (*sample, error) {
	pool := in.db.Writer().DB
	if sc.url != "" {
		p, err := sql.Open("postgres", sc.url)
		if err != nil {
			return nil, err
		}
		defer p.Close()
		p.SetMaxOpenConns(32)
		pool = p
	}
	if _, err := pool.ExecContext(ctx, `CREATE TABLE bench_floor (id BIGINT PRIMARY KEY, at BIGINT NOT NULL)`); err != nil {
		return nil, err
	}
	q := `INSERT INTO bench_floor (id, at) VALUES (?, ?)`
	if sc.url != "" {
		q = `INSERT INTO bench_floor (id, at) VALUES ($1, $2)`
	}
	return openLoop(ctx, n, rate, func(ctx context.Context, i int) error {
		_, err := pool.ExecContext(ctx, q, i, time.Now().UnixMicro())
		return err
	})
}

func (r *run) prefix(kind string, clients int) string {
	return kind + strconv.Itoa(clients) + "-"
}

// ingestEnv is one database with the payments service serving its webhooks
// over loopback HTTP, as serve mounts them.
type ingestEnv struct {
	db      *storage.DB
	ledger  *core.Ledger
	svc     *payments.Service
	srv     *http.Server
	url     string
	client  *http.Client
	cancel  context.CancelFunc
	done    chan error
	tmpl    core.Order // every order is a copy of it
	payload int        // the size of a webhook body, for the baseline's journal
}

func startIngest(ctx context.Context, db *storage.DB) (*ingestEnv, error) {
	in := &ingestEnv{db: db}
	in.ledger = &core.Ledger{Store: db, Recent: core.NewRecentOrders(0), Connectors: func() []string { return benchConnectors }}
	g, err := generic.New(generic.Options{Secret: benchSecret})
	if err != nil {
		return nil, err
	}
	in.svc, err = payments.New(payments.Options{Ledger: in.ledger, Store: db, Providers: []core.Provider{g},
		Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.Handle("/webhooks/", in.svc.Webhooks())
	in.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go in.srv.Serve(ln)
	in.url = "http://" + ln.Addr().String() + "/webhooks/generic"
	in.client = &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
		MaxIdleConns: 256, MaxIdleConnsPerHost: 256, DisableCompression: true}}
	sctx, cancel := context.WithCancel(ctx)
	in.cancel, in.done = cancel, make(chan error, 1)
	go func() { in.done <- in.svc.Run(sctx) }()

	tmpl, _, err := in.ledger.CreateOrder(ctx, core.Order{ID: "TEMPLATE", AmountMinor: 1500000, Currency: "AMD",
		Customer: core.Customer{Handle: "@anna.shop", Name: "Anna", Phone: "+37491000000", Email: "anna@example.am"},
		Items:    []core.Item{{SKU: "SCARF-1", Name: "Silk scarf", Quantity: 1, PriceMinor: 1500000}}})
	if err != nil {
		in.close()
		return nil, err
	}
	in.tmpl = tmpl
	in.payload = len(eventBody("evt-000000", "hook32-000000"))
	return in, nil
}

func (in *ingestEnv) close() {
	in.srv.Close()
	in.cancel()
	<-in.done
}

// orders creates n pending orders prefix0 … prefix(n-1), copies of the
// template written in one statement (their creation is not measured).
func (in *ingestEnv) orders(ctx context.Context, prefix string, n int) error {
	w := in.db.Writer()
	_, err := w.ExecContext(ctx, w.Rebind(`WITH RECURSIVE s(n) AS (SELECT 0 UNION ALL SELECT n + 1 FROM s WHERE n < ?)
		INSERT INTO orders (id, status, amount_minor, currency, refunded_minor, customer, items, delivery,
			customer_handle, customer_phone, provider, provider_ref, payment_url, fixed_link, orphan, reason,
			request_hash, created_at, updated_at, status_changed_at, paid_at, expires_at, version)
		SELECT CAST(? AS TEXT) || s.n, status, amount_minor, currency, refunded_minor, customer, items, delivery,
			customer_handle, customer_phone, provider, provider_ref, payment_url, fixed_link, orphan, reason,
			request_hash, created_at, updated_at, status_changed_at, paid_at, expires_at, version
		FROM s, orders WHERE orders.id = ?`), n-1, prefix, in.tmpl.ID)
	return err
}

// createOrders creates n pending orders prefix0 … prefix(n-1) through the
// ledger, as POST /v1/orders does (their creation is not measured).
func (in *ingestEnv) createOrders(ctx context.Context, prefix string, n int) error {
	_, err := closedLoop(ctx, n, 32, func(ctx context.Context, i int) error {
		o := in.tmpl
		o.ID, o.Version, o.Items = prefix+strconv.Itoa(i), 0, slices.Clone(in.tmpl.Items)
		_, _, err := in.ledger.CreateOrder(ctx, o)
		return err
	})
	return err
}

// quiesce makes the timed part start from the same state whatever set it
// up: on SQLite the write-ahead log that creating the orders filled is
// checkpointed now, not by the first commits measured.
func (in *ingestEnv) quiesce(ctx context.Context) error {
	if in.db.Dialect() != storage.SQLite {
		return nil
	}
	_, err := in.db.Writer().ExecContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`)
	return err
}

// eventBody is a generic "paid" event for an order of the template.
func eventBody(eventID, orderID string) []byte {
	b, _ := json.Marshal(map[string]any{"event_id": eventID, "order_id": orderID, "status": "paid",
		"amount_minor": 1500000, "currency": "AMD", "provider_ref": "pi_" + eventID})
	return b
}

// webhook is one signed request, ready to send.
type webhook struct {
	body                []byte
	id, ts, sig, target string
}

func signed(url, eventID, orderID string) (webhook, error) {
	body := eventBody(eventID, orderID)
	now := time.Now().Unix()
	sig, err := signWebhook(eventID, now, body)
	if err != nil {
		return webhook{}, err
	}
	return webhook{body: body, id: eventID, ts: strconv.FormatInt(now, 10), sig: sig, target: url}, nil
}

// signWebhook signs a body the Standard Webhooks way, as a provider would.
func signWebhook(id string, ts int64, body []byte) (string, error) {
	return standardwebhooks.Sign(benchSecret, id, ts, body)
}

// send posts w and checks that it was accepted.
func send(ctx context.Context, c *http.Client, w webhook) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.target, bytes.NewReader(w.body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("webhook-id", w.id)
	req.Header.Set("webhook-timestamp", w.ts)
	req.Header.Set("webhook-signature", w.sig)
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("webhook %s answered %d: %s", w.id, resp.StatusCode, bytes.TrimSpace(b))
	}
	return nil
}

// webhooks sends n events for n fresh orders from clients at once.
func (in *ingestEnv) webhooks(ctx context.Context, prefix string, n, clients int) (*sample, error) {
	if err := in.createOrders(ctx, prefix, n); err != nil {
		return nil, err
	}
	hooks := make([]webhook, n)
	for i := range hooks {
		var err error
		if hooks[i], err = signed(in.url, "evt-"+prefix+strconv.Itoa(i), prefix+strconv.Itoa(i)); err != nil {
			return nil, err
		}
	}
	if err := in.quiesce(ctx); err != nil {
		return nil, err
	}
	s, err := closedLoop(ctx, n, clients, func(ctx context.Context, i int) error { return send(ctx, in.client, hooks[i]) })
	if err != nil {
		return nil, err
	}
	// Every order is paid: nothing was answered 200 without being stored.
	for _, i := range []int{0, n / 2, n - 1} {
		o, err := in.db.GetOrder(ctx, prefix+strconv.Itoa(i))
		if err != nil || o.Status != core.StatusPaid {
			return nil, fmt.Errorf("order %s%d is %s after its paid webhook (%v)", prefix, i, o.Status, err)
		}
	}
	return s, nil
}

// closedLoop runs n jobs from clients goroutines, each starting its next
// job when the last one ended, and samples every job's duration.
func closedLoop(ctx context.Context, n, clients int, job func(ctx context.Context, i int) error) (*sample, error) {
	s := newSample(n)
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, clients)
	start := time.Now()
	for c := 0; c < clients; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= n || ctx.Err() != nil {
					return
				}
				t := time.Now()
				if err := job(ctx, i); err != nil {
					errs <- err
					return
				}
				s.put(i, time.Since(t))
			}
		}()
	}
	wg.Wait()
	s.elapsed = time.Since(start)
	close(errs)
	if err := errors.Join(drain(errs)...); err != nil {
		return nil, err
	}
	return s, ctx.Err()
}

func drain(ch chan error) []error {
	var out []error
	for err := range ch {
		out = append(out, err)
	}
	return out
}

// atRate sends n events at rate a second, each from its own goroutine at
// its due time, and measures each from that time.
func (in *ingestEnv) atRate(ctx context.Context, prefix string, n, rate int) (*sample, error) {
	if err := in.createOrders(ctx, prefix, n); err != nil {
		return nil, err
	}
	hooks := make([]webhook, n)
	for i := range hooks {
		var err error
		if hooks[i], err = signed(in.url, "evt-"+prefix+strconv.Itoa(i), prefix+strconv.Itoa(i)); err != nil {
			return nil, err
		}
	}
	if err := in.quiesce(ctx); err != nil {
		return nil, err
	}
	return openLoop(ctx, n, rate, func(ctx context.Context, i int) error { return send(ctx, in.client, hooks[i]) })
}

// openLoop starts job i at start + i/rate whatever the others do, and
// samples each from its due time to its end.
func openLoop(ctx context.Context, n, rate int, job func(ctx context.Context, i int) error) (*sample, error) {
	s := newSample(n)
	interval := time.Second / time.Duration(rate)
	var wg sync.WaitGroup
	errs := make(chan error, n)
	start := time.Now()
	for i := 0; i < n; i++ {
		due := start.Add(time.Duration(i) * interval)
		if d := time.Until(due); d > 0 {
			select {
			case <-time.After(d):
			case <-ctx.Done():
				wg.Wait()
				return nil, ctx.Err()
			}
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := job(ctx, i); err != nil {
				errs <- err
				return
			}
			s.put(i, time.Since(due))
		}()
	}
	wg.Wait()
	s.elapsed = time.Since(start)
	close(errs)
	return s, errors.Join(drain(errs)...)
}

func round2(f float64) float64 { return float64(int64(f*100+0.5)) / 100 }
