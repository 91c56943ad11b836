package payments

import "github.com/prometheus/client_golang/prometheus"

type metrics struct {
	webhooks *prometheus.CounterVec
	lookups  *prometheus.CounterVec
	ingest   *prometheus.HistogramVec
}

func newMetrics() *metrics {
	return &metrics{
		webhooks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "paysync_webhooks_total",
			Help: "Inbound provider webhooks and callbacks, by provider and journal verdict.",
		}, []string{"provider", "verdict"}),
		lookups: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "paysync_status_lookups_total",
			Help: "Provider status lookups, by provider and outcome (the journal verdict, or lookup_failed).",
		}, []string{"provider", "outcome"}),
		ingest: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "paysync_webhook_seconds",
			Help:    "Time from reading a webhook to answering it (verification and the journal transaction).",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14),
		}, []string{"provider"}),
	}
}

func (m *metrics) collectors() []prometheus.Collector {
	return []prometheus.Collector{m.webhooks, m.lookups, m.ingest}
}
