package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/paysync/paysync/core"
	"github.com/paysync/paysync/httpapi"
	"github.com/paysync/paysync/storage/testdb"
)

const token = "test-admin-token"

func newServer(t *testing.T, dialect string) (*httptest.Server, *core.Ledger) {
	db := testdb.Open(t, dialect)
	l := &core.Ledger{Store: db, Connectors: func() []string { return []string{"bitrix24"} }}
	s := &httpapi.Server{Store: db, Orders: l, AdminToken: token, Connectors: l.Connectors,
		Ready: func(ctx context.Context) error { return db.Ping(ctx) }}
	ts := httptest.NewServer(s.Handler())
	t.Cleanup(ts.Close)
	return ts, l
}

func do(t *testing.T, ts *httptest.Server, method, path, body string, auth bool) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(method, ts.URL+path, strings.NewReader(body))
	if auth {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var out map[string]any
	json.Unmarshal(b, &out)
	return resp.StatusCode, out
}

const orderBody = `{"order_id":"IG-1001","amount_minor":1500000,"currency":"AMD",
 "customer":{"handle":"anna.shop","name":"<script>alert(1)</script>'; DROP TABLE orders;--","phone":"+37491000001"},
 "items":[{"sku":"D1","name":"Dress","quantity":1,"price_minor":1500000}],"delivery":{"city":"Yerevan"},"expires_in":"24h"}`

func TestOrdersAPI(t *testing.T) {
	testdb.Each(t, func(t *testing.T, dialect string) {
		ts, _ := newServer(t, dialect)
		code, out := do(t, ts, "POST", "/v1/orders", orderBody, true)
		if code != 201 || out["status"] != "pending" || out["order_id"] != "IG-1001" || out["expires_at"] == nil {
			t.Fatalf("create: %d %v", code, out)
		}
		if code, again := do(t, ts, "POST", "/v1/orders", orderBody, true); code != 200 || again["version"] != out["version"] {
			t.Fatalf("repeat: %d %v", code, again)
		}
		changed := strings.Replace(orderBody, "1500000,\"currency\"", "1400000,\"currency\"", 1)
		if code, body := do(t, ts, "POST", "/v1/orders", changed, true); code != 409 {
			t.Fatalf("conflict: %d %v", code, body)
		}
		code, view := do(t, ts, "GET", "/v1/orders/IG-1001", "", true)
		if code != 200 {
			t.Fatalf("get: %d %v", code, view)
		}
		order := view["order"].(map[string]any)
		cust := order["customer"].(map[string]any)
		if cust["name"] != "<script>alert(1)</script>'; DROP TABLE orders;--" {
			t.Fatalf("customer name not stored verbatim: %v", cust["name"])
		}
		if j := view["journal"].([]any); len(j) != 1 || j[0].(map[string]any)["verdict"] != "created" {
			t.Fatalf("journal: %v", j)
		}
		d := view["deliveries"].([]any)
		if len(d) != 1 || d[0].(map[string]any)["connector"] != "bitrix24" || d[0].(map[string]any)["state"] != "pending" {
			t.Fatalf("deliveries: %v", d)
		}
		if code, list := do(t, ts, "GET", "/v1/orders?q=anna", "", true); code != 200 || len(list["orders"].([]any)) != 1 {
			t.Fatalf("list: %d %v", code, list)
		}
		if code, list := do(t, ts, "GET", "/v1/orders?status=paid", "", true); code != 200 || len(list["orders"].([]any)) != 0 {
			t.Fatalf("list paid: %d %v", code, list)
		}
		if code, body := do(t, ts, "GET", "/v1/orders?status=bogus", "", true); code != 400 ||
			!strings.Contains(fmt.Sprint(body["error"]), "partially_refunded, refunded") {
			t.Fatalf("bad status filter: %d %v", code, body)
		}
		if code, list := do(t, ts, "GET", "/v1/orders?status=partially_refunded", "", true); code != 200 || len(list["orders"].([]any)) != 0 {
			t.Fatalf("list partially refunded: %d %v", code, list)
		}
		if code, _ := do(t, ts, "GET", "/v1/orders/NOPE", "", true); code != 404 {
			t.Fatalf("missing: %d", code)
		}
		if code, body := do(t, ts, "POST", "/v1/orders/IG-1001/review", `{"decision":"paid","note":"x"}`, true); code != 409 {
			t.Fatalf("review of a pending order: %d %v", code, body)
		}
		if code, stats := do(t, ts, "GET", "/v1/outbox/stats", "", true); code != 200 || len(stats["connectors"].([]any)) != 1 {
			t.Fatalf("stats: %d %v", code, stats)
		}
		if code, _ := do(t, ts, "POST", "/v1/outbox/999/retry", "", true); code != 404 {
			t.Fatalf("retry missing: %d", code)
		}
	})
}

