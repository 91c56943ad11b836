package main

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/paysync/paysync/core"
	"github.com/paysync/paysync/httpapi"
	vpossandbox "github.com/paysync/paysync/sandbox/vpos"
	"github.com/paysync/paysync/storage"
)

func TestOrdersAndReviewCommands(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("PAYSYNC_DATA_DIR", dir)
	t.Setenv("PAYSYNC_CONFIG", "")
	sb := vpossandbox.New(vpossandbox.Options{})
	srv := httptest.NewServer(sb)
	defer func() { sb.Close(); srv.Close() }()
	t.Setenv("PAYSYNC_VPOS_BASE_URL", srv.URL)
	t.Setenv("PAYSYNC_VPOS_API_TOKEN", vpossandbox.DefaultToken)
	t.Setenv("PAYSYNC_PUBLIC_URL", "https://paysync.example")

	body := filepath.Join(dir, "order.json")
	os.WriteFile(body, []byte(`{"order_id":"A-1","amount_minor":1500000,"currency":"AMD","customer":{"handle":"anna.shop","name":"Anna"},"items":[{"name":"Scarf","quantity":1,"price_minor":1500000}],"provider":"vpos"}`), 0o600)
	code, out, errs := cli(t, "orders", "create", "--file", body)
	if code != 0 || !strings.Contains(out, "created order A-1 (Awaiting payment, 15,000 AMD)") || !strings.Contains(out, srv.URL+"/checkout/") {
		t.Fatalf("create: %d %q %q", code, out, errs)
	}
	code, out, _ = cli(t, "orders", "create", body, "--json")
	var o core.Order
	if code != 0 || json.Unmarshal([]byte(out), &o) != nil || o.ID != "A-1" || o.PaymentURL == "" {
		t.Fatalf("create again: %d %q", code, out)
	}
	// Created without expires_in: the default expiry (72h) applies.
	if o.ExpiresAt == nil || time.Until(*o.ExpiresAt) < 71*time.Hour || time.Until(*o.ExpiresAt) > 72*time.Hour {
		t.Fatalf("expires_at %v, want about 72h from now", o.ExpiresAt)
	}
	if sb.Stats().Created != 1 {
		t.Fatal("a second payment session was created")
	}
	code, out, _ = cli(t, "orders", "show", "A-1", "--json")
	var v httpapi.OrderView
	if code != 0 || json.Unmarshal([]byte(out), &v) != nil || v.Order.ID != "A-1" || len(v.Journal) != 2 {
		t.Fatalf("show: %d %q", code, out)
	}
	if code, out, _ = cli(t, "orders", "show", "A-1"); code != 0 || !strings.Contains(out, "Payment link sent") {
		t.Fatalf("show text: %d %q", code, out)
	}
	if code, out, _ = cli(t, "orders", "list", "--status", "pending", "--json"); code != 0 || !strings.Contains(out, `"order_id": "A-1"`) {
		t.Fatalf("list: %d %q", code, out)
	}
	if code, out, _ = cli(t, "orders", "list", "--q", "anna"); code != 0 || !strings.Contains(out, "A-1") {
		t.Fatalf("list text: %d %q", code, out)
	}
	if code, _, errs = cli(t, "orders", "show", "nope"); code != 1 || !strings.Contains(errs, "not") {
		t.Fatalf("show missing: %d %q", code, errs)
	}

	// Put the order in review with a payment of the wrong amount, then settle it.
	db, err := storage.Open(context.Background(), storage.Options{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	l := &core.Ledger{Store: db}
	if _, err := l.ApplyEvent(context.Background(), core.PaymentEvent{Provider: "vpos", EventID: "e1", OrderID: "A-1", Status: core.StatusPaid,
		AmountMinor: 1400000, Currency: "AMD", Verified: true, Source: core.SourceLookup}); err != nil {
		t.Fatal(err)
	}
	db.Close()
	if code, _, errs = cli(t, "review", "A-1", "--decision", "paid"); code != 2 {
		t.Fatalf("review without note: %d %q", code, errs)
	}
	code, out, errs = cli(t, "review", "A-1", "--decision", "paid", "--note", "the rest came in cash")
	if code != 0 || !strings.Contains(out, "order A-1 is now paid") {
		t.Fatalf("review: %d %q %q", code, out, errs)
	}
	if code, _, errs = cli(t, "review", "A-1", "--decision", "failed", "--note", "x"); code != 1 || !strings.Contains(errs, "not manual_review") {
		t.Fatalf("review twice: %d %q", code, errs)
	}
}
