// Package config reads paysync's YAML file and applies PAYSYNC_* environment
// overrides (each field's env tag). Unknown keys are refused with file:line
// and a "did you mean" for near misses; a bad value is blamed once, on the
// key or the variable as the user wrote it; secrets are redacted whenever the
// config is printed.
package config

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net/url"
	"os"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/robfig/cron/v3"
	"github.com/sethvargo/go-envconfig" // its Lookuper: the environment, or a map in tests
	"gopkg.in/yaml.v3"

	"github.com/paysync/paysync/connectors"
	"github.com/paysync/paysync/core"
	"github.com/paysync/paysync/internal/redact"
	"github.com/paysync/paysync/internal/setting"
	"github.com/paysync/paysync/internal/throttle"
	"github.com/paysync/paysync/providers"
)

// Secret and Duration are the setting value types (package setting), named
// here too for the config's own fields.
type (
	Secret   = setting.Secret
	Duration = setting.Duration
	ByteSize = setting.ByteSize
)

// ParseDuration is time.ParseDuration plus a "d" (day) unit.
func ParseDuration(s string) (time.Duration, error) { return setting.ParseDuration(s) }

// Config is the whole configuration. YAML keys are snake_case; every
// environment variable of CONTRACT.md overrides its field.
type Config struct {
	HTTPAddr  string `yaml:"http_addr" env:"PAYSYNC_HTTP_ADDR, overwrite"`
	PublicURL string `yaml:"public_url" env:"PAYSYNC_PUBLIC_URL, overwrite"` // where providers reach paysync (return and callback URLs)
	// TLSCertFile and TLSKeyFile, both set, make serve terminate TLS
	// itself (HTTPS on http_addr, with Strict-Transport-Security).
	TLSCertFile string `yaml:"tls_cert_file" env:"PAYSYNC_TLS_CERT_FILE, overwrite"`
	TLSKeyFile  string `yaml:"tls_key_file" env:"PAYSYNC_TLS_KEY_FILE, overwrite"`
	// MaxConnections caps the HTTP connections serve keeps open (default
	// 1024); at the cap the one idle longest makes room.
	MaxConnections int    `yaml:"max_connections" env:"PAYSYNC_MAX_CONNECTIONS, overwrite"`
	AdminToken     Secret `yaml:"admin_token" env:"PAYSYNC_ADMIN_TOKEN, overwrite"`
	// TrustedProxies are the reverse proxies (addresses or CIDR ranges)
	// whose X-Forwarded-For names the client address that login and token
	// throttles count; without them every client is the proxy.
	TrustedProxies List   `yaml:"trusted_proxies" env:"PAYSYNC_TRUSTED_PROXIES, overwrite"`
	DatabaseURL    Secret `yaml:"database_url" env:"PAYSYNC_DATABASE_URL, overwrite"`
	DataDir        string `yaml:"data_dir" env:"PAYSYNC_DATA_DIR, overwrite"`
	MappingDir     string `yaml:"mapping_dir" env:"PAYSYNC_MAPPING_DIR, overwrite"`
	LogLevel       string `yaml:"log_level" env:"PAYSYNC_LOG_LEVEL, overwrite"`
	LogFormat      string `yaml:"log_format" env:"PAYSYNC_LOG_FORMAT, overwrite"` // auto (text on a terminal, else JSON), json or text
	TimeZone       string `yaml:"time_zone" env:"PAYSYNC_TIME_ZONE, overwrite"`

	ShutdownTimeout Duration `yaml:"shutdown_timeout" env:"PAYSYNC_SHUTDOWN_TIMEOUT, overwrite"`

	// SQLiteSynchronous is the embedded database's durability: full (the
	// default; a payment answered 2xx survives a power cut), extra or normal.
	SQLiteSynchronous string `yaml:"sqlite_synchronous" env:"PAYSYNC_SQLITE_SYNCHRONOUS, overwrite"`
	// SQLiteWALLimit bounds the embedded database's write-ahead log file
	// (default 32MiB, at least 4MiB): checkpoints keep it within, under any load.
	SQLiteWALLimit ByteSize `yaml:"sqlite_wal_limit" env:"PAYSYNC_SQLITE_WAL_LIMIT, overwrite"`

	// DefaultExpiresIn is when an order created without expires_in expires
	// (default 72h; 0: never).
	DefaultExpiresIn Duration `yaml:"default_expires_in" env:"PAYSYNC_DEFAULT_EXPIRES_IN, overwrite"`

	Providers  Providers   `yaml:"providers"`
	Connectors Connectors  `yaml:"connectors"`
	Dispatcher Dispatcher  `yaml:"dispatcher"`
	Scheduler  Scheduler   `yaml:"scheduler"`
	Journal    Journal     `yaml:"journal"`
	FixedLinks []FixedLink `yaml:"fixed_links"`

	// Source is the file the config came from ("" for built-in defaults).
	Source string `yaml:"-"`

	lines  map[string]int     // dotted key -> its line in Source
	lookup envconfig.Lookuper // the environment the config was read with
	// reported holds the keys already blamed for a value that could not
	// be read (in the file or a variable): validation says nothing more of
	// them, so that each mistake is reported once.
	reported map[string]bool
}