func TestBadInput(t *testing.T) {
	ts, _ := newServer(t, "sqlite")
	cases := map[string]struct {
		body string
		want int
	}{
		"negative amount":  {`{"order_id":"A","amount_minor":-1,"currency":"AMD"}`, 400},
		"overflow":         {`{"order_id":"A","amount_minor":99999999999999999999,"currency":"AMD"}`, 400},
		"unknown currency": {`{"order_id":"A","amount_minor":100,"currency":"XYZ"}`, 400},
		"unknown field":    {`{"order_id":"A","amount_minor":100,"currency":"AMD","colour":"red"}`, 400},
		"malformed":        {`{"order_id":`, 400},
		"bad expiry":       {`{"order_id":"A","amount_minor":100,"currency":"AMD","expires_in":"-5m"}`, 400},
		"too large":        {`{"order_id":"A","pad":"` + strings.Repeat("x", httpapi.MaxBodyBytes) + `"}`, 413},
	}
	for name, c := range cases {
		code, out := do(t, ts, "POST", "/v1/orders", c.body, true)
		if code != c.want {
			t.Errorf("%s: %d %v, want %d", name, code, out, c.want)
			continue
		}
		e, _ := out["error"].(map[string]any)
		if e == nil || e["message"] == "" {
			t.Errorf("%s: no error message: %v", name, out)
		}
	}
}

func TestAdminAuth(t *testing.T) {
	ts, _ := newServer(t, "sqlite")
	if code, _ := do(t, ts, "GET", "/v1/orders", "", false); code != 401 {
		t.Fatalf("no token: %d", code)
	}
	req, _ := http.NewRequest("GET", ts.URL+"/v1/orders", nil)
	req.Header.Set("Authorization", "Bearer wrong")
	resp, _ := http.DefaultClient.Do(req)
	resp.Body.Close()
	if resp.StatusCode != 401 {
		t.Fatalf("wrong token: %d", resp.StatusCode)
	}
	if code, _ := do(t, ts, "GET", "/healthz", "", false); code != 200 {
		t.Fatalf("healthz needs no token: %d", code)
	}
	if code, _ := do(t, ts, "GET", "/readyz", "", false); code != 200 {
		t.Fatalf("readyz: %d", code)
	}
	// With no token configured the admin API is closed, not open.
	closed := httptest.NewServer((&httpapi.Server{Store: nil}).Handler())
	defer closed.Close()
	resp, err := http.Get(closed.URL + "/v1/orders")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 401 || !bytes.Contains(b, []byte("PAYSYNC_ADMIN_TOKEN")) {
		t.Fatalf("closed admin API: %d %s", resp.StatusCode, b)
	}
}

func TestNotReady(t *testing.T) {
	s := &httpapi.Server{Ready: func(context.Context) error { return errors.New("db down: password=hunter2") }}
	ts := httptest.NewServer(s.Handler())
	defer ts.Close()
	resp, _ := http.Get(ts.URL + "/readyz")
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 503 || bytes.Contains(b, []byte("hunter2")) {
		t.Fatalf("readyz: %d %s", resp.StatusCode, b)
	}
}

