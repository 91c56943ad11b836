// Package metrics holds the Prometheus series that no single package owns:
// CRM requests by status code (an instrumented HTTP transport every
// connector uses), rate-budget waits and token refreshes (a ConnectorMeter
// per connector), scheduler runs, and orders by status (read from the store
// at scrape time). The dispatcher and payments register their own.
//
// It imports nothing of paysync but core: a ConnectorMeter satisfies
// connectors.Meter by its methods, so the basement needs no arrow up to
// connectors (metrics_test.go checks that it still does).
package metrics

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/paysync/paysync/core"
)

// Metrics are the series; New registers them.
type Metrics struct {
	crmRequests *prometheus.CounterVec   // connector, code
	crmSeconds  *prometheus.HistogramVec // connector
	rateWaits   *prometheus.CounterVec   // connector
	rateWaitSec *prometheus.CounterVec   // connector
	refreshes   *prometheus.CounterVec   // connector, outcome
	schedRuns   *prometheus.CounterVec   // job, outcome
	schedSec    *prometheus.HistogramVec // job
}

// New registers the series on reg.
func New(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		crmRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "paysync_crm_requests_total",
			Help: "HTTP requests to each CRM, by connector and status code (\"error\" when no answer came).",
		}, []string{"connector", "code"}),
		crmSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "paysync_crm_request_seconds",
			Help:    "Duration of HTTP requests to each CRM.",
			Buckets: prometheus.ExponentialBuckets(0.005, 2.5, 10), // 5ms … ~19s
		}, []string{"connector"}),
		rateWaits: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "paysync_crm_rate_limit_waits_total",
			Help: "Requests that waited for the connector's own share of the CRM's rate budget.",
		}, []string{"connector"}),
		rateWaitSec: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "paysync_crm_rate_limit_wait_seconds_total",
			Help: "Time requests spent waiting for the connector's own share of the CRM's rate budget.",
		}, []string{"connector"}),
		refreshes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "paysync_oauth_token_refreshes_total",
			Help: "OAuth token refreshes, by connector and outcome (ok, failed).",
		}, []string{"connector", "outcome"}),
		schedRuns: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "paysync_scheduler_runs_total",
			Help: "Scheduled job runs on this replica, by job and outcome (ok, failed).",
		}, []string{"job", "outcome"}),
		schedSec: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "paysync_scheduler_run_seconds",
			Help:    "Duration of scheduled job runs.",
			Buckets: prometheus.ExponentialBuckets(0.01, 4, 8), // 10ms … ~2.7min
		}, []string{"job"}),
	}
	reg.MustRegister(m.crmRequests, m.crmSeconds, m.rateWaits, m.rateWaitSec, m.refreshes, m.schedRuns, m.schedSec)
	return m
}

// HTTPClient returns a client for one connector's CRM requests that counts
// each by status code, and sends none once the request's context says this
// replica may no longer act for the connector (core.MaySend).
func (m *Metrics) HTTPClient(connector string) *http.Client {
	return &http.Client{Transport: &transport{m: m, connector: connector, next: http.DefaultTransport.(*http.Transport).Clone()}}
}

// errLeaseLost ends a request that was not sent because this replica no
// longer leads its connector.
var errLeaseLost = core.Errorf(core.ELEASELOST, "not sent: this replica no longer leads the connector (its lease was not renewed in time)")

type transport struct {
	m         *Metrics
	connector string
	next      http.RoundTripper
}

func (t *transport) RoundTrip(r *http.Request) (*http.Response, error) {
	if !core.MaySend(r.Context()) {
		if r.Body != nil {
			r.Body.Close()
		}
		return nil, errLeaseLost
	}
	start := time.Now()
	resp, err := t.next.RoundTrip(r)
	code := "error"
	if err == nil {
		code = strconv.Itoa(resp.StatusCode)
	}
	t.m.crmRequests.WithLabelValues(t.connector, code).Inc()
	t.m.crmSeconds.WithLabelValues(t.connector).Observe(time.Since(start).Seconds())
	return resp, err
}

// Meter returns the meter of one connector, for its connectors.Deps.
func (m *Metrics) Meter(connector string) ConnectorMeter {
	return ConnectorMeter{m: m, connector: connector}
}

// ConnectorMeter counts what one connector sees at its CRM: rate-budget
// waits and token refreshes. It is a connectors.Meter.
type ConnectorMeter struct {
	m         *Metrics
	connector string
}

