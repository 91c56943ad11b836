package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/paysync/paysync/config"
	"github.com/paysync/paysync/core"
	"github.com/paysync/paysync/httpapi"
	"github.com/paysync/paysync/internal/throttle"
)

func init() {
	register(command{name: "serve", usage: "run the daemon: HTTP API, webhooks, console, dispatcher, scheduler", help: serveHelp, run: runServe})
}

// serveHelp says what serve reads besides its flags: the config file and
// every variable that overrides one of its keys, from the config package's
// own list so that the two cannot drift apart.
func serveHelp() string {
	var b strings.Builder
	b.WriteString("Reads the config file: --config, else $PAYSYNC_CONFIG, else ./config.yaml if present,\n")
	b.WriteString("else built-in defaults (SQLite in ./data, HTTP on 127.0.0.1:8080); see config.example.yaml.\n")
	b.WriteString("Applies pending migrations at start.\n")
	b.WriteString("\nEnvironment (each variable overrides the config key beside it):\n")
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	for _, v := range config.Variables() {
		fmt.Fprintf(tw, "  %s\t%s\n", v.Name, v.Key)
	}
	tw.Flush()
	return b.String()
}

func runServe(ctx context.Context, env *cmdEnv, args []string) error {
	if err := env.flags("serve").Parse(args); err != nil {
		return err
	}
	a, err := openApp(ctx, env)
	if err != nil {
		return err
	}
	defer a.Close()
	d, err := startDaemon(ctx, a, nil)
	if err != nil {
		return err
	}
	<-ctx.Done()
	return d.shutdown()
}

// daemon is a running serve: the HTTP server and the background workers.
type daemon struct {
	app      *app
	srv      *http.Server
	ln       net.Listener
	workers  []func(ctx context.Context) error
	cancel   context.CancelFunc
	done     chan error
	nworkers int
}

// startDaemon starts everything serve runs. When ln is nil it listens on
// the configured address.
func startDaemon(ctx context.Context, a *app, ln net.Listener) (*daemon, error) {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	reg.MustRegister(a.people.Guard.Collectors()...)
	proxies, err := throttle.ParseProxies(a.cfg.TrustedProxies)
	if err != nil {
		return nil, &exitError{code: 2, msg: "paysync: trusted_proxies: " + err.Error()}
	}
	api := &httpapi.Server{
		Store:      a.store,
		Orders:     a.ledger,
		AdminToken: string(a.cfg.AdminToken),
		People:     a.people,
		Proxies:    proxies,
		Logger:     a.log,
		Registry:   reg,
		Connectors: a.ledger.Connectors,
		Ready: func(ctx context.Context) error {
			if err := a.store.Ping(ctx); err != nil {
				return &core.Error{Code: core.EUNAVAILABLE, Message: "the database does not answer", Err: err}
			}
			pending, err := a.store.MigrationsPending(ctx)
			if err != nil {
				return &core.Error{Code: core.EUNAVAILABLE, Message: "cannot read the applied migrations", Err: err}
			}
			if len(pending) > 0 {
				return core.Errorf(core.EUNAVAILABLE, "migrations pending: %s (run paysync migrate, or restart serve)", strings.Join(pending, ", "))
			}
			return nil
		},
	}
	if a.cfg.AdminToken == "" {
		a.log.Warn("PAYSYNC_ADMIN_TOKEN is not set: the admin API and console are closed")
	}
	d := &daemon{app: a, done: make(chan error, 8)}
	if err := wireWorkers(ctx, a, api, reg, d); err != nil {
		return nil, err
	}
	if ln == nil {
		var err error
		ln, err = net.Listen("tcp", a.cfg.HTTPAddr)
		if err != nil {
			return nil, &exitError{code: 1, msg: fmt.Sprintf("paysync: cannot listen on %s: %v (set PAYSYNC_HTTP_ADDR to a free HOST:PORT)", a.cfg.HTTPAddr, err)}
		}
	}
	// Connections are capped: idle ones would otherwise pile up (5,000
	// were accepted) until the process ran out of file descriptors.
	limit := httpapi.NewConnLimit(a.cfg.MaxConnections)
	ln = limit.Listener(ln)
	d.ln = ln
	d.srv = &http.Server{Handler: api.Handler(), ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second,
		WriteTimeout: 60 * time.Second, IdleTimeout: 2 * time.Minute, ConnState: limit.ConnState,
		// The server's own complaints (a scanner's TLS handshake cut short,
		// a connection closed to make room) are noise, not errors: debug.
		ErrorLog: slog.NewLogLogger(a.log.Handler(), slog.LevelDebug)}
	scheme := "http"
	if a.cfg.TLSCertFile != "" {
		scheme = "https"
	}
	go func() {
		var err error
		if scheme == "https" {
			err = d.srv.ServeTLS(ln, a.cfg.TLSCertFile, a.cfg.TLSKeyFile)
		} else {
			err = d.srv.Serve(ln)
		}
		if err != nil && !errors.Is(err, http.ErrServerClosed) {
			d.done <- err
		}
	}()
	wctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	d.cancel = cancel
	for _, w := range d.workers {
		d.nworkers++
		go func(w func(context.Context) error) { d.done <- w(wctx) }(w)
	}
	a.log.Info("paysync serving", "addr", scheme+"://"+ln.Addr().String(), "database", a.where(),
		"connectors", a.cfg.EnabledConnectors())
	return d, nil
}

// shutdown stops taking work, then drains in-flight work within the deadline.
func (d *daemon) shutdown() error {
	timeout := d.app.cfg.ShutdownTimeout.D()
	d.app.log.Info("shutting down", "deadline", timeout)
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	err := d.srv.Shutdown(ctx) // stops accepting, waits for in-flight requests
	d.cancel()                 // workers stop claiming and finish or release what they hold
	for i := 0; i < d.nworkers; i++ {
		select {
		case <-d.done:
		case <-ctx.Done():
			d.app.log.Warn("shutdown deadline passed with work still running")
			return ctx.Err()
		}
	}
	d.app.log.Info("stopped")
	return err
}
