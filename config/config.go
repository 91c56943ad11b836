// Package config reads paysync's YAML file and applies PAYSYNC_* environment
// overrides (sethvargo/go-envconfig). Unknown keys are refused with file:line;
// secrets are redacted whenever the config is printed.
package config

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/sethvargo/go-envconfig"
	"gopkg.in/yaml.v3"

	"github.com/paysync/paysync/core"
)

// Secret is a string that never prints.
type Secret string

func (s Secret) String() string {
	if s == "" {
		return ""
	}
	return "[redacted]"
}

// MarshalYAML keeps secrets out of printed config.
func (s Secret) MarshalYAML() (any, error) { return s.String(), nil }

// MarshalJSON keeps secrets out of JSON output.
func (s Secret) MarshalJSON() ([]byte, error) { return []byte(strconv.Quote(s.String())), nil }

// Duration reads "90s", "24h", "3d".
type Duration time.Duration

func (d *Duration) UnmarshalText(b []byte) error {
	v, err := ParseDuration(string(b))
	*d = Duration(v)
	return err
}

func (d Duration) MarshalText() ([]byte, error) { return []byte(time.Duration(d).String()), nil }

// D returns the time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// ParseDuration is time.ParseDuration plus a "d" (day) unit.
func ParseDuration(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if n, ok := strings.CutSuffix(s, "d"); ok {
		days, err := strconv.Atoi(n)
		if err != nil {
			return 0, fmt.Errorf("bad duration %q: use forms like 90s, 15m, 24h or 3d", s)
		}
		return time.Duration(days) * 24 * time.Hour, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("bad duration %q: use forms like 90s, 15m, 24h or 3d", s)
	}
	return d, nil
}

