package storage_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/paysync/paysync/core"
	"github.com/paysync/paysync/storage"
	"github.com/paysync/paysync/storage/testdb"
)

// TestBackupUnderLoad backs up a SQLite database while payments are being
// written, restores the copy into an empty data directory, and finds there
// every payment whose write had returned before the backup began.
func TestBackupUnderLoad(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := testdb.Open(t, storage.SQLite)
	l := &core.Ledger{Store: db, Recent: core.NewRecentOrders(0), Connectors: func() []string { return []string{"bitrix24"} }}

	var mu sync.Mutex
	var acked []string // orders whose payment was acknowledged
	stop := make(chan struct{})
	busy := make(chan struct{}) // closed once 200 payments landed
	var once sync.Once
	var wg sync.WaitGroup
	pay := func(id string) error {
		if _, _, err := l.CreateOrder(ctx, core.Order{ID: id, AmountMinor: 250000, Currency: "AMD", Provider: "vpos"}); err != nil {
			return err
		}
		_, err := l.ApplyEvent(ctx, core.PaymentEvent{Provider: "vpos", EventID: "ev-" + id, Type: "payment.succeeded", OrderID: id,
			Status: core.StatusPaid, AmountMinor: 250000, Currency: "AMD", ProviderRef: "ref-" + id, Source: core.SourceWebhook,
			Verified: true, Payload: []byte(`{"order":"` + id + `"}`)})
		return err
	}
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				id := fmt.Sprintf("W%d-%d", w, i)
				if err := pay(id); err != nil {
					t.Errorf("pay %s: %v", id, err)
					once.Do(func() { close(busy) })
					return
				}
				mu.Lock()
				acked = append(acked, id)
				if len(acked) >= 200 {
					once.Do(func() { close(busy) })
				}
				mu.Unlock()
			}
		}()
	}
	// Let some payments land first, so the backup has something to keep
	// and the writers are busy while it runs.
	<-busy
	mu.Lock()
	before := append([]string(nil), acked...)
	mu.Unlock()
	out := filepath.Join(t.TempDir(), "backup.db")
	info, err := db.Backup(ctx, out)
	mu.Lock()
	during := len(acked) - len(before)
	mu.Unlock()
	close(stop)
	wg.Wait()
	if err != nil {
		t.Fatalf("backup: %v", err)
	}
	t.Logf("backup: %d bytes, %d orders; %d payments acknowledged before it, %d while it ran", info.Bytes, info.Orders, len(before), during)
	if info.Orders < int64(len(before)) {
		t.Fatalf("backup holds %d orders, %d were acknowledged before it began", info.Orders, len(before))
	}

	// The same file is refused a second time: a backup never overwrites.
	if _, err := db.Backup(ctx, out); core.ErrorCode(err) != core.EINVALID || !strings.Contains(err.Error(), "exists") {
		t.Fatalf("backup over an existing file: %v, want EINVALID saying it exists", err)
	}

	dataDir := filepath.Join(t.TempDir(), "restored")
	if _, err := storage.Restore(ctx, out, dataDir); err != nil {
		t.Fatalf("restore: %v", err)
	}
	rdb := testdb.OpenWith(t, storage.Options{DataDir: dataDir})
	for _, id := range before {
		o, err := rdb.GetOrder(ctx, id)
		if err != nil {
			t.Fatalf("acknowledged payment %s is not in the restored database: %v", id, err)
		}
		if o.Status != core.StatusPaid || o.AmountMinor != 250000 {
			t.Fatalf("restored order %s is %s %d, want paid 250000", id, o.Status, o.AmountMinor)
		}
		j, err := rdb.ListJournal(ctx, id)
		if err != nil || len(j) != 2 {
			t.Fatalf("restored journal of %s: %d entries (%v), want 2", id, len(j), err)
		}
	}
}

func TestRestoreRefuses(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := testdb.Open(t, storage.SQLite)
	out := filepath.Join(t.TempDir(), "b.db")
	if _, err := db.Backup(ctx, out); err != nil {
		t.Fatal(err)
	}

	// A data directory with anything in it is refused, and the error says how to fix it.
	full := t.TempDir()
	os.WriteFile(filepath.Join(full, "paysync.db"), []byte("live"), 0o600)
	_, err := storage.Restore(ctx, out, full)
	if core.ErrorCode(err) != core.ECONFLICT || !strings.Contains(err.Error(), "not empty") || !strings.Contains(err.Error(), "PAYSYNC_DATA_DIR") {
		t.Fatalf("restore into a non-empty dir: %v", err)
	}
	if b, _ := os.ReadFile(filepath.Join(full, "paysync.db")); string(b) != "live" {
		t.Fatalf("the refused restore touched the existing database")
	}

	// A file that is not a paysync database is refused before anything is written.
	for name, content := range map[string][]byte{
		"text":  []byte("hello, not a database at all"),
		"empty": nil,
	} {
		bad := filepath.Join(t.TempDir(), name)
		os.WriteFile(bad, content, 0o600)
		dir := filepath.Join(t.TempDir(), "d")
		if _, err := storage.Restore(ctx, bad, dir); core.ErrorCode(err) != core.EINVALID || !strings.Contains(err.Error(), "not a paysync backup") {
			t.Fatalf("restore of %s: %v, want EINVALID not a paysync backup", name, err)
		}
		if _, err := os.Stat(filepath.Join(dir, "paysync.db")); err == nil {
			t.Fatalf("restore of %s wrote a database", name)
		}
	}
	// An SQLite database without paysync's migrations is refused too.
	other := filepath.Join(t.TempDir(), "other")
	odb, err := storage.Open(ctx, storage.Options{DataDir: other})
	if err != nil {
		t.Fatal(err)
	}
	odb.Writer().Exec(`CREATE TABLE notes (x TEXT)`)
	odb.Close()
	if _, err := storage.Restore(ctx, filepath.Join(other, "paysync.db"), filepath.Join(t.TempDir(), "d")); core.ErrorCode(err) != core.EINVALID || !strings.Contains(err.Error(), "schema_migrations") {
		t.Fatalf("restore of a foreign SQLite database: %v", err)
	}
}

func TestBackupOnPostgresSaysPgDump(t *testing.T) {
	t.Parallel()
	db := testdb.Open(t, storage.Postgres)
	_, err := db.Backup(context.Background(), filepath.Join(t.TempDir(), "b.db"))
	if core.ErrorCode(err) != core.EINVALID || !strings.Contains(err.Error(), "pg_dump") || !strings.Contains(err.Error(), "pg_restore") {
		t.Fatalf("backup on PostgreSQL: %v, want EINVALID naming pg_dump and pg_restore", err)
	}
}

// A backup a newer paysync wrote (a migration this binary lacks) is refused.
func TestRestoreRefusesANewerSchema(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := testdb.Open(t, storage.SQLite)
	if _, err := db.Writer().Exec(`INSERT INTO schema_migrations (version, applied_at) VALUES ('9999_from_the_future', 1)`); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "b.db")
	if _, err := db.Backup(ctx, out); err != nil {
		t.Fatal(err)
	}
	_, err := storage.Restore(ctx, out, filepath.Join(t.TempDir(), "d"))
	if core.ErrorCode(err) != core.ECONFLICT || !strings.Contains(err.Error(), "9999_from_the_future") || !strings.Contains(err.Error(), "newer paysync") {
		t.Fatalf("restore of a newer schema: %v", err)
	}
}
