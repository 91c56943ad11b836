package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strings"

	"github.com/paysync/paysync/config"
	"github.com/paysync/paysync/connectors"
	_ "github.com/paysync/paysync/connectors/all" // every connector of this release
	"github.com/paysync/paysync/core"
	"github.com/paysync/paysync/internal/metrics"
	"github.com/paysync/paysync/mapping"
	"github.com/paysync/paysync/providers"
	_ "github.com/paysync/paysync/providers/all" // every payment provider of this release
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
	p.providers, ps = buildProviders(ctx, cfg, store, log, ps)
	return p, ps
}

// buildProviders constructs every enabled payment provider from the
// registry; return pages and callbacks point at the config's public URL.
func buildProviders(ctx context.Context, cfg *config.Config, store core.Store, log *slog.Logger, ps config.Problems) ([]core.Provider, config.Problems) {
	base := publicURL(cfg)
	var out []core.Provider
	for _, name := range cfg.EnabledProviders() {
		spec, _ := providers.Lookup(name)
		pr, err := spec.New(ctx, providers.Deps{Settings: cfg.Providers[name], PublicURL: base, Store: store, Logger: log})
		if err != nil {
			ps = append(ps, cfg.ProblemsFrom("providers."+name+".", err)...)
			continue
		}
		out = append(out, pr)
	}
	if cfg.PublicURL == "" && log != nil && slices.ContainsFunc(out, func(p core.Provider) bool {
		c := p.Capabilities()
		return c.CreatesLinks || c.LooksUp
	}) {
		log.Warn("PAYSYNC_PUBLIC_URL is not set: payment pages, return and callback URLs point at " + base +
			", which buyers and banks cannot reach; set it to paysync's public https URL")
	}
	return out, ps
}

// publicURL is where buyers and providers reach paysync, without a
// trailing slash: public_url, else http(s)://http_addr.
func publicURL(cfg *config.Config) string {
	if base := strings.TrimRight(cfg.PublicURL, "/"); base != "" {
		return base
	}
	if cfg.TLSCertFile != "" {
		return "https://" + cfg.HTTPAddr
	}
	return "http://" + cfg.HTTPAddr
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
