package config_test

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/sethvargo/go-envconfig"

	"github.com/paysync/paysync/config"
	"github.com/paysync/paysync/connectors"
	_ "github.com/paysync/paysync/connectors/all" // their config sections
	"github.com/paysync/paysync/providers"
	_ "github.com/paysync/paysync/providers/all" // theirs too
)

func write(t *testing.T, body string) string {
	p := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func load(t *testing.T, path string, env map[string]string) (*config.Config, error) {
	return config.Load(context.Background(), path, envconfig.MapLookuper(env))
}

func TestDefaults(t *testing.T) {
	cfg, err := load(t, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.HTTPAddr != "127.0.0.1:8080" || cfg.DataDir != "./data" || cfg.DatabaseURL != "" || len(cfg.EnabledConnectors()) != 0 ||
		cfg.SQLiteSynchronous != "full" || cfg.Journal.KeepRefused.D() != 30*24*time.Hour || cfg.Journal.KeepPayloads.D() != 180*24*time.Hour ||
		cfg.DefaultExpiresIn.D() != 72*time.Hour {
		t.Fatalf("defaults: %+v", cfg)
	}
}

func TestEnvOverridesFile(t *testing.T) {
	p := write(t, "http_addr: 127.0.0.1:9000\ndata_dir: /tmp/x\nadmin_token: from-file\n")
	cfg, err := load(t, p, map[string]string{"PAYSYNC_HTTP_ADDR": "127.0.0.1:9100", "PAYSYNC_BITRIX24_WEBHOOK_URL": "https://shop.bitrix24.ru/rest/1/abc123/"})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.HTTPAddr != "127.0.0.1:9100" || cfg.DataDir != "/tmp/x" || cfg.AdminToken != "from-file" {
		t.Fatalf("%+v", cfg)
	}
	if got := cfg.EnabledConnectors(); len(got) != 1 || got[0] != "bitrix24" {
		t.Fatalf("enabled: %v", got)
	}
}

func TestUnknownKeyHasFileAndLine(t *testing.T) {
	p := write(t, "http_addr: 127.0.0.1:9000\nconnectors:\n  bitrix24:\n    webhok_url: x\n")
	_, err := load(t, p, nil)
	if err == nil || !strings.Contains(err.Error(), p+":4: unknown key \"webhok_url\"") {
		t.Fatalf("error = %v", err)
	}
}

func TestInvalidValues(t *testing.T) {
	cases := map[string]string{
		"http_addr: nope\n":                                                       ":1: http_addr \"nope\" is not HOST:PORT",
		"database_url: mysql://x\n":                                               ":1: database_url must start with postgres://",
		"database_url: postgres://u:p%zz@db/x\n":                                  ":1: database_url postgres://db does not parse: a % is not followed by two hexadecimal digits",
		"time_zone: Mars/Base\n":                                                  ":1: unknown time_zone",
		"log_level: loud\n":                                                       ":1: log_level \"loud\"",
		"shutdown_timeout: soon\n":                                                ":1: shutdown_timeout: bad duration \"soon\"",
		"dispatcher:\n  lease: -1m\n":                                             ":2: dispatcher.lease must be a positive duration",
		"dispatcher:\n  backoff: [5s, 0s]\n":                                      ":2: dispatcher.backoff[1] must be a positive duration",
		"scheduler:\n  expire_schedule: every minute\n":                           ":2: scheduler.expire_schedule \"every minute\"",
		"connectors:\n  hubspot: {}\n":                                            ":2: unknown connector \"hubspot\" (this release has: amocrm, bitrix24, instagram, sheets)",
		"journal:\n  keep_refused: 0s\n":                                          ":2: journal.keep_refused must be positive",
		"journal:\n  keep_payloads: 1h\n":                                         ":2: journal.keep_payloads 1h0m0s must be at least 1d",
		"providers:\n  generic:\n    webhook_secret: abc\n":                       ":3: the generic webhook secret must start with whsec_",
		"sqlite_synchronous: off\n":                                               ":1: sqlite_synchronous \"off\" must be full, extra or normal",
		"max_connections: 3\n":                                                    ":1: max_connections 3 must be between 16 and 1000000",
		"tls_cert_file: /etc/paysync/cert.pem\n":                                  ":1: tls_cert_file and tls_key_file go together",
		"tls_cert_file: /nope/cert.pem\ntls_key_file: /nope/key.pem\n":            ":1: cannot load the TLS certificate /nope/cert.pem",
		"sqlite_wal_limit: 1MiB\n":                                                ":1: sqlite_wal_limit 1MiB is too small: at least 4MiB",
		"sqlite_wal_limit: lots\n":                                                ":1: sqlite_wal_limit: bad size \"lots\"",
		"default_expires_in: -1h\n":                                               ":1: default_expires_in -1h0m0s must be between 0",
		"default_expires_in: 91d\n":                                               ":1: default_expires_in 2184h0m0s must be between 0",
		"connectors:\n  bitrix24:\n    webhook_url: https://x.bitrix24.ru/api/\n": ":3: the Bitrix24 webhook URL must look like",
		"fixed_links:\n  - slug: a\n    amount_minor: -5\n    currency: AMD\n":    ":3: fixed link \"a\" needs a positive amount_minor",
	}
	for body, want := range cases {
		p := write(t, body)
		_, err := load(t, p, nil)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: error = %v, want it to contain %q", body, err, want)
		}
	}
	if cfg, err := load(t, "", map[string]string{"PAYSYNC_DEFAULT_EXPIRES_IN": "0"}); err != nil || cfg.DefaultExpiresIn != 0 {
		t.Errorf("PAYSYNC_DEFAULT_EXPIRES_IN=0 (never): %v %v", cfg, err)
	}
	if _, err := load(t, "", map[string]string{"PAYSYNC_SQLITE_SYNCHRONOUS": "off"}); err == nil || !strings.Contains(err.Error(), "PAYSYNC_SQLITE_SYNCHRONOUS: ") {
		t.Errorf("env problem does not name PAYSYNC_SQLITE_SYNCHRONOUS: %v", err)
	}
	_, err := load(t, "", map[string]string{"PAYSYNC_HTTP_ADDR": "bad"})
	if err == nil || !strings.Contains(err.Error(), "PAYSYNC_HTTP_ADDR") {
		t.Errorf("env problem does not name the variable: %v", err)
	}
}

func TestSecretsRedacted(t *testing.T) {
	secrets := map[string]string{
		"PAYSYNC_ADMIN_TOKEN":            "admintok-123",
		"PAYSYNC_DATABASE_URL":           "postgres://u:pw-456@db/x",
		"PAYSYNC_BITRIX24_WEBHOOK_URL":   "https://shop.bitrix24.ru/rest/1/code789/",
		"PAYSYNC_VPOS_API_TOKEN":         "vpostok-1",
		"PAYSYNC_GENERIC_WEBHOOK_SECRET": "whsec_c2VjcmV0",
		"PAYSYNC_ARCA_PASSWORD":          "arcapw-2",
		"PAYSYNC_AMOCRM_REFRESH_TOKEN":   "amo-rt-3",
		"PAYSYNC_AMOCRM_CLIENT_SECRET":   "amo-cs-4",
	}
	env := map[string]string{"PAYSYNC_AMOCRM_BASE_URL": "https://shop.amocrm.ru", "PAYSYNC_AMOCRM_CLIENT_ID": "amo-client",
		"PAYSYNC_AMOCRM_REDIRECT_URI": "https://pay.example.am/amocrm"}
	for k, v := range secrets {
		env[k] = v
	}
	cfg, err := load(t, "", env)
	if err != nil {
		t.Fatal(err)
	}
	out := cfg.Redacted()
	for k, v := range secrets {
		if strings.Contains(out, v) {
			t.Errorf("%s leaked into printed config", k)
		}
	}
	if !strings.Contains(out, "[redacted]") {
		t.Error("no redaction marker")
	}
}

func TestDurationDays(t *testing.T) {
	d, err := config.ParseDuration("3d")
	if err != nil || d.Hours() != 72 {
		t.Fatalf("%v %v", d, err)
	}
}

func TestExampleConfigLoads(t *testing.T) {
	cfg, err := load(t, "../config.example.yaml", nil)
	if err != nil {
		t.Fatalf("config.example.yaml does not load as it is: %v", err)
	}
	if cfg.HTTPAddr == "" {
		t.Fatal("empty http_addr")
	}
}

func TestEveryProblemAtOnce(t *testing.T) {
	p := write(t, "log_level: loud\nshutdown_timeout: soon\ndispatcher:\n  lease: -1m\n  bogus: 1\nscheduler:\n  purge_schedule: \"61 * * * *\"\n")
	_, err := load(t, p, nil)
	if err == nil {
		t.Fatal("accepted")
	}
	for _, want := range []string{p + ":1: log_level", p + ":2: shutdown_timeout: bad duration", p + ":4: dispatcher.lease", p + ":5: unknown key \"bogus\"", p + ":7: scheduler.purge_schedule"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("missing %q in:\n%v", want, err)
		}
	}
}