// List is a list of strings: a YAML sequence, or in a variable the items
// separated by commas.
type List []string

// UnmarshalText reads "a, b, c".
func (l *List) UnmarshalText(b []byte) error {
	*l = nil
	for _, s := range strings.Split(string(b), ",") {
		if s = strings.TrimSpace(s); s != "" {
			*l = append(*l, s)
		}
	}
	return nil
}

// FixedLink is a reusable link for one product at one price.
type FixedLink struct {
	Slug        string `yaml:"slug"`
	Product     string `yaml:"product"`
	AmountMinor int64  `yaml:"amount_minor"`
	Currency    string `yaml:"currency"`
	Provider    string `yaml:"provider"`
	URL         string `yaml:"url"`
}

// Connectors holds each registered connector's section (`connectors.<name>`),
// by name. Every registered connector has an entry, with its defaults when
// the file says nothing of it; the types live in the connector packages.
type Connectors map[string]connectors.Settings

// Get returns a connector's settings (nil when no such connector is registered).
func (c Connectors) Get(name string) connectors.Settings { return c[name] }

// UnmarshalYAML decodes each section into its connector's settings. An
// unknown connector or key is reported with its line, like every other key.
func (c *Connectors) UnmarshalYAML(n *yaml.Node) error {
	if *c == nil {
		*c = Connectors{}
	}
	return decodeSections(n, "connector", connectors.Names(), func(name string) (connectors.Settings, bool) {
		spec, ok := connectors.Lookup(name)
		if !ok {
			return nil, false
		}
		return spec.Settings(), true
	}, *c)
}

// Providers holds each registered payment provider's section
// (`providers.<name>`), by name, as Connectors does for connectors; the
// types live in the provider packages.
type Providers map[string]providers.Settings

// Get returns a provider's settings (nil when no such provider is registered).
func (p Providers) Get(name string) providers.Settings { return p[name] }

// UnmarshalYAML decodes each section into its provider's settings.
func (p *Providers) UnmarshalYAML(n *yaml.Node) error {
	if *p == nil {
		*p = Providers{}
	}
	return decodeSections(n, "provider", providers.Names(), func(name string) (providers.Settings, bool) {
		spec, ok := providers.Lookup(name)
		if !ok {
			return nil, false
		}
		return spec.Settings(), true
	}, *p)
}

