package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime"
	"runtime/debug"

	"github.com/paysync/paysync/config"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

func init() {
	register(command{name: "version", usage: "print version and build info", run: runVersion})
	register(command{name: "migrate", usage: "apply database migrations", run: runMigrate})
	register(command{name: "config check", usage: "validate the config and every mapping file", run: runConfigCheck})
	register(command{name: "config show", usage: "print the effective config with secrets redacted", run: runConfigShow})
}

func runVersion(ctx context.Context, env *cmdEnv, args []string) error {
	rev := ""
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" {
				rev = s.Value
			}
		}
	}
	fmt.Fprintf(env.stdout, "paysync %s %s %s/%s", version, runtime.Version(), runtime.GOOS, runtime.GOARCH)
	if rev != "" {
		fmt.Fprintf(env.stdout, " commit %s", rev)
	}
	fmt.Fprintln(env.stdout)
	return nil
}

func runMigrate(ctx context.Context, env *cmdEnv, args []string) error {
	if err := env.flags("migrate").Parse(args); err != nil {
		return err
	}
	a, err := openApp(ctx, env)
	if err != nil {
		return err
	}
	defer a.Close()
	pending, err := a.store.MigrationsPending(ctx)
	if err != nil {
		return err
	}
	if len(pending) > 0 {
		return fmt.Errorf("migrations still pending: %v", pending)
	}
	fmt.Fprintf(env.stdout, "migrations up to date (%s)\n", a.where())
	return nil
}

func runConfigShow(ctx context.Context, env *cmdEnv, args []string) error {
	if err := env.flags("config show").Parse(args); err != nil {
		return err
	}
	cfg, err := env.loadConfig(ctx)
	if err != nil {
		return err
	}
	fmt.Fprint(env.stdout, cfg.Redacted())
	return nil
}

func runConfigCheck(ctx context.Context, env *cmdEnv, args []string) error {
	if err := env.flags("config check").Parse(args); err != nil {
		return err
	}
	cfg, err := config.Load(ctx, config.Path(env.configPath, os.LookupEnv), nil)
	var ps config.Problems
	if err != nil && (cfg == nil || !errors.As(err, &ps)) {
		return &exitError{code: 2, msg: err.Error()}
	}
	// Build what serve builds (mappings, connectors, providers), without a
	// database: the same checks, so that "ok" here means serve starts.
	_, more := build(ctx, cfg, nil, nil, nil)
	ps = append(ps, more...)
	if len(ps) > 0 {
		return problemsExit(ps)
	}
	fmt.Fprintln(env.stdout, "ok")
	return nil
}
