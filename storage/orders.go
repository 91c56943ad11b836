package storage

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jmoiron/sqlx"

	"github.com/paysync/paysync/core"
)

type orderRow struct {
	ID              string        `db:"id"`
	Status          string        `db:"status"`
	AmountMinor     int64         `db:"amount_minor"`
	Currency        string        `db:"currency"`
	RefundedMinor   int64         `db:"refunded_minor"`
	Customer        string        `db:"customer"`
	Items           string        `db:"items"`
	Delivery        string        `db:"delivery"`
	Provider        string        `db:"provider"`
	ProviderRef     string        `db:"provider_ref"`
	PaymentURL      string        `db:"payment_url"`
	FixedLink       string        `db:"fixed_link"`
	Orphan          bool          `db:"orphan"`
	Reason          string        `db:"reason"`
	RequestHash     string        `db:"request_hash"`
	CreatedAt       int64         `db:"created_at"`
	UpdatedAt       int64         `db:"updated_at"`
	StatusChangedAt int64         `db:"status_changed_at"`
	PaidAt          sql.NullInt64 `db:"paid_at"`
	ExpiresAt       sql.NullInt64 `db:"expires_at"`
	Version         int64         `db:"version"`
	historyRow
}

// historyRow holds core.PaymentHistory: three events, each an id, a status,
// a time (unix µs, NULL when the provider gave none) and its precision (µs).
type historyRow struct {
	LatestID         string        `db:"latest_event_id"`
	LatestStatus     string        `db:"latest_event_status"`
	LatestAt         sql.NullInt64 `db:"latest_event_at"`
	LatestPrecision  int64         `db:"latest_event_precision"`
	PaymentID        string        `db:"payment_event_id"`
	PaymentStatus    string        `db:"payment_event_status"`
	PaymentAt        sql.NullInt64 `db:"payment_event_at"`
	PaymentPrecision int64         `db:"payment_event_precision"`
	ExpiryID         string        `db:"expiry_event_id"`
	ExpiryStatus     string        `db:"expiry_event_status"`
	ExpiryAt         sql.NullInt64 `db:"expiry_event_at"`
	ExpiryPrecision  int64         `db:"expiry_event_precision"`
	PaymentRefs      string        `db:"payment_refs"` // a JSON array, or '' for none
}

const historyCols = `latest_event_id, latest_event_status, latest_event_at, latest_event_precision,
	payment_event_id, payment_event_status, payment_event_at, payment_event_precision,
	expiry_event_id, expiry_event_status, expiry_event_at, expiry_event_precision, payment_refs`

func (r *historyRow) history() core.PaymentHistory {
	mark := func(id, status string, at sql.NullInt64, precision int64) core.EventMark {
		m := core.EventMark{EventID: id, Status: core.Status(status)}
		if at.Valid {
			m.Time = core.EventTime{At: time.UnixMicro(at.Int64).UTC(), Precision: time.Duration(precision) * time.Microsecond}
		}
		return m
	}
	h := core.PaymentHistory{
		Latest:  mark(r.LatestID, r.LatestStatus, r.LatestAt, r.LatestPrecision),
		Payment: mark(r.PaymentID, r.PaymentStatus, r.PaymentAt, r.PaymentPrecision),
		Expiry:  mark(r.ExpiryID, r.ExpiryStatus, r.ExpiryAt, r.ExpiryPrecision),
	}
	if r.PaymentRefs != "" {
		json.Unmarshal([]byte(r.PaymentRefs), &h.PaymentRefs) // written by historyArgs
	}
	return h
}

// historyArgs are the values of historyCols, in order.
func historyArgs(h core.PaymentHistory) []any {
	var args []any
	for _, m := range []core.EventMark{h.Latest, h.Payment, h.Expiry} {
		at, precision := sql.NullInt64{}, int64(0)
		if m.Time.Known() {
			at = sql.NullInt64{Int64: m.Time.At.UnixMicro(), Valid: true}
			precision = m.Time.Precision.Microseconds()
		}
		args = append(args, m.EventID, string(m.Status), at, precision)
	}
	refs := ""
	if len(h.PaymentRefs) > 0 {
		refs = mustJSON(h.PaymentRefs)
	}
	return append(args, refs)
}

const orderCols = `id, status, amount_minor, currency, refunded_minor, customer, items, delivery,
	provider, provider_ref, payment_url, fixed_link, orphan, reason, request_hash,
	created_at, updated_at, status_changed_at, paid_at, expires_at, version, ` + historyCols