// decodeSections decodes a mapping of plug-in name to its settings into
// into, creating a plug-in's settings (newSettings) when into has none yet.
// Unknown plug-ins and unknown keys are reported with their lines, and
// decoding goes on, so that every problem of a file is reported at once.
func decodeSections[S any](n *yaml.Node, kind string, known []string, newSettings func(name string) (S, bool), into map[string]S) error {
	if n.Kind != yaml.MappingNode {
		if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
			return nil
		}
		return &yaml.TypeError{Errors: []string{fmt.Sprintf("line %d: %ss must be a mapping of %s name to its settings", n.Line, kind, kind)}}
	}
	var msgs []string
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		s, ok := into[k.Value]
		if !ok {
			s, ok = newSettings(k.Value)
			if !ok {
				hint := ""
				if near := closest(k.Value, known); near != "" {
					hint = ": did you mean " + near + "?"
				}
				msgs = append(msgs, fmt.Sprintf("line %d: unknown %s %q%s (this release has: %s)", k.Line, kind, k.Value, hint, strings.Join(known, ", ")))
				continue
			}
			into[k.Value] = s
		}
		if v.Kind == yaml.ScalarNode && v.Tag == "!!null" {
			continue
		}
		msgs = append(msgs, unknownKeys(v, reflect.TypeOf(s))...)
		if err := v.Decode(s); err != nil {
			var te *yaml.TypeError
			if errors.As(err, &te) {
				msgs = append(msgs, te.Errors...)
			} else {
				msgs = append(msgs, fmt.Sprintf("line %d: %v", v.Line, err))
			}
		}
	}
	if len(msgs) > 0 {
		return &yaml.TypeError{Errors: msgs}
	}
	return nil
}

// unknownKeys reports the keys of n that no yaml tag of t names, the way
// yaml.v3's KnownFields does (which a custom unmarshaler cannot switch on).
func unknownKeys(n *yaml.Node, t reflect.Type) []string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	var out []string
	switch {
	case t.Kind() == reflect.Struct && n.Kind == yaml.MappingNode:
		fields := map[string]reflect.Type{}
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
			if name == "-" || !f.IsExported() {
				continue
			}
			if name == "" {
				name = strings.ToLower(f.Name)
			}
			fields[name] = f.Type
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			ft, ok := fields[n.Content[i].Value]
			if !ok {
				out = append(out, fmt.Sprintf("line %d: field %s not found in type %s", n.Content[i].Line, n.Content[i].Value, t))
				continue
			}
			out = append(out, unknownKeys(n.Content[i+1], ft)...)
		}
	case (t.Kind() == reflect.Slice || t.Kind() == reflect.Array) && n.Kind == yaml.SequenceNode:
		for _, c := range n.Content {
			out = append(out, unknownKeys(c, t.Elem())...)
		}
	case t.Kind() == reflect.Map && n.Kind == yaml.MappingNode:
		for i := 1; i < len(n.Content); i += 2 {
			out = append(out, unknownKeys(n.Content[i], t.Elem())...)
		}
	}
	return out
}

type Dispatcher struct {
	Lease Duration `yaml:"lease"`
	// LeaderLease is how long a connector's leadership lasts without
	// renewal: failover to another replica takes about this long.
	LeaderLease   Duration   `yaml:"leader_lease"`
	PollInterval  Duration   `yaml:"poll_interval"`
	Backoff       []Duration `yaml:"backoff"`
	DeadAfter     Duration   `yaml:"dead_after"`
	KeepDelivered Duration   `yaml:"keep_delivered"`
}

type Scheduler struct {
	ExpireSchedule    string   `yaml:"expire_schedule"`
	ReconcileSchedule string   `yaml:"reconcile_schedule"`
	ReconcileAfter    Duration `yaml:"reconcile_after"`
	PurgeSchedule     string   `yaml:"purge_schedule"`
	// ReconcileDaySchedule runs the daily reconciliation (the providers'
	// transaction lists of the two days before, beside paysync's), in
	// time_zone; "off" turns it off.
	ReconcileDaySchedule string `yaml:"reconcile_day_schedule"`
}

