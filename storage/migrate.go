package storage

import (
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"sort"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/paysync/paysync/core"
	"github.com/paysync/paysync/migrations"
)

// migrationLockKey is the PostgreSQL advisory lock that serialises migrations
// when several replicas start at once ("paysync" in ASCII).
const migrationLockKey = 0x70617973796e63

type migration struct {
	version string
	sql     string
}

func (db *DB) migrations() ([]migration, error) { return migrationsOf(db.dialect) }

// migrationVersions is the set of a dialect's embedded migration versions.
func migrationVersions(dialect string) (map[string]bool, error) {
	all, err := migrationsOf(dialect)
	if err != nil {
		return nil, err
	}
	out := make(map[string]bool, len(all))
	for _, m := range all {
		out[m.version] = true
	}
	return out, nil
}

func migrationsOf(dialect string) ([]migration, error) {
	dir := dialect
	entries, err := fs.ReadDir(migrations.FS, dir)
	if err != nil {
		return nil, err
	}
	var out []migration
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".sql") {
			continue
		}
		b, err := fs.ReadFile(migrations.FS, dir+"/"+e.Name())
		if err != nil {
			return nil, err
		}
		out = append(out, migration{strings.TrimSuffix(e.Name(), ".sql"), string(b)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].version < out[j].version })
	return out, nil
}

