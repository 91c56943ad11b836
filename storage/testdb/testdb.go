// Package testdb gives tests a real, migrated database: a SQLite file in a
// temp dir, or a fresh PostgreSQL database created from PAYSYNC_TEST_DATABASE_URL.
// Without that variable PostgreSQL tests skip on a laptop and fail in CI.
// It opens a storage.DB, so it lives beside storage (as storagetest does),
// not in internal/, whose packages import nothing above core.
package testdb

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net/url"
	"os"

	"testing"

	_ "github.com/lib/pq"

	"github.com/paysync/paysync/storage"
)

// EnvURL names the variable that points tests at a PostgreSQL server.
const EnvURL = "PAYSYNC_TEST_DATABASE_URL"

// Dialects are the storage drivers every storage-backed test runs on.
var Dialects = []string{storage.SQLite, storage.Postgres}

// Each runs fn once per dialect as a subtest named after it.
func Each(t *testing.T, fn func(t *testing.T, dialect string)) {
	for _, d := range Dialects {
		t.Run(d, func(t *testing.T) { fn(t, d) })
	}
}

// Options returns storage options for a fresh, empty database of the dialect.
func Options(t testing.TB, dialect string) storage.Options {
	t.Helper()
	if dialect == storage.SQLite {
		return storage.Options{DataDir: t.TempDir()}
	}
	return storage.Options{DatabaseURL: NewPostgresDB(t)}
}

// Open returns a migrated store of the dialect, closed when the test ends.
func Open(t testing.TB, dialect string) *storage.DB {
	t.Helper()
	return OpenWith(t, Options(t, dialect))
}

// OpenWith opens and migrates a store with the given options.
func OpenWith(t testing.TB, o storage.Options) *storage.DB {
	t.Helper()
	db, err := storage.Open(context.Background(), o)
	if err != nil {
		t.Fatalf("open %s: %v", dialectOf(o), err)
	}
	t.Cleanup(func() { db.Close() })
	if _, err := db.Migrate(context.Background()); err != nil {
		t.Fatalf("migrate: %v", err)
	}
	return db
}

func dialectOf(o storage.Options) string {
	if o.DatabaseURL != "" {
		return storage.Postgres
	}
	return storage.SQLite
}

// PostgresURL returns the server URL, skipping the test when it is unset
// outside CI and failing it inside CI.
func PostgresURL(t testing.TB) string {
	t.Helper()
	u := os.Getenv(EnvURL)
	if u == "" {
		if os.Getenv("CI") != "" || os.Getenv("PAYSYNC_REQUIRE_POSTGRES") != "" {
			t.Fatalf("%s is not set in CI: PostgreSQL tests must not skip (run them through `make test`)", EnvURL)
		}
		t.Skipf("PostgreSQL test skipped: set %s (make test does)", EnvURL)
	}
	return u
}

// NewPostgresDB creates an empty database on the test server, dropped at the end.
func NewPostgresDB(t testing.TB) string {
	t.Helper()
	base := PostgresURL(t)
	admin, err := sql.Open("postgres", base)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	b := make([]byte, 6)
	rand.Read(b)
	name := "t_" + hex.EncodeToString(b)
	if _, err := admin.Exec("CREATE DATABASE " + name); err != nil {
		t.Fatalf("create database: %v", err)
	}
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/" + name
	t.Cleanup(func() {
		a, err := sql.Open("postgres", base)
		if err != nil {
			return
		}
		defer a.Close()
		a.Exec("DROP DATABASE IF EXISTS " + name + " WITH (FORCE)")
	})
	return u.String()
}
