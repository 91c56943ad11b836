package main

import (
	"context"
	"fmt"
	"os"

	"github.com/paysync/paysync/cmd/paysync/internal/bench"
)

func init() {
	register(command{name: "bench", usage: "measure ingest, delivery, end-to-end latency, backlog drain and footprint against the sandbox doubles [--quick] [--out FILE] [--database-url URL]", help: benchHelp, run: runBench})
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
	if err := fs.Parse(args); err != nil {
		return err
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
	if *out != "" {
		f, err := os.Create(*out)
		if err != nil {
			return err
		}
		if err := rep.WriteJSON(f); err != nil {
			f.Close()
			return err
		}
		return f.Close()
	}
	return nil
}