func TestSummarizeDeliveries(t *testing.T) {
	recs := []core.OutboxRecord{
		{Connector: "bitrix24", State: core.DeliveryDelivered, Attempts: 1, ExternalID: "10"},
		{Connector: "bitrix24", State: core.DeliveryDead, Attempts: 1, LastError: "CURRENCY"},
		{Connector: "sheets", State: core.DeliveryPending, Attempts: 2, LastError: "429"},
	}
	got := httpapi.SummarizeDeliveries(recs)
	if len(got) != 2 || got[0].State != core.DeliveryDead || got[0].LastError != "CURRENCY" || got[0].ExternalID != "10" || got[0].Attempts != 2 ||
		got[0].Failed != 1 || got[1].Failed != 2 || got[1].State != core.DeliveryPending || got[1].LastError != "429" {
		t.Fatalf("%+v", got)
	}
}

func TestRefusalsAPI(t *testing.T) {
	testdb.Each(t, func(t *testing.T, dialect string) {
		db := testdb.Open(t, dialect)
		s := &httpapi.Server{Store: db, AdminToken: token}
		ts := httptest.NewServer(s.Handler())
		defer ts.Close()
		at := time.Now()
		for _, body := range []string{`{"forged":true}`, "\xff\x00"} {
			r := core.NewRefusal("generic", "203.0.113.9", core.VerdictRejected, "webhook signature does not match", core.SampleOf([]byte(body)), at)
			if err := db.RecordRefusal(context.Background(), r); err != nil {
				t.Fatal(err)
			}
		}
		code, out := do(t, ts, "GET", "/v1/refusals", "", true)
		list, _ := out["refusals"].([]any)
		if code != 200 || len(list) != 1 {
			t.Fatalf("refusals: %d %v", code, out)
		}
		r := list[0].(map[string]any)
		if r["requests"] != 2.0 || r["source"] != "203.0.113.9" || r["sample"] != `{"forged":true}` || r["reason"] != "webhook signature does not match" {
			t.Fatalf("refusal record %v", r)
		}
		if code, _ := do(t, ts, "GET", "/v1/refusals", "", false); code != 401 {
			t.Fatalf("refusals without the admin token: %d", code)
		}
	})
}

// TestResyncChecksTheConnector: re-sync to an unknown or disabled connector
// is refused (400) listing the enabled ones, and queues nothing.
func TestResyncChecksTheConnector(t *testing.T) {
	testdb.Each(t, func(t *testing.T, dialect string) {
		ts, l := newServer(t, dialect)
		if _, _, err := l.CreateOrder(context.Background(), core.Order{ID: "RS-1", AmountMinor: 100, Currency: "AMD"}); err != nil {
			t.Fatal(err)
		}
		pending := func() int {
			recs, err := l.Store.OrderDeliveries(context.Background(), "RS-1")
			if err != nil {
				t.Fatal(err)
			}
			return len(recs)
		}
		before := pending()
		for _, name := range []string{"bogus", "amocrm", "Bitrix24"} {
			code, out := do(t, ts, "POST", "/v1/orders/RS-1/resync?connector="+name, "", true)
			msg, _ := out["error"].(map[string]any)["message"].(string)
			if code != 400 || !strings.Contains(msg, "enabled connectors: bitrix24") {
				t.Fatalf("resync to %s: %d %v", name, code, out)
			}
		}
		if got := pending(); got != before {
			t.Fatalf("a refused resync queued %d outbox records", got-before)
		}
		if code, out := do(t, ts, "POST", "/v1/orders/RS-1/resync?connector=bitrix24", "", true); code != 202 || pending() != before+1 {
			t.Fatalf("resync to bitrix24: %d %v", code, out)
		}
		if code, out := do(t, ts, "POST", "/v1/orders/RS-1/resync", "", true); code != 202 || pending() != before+2 {
			t.Fatalf("resync to all: %d %v", code, out)
		}
		// With no connector enabled there is nothing to re-sync.
		none := &httpapi.Server{Store: l.Store, Orders: l, AdminToken: token, Connectors: func() []string { return nil }}
		ts2 := httptest.NewServer(none.Handler())
		defer ts2.Close()
		if code, out := do(t, ts2, "POST", "/v1/orders/RS-1/resync", "", true); code != 400 || !strings.Contains(out["error"].(map[string]any)["message"].(string), "no CRM connector is enabled") {
			t.Fatalf("resync with no connector: %d %v", code, out)
		}
	})
}

