package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strings"

	"github.com/paysync/paysync/config"
	"github.com/paysync/paysync/core"
	"github.com/paysync/paysync/internal/logging"
	"github.com/paysync/paysync/people"
	"github.com/paysync/paysync/storage"
)

// app is what most commands need: the config, a migrated store and the ledger.
type app struct {
	cfg    *config.Config
	store  *storage.DB
	ledger *core.Ledger
	people *people.Service
	log    *slog.Logger
}

func (env *cmdEnv) loadConfig(ctx context.Context) (*config.Config, error) {
	path := config.Path(env.configPath, os.LookupEnv)
	cfg, err := config.Load(ctx, path, nil)
	if err != nil {
		return nil, &exitError{code: 2, msg: err.Error()}
	}
	return cfg, nil
}

// newLogger logs to stderr as the config says; the config's secrets are
// scrubbed from every line.
func newLogger(env *cmdEnv, cfg *config.Config) *slog.Logger {
	format := cfg.LogFormat
	if format == "auto" {
		format = ""
	}
	return logging.New(env.stderr, logging.Options{Level: cfg.LogLevel, Format: format, Secrets: cfg.Secrets()})
}

// openApp loads the config, opens the database and applies migrations.
func openApp(ctx context.Context, env *cmdEnv) (*app, error) {
	cfg, err := env.loadConfig(ctx)
	if err != nil {
		return nil, err
	}
	return openAppWith(ctx, env, cfg)
}

// openAppWith opens the database of cfg and applies migrations.
func openAppWith(ctx context.Context, env *cmdEnv, cfg *config.Config) (*app, error) {
	log := newLogger(env, cfg)
	db, err := storage.Open(ctx, storage.Options{DatabaseURL: string(cfg.DatabaseURL), DataDir: cfg.DataDir, SQLiteSynchronous: cfg.SQLiteSynchronous,
		SQLiteWALLimit: int64(cfg.SQLiteWALLimit)})
	if err != nil {
		return nil, &exitError{code: 1, msg: "paysync: " + core.ErrorMessage(err)}
	}
	applied, err := db.Migrate(ctx)
	if err != nil {
		db.Close()
		return nil, &exitError{code: 1, msg: "paysync: " + err.Error()}
	}
	if len(applied) > 0 {
		log.Info("migrations applied", "dialect", db.Dialect(), "versions", strings.Join(applied, ","))
	}
	a := &app{cfg: cfg, store: db, log: log}
	a.people = &people.Service{Store: db, AdminToken: string(cfg.AdminToken), Guard: people.NewGuard(log), Logger: log}
	conns := cfg.EnabledConnectors()
	a.ledger = &core.Ledger{
		Store:         db,
		Recent:        core.NewRecentOrders(0),
		Connectors:    func() []string { return conns },
		DefaultExpiry: cfg.DefaultExpiresIn.D(),
		FixedLinks: func(slug string) (core.FixedLink, bool) {
			for _, fl := range cfg.FixedLinks {
				if fl.Slug == slug {
					return core.FixedLink{Slug: fl.Slug, Product: fl.Product, AmountMinor: fl.AmountMinor, Currency: fl.Currency, URL: fl.URL}, true
				}
			}
			return core.FixedLink{}, false
		},
	}
	return a, nil
}

func (a *app) Close() { a.store.Close() }

func (a *app) where() string {
	if a.store.Dialect() == storage.Postgres {
		return "PostgreSQL at " + storage.RedactURL(string(a.cfg.DatabaseURL))
	}
	return fmt.Sprintf("SQLite at %s/paysync.db", a.cfg.DataDir)
}
