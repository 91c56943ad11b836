package main

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/paysync/paysync/core"
	"github.com/paysync/paysync/storage"
)

func TestBackupAndRestoreCommands(t *testing.T) {
	ctx := context.Background()
	live := t.TempDir()
	db, err := storage.Open(ctx, storage.Options{DataDir: live})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	l := &core.Ledger{Store: db}
	if _, _, err := l.CreateOrder(ctx, core.Order{ID: "IG-77", AmountMinor: 990000, Currency: "AMD"}); err != nil {
		t.Fatal(err)
	}
	defer db.Close() // open, as under serve, while the backup runs

	out := filepath.Join(t.TempDir(), "paysync-backup.db")
	t.Setenv("PAYSYNC_DATA_DIR", live)
	if code, stdout, stderr := cli(t, "backup", "--out", out); code != 0 || !strings.Contains(stdout, "1 orders") {
		t.Fatalf("backup: %d %q %q", code, stdout, stderr)
	}
	if code, _, stderr := cli(t, "backup"); code != 2 || !strings.Contains(stderr, "--out FILE") {
		t.Fatalf("backup without --out: %d %q", code, stderr)
	}

	fresh := filepath.Join(t.TempDir(), "data")
	t.Setenv("PAYSYNC_DATA_DIR", fresh)
	if code, stdout, stderr := cli(t, "restore", out); code != 0 || !strings.Contains(stdout, "1 orders") {
		t.Fatalf("restore: %d %q %q", code, stdout, stderr)
	}
	if code, stdout, stderr := cli(t, "orders", "show", "IG-77"); code != 0 || !strings.Contains(stdout, "IG-77") {
		t.Fatalf("the restored order: %d %q %q", code, stdout, stderr)
	}
	// Now the directory holds a database: a second restore is refused.
	if code, _, stderr := cli(t, "restore", out); code != 1 || !strings.Contains(stderr, "not empty") {
		t.Fatalf("restore into a non-empty dir: %d %q", code, stderr)
	}

	t.Setenv("PAYSYNC_DATABASE_URL", "postgres://paysync@127.0.0.1:1/shop")
	for _, args := range [][]string{{"backup", "--out", out + "2"}, {"restore", out}} {
		if code, _, stderr := cli(t, args...); code != 2 || !strings.Contains(stderr, "pg_dump") {
			t.Fatalf("%s on PostgreSQL: %d %q, want exit 2 naming pg_dump", args[0], code, stderr)
		}
	}
}