// Journal says how long the audit trail keeps what. The journal of orders
// is kept for good; refused webhook requests (counted per source and hour)
// are deleted after KeepRefused, on scheduler.purge_schedule. The raw
// request bytes (journal payloads, refusal samples) are cleared after
// KeepPayloads (0: kept for good); their sizes and digests stay, as a
// dispute needs them.
type Journal struct {
	KeepRefused  Duration `yaml:"keep_refused"`
	KeepPayloads Duration `yaml:"keep_payloads"`
}

// DefaultKeepPayloads is how long raw payloads are kept by default: past
// the 120 days card schemes give a buyer to dispute a payment.
const DefaultKeepPayloads = 180 * 24 * time.Hour

// EnabledProviders lists the payment providers whose credentials are set, sorted.
func (c *Config) EnabledProviders() []string {
	var out []string
	for _, name := range providers.Names() {
		if s := c.Providers[name]; s != nil && s.Enabled() {
			out = append(out, name)
		}
	}
	return out
}

// EnabledConnectors lists the CRM connectors whose credentials are set, sorted.
func (c *Config) EnabledConnectors() []string {
	var out []string
	for _, name := range connectors.Names() {
		if s := c.Connectors[name]; s != nil && s.Enabled() {
			out = append(out, name)
		}
	}
	return out
}

// Defaults returns the built-in configuration.
func Defaults() Config {
	return Config{
		HTTPAddr: "127.0.0.1:8080", DataDir: "./data", MappingDir: "mapping", LogLevel: "info", LogFormat: "auto",
		MaxConnections: 1024,
		TimeZone:       "Asia/Yerevan", ShutdownTimeout: Duration(15 * time.Second),
		SQLiteSynchronous: "full",
		SQLiteWALLimit:    ByteSize(32 << 20),
		DefaultExpiresIn:  Duration(72 * time.Hour),
		Journal:           Journal{KeepRefused: Duration(30 * 24 * time.Hour), KeepPayloads: Duration(DefaultKeepPayloads)},
		Providers:         defaultProviders(),
		Connectors:        defaultConnectors(),
		Dispatcher: Dispatcher{Lease: Duration(time.Minute), LeaderLease: Duration(6 * time.Second), PollInterval: Duration(time.Second),
			DeadAfter: Duration(72 * time.Hour), KeepDelivered: Duration(30 * 24 * time.Hour)},
		Scheduler: Scheduler{ExpireSchedule: "@every 1m", ReconcileSchedule: "@every 5m",
			ReconcileAfter: Duration(10 * time.Minute), PurgeSchedule: "@every 1h", ReconcileDaySchedule: "30 6 * * *"},
	}
}

// defaultProviders holds every registered provider's default settings.
func defaultProviders() Providers {
	out := Providers{}
	for _, spec := range providers.All() {
		out[spec.Name] = spec.Settings()
	}
	return out
}

// defaultConnectors holds every registered connector's default settings.
func defaultConnectors() Connectors {
	out := Connectors{}
	for _, spec := range connectors.All() {
		out[spec.Name] = spec.Settings()
	}
	return out
}

// Problem is one thing wrong with the config, at a place in a file.
type Problem struct {
	File   string
	Line   int
	Reason string
}

func (p Problem) String() string {
	if p.File == "" {
		return p.Reason
	}
	if p.Line == 0 {
		return p.File + ": " + p.Reason
	}
	return fmt.Sprintf("%s:%d: %s", p.File, p.Line, p.Reason)
}

// Problems is every problem found; its Error text is one `file:line: reason` per line.
type Problems []Problem

func (ps Problems) Error() string {
	lines := make([]string, len(ps))
	for i, p := range ps {
		lines[i] = p.String()
	}
	return strings.Join(lines, "\n")
}

// Path picks the config file: the flag, else $PAYSYNC_CONFIG, else
// ./config.yaml when present, else "" (built-in defaults).
func Path(flagValue string, lookup func(string) (string, bool)) string {
	if flagValue != "" {
		return flagValue
	}
	if v, ok := lookup("PAYSYNC_CONFIG"); ok && v != "" {
		return v
	}
	if _, err := os.Stat("config.yaml"); err == nil {
		return "config.yaml"
	}
	return ""
}