// TestAdminInputText: NUL characters and invalid UTF-8 in query parameters,
// path ids and JSON bodies get 400 naming where, on both databases (they
// were 500 on PostgreSQL, and q=%00 listed every order on SQLite).
func TestAdminInputText(t *testing.T) {
	testdb.Each(t, func(t *testing.T, dialect string) {
		ts, _ := newServer(t, dialect)
		if code, out := do(t, ts, "POST", "/v1/orders", orderBody, true); code != 201 {
			t.Fatalf("create: %d %v", code, out)
		}
		cases := []struct{ method, path, body, want string }{
			{"GET", "/v1/orders?q=%00", "", "query parameter q contains a NUL character"},
			{"GET", "/v1/orders?q=anna%00", "", "query parameter q contains a NUL character"},
			{"GET", "/v1/orders?q=%FF", "", "query parameter q is not valid UTF-8"},
			{"GET", "/v1/orders?status=paid%00", "", "query parameter status contains a NUL"},
			{"GET", "/v1/orders?before=%C3", "", "query parameter before is not valid UTF-8"},
			{"GET", "/v1/orders?%00=1", "", "a query parameter name contains a NUL"},
			{"GET", "/v1/orders/IG-1001%00", "", "the URL path contains a NUL character"},
			{"GET", "/v1/orders/%FF%FE", "", "the URL path is not valid UTF-8"},
			{"POST", "/v1/orders/%00/review", `{"decision":"paid","note":"x"}`, "the URL path contains a NUL"},
			{"POST", "/v1/orders/IG-1001/resync?connector=bitrix24%00", "", "query parameter connector contains a NUL"},
			{"GET", "/v1/outbox?state=%00", "", "query parameter state contains a NUL"},
			{"POST", "/v1/orders", `{"order_id":"A\u0000","amount_minor":100,"currency":"AMD"}`, "order_id contains a NUL character"},
			{"POST", "/v1/orders", `{"order_id":"A-2","amount_minor":100,"currency":"AMD","customer":{"name":"Ann\u0000a"}}`, "customer.name contains a NUL"},
			{"POST", "/v1/orders", `{"order_id":"A-3","amount_minor":100,"currency":"AMD","items":[{"name":"x","quantity":1,"price_minor":100,"sku":"\u0000"}]}`, "items[0].sku contains a NUL"},
			{"POST", "/v1/orders", `{"order_id":"A-4","amount_minor":100,"currency":"AMD","delivery":{"address":{"street":"\u0000"}}}`, "delivery.address.street contains a NUL"},
			{"POST", "/v1/orders", "{\"order_id\":\"A-5\xff\",\"amount_minor\":100,\"currency\":\"AMD\"}", "the body is not valid UTF-8"},
			{"POST", "/v1/orders/IG-1001/review", `{"decision":"paid","note":"ok\u0000"}`, "note contains a NUL"},
		}
		for _, c := range cases {
			code, out := do(t, ts, c.method, c.path, c.body, true)
			e, _ := out["error"].(map[string]any)
			msg, _ := e["message"].(string)
			if code != 400 || !strings.Contains(msg, c.want) {
				t.Errorf("%s %s %s: %d %v, want 400 saying %q", c.method, c.path, c.body, code, out, c.want)
			}
		}
		// Nothing was created, and an escaped backslash is not a NUL.
		code, list := do(t, ts, "GET", "/v1/orders", "", true)
		if code != 200 || len(list["orders"].([]any)) != 1 {
			t.Fatalf("orders after refused input: %d %v", code, list)
		}
		if code, out := do(t, ts, "POST", "/v1/orders", `{"order_id":"A-6","amount_minor":100,"currency":"AMD","customer":{"name":"back\\u0000slash"}}`, true); code != 201 {
			t.Fatalf("an escaped backslash refused: %d %v", code, out)
		}
	})
}

