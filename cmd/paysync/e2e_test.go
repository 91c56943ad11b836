package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/paysync/paysync/internal/standardwebhooks"
	"github.com/paysync/paysync/internal/testutil"
	bitrix24sandbox "github.com/paysync/paysync/sandbox/bitrix24"
	"github.com/paysync/paysync/storage/testdb"
)

// e2e is one in-process serve wired to a sandbox Bitrix24 portal.
type e2e struct {
	t      testing.TB
	base   string
	portal *bitrix24sandbox.Portal
	d      *daemon
	logs   *testutil.SyncBuffer // everything the daemon logged
}

func startE2E(t testing.TB, dialect string, env map[string]string) *e2e {
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
	errb := &testutil.SyncBuffer{}
	a, err := openApp(ctx, &cmdEnv{stdout: io.Discard, stderr: errb})
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
	e := &e2e{t: t, base: "http://" + ln.Addr().String(), portal: portal, d: d, logs: errb}
	t.Cleanup(func() {
		cancel()
		e.d.shutdown()
		e.d.app.Close()
	})
	return e
}

// restart stops the daemon and starts a new one on the same database and
// configuration, at a new address: what a restart of serve leaves in
// memory (nothing) and in the database (everything).
func (e *e2e) restart() {
	e.t.Helper()
	if err := e.d.shutdown(); err != nil {
		e.t.Fatal(err)
	}
	e.d.app.Close()
	a, err := openApp(context.Background(), &cmdEnv{stdout: io.Discard, stderr: e.logs})
	if err != nil {
		e.t.Fatal(err, e.logs.String())
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		e.t.Fatal(err)
	}
	d, err := startDaemon(context.Background(), a, ln)
	if err != nil {
		e.t.Fatal(err)
	}
	e.d, e.base = d, "http://"+ln.Addr().String()
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

const e2eSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

// webhook posts a body to /webhooks/generic signed the Standard Webhooks way.
func (e *e2e) webhook(body []byte) int {
	e.t.Helper()
	var ev struct {
		EventID string `json:"event_id"`
	}
	json.Unmarshal(body, &ev)
	ts := time.Now().Unix()
	sig, err := standardwebhooks.Sign(e2eSecret, ev.EventID, ts, body)
	if err != nil {
		e.t.Fatal(err)
	}
	req, _ := http.NewRequest("POST", e.base+"/webhooks/generic", bytes.NewReader(body))
	req.Header.Set("webhook-id", ev.EventID)
	req.Header.Set("webhook-timestamp", fmt.Sprint(ts))
	req.Header.Set("webhook-signature", sig)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// eventually polls cond until it holds or a generous deadline passes.
func (e *e2e) eventually(what string, cond func() bool) {
	e.t.Helper()
	testutil.Eventually(e.t, what, cond)
}

func TestOrderBecomesBitrixDeal(t *testing.T) {
	for _, dialect := range testdb.Dialects {
		t.Run(dialect, func(t *testing.T) {
			if dialect == "postgres" {
				testdb.PostgresURL(t)
			}
			e := startE2E(t, dialect, map[string]string{"PAYSYNC_GENERIC_WEBHOOK_SECRET": e2eSecret})
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
			// A signed paid webhook, delivered twice, moves the order and the deal once.
			body := []byte(`{"event_id":"evt_1","order_id":"IG-42","status":"paid","amount_minor":1500000,"currency":"AMD","provider_ref":"pay_1","occurred_at":"` + time.Now().UTC().Format(time.RFC3339) + `"}`)
			for i := 0; i < 2; i++ {
				if code := e.webhook(body); code/100 != 2 {
					t.Fatalf("webhook answered %d", code)
				}
			}
			_, view := e.api("GET", "/v1/orders/IG-42", nil)
			if o := view["order"].(map[string]any); o["status"] != "paid" || o["version"] != float64(2) {
				t.Fatalf("order after paid webhook: %v", o)
			}
			e.eventually("the deal moved to the paid stage", func() bool {
				d := e.portal.DealsByOrigin("paysync", "IG-42")
				return len(d) == 1 && d[0].StageID == "EXECUTING"
			})
			// A forged webhook is refused and changes nothing.
			forged := []byte(`{"event_id":"evt_2","order_id":"IG-42","status":"refunded","amount_minor":1500000,"currency":"AMD"}`)
			req, _ := http.NewRequest("POST", e.base+"/webhooks/generic", bytes.NewReader(forged))
			req.Header.Set("webhook-id", "evt_2")
			req.Header.Set("webhook-timestamp", fmt.Sprint(time.Now().Unix()))
			req.Header.Set("webhook-signature", "v1,AAAA")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != 401 {
				t.Fatalf("forged webhook: %d", resp.StatusCode)
			}
		})
	}
}

// TestRefundsMoveTheDeal is issue 10, defect 3, end to end: a partial refund
// makes the order partially_refunded, which the shipped Bitrix24 mapping
// keeps in the paid stage with its own payment status and a timeline comment;
// the rest makes it refunded, which loses the deal; a refund above what is
// left puts it in manual_review.
func TestRefundsMoveTheDeal(t *testing.T) {
	for _, dialect := range testdb.Dialects {
		t.Run(dialect, func(t *testing.T) {
			if dialect == "postgres" {
				testdb.PostgresURL(t)
			}
			e := startE2E(t, dialect, map[string]string{"PAYSYNC_GENERIC_WEBHOOK_SECRET": e2eSecret})
			for _, id := range []string{"IG-77", "IG-78"} {
				if code, out := e.api("POST", "/v1/orders", map[string]any{
					"order_id": id, "amount_minor": 990000, "currency": "AMD",
					"customer": map[string]any{"handle": "lilit_store", "name": "Lilit"},
					"items":    []map[string]any{{"name": "Coat", "quantity": 1, "price_minor": 990000}},
				}); code != 201 {
					t.Fatalf("create %s: %d %v", id, code, out)
				}
			}
			send := func(body string) {
				t.Helper()
				if code := e.webhook([]byte(body)); code != 200 {
					t.Fatalf("webhook %s answered %d", body, code)
				}
			}
			deal := func(id string, want func(d bitrix24sandbox.Deal) bool) bitrix24sandbox.Deal {
				t.Helper()
				deadline := time.Now().Add(30 * time.Second)
				for {
					ds := e.portal.DealsByOrigin("paysync", id)
					if len(ds) == 1 && want(ds[0]) {
						return ds[0]
					}
					if time.Now().After(deadline) {
						_, view := e.api("GET", "/v1/orders/"+id, nil)
						t.Fatalf("the deal of %s is %+v\norder: %v", id, ds, view)
					}
					time.Sleep(20 * time.Millisecond)
				}
			}
			status := func(id string) string {
				_, view := e.api("GET", "/v1/orders/"+id, nil)
				return view["order"].(map[string]any)["status"].(string)
			}
			inStage := func(stage, paymentStatus string) func(d bitrix24sandbox.Deal) bool {
				return func(d bitrix24sandbox.Deal) bool {
					return d.StageID == stage && d.Fields["UF_CRM_PAYMENT_STATUS"] == paymentStatus
				}
			}

			send(`{"event_id":"p77","order_id":"IG-77","status":"paid","amount_minor":990000,"currency":"AMD"}`)
			deal("IG-77", inStage("EXECUTING", "103"))
			send(`{"event_id":"r77a","order_id":"IG-77","status":"refunded","amount_minor":330000,"currency":"AMD"}`)
			if got := status("IG-77"); got != "partially_refunded" {
				t.Fatalf("after 3,300 of 9,900 AMD refunded the order is %s", got)
			}
			d := deal("IG-77", inStage("EXECUTING", "113"))
			comments := strings.Join(e.portal.Comments(d.ID), "\n")
			if !strings.Contains(comments, "Partially refunded: refund of 3300.00 AMD; refunded so far: 3300.00 AMD of 9900.00 AMD") {
				t.Fatalf("deal comments lack the partial refund:\n%s", comments)
			}
			send(`{"event_id":"r77b","order_id":"IG-77","status":"refunded","amount_minor":660000,"currency":"AMD"}`)
			if got := status("IG-77"); got != "refunded" {
				t.Fatalf("after the rest was refunded the order is %s", got)
			}
			deal("IG-77", inStage("LOSE", "111"))

			// After a partial refund, a refund above what is left needs a
			// person; it is recorded, so that the total does not depend on
			// the order refunds arrive in.
			send(`{"event_id":"p78","order_id":"IG-78","status":"paid","amount_minor":990000,"currency":"AMD"}`)
			send(`{"event_id":"r78a","order_id":"IG-78","status":"refunded","amount_minor":990000,"refunded_minor":330000,"currency":"AMD"}`)
			deal("IG-78", inStage("EXECUTING", "113"))
			send(`{"event_id":"r78b","order_id":"IG-78","status":"refunded","amount_minor":9900000,"currency":"AMD"}`)
			_, view := e.api("GET", "/v1/orders/IG-78", nil)
			o := view["order"].(map[string]any)
			if o["status"] != "manual_review" || o["refunded_minor"] != float64(330000+9900000) ||
				o["reason"] != "refund of 99000.00 AMD would bring the refunds to 102300.00 AMD, more than the 9900.00 AMD paid" {
				t.Fatalf("over-refund: %v", o)
			}
			deal("IG-78", inStage("EXECUTING", "109")) // manual_review keeps the stage
		})
	}
}

// TestResyncAfterThePortalWasRebuilt is issue 9's story through the real
// daemon: the portal is rebuilt (ids count from the start again), SHOP-2 gets
// deal 1, and `paysync outbox resync SHOP-1`, whose link still says deal 1,
// must leave SHOP-2's deal alone and give SHOP-1 a deal of its own.
func TestResyncAfterThePortalWasRebuilt(t *testing.T) {
	testdb.Each(t, func(t *testing.T, dialect string) {
		e := startE2E(t, dialect, nil)
		order := func(id, handle, phone string, amount int64) {
			t.Helper()
			code, out := e.api("POST", "/v1/orders", map[string]any{"order_id": id, "amount_minor": amount, "currency": "AMD",
				"customer": map[string]any{"handle": handle, "name": handle, "phone": phone},
				"items":    []map[string]any{{"name": "Item of " + id, "quantity": 1, "price_minor": amount}}})
			if code != 201 {
				t.Fatalf("create %s: %d %v", id, code, out)
			}
			e.eventually(id+" delivered", func() bool {
				_, view := e.api("GET", "/v1/orders/"+id, nil)
				ds, _ := view["deliveries"].([]any)
				return len(ds) == 1 && ds[0].(map[string]any)["state"] == "delivered"
			})
		}
		order("SHOP-1", "first.buyer", "+37491000011", 1000000)
		if d := e.portal.DealsByOrigin("paysync", "SHOP-1"); len(d) != 1 || d[0].ID != 1 {
			t.Fatalf("SHOP-1's deal: %+v", d)
		}
		e.portal.Reset() // the shop moved to a new portal: ids count from 1 again
		order("SHOP-2", "second.buyer", "+37491000022", 2500000)
		before := e.portal.DealsByOrigin("paysync", "SHOP-2")
		if len(before) != 1 || before[0].ID != 1 {
			t.Fatalf("SHOP-2 should now have deal 1: %+v", before)
		}
		if code, out, errs := cli(t, "outbox", "resync", "SHOP-1"); code != 0 {
			t.Fatalf("outbox resync: %d %s %s", code, out, errs)
		}
		e.eventually("SHOP-1 has a deal of its own again", func() bool {
			return len(e.portal.DealsByOrigin("paysync", "SHOP-1")) == 1
		})
		e.eventually("the resync delivered", func() bool {
			_, view := e.api("GET", "/v1/orders/SHOP-1", nil)
			ds, _ := view["deliveries"].([]any)
			return len(ds) == 1 && ds[0].(map[string]any)["state"] == "delivered"
		})
		after := e.portal.DealsByOrigin("paysync", "SHOP-2")
		if len(after) != 1 || after[0].Title != before[0].Title || after[0].Opportunity != before[0].Opportunity ||
			after[0].StageID != before[0].StageID || fmt.Sprint(after[0].ContactIDs) != fmt.Sprint(before[0].ContactIDs) {
			t.Fatalf("SHOP-2's deal was touched:\nbefore %+v\nafter  %+v", before, after)
		}
		mine := e.portal.DealsByOrigin("paysync", "SHOP-1")[0]
		if mine.ID == 1 || mine.Opportunity != "10000.00" || slices.Equal(mine.ContactIDs, after[0].ContactIDs) {
			t.Fatalf("SHOP-1's new deal: %+v (SHOP-2's contacts %v)", mine, after[0].ContactIDs)
		}
		if n := len(e.portal.Deals()); n != 2 {
			t.Fatalf("%d deals on the rebuilt portal, want 2", n)
		}
		_, view := e.api("GET", "/v1/orders/SHOP-1", nil)
		found := false
		for _, j := range view["journal"].([]any) {
			if j := j.(map[string]any); j["verdict"] == "relinked" && strings.Contains(fmt.Sprint(j["reason"]), "SHOP-2") {
				found = true
			}
		}
		if !found {
			t.Fatalf("SHOP-1's journal does not say it was relinked: %v", view["journal"])
		}
	})
}