func TestEnvProblemNamesTheVariableNotALine(t *testing.T) {
	// The file sets the key on line 3, the environment overrides it with a
	// bad value: the problem is the variable's, not the line's.
	p := write(t, "connectors:\n  bitrix24:\n    webhook_url: https://x.bitrix24.ru/rest/1/abc/\n")
	_, err := load(t, p, map[string]string{"PAYSYNC_BITRIX24_WEBHOOK_URL": "https://x.bitrix24.ru/api/"})
	if err == nil || !strings.Contains(err.Error(), "PAYSYNC_BITRIX24_WEBHOOK_URL: the Bitrix24 webhook URL") || strings.Contains(err.Error(), ":3:") {
		t.Fatalf("error = %v", err)
	}
	// And the other way round: the file's bad value is the line's.
	p = write(t, "connectors:\n  bitrix24:\n    webhook_url: https://x.bitrix24.ru/api/\n")
	_, err = load(t, p, nil)
	if err == nil || !strings.Contains(err.Error(), p+":3: the Bitrix24 webhook URL") {
		t.Fatalf("error = %v", err)
	}
}

func TestBitrixWebhookWithExampleMethodAccepted(t *testing.T) {
	// docs/bitrix24.md: the URL Bitrix24 shows ends with an example method.
	_, err := load(t, "", map[string]string{"PAYSYNC_BITRIX24_WEBHOOK_URL": "https://shop.bitrix24.ru/rest/1/abc123/profile.json"})
	if err != nil {
		t.Fatal(err)
	}
}