// Load reads the file (if any), applies environment overrides and validates.
// Its error is Problems: every problem found, each at its file:line or
// naming the environment variable its value came from. Unless the file
// cannot be read or parsed, the Config is returned with its Problems.
func Load(ctx context.Context, path string, lookup envconfig.Lookuper) (*Config, error) {
	cfg := Defaults()
	if lookup == nil {
		lookup = envconfig.OsLookuper()
	}
	cfg.lines, cfg.lookup, cfg.reported = map[string]int{}, lookup, map[string]bool{}
	var ps Problems
	if path != "" {
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, Problems{{File: path, Reason: fmt.Sprintf("cannot read config: %v", errors.Unwrap(err))}}
		}
		fatal, err := decode(path, data, &cfg, cfg.lines)
		if err != nil {
			if fatal {
				return nil, err
			}
			ps = append(ps, cfg.explain(err.(Problems))...)
		}
		cfg.Source = path
	}
	ps = append(ps, cfg.applyEnv(reflect.ValueOf(&cfg).Elem(), "")...)
	for _, s := range cfg.sections() {
		ps = append(ps, cfg.applyEnv(reflect.ValueOf(s.settings), s.key+".")...)
	}
	ps = append(ps, cfg.validate()...)
	// File problems in line order, then those from the environment.
	sort.SliceStable(ps, func(i, j int) bool {
		if (ps[i].File == "") != (ps[j].File == "") {
			return ps[i].File != ""
		}
		return ps[i].Line < ps[j].Line
	})
	if len(ps) > 0 {
		// The config comes back too, so that a checker can look further
		// (build what it can) and report every problem at once.
		return &cfg, ps
	}
	return &cfg, nil
}

// Problem returns a problem with the value of key (a dotted path such as
// "connectors.bitrix24.webhook_url" or "fixed_links[2]"): blamed on the
// environment variable when one set it, else on the key's line in the file.
func (c *Config) Problem(key, reason string) Problem {
	if v := envVar(c, key); v != "" && c.lookup != nil {
		if _, set := c.lookup.Lookup(v); set {
			return Problem{Reason: v + ": " + reason}
		}
	}
	if line := c.lines[key]; line > 0 {
		return Problem{File: c.Source, Line: line, Reason: reason}
	}
	if c.Source != "" {
		// A default the file did not set, or a key under a section the file
		// names: point at the nearest enclosing key.
		for k := key; k != ""; {
			i := strings.LastIndexAny(k, ".[")
			if i < 0 {
				break
			}
			k = k[:i]
			if line := c.lines[k]; line > 0 {
				return Problem{File: c.Source, Line: line, Reason: reason}
			}
		}
	}
	return Problem{Reason: reason}
}

// envVar names the PAYSYNC_* variable that overrides key, "" when none does.
func envVar(c *Config, key string) string {
	v := reflect.ValueOf(c).Elem()
	var tag string
	for _, part := range strings.Split(key, ".") {
		if strings.Contains(part, "[") {
			return "" // a list element: no variable sets one element
		}
		for v.Kind() == reflect.Pointer || v.Kind() == reflect.Interface {
			if v.IsNil() {
				return ""
			}
			v = v.Elem()
		}
		switch v.Kind() {
		case reflect.Map:
			v = v.MapIndex(reflect.ValueOf(part))
			if !v.IsValid() {
				return ""
			}
			tag = ""
		case reflect.Struct:
			found := false
			for i := 0; i < v.NumField(); i++ {
				f := v.Type().Field(i)
				if name, _, _ := strings.Cut(f.Tag.Get("yaml"), ","); name == part {
					tag, _, _ = strings.Cut(f.Tag.Get("env"), ",")
					v, found = v.Field(i), true
					break
				}
			}
			if !found {
				return ""
			}
		default:
			return ""
		}
	}
	return strings.TrimSpace(tag)
}