// TestDefaultExpiry: an order created without expires_in gets the default
// expiry, says so in the answer (expires_at), and expires when it passes;
// expires_in still wins.
func TestDefaultExpiry(t *testing.T) {
	testdb.Each(t, func(t *testing.T, dialect string) {
		db := testdb.Open(t, dialect)
		now := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
		clock := now
		l := &core.Ledger{Store: db, DefaultExpiry: 72 * time.Hour, Now: func() time.Time { return clock }}
		ts := httptest.NewServer((&httpapi.Server{Store: db, Orders: l, AdminToken: token, Now: func() time.Time { return now }}).Handler())
		defer ts.Close()
		code, out := do(t, ts, "POST", "/v1/orders", `{"order_id":"EXP-1","amount_minor":100,"currency":"AMD"}`, true)
		if code != 201 || out["expires_at"] != now.Add(72*time.Hour).Format(time.RFC3339) {
			t.Fatalf("create without expires_in: %d expires_at=%v, want %s", code, out["expires_at"], now.Add(72*time.Hour).Format(time.RFC3339))
		}
		if code, again := do(t, ts, "POST", "/v1/orders", `{"order_id":"EXP-1","amount_minor":100,"currency":"AMD"}`, true); code != 200 || again["expires_at"] != out["expires_at"] {
			t.Fatalf("repeat: %d %v", code, again)
		}
		if code, out := do(t, ts, "POST", "/v1/orders", `{"order_id":"EXP-2","amount_minor":100,"currency":"AMD","expires_in":"30m"}`, true); code != 201 ||
			out["expires_at"] != now.Add(30*time.Minute).Format(time.RFC3339) {
			t.Fatalf("expires_in wins: %d %v", code, out["expires_at"])
		}
		// The expire job finds it once the default expiry has passed.
		clock = now.Add(73 * time.Hour)
		due, err := db.ExpiredOrders(context.Background(), []core.Status{core.StatusPending}, clock, 10)
		if err != nil || len(due) != 2 {
			t.Fatalf("expired orders at +73h: %d %v", len(due), err)
		}
		o, err := l.Expire(context.Background(), "EXP-1")
		if err != nil || o.Status != core.StatusExpired {
			t.Fatalf("expire: %s %v", o.Status, err)
		}
	})
}

