package bitrix24

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"
)

// crm.duplicate.findbycomm returns at most 20 ids per entity type, the
// oldest: the others are cut off without a word.
func TestFindByCommCapsAt20(t *testing.T) {
	e := newEnv(t, Options{})
	for i := range 25 {
		e.mustCall("crm.contact.add", map[string]any{"fields": map[string]any{"NAME": fmt.Sprint("C", i),
			"PHONE": []any{map[string]any{"VALUE": "+37491000777", "VALUE_TYPE": "MOBILE"}}}})
	}
	got := e.mustCall("crm.duplicate.findbycomm", map[string]any{"entity_type": "CONTACT", "type": "PHONE", "values": []string{"37491000777"}})
	ids := got.(map[string]any)["CONTACT"].([]any)
	if len(ids) != FindByCommCap || ids[0].(float64) != 1 || ids[19].(float64) != 20 {
		t.Fatalf("25 matching contacts: %v, want the first 20", ids)
	}
}

// A list method with start ≥ 0 counts every row its filter matches, and is
// charged for it; start=-1 counts nothing and answers without total/next.
func TestCountedRowsCostOperatingTime(t *testing.T) {
	e := newEnv(t, Options{CountCost: 2 * time.Second, OperatingLimit: 60 * time.Second, BlockThreshold: 1000})
	for i := range 55 {
		e.addDeal(map[string]any{"TITLE": fmt.Sprint("D", i)})
	}
	_, out := e.call("crm.deal.list", map[string]any{"start": -1, "order": map[string]any{"ID": "ASC"}})
	if rows := out["result"].([]any); len(rows) != PageSize || out["total"] != nil || out["next"] != nil {
		t.Fatalf("start=-1: %d rows, total %v, next %v", len(rows), out["total"], out["next"])
	}
	if op := out["time"].(map[string]any)["operating"].(float64); op > 1 {
		t.Fatalf("start=-1 was charged %vs of operating time", op)
	}
	status, out := e.call("crm.deal.list", map[string]any{})
	if status != 200 || out["total"].(float64) != 55 || out["next"].(float64) != 50 {
		t.Fatalf("start 0: %d %v", status, out)
	}
	if op := out["time"].(map[string]any)["operating"].(float64); op < 110 {
		t.Fatalf("counting 55 rows cost %vs, want 55 x 2 s", op)
	}
	if status, out := e.call("crm.deal.list", map[string]any{}); status != http.StatusTooManyRequests || out["error"] != "OPERATION_TIME_LIMIT" {
		t.Fatalf("over the limit: %d %v", status, out)
	}
}

// A list user field shows its items in crm.deal.fields, and an id that is
// not one of them is refused.
func TestListFieldItems(t *testing.T) {
	e := newEnv(t, Options{})
	f := e.mustCall("crm.deal.fields", nil).(map[string]any)["UF_CRM_PAYMENT_STATUS"].(map[string]any)
	items := f["items"].([]any)
	if f["type"] != "enumeration" || len(items) != len(DefaultPaymentStatusItems) || items[1].(map[string]any)["ID"] != "103" {
		t.Fatalf("UF_CRM_PAYMENT_STATUS: %v", f)
	}
	id := e.addDeal(map[string]any{"TITLE": "list", "UF_CRM_PAYMENT_STATUS": 103})
	if d, _ := e.p.Deal(id); d.Fields["UF_CRM_PAYMENT_STATUS"] != "103" {
		t.Fatalf("stored %v", d.Fields["UF_CRM_PAYMENT_STATUS"])
	}
	status, out := e.call("crm.deal.add", map[string]any{"fields": map[string]any{"TITLE": "bad", "UF_CRM_PAYMENT_STATUS": "4711"}})
	if status != http.StatusBadRequest || !strings.Contains(fmt.Sprint(out["error_description"]), "4711 is not one of its list items") {
		t.Fatalf("an unknown item: %d %v", status, out)
	}
}

// The OAuth server can refuse a refresh with PAYMENT_REQUIRED.
func TestOAuthPaymentRequired(t *testing.T) {
	e := newEnv(t, Options{})
	_, refresh := e.p.IssueTokens()
	e.p.FailOAuth(http.StatusPaymentRequired, "PAYMENT_REQUIRED", "Payment required")
	q := "?grant_type=refresh_token&client_id=" + DefaultClientID + "&client_secret=" + DefaultClientSecret + "&refresh_token=" + refresh
	resp, err := http.Get(e.srv.URL + "/oauth/token/" + q)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusPaymentRequired {
		t.Fatalf("refresh while payment is due: %d", resp.StatusCode)
	}
	e.p.FailOAuth(0, "", "")
	resp, err = http.Get(e.srv.URL + "/oauth/token/" + q)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("refresh after the fault: %d", resp.StatusCode)
	}
}