var yamlLine = regexp.MustCompile(`line (\d+): (.*)`)

// decode reads the file into cfg. A syntax error is fatal; type errors and
// unknown keys are not (decoding goes on, so that all are reported at once).
func decode(path string, data []byte, cfg *Config, lines map[string]int) (fatal bool, err error) {
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return true, yamlProblems(path, err)
	}
	collectLines(&root, "", lines)
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(cfg); err != nil && err.Error() != "EOF" {
		var te *yaml.TypeError
		return !errors.As(err, &te), yamlProblems(path, err)
	}
	return false, nil
}

// yamlProblems turns yaml.v3's "line N: ..." messages into file:line problems.
func yamlProblems(path string, err error) error {
	var te *yaml.TypeError
	var msgs []string
	if errors.As(err, &te) {
		msgs = te.Errors
	} else {
		msgs = []string{err.Error()}
	}
	var ps Problems
	for _, m := range msgs {
		m = strings.TrimPrefix(m, "yaml: ")
		if sm := yamlLine.FindStringSubmatch(m); sm != nil {
			n, _ := strconv.Atoi(sm[1])
			reason := sm[2]
			if f, ok := strings.CutPrefix(reason, "field "); ok {
				if name, rest, ok := strings.Cut(f, " not found in type"); ok {
					_ = rest
					reason = fmt.Sprintf("unknown key %q (see config.example.yaml for the keys paysync knows)", name)
				}
			}
			ps = append(ps, Problem{File: path, Line: n, Reason: reason})
			continue
		}
		ps = append(ps, Problem{File: path, Reason: m})
	}
	return ps
}

// collectLines maps dotted key paths to their line, for validation messages.
func collectLines(n *yaml.Node, prefix string, out map[string]int) {
	switch n.Kind {
	case yaml.DocumentNode:
		for _, c := range n.Content {
			collectLines(c, prefix, out)
		}
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i].Value
			if prefix != "" {
				k = prefix + "." + k
			}
			out[k] = n.Content[i].Line
			collectLines(n.Content[i+1], k, out)
		}
	case yaml.SequenceNode:
		for i, c := range n.Content {
			k := fmt.Sprintf("%s[%d]", prefix, i)
			out[k] = c.Line
			collectLines(c, k, out)
		}
	}
}