// TestBoundedInput is issue 22, items 6 and 7: a 20 KB order nested 9,990
// levels deep in "delivery" was stored, and every GET of it was 200 MB; a
// body with data after its JSON object was taken. Both are refused with a
// 400 that names the limit, and nothing is stored.
func TestBoundedInput(t *testing.T) {
	testdb.Each(t, func(t *testing.T, dialect string) {
		ts, _ := newServer(t, dialect)
		deep := strings.Replace(orderBody, `"delivery":{"city":"Yerevan"}`,
			`"delivery":`+strings.Repeat(`{"a":`, 9990)+`1`+strings.Repeat(`}`, 9990), 1)
		if len(deep) > httpapi.MaxBodyBytes {
			t.Fatalf("the deep body is %d bytes", len(deep))
		}
		code, out := do(t, ts, "POST", "/v1/orders", deep, true)
		if msg := fmt.Sprint(out["error"]); code != 400 || !strings.Contains(msg, "9991 levels deep") || !strings.Contains(msg, fmt.Sprintf("at most %d", httpapi.MaxJSONDepth)) {
			t.Fatalf("deep body: %d %.300v", code, out)
		}
		// As deep as allowed is fine ("delivery" is the second level).
		ok := strings.Replace(orderBody, `"delivery":{"city":"Yerevan"}`,
			`"delivery":`+strings.Repeat(`{"a":`, httpapi.MaxJSONDepth-1)+`"[{\"x\"}]"`+strings.Repeat(`}`, httpapi.MaxJSONDepth-1), 1)
		if code, out := do(t, ts, "POST", "/v1/orders", ok, true); code != 201 {
			t.Fatalf("a body %d levels deep: %d %v", httpapi.MaxJSONDepth, code, out)
		}
		for _, trailing := range []string{` {"order_id":"IG-2"}`, `garbage`, `]`} {
			body := strings.Replace(orderBody, "IG-1001", "IG-1002", 1) + trailing
			code, out := do(t, ts, "POST", "/v1/orders", body, true)
			if msg := fmt.Sprint(out["error"]); code != 400 || !strings.Contains(msg, "exactly one JSON object") {
				t.Fatalf("trailing %q: %d %v", trailing, code, out)
			}
		}
		if code, _ := do(t, ts, "GET", "/v1/orders/IG-1002", "", true); code != 404 {
			t.Fatalf("a refused body was stored: %d", code)
		}
		// Trailing white space is no data.
		if code, out := do(t, ts, "POST", "/v1/orders", strings.Replace(orderBody, "IG-1001", "IG-1003", 1)+"\n\t \n", true); code != 201 {
			t.Fatalf("trailing newline: %d %v", code, out)
		}
	})
}

// TestItemTotalsBounded is issue 22, item 7: an item's quantity had no
// upper bound, so quantity × price overflowed (the console showed
// -90,071,992,547,409.92 ֏ and the Bitrix24 delivery was dead-lettered).
// Quantities, line totals and their sum are bounded so that no total
// overflows, and the 400 says which item and why.
func TestItemTotalsBounded(t *testing.T) {
	testdb.Each(t, func(t *testing.T, dialect string) {
		ts, _ := newServer(t, dialect)
		withItems := func(id, items string) string {
			return strings.Replace(strings.Replace(orderBody, "IG-1001", id, 1),
				`[{"sku":"D1","name":"Dress","quantity":1,"price_minor":1500000}]`, items, 1)
		}
		for name, c := range map[string]struct{ items, says string }{
			"overflowing quantity": {`[{"name":"Dress","quantity":1000000000000,"price_minor":9007199254740}]`, "items[0].quantity 1000000000000 must be between 1 and 1000000"},
			"line above the largest amount": {`[{"name":"Dress","quantity":1000,"price_minor":9007199254741}]`,
				"items[0]: quantity 1000 × price_minor 9007199254741 is more than 9007199254740992"},
			"lines adding up above it": {`[{"name":"a","quantity":1,"price_minor":4503599627370496},{"name":"b","quantity":1,"price_minor":4503599627370496},{"name":"c","quantity":1,"price_minor":1}]`,
				"the items add up to more than 9007199254740992"},
		} {
			code, out := do(t, ts, "POST", "/v1/orders", withItems("Q-"+strings.ReplaceAll(name, " ", "-"), c.items), true)
			if msg := fmt.Sprint(out["error"]); code != 400 || !strings.Contains(msg, c.says) {
				t.Errorf("%s: %d %v, want 400 saying %q", name, code, out, c.says)
			}
		}
		// At the bounds is fine.
		if code, out := do(t, ts, "POST", "/v1/orders", withItems("Q-ok", `[{"name":"Pins","quantity":1000000,"price_minor":9007199254}]`), true); code != 201 {
			t.Fatalf("an order at the bounds: %d %v", code, out)
		}
	})
}
