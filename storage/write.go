package storage

// The statements of one core.Change. Each check that can refuse a change
// (its event already journaled, the order's version moved, the order id
// taken) is made by the first statement that writes, so a refused change
// writes nothing and the others of its group go on in the same transaction
// (see commit.go).
//
// PostgreSQL: one statement per change. Data-modifying CTEs write the order,
// then the journal entry and the outbox records only if the order was
// written, and queue the dispatchers' wake-up (pg_notify, delivered at
// commit): one round trip instead of six, each prepared once per connection.
//
// SQLite has no data-modifying CTEs; it is in-process, so a few prepared
// statements cost no round trips: the order first (with the same checks),
// then the journal entry and the outbox records.

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"github.com/paysync/paysync/core"
)

// column is a written column and its PostgreSQL type (parameters in a
// SELECT list need one).
type column struct{ name, pgType string }

// orderWriteCols are the order columns a change writes, in orderArgs order.
var orderWriteCols = []column{
	{"status", "text"}, {"amount_minor", "bigint"}, {"currency", "text"}, {"refunded_minor", "bigint"},
	{"customer", "text"}, {"items", "text"}, {"delivery", "text"}, {"customer_handle", "text"},
	{"customer_phone", "text"}, {"provider", "text"}, {"provider_ref", "text"}, {"payment_url", "text"},
	{"fixed_link", "text"}, {"orphan", "boolean"}, {"reason", "text"}, {"request_hash", "text"},
	{"updated_at", "bigint"}, {"status_changed_at", "bigint"}, {"paid_at", "bigint"}, {"expires_at", "bigint"},
	{"latest_event_id", "text"}, {"latest_event_status", "text"}, {"latest_event_at", "bigint"}, {"latest_event_precision", "bigint"},
	{"payment_event_id", "text"}, {"payment_event_status", "text"}, {"payment_event_at", "bigint"}, {"payment_event_precision", "bigint"},
	{"expiry_event_id", "text"}, {"expiry_event_status", "text"}, {"expiry_event_at", "bigint"}, {"expiry_event_precision", "bigint"},
	{"payment_refs", "text"}, {"search", "text"},
}

// journalCols are the journal columns, in journalArgs order.
var journalCols = []column{
	{"order_id", "text"}, {"provider", "text"}, {"event_id", "text"}, {"source", "text"}, {"event_type", "text"},
	{"verdict", "text"}, {"status_before", "text"}, {"status_after", "text"}, {"amount_minor", "bigint"},
	{"currency", "text"}, {"provider_ref", "text"}, {"reason", "text"}, {"payload", "bytea"},
	{"payload_size", "bigint"}, {"payload_sha256", "text"}, {"order_version", "bigint"}, {"created_at", "bigint"},
}

func names(cols []column) string {
	out := make([]string, len(cols))
	for i, c := range cols {
		out[i] = c.name
	}
	return strings.Join(out, ", ")
}

// orderArgs are the values of orderWriteCols for o.
func orderArgs(o *core.Order) []any {
	args := []any{string(o.Status), o.AmountMinor, o.Currency, o.RefundedMinor, mustJSON(o.Customer),
		mustJSON(o.Items), mustJSON(o.Shipping), strings.ToLower(o.Customer.Handle), o.Customer.Phone,
		o.Provider, o.ProviderRef, o.PaymentURL, o.FixedLink, o.Orphan, o.Reason, o.RequestHash,
		micros(o.UpdatedAt), micros(o.StatusChangedAt), nullMicros(o.PaidAt), nullMicros(o.ExpiresAt)}
	args = append(args, historyArgs(o.History)...)
	return append(args, core.SearchText(*o))
}

// journalArgs are the values of journalCols for j; a nil j gives an entry
// with no event id, which matches no journaled event.
func journalArgs(j *core.JournalEntry) []any {
	if j == nil {
		j = &core.JournalEntry{Payload: []byte{}}
	}
	return []any{nullString(j.OrderID), j.Provider, nullString(j.EventID), j.Source, j.EventType, string(j.Verdict),
		string(j.StatusBefore), string(j.StatusAfter), j.AmountMinor, j.Currency, j.ProviderRef,
		j.Reason, j.Payload, j.PayloadSize, j.PayloadSHA256, j.OrderVersion, micros(j.CreatedAt)}
}

// The PostgreSQL statements. Parameters: $1…$n orderWriteCols (n of them),
// then the order id, the expected version (update) or created_at (insert),
// journalCols (the second is the provider, the third the event id), whether
// to journal, now, and the connectors to enqueue.
var (
	pgUpdateChange = pgChange(false)
	pgInsertChange = pgChange(true)
)

