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

// version and commit are set at build time by the Makefile and the
// Dockerfile (-ldflags "-X main.version=… -X main.commit=…"); without them
// the commit comes from the build info Go stamps into binaries built in a
// git checkout.
var (
	version = "dev"
	commit  = ""
)

func init() {
	register(command{name: "version", usage: "print version and build info", run: runVersion})
	register(command{name: "migrate", usage: "apply database migrations", run: runMigrate})
	register(command{name: "config check", usage: "validate the config and every mapping file", run: runConfigCheck})
	register(command{name: "config show", usage: "print the effective config with secrets redacted", run: runConfigShow})
}

func runVersion(ctx context.Context, env *cmdEnv, args []string) error {
	if err := env.bareFlags("version").Parse(args); err != nil {
		return err
	}
	rev, modified := commit, false
	if bi, ok := debug.ReadBuildInfo(); ok {
		rev, modified = buildCommit(bi, rev)
	}
	fmt.Fprintf(env.stdout, "paysync %s %s %s/%s", version, runtime.Version(), runtime.GOOS, runtime.GOARCH)
	switch {
	case rev == "":
		fmt.Fprint(env.stdout, " commit unknown (built without git; make build stamps it)")
	case modified:
		fmt.Fprintf(env.stdout, " commit %s+modified", rev)
	default:
		fmt.Fprintf(env.stdout, " commit %s", rev)
	}
	fmt.Fprintln(env.stdout)
	return nil
}

// buildCommit reads the commit from the build info; an -ldflags value
// (override) wins. modified reports uncommitted changes at build time.
func buildCommit(bi *debug.BuildInfo, override string) (rev string, modified bool) {
	rev = override
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			if override == "" {
				rev = s.Value
			}
		case "vcs.modified":
			modified = override == "" && s.Value == "true"
		}
	}
	return rev, modified
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
