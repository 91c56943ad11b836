package bench

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"fmt"
	"strconv"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/paysync/paysync/storage"
)

// The baseline of section 1: what a plain program writes for one paid
// event, in one transaction, statement by statement through the driver
// (database/sql with lib/pq or modernc.org/sqlite, no statement prepared
// ahead): the journal entry with the webhook's body, the whole order row at
// its next version, one outbox record for each of the two CRMs. No HTTP, no
// signature, no read before the write.
const (
	baselineJournal = `INSERT INTO journal (order_id, provider, event_id, source, event_type, verdict,
		status_before, status_after, amount_minor, currency, provider_ref, reason, payload, payload_size,
		payload_sha256, order_version, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`
	baselineOrder = `UPDATE orders SET status = ?, amount_minor = ?, currency = ?, refunded_minor = ?,
		customer = ?, items = ?, delivery = ?, customer_handle = ?, customer_phone = ?, provider = ?,
		provider_ref = ?, payment_url = ?, fixed_link = ?, orphan = ?, reason = ?, request_hash = ?,
		updated_at = ?, status_changed_at = ?, paid_at = ?, expires_at = ?,
		latest_event_id = ?, latest_event_status = ?, latest_event_at = ?, latest_event_precision = ?,
		payment_event_id = ?, payment_event_status = ?, payment_event_at = ?, payment_event_precision = ?,
		expiry_event_id = ?, expiry_event_status = ?, expiry_event_at = ?, expiry_event_precision = ?,
		version = version + 1
		WHERE id = ? AND version = ?`
	baselineOutbox = `INSERT INTO outbox (connector, order_id, order_version, state, attempts, available_at,
		created_at, updated_at) VALUES (?, ?, ?, 'pending', 0, ?, ?, ?)`
)

// baselineOn runs the baseline through the driver's own pool: on SQLite the
// store's one writer connection (SQLite has one writer; more connections
// would only wait on its lock), on PostgreSQL a pool of one connection per
// client, as pgbench runs.
func (in *ingestEnv) baselineOn(ctx context.Context, sc *scratch, prefix string, n, clients int) (*sample, error) {
	if sc.url == "" {
		return in.baseline(ctx, in.db.Writer().DB, prefix, n, clients)
	}
	pool, err := sql.Open("postgres", sc.url)
	if err != nil {
		return nil, err
	}
	defer pool.Close()
	pool.SetMaxOpenConns(clients)
	pool.SetMaxIdleConns(clients)
	return in.baseline(ctx, pool, prefix, n, clients)
}

// baselineRow is what the order rows hold that the baseline writes back.
type baselineRow struct {
	Customer  string         `db:"customer"`
	Items     string         `db:"items"`
	Delivery  string         `db:"delivery"`
	Handle    string         `db:"customer_handle"`
	Phone     string         `db:"customer_phone"`
	Hash      string         `db:"request_hash"`
	ExpiresAt sql.NullInt64  `db:"expires_at"`
	Provider  sql.NullString `db:"provider"`
}

// baseline writes n paid events for n fresh orders from clients at once.
// pool is the driver's connection pool the clients share.
func (in *ingestEnv) baseline(ctx context.Context, pool *sql.DB, prefix string, n, clients int) (*sample, error) {
	if err := in.orders(ctx, prefix, n); err != nil {
		return nil, err
	}
	var row baselineRow
	w := in.db.Writer()
	if err := w.GetContext(ctx, &row, w.Rebind(`SELECT customer, items, delivery, customer_handle, customer_phone,
		request_hash, expires_at, provider FROM orders WHERE id = ?`), in.tmpl.ID); err != nil {
		return nil, err
	}
	bind := sqlx.QUESTION
	if in.db.Dialect() == storage.Postgres {
		bind = sqlx.DOLLAR
	}
	qj, qo, qb := sqlx.Rebind(bind, baselineJournal), sqlx.Rebind(bind, baselineOrder), sqlx.Rebind(bind, baselineOutbox)
	payloads := make([][]byte, n)
	for i := range payloads {
		payloads[i] = eventBody("evt-"+prefix+strconv.Itoa(i), prefix+strconv.Itoa(i))
	}
	if err := in.quiesce(ctx); err != nil {
		return nil, err
	}
	s, err := closedLoop(ctx, n, clients, func(ctx context.Context, i int) error {
		id, ev, body := prefix+strconv.Itoa(i), "evt-"+prefix+strconv.Itoa(i), payloads[i]
		sum := sha256.Sum256(body)
		now := time.Now().UnixMicro()
		tx, err := pool.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		defer tx.Rollback()
		if _, err := tx.ExecContext(ctx, qj, id, "generic", ev, "webhook", "payment.paid", "accepted",
			"pending", "paid", int64(1500000), "AMD", "pi_"+ev, "", body, int64(len(body)), hex.EncodeToString(sum[:]), int64(2), now); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, qo, "paid", int64(1500000), "AMD", int64(0), row.Customer, row.Items, row.Delivery,
			row.Handle, row.Phone, row.Provider.String, "pi_"+ev, "", "", false, "", row.Hash, now, now, now, row.ExpiresAt,
			ev, "paid", nil, int64(0), ev, "paid", nil, int64(0), "", "", nil, int64(0), id, int64(1))
		if err != nil {
			return err
		}
		if k, _ := res.RowsAffected(); k != 1 {
			return fmt.Errorf("baseline: order %s was not at version 1", id)
		}
		for _, c := range benchConnectors {
			if _, err := tx.ExecContext(ctx, qb, c, id, int64(2), now, now, now); err != nil {
				return err
			}
		}
		return tx.Commit()
	})
	return s, err
}