// RateWait counts a request that waited d for the connector's rate budget.
func (c ConnectorMeter) RateWait(d time.Duration) {
	c.m.rateWaits.WithLabelValues(c.connector).Inc()
	c.m.rateWaitSec.WithLabelValues(c.connector).Add(d.Seconds())
}

// TokenRefresh counts an OAuth token refresh, failed when err is set.
func (c ConnectorMeter) TokenRefresh(err error) {
	c.m.refreshes.WithLabelValues(c.connector, outcome(err)).Inc()
}

// SchedulerRun counts one run of a scheduled job.
func (m *Metrics) SchedulerRun(job string, took time.Duration, err error) {
	m.schedRuns.WithLabelValues(job, outcome(err)).Inc()
	m.schedSec.WithLabelValues(job).Observe(took.Seconds())
}

func outcome(err error) string {
	if err != nil {
		return "failed"
	}
	return "ok"
}

// OrderCounter counts orders by status; storage.DB has it.
type OrderCounter interface {
	CountOrders(ctx context.Context) (map[core.Status]int64, error)
}

// Orders is a collector of paysync_orders{status}, read from the store at
// scrape time so that every replica reports the same numbers.
func Orders(store OrderCounter, log *slog.Logger) prometheus.Collector {
	return &ordersCollector{store: store, log: log}
}

var descOrders = prometheus.NewDesc("paysync_orders", "Orders by payment status.", []string{"status"}, nil)

type ordersCollector struct {
	store OrderCounter
	log   *slog.Logger
}

func (c *ordersCollector) Describe(ch chan<- *prometheus.Desc) { ch <- descOrders }

func (c *ordersCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	counts, err := c.store.CountOrders(ctx)
	if err != nil {
		if !errors.Is(err, context.Canceled) {
			c.log.Warn("order counts unavailable for /metrics", "err", err)
		}
		return
	}
	for _, s := range core.Statuses {
		ch <- prometheus.MustNewConstMetric(descOrders, prometheus.GaugeValue, float64(counts[s]), string(s))
	}
}

// DiskReader reports how much disk the database takes; storage.DB has it.
type DiskReader interface {
	DiskUsage(ctx context.Context) (core.DiskUsage, error)
}

// Database is a collector of the database's size on disk and, on SQLite,
// its write-ahead log's (now, the largest seen, and the bound paysync keeps
// it within), read at scrape time.
func Database(db DiskReader, log *slog.Logger) prometheus.Collector {
	return &diskCollector{db: db, log: log}
}

var (
	descDBSize   = prometheus.NewDesc("paysync_database_size_bytes", "Size of the database: the SQLite file, or the PostgreSQL database.", nil, nil)
	descWALSize  = prometheus.NewDesc("paysync_database_wal_bytes", "Size of the SQLite write-ahead log file now (SQLite only).", nil, nil)
	descWALMax   = prometheus.NewDesc("paysync_database_wal_max_bytes", "Largest the SQLite write-ahead log was seen since paysync started (SQLite only).", nil, nil)
	descWALLimit = prometheus.NewDesc("paysync_database_wal_limit_bytes", "The bound paysync keeps the SQLite write-ahead log within (sqlite_wal_limit; SQLite only).", nil, nil)
)

type diskCollector struct {
	db  DiskReader
	log *slog.Logger
}

func (c *diskCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- descDBSize
	ch <- descWALSize
	ch <- descWALMax
	ch <- descWALLimit
}

func (c *diskCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	u, err := c.db.DiskUsage(ctx)
	if err != nil {
		if !errors.Is(err, context.Canceled) {
			c.log.Warn("database size unavailable for /metrics", "err", err)
		}
		return
	}
	ch <- prometheus.MustNewConstMetric(descDBSize, prometheus.GaugeValue, float64(u.Database))
	if u.WALLimit < 0 {
		return // PostgreSQL: the server bounds its own WAL
	}
	ch <- prometheus.MustNewConstMetric(descWALSize, prometheus.GaugeValue, float64(u.WAL))
	ch <- prometheus.MustNewConstMetric(descWALMax, prometheus.GaugeValue, float64(u.WALMax))
	ch <- prometheus.MustNewConstMetric(descWALLimit, prometheus.GaugeValue, float64(u.WALLimit))
}
