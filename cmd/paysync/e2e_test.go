package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"testing"
	"time"

	"github.com/paysync/paysync/internal/testdb"
	bitrix24sandbox "github.com/paysync/paysync/sandbox/bitrix24"
)

// e2e is one in-process serve wired to a sandbox Bitrix24 portal.
type e2e struct {
	t      *testing.T
	base   string
	portal *bitrix24sandbox.Portal
	d      *daemon
}

func startE2E(t *testing.T, dialect string, env map[string]string) *e2e {
	portal := bitrix24sandbox.New(bitrix24sandbox.Options{})
	psrv := httptest.NewServer(portal)
	t.Cleanup(func() { psrv.Close(); portal.Close() })
	t.Setenv("PAYSYNC_DATA_DIR", t.TempDir())
	t.Setenv("PAYSYNC_MAPPING_DIR", "../../mapping")
	t.Setenv("PAYSYNC_ADMIN_TOKEN", "e2e-token")
	t.Setenv("PAYSYNC_BITRIX24_WEBHOOK_URL", portal.WebhookURL(psrv.URL))
	if dialect == "postgres" {
		t.Setenv("PAYSYNC_DATABASE_URL", testdb.NewPostgresDB(t))
	} else {
		os.Unsetenv("PAYSYNC_DATABASE_URL")
	}
	for k, v := range env {
		t.Setenv(k, v)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var errb bytes.Buffer
	a, err := openApp(ctx, &cmdEnv{stdout: io.Discard, stderr: &errb})
	if err != nil {
		t.Fatal(err, errb.String())
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	d, err := startDaemon(ctx, a, ln)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		d.shutdown()
		a.Close()
	})
	return &e2e{t: t, base: "http://" + ln.Addr().String(), portal: portal, d: d}
}

func (e *e2e) api(method, path string, body any) (int, map[string]any) {
	e.t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, e.base+path, rd)
	req.Header.Set("Authorization", "Bearer e2e-token")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}

// eventually polls cond until it holds or a generous deadline passes.
func (e *e2e) eventually(what string, cond func() bool) {
	e.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if cond() {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	e.t.Fatalf("timed out waiting for %s", what)
}

func TestOrderBecomesBitrixDeal(t *testing.T) {
	for _, dialect := range testdb.Dialects {
		t.Run(dialect, func(t *testing.T) {
			if dialect == "postgres" {
				testdb.PostgresURL(t)
			}
			e := startE2E(t, dialect, nil)
			code, out := e.api("POST", "/v1/orders", map[string]any{
				"order_id": "IG-42", "amount_minor": 1500000, "currency": "AMD",
				"customer": map[string]any{"handle": "anna.shop", "name": "Anna", "phone": "+37491000001"},
				"items":    []map[string]any{{"sku": "D1", "name": "Dress", "quantity": 1, "price_minor": 1500000}},
			})
			if code != 201 {
				t.Fatalf("create: %d %v", code, out)
			}
			e.eventually("the deal in Bitrix24", func() bool { return len(e.portal.DealsByOrigin("paysync", "IG-42")) == 1 })
			deal := e.portal.DealsByOrigin("paysync", "IG-42")[0]
			if deal.Opportunity != "15000.00" || deal.CurrencyID != "AMD" {
				t.Fatalf("deal %+v", deal)
			}
			e.eventually("the delivery recorded as delivered", func() bool {
				_, view := e.api("GET", "/v1/orders/IG-42", nil)
				ds, _ := view["deliveries"].([]any)
				return len(ds) == 1 && ds[0].(map[string]any)["state"] == "delivered" && ds[0].(map[string]any)["external_id"] != ""
			})
			// Creating the same order again changes nothing in the CRM.
			if code, _ := e.api("POST", "/v1/orders", map[string]any{
				"order_id": "IG-42", "amount_minor": 1500000, "currency": "AMD",
				"customer": map[string]any{"handle": "anna.shop", "name": "Anna", "phone": "+37491000001"},
				"items":    []map[string]any{{"sku": "D1", "name": "Dress", "quantity": 1, "price_minor": 1500000}},
			}); code != 200 {
				t.Fatalf("repeat create: %d", code)
			}
			if n := len(e.portal.Deals()); n != 1 {
				t.Fatalf("%d deals, want 1", n)
			}
		})
	}
}
