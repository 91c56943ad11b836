package main

import (
	"path/filepath"
	"strings"
	"testing"
)

// TestOrderFilesReadAsTheAPIReadsBodies: `orders create` and `mapping
// render` refuse what POST /v1/orders refuses, in its words: they share its
// decoder (httpapi.DecodeJSON).
func TestOrderFilesReadAsTheAPIReadsBodies(t *testing.T) {
	t.Setenv("PAYSYNC_DATA_DIR", t.TempDir())
	t.Setenv("PAYSYNC_CONFIG", "")
	twice := writeTemp(t, "twice.json", apiBody+"\n"+apiBody)
	nul := writeTemp(t, "nul.json", strings.Replace(apiBody, "Anna Petrosyan", `Anna\u0000`, 1))
	for _, args := range [][]string{
		{"orders", "create", "--file", twice},
		{"mapping", "render", "--connector", "bitrix24", "--dir", filepath.Join("..", "..", "mapping"), "--order", twice},
	} {
		if code, _, errs := cli(t, args...); code == 0 || !strings.Contains(errs, "more after its JSON object") {
			t.Errorf("%s with two objects: exit %d %q", strings.Join(args[:2], " "), code, errs)
		}
	}
	if code, _, errs := cli(t, "orders", "create", "--file", nul); code == 0 || !strings.Contains(errs, "customer.name") {
		t.Errorf("orders create with a NUL in customer.name: exit %d %q", code, errs)
	}
}
