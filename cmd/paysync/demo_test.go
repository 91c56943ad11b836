package main

import (
	"context"
	"crypto/sha256"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/paysync/paysync/cmd/paysync/internal/demo"
	"github.com/paysync/paysync/core"
	"github.com/paysync/paysync/sandbox"
	"github.com/paysync/paysync/storage"
)

// demoStages is where the shipped mappings put an order of each status in
// each sandbox CRM, as the doubles describe it. failed and manual_review
// keep the stage in Bitrix24 and amoCRM (stage: null): their records stay
// at pending's, whether the CRM saw the order pending or not.
var demoStages = map[string]map[core.Status]string{
	"bitrix24": {core.StatusPending: "at PREPAYMENT_INVOICE", core.StatusPaid: "at EXECUTING", core.StatusFailed: "at PREPAYMENT_INVOICE",
		core.StatusExpired: "at LOSE", core.StatusManualReview: "at PREPAYMENT_INVOICE", core.StatusPartiallyRefunded: "at EXECUTING",
		core.StatusRefunded: "at LOSE"},
	"amocrm": {core.StatusPending: "at Awaiting payment", core.StatusPaid: "at Paid", core.StatusFailed: "at Awaiting payment",
		core.StatusExpired: "at Closed - lost", core.StatusManualReview: "at Awaiting payment", core.StatusPartiallyRefunded: "at Paid",
		core.StatusRefunded: "at Closed - lost"},
	"sheets": {core.StatusPending: ": Awaiting payment", core.StatusPaid: ": Paid", core.StatusFailed: ": Payment failed",
		core.StatusExpired: ": Expired", core.StatusManualReview: ": Needs review", core.StatusPartiallyRefunded: ": Partially refunded",
		core.StatusRefunded: ": Refunded"},
}

