package bench

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"strings"

	_ "github.com/lib/pq" // the baseline's driver

	"github.com/paysync/paysync/storage"
)

// scratch is a fresh, migrated database that the run drops at its end.
type scratch struct {
	db    *storage.DB
	url   string // PostgreSQL: the scratch database's URL
	close func()
}

// scratchDB opens a fresh database of the dialect: a SQLite file in a
// temporary folder, or a database of its own created on the PostgreSQL
// server of Options.DatabaseURL (never an existing one: the bench writes
// tens of thousands of orders).
func (r *run) scratchDB(ctx context.Context, dialect string) (*scratch, error) {
	if dialect == storage.SQLite {
		dir, err := os.MkdirTemp("", "paysync-bench-")
		if err != nil {
			return nil, err
		}
		db, err := openMigrated(ctx, storage.Options{DataDir: dir})
		if err != nil {
			os.RemoveAll(dir)
			return nil, err
		}
		return &scratch{db: db, close: func() { db.Close(); os.RemoveAll(dir) }}, nil
	}
	u, drop, err := createPostgresDB(ctx, r.o.DatabaseURL)
	if err != nil {
		return nil, err
	}
	db, err := openMigrated(ctx, storage.Options{DatabaseURL: u})
	if err != nil {
		drop()
		return nil, err
	}
	return &scratch{db: db, url: u, close: func() { db.Close(); drop() }}, nil
}

func openMigrated(ctx context.Context, o storage.Options) (*storage.DB, error) {
	db, err := storage.Open(ctx, o)
	if err != nil {
		return nil, err
	}
	if _, err := db.Migrate(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}

// createPostgresDB creates an empty database on the server of base and
// returns its URL and how to drop it.
func createPostgresDB(ctx context.Context, base string) (string, func(), error) {
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		return "", nil, fmt.Errorf("--database-url %s is not a postgres:// URL", storage.RedactURL(base))
	}
	admin, err := sql.Open("postgres", base)
	if err != nil {
		return "", nil, err
	}
	defer admin.Close()
	b := make([]byte, 6)
	rand.Read(b)
	name := "paysync_bench_" + hex.EncodeToString(b)
	if _, err := admin.ExecContext(ctx, "CREATE DATABASE "+name); err != nil {
		return "", nil, fmt.Errorf("cannot create a scratch database on %s (%v): the bench writes only to a database of its own, so its user needs CREATEDB",
			storage.RedactURL(base), scrubURL(err, base))
	}
	u.Path = "/" + name
	drop := func() {
		a, err := sql.Open("postgres", base)
		if err != nil {
			return
		}
		defer a.Close()
		a.Exec("DROP DATABASE IF EXISTS " + name + " WITH (FORCE)")
	}
	return u.String(), drop, nil
}

// scrubURL keeps a driver error from repeating the URL's password.
func scrubURL(err error, dsn string) string {
	msg := err.Error()
	if u, perr := url.Parse(dsn); perr == nil && u.User != nil {
		if p, ok := u.User.Password(); ok && p != "" {
			msg = strings.ReplaceAll(msg, p, "xxxxx")
		}
	}
	return msg
}
