package storage_test

import (
	"context"
	"strings"
	"testing"

	"github.com/paysync/paysync/core"
	"github.com/paysync/paysync/storage"
	"github.com/paysync/paysync/storage/testdb"
)

// TestCommitsAreDurable: by default a commit is on disk before it is
// acknowledged, so a payment answered 2xx survives a power cut. On SQLite
// that is synchronous=FULL on every connection (NORMAL only on request); on
// PostgreSQL synchronous_commit stays on.
func TestCommitsAreDurable(t *testing.T) {
	testdb.Each(t, func(t *testing.T, dialect string) {
		t.Parallel()
		db := testdb.Open(t, dialect)
		if dialect == storage.Postgres {
			var v string
			if err := db.Writer().Get(&v, `SHOW synchronous_commit`); err != nil {
				t.Fatal(err)
			}
			if v != "on" {
				t.Fatalf("synchronous_commit = %s, want on", v)
			}
			return
		}
		const full, normal = 2, 1
		wantSync(t, db, full)
		o := testdb.Options(t, dialect)
		o.SQLiteSynchronous = "normal"
		wantSync(t, testdb.OpenWith(t, o), normal)
		o = testdb.Options(t, dialect)
		o.SQLiteSynchronous = "off"
		_, err := storage.Open(context.Background(), o)
		if core.ErrorCode(err) != core.EINVALID || !strings.Contains(err.Error(), "PAYSYNC_SQLITE_SYNCHRONOUS") {
			t.Fatalf("synchronous=off: %v, want a refusal naming PAYSYNC_SQLITE_SYNCHRONOUS", err)
		}
	})
}

// wantSync checks PRAGMA synchronous on the write connection and on several
// read connections at once (each pooled connection applies the pragmas).
func wantSync(t *testing.T, db *storage.DB, want int) {
	t.Helper()
	var got int
	if err := db.Writer().Get(&got, `PRAGMA synchronous`); err != nil || got != want {
		t.Fatalf("writer: PRAGMA synchronous = %d (%v), want %d", got, err, want)
	}
	ctx := context.Background()
	conns := make([]interface{ Close() error }, 0, 3)
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for i := 0; i < 3; i++ {
		c, err := db.Reader().Connx(ctx)
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
		if err := c.GetContext(ctx, &got, `PRAGMA synchronous`); err != nil || got != want {
			t.Fatalf("reader %d: PRAGMA synchronous = %d (%v), want %d", i, got, err, want)
		}
	}
}