// Migrate applies the embedded migrations that are missing, each in its own
// transaction, so a failing migration leaves the schema as it was before it.
// On PostgreSQL an advisory lock makes concurrent starts apply them once.
// It returns the versions it applied.
func (db *DB) Migrate(ctx context.Context) ([]string, error) {
	all, err := db.migrations()
	if err != nil {
		return nil, err
	}
	conn, err := db.w.Connx(ctx)
	if err != nil {
		return nil, db.wrap(err)
	}
	defer conn.Close()
	if db.dialect == Postgres {
		if _, err := conn.ExecContext(ctx, `SELECT pg_advisory_lock($1)`, migrationLockKey); err != nil {
			return nil, db.wrap(err)
		}
		defer conn.ExecContext(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock($1)`, migrationLockKey)
	}
	if _, err := conn.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (version TEXT PRIMARY KEY, applied_at BIGINT NOT NULL)`); err != nil {
		return nil, db.wrap(err)
	}
	var applied []string
	for _, m := range all {
		var n int
		if err := conn.GetContext(ctx, &n, db.q(`SELECT COUNT(*) FROM schema_migrations WHERE version = ?`), m.version); err != nil {
			return applied, db.wrap(err)
		}
		if n > 0 {
			continue
		}
		tx, err := conn.BeginTxx(ctx, nil)
		if err != nil {
			return applied, db.wrap(err)
		}
		if hasStatements(m.sql) {
			if _, err := tx.ExecContext(ctx, m.sql); err != nil {
				tx.Rollback()
				return applied, core.Errorf(core.EINTERNAL, "migration %s/%s failed and was rolled back, the schema is as before it: %v", db.dialect, m.version, err)
			}
		}
		if step := codeSteps[m.version]; step != nil {
			if err := step(ctx, db, tx); err != nil {
				tx.Rollback()
				return applied, core.Errorf(core.EINTERNAL, "migration %s/%s failed and was rolled back, the data is as before it: %v", db.dialect, m.version, err)
			}
		}
		if _, err := tx.ExecContext(ctx, db.q(`INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)`), m.version, time.Now().UnixMicro()); err != nil {
			tx.Rollback()
			return applied, db.wrap(err)
		}
		if err := tx.Commit(); err != nil {
			return applied, db.wrap(err)
		}
		applied = append(applied, m.version)
	}
	return applied, nil
}

// MigrationsPending returns the embedded migrations not yet applied; /readyz
// is not ready while any are.
func (db *DB) MigrationsPending(ctx context.Context) ([]string, error) {
	all, err := db.migrations()
	if err != nil {
		return nil, err
	}
	var have []string
	if err := db.r.SelectContext(ctx, &have, `SELECT version FROM schema_migrations`); err != nil {
		return nil, fmt.Errorf("schema_migrations unreadable: %w", db.wrap(err))
	}
	set := map[string]bool{}
	for _, v := range have {
		set[v] = true
	}
	var missing []string
	for _, m := range all {
		if !set[m.version] {
			missing = append(missing, m.version)
		}
	}
	return missing, nil
}

// codeSteps are the migrations whose work is code rather than SQL, by
// version; each runs in its migration's transaction, after its SQL.
var codeSteps = map[string]func(ctx context.Context, db *DB, tx *sqlx.Tx) error{
	"0008_scrub_card_data": scrubStoredCardData,
	"0012_order_search":    fillOrderSearch,
}

// fillOrderSearch fills orders.search (core.SearchText) for the orders
// written before paysync kept it, a batch at a time.
func fillOrderSearch(ctx context.Context, db *DB, tx *sqlx.Tx) error {
	last := ""
	for {
		var rows []struct {
			ID       string `db:"id"`
			Customer string `db:"customer"`
		}
		if err := tx.SelectContext(ctx, &rows, db.q(`SELECT id, customer FROM orders WHERE id > ? ORDER BY id LIMIT ?`), last, scrubBatch); err != nil {
			return err
		}
		for _, r := range rows {
			o := core.Order{ID: r.ID}
			json.Unmarshal([]byte(r.Customer), &o.Customer) // written by paysync; a bad one finds by id alone
			if _, err := tx.ExecContext(ctx, db.q(`UPDATE orders SET search = ? WHERE id = ?`), core.SearchText(o), r.ID); err != nil {
				return err
			}
			last = r.ID
		}
		if len(rows) < scrubBatch {
			return nil
		}
	}
}

// hasStatements reports whether a migration's SQL holds more than comments.
func hasStatements(sql string) bool {
	for _, line := range strings.Split(sql, "\n") {
		if l := strings.TrimSpace(line); l != "" && !strings.HasPrefix(l, "--") {
			return true
		}
	}
	return false
}

// scrubBatch is how many rows scrubStoredCardData reads at a time.
const scrubBatch = 200

// scrubStoredCardData scrubs the journal's payloads and reasons and the
// refusal records' samples and reasons written before paysync scrubbed
// card data (core.ScrubCardData), reading them a batch at a time and
// writing back only what changed.
func scrubStoredCardData(ctx context.Context, db *DB, tx *sqlx.Tx) error {
	for _, t := range []struct{ table, bytes, texts string }{
		{"journal", "payload", "reason"},
		{"refusals", "sample", "reason, last_reason"},
	} {
		texts := strings.Split(t.texts, ", ")
		var last int64
		for {
			rows, err := tx.QueryxContext(ctx, db.q(`SELECT id, `+t.bytes+`, `+t.texts+` FROM `+t.table+` WHERE id > ? ORDER BY id LIMIT ?`), last, scrubBatch)
			if err != nil {
				return err
			}
			type change struct {
				id    int64
				blob  []byte
				texts []string
			}
			var changes []change
			n := 0
			for rows.Next() {
				vals, err := rows.SliceScan()
				if err != nil {
					rows.Close()
					return err
				}
				n++
				last = vals[0].(int64)
				blob, _ := vals[1].([]byte)
				c := change{id: last, blob: core.ScrubCardData(blob)}
				dirty := len(blob) > 0 && &c.blob[0] != &blob[0]
				for i := range texts {
					s := asString(vals[2+i])
					c.texts = append(c.texts, core.ScrubCardText(s))
					dirty = dirty || c.texts[i] != s
				}
				if dirty {
					changes = append(changes, c)
				}
			}
			if err := rows.Close(); err != nil {
				return err
			}
			for _, c := range changes {
				sets := t.bytes + " = ?"
				args := []any{c.blob}
				for i, col := range texts {
					sets += ", " + col + " = ?"
					args = append(args, c.texts[i])
				}
				if _, err := tx.ExecContext(ctx, db.q(`UPDATE `+t.table+` SET `+sets+` WHERE id = ?`), append(args, c.id)...); err != nil {
					return err
				}
			}
			if n < scrubBatch {
				break
			}
		}
	}
	return nil
}

func asString(v any) string {
	switch s := v.(type) {
	case string:
		return s
	case []byte:
		return string(s)
	}
	return ""
}