func (c *Config) validate() Problems {
	var ps Problems
	bad := func(key, reason string) {
		if !c.reported[key] {
			ps = append(ps, c.Problem(key, reason))
		}
	}
	if _, _, err := splitHostPort(c.HTTPAddr); err != nil {
		bad("http_addr", fmt.Sprintf("http_addr %q is not HOST:PORT (e.g. 127.0.0.1:8080)", c.HTTPAddr))
	}
	if u := string(c.DatabaseURL); u != "" && !strings.HasPrefix(u, "postgres://") && !strings.HasPrefix(u, "postgresql://") {
		bad("database_url", "database_url must start with postgres:// (leave it empty for SQLite in data_dir)")
	} else if p := redact.URLProblem(u); p != "" {
		// Neither the URL nor the parser's message (which quotes it) is shown.
		bad("database_url", fmt.Sprintf("database_url %s does not parse: %s", redact.SchemeAndHost(u), p))
	}
	switch strings.ToLower(c.SQLiteSynchronous) {
	case "full", "extra", "normal":
	default:
		bad("sqlite_synchronous", fmt.Sprintf("sqlite_synchronous %q must be full, extra or normal (full is the safe default)", c.SQLiteSynchronous))
	}
	if n := int64(c.SQLiteWALLimit); n < 4<<20 {
		bad("sqlite_wal_limit", fmt.Sprintf("sqlite_wal_limit %s is too small: at least 4MiB (32MiB is the default)", c.SQLiteWALLimit))
	}
	if c.TimeZone != "" {
		if _, err := time.LoadLocation(c.TimeZone); err != nil {
			bad("time_zone", fmt.Sprintf("unknown time_zone %q (use an IANA name such as Asia/Yerevan)", c.TimeZone))
		}
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		bad("log_level", fmt.Sprintf("log_level %q must be debug, info, warn or error", c.LogLevel))
	}
	switch c.LogFormat {
	case "", "auto", "json", "text":
	default:
		bad("log_format", fmt.Sprintf("log_format %q must be auto (text on a terminal, JSON otherwise), json or text", c.LogFormat))
	}
	if n := c.MaxConnections; n < 16 || n > 1_000_000 {
		bad("max_connections", fmt.Sprintf("max_connections %d must be between 16 and 1000000 (1024 is the default)", n))
	}
	switch {
	case (c.TLSCertFile == "") != (c.TLSKeyFile == ""):
		key := "tls_cert_file" // the one that is set
		if c.TLSCertFile == "" {
			key = "tls_key_file"
		}
		bad(key, "tls_cert_file and tls_key_file go together: set both for serve to terminate TLS itself, or neither (behind a proxy that does)")
	case c.TLSCertFile != "":
		if _, err := tls.LoadX509KeyPair(c.TLSCertFile, c.TLSKeyFile); err != nil {
			bad("tls_cert_file", fmt.Sprintf("cannot load the TLS certificate %s with its key %s: %v (both PEM; the certificate file may hold its chain)", c.TLSCertFile, c.TLSKeyFile, err))
		}
	}
	if _, err := throttle.ParseProxies(c.TrustedProxies); err != nil {
		bad("trusted_proxies", fmt.Sprintf("trusted_proxies: %v (list addresses or CIDR ranges such as 10.0.0.0/8)", err))
	}
	if u := c.PublicURL; u != "" {
		if pu, err := url.Parse(u); err != nil || (pu.Scheme != "http" && pu.Scheme != "https") || pu.Host == "" {
			bad("public_url", fmt.Sprintf("public_url %q is not an http(s) URL", u))
		}
	}
	positive := func(key string, d Duration) {
		if d.D() <= 0 {
			bad(key, fmt.Sprintf("%s must be a positive duration such as 90s, 15m or 24h (got %s)", key, d.D()))
		}
	}
	positive("shutdown_timeout", c.ShutdownTimeout)
	positive("dispatcher.lease", c.Dispatcher.Lease)
	if d := c.Dispatcher.LeaderLease.D(); d < 2*time.Second || d > 10*time.Minute {
		bad("dispatcher.leader_lease", fmt.Sprintf("dispatcher.leader_lease %s must be between 2s and 10m (6s is the default: failover takes about this long)", d))
	}
	positive("dispatcher.poll_interval", c.Dispatcher.PollInterval)
	positive("dispatcher.dead_after", c.Dispatcher.DeadAfter)
	positive("dispatcher.keep_delivered", c.Dispatcher.KeepDelivered)
	for i, d := range c.Dispatcher.Backoff {
		positive(fmt.Sprintf("dispatcher.backoff[%d]", i), d)
	}
	if c.Scheduler.ReconcileAfter.D() < 0 {
		bad("scheduler.reconcile_after", "scheduler.reconcile_after must not be negative")
	}
	for key, spec := range map[string]string{"scheduler.expire_schedule": c.Scheduler.ExpireSchedule,
		"scheduler.reconcile_schedule": c.Scheduler.ReconcileSchedule, "scheduler.purge_schedule": c.Scheduler.PurgeSchedule,
		"scheduler.reconcile_day_schedule": c.Scheduler.ReconcileDaySchedule} {
		if key == "scheduler.reconcile_day_schedule" && spec == "off" {
			continue
		}
		if _, err := ParseSchedule(spec); err != nil {
			bad(key, fmt.Sprintf("%s %q: %v (use a cron expression such as \"*/5 * * * *\" or \"@every 5m\")", key, spec, err))
		}
	}
	if d := c.DefaultExpiresIn.D(); d < 0 || d > core.MaxExpiry {
		bad("default_expires_in", fmt.Sprintf("default_expires_in %s must be between 0 (orders never expire) and 2160h", d))
	}
	if c.Journal.KeepRefused.D() <= 0 {
		bad("journal.keep_refused", "journal.keep_refused must be positive (e.g. 30d)")
	}
	if d := c.Journal.KeepPayloads.D(); d < 0 || (d > 0 && d < 24*time.Hour) {
		bad("journal.keep_payloads", fmt.Sprintf("journal.keep_payloads %s must be at least 1d (180d is the default), or 0 to keep payloads for good", d))
	}
	slugs := map[string]bool{}
	for i, fl := range c.FixedLinks {
		key := fmt.Sprintf("fixed_links[%d]", i)
		if fl.Slug == "" || slugs[fl.Slug] {
			bad(key+".slug", "every fixed link needs a unique slug")
		}
		slugs[fl.Slug] = true
		if err := core.ValidateMoney(fl.AmountMinor, fl.Currency); err != nil || fl.AmountMinor == 0 {
			bad(key+".amount_minor", fmt.Sprintf("fixed link %q needs a positive amount_minor and a known currency", fl.Slug))
		}
	}
	for _, s := range c.sections() {
		if v, ok := s.settings.(interface {
			Validate(bad func(key, reason string))
		}); ok {
			v.Validate(func(key, reason string) { bad(s.key+"."+key, reason) })
		}
	}
	// File problems in line order, then those from the environment.
	sort.SliceStable(ps, func(i, j int) bool {
		if (ps[i].File == "") != (ps[j].File == "") {
			return ps[i].File != ""
		}
		return ps[i].Line < ps[j].Line
	})
	return ps
}

