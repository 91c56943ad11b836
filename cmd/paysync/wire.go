package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/paysync/paysync/connectors"
	"github.com/paysync/paysync/console"
	"github.com/paysync/paysync/core"
	"github.com/paysync/paysync/dispatcher"
	"github.com/paysync/paysync/httpapi"
	"github.com/paysync/paysync/internal/metrics"
	"github.com/paysync/paysync/mapping"
	"github.com/paysync/paysync/present"
)

// wireWorkers connects the mapping files, the CRM connectors, the dispatcher,
// the payment providers and the scheduler, and adds their loops to the daemon.
func wireWorkers(ctx context.Context, a *app, api *httpapi.Server, reg *prometheus.Registry, d *daemon) error {
	m := metrics.New(reg)
	reg.MustRegister(metrics.Orders(a.store, a.log), metrics.Database(a.store, a.log))
	p, ps := build(ctx, a.cfg, a.store, a.log, m)
	if len(ps) > 0 {
		return problemsExit(ps)
	}
	dc := a.cfg.Dispatcher
	backoff := dispatcher.Backoff{GiveUpAfter: dc.DeadAfter.D()}
	for _, s := range dc.Backoff {
		backoff.Steps = append(backoff.Steps, s.D())
	}
	if n := len(backoff.Steps); n > 0 {
		backoff.Every = backoff.Steps[n-1]
	}
	// Each connector paces its own requests to its CRM's rate budget (a
	// delivery is a few batch requests), so the dispatcher does not
	// throttle deliveries a second time.
	disp := dispatcher.New(a.store, p.connectors, dispatcher.Options{
		Owner:           replicaID(),
		Lease:           dc.Lease.D(),
		LeaderLease:     dc.LeaderLease.D(),
		PollInterval:    dc.PollInterval.D(),
		Wake:            a.store.Subscribe(ctx),
		Backoff:         backoff,
		ShutdownTimeout: a.cfg.ShutdownTimeout.D(),
		Logger:          a.log,
		Registerer:      reg,
	})
	api.Outbox = disp
	d.workers = append(d.workers, disp.Run)
	d.workers = append(d.workers, func(ctx context.Context) error { reloadOnHUP(ctx, a, p.mappings); return nil })
	svc, err := wirePayments(ctx, a, api, reg, d, p, m)
	if err != nil {
		return err
	}
	return wireConsole(a, api, disp, p, svc)
}

// reloadOnHUP re-reads the mapping files on SIGHUP; a broken file is
// reported and the old mapping stays in use.
func reloadOnHUP(ctx context.Context, a *app, set *mapping.Set) {
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, syscall.SIGHUP)
	defer signal.Stop(ch)
	for {
		select {
		case <-ctx.Done():
			return
		case <-ch:
			start := time.Now()
			if err := set.Reload(); err != nil {
				a.log.Error("mapping reload failed; the previous mapping stays in use", "err", err)
				continue
			}
			a.log.Info("mapping reloaded", "took", time.Since(start))
		}
	}
}

// wireConsole mounts the operator console at /ui/ (closed without an admin
// token). It creates orders through orders (with their payment links), and
// sends links in Direct through the connector that can (the instagram one).
func wireConsole(a *app, api *httpapi.Server, disp *dispatcher.Dispatcher, p *parts, orders console.OrderCreator) error {
	zone, err := present.LoadZone(a.cfg.TimeZone)
	if err != nil {
		return &exitError{code: 2, msg: "paysync: time_zone: " + err.Error()}
	}
	titles := map[string]string{}
	for _, pr := range p.providers {
		titles[pr.Name()] = pr.Capabilities().Title
	}
	var direct console.Direct
	for _, c := range p.connectors {
		if dc, ok := c.(console.Direct); ok {
			direct = dc
		}
	}
	var fixed []core.FixedLink
	for _, fl := range a.cfg.FixedLinks {
		fixed = append(fixed, core.FixedLink{Slug: fl.Slug, Product: fl.Product, AmountMinor: fl.AmountMinor, Currency: fl.Currency, URL: fl.URL})
	}
	api.Console = console.New(console.Options{Store: a.store, Reviews: a.ledger, Outbox: disp, Orders: orders, Direct: direct,
		People: a.people, Proxies: api.Proxies, PublicURL: a.cfg.PublicURL, Catalog: a.store, FixedLinks: fixed, Relinks: a.ledger,
		Zone: zone, Providers: titles, Secrets: a.cfg.Secrets(), Logger: a.log,
		Movements: a.store,
		CRMs:      console.CRMs(connectors.All(), a.cfg.Connectors.Get)})
	return nil
}
