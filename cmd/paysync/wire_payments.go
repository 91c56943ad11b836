package main

import (
	"context"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/paysync/paysync/connectors"
	"github.com/paysync/paysync/core"
	"github.com/paysync/paysync/httpapi"
	"github.com/paysync/paysync/internal/metrics"
	"github.com/paysync/paysync/payments"
	"github.com/paysync/paysync/providers"
	"github.com/paysync/paysync/scheduler"
)

// newPayments is the payments service over the app's ledger and the
// providers built from its config.
func newPayments(a *app, provs []core.Provider) (*payments.Service, error) {
	return payments.New(payments.Options{Ledger: a.ledger, Store: a.store, Providers: provs, Logger: a.log,
		EnableHint: providers.EnableHint(), ReconcileAfter: a.cfg.Scheduler.ReconcileAfter.D(), ShutdownTimeout: a.cfg.ShutdownTimeout.D()})
}

// wirePayments connects the payment providers (order links, webhooks,
// confirmations) and the scheduler (expiry, reconcile, retention).
func wirePayments(ctx context.Context, a *app, api *httpapi.Server, reg *prometheus.Registry, d *daemon, p *parts, m *metrics.Metrics) (*payments.Service, error) {
	svc, err := newPayments(a, p.providers)
	if err != nil {
		return nil, &exitError{code: 2, msg: "paysync: " + err.Error()}
	}
	api.Orders, api.Webhooks, api.Pages = svc, svc.Webhooks(), svc.Pages()
	reg.MustRegister(svc.Collectors()...)
	sch, err := scheduler.FromConfig(a.cfg, a.store, svc, a.log)
	if err != nil {
		return nil, &exitError{code: 2, msg: "paysync: " + err.Error()}
	}
	sch.Observe(m.SchedulerRun)
	keep := a.cfg.Dispatcher.KeepDelivered.D()
	if err := sch.Add("purge-delivered", a.cfg.Scheduler.PurgeSchedule, func(ctx context.Context) error {
		n, err := a.store.PurgeDelivered(ctx, time.Now().Add(-keep))
		if n > 0 {
			a.log.Info("purged delivered outbox records", "count", n, "older_than", keep)
		}
		return err
	}); err != nil {
		return nil, &exitError{code: 2, msg: "paysync: scheduler.purge_schedule: " + err.Error()}
	}
	keepRefused := a.cfg.Journal.KeepRefused.D()
	if err := sch.Add("purge-refused", a.cfg.Scheduler.PurgeSchedule, func(ctx context.Context) error {
		n, err := a.store.PurgeRefusals(ctx, time.Now().Add(-keepRefused))
		if n > 0 {
			a.log.Info("purged refused webhook records", "count", n, "older_than", keepRefused)
		}
		return err
	}); err != nil {
		return nil, &exitError{code: 2, msg: "paysync: scheduler.purge_schedule: " + err.Error()}
	}
	if err := addPayloadRetention(a, sch); err != nil {
		return nil, err
	}
	if err := wireReceivers(svc, api, sch, d, p); err != nil {
		return nil, err
	}
	d.workers = append(d.workers, sch.Run, svc.Run)
	return svc, nil
}

// wireReceivers gives the connectors that also hear from their service
// (Instagram's webhooks) their routes, with the payments service's refusal
// records, their scheduled jobs and their background work.
func wireReceivers(svc *payments.Service, api *httpapi.Server, sch *scheduler.Scheduler, d *daemon, p *parts) error {
	pages := map[string]http.Handler{}
	for pattern, h := range api.Pages {
		pages[pattern] = h
	}
	for _, c := range p.connectors {
		name := c.Name()
		if rc, ok := c.(connectors.Receiver); ok {
			in := connectors.Inbound{
				Refuse: func(ctx context.Context, r *http.Request, v core.Verdict, cause error, sample core.PayloadSample) time.Duration {
					return svc.RefuseRequest(ctx, r, name, v, cause, sample)
				},
				Count: func(verdict string) { svc.CountWebhook(name, verdict) },
			}
			for pattern, h := range rc.Routes(in) {
				pages[pattern] = h
			}
		}
		if sc, ok := c.(connectors.Scheduled); ok {
			for _, j := range sc.Jobs() {
				if err := sch.Add(j.Name, j.Schedule, j.Run); err != nil {
					return &exitError{code: 2, msg: "paysync: connector " + name + ": job " + j.Name + ": " + err.Error()}
				}
			}
		}
		if r, ok := c.(connectors.Runner); ok {
			d.workers = append(d.workers, r.Run)
		}
	}
	api.Pages = pages
	return nil
}
