package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/paysync/paysync/mapping"
)

// apiBody is docs/api.md's POST /v1/orders example.
const apiBody = `{
  "order_id": "IG-1042",
  "amount_minor": 1500000,
  "currency": "AMD",
  "customer": {"handle": "anna.knits", "id": "17841400000000000", "name": "Anna Petrosyan", "phone": "+37491000101"},
  "items": [{"sku": "SCARF-RED", "name": "Silk scarf, red", "quantity": 1, "price_minor": 1500000}],
  "delivery": {"method": "courier", "address": "Abovyan St 12, Yerevan"},
  "expires_in": "24h",
  "provider": "vpos"
}`

// bareOrder is the same order as GET /v1/orders/{id} returns it once created.
const bareOrder = `{
  "order_id": "IG-1042", "status": "pending", "amount_minor": 1500000, "currency": "AMD",
  "customer": {"handle": "anna.knits", "id": "17841400000000000", "name": "Anna Petrosyan", "phone": "+37491000101"},
  "items": [{"sku": "SCARF-RED", "name": "Silk scarf, red", "quantity": 1, "price_minor": 1500000}],
  "delivery": {"method": "courier", "address": "Abovyan St 12, Yerevan"},
  "provider": "vpos", "created_at": "2026-12-06T08:00:00Z", "status_changed_at": "2026-12-06T08:00:00Z",
  "updated_at": "2026-12-06T08:00:00Z", "version": 1
}`

func writeTemp(t *testing.T, name, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestMappingRenderTakesTheAPIBody: the body a chatbot POSTs renders as the
// pending order the API would store, the same as that order rendered bare,
// and a body the API refuses is refused with the API's reason.
func TestMappingRenderTakesTheAPIBody(t *testing.T) {
	render := func(file string) (int, map[string]any, string) {
		code, out, errs := cli(t, "mapping", "render", "--connector", "bitrix24", "--dir", "../../mapping", "--order", file)
		var p map[string]any
		if code == 0 {
			if err := json.Unmarshal([]byte(out), &p); err != nil {
				t.Fatalf("render printed no JSON: %v\n%s", err, out)
			}
		}
		return code, p, errs
	}
	code, fromBody, errs := render(writeTemp(t, "body.json", apiBody))
	if code != 0 {
		t.Fatalf("POST body: exit %d: %s", code, errs)
	}
	code, fromOrder, errs := render(writeTemp(t, "order.json", bareOrder))
	if code != 0 {
		t.Fatalf("bare order: exit %d: %s", code, errs)
	}
	for _, key := range []string{"stage", "new_stage", "contact", "notes"} {
		if b, o := jsonText(t, fromBody[key]), jsonText(t, fromOrder[key]); b != o {
			t.Errorf("%s: from the POST body %s, from the order %s", key, b, o)
		}
	}
	eb, eo := fromBody["entity"].(map[string]any), fromOrder["entity"].(map[string]any)
	for _, key := range []string{"TITLE", "OPPORTUNITY", "CURRENCY_ID", "ORIGIN_ID", "COMMENTS"} {
		if b, o := jsonText(t, eb[key]), jsonText(t, eo[key]); b != o || b == "null" {
			t.Errorf("entity %s: from the POST body %s, from the order %s", key, b, o)
		}
	}

	// What POST /v1/orders answers 400 to, render refuses with its words.
	typo := strings.Replace(apiBody, `"amount_minor"`, `"amount"`, 1)
	if code, _, errs := render(writeTemp(t, "typo.json", typo)); code == 0 || !strings.Contains(errs, `unknown field "amount"`) {
		t.Errorf("a misspelt field: exit %d %q", code, errs)
	}
	long := strings.Replace(apiBody, `"24h"`, `"9999h"`, 1)
	if code, _, errs := render(writeTemp(t, "long.json", long)); code == 0 || !strings.Contains(errs, "expires_in") {
		t.Errorf("expires_in beyond the limit: exit %d %q", code, errs)
	}
}

func jsonText(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestMappingExport writes the built-in files out, valid as they are, and
// never overwrites an edited one without --force.
func TestMappingExport(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "mine")
	code, out, errs := cli(t, "mapping", "export", "--dir", dir)
	if code != 0 || errs != "" {
		t.Fatalf("export: exit %d %q", code, errs)
	}
	for _, n := range []string{"bitrix24", "amocrm", "sheets"} {
		got, err := os.ReadFile(filepath.Join(dir, n+".yaml"))
		want, _ := mapping.ShippedFile(n)
		if err != nil || string(got) != string(want) {
			t.Errorf("%s.yaml: %v; written %d bytes, built in %d", n, err, len(got), len(want))
		}
		if !strings.Contains(out, filepath.Join(dir, n+".yaml")) {
			t.Errorf("export did not name %s.yaml:\n%s", n, out)
		}
	}
	t.Setenv("PAYSYNC_DATA_DIR", t.TempDir())
	t.Setenv("PAYSYNC_MAPPING_DIR", dir)
	if code, out, errs := cli(t, "config", "check"); code != 0 || strings.TrimSpace(out) != "ok" {
		t.Errorf("config check on the exported files: exit %d %q %q", code, out, errs)
	}

	edited := filepath.Join(dir, "sheets.yaml")
	if err := os.WriteFile(edited, []byte("# mine\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, _, errs = cli(t, "mapping", "export", "--dir", dir)
	if b, _ := os.ReadFile(edited); code == 0 || string(b) != "# mine\n" || !strings.Contains(errs, "--force") {
		t.Errorf("export over an edited file: exit %d %q; the file now holds %q", code, errs, b)
	}
	if code, _, errs := cli(t, "mapping", "export", "--dir", dir, "--connector", "sheets", "--force"); code != 0 {
		t.Fatalf("export --force: exit %d %q", code, errs)
	}
	if b, _ := os.ReadFile(edited); string(b) == "# mine\n" {
		t.Error("--force left the file as it was")
	}
}
