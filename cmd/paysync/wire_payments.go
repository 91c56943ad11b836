package main

import (
	"context"

	"github.com/paysync/paysync/httpapi"
)

// wirePayments connects the payment providers and the scheduler.
func wirePayments(ctx context.Context, a *app, api *httpapi.Server, d *daemon) error {
	return nil
}
