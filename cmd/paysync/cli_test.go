package main

import (
	"bytes"
	"context"
	"io"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/paysync/paysync/core"
	bitrix24sandbox "github.com/paysync/paysync/sandbox/bitrix24"
	sheetssandbox "github.com/paysync/paysync/sandbox/sheets"
	"github.com/paysync/paysync/storage"
	"github.com/paysync/paysync/storage/testdb"
)

func cli(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(context.Background(), args, &out, &errb)
	return code, out.String(), errb.String()
}

func TestConfigCheck(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("PAYSYNC_DATA_DIR", dir)
	t.Setenv("PAYSYNC_MAPPING_DIR", "../../mapping")
	if code, out, errs := cli(t, "--config", "../../config.example.yaml", "config", "check"); code != 0 || strings.TrimSpace(out) != "ok" {
		t.Fatalf("example config: %d %q %q", code, out, errs)
	}
	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(bad, []byte("http_addr: 127.0.0.1:1\nadmin_tokn: x\n"), 0o600)
	code, _, errs := cli(t, "config", "check", "--config", bad)
	if code == 0 || !strings.Contains(errs, bad+":2: unknown key \"admin_tokn\"") {
		t.Fatalf("bad config: %d %q", code, errs)
	}
	// A broken mapping file fails the check with its file:line:col.
	mdir := filepath.Join(dir, "mapping")
	os.Mkdir(mdir, 0o755)
	src, _ := os.ReadFile("../../mapping/bitrix24.yaml")
	os.WriteFile(filepath.Join(mdir, "bitrix24.yaml"), append(src, []byte("\nbogus_top_level_key: 1\n")...), 0o600)
	t.Setenv("PAYSYNC_MAPPING_DIR", mdir)
	code, _, errs = cli(t, "config", "check")
	if code == 0 || !strings.Contains(errs, "bitrix24.yaml:") {
		t.Fatalf("bad mapping: %d %q", code, errs)
	}
}

func TestSecretsNeverPrinted(t *testing.T) {
	t.Setenv("PAYSYNC_DATA_DIR", t.TempDir())
	t.Setenv("PAYSYNC_ADMIN_TOKEN", "adm-secret-1")
	t.Setenv("PAYSYNC_BITRIX24_WEBHOOK_URL", "https://shop.bitrix24.ru/rest/1/hooksecret2/")
	code, out, errs := cli(t, "config", "show")
	if code != 0 || strings.Contains(out+errs, "adm-secret-1") || strings.Contains(out+errs, "hooksecret2") {
		t.Fatalf("config show leaked a secret or failed: %d\n%s%s", code, out, errs)
	}
}