func (r *orderRow) order() (core.Order, error) {
	o := core.Order{
		ID: r.ID, Status: core.Status(r.Status), AmountMinor: r.AmountMinor, Currency: r.Currency,
		RefundedMinor: r.RefundedMinor, Provider: r.Provider, ProviderRef: r.ProviderRef,
		PaymentURL: r.PaymentURL, FixedLink: r.FixedLink, Orphan: r.Orphan, Reason: r.Reason,
		RequestHash: r.RequestHash, CreatedAt: fromMicros(r.CreatedAt), UpdatedAt: fromMicros(r.UpdatedAt),
		StatusChangedAt: fromMicros(r.StatusChangedAt), PaidAt: fromNullMicros(r.PaidAt),
		ExpiresAt: fromNullMicros(r.ExpiresAt), Version: r.Version, History: r.history(),
	}
	if err := json.Unmarshal([]byte(r.Customer), &o.Customer); err != nil {
		return o, err
	}
	if err := json.Unmarshal([]byte(r.Items), &o.Items); err != nil {
		return o, err
	}
	if r.Delivery != "" && r.Delivery != "{}" && r.Delivery != "null" {
		if err := json.Unmarshal([]byte(r.Delivery), &o.Shipping); err != nil {
			return o, err
		}
	}
	if o.Items == nil {
		o.Items = []core.Item{}
	}
	return o, nil
}

func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return "null"
	}
	return string(b)
}

// Apply writes a journal entry, an order and its outbox records in one
// transaction, shared with the changes other callers apply at the same
// moment (group commit, see commit.go). It returns once that transaction
// has committed, with this change's own outcome.
func (db *DB) Apply(ctx context.Context, c core.Change) error {
	if c.HistoryOnly && (c.Order == nil || len(c.Outbox) > 0) {
		return core.Errorf(core.EINTERNAL, "a history-only change updates an order and enqueues no deliveries")
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	_, err := db.submit(ctx, c)
	return err
}

// insertJournal appends j inside tx and returns its id. A verified event
// seen before fails with EDUPLICATE.
func (db *DB) insertJournal(ctx context.Context, tx *sqlx.Tx, j *core.JournalEntry) (int64, error) {
	j.Clean() // text columns get text; the payload stays bytes
	var id int64
	err := tx.QueryRowxContext(ctx, db.q(insertJournalSQL), journalArgs(j)...).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, core.Errorf(core.EDUPLICATE, "event %s/%s was already recorded", j.Provider, j.EventID)
	}
	if err != nil {
		return 0, db.wrap(err)
	}
	return id, nil
}

// journalCompletion appends what a settled completion asks to journal.
func (db *DB) journalCompletion(ctx context.Context, tx *sqlx.Tx, c core.Completion) error {
	if c.Journal == nil {
		return nil
	}
	j := *c.Journal
	if j.CreatedAt.IsZero() {
		j.CreatedAt = nowOr(c.Now)
	}
	_, err := db.insertJournal(ctx, tx, &j)
	return err
}

func (db *DB) insertOutbox(ctx context.Context, tx *sqlx.Tx, orderID string, version int64, connectors []string, now time.Time) error {
	for _, c := range connectors {
		if _, err := tx.ExecContext(ctx, db.q(`INSERT INTO outbox
			(connector, order_id, order_version, state, attempts, available_at, created_at, updated_at)
			VALUES (?, ?, ?, 'pending', 0, ?, ?, ?)`), c, orderID, version, micros(now), micros(now), micros(now)); err != nil {
			return db.wrap(err)
		}
	}
	if db.dialect == Postgres && len(connectors) > 0 {
		// Delivered to listeners at commit, to every replica.
		for _, c := range connectors {
			if _, err := tx.ExecContext(ctx, `SELECT pg_notify('paysync_outbox', $1)`, c); err != nil {
				return db.wrap(err)
			}
		}
	}
	return nil
}

const getOrderSQL = `SELECT ` + orderCols + ` FROM orders WHERE id = ?`

// GetOrder reads one order (a prepared statement: it is on every webhook's path).
func (db *DB) GetOrder(ctx context.Context, id string) (core.Order, error) {
	if !core.IsText(id) {
		// Stored ids are text; PostgreSQL would refuse to even compare this one.
		return core.Order{}, notFound("order", core.CleanText(id))
	}
	var r orderRow
	var err error
	if s := db.prepared(ctx, db.r, db.q(getOrderSQL)); s != nil {
		err = s.GetContext(ctx, &r, id)
	} else {
		err = db.r.GetContext(ctx, &r, db.q(getOrderSQL), id)
	}
	if errors.Is(err, sql.ErrNoRows) {
		return core.Order{}, notFound("order", id)
	}
	if err != nil {
		return core.Order{}, db.wrap(err)
	}
	o, err := r.order()
	return o, db.wrap(err)
}

func (db *DB) selectOrders(ctx context.Context, query string, args ...any) ([]core.Order, error) {
	var rows []orderRow
	if err := db.r.SelectContext(ctx, &rows, db.q(query), args...); err != nil {
		return nil, db.wrap(err)
	}
	out := make([]core.Order, 0, len(rows))
	for i := range rows {
		o, err := rows[i].order()
		if err != nil {
			return nil, db.wrap(err)
		}
		out = append(out, o)
	}
	return out, nil
}