// keys lists every yaml key of v's type as dotted paths (list elements and
// map entries are not descended into except for struct elements of lists).
func keys(t reflect.Type, prefix string) []string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	var out []string
	switch t.Kind() {
	case reflect.Struct:
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
			if name == "" || name == "-" || !f.IsExported() {
				continue
			}
			p := name
			if prefix != "" {
				p = prefix + "." + name
			}
			out = append(out, p)
			if p == "connectors" {
				continue // by registered connector, below
			}
			ft := f.Type
			if ft.Kind() == reflect.Slice {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct || (ft.Kind() == reflect.Pointer && ft.Elem().Kind() == reflect.Struct) {
				out = append(out, keys(ft, p)...)
			}
		}
	}
	return out
}

// exampleKeys reads the dotted keys that config.example.yaml sets or shows
// commented out ("# key: value" at the key's indentation).
func exampleKeys(t *testing.T, path string) map[string]bool {
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	keyRe := regexp.MustCompile(`^(- )?([a-z0-9_]+):`)
	type frame struct {
		indent int
		path   string
	}
	var stack []frame
	out := map[string]bool{}
	for _, line := range strings.Split(string(data), "\n") {
		indent := len(line) - len(strings.TrimLeft(line, " "))
		rest := line[indent:]
		if strings.HasPrefix(rest, "#") {
			after := strings.TrimPrefix(rest, "#")
			spaces := len(after) - len(strings.TrimLeft(after, " "))
			if spaces == 0 {
				continue
			}
			indent += spaces - 1
			rest = after[spaces:]
		}
		m := keyRe.FindStringSubmatch(rest)
		if m == nil {
			continue
		}
		if m[1] != "" {
			indent += 2 // "- key:" is a key of a list element
		}
		for len(stack) > 0 && stack[len(stack)-1].indent >= indent {
			stack = stack[:len(stack)-1]
		}
		p := m[2]
		if len(stack) > 0 {
			p = stack[len(stack)-1].path + "." + p
		}
		out[p] = true
		stack = append(stack, frame{indent, p})
	}
	return out
}

// TestExampleShowsEveryKey: every key paysync knows appears in
// config.example.yaml, set or commented out, and every environment
// variable in the README.
func TestExampleShowsEveryKey(t *testing.T) {
	want := keys(reflect.TypeOf(config.Config{}), "")
	for _, spec := range connectors.All() {
		want = append(want, "connectors."+spec.Name)
		want = append(want, keys(reflect.TypeOf(spec.Settings()), "connectors."+spec.Name)...)
	}
	for _, spec := range providers.All() {
		want = append(want, "providers."+spec.Name)
		want = append(want, keys(reflect.TypeOf(spec.Settings()), "providers."+spec.Name)...)
	}
	have := exampleKeys(t, "../config.example.yaml")
	for _, k := range want {
		if !have[k] {
			t.Errorf("config.example.yaml does not show %s", k)
		}
	}
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	var vars []string
	var collect func(t reflect.Type)
	collect = func(t reflect.Type) {
		for t.Kind() == reflect.Pointer {
			t = t.Elem()
		}
		if t.Kind() != reflect.Struct {
			return
		}
		for i := 0; i < t.NumField(); i++ {
			if v, _, _ := strings.Cut(t.Field(i).Tag.Get("env"), ","); v != "" {
				vars = append(vars, v)
			}
			collect(t.Field(i).Type)
		}
	}
	collect(reflect.TypeOf(config.Config{}))
	for _, spec := range connectors.All() {
		collect(reflect.TypeOf(spec.Settings()))
	}
	for _, spec := range providers.All() {
		collect(reflect.TypeOf(spec.Settings()))
	}
	for _, v := range vars {
		if !strings.Contains(string(readme), v) {
			t.Errorf("README.md does not document %s", v)
		}
	}
	if len(want) < 40 || len(vars) < 20 {
		t.Fatalf("found only %d keys and %d variables: the walk is broken", len(want), len(vars))
	}
}

