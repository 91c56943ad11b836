package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/xuri/excelize/v2"

	"github.com/paysync/paysync/core"
	"github.com/paysync/paysync/statement"
	"github.com/paysync/paysync/storage"
)

func TestExportCommand(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	t.Setenv("PAYSYNC_DATA_DIR", dir)
	t.Setenv("PAYSYNC_TIME_ZONE", "Asia/Yerevan")
	db, err := storage.Open(ctx, storage.Options{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	paid := time.Date(2026, 3, 1, 20, 30, 0, 0, time.UTC) // 2 March, 00:30 in Yerevan
	l := &core.Ledger{Store: db, Now: func() time.Time { return paid }}
	if _, _, err := l.CreateOrder(ctx, core.Order{ID: "IG-1", AmountMinor: 1500000, Currency: "AMD", Customer: core.Customer{Name: "Anna"}}); err != nil {
		t.Fatal(err)
	}
	// The journal's time is the store's clock: the entry is written at paid.
	o, _ := db.GetOrder(ctx, "IG-1")
	next := o
	next.Status, next.ProviderRef = core.StatusPaid, "vp-1"
	if err := db.Apply(ctx, core.Change{Order: &next, ExpectedVersion: o.Version, Journal: &core.JournalEntry{OrderID: "IG-1", Provider: "vpos",
		Source: core.SourceWebhook, Verdict: core.VerdictAccepted, StatusBefore: core.StatusPending, StatusAfter: core.StatusPaid,
		AmountMinor: 1500000, Currency: "AMD", ProviderRef: "vp-1", CreatedAt: paid}}); err != nil {
		t.Fatal(err)
	}
	db.Close()

	code, out, errs := cli(t, "export", "--from", "2026-03-02", "--to", "2026-03-02", "--format", "csv")
	if code != 0 || !strings.Contains(out, "2026-03-02,00:30:00,payment,IG-1,Anna,vpos,vp-1,15000.00,AMD\r\n") {
		t.Fatalf("export csv: %d\n%s%s", code, out, errs)
	}
	if code, out, _ := cli(t, "export", "--from", "2026-03-01", "--to", "2026-03-01"); code != 0 || strings.Contains(out, "IG-1") {
		t.Fatalf("1 March in Yerevan holds no movement, got %d\n%s", code, out)
	}
	file := filepath.Join(t.TempDir(), "march.xlsx")
	if code, _, errs := cli(t, "export", "--from", "2026-03-01", "--to", "2026-03-31", "--format", "xlsx", "--out", file); code != 0 {
		t.Fatalf("export xlsx: %d %s", code, errs)
	}
	f, err := excelize.OpenFile(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if v, _ := f.GetCellValue(statement.SheetName, "H2"); v != "15000.00" {
		t.Fatalf("H2 = %q, want 15000.00", v)
	}
	for _, args := range [][]string{
		{"export", "--from", "2026-03-01"},
		{"export", "--from", "2026-03-01", "--to", "2026-03-02", "--format", "pdf"},
		{"export", "--from", "01.03.2026", "--to", "2026-03-02"},
	} {
		if code, _, errs := cli(t, args...); code != 2 || !strings.Contains(errs, "usage: paysync export") {
			t.Errorf("%v: %d %q, want exit 2 with the usage", args, code, errs)
		}
	}
	if _, err := os.Stat(file); err != nil {
		t.Fatal(err)
	}
}