func TestOutboxCommands(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("PAYSYNC_DATA_DIR", dir)
	ctx := context.Background()
	db, err := storage.Open(ctx, storage.Options{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	db.Migrate(ctx)
	l := &core.Ledger{Store: db, Connectors: func() []string { return []string{"bitrix24"} }}
	if _, _, err := l.CreateOrder(ctx, core.Order{ID: "IG-9", AmountMinor: 100, Currency: "AMD"}); err != nil {
		t.Fatal(err)
	}
	recs, _ := db.ClaimOutbox(ctx, core.ClaimRequest{Connector: "bitrix24", Owner: "t", Token: "tok", Limit: 5, Lease: time.Minute})
	db.CompleteOutbox(ctx, core.Completion{ID: recs[0].ID, Token: "tok", Outcome: core.OutcomeDead, Error: "Bitrix24 rejected CURRENCY_ID AMD"})
	db.Close()

	if code, out, errs := cli(t, "outbox", "stats"); code != 0 || !strings.Contains(out, "bitrix24") {
		t.Fatalf("stats: %d %q %q", code, out, errs)
	}
	if code, out, _ := cli(t, "outbox", "dead"); code != 0 || !strings.Contains(out, "Bitrix24 rejected CURRENCY_ID AMD") || !strings.Contains(out, "IG-9") {
		t.Fatalf("dead: %d %q", code, out)
	}
	if code, _, errs := cli(t, "outbox", "retry", "12345"); code == 0 || !strings.Contains(errs, "no dead outbox record") {
		t.Fatalf("retry missing: %d %q", code, errs)
	}
	if code, out, _ := cli(t, "outbox", "retry", "--all-dead"); code != 0 || !strings.Contains(out, "requeued 1") {
		t.Fatalf("retry all: %d %q", code, out)
	}
	if code, out, _ := cli(t, "outbox", "dead"); code != 0 || !strings.Contains(out, "no dead letters") {
		t.Fatalf("after retry: %q", out)
	}
	if code, _, errs := cli(t, "nonsense"); code != 2 || !strings.Contains(errs, "unknown command") {
		t.Fatalf("unknown command: %d %q", code, errs)
	}
	if code, out, _ := cli(t, "version"); code != 0 || !strings.HasPrefix(out, "paysync ") {
		t.Fatalf("version: %q", out)
	}
}

func TestConnectorsCheckAgainstSandbox(t *testing.T) {
	p := bitrix24sandbox.New(bitrix24sandbox.Options{})
	srv := httptest.NewServer(p)
	defer srv.Close()
	defer p.Close()
	t.Setenv("PAYSYNC_DATA_DIR", t.TempDir())
	t.Setenv("PAYSYNC_MAPPING_DIR", "../../mapping")
	t.Setenv("PAYSYNC_BITRIX24_WEBHOOK_URL", p.WebhookURL(srv.URL))
	code, out, errs := cli(t, "connectors", "check")
	if code != 0 || !strings.Contains(out, "stages of pipeline 0: NEW") || !strings.Contains(out, "ok") {
		t.Fatalf("check: %d\n%s\n%s", code, out, errs)
	}
	p.DisableCurrency("AMD")
	code, _, errs = cli(t, "connectors", "check")
	if code != 1 || !strings.Contains(errs, "enable AMD in CRM > Settings > Currencies") || strings.Contains(out+errs, p.WebhookURL(srv.URL)) {
		t.Fatalf("disabled AMD: %d %q", code, errs)
	}
}

// TestConnectorsCheckAgainstSheetsSandbox: the PAYSYNC_SHEETS_* variables
// reach the Sheets check, which says what to share with whom and which
// header is missing, without printing the key.
func TestConnectorsCheckAgainstSheetsSandbox(t *testing.T) {
	ss := sheetssandbox.New(sheetssandbox.Options{Sheets: []string{"Orders"}})
	srv := httptest.NewServer(ss)
	defer srv.Close()
	defer ss.Close()
	keyFile, err := ss.WriteKeyFile(t.TempDir(), srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("PAYSYNC_DATA_DIR", t.TempDir())
	t.Setenv("PAYSYNC_MAPPING_DIR", "../../mapping")
	t.Setenv("PAYSYNC_BITRIX24_WEBHOOK_URL", "")
	t.Setenv("PAYSYNC_SHEETS_SPREADSHEET_ID", ss.ID())
	t.Setenv("PAYSYNC_SHEETS_CREDENTIALS_FILE", keyFile)
	t.Setenv("PAYSYNC_SHEETS_ENDPOINT", srv.URL+"/")
	code, out, errs := cli(t, "connectors", "check")
	if code != 0 || !strings.Contains(out, "Google Sheets (") || !strings.Contains(out, "has no header row yet") || !strings.HasSuffix(strings.TrimSpace(out), "ok") {
		t.Fatalf("check: %d\n%s\n%s", code, out, errs)
	}
	ss.Rebuild("Orders", [][]string{{"Order ID", "Amount", "Notes"}})
	code, out, errs = cli(t, "connectors", "check")
	if code != 1 || !strings.Contains(errs, `column "Status" is not in the sheet's header row: add it to row 1`) || !strings.Contains(out, "left alone: Notes") {
		t.Fatalf("partial header: %d\n%s\n%s", code, out, errs)
	}
	ss.Share(sheetssandbox.RoleNone)
	code, out, errs = cli(t, "connectors", "check")
	if code != 1 || !strings.Contains(errs, "share the spreadsheet with "+ss.ClientEmail()+" as an editor") {
		t.Fatalf("not shared: %d\n%s\n%s", code, out, errs)
	}
	key, _ := os.ReadFile(keyFile)
	if i := bytes.Index(key, []byte("MII")); i < 0 || strings.Contains(out+errs, string(key[i:i+40])) {
		t.Fatal("the key reached the output")
	}
}

// TestConfigCheckEqualsServe: every config that serve refuses, config check
// refuses too, with the same lines, and the other way round.
func TestConfigCheckEqualsServe(t *testing.T) {
	cases := []struct {
		name, file string
		env        map[string]string
		want       string // in both outputs
	}{
		{"bad cron", "scheduler:\n  expire_schedule: \"@every\"\n", nil, ":2: scheduler.expire_schedule"},
		{"arca language", "providers:\n  arca:\n    language: de\n", map[string]string{"PAYSYNC_ARCA_USERNAME": "shop-api", "PAYSYNC_ARCA_PASSWORD": "pw"}, ":3: providers.arca.language \"de\""},
		{"whsec not base64", "providers:\n  generic:\n    webhook_secret: whsec_%%%\n", nil, ":3: generic webhooks: webhook secret: the part after whsec_ is not base64"},
		{"whsec from env", "", map[string]string{"PAYSYNC_GENERIC_WEBHOOK_SECRET": "whsec_%%%"}, "PAYSYNC_GENERIC_WEBHOOK_SECRET: generic webhooks"},
		{"vpos status", "providers:\n  vpos:\n    statuses:\n      captured: shipped\n", map[string]string{"PAYSYNC_VPOS_API_TOKEN": "t"}, ":4: providers.vpos.statuses: \"captured\" maps to \"shipped\""},
		{"negative lease", "dispatcher:\n  lease: -1m\n", nil, ":2: dispatcher.lease must be a positive duration"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			t.Setenv("PAYSYNC_DATA_DIR", dir)
			t.Setenv("PAYSYNC_MAPPING_DIR", "../../mapping")
			t.Setenv("PAYSYNC_HTTP_ADDR", "127.0.0.1:0")
			for k, v := range c.env {
				t.Setenv(k, v)
			}
			p := filepath.Join(dir, "config.yaml")
			os.WriteFile(p, []byte(c.file), 0o600)
			code, _, checkErr := cli(t, "--config", p, "config", "check")
			if code != 2 || !strings.Contains(checkErr, c.want) {
				t.Errorf("config check: exit %d, want 2 and %q in:\n%s", code, c.want, checkErr)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			var out, serveErr bytes.Buffer
			code = run(ctx, []string{"--config", p, "serve"}, &out, &serveErr)
			if code != 2 || !strings.Contains(serveErr.String(), c.want) {
				t.Errorf("serve: exit %d, want 2 and %q in:\n%s", code, c.want, serveErr.String())
			}
		})
	}
}

// TestCLIManners: help for a bare paysync and every command group, and
// errors that say what is missing.
func TestCLIManners(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("PAYSYNC_DATA_DIR", filepath.Join(dir, "data"))
	if code, _, errs := cli(t); code != 2 || !strings.Contains(errs, "Usage: paysync") {
		t.Errorf("bare paysync: exit %d, want 2 with the help on stderr: %q", code, errs)
	}
	for _, group := range []string{"mapping", "config", "connectors", "outbox"} {
		code, out, _ := cli(t, group, "--help")
		if code != 0 || !strings.Contains(out, "Usage: paysync "+group+" COMMAND") || !strings.Contains(out, group+" ") {
			t.Errorf("%s --help: exit %d %q", group, code, out)
		}
		if code, _, errs := cli(t, group); code != 2 || !strings.Contains(errs, "Usage: paysync "+group) {
			t.Errorf("%s alone: exit %d %q", group, code, errs)
		}
	}
	for _, cmd := range []string{"orders"} {
		if code, out, _ := cli(t, cmd, "--help"); code != 0 || !strings.Contains(out, "usage: paysync "+cmd) {
			t.Errorf("%s --help: exit %d %q", cmd, code, out)
		}
	}
	if code, _, errs := cli(t, "review", "IG-1", "--decision", "paid"); code != 2 || !strings.Contains(errs, "missing --note") {
		t.Errorf("review without a note: exit %d %q", code, errs)
	}
	if code, _, _ := cli(t, "outbox", "stat"); code != 2 {
		t.Errorf("outbox stat: exit %d, want 2", code)
	}
	if _, err := os.Stat(filepath.Join(dir, "data")); err == nil {
		t.Error("a mistyped command created the data directory")
	}
}

// TestDatabasePasswordNeverPrinted: the commands that name the database
// show its URL with the password hidden, in the userinfo and in ?password=.
func TestDatabasePasswordNeverPrinted(t *testing.T) {
	u, err := url.Parse(testdb.NewPostgresDB(t))
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("password", "qs-hunter2") // the test server trusts loopback, so any password works
	u.RawQuery = q.Encode()
	u.User = url.UserPassword(u.User.Username(), "ui-hunter2")
	t.Setenv("PAYSYNC_DATA_DIR", t.TempDir())
	t.Setenv("PAYSYNC_DATABASE_URL", u.String())
	code, out, errs := cli(t, "migrate")
	if code != 0 || !strings.Contains(out, "PostgreSQL at postgres://") || !strings.Contains(out, "xxxxx") {
		t.Fatalf("migrate: %d %q %q", code, out, errs)
	}
	if strings.Contains(out+errs, "hunter2") {
		t.Fatalf("migrate printed a database password: %q %q", out, errs)
	}
	bad := *u
	bad.Host = "127.0.0.1:1"
	t.Setenv("PAYSYNC_DATABASE_URL", bad.String())
	code, out, errs = cli(t, "migrate")
	if code == 0 || strings.Contains(out+errs, "hunter2") || !strings.Contains(errs, "xxxxx") {
		t.Fatalf("migrate against a dead server: %d %q %q", code, out, errs)
	}
}

// TestOutboxResyncChecksTheConnector: `outbox resync --connector` with an
// unknown or disabled connector fails listing the enabled ones and queues
// nothing, on both databases.
func TestOutboxResyncChecksTheConnector(t *testing.T) {
	testdb.Each(t, func(t *testing.T, dialect string) {
		dir := t.TempDir()
		t.Setenv("PAYSYNC_DATA_DIR", dir)
		t.Setenv("PAYSYNC_DATABASE_URL", testdb.Options(t, dialect).DatabaseURL)
		t.Setenv("PAYSYNC_BITRIX24_WEBHOOK_URL", "https://shop.bitrix24.ru/rest/1/hooksecret3/")
		ctx := context.Background()
		a, err := openApp(ctx, &cmdEnv{stdout: io.Discard, stderr: io.Discard})
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := a.ledger.CreateOrder(ctx, core.Order{ID: "RS-2", AmountMinor: 100, Currency: "AMD"}); err != nil {
			t.Fatal(err)
		}
		queued := func() int {
			recs, err := a.store.OrderDeliveries(ctx, "RS-2")
			if err != nil {
				t.Fatal(err)
			}
			return len(recs)
		}
		defer a.Close()
		before := queued()
		for _, name := range []string{"bogus", "sheets"} {
			code, out, errs := cli(t, "outbox", "resync", "RS-2", "--connector", name)
			if code != 2 || !strings.Contains(errs, `connector "`+name+`" is not enabled; enabled connectors: bitrix24`) || strings.Contains(out+errs, "hooksecret3") {
				t.Fatalf("resync --connector %s: %d %q %q", name, code, out, errs)
			}
		}
		if got := queued(); got != before {
			t.Fatalf("a refused resync queued %d records", got-before)
		}
		if code, out, errs := cli(t, "outbox", "resync", "RS-2", "--connector", "bitrix24"); code != 0 || queued() != before+1 {
			t.Fatalf("resync --connector bitrix24: %d %q %q", code, out, errs)
		}
	})
}

// TestUnparsableDatabaseURLNeverPrinted: issue 22, item 2. serve and
// migrate printed a database URL that does not parse whole, twice, and
// config check said ok. Now each says why it does not parse, showing at
// most the scheme and host, and config check refuses it.
func TestUnparsableDatabaseURLNeverPrinted(t *testing.T) {
	t.Setenv("PAYSYNC_DATA_DIR", t.TempDir())
	t.Setenv("PAYSYNC_MAPPING_DIR", "../../mapping")
	for _, u := range []string{
		"postgres://paysync:hun%zzter2@127.0.0.1:5432/paysync",
		"postgres://paysync:hunter2@127.0.0.1:54x2/paysync",
		"postgres://paysync:hunter2@[::1/paysync",
	} {
		t.Setenv("PAYSYNC_DATABASE_URL", u)
		for _, args := range [][]string{{"migrate"}, {"serve"}, {"config", "check"}} {
			code, out, errs := cli(t, args...)
			if code == 0 {
				t.Fatalf("paysync %v with %s: exit 0: %s%s", args, storage.RedactURL(u), out, errs)
			}
			for _, leak := range []string{"hunter", "zzter", "ter2"} {
				if strings.Contains(out+errs, leak) {
					t.Fatalf("paysync %v printed a piece of the password:\n%s%s", args, out, errs)
				}
			}
			if !strings.Contains(errs, "does not parse") || !strings.Contains(errs, "postgres://") {
				t.Fatalf("paysync %v does not say which URL or why:\n%s", args, errs)
			}
			if args[0] == "config" && !strings.Contains(errs, "PAYSYNC_DATABASE_URL: ") {
				t.Fatalf("config check does not blame PAYSYNC_DATABASE_URL:\n%s", errs)
			}
		}
	}
}