func pgChange(insert bool) string {
	n := len(orderWriteCols)
	id, fourth, j0 := n+1, n+2, n+3
	provider, eventID := j0+1, j0+2
	journal := j0 + len(journalCols)
	now, outbox := journal+1, journal+2
	notJournaled := fmt.Sprintf("NOT EXISTS (SELECT 1 FROM journal WHERE provider = $%d::text AND event_id = $%d::text)", provider, eventID)
	var w strings.Builder
	if insert {
		vals := make([]string, n)
		for i, c := range orderWriteCols {
			vals[i] = fmt.Sprintf("$%d::%s", i+1, c.pgType)
		}
		fmt.Fprintf(&w, `INSERT INTO orders (%s, id, created_at, version)
		SELECT %s, $%d::text, $%d::bigint, 1
		WHERE %s
		ON CONFLICT (id) DO NOTHING
		RETURNING version`, names(orderWriteCols), strings.Join(vals, ", "), id, fourth, notJournaled)
	} else {
		sets := make([]string, n)
		for i, c := range orderWriteCols {
			sets[i] = fmt.Sprintf("%s = $%d", c.name, i+1)
		}
		fmt.Fprintf(&w, `UPDATE orders SET %s, version = version + 1
		WHERE id = $%d AND version = $%d
		  AND %s
		RETURNING version`, strings.Join(sets, ", "), id, fourth, notJournaled)
	}
	jvals := make([]string, len(journalCols))
	for i, c := range journalCols {
		jvals[i] = fmt.Sprintf("$%d::%s", j0+i, c.pgType)
	}
	return fmt.Sprintf(`WITH o AS (
		%s
	), j AS (
		INSERT INTO journal (%s)
		SELECT %s FROM o WHERE $%[4]d::boolean
		RETURNING id
	), ob AS (
		INSERT INTO outbox (connector, order_id, order_version, state, attempts, available_at, created_at, updated_at)
		SELECT c, $%[5]d::text, o.version, 'pending', 0, $%[6]d::bigint, $%[6]d::bigint, $%[6]d::bigint FROM o, unnest($%[7]d::text[]) AS c
	)
	SELECT (SELECT version FROM o), (SELECT id FROM j),
		(SELECT count(*) FROM (SELECT pg_notify('paysync_outbox', c) FROM o, unnest($%[7]d::text[]) AS c) n),
		EXISTS (SELECT 1 FROM journal WHERE provider = $%[8]d::text AND event_id = $%[9]d::text)`,
		w.String(), names(journalCols), strings.Join(jvals, ", "), journal, id, now, outbox, provider, eventID)
}

// The SQLite statements.
var (
	sqliteUpdateOrder = func() string {
		sets := make([]string, len(orderWriteCols))
		for i, c := range orderWriteCols {
			sets[i] = c.name + " = ?"
		}
		return `UPDATE orders SET ` + strings.Join(sets, ", ") + `, version = version + 1
		WHERE id = ? AND version = ?
		  AND NOT EXISTS (SELECT 1 FROM journal WHERE provider = ? AND event_id = ?)`
	}()
	sqliteInsertOrder = `INSERT INTO orders (` + names(orderWriteCols) + `, id, created_at, version)
		SELECT ` + strings.TrimSuffix(strings.Repeat("?, ", len(orderWriteCols)), ", ") + `, ?, ?, 1
		WHERE NOT EXISTS (SELECT 1 FROM journal WHERE provider = ? AND event_id = ?)
		ON CONFLICT (id) DO NOTHING`
	sqliteJournaled = `SELECT EXISTS (SELECT 1 FROM journal WHERE provider = ? AND event_id = ?)`
	sqliteOutbox    = `INSERT INTO outbox (connector, order_id, order_version, state, attempts, available_at, created_at, updated_at)
		VALUES (?, ?, ?, 'pending', 0, ?, ?, ?)`
)

// insertJournalSQL appends an entry; a verified event seen before inserts nothing.
const insertJournalSQL = `INSERT INTO journal
		(order_id, provider, event_id, source, event_type, verdict, status_before, status_after,
		 amount_minor, currency, provider_ref, reason, payload, payload_size, payload_sha256, order_version, created_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT DO NOTHING RETURNING id`

