package dispatcher

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the dispatcher's Prometheus series. A nil *metrics records nothing.
type metrics struct {
	attempts *prometheus.CounterVec   // connector, outcome
	dead     *prometheus.CounterVec   // connector
	latency  *prometheus.HistogramVec // connector
}

// Outcomes counted by paysync_delivery_attempts_total.
const (
	outcomeDelivered = "delivered"      // the CRM has it
	outcomeSynced    = "already_synced" // the CRM already had this version or a newer one
	outcomeSkipped   = "not_sent"       // done by sending nothing (DeliveryResult.Skipped)
	outcomeRetry     = "retry"
	outcomeDead      = "dead"
	outcomeReleased  = "released" // given back without counting (paused connector, shutdown)
	outcomeLost      = "lease_lost"
)

func newMetrics(reg prometheus.Registerer, d *Dispatcher, log *slog.Logger) *metrics {
	if reg == nil {
		return nil
	}
	m := &metrics{
		attempts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "paysync_delivery_attempts_total",
			Help: "Outbox records settled by this process, by connector and outcome (delivered, already_synced, not_sent, retry, dead, released, lease_lost).",
		}, []string{"connector", "outcome"}),
		dead: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "paysync_delivery_dead_letters_total",
			Help: "Outbox records dead-lettered by this process; see `paysync outbox dead`.",
		}, []string{"connector"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "paysync_delivery_latency_seconds",
			Help: "Time from an order change (its updated_at) to the CRM's acknowledgement.",
			// 100ms … ~5 days: a healthy CRM acks in seconds, a retried one in hours.
			Buckets: prometheus.ExponentialBuckets(0.1, 4, 12),
		}, []string{"connector"}),
	}
	m.attempts = register(reg, m.attempts, log)
	m.dead = register(reg, m.dead, log)
	m.latency = register(reg, m.latency, log)
	register(reg, &statsCollector{d: d, log: log}, log)
	return m
}

// register adds c to reg, reusing an identical collector that is already
// there (two dispatchers in one process share the counters).
func register[C prometheus.Collector](reg prometheus.Registerer, c C, log *slog.Logger) C {
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(C); ok {
				return existing
			}
		}
		log.Error("dispatcher metrics not registered", "err", err)
	}
	return c
}

func (m *metrics) settled(connector, outcome string, n int) {
	if m == nil || n == 0 {
		return
	}
	m.attempts.WithLabelValues(connector, outcome).Add(float64(n))
	if outcome == outcomeDead {
		m.dead.WithLabelValues(connector).Add(float64(n))
	}
}

func (m *metrics) delivered(connector string, changedAt, ackedAt time.Time) {
	if m == nil || changedAt.IsZero() {
		return
	}
	m.latency.WithLabelValues(connector).Observe(max(0, ackedAt.Sub(changedAt).Seconds()))
}

// statsCollector reads the backlog from the store at scrape time, so every
// replica reports the same numbers and nothing goes stale between scrapes.
type statsCollector struct {
	d   *Dispatcher
	log *slog.Logger
}

var (
	descPending = prometheus.NewDesc("paysync_outbox_pending",
		"Outbox records waiting for delivery, by connector.", []string{"connector"}, nil)
	descOldest = prometheus.NewDesc("paysync_outbox_oldest_pending_age_seconds",
		"Age of the oldest record waiting for delivery, by connector (0 when none).", []string{"connector"}, nil)
	descDead = prometheus.NewDesc("paysync_outbox_dead",
		"Dead-lettered outbox records, by connector; requeue with `paysync outbox retry`.", []string{"connector"}, nil)
	descState = prometheus.NewDesc("paysync_connector_state",
		"1 for the state each connector is in on this replica (running, backing_off, open, half_open, paused, standby, stopped).",
		[]string{"connector", "state"}, nil)
)

func (c *statsCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- descPending
	ch <- descOldest
	ch <- descDead
	ch <- descState
}

func (c *statsCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	stats, err := c.d.Stats(ctx)
	if err != nil {
		c.log.Warn("outbox metrics unavailable", "err", err)
	}
	now := c.d.clock.Now()
	for _, s := range stats {
		ch <- prometheus.MustNewConstMetric(descPending, prometheus.GaugeValue, float64(s.Pending), s.Connector)
		age := 0.0
		if s.Pending > 0 && !s.OldestPending.IsZero() {
			age = max(0, now.Sub(s.OldestPending).Seconds())
		}
		ch <- prometheus.MustNewConstMetric(descOldest, prometheus.GaugeValue, age, s.Connector)
		ch <- prometheus.MustNewConstMetric(descDead, prometheus.GaugeValue, float64(s.Dead), s.Connector)
		if s.State != "" {
			ch <- prometheus.MustNewConstMetric(descState, prometheus.GaugeValue, 1, s.Connector, s.State)
		}
	}
}