// ListOrders lists orders newest first, filtered by status and a search text.
// CountOrders counts the orders in each status (for /metrics).
func (db *DB) CountOrders(ctx context.Context) (map[core.Status]int64, error) {
	var rows []struct {
		Status core.Status `db:"status"`
		N      int64       `db:"n"`
	}
	if err := db.r.SelectContext(ctx, &rows, `SELECT status, COUNT(*) AS n FROM orders GROUP BY status`); err != nil {
		return nil, db.wrap(err)
	}
	out := make(map[core.Status]int64, len(rows))
	for _, r := range rows {
		out[r.Status] = r.N
	}
	return out, nil
}

func (db *DB) ListOrders(ctx context.Context, q core.OrderQuery) ([]core.Order, error) {
	// PostgreSQL refuses such text and SQLite ends a LIKE pattern at a NUL
	// (matching everything): refuse it the same way on both.
	for _, f := range []struct{ name, value string }{{"q", q.Q}, {"before", q.Before}, {"status", string(q.Status)}} {
		if err := core.CheckText(f.name, f.value); err != nil {
			return nil, err
		}
	}
	where := []string{"1=1"}
	var args []any
	if q.Status != "" {
		where = append(where, "status = ?")
		args = append(args, string(q.Status))
	}
	if q.Before != "" {
		where = append(where, "(created_at, id) < (SELECT created_at, id FROM orders WHERE id = ?)")
		args = append(args, q.Before)
	}
	limit := q.Limit
	if limit <= 0 || limit > 500 {
		limit = 100
	}
	s := core.SearchPattern(q.Q)
	if s == "" {
		return db.selectOrders(ctx, `SELECT `+orderCols+` FROM orders WHERE `+strings.Join(where, " AND ")+
			` ORDER BY created_at DESC, id DESC LIMIT ?`, append(args, limit)...)
	}
	// A common word (a surname thousands of orders share) fills the page
	// from the newest orders alone; the trigram index, whose cost grows
	// with every order that matches, is left for rarer ones. If the page is
	// full, no older match can belong on it. A run of digits (a phone, an
	// order number) is rare: it goes to the index at once.
	if specific(s) {
		return db.searchIndexed(ctx, where, args, s, limit)
	}
	if db.dialect == Postgres {
		// The newest orders are read whole (MATERIALIZED): pg_trgm
		// estimates a long word at 100 matches whatever it holds, and the
		// planner would fetch and sort all 16,667 orders of a surname.
		recent, err := db.selectOrders(ctx, `WITH recent AS MATERIALIZED (SELECT id, created_at, search FROM orders WHERE `+
			strings.Join(where, " AND ")+` ORDER BY created_at DESC, id DESC LIMIT ?)
			SELECT `+orderCols+` FROM orders WHERE id IN (SELECT id FROM recent WHERE search LIKE ? ESCAPE '\'
				ORDER BY created_at DESC, id DESC LIMIT ?)
			ORDER BY created_at DESC, id DESC`, append(slices.Clone(args), searchWindow, "%"+escapeLike(s)+"%", limit)...)
		if err != nil || len(recent) == limit {
			return recent, err
		}
		return db.searchIndexed(ctx, where, args, s, limit)
	}
	// The window's oldest order; none: the window holds every order, and
	// what it finds is the whole answer.
	var floor []struct {
		CreatedUS int64  `db:"created_at"`
		ID        string `db:"id"`
	}
	if err := db.r.SelectContext(ctx, &floor, db.q(`SELECT created_at, id FROM orders WHERE `+strings.Join(where, " AND ")+
		` ORDER BY created_at DESC, id DESC LIMIT 1 OFFSET ?`), append(slices.Clone(args), searchWindow-1)...); err != nil {
		return nil, db.wrap(err)
	}
	window, wargs := slices.Clone(where), slices.Clone(args)
	if len(floor) == 1 {
		window = append(window, "(created_at, id) >= (?, ?)")
		wargs = append(wargs, floor[0].CreatedUS, floor[0].ID)
	}
	wargs = append(wargs, "%"+escapeLike(s)+"%")
	// Read newest first, the scan stops at a full page.
	recent, err := db.selectOrders(ctx, `SELECT `+orderCols+` FROM orders WHERE `+strings.Join(window, " AND ")+
		` AND search LIKE ? ESCAPE '\' ORDER BY created_at DESC, id DESC LIMIT ?`, append(wargs, limit)...)
	if err != nil || len(recent) == limit || len(floor) == 0 {
		return recent, err
	}
	return db.searchIndexed(ctx, where, args, s, limit)
}

