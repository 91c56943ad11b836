package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strings"

	"github.com/paysync/paysync/config"
	"github.com/paysync/paysync/connectors"
	_ "github.com/paysync/paysync/connectors/all" // every connector of this release
	"github.com/paysync/paysync/core"
	"github.com/paysync/paysync/internal/metrics"
	"github.com/paysync/paysync/mapping"
	"github.com/paysync/paysync/payments"
)

// parts is what serve runs, built from the config without starting anything.
type parts struct {
	mappings   *mapping.Set
	connectors []core.Connector
	providers  []core.Provider
}

// build constructs the mappings, CRM connectors and payment providers of
// cfg. serve and `config check` both call it, so a config that one refuses
// the other refuses too; every problem is reported at once. store may be nil
// (config check opens no database): connectors keep it for later use only.
func build(ctx context.Context, cfg *config.Config, store core.Store, log *slog.Logger, m *metrics.Metrics) (*parts, config.Problems) {
	var ps config.Problems
	p := &parts{}
	clog := log
	if clog == nil {
		clog = slog.New(slog.DiscardHandler)
	}
	names := cfg.EnabledConnectors()
	if err := checkMappings(cfg); err != nil {
		ps = append(ps, lineProblems(err)...)
	} else if p.mappings, err = mapping.NewSet(mappingDir(cfg), connectors.WithMapping(names)); err != nil {
		ps = append(ps, lineProblems(err)...)
	}
	if p.mappings != nil {
		for _, name := range names {
			spec, _ := connectors.Lookup(name)
			deps := connectors.Deps{Settings: cfg.Connectors[name], Store: store, Mappings: p.mappings,
				Owner: replicaID(), Logger: clog}
			if m != nil {
				deps.HTTPClient, deps.Meter = m.HTTPClient(name), m.Meter(name)
			}
			c, err := spec.New(ctx, deps)
			if err != nil {
				ps = append(ps, cfg.ProblemsFrom("connectors."+name+".", err)...)
				continue
			}
			p.connectors = append(p.connectors, c)
		}
	}
	provs, err := payments.ProvidersFromConfig(cfg, log)
	ps = append(ps, cfg.ProblemsFrom("providers.", err)...)
	p.providers = provs
	return p, ps
}

// lineProblems splits an error of `file:line: reason` lines into Problems.
func lineProblems(err error) config.Problems {
	var ps config.Problems
	for _, l := range strings.Split(strings.TrimSpace(err.Error()), "\n") {
		if l != "" {
			ps = append(ps, config.Problem{Reason: l})
		}
	}
	return ps
}

// problemsExit is the exit of a command that found problems in the config.
func problemsExit(ps config.Problems) error {
	return &exitError{code: 2, msg: ps.Error() + fmt.Sprintf("\n%d problem(s): fix each as its line says, then run `paysync config check`", len(ps))}
}

func replicaID() string {
	h, _ := os.Hostname()
	return fmt.Sprintf("%s-%d", h, os.Getpid())
}
