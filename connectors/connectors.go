// Package connectors is the registry of CRM connectors. Each connector
// package (connectors/bitrix24, …) registers itself once, in an init
// function: its name, its config section, its mapping profile, its
// constructor, its account check for `paysync connectors check` and the link
// to a record for the console. Package connectors/all imports every connector
// of this release; adding a connector is a new package plus one line there,
// and its mapping file. Nothing else in paysync names a CRM. A connector's
// local double for `paysync sandbox` is registered apart, by package
// sandbox/all, so that no production package imports a double.
package connectors

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/paysync/paysync/core"
	"github.com/paysync/paysync/internal/registry"
	"github.com/paysync/paysync/mapping"
)

// Settings is a connector's section of the config file, `connectors.<name>`,
// decoded from YAML (its fields' yaml tags) and overridden by PAYSYNC_*
// environment variables (its fields' env tags). Settings are pointers to
// structs.
type Settings interface {
	// Enabled reports whether the credentials that turn the connector on are set.
	Enabled() bool
}

// Validator is implemented by settings that check their values. Validate
// calls bad once per problem with the key inside the section (e.g.
// "webhook_url") and a reason that says how to fix it; the config loader
// turns the key into file:line or the environment variable it came from.
type Validator interface {
	Validate(bad func(key, reason string))
}

// Deps is what a connector is built from.
type Deps struct {
	// Settings is the connector's own section, as returned by Spec.Settings
	// and filled from the config.
	Settings Settings
	// Store keeps connector state (OAuth tokens) and leases.
	Store core.Store
	// Mappings hands out the connector's live mapping (reloaded on SIGHUP).
	Mappings Mappings
	// Owner names this replica in leases.
	Owner  string
	Logger *slog.Logger
	// HTTPClient, when set, is the client for the CRM's API: serve's counts
	// every request by status code for /metrics; tests point it elsewhere.
	// Connectors must use it when it is set.
	HTTPClient *http.Client
	// Meter hears what only the connector sees; nil records nothing.
	Meter Meter
}

// Meter hears what a connector does at its CRM that the dispatcher cannot
// see, for /metrics. Its methods are safe for concurrent use.
type Meter interface {
	// RateWait: a request waited d for the connector's own rate budget.
	RateWait(d time.Duration)
	// TokenRefresh: an OAuth token refresh happened; err is its failure.
	TokenRefresh(err error)
}

// Waited calls m.RateWait when m is set and d is positive.
func Waited(m Meter, d time.Duration) {
	if m != nil && d > 0 {
		m.RateWait(d)
	}
}

// Refreshed calls m.TokenRefresh when m is set.
func Refreshed(m Meter, err error) {
	if m != nil {
		m.TokenRefresh(err)
	}
}

// Inbound is what serve lends a connector that also hears from its service
// (Instagram's webhooks), so that its requests are refused and counted like
// the payment providers' webhooks.
type Inbound struct {
	// Refuse records a request that did not verify (forged, malformed, too
	// large): counted per source network in the refusal records (GET
	// /v1/refusals), logged and on /metrics under the connector's name. It
	// returns how long the sender must wait when its address is past its
	// allowance of failing requests (answer 429 with Retry-After), else 0.
	Refuse func(ctx context.Context, r *http.Request, v core.Verdict, cause error, sample core.PayloadSample) time.Duration
	// Count counts a request taken, by verdict, on /metrics.
	Count func(verdict string)
}

// Receiver is implemented by a connector that also hears from its service.
// Its routes are http.ServeMux patterns, mounted as they are and served
// without the admin token: each handler authenticates its sender itself.
type Receiver interface {
	Routes(in Inbound) map[string]http.Handler
}

// Job is work a connector needs done besides deliveries (renewing a token,
// deleting what is past its retention). The scheduler runs it on one
// replica at a time.
type Job struct {
	Name     string // e.g. "instagram-token"
	Schedule string // cron or "@every 6h"
	Run      func(ctx context.Context) error
}

// Scheduled is implemented by a connector with jobs of its own.
type Scheduled interface {
	Jobs() []Job
}

// Runner is implemented by a connector with background work that runs as
// long as serve does (looking customers up as they first write). Run
// returns when ctx ends.
type Runner interface {
	Run(ctx context.Context) error
}

// Mappings hands out the live mapping of a connector; *mapping.Set has it.
type Mappings interface {
	Get(connector string) *mapping.Mapping
}