// Config is the whole configuration. YAML keys are snake_case; every
// environment variable of CONTRACT.md overrides its field.
type Config struct {
	HTTPAddr    string `yaml:"http_addr" env:"PAYSYNC_HTTP_ADDR, overwrite"`
	PublicURL   string `yaml:"public_url" env:"PAYSYNC_PUBLIC_URL, overwrite"` // where providers reach paysync (return and callback URLs)
	AdminToken  Secret `yaml:"admin_token" env:"PAYSYNC_ADMIN_TOKEN, overwrite"`
	DatabaseURL Secret `yaml:"database_url" env:"PAYSYNC_DATABASE_URL, overwrite"`
	DataDir     string `yaml:"data_dir" env:"PAYSYNC_DATA_DIR, overwrite"`
	MappingDir  string `yaml:"mapping_dir" env:"PAYSYNC_MAPPING_DIR, overwrite"`
	LogLevel    string `yaml:"log_level" env:"PAYSYNC_LOG_LEVEL, overwrite"`
	TimeZone    string `yaml:"time_zone" env:"PAYSYNC_TIME_ZONE, overwrite"`

	ShutdownTimeout Duration `yaml:"shutdown_timeout" env:"PAYSYNC_SHUTDOWN_TIMEOUT, overwrite"`

	Providers  Providers   `yaml:"providers"`
	Connectors Connectors  `yaml:"connectors"`
	Dispatcher Dispatcher  `yaml:"dispatcher"`
	Scheduler  Scheduler   `yaml:"scheduler"`
	FixedLinks []FixedLink `yaml:"fixed_links"`

	// Source is the file the config came from ("" for built-in defaults).
	Source string `yaml:"-"`
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

type Providers struct {
	VPOS    VPOS    `yaml:"vpos"`
	ArCa    ArCa    `yaml:"arca"`
	Generic Generic `yaml:"generic"`
}

// VPOS holds VPOS.am settings. The webhook format is not published, so the
// header names, field paths and lookup path are configurable.
type VPOS struct {
	BaseURL               string            `yaml:"base_url" env:"PAYSYNC_VPOS_BASE_URL, overwrite"`
	APIToken              Secret            `yaml:"api_token" env:"PAYSYNC_VPOS_API_TOKEN, overwrite"`
	WebhookSecret         Secret            `yaml:"webhook_secret" env:"PAYSYNC_VPOS_WEBHOOK_SECRET, overwrite"`
	WebhookSecretPrevious Secret            `yaml:"webhook_secret_previous" env:"PAYSYNC_VPOS_WEBHOOK_SECRET_PREVIOUS, overwrite"`
	ConfirmWithLookup     *bool             `yaml:"confirm_with_lookup"`
	ProviderName          string            `yaml:"provider"` // the `provider` field of a payment session, e.g. "arca"
	LookupPath            string            `yaml:"lookup_path"`
	SignatureHeader       string            `yaml:"signature_header"`
	IDHeader              string            `yaml:"id_header"`
	TimestampHeader       string            `yaml:"timestamp_header"`
	Fields                map[string]string `yaml:"fields"`   // event field -> JSON path in the webhook body
	Statuses              map[string]string `yaml:"statuses"` // provider status/event -> paysync status
}

// Enabled reports whether VPOS.am credentials are set.
func (v VPOS) Enabled() bool { return v.APIToken != "" || v.WebhookSecret != "" }

type ArCa struct {
	BaseURL     string `yaml:"base_url" env:"PAYSYNC_ARCA_BASE_URL, overwrite"`
	Username    string `yaml:"username" env:"PAYSYNC_ARCA_USERNAME, overwrite"`
	Password    Secret `yaml:"password" env:"PAYSYNC_ARCA_PASSWORD, overwrite"`
	CallbackKey Secret `yaml:"callback_key" env:"PAYSYNC_ARCA_CALLBACK_KEY, overwrite"`
	// CallbackKeyPrevious is accepted too during a key rotation.
	CallbackKeyPrevious Secret   `yaml:"callback_key_previous" env:"PAYSYNC_ARCA_CALLBACK_KEY_PREVIOUS, overwrite"`
	Language            string   `yaml:"language"`
	SessionTimeout      Duration `yaml:"session_timeout"`
}

func (a ArCa) Enabled() bool { return a.Username != "" && a.Password != "" }

type Generic struct {
	WebhookSecret         Secret `yaml:"webhook_secret" env:"PAYSYNC_GENERIC_WEBHOOK_SECRET, overwrite"`
	WebhookSecretPrevious Secret `yaml:"webhook_secret_previous" env:"PAYSYNC_GENERIC_WEBHOOK_SECRET_PREVIOUS, overwrite"`
}

func (g Generic) Enabled() bool { return g.WebhookSecret != "" }

type Connectors struct {
	Bitrix24 Bitrix24 `yaml:"bitrix24"`
	AmoCRM   AmoCRM   `yaml:"amocrm"`
	Sheets   Sheets   `yaml:"sheets"`
}

type Bitrix24 struct {
	WebhookURL   Secret  `yaml:"webhook_url" env:"PAYSYNC_BITRIX24_WEBHOOK_URL, overwrite"`
	ClientID     string  `yaml:"client_id" env:"PAYSYNC_BITRIX24_CLIENT_ID, overwrite"`
	ClientSecret Secret  `yaml:"client_secret" env:"PAYSYNC_BITRIX24_CLIENT_SECRET, overwrite"`
	PortalURL    string  `yaml:"portal_url" env:"PAYSYNC_BITRIX24_PORTAL_URL, overwrite"`
	OAuthURL     string  `yaml:"oauth_url" env:"PAYSYNC_BITRIX24_OAUTH_URL, overwrite"`
	RateLimit    float64 `yaml:"rate_limit"` // requests per second
	Burst        int     `yaml:"burst"`
}

func (b Bitrix24) Enabled() bool {
	return b.WebhookURL != "" || (b.ClientID != "" && b.ClientSecret != "")
}

type AmoCRM struct {
	BaseURL      string  `yaml:"base_url" env:"PAYSYNC_AMOCRM_BASE_URL, overwrite"`
	AccessToken  Secret  `yaml:"access_token" env:"PAYSYNC_AMOCRM_ACCESS_TOKEN, overwrite"`
	ClientID     string  `yaml:"client_id" env:"PAYSYNC_AMOCRM_CLIENT_ID, overwrite"`
	ClientSecret Secret  `yaml:"client_secret" env:"PAYSYNC_AMOCRM_CLIENT_SECRET, overwrite"`
	RefreshToken Secret  `yaml:"refresh_token" env:"PAYSYNC_AMOCRM_REFRESH_TOKEN, overwrite"`
	RedirectURI  string  `yaml:"redirect_uri" env:"PAYSYNC_AMOCRM_REDIRECT_URI, overwrite"`
	RateLimit    float64 `yaml:"rate_limit"`
}

func (a AmoCRM) Enabled() bool {
	return a.BaseURL != "" && (a.AccessToken != "" || (a.ClientID != "" && a.RefreshToken != ""))
}

type Sheets struct {
	SpreadsheetID   string  `yaml:"spreadsheet_id" env:"PAYSYNC_SHEETS_SPREADSHEET_ID, overwrite"`
	CredentialsFile string  `yaml:"credentials_file" env:"PAYSYNC_SHEETS_CREDENTIALS_FILE, overwrite"`
	Endpoint        string  `yaml:"endpoint" env:"PAYSYNC_SHEETS_ENDPOINT, overwrite"`
	Sheet           string  `yaml:"sheet"`
	WritesPerMinute float64 `yaml:"writes_per_minute"`
}

func (s Sheets) Enabled() bool { return s.SpreadsheetID != "" && s.CredentialsFile != "" }

type Dispatcher struct {
	Lease         Duration   `yaml:"lease"`
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
}

// EnabledConnectors lists the CRM connectors whose credentials are set.
func (c *Config) EnabledConnectors() []string {
	var out []string
	if c.Connectors.Bitrix24.Enabled() {
		out = append(out, "bitrix24")
	}
	if c.Connectors.AmoCRM.Enabled() {
		out = append(out, "amocrm")
	}
	if c.Connectors.Sheets.Enabled() {
		out = append(out, "sheets")
	}
	return out
}

// Defaults returns the built-in configuration.
func Defaults() Config {
	t := true
	return Config{
		HTTPAddr: "127.0.0.1:8080", DataDir: "./data", MappingDir: "mapping", LogLevel: "info",
		TimeZone: "Asia/Yerevan", ShutdownTimeout: Duration(15 * time.Second),
		Providers: Providers{
			VPOS: VPOS{BaseURL: "https://api.vpos.am", ConfirmWithLookup: &t, LookupPath: "/v1/payment-sessions/{id}",
				SignatureHeader: "webhook-signature", IDHeader: "webhook-id", TimestampHeader: "webhook-timestamp"},
			ArCa: ArCa{BaseURL: "https://ipaytest.arca.am:8445/payment/rest", Language: "en", SessionTimeout: Duration(20 * time.Minute)},
		},
		Connectors: Connectors{
			Bitrix24: Bitrix24{OAuthURL: "https://oauth.bitrix.info/oauth/token/", RateLimit: 2, Burst: 2},
			AmoCRM:   AmoCRM{RateLimit: 7},
			Sheets:   Sheets{Endpoint: "https://sheets.googleapis.com/", Sheet: "Orders", WritesPerMinute: 60},
		},
		Dispatcher: Dispatcher{Lease: Duration(time.Minute), PollInterval: Duration(time.Second),
			DeadAfter: Duration(72 * time.Hour), KeepDelivered: Duration(30 * 24 * time.Hour)},
		Scheduler: Scheduler{ExpireSchedule: "@every 1m", ReconcileSchedule: "@every 5m",
			ReconcileAfter: Duration(10 * time.Minute), PurgeSchedule: "@every 1h"},
	}
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
func Load(ctx context.Context, path string, lookup envconfig.Lookuper) (*Config, error) {
	cfg := Defaults()
	lines := map[string]int{}
	if path != "" {
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, Problems{{File: path, Reason: fmt.Sprintf("cannot read config: %v", errors.Unwrap(err))}}
		}
		if err := decode(path, data, &cfg, lines); err != nil {
			return nil, err
		}
		cfg.Source = path
	}
	if lookup == nil {
		lookup = envconfig.OsLookuper()
	}
	if err := envconfig.ProcessWith(ctx, &envconfig.Config{Target: &cfg, Lookuper: lookup}); err != nil {
		return nil, Problems{{Reason: "environment: " + err.Error()}}
	}
	if ps := cfg.validate(path, lines); len(ps) > 0 {
		return nil, ps
	}
	return &cfg, nil
}

var yamlLine = regexp.MustCompile(`line (\d+): (.*)`)

func decode(path string, data []byte, cfg *Config, lines map[string]int) error {
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return yamlProblems(path, err)
	}
	collectLines(&root, "", lines)
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(cfg); err != nil && err.Error() != "EOF" {
		return yamlProblems(path, err)
	}
	return nil
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

func (c *Config) validate(path string, lines map[string]int) Problems {
	var ps Problems
	bad := func(key, reason string) {
		ps = append(ps, Problem{File: path, Line: lines[key], Reason: reason})
		if path == "" || lines[key] == 0 {
			ps[len(ps)-1].File = ""
			ps[len(ps)-1].Reason = envHint(key) + reason
		}
	}
	if _, _, err := splitHostPort(c.HTTPAddr); err != nil {
		bad("http_addr", fmt.Sprintf("http_addr %q is not HOST:PORT (e.g. 127.0.0.1:8080)", c.HTTPAddr))
	}
	if c.DatabaseURL != "" && !strings.HasPrefix(string(c.DatabaseURL), "postgres://") && !strings.HasPrefix(string(c.DatabaseURL), "postgresql://") {
		bad("database_url", "database_url must start with postgres:// (leave it empty for SQLite in data_dir)")
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
	for key, u := range map[string]string{"providers.vpos.base_url": c.Providers.VPOS.BaseURL, "providers.arca.base_url": c.Providers.ArCa.BaseURL,
		"connectors.amocrm.base_url": c.Connectors.AmoCRM.BaseURL, "connectors.sheets.endpoint": c.Connectors.Sheets.Endpoint,
		"public_url": c.PublicURL, "connectors.bitrix24.oauth_url": c.Connectors.Bitrix24.OAuthURL} {
		if u == "" {
			continue
		}
		if pu, err := url.Parse(u); err != nil || (pu.Scheme != "http" && pu.Scheme != "https") || pu.Host == "" {
			bad(key, fmt.Sprintf("%s %q is not an http(s) URL", key, u))
		}
	}
	if w := string(c.Connectors.Bitrix24.WebhookURL); w != "" {
		pu, err := url.Parse(w)
		if err != nil || pu.Host == "" || !bitrixWebhookPath.MatchString(pu.Path) {
			bad("connectors.bitrix24.webhook_url", "the Bitrix24 webhook URL must look like https://PORTAL/rest/USER_ID/CODE/ (copy it from Developer resources > Incoming webhook)")
		}
	}
	if g := string(c.Providers.Generic.WebhookSecret); g != "" && !strings.HasPrefix(g, "whsec_") {
		bad("providers.generic.webhook_secret", "the generic webhook secret must start with whsec_ (Standard Webhooks format)")
	}
	if c.ShutdownTimeout.D() <= 0 {
		bad("shutdown_timeout", "shutdown_timeout must be positive")
	}
	slugs := map[string]bool{}
	for i, fl := range c.FixedLinks {
		key := fmt.Sprintf("fixed_links[%d]", i)
		if fl.Slug == "" || slugs[fl.Slug] {
			bad(key, "every fixed link needs a unique slug")
		}
		slugs[fl.Slug] = true
		if err := core.ValidateMoney(fl.AmountMinor, fl.Currency); err != nil || fl.AmountMinor == 0 {
			bad(key, fmt.Sprintf("fixed link %q needs a positive amount_minor and a known currency", fl.Slug))
		}
	}
	return ps
}

var bitrixWebhookPath = regexp.MustCompile(`^(/[^?#]*)?/rest/\d+/[A-Za-z0-9]+/?$`)

// envHint names the environment variable for a key, for problems that come from the environment.
func envHint(key string) string {
	switch key {
	case "http_addr":
		return "PAYSYNC_HTTP_ADDR: "
	case "database_url":
		return "PAYSYNC_DATABASE_URL: "
	case "connectors.bitrix24.webhook_url":
		return "PAYSYNC_BITRIX24_WEBHOOK_URL: "
	case "providers.generic.webhook_secret":
		return "PAYSYNC_GENERIC_WEBHOOK_SECRET: "
	}
	return ""
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