func (db *DB) searchIndexed(ctx context.Context, where []string, args []any, pattern string, limit int) ([]core.Order, error) {
	w, a := db.searchClause(pattern)
	return db.selectOrders(ctx, `SELECT `+orderCols+` FROM orders WHERE `+strings.Join(append(where, w), " AND ")+
		` ORDER BY created_at DESC, id DESC LIMIT ?`, append(append(args, a...), limit)...)
}

// specific says a search pattern holds four digits in a row: part of a
// phone, an order number or a numbered handle, which few orders share.
func specific(pattern string) bool {
	run := 0
	for _, r := range pattern {
		if r < '0' || r > '9' {
			run = 0
		} else if run++; run >= 4 {
			return true
		}
	}
	return false
}

// searchWindow is how many of the newest orders a search reads at most
// before it turns to the index: enough for a word one order in 200 holds
// to fill a page, few enough to read in a few milliseconds.
var searchWindow = 10_000

// searchClause matches orders whose search text (core.SearchText) holds
// pattern. Three characters or more are looked up in the trigram index
// (SQLite's FTS5 table, PostgreSQL's pg_trgm index); shorter ones, and
// patterns with LIKE's own characters, read the orders newest first.
func (db *DB) searchClause(pattern string) (string, []any) {
	like := "%" + escapeLike(pattern) + "%"
	if db.dialect == SQLite && utf8.RuneCountInString(pattern) >= 3 && !strings.ContainsAny(pattern, `%_\`) {
		return `rowid IN (SELECT rowid FROM orders_search WHERE orders_search.search LIKE ?)`, []any{"%" + pattern + "%"}
	}
	return `search LIKE ? ESCAPE '\'`, []any{like}
}

func escapeLike(s string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(s)
}

// DueOrders lists orders in the given statuses whose status changed in [after, before).
func (db *DB) DueOrders(ctx context.Context, statuses []core.Status, after, before time.Time, limit int) ([]core.Order, error) {
	ph, args := statusArgs(statuses)
	if ph == "" {
		return nil, nil
	}
	args = append(args, micros(after), micros(before), limit)
	return db.selectOrders(ctx, `SELECT `+orderCols+` FROM orders WHERE status IN (`+ph+`)
		AND status_changed_at >= ? AND status_changed_at < ? ORDER BY status_changed_at, id LIMIT ?`, args...)
}

// ExpiredOrders lists orders in the given statuses whose expiry has passed.
func (db *DB) ExpiredOrders(ctx context.Context, statuses []core.Status, now time.Time, limit int) ([]core.Order, error) {
	ph, args := statusArgs(statuses)
	if ph == "" {
		return nil, nil
	}
	args = append(args, micros(now), limit)
	return db.selectOrders(ctx, `SELECT `+orderCols+` FROM orders WHERE status IN (`+ph+`)
		AND expires_at IS NOT NULL AND expires_at <= ? ORDER BY expires_at, id LIMIT ?`, args...)
}

// statusArgs returns "?, ?" placeholders and arguments for a status list.
func statusArgs(statuses []core.Status) (string, []any) {
	args := make([]any, 0, len(statuses)+3)
	for _, s := range statuses {
		args = append(args, string(s))
	}
	return strings.TrimSuffix(strings.Repeat("?, ", len(statuses)), ", "), args
}

type journalRow struct {
	core.JournalEntry
	OrderIDN  sql.NullString `db:"order_id"`
	EventIDN  sql.NullString `db:"event_id"`
	CreatedUS int64          `db:"created_at"`
}

// ListJournal returns an order's journal, oldest first.
func (db *DB) ListJournal(ctx context.Context, orderID string) ([]core.JournalEntry, error) {
	var rows []journalRow
	if !core.IsText(orderID) {
		return []core.JournalEntry{}, nil // no stored id is anything else
	}
	err := db.r.SelectContext(ctx, &rows, db.q(`SELECT id, order_id, provider, event_id, source, event_type, verdict,
		status_before, status_after, amount_minor, currency, provider_ref, reason, payload, payload_size, payload_sha256,
		order_version, created_at
		FROM journal WHERE order_id = ? ORDER BY id`), orderID)
	if err != nil {
		return nil, db.wrap(err)
	}
	out := make([]core.JournalEntry, len(rows))
	for i, r := range rows {
		e := r.JournalEntry
		e.OrderID, e.EventID, e.CreatedAt = r.OrderIDN.String, r.EventIDN.String, fromMicros(r.CreatedUS)
		out[i] = e
	}
	return out, nil
}

// CountStatus counts the orders in one status (the console's menu shows
// how many need review); the status index answers it.
func (db *DB) CountStatus(ctx context.Context, status core.Status) (int64, error) {
	var n int64
	err := db.r.GetContext(ctx, &n, db.q(`SELECT COUNT(*) FROM orders WHERE status = ?`), string(status))
	return n, db.wrap(err)
}