// writeQueries are the statements writeChange runs, prepared by warm.
func (db *DB) writeQueries() []string {
	if db.dialect == Postgres {
		return []string{pgUpdateChange, pgInsertChange, pgGroupChanges, db.q(insertJournalSQL)}
	}
	return []string{sqliteUpdateOrder, sqliteInsertOrder, sqliteJournaled, sqliteOutbox, insertJournalSQL}
}

// writeChange writes c inside tx and returns its journal entry's id. dirty
// reports that c failed after writing part of itself (or that PostgreSQL
// aborted the transaction): the caller must roll back. A refused change
// (ESTALE, EDUPLICATE, ECONFLICT) is not dirty: it wrote nothing.
func (db *DB) writeChange(ctx context.Context, tx stmtRunner, c core.Change, now time.Time) (journalID int64, dirty bool, err error) {
	prepare(c, now)
	if c.Order == nil {
		if c.Journal == nil {
			return 0, false, nil
		}
		id, err := db.insertJournalTx(ctx, tx, c.Journal)
		if err != nil {
			return 0, core.ErrorCode(err) != core.EDUPLICATE, err
		}
		if err := db.step("journal"); err != nil {
			return 0, true, err
		}
		return id, false, nil
	}
	if db.dialect == Postgres {
		journalID, dirty, err = db.writeChangePostgres(ctx, tx, c, now)
	} else {
		journalID, dirty, err = db.writeChangeSQLite(ctx, tx, c, now)
	}
	if err != nil {
		return 0, dirty, err
	}
	c.Order.Version = c.ExpectedVersion + 1
	if err := db.steps(c); err != nil {
		return 0, true, err
	}
	return journalID, false, nil
}

// steps calls the fault hook after each part of a written change.
func (db *DB) steps(c core.Change) error {
	for _, s := range []struct {
		name string
		done bool
	}{{"journal", c.Journal != nil}, {"order", true}, {"outbox", len(c.Outbox) > 0}} {
		if s.done {
			if err := db.step(s.name); err != nil {
				return err
			}
		}
	}
	return nil
}

// prepare fills in what c's rows take from the moment they are written
// and cleans their text. It may run again when a group is written again.
func prepare(c core.Change, now time.Time) {
	if j := c.Journal; j != nil {
		if j.CreatedAt.IsZero() {
			j.CreatedAt = now
		}
		if c.Order != nil {
			if !c.HistoryOnly {
				j.OrderVersion = c.ExpectedVersion + 1
			}
			if j.OrderID == "" {
				j.OrderID = c.Order.ID
			}
		}
		j.Clean() // text columns get text; the payload stays bytes
	}
	if o := c.Order; o != nil {
		o.Clean()
		o.UpdatedAt = now
		if o.StatusChangedAt.IsZero() {
			o.StatusChangedAt = now
		}
		if o.Items == nil {
			o.Items = []core.Item{}
		}
		if c.ExpectedVersion == 0 && o.CreatedAt.IsZero() {
			o.CreatedAt = now
		}
	}
}

// refusal names why a change whose order was not written was turned away.
func refusal(c core.Change, journaled bool) error {
	switch {
	case journaled:
		return core.Errorf(core.EDUPLICATE, "event %s/%s was already recorded", c.Journal.Provider, c.Journal.EventID)
	case c.ExpectedVersion == 0:
		return core.Errorf(core.ECONFLICT, "order %s already exists", c.Order.ID)
	}
	return core.Errorf(core.ESTALE, "order %s changed since version %d", c.Order.ID, c.ExpectedVersion)
}

// writeChangePostgres writes c in one statement. Any error of the statement
// aborts PostgreSQL's transaction, so it is dirty.
func (db *DB) writeChangePostgres(ctx context.Context, tx stmtRunner, c core.Change, now time.Time) (int64, bool, error) {
	q, fourth := pgUpdateChange, c.ExpectedVersion
	if c.ExpectedVersion == 0 {
		q, fourth = pgInsertChange, micros(c.Order.CreatedAt)
	}
	args := append(orderArgs(c.Order), c.Order.ID, fourth)
	args = append(args, journalArgs(c.Journal)...)
	args = append(args, c.Journal != nil, micros(now), pq.Array(c.Outbox))
	var version, journalID sql.NullInt64
	var notified int64
	var journaled bool
	if err := tx.queryRow(ctx, q, args...).Scan(&version, &journalID, &notified, &journaled); err != nil {
		if isUniqueViolation(err, "journal_event") {
			// Journaled meanwhile by another transaction; this one is aborted.
			return 0, true, core.Errorf(core.EDUPLICATE, "event %s/%s was already recorded", c.Journal.Provider, c.Journal.EventID)
		}
		return 0, true, db.wrap(err)
	}
	if !version.Valid {
		return 0, false, refusal(c, journaled)
	}
	return journalID.Int64, false, nil
}