// TestDemoRunsOnce is issue 14's "done when": `paysync demo --once` twice in
// one folder, next to a shop with its own config.yaml, database and token.
// Both runs succeed on a fresh database of their own, every sandbox CRM
// holds each demo order once at its status's stage, the output is the story
// and the summary with no log line, and the shop is left alone.
func TestDemoRunsOnce(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	shopDir := filepath.Join(dir, "shop")
	t.Setenv("PAYSYNC_DATA_DIR", shopDir)
	t.Setenv("PAYSYNC_DATABASE_URL", "")
	t.Setenv("PAYSYNC_ADMIN_TOKEN", "")
	t.Setenv("PAYSYNC_MAPPING_DIR", "../../mapping")
	os.Unsetenv("PAYSYNC_ADMIN_TOKEN")
	os.WriteFile("config.yaml", []byte("http_addr: 127.0.0.1:1\nadmin_token: shop-config-token\n"), 0o600)
	os.WriteFile("order.json", []byte(`{"order_id":"SHOP-1","amount_minor":990000,"currency":"AMD","customer":{"handle":"regular"},"items":[{"name":"Coat","quantity":1,"price_minor":990000}]}`), 0o600)
	if code, out, errs := cli(t, "orders", "create", "--file", "order.json"); code != 0 {
		t.Fatalf("the shop's order: %d %s %s", code, out, errs)
	}
	shopBefore := treeSum(t, shopDir)
	// The demo must not follow the shop's database URL either.
	t.Setenv("PAYSYNC_DATABASE_URL", "postgres://shop:shop-db-password@127.0.0.1:1/shop")

	// The usual ports are busy: the demo takes others and says so.
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	t.Setenv("PAYSYNC_HTTP_ADDR", busy.Addr().String())

	var stages []map[string]string // per run: order id + CRM -> its record
	demoSettled = func(sb *sandbox.Sandbox) {
		got := map[string]string{}
		for _, o := range demo.Orders() {
			for crm, d := range sb.Describe(o.ID) {
				got[o.ID+" "+crm] = d
			}
		}
		stages = append(stages, got)
	}
	defer func() { demoSettled = nil }()

	for run, token := range []string{"", "shop-secret-token"} {
		if token != "" {
			t.Setenv("PAYSYNC_ADMIN_TOKEN", token)
		}
		code, out, errs := cli(t, "demo", "--once", "--sandbox-addr", busy.Addr().String())
		if code != 0 || errs != "" {
			t.Fatalf("run %d exited %d\n%s\nstderr: %s", run+1, code, out, errs)
		}
		if regexp.MustCompile(`level=|"level"|time=\d`).MatchString(out) {
			t.Errorf("run %d: log lines in the output:\n%s", run+1, out)
		}
		if n := strings.Count(out, busy.Addr().String()+" is busy: took 127.0.0.1:"); n != 2 {
			t.Errorf("run %d: the output says %d times that a busy address was replaced, want 2:\n%s", run+1, n, out)
		}
		for _, want := range []string{"/ui/", "data/demo/paysync.log", "IG-1010", "Needs review (paid 15000.00 AMD, order is 18000.00 AMD)", "Partly refunded (7,000 AMD back)",
			"The Direct threads, as the customers see them:", "@lilit.home: Բարև Ձեզ, սոյայի մոմերից երեք հատ կուզեի",
			"shop: Բարև Ձեզ։ Ձեր պատվերը՝ IG-1003, 13500.00 AMD։ Վճարել կարող եք այստեղ՝ http://",
			"shop: Շնորհակալություն։ Ստացանք IG-1003 պատվերի 13500.00 AMD վճարումը։",
			"shop: Спасибо! Мы получили оплату 28000.00 AMD за заказ IG-1004.",
			"shop: Thank you! We received your payment of 15000.00 AMD for order IG-1001."} {
			if !strings.Contains(out, want) {
				t.Errorf("run %d: the output lacks %q:\n%s", run+1, want, out)
			}
		}
		// Each Direct thread: the question, the link, the confirmation; nothing twice.
		if n := strings.Count(out, "shop: "); n != 6 {
			t.Errorf("run %d: %d shop messages in the threads, want the link and the confirmation for each of 3 orders", run+1, n)
		}
		for _, id := range []string{"IG-1001", "IG-1003", "IG-1004"} {
			if !strings.Contains(out, id+", @") {
				t.Errorf("run %d: no Direct thread of %s", run+1, id)
			}
		}
		if token == "" {
			if !regexp.MustCompile(`log in with the admin token demo-[0-9a-f]{12}\)`).MatchString(out) {
				t.Errorf("run %d: the made-up admin token is not printed:\n%s", run+1, out)
			}
		} else if strings.Contains(out, token) || !strings.Contains(out, "log in with your PAYSYNC_ADMIN_TOKEN") {
			t.Errorf("run %d: the shop's own token must not be printed, only named:\n%s", run+1, out)
		}
		for _, secret := range []string{"shop-config-token", "shop-db-password", "sandbox-vpos-token"} {
			if strings.Contains(out, secret) {
				t.Errorf("run %d: %q reached the output", run+1, secret)
			}
		}
		// Its own fresh database: the twenty orders of this run, no more.
		db, err := storage.Open(context.Background(), storage.Options{DataDir: filepath.Join("data", "demo")})
		if err != nil {
			t.Fatal(err)
		}
		orders, err := db.ListOrders(context.Background(), core.OrderQuery{Limit: 1000})
		db.Close()
		if err != nil || len(orders) != len(demo.Orders()) {
			t.Fatalf("run %d: the demo database holds %d orders (%v), want %d", run+1, len(orders), err, len(demo.Orders()))
		}
		for _, o := range orders {
			if o.ID == "SHOP-1" {
				t.Fatalf("run %d: the shop's order is in the demo database", run+1)
			}
		}
	}
	if os.Getenv("PAYSYNC_BITRIX24_WEBHOOK_URL") != "" {
		t.Error("the demo changed this process's environment")
	}
	if len(stages) != 2 {
		t.Fatalf("the demo settled %d times, want 2", len(stages))
	}
	byID := map[string]demo.Order{}
	for _, o := range demo.Orders() {
		byID[o.ID] = o
	}
	for run, got := range stages {
		for _, o := range demo.Orders() {
			for crm, want := range demoStages {
				d := got[o.ID+" "+crm]
				if !strings.HasSuffix(d, want[o.Want()]) || strings.Contains(d, "duplicate") {
					t.Errorf("run %d: %s (%s) in %s is %q, want %q", run+1, o.ID, o.Want(), crm, d, want[o.Want()])
				}
			}
			// In Direct: the link and the confirmation for the orders that
			// began there, nothing for the others (no conversation).
			want := ""
			if o.Says != "" {
				want = "link, paid"
			}
			if d := got[o.ID+" instagram"]; d != want {
				t.Errorf("run %d: %s in Direct is %q, want %q", run+1, o.ID, d, want)
			}
		}
	}
	if after := treeSum(t, shopDir); after != shopBefore {
		t.Errorf("the shop's data folder changed:\nbefore %s\nafter  %s", shopBefore, after)
	}
}

// treeSum is the names and contents of every file under dir.
func treeSum(t *testing.T, dir string) string {
	t.Helper()
	h := sha256.New()
	n := 0
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		fmt.Fprintf(h, "%s %d\n", p, len(b))
		h.Write(b)
		n++
		return err
	})
	if err != nil || n == 0 {
		t.Fatalf("reading %s: %v (%d files)", dir, err, n)
	}
	return fmt.Sprintf("%d files, sha256 %x", n, h.Sum(nil))
}