// section is one plug-in's settings with its dotted key ("providers.idram").
type section struct {
	key      string
	settings any
}

// sections lists every provider's and connector's settings, in name order.
func (c *Config) sections() []section {
	var out []section
	for _, name := range providers.Names() {
		if s := c.Providers[name]; s != nil {
			out = append(out, section{"providers." + name, s})
		}
	}
	for _, name := range connectors.Names() {
		if s := c.Connectors[name]; s != nil {
			out = append(out, section{"connectors." + name, s})
		}
	}
	return out
}

// ParseSchedule parses a scheduler entry the way the scheduler does
// (standard five-field cron, or descriptors such as "@every 5m").
func ParseSchedule(spec string) (cron.Schedule, error) {
	return cron.ParseStandard(spec)
}

// ProblemsFrom turns an error from building a part of paysync out of this
// config into Problems: a core.Error with a Field is blamed on the key
// prefix+Field (file:line or its environment variable), anything else is
// reported as it is.
func (c *Config) ProblemsFrom(prefix string, err error) Problems {
	if err == nil {
		return nil
	}
	var ps Problems
	if errors.As(err, &ps) {
		return ps
	}
	if f := core.ErrorField(err); f != "" {
		return Problems{c.Problem(prefix+f, core.ErrorMessage(err))}
	}
	msg := core.ErrorMessage(err)
	if core.ErrorCode(err) == core.EINTERNAL {
		msg = err.Error()
	}
	return Problems{{Reason: msg}}
}

func splitHostPort(addr string) (string, int, error) {
	i := strings.LastIndex(addr, ":")
	if i < 0 {
		return "", 0, errors.New("no port")
	}
	p, err := strconv.Atoi(addr[i+1:])
	if err != nil || p < 0 || p > 65535 {
		return "", 0, errors.New("bad port")
	}
	return addr[:i], p, nil
}

// Redacted returns the config as YAML with every secret replaced.
func (c *Config) Redacted() string {
	b, _ := yaml.Marshal(c)
	return string(b)
}
