package storage_test

import (
	"context"
	"database/sql"
	"fmt"
	"io/fs"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jmoiron/sqlx"

	"github.com/paysync/paysync/core"
	"github.com/paysync/paysync/migrations"
	"github.com/paysync/paysync/storage"
	"github.com/paysync/paysync/storage/testdb"
)

// TestMigratePartialRefunds: a database written before partially_refunded
// existed called a partly refunded order refunded. Migration 0004 moves it,
// with a journal entry and a delivery to each CRM that holds it, and leaves
// fully refunded orders alone.
func TestMigratePartialRefunds(t *testing.T) {
	ctx := context.Background()
	testdb.Each(t, func(t *testing.T, dialect string) {
		t.Parallel()
		o := testdb.Options(t, dialect)
		raw := openRaw(t, dialect, o)
		// The schema as it stood before 0004.
		if _, err := raw.Exec(`CREATE TABLE schema_migrations (version TEXT PRIMARY KEY, applied_at BIGINT NOT NULL)`); err != nil {
			t.Fatal(err)
		}
		names, _ := fs.Glob(migrations.FS, dialect+"/*.sql")
		for _, name := range names {
			version := strings.TrimSuffix(filepath.Base(name), ".sql")
			if version >= "0004" {
				continue
			}
			b, _ := fs.ReadFile(migrations.FS, name)
			if _, err := raw.Exec(string(b)); err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			if _, err := raw.Exec(`INSERT INTO schema_migrations VALUES ('` + version + `', 1)`); err != nil {
				t.Fatal(err)
			}
		}
		for _, stmt := range []string{
			`INSERT INTO orders (id, status, amount_minor, currency, refunded_minor, created_at, updated_at, status_changed_at, version)
			 VALUES ('OLD-PART', 'refunded', 990000, 'AMD', 330000, 1, 1, 1, 3)`,
			`INSERT INTO orders (id, status, amount_minor, currency, refunded_minor, created_at, updated_at, status_changed_at, version)
			 VALUES ('OLD-FULL', 'refunded', 990000, 'AMD', 990000, 1, 1, 1, 3)`,
			`INSERT INTO crm_links (connector, order_id, external_id, synced_version, synced_status, updated_at)
			 VALUES ('bitrix24', 'OLD-PART', '17', 3, 'refunded', 1)`,
		} {
			if _, err := raw.Exec(stmt); err != nil {
				t.Fatal(err)
			}
		}
		raw.Close()

		db := testdb.OpenWith(t, o) // applies 0004 and later
		part, err := db.GetOrder(ctx, "OLD-PART")
		if err != nil || part.Status != core.StatusPartiallyRefunded || part.Version != 4 || part.RefundedMinor != 330000 {
			t.Fatalf("partly refunded order after migration: %+v %v", part, err)
		}
		if full, _ := db.GetOrder(ctx, "OLD-FULL"); full.Status != core.StatusRefunded || full.Version != 3 {
			t.Fatalf("fully refunded order after migration: %+v", full)
		}
		j, _ := db.ListJournal(ctx, "OLD-PART")
		if len(j) != 1 || j[0].Source != "migration" || j[0].StatusAfter != core.StatusPartiallyRefunded || j[0].OrderVersion != 4 {
			t.Fatalf("journal %+v", j)
		}
		recs, _ := db.OrderDeliveries(ctx, "OLD-PART")
		if len(recs) != 1 || recs[0].Connector != "bitrix24" || recs[0].OrderVersion != 4 || recs[0].State != core.DeliveryPending {
			t.Fatalf("deliveries %+v", recs)
		}
		if recs, _ := db.OrderDeliveries(ctx, "OLD-FULL"); len(recs) != 0 {
			t.Fatalf("a fully refunded order was queued: %+v", recs)
		}
	})
}

// openRaw opens the database of o without migrating it.
func openRaw(t *testing.T, dialect string, o storage.Options) *sql.DB {
	t.Helper()
	driver, dsn := "postgres", o.DatabaseURL
	if dialect == storage.SQLite {
		driver, dsn = "sqlite", "file:"+filepath.ToSlash(filepath.Join(o.DataDir, "paysync.db"))
	}
	raw, err := sql.Open(driver, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { raw.Close() })
	return raw
}

// TestJournalPayloadMigration: entries journaled before payloads became
// bytes keep their payload, byte for byte, with its size.
func TestJournalPayloadMigration(t *testing.T) {
	testdb.Each(t, func(t *testing.T, dialect string) {
		t.Parallel()
		ctx := context.Background()
		db, err := storage.Open(ctx, testdb.Options(t, dialect))
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		w := db.Writer()
		schemaBefore(t, w, dialect, "0005")
		old := `{"event_id":"e1","note":"Երևան, Москва"}`
		if _, err := w.Exec(w.Rebind(`INSERT INTO journal (order_id, provider, event_id, source, verdict, payload, created_at)
			VALUES ('A-1', 'generic', 'e1', 'webhook', 'accepted', ?, 1)`), old); err != nil {
			t.Fatal(err)
		}
		if _, err := db.Migrate(ctx); err != nil {
			t.Fatal(err)
		}
		j, err := db.ListJournal(ctx, "A-1")
		if err != nil || len(j) != 1 {
			t.Fatalf("journal after migration: %v %v", j, err)
		}
		if string(j[0].Payload) != old || j[0].PayloadSize != int64(len(old)) || j[0].EventID != "e1" {
			t.Fatalf("migrated entry: payload %q size %d", j[0].Payload, j[0].PayloadSize)
		}
	})
}

