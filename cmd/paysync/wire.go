package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/time/rate"

	"github.com/paysync/paysync/config"
	"github.com/paysync/paysync/connectors/bitrix24"
	"github.com/paysync/paysync/core"
	"github.com/paysync/paysync/dispatcher"
	"github.com/paysync/paysync/httpapi"
	"github.com/paysync/paysync/mapping"
)

// implemented lists the CRM connectors this release can deliver to. Enabled
// connectors without an implementation are not enqueued, so nothing piles up.
var implemented = map[string]bool{"bitrix24": true}

// activeConnectors are the enabled connectors this release implements.
func activeConnectors(cfg *config.Config) []string {
	var out []string
	for _, c := range cfg.EnabledConnectors() {
		if implemented[c] {
			out = append(out, c)
		}
	}
	return out
}

func replicaID() string {
	h, _ := os.Hostname()
	return fmt.Sprintf("%s-%d", h, os.Getpid())
}

// wireWorkers connects the mapping files, the CRM connectors, the dispatcher,
// the payment providers and the scheduler, and adds their loops to the daemon.
func wireWorkers(ctx context.Context, a *app, api *httpapi.Server, reg *prometheus.Registry, d *daemon) error {
	for _, c := range a.cfg.EnabledConnectors() {
		if !implemented[c] {
			a.log.Warn("connector is configured but not implemented in this release; it is ignored", "connector", c)
		}
	}
	conns := activeConnectors(a.cfg)
	set, err := mapping.NewSet(mappingDir(a.cfg), conns)
	if err != nil {
		return &exitError{code: 2, msg: err.Error()}
	}
	var connectors []core.Connector
	for _, name := range conns {
		switch name {
		case "bitrix24":
			client, err := bitrixClient(a.cfg, a.store)
			if err != nil {
				return &exitError{code: 2, msg: "bitrix24: " + core.ErrorMessage(err)}
			}
			c, err := bitrix24.NewConnector(bitrix24.ConnectorConfig{Client: client, Mappings: set})
			if err != nil {
				return err
			}
			connectors = append(connectors, c)
		}
	}
	dc := a.cfg.Dispatcher
	backoff := dispatcher.Backoff{GiveUpAfter: dc.DeadAfter.D()}
	for _, s := range dc.Backoff {
		backoff.Steps = append(backoff.Steps, s.D())
	}
	if n := len(backoff.Steps); n > 0 {
		backoff.Every = backoff.Steps[n-1]
	}
	disp := dispatcher.New(a.store, connectors, dispatcher.Options{
		Owner:        replicaID(),
		Lease:        dc.Lease.D(),
		PollInterval: dc.PollInterval.D(),
		Wake:         a.store.Subscribe(ctx),
		Backoff:      backoff,
		// The Bitrix24 client paces its own HTTP requests at the portal's rate
		// (a delivery is a few batch requests), so the dispatcher does not
		// throttle its deliveries a second time.
		RateLimits: map[string]dispatcher.RateLimit{
			"bitrix24": {PerSecond: rate.Inf, Burst: 1},
		},
		ShutdownTimeout: a.cfg.ShutdownTimeout.D(),
		Logger:          a.log,
		Registerer:      reg,
	})
	d.workers = append(d.workers, disp.Run)
	d.workers = append(d.workers, func(ctx context.Context) error { reloadOnHUP(ctx, a, set); return nil })
	return wirePayments(ctx, a, api, reg, d)
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