// TestEachMistakeOnce is issue 22, item 8: config check reported problems
// that were not there ("default_expires_in: 3 days" also gave "environment:
// DefaultExpiresIn: bad duration \"\"" with no variable set), blamed a bad
// PAYSYNC_SHUTDOWN_TIMEOUT on the Go field ShutdownTimeout and then again as
// a zero duration, reported only the first bad variable, and had no "did
// you mean" for a key typo. Now each mistake is reported once, blamed on the
// key or the variable as the user wrote it, with "did you mean".
func TestEachMistakeOnce(t *testing.T) {
	problems := func(err error) []string {
		if err == nil {
			return nil
		}
		return strings.Split(err.Error(), "\n")
	}
	cases := []struct {
		name string
		file string
		env  map[string]string
		want []string // each problem, in order (a part of its line)
	}{
		{"a bad duration in the file", "default_expires_in: 3 days\n", nil,
			[]string{`:1: default_expires_in: bad duration "3 days": use forms like 90s, 15m, 24h or 3d`}},
		{"a zero duration in the file means never", "default_expires_in: 0\n", nil, nil},
		{"bad variables, each blamed on itself", "", map[string]string{"PAYSYNC_SHUTDOWN_TIMEOUT": "soon", "PAYSYNC_MAX_CONNECTIONS": "lots", "PAYSYNC_SQLITE_WAL_LIMIT": "huge"},
			[]string{`PAYSYNC_MAX_CONNECTIONS: "lots" is not a whole number`, `PAYSYNC_SHUTDOWN_TIMEOUT: bad duration "soon"`, `PAYSYNC_SQLITE_WAL_LIMIT: bad size "huge"`}},
		{"an empty variable is not set", "", map[string]string{"PAYSYNC_SHUTDOWN_TIMEOUT": "", "PAYSYNC_DEFAULT_EXPIRES_IN": ""}, nil},
		{"typos", "log_levle: info\nconnectors:\n  bitrix24:\n    webhok_url: x\n  bitrix:\n    webhook_url: x\nschedulr: {}\nfixed_links:\n  - slugg: a\n    amount_minor: 100\n    currency: AMD\n",
			nil, []string{`:1: unknown key "log_levle": did you mean log_level?`, `:4: unknown key "webhok_url": did you mean webhook_url?`,
				`:5: unknown connector "bitrix": did you mean bitrix24?`, `:7: unknown key "schedulr": did you mean scheduler?`, `:9: unknown key "slugg": did you mean slug?`}},
		{"no guess for a key like none", "colour: blue\n", nil, []string{`:1: unknown key "colour" (see config.example.yaml`}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			path := ""
			if c.file != "" {
				path = write(t, c.file)
			}
			_, err := load(t, path, c.env)
			got := problems(err)
			if len(got) != len(c.want) {
				t.Fatalf("%d problems, want %d:\n%v", len(got), len(c.want), err)
			}
			for i, w := range c.want {
				if !strings.Contains(got[i], w) {
					t.Errorf("problem %d is %q, want it to contain %q", i, got[i], w)
				}
			}
			for _, g := range got {
				if strings.Contains(g, "environment:") || strings.Contains(g, "ShutdownTimeout") || strings.Contains(g, "DefaultExpiresIn") {
					t.Errorf("a problem names Go, not the key or variable: %q", g)
				}
			}
		})
	}
}

// TestVariables checks the list that help texts print: the top-level keys,
// every registered provider's and connector's section, each name once.
func TestVariables(t *testing.T) {
	got := map[string]string{}
	for _, v := range config.Variables() {
		if _, dup := got[v.Name]; dup {
			t.Errorf("%s listed twice", v.Name)
		}
		got[v.Name] = v.Key
	}
	for name, key := range map[string]string{
		"PAYSYNC_HTTP_ADDR":            "http_addr",
		"PAYSYNC_DATABASE_URL":         "database_url",
		"PAYSYNC_VPOS_API_TOKEN":       "providers.vpos.api_token",
		"PAYSYNC_BITRIX24_WEBHOOK_URL": "connectors.bitrix24.webhook_url",
	} {
		if got[name] != key {
			t.Errorf("%s overrides %q, want %q", name, got[name], key)
		}
	}
	if _, ok := got["PAYSYNC_CONFIG"]; !ok {
		t.Error("PAYSYNC_CONFIG missing")
	}
}