// TestScrubCardDataMigration: issue 22, item 4. Card data already stored
// (journal payloads and reasons, refusal samples and reasons) is scrubbed
// by migration 0008 the way new requests are; sizes and digests stay those
// of the requests as received, and what holds no card data is untouched.
func TestScrubCardDataMigration(t *testing.T) {
	testdb.Each(t, func(t *testing.T, dialect string) {
		t.Parallel()
		ctx := context.Background()
		db, err := storage.Open(ctx, testdb.Options(t, dialect))
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		w := db.Writer()
		schemaBefore(t, w, dialect, "0008")
		card := []byte(`{"event_id":"e1","pan":"4111 1111 1111 1111","cvv":"123"}`)
		clean := []byte("\x00\xff{\"event_id\":\"e2\"}")
		for i, p := range [][]byte{card, clean} {
			if _, err := w.Exec(w.Rebind(`INSERT INTO journal (order_id, provider, event_id, source, verdict, reason, payload, payload_size, payload_sha256, created_at)
				VALUES ('A-1', 'generic', ?, 'webhook', 'accepted', ?, ?, ?, 'digest-of-the-original', 1)`),
				fmt.Sprintf("e%d", i+1), "card 5555555555554444 declined", p, len(p)); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := w.Exec(w.Rebind(`INSERT INTO refusals (provider, source, verdict, window_start, requests, first_at, last_at, reason, last_reason, sample_size, sample_sha256, sample)
			VALUES ('arca', '10.0.0.0/24', 'malformed', 0, 1, 1, 1, 'callback status "4111111111111111" must be 1 or 0', 'ok', 40, 'd', ?)`),
			[]byte("cvv=321&expiry=12%2F26&orderNumber=A-1")); err != nil {
			t.Fatal(err)
		}
		if _, err := db.Migrate(ctx); err != nil {
			t.Fatal(err)
		}
		j, err := db.ListJournal(ctx, "A-1")
		if err != nil || len(j) != 2 {
			t.Fatalf("journal after migration: %v %v", j, err)
		}
		if got := string(j[0].Payload); got != `{"event_id":"e1","pan":"4111 11** **** 1111","cvv":"***"}` ||
			j[0].PayloadSize != int64(len(card)) || j[0].PayloadSHA256 != "digest-of-the-original" {
			t.Fatalf("scrubbed entry: %s (size %d, digest %s)", got, j[0].PayloadSize, j[0].PayloadSHA256)
		}
		if j[0].Reason != "card 555555******4444 declined" {
			t.Fatalf("reason %q", j[0].Reason)
		}
		if string(j[1].Payload) != string(clean) {
			t.Fatalf("an entry without card data changed: %q", j[1].Payload)
		}
		rs, _ := db.ListRefusals(ctx, 10)
		if len(rs) != 1 || string(rs[0].Sample) != "cvv=***&expiry=*******&orderNumber=A-1" || strings.Contains(rs[0].Reason, "1111111111") {
			t.Fatalf("refusal after migration: %q %q", rs[0].Sample, rs[0].Reason)
		}
	})
}

// TestOrderSearchMigration: issue 20. Orders written before paysync kept
// their search text are found by the phone in any form and by the name once
// migration 0012 has filled it.
func TestOrderSearchMigration(t *testing.T) {
	testdb.Each(t, func(t *testing.T, dialect string) {
		t.Parallel()
		ctx := context.Background()
		db, err := storage.Open(ctx, testdb.Options(t, dialect))
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		w := db.Writer()
		schemaBefore(t, w, dialect, "0012")
		for i, c := range []string{`{"name":"Aram Petrosyan","phone":"091 000 102"}`, `{"name":"Игорь Морозов","handle":"igor.m"}`} {
			if _, err := w.Exec(w.Rebind(`INSERT INTO orders (id, status, amount_minor, currency, customer, created_at, updated_at, status_changed_at, version)
				VALUES (?, 'pending', 100, 'AMD', ?, ?, 1, 1, 1)`), fmt.Sprintf("OLD-%d", i+1), c, i+1); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := db.Migrate(ctx); err != nil {
			t.Fatal(err)
		}
		for q, want := range map[string]string{"000102": "OLD-1", "+37491000102": "OLD-1", "091000102": "OLD-1", "petrosyan": "OLD-1", "морозов": "OLD-2", "@igor.m": "OLD-2"} {
			got, err := db.ListOrders(ctx, core.OrderQuery{Q: q})
			if err != nil || len(got) != 1 || got[0].ID != want {
				t.Errorf("after the migration %q finds %v (%v), want %s", q, got, err, want)
			}
		}
	})
}

// schemaBefore applies the migrations older than version the way Migrate
// does, so that a test can write rows as an older paysync did.
func schemaBefore(t *testing.T, w *sqlx.DB, dialect, version string) {
	t.Helper()
	if _, err := w.Exec(`CREATE TABLE schema_migrations (version TEXT PRIMARY KEY, applied_at BIGINT NOT NULL)`); err != nil {
		t.Fatal(err)
	}
	files, _ := fs.ReadDir(migrations.FS, dialect)
	for _, f := range files {
		v := strings.TrimSuffix(f.Name(), ".sql")
		if v >= version {
			break
		}
		sql, _ := fs.ReadFile(migrations.FS, dialect+"/"+f.Name())
		if _, err := w.Exec(string(sql)); err != nil {
			t.Fatalf("%s: %v", f.Name(), err)
		}
		if _, err := w.Exec(w.Rebind(`INSERT INTO schema_migrations (version, applied_at) VALUES (?, 0)`), v); err != nil {
			t.Fatal(err)
		}
	}
}
