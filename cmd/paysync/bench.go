package main

import (
	"context"
	"fmt"
	"io"
	"os"

	"github.com/paysync/paysync/cmd/paysync/internal/bench"
)

func init() {
	register(command{name: "bench", usage: "measure ingest, delivery, end-to-end latency, backlog drain and footprint against the sandbox doubles [--quick] [--out FILE] [--database-url URL]; --scale [--orders N]: search, order page, claim and ingest on a filled database", help: benchHelp, run: runBench})
}

func benchHelp() string {
	return "Reads no config file; $" + bench.EnvDatabaseURL + " sets the default of --database-url.\n" +
		"Writes scratch databases to a temporary folder and prints a table to stdout.\n"
}

func runBench(ctx context.Context, env *cmdEnv, args []string) error {
	fs := env.bareFlags("bench")
	quick := fs.Bool("quick", false, "run every section briefly (under a minute): a smoke test, not figures to quote")
	out := fs.String("out", "", "also write the report as JSON to this file")
	dbURL := fs.String("database-url", os.Getenv(bench.EnvDatabaseURL), "PostgreSQL server to measure ingest on, in a scratch database the run creates and drops (default $"+bench.EnvDatabaseURL+"; none: SQLite only)")
	binary := fs.String("binary", "", "the paysync binary to run for the end-to-end, backlog and footprint sections (default: this one)")
	scale := fs.Bool("scale", false, "instead: fill a scratch database with --orders orders (5 journal entries each) and measure search, the order page, claim, ingest and size")
	orders := fs.Int("orders", 1_000_000, "with --scale: how many orders to fill the database with")
	samples := fs.Int("samples", 200, "with --scale: how many times each query is timed")
	webhooks := fs.Int("webhooks", 2000, "with --scale: webhooks sent for each ingest measurement")
	only := fs.String("only", "", "with --scale: sqlite or postgres, to measure one database")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *scale {
		if *only != "" && *only != "sqlite" && *only != "postgres" {
			return fmt.Errorf("--only %q: sqlite or postgres", *only)
		}
		rep, err := bench.Scale(ctx, bench.ScaleOptions{Orders: *orders, DatabaseURL: *dbURL, Samples: *samples, Webhooks: *webhooks,
			SQLiteOnly: *only == "sqlite", PostgresOnly: *only == "postgres", Progress: env.stderr})
		if err != nil {
			return err
		}
		rep.WriteTable(env.stdout)
		return writeJSON(*out, rep.WriteJSON)
	}
	if *binary == "" {
		self, err := os.Executable()
		if err != nil {
			return fmt.Errorf("cannot find this binary (%v): pass --binary", err)
		}
		*binary = self
	}
	rep, err := bench.Run(ctx, bench.Options{Quick: *quick, DatabaseURL: *dbURL, Binary: *binary, Progress: env.stderr})
	if err != nil {
		return err
	}
	rep.WriteTable(env.stdout)
	return writeJSON(*out, rep.WriteJSON)
}

// writeJSON writes a report to path, if one was given.
func writeJSON(path string, write func(io.Writer) error) error {
	if path == "" {
		return nil
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := write(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