// Spec is one connector's registration.
type Spec struct {
	// Name is the connector's name in config, mapping files, the outbox and links.
	Name string
	// Title is how people call the CRM ("Bitrix24").
	Title string
	// Settings returns the connector's config section with its defaults.
	Settings func() Settings
	// NoMapping: the connector reads no mapping file (mapping/<name>.yaml);
	// Deps.Mappings holds none for it.
	NoMapping bool
	// Mapping is what package mapping needs to know of the connector's
	// mapping file: what its record is called in load errors, whether it
	// takes a contact section. Register hands it to mapping.RegisterProfile
	// (unless NoMapping), so that a file declaring this connector loads;
	// Mapping.Connector is Name, and may be left empty.
	Mapping mapping.Profile
	// New builds the connector from enabled settings. It must not call the
	// CRM: serve and `config check` both build every enabled connector, so
	// its errors are configuration problems.
	New func(ctx context.Context, d Deps) (core.Connector, error)
	// Check, when set, reads the live account for `paysync connectors
	// check`: it prints what the mapping needs to know (stage ids,
	// currencies, fields) to w and returns one problem per mismatch between
	// m and the account, each in the CRM's own words with its fix and
	// pointing into the file (m.Problem at a mention such as
	// m.StagesAt()). A non-nil error means the account could not be read.
	Check func(ctx context.Context, d Deps, m *mapping.Mapping, w io.Writer) ([]string, error)
	// RecordURL, when set, is the web address of the record behind a link,
	// for the console; "" when unknown.
	RecordURL func(s Settings, link core.CRMLink) string
}

var specs = registry.New[Spec]("connector")

// Register adds a connector and, unless it reads no mapping file, its
// mapping profile. It panics on a missing name, settings or constructor, on
// a mapping profile for another name, and on a second registration of a
// name: all are programming errors found at start.
func Register(s Spec) {
	if s.Name == "" || s.Settings == nil || s.New == nil {
		panic("connectors: Register needs Name, Settings and New")
	}
	if s.Mapping.Connector == "" {
		s.Mapping.Connector = s.Name
	}
	if s.Mapping.Connector != s.Name {
		panic(fmt.Sprintf("connectors: %q registers the mapping profile of %q", s.Name, s.Mapping.Connector))
	}
	if s.Title == "" {
		s.Title = s.Name
	}
	specs.Add(s.Name, s)
	if !s.NoMapping {
		mapping.RegisterProfile(s.Mapping)
	}
}

// Unregister removes a connector and its mapping profile; tests that
// register one of their own remove it when they end.
func Unregister(name string) {
	if s, ok := specs.Remove(name); ok && !s.NoMapping {
		mapping.UnregisterProfile(name)
	}
}

// Lookup returns the registration of name.
func Lookup(name string) (Spec, bool) { return specs.Get(name) }

// All lists every registered connector, sorted by name.
func All() []Spec { return specs.All() }

// Latest says which delivery of a batch does each one's work: a batch may
// hold several deliveries of one order, and the order is written once, at
// its highest version (the first of equals). It returns, for each index, the
// index of that delivery (its own when it is the one).
func Latest(batch []core.Delivery) []int {
	best := make(map[string]int, len(batch))
	for i, d := range batch {
		if j, ok := best[d.Order.ID]; !ok || d.Order.Version > batch[j].Order.Version {
			best[d.Order.ID] = i
		}
	}
	out := make([]int, len(batch))
	for i, d := range batch {
		out[i] = best[d.Order.ID]
	}
	return out
}

// Refuse answers every delivery of a batch with the same error: a batch a
// connector cannot start on at all.
func Refuse(n int, err error) []core.DeliveryResult {
	out := make([]core.DeliveryResult, n)
	for i := range out {
		out[i].Err = err
	}
	return out
}

// ErrBatchTooLarge is a connector's answer to a batch above its MaxBatch;
// the dispatcher retries the records in smaller claims.
func ErrBatchTooLarge(title string) error {
	return &core.DeliveryError{Class: core.Retryable, Reason: "batch larger than the " + title + " connector's MaxBatch; it is split on retry"}
}

// ErrNoMapping is a connector's answer when no mapping of its is loaded.
func ErrNoMapping(name string) error {
	return &core.DeliveryError{Class: core.Paused, Reason: "no " + name + " mapping is loaded: check mapping/" + name + ".yaml with `paysync config check`"}
}

// ErrRender is a connector's answer for an order its mapping cannot render:
// retrying the same order with the same mapping cannot help.
func ErrRender(name, orderID string, err error) *core.DeliveryError {
	return &core.DeliveryError{Class: core.Permanent, Reason: "the " + name + " mapping cannot render order " + orderID + ": " + err.Error()}
}

// WithMapping keeps the names of connectors that read a mapping file.
func WithMapping(names []string) []string {
	var out []string
	for _, n := range names {
		if s, ok := Lookup(n); ok && !s.NoMapping {
			out = append(out, n)
		}
	}
	return out
}

// Names lists every registered connector's name, sorted.
func Names() []string { return specs.Names() }
