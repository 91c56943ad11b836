// Package providers is the registry of payment providers. Each provider
// package (providers/vpos, providers/idram, …) registers itself once, in an
// init function: its name, its config section (`providers.<name>`), its
// constructor and, when it has one, its account check for `paysync
// providers check`. Package providers/all imports every provider of this
// release; adding a provider is a new package plus one line there. Nothing
// else in paysync names a provider: serve, `config check`, the payments
// service and the console find them here.
//
// A provider's local double for `paysync sandbox` is registered apart, by
// package sandbox/all, so that no production package imports a double.
package providers

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"

	"github.com/paysync/paysync/core"
	"github.com/paysync/paysync/internal/registry"
)

// Settings is a provider's section of the config file, `providers.<name>`,
// decoded from YAML (its fields' yaml tags) and overridden by PAYSYNC_*
// environment variables (its fields' env tags). Settings are pointers to
// structs; credentials are setting.Secret.
type Settings interface {
	// Enabled reports whether the credentials that turn the provider on are set.
	Enabled() bool
}

// Validator is implemented by settings that check their values. Validate
// calls bad once per problem with the key inside the section (e.g.
// "base_url") and a reason that says how to fix it; the config loader turns
// the key into file:line or the environment variable it came from.
type Validator interface {
	Validate(bad func(key, reason string))
}

// Deps is what a provider is built from.
type Deps struct {
	// Settings is the provider's own section, as returned by Spec.Settings
	// and filled from the config.
	Settings Settings
	// PublicURL is where buyers and the provider reach paysync, without a
	// trailing slash (PAYSYNC_PUBLIC_URL, else http://PAYSYNC_HTTP_ADDR):
	// return pages, callbacks and paysync's own payment pages are under it.
	PublicURL string
	// Store reads orders (a provider that must know the order to verify a
	// request, as Idram does) and keeps provider state (numbers the bank
	// needs, say) with compare-and-swap. It is nil for `config check`, which
	// builds every enabled provider without a database: keep it for later.
	Store  core.Store
	Logger *slog.Logger
	// HTTPClient, when set, is the client for the provider's API (tests
	// point it elsewhere); providers must use it when it is set.
	HTTPClient *http.Client
}

// Spec is one provider's registration.
type Spec struct {
	// Name is the provider's name in orders ("provider":"idram"), config,
	// journal entries and its webhook path /webhooks/<name>.
	Name string
	// Title is how people call it ("Idram", "Ameriabank vPOS").
	Title string
	// Settings returns the provider's config section with its defaults.
	Settings func() Settings
	// New builds the provider from enabled settings. It must not call the
	// provider: serve and `config check` both build every enabled provider,
	// so its errors are configuration problems (core.FieldErrorf names the
	// key, which becomes file:line or the environment variable).
	New func(ctx context.Context, d Deps) (core.Provider, error)
	// Check, when set, asks the live provider whether the credentials work,
	// for `paysync providers check`: it prints what it learned to w and
	// returns one problem per thing to fix. A non-nil error means the
	// provider could not be asked.
	Check func(ctx context.Context, d Deps, w io.Writer) ([]string, error)
	// Enable names what turns the provider on, for messages such as "no
	// payment provider is configured" ("PAYSYNC_IDRAM_ACCOUNT and
	// PAYSYNC_IDRAM_SECRET_KEY").
	Enable string
}

var specs = registry.New[Spec]("provider")

// Register adds a provider. It panics on a missing name, settings or
// constructor, on a name that cannot be a webhook path, and on a second
// registration of a name: all are programming errors found at start.
func Register(s Spec) {
	if s.Name == "" || s.Settings == nil || s.New == nil {
		panic("providers: Register needs Name, Settings and New")
	}
	if strings.TrimLeft(s.Name, "abcdefghijklmnopqrstuvwxyz0123456789_") != "" {
		panic(fmt.Sprintf("providers: name %q must be lower-case letters, digits and _ (it is a path and a config key)", s.Name))
	}
	if s.Title == "" {
		s.Title = s.Name
	}
	specs.Add(s.Name, s)
}

// Unregister removes a provider; tests that register one of their own
// remove it when they end.
func Unregister(name string) { specs.Remove(name) }

// Lookup returns the registration of name.
func Lookup(name string) (Spec, bool) { return specs.Get(name) }

// All lists every registered provider, sorted by name.
func All() []Spec { return specs.All() }

// Names lists every registered provider's name, sorted.
func Names() []string { return specs.Names() }

// Title is how people call the provider name, its name when none is registered.
func Title(name string) string {
	if s, ok := Lookup(name); ok {
		return s.Title
	}
	return name
}

// EnableHint says what turns providers on, for a message to someone who
// has none configured: each registered provider's Enable, joined.
func EnableHint() string {
	var parts []string
	for _, s := range All() {
		if s.Enable != "" {
			parts = append(parts, s.Enable+" ("+s.Title+")")
		}
	}
	return strings.Join(parts, ", or ")
}
