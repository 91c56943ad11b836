package main

import (
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/paysync/paysync/sandbox"
	_ "github.com/paysync/paysync/sandbox/all"
)

// TestProvidersCheckAgainstSandbox: `paysync providers check` asks each
// enabled provider whether the credentials work, and names the setting to
// fix without printing it.
func TestProvidersCheckAgainstSandbox(t *testing.T) {
	srv := httptest.NewUnstartedServer(nil)
	sb := sandbox.New(sandbox.Options{BaseURL: "http://" + srv.Listener.Addr().String(), Dir: t.TempDir()})
	srv.Config.Handler = sb
	srv.Start()
	defer srv.Close()
	defer sb.Close()
	t.Setenv("PAYSYNC_DATA_DIR", t.TempDir())
	for k, v := range sb.Env() {
		t.Setenv(k, v)
	}
	code, out, errs := cli(t, "providers", "check")
	if code != 0 || !strings.Contains(out, "VPOS.am:\n  API ") || !strings.Contains(out, "ArCa:\n  gateway ") || !strings.HasSuffix(strings.TrimSpace(out), "ok") {
		t.Fatalf("check: %d\n%s\n%s", code, out, errs)
	}
	t.Setenv("PAYSYNC_ARCA_PASSWORD", "not-the-password-42")
	t.Setenv("PAYSYNC_VPOS_API_TOKEN", "not-the-token-42")
	code, out, errs = cli(t, "providers", "check")
	if code != 1 || !strings.Contains(errs, "check PAYSYNC_ARCA_USERNAME and PAYSYNC_ARCA_PASSWORD") || !strings.Contains(errs, "check PAYSYNC_VPOS_API_TOKEN") ||
		!strings.Contains(out+errs, "2 problem(s)") {
		t.Fatalf("wrong credentials: %d\n%s\n%s", code, out, errs)
	}
	if strings.Contains(out+errs, "not-the-password-42") || strings.Contains(out+errs, "not-the-token-42") {
		t.Fatal("providers check printed a credential")
	}
	for _, k := range []string{"PAYSYNC_VPOS_API_TOKEN", "PAYSYNC_VPOS_WEBHOOK_SECRET", "PAYSYNC_ARCA_USERNAME", "PAYSYNC_ARCA_PASSWORD", "PAYSYNC_GENERIC_WEBHOOK_SECRET"} {
		t.Setenv(k, "")
	}
	for k := range sb.Env() {
		t.Setenv(k, "")
	}
	if code, _, errs := cli(t, "providers", "check"); code != 2 || !strings.Contains(errs, "no payment provider is enabled: set ") {
		t.Fatalf("no provider: %d %s", code, errs)
	}
}
