package storage_test

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/paysync/paysync/migrations"
	"github.com/paysync/paysync/storage"
	"github.com/paysync/paysync/storage/testdb"
)

// schema is what a migrated database defines, in dialect-neutral terms:
// "table", "table.column", "index ON table(columns)".
func schema(t *testing.T, db *storage.DB) []string {
	t.Helper()
	ctx := context.Background()
	var out []string
	add := func(format string, args ...any) { out = append(out, fmt.Sprintf(format, args...)) }
	w := db.Writer()
	if db.Dialect() == storage.Postgres {
		var cols []struct{ Table, Column string }
		if err := w.SelectContext(ctx, &cols, `SELECT table_name AS "table", column_name AS "column"
			FROM information_schema.columns WHERE table_schema = current_schema()`); err != nil {
			t.Fatal(err)
		}
		tables := map[string]bool{}
		for _, c := range cols {
			tables[c.Table] = true
			add("%s.%s", c.Table, c.Column)
		}
		for tb := range tables {
			add("%s", tb)
		}
		var idx []struct{ Table, Name, Def string }
		if err := w.SelectContext(ctx, &idx, `SELECT tablename AS "table", indexname AS "name", indexdef AS "def"
			FROM pg_indexes WHERE schemaname = current_schema()`); err != nil {
			t.Fatal(err)
		}
		for _, i := range idx {
			if strings.HasSuffix(i.Name, "_pkey") {
				continue // primary keys: SQLite has no named index for them either
			}
			if i.Name == "orders_search_trgm" {
				continue // the search index is each database's own: pg_trgm here, FTS5 in SQLite
			}
			cols := i.Def[strings.LastIndex(i.Def, "(")+1 : strings.LastIndex(i.Def, ")")]
			if j := strings.Index(i.Def, " WHERE "); j > 0 { // partial index
				cols = i.Def[strings.Index(i.Def, "(")+1 : j]
				cols = cols[:strings.LastIndex(cols, ")")]
			}
			add("index %s ON %s(%s)", i.Name, i.Table, normCols(cols))
		}
	} else {
		var tables []string
		if err := w.SelectContext(ctx, &tables, `SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'`); err != nil {
			t.Fatal(err)
		}
		for _, tb := range tables {
			if strings.HasPrefix(tb, "orders_search") {
				continue // the search index is each database's own: FTS5 here, pg_trgm in PostgreSQL
			}
			add("%s", tb)
			var cols []string
			if err := w.SelectContext(ctx, &cols, `SELECT name FROM pragma_table_info(?)`, tb); err != nil {
				t.Fatal(err)
			}
			for _, c := range cols {
				add("%s.%s", tb, c)
			}
			var idx []string
			if err := w.SelectContext(ctx, &idx, `SELECT name FROM pragma_index_list(?) WHERE origin = 'c'`, tb); err != nil {
				t.Fatal(err)
			}
			for _, i := range idx {
				var cols []string
				if err := w.SelectContext(ctx, &cols, `SELECT name FROM pragma_index_info(?) ORDER BY seqno`, i); err != nil {
					t.Fatal(err)
				}
				add("index %s ON %s(%s)", i, tb, normCols(strings.Join(cols, ",")))
			}
		}
	}
	sort.Strings(out)
	return out
}

func normCols(s string) string {
	var cols []string
	for _, c := range strings.Split(s, ",") {
		c = strings.TrimSpace(c)
		c = strings.TrimSuffix(strings.TrimSuffix(c, " DESC"), " ASC")
		cols = append(cols, strings.Trim(c, `"`))
	}
	return strings.Join(cols, ",")
}

// TestMigrationsDefineTheSameSchema: the PostgreSQL and SQLite migrations
// create the same tables, columns and indexes (names and indexed columns),
// so that the shared SQL means the same on both.
func TestMigrationsDefineTheSameSchema(t *testing.T) {
	pg := schema(t, testdb.Open(t, storage.Postgres))
	lite := schema(t, testdb.Open(t, storage.SQLite))
	for _, s := range pg {
		if !slices.Contains(lite, s) {
			t.Errorf("PostgreSQL has %s, SQLite does not", s)
		}
	}
	for _, s := range lite {
		if !slices.Contains(pg, s) {
			t.Errorf("SQLite has %s, PostgreSQL does not", s)
		}
	}
	if len(pg) < 10 {
		t.Fatalf("the schema looks empty: %v", pg)
	}
	// Both dialects have the same migration files.
	pgFiles, liteFiles := migrations.Names(storage.Postgres), migrations.Names(storage.SQLite)
	if !slices.Equal(pgFiles, liteFiles) {
		t.Errorf("migration files differ: postgres %v, sqlite %v", pgFiles, liteFiles)
	}
}