// writeChangeSQLite writes the order (with the checks), then the journal
// entry and the outbox records; an error after the order is dirty.
func (db *DB) writeChangeSQLite(ctx context.Context, tx stmtRunner, c core.Change, now time.Time) (int64, bool, error) {
	var provider, eventID any = "", nil
	if c.Journal != nil {
		provider, eventID = c.Journal.Provider, nullString(c.Journal.EventID)
	}
	args := orderArgs(c.Order)
	q := sqliteUpdateOrder
	if c.ExpectedVersion == 0 {
		q = sqliteInsertOrder
		args = append(args, c.Order.ID, micros(c.Order.CreatedAt), provider, eventID)
	} else {
		args = append(args, c.Order.ID, c.ExpectedVersion, provider, eventID)
	}
	res, err := tx.exec(ctx, q, args...)
	if err != nil {
		return 0, true, db.wrap(err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		var journaled bool
		if eventID != nil {
			row := tx.queryRow(ctx, sqliteJournaled, provider, eventID)
			if err := row.Scan(&journaled); err != nil {
				return 0, true, db.wrap(err)
			}
		}
		return 0, false, refusal(c, journaled)
	}
	var journalID int64
	if c.Journal != nil {
		// The order is written: any failure from here on is rolled back.
		if journalID, err = db.insertJournalTx(ctx, tx, c.Journal); err != nil {
			return 0, true, err
		}
	}
	t := micros(now)
	for _, conn := range c.Outbox {
		if _, err := tx.exec(ctx, sqliteOutbox, conn, c.Order.ID, c.ExpectedVersion+1, t, t, t); err != nil {
			return 0, true, db.wrap(err)
		}
	}
	return journalID, false, nil
}

// insertJournalTx appends j inside tx through the prepared statement. A
// verified event seen before fails with EDUPLICATE and writes nothing.
func (db *DB) insertJournalTx(ctx context.Context, tx stmtRunner, j *core.JournalEntry) (int64, error) {
	var id int64
	err := tx.queryRow(ctx, db.q(insertJournalSQL), journalArgs(j)...).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, core.Errorf(core.EDUPLICATE, "event %s/%s was already recorded", j.Provider, j.EventID)
	}
	if err != nil {
		return 0, db.wrap(err)
	}
	return id, nil
}

// stmtRunner runs a change's statements, prepared where they can be: in
// the group's transaction, or (tx nil) on their own, for a lone change that
// is one statement, which PostgreSQL makes atomic by itself.
type stmtRunner struct {
	db *DB
	tx *sqlx.Tx
}

func (r stmtRunner) prepared(ctx context.Context, q string) *sqlx.Stmt {
	s, ok := r.db.stmts.Load(stmtKey{pool: r.db.w, query: q})
	if !ok {
		return nil
	}
	if r.tx != nil {
		return r.tx.StmtxContext(ctx, s.(*sqlx.Stmt))
	}
	return s.(*sqlx.Stmt)
}

func (r stmtRunner) exec(ctx context.Context, q string, args ...any) (sql.Result, error) {
	if s := r.prepared(ctx, q); s != nil {
		return s.ExecContext(ctx, args...)
	}
	if r.tx != nil {
		return r.tx.ExecContext(ctx, q, args...)
	}
	return r.db.w.ExecContext(ctx, q, args...)
}

func (r stmtRunner) query(ctx context.Context, q string, args ...any) (*sqlx.Rows, error) {
	if s := r.prepared(ctx, q); s != nil {
		return s.QueryxContext(ctx, args...)
	}
	if r.tx != nil {
		return r.tx.QueryxContext(ctx, q, args...)
	}
	return r.db.w.QueryxContext(ctx, q, args...)
}

func (r stmtRunner) queryRow(ctx context.Context, q string, args ...any) *sqlx.Row {
	if s := r.prepared(ctx, q); s != nil {
		return s.QueryRowxContext(ctx, args...)
	}
	if r.tx != nil {
		return r.tx.QueryRowxContext(ctx, q, args...)
	}
	return r.db.w.QueryRowxContext(ctx, q, args...)
}

// isUniqueViolation reports a PostgreSQL unique violation of the named index.
func isUniqueViolation(err error, index string) bool {
	var pe *pq.Error
	return errors.As(err, &pe) && pe.Code == "23505" && pe.Constraint == index
}
