package config_test

import (
	"context"
	"strings"
	"testing"

	"github.com/sethvargo/go-envconfig"

	"github.com/paysync/paysync/config"
)

func TestSecretsListsEverySecretValue(t *testing.T) {
	env := map[string]string{
		"PAYSYNC_ADMIN_TOKEN":          "adm-token-1",
		"PAYSYNC_VPOS_WEBHOOK_SECRET":  "vpos-hook-secret",
		"PAYSYNC_ARCA_PASSWORD":        "arca-pass",
		"PAYSYNC_BITRIX24_WEBHOOK_URL": "http://127.0.0.1:8090/bitrix24/rest/1/hookcode12345/",
		"PAYSYNC_DATABASE_URL":         "postgres://paysync:dbpass99@db:5432/paysync",
		"PAYSYNC_DATA_DIR":             t.TempDir(),
	}
	cfg, err := config.Load(context.Background(), "", envconfig.MapLookuper(env))
	if err != nil {
		t.Fatal(err)
	}
	secrets := cfg.Secrets()
	got := "\n" + strings.Join(secrets, "\n") + "\n"
	for _, want := range []string{"adm-token-1", "vpos-hook-secret", "arca-pass", "http://127.0.0.1:8090/bitrix24/rest/1/hookcode12345/", "hookcode12345", "dbpass99"} {
		if !strings.Contains(got, "\n"+want+"\n") {
			t.Errorf("Secrets() lacks %q:%s", want, got)
		}
	}
	// Words of a secret URL's path are not secrets: the sandbox's /bitrix24
	// prefix must not turn "bitrix24" into [redacted] in every log line.
	if strings.Contains(got, "Asia/Yerevan") || strings.Contains(got, "\nrest\n") || strings.Contains(got, "\nbitrix24\n") {
		t.Errorf("Secrets() lists values that are not secret:%s", got)
	}
	for i := 1; i < len(secrets); i++ {
		if len(secrets[i]) > len(secrets[i-1]) {
			t.Fatalf("not longest first: %q", secrets)
		}
	}
}
