package storage

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/paysync/paysync/core"
)

type outboxRow struct {
	ID             int64         `db:"id"`
	Connector      string        `db:"connector"`
	OrderID        string        `db:"order_id"`
	OrderVersion   int64         `db:"order_version"`
	State          string        `db:"state"`
	Attempts       int           `db:"attempts"`
	AvailableAt    int64         `db:"available_at"`
	LeaseOwner     string        `db:"lease_owner"`
	LeaseToken     string        `db:"lease_token"`
	LeaseExpiresAt sql.NullInt64 `db:"lease_expires_at"`
	LastError      string        `db:"last_error"`
	ExternalID     string        `db:"external_id"`
	CreatedAt      int64         `db:"created_at"`
	UpdatedAt      int64         `db:"updated_at"`
	DeliveredAt    sql.NullInt64 `db:"delivered_at"`
}

const outboxCols = `id, connector, order_id, order_version, state, attempts, available_at, lease_owner,
	lease_token, lease_expires_at, last_error, external_id, created_at, updated_at, delivered_at`

func (r outboxRow) record() core.OutboxRecord {
	return core.OutboxRecord{
		ID: r.ID, Connector: r.Connector, OrderID: r.OrderID, OrderVersion: r.OrderVersion,
		State: core.DeliveryState(r.State), Attempts: r.Attempts, AvailableAt: fromMicros(r.AvailableAt),
		LeaseOwner: r.LeaseOwner, LeaseToken: r.LeaseToken, LeaseExpiresAt: fromNullMicros(r.LeaseExpiresAt),
		LastError: r.LastError, ExternalID: r.ExternalID, CreatedAt: fromMicros(r.CreatedAt),
		UpdatedAt: fromMicros(r.UpdatedAt), DeliveredAt: fromNullMicros(r.DeliveredAt),
	}
}

func records(rows []outboxRow) []core.OutboxRecord {
	out := make([]core.OutboxRecord, len(rows))
	for i, r := range rows {
		out[i] = r.record()
	}
	return out
}

// The claim picks due records of one connector whose order has no live lease,
// then leases every pending record of those orders, so that one holder sees
// all the versions of an order it is about to sync (they are coalesced into
// one delivery) and no two holders work on one order at once.
//
// PostgreSQL: SKIP LOCKED lets claimers pass each other; a row another claimer
// has just leased is re-checked on its new version and skipped.
const claimPostgres = `
WITH due AS (
	SELECT o.id, o.order_id FROM outbox o
	WHERE o.connector = $1 AND o.state = 'pending' AND o.available_at <= $2
	  AND (o.lease_expires_at IS NULL OR o.lease_expires_at <= $2 OR $7 <> '')
	  AND NOT EXISTS (SELECT 1 FROM outbox b WHERE b.connector = o.connector AND b.order_id = o.order_id
	                  AND b.state = 'pending' AND b.lease_expires_at > $2 AND $7 = '')
	ORDER BY o.available_at, o.id
	LIMIT $3
	FOR UPDATE SKIP LOCKED
), grp AS (
	SELECT g.id FROM outbox g
	WHERE g.connector = $1 AND g.state = 'pending' AND g.order_id IN (SELECT order_id FROM due)
	  AND (g.lease_expires_at IS NULL OR g.lease_expires_at <= $2 OR $7 <> '')
	FOR UPDATE SKIP LOCKED
)
UPDATE outbox SET lease_owner = $4, lease_token = $5, lease_expires_at = $6,
	attempts = outbox.attempts + 1, updated_at = $2
FROM grp WHERE outbox.id = grp.id
  AND (outbox.lease_expires_at IS NULL OR outbox.lease_expires_at <= $2 OR $7 <> '')
RETURNING ` + `outbox.id, outbox.connector, outbox.order_id, outbox.order_version, outbox.state, outbox.attempts,
	outbox.available_at, outbox.lease_owner, outbox.lease_token, outbox.lease_expires_at, outbox.last_error,
	outbox.external_id, outbox.created_at, outbox.updated_at, outbox.delivered_at`

// SQLite has a single writer, so the same selection needs no row locks.
const claimSQLite = `
UPDATE outbox SET lease_owner = ?4, lease_token = ?5, lease_expires_at = ?6,
	attempts = attempts + 1, updated_at = ?2
WHERE id IN (
	SELECT g.id FROM outbox g INDEXED BY outbox_order
	WHERE g.connector = ?1 AND g.state = 'pending'
	  AND (g.lease_expires_at IS NULL OR g.lease_expires_at <= ?2 OR ?7 <> '')
	  AND g.order_id IN (
		SELECT o.order_id FROM outbox o
		WHERE o.connector = ?1 AND o.state = 'pending' AND o.available_at <= ?2
		  AND (o.lease_expires_at IS NULL OR o.lease_expires_at <= ?2 OR ?7 <> '')
		  AND NOT EXISTS (SELECT 1 FROM outbox b INDEXED BY outbox_order WHERE b.connector = o.connector AND b.order_id = o.order_id
		                  AND b.state = 'pending' AND b.lease_expires_at > ?2 AND ?7 = '')
		ORDER BY o.available_at, o.id
		LIMIT ?3))
RETURNING ` + outboxCols

// ClaimOutbox leases a batch of due records to r.Owner under r.Token.
//
// With a Fence (the claimer leads the connector at that generation) it also
// takes records still held under an unexpired claim: only the leader
// claims, one batch at a time, so they are a former leader's (which can no
// longer settle them: the fence refuses it) or the leader's own from a
// batch whose settlement failed. A new leader thus picks up a dead one's
// records at once instead of a whole claim lease later.
func (db *DB) ClaimOutbox(ctx context.Context, r core.ClaimRequest) ([]core.OutboxRecord, error) {
	if r.Token == "" || r.Lease <= 0 || r.Limit <= 0 {
		return nil, core.Errorf(core.EINVALID, "claim needs a token, a lease and a limit")
	}
	now := r.Now
	if now.IsZero() {
		now = time.Now()
	}
	q := claimSQLite
	if db.dialect == Postgres {
		q = claimPostgres
	}
	var rows []outboxRow
	steal := "" // "" unless fenced: then records under a live claim are taken too
	if r.Fence != nil {
		steal = "fenced"
	}
	args := []any{r.Connector, micros(now), r.Limit, r.Owner, r.Token, micros(now.Add(r.Lease)), steal}
	if r.Fence == nil {
		if err := db.w.SelectContext(ctx, &rows, q, args...); err != nil {
			return nil, db.wrap(err)
		}
		return records(rows), nil
	}
	// The fenced claim is a write transaction (the fence, then the claim).
	// A leader polls for work far more often than it finds any, so it
	// looks first on a reader: an idle poll then takes no write lock, which
	// on SQLite every other write of every replica would queue behind.
	var due bool
	if err := db.r.GetContext(ctx, &due, db.q(`SELECT EXISTS (SELECT 1 FROM outbox
		WHERE connector = ? AND state = 'pending' AND available_at <= ?)`), r.Connector, micros(now)); err != nil {
		return nil, db.wrap(err)
	}
	if !due {
		return nil, nil
	}
	err := db.inTx(ctx, func(tx *sqlx.Tx) error {
		ok, err := db.fenceHolds(ctx, tx, r.Fence)
		if err != nil || !ok {
			return err // a replica that lost its lease claims nothing
		}
		return db.wrap(tx.SelectContext(ctx, &rows, q, args...))
	})
	if err != nil {
		return nil, err
	}
	return records(rows), nil
}

// CompleteOutbox settles a claimed record. It is refused with ELEASELOST when
// the record is no longer held under c.Token (the lease expired and another
// holder reclaimed it, or it was settled already).
func (db *DB) CompleteOutbox(ctx context.Context, c core.Completion) error {
	return db.inTx(ctx, func(tx *sqlx.Tx) error {
		ok, err := db.fenceHolds(ctx, tx, c.Fence)
		if err != nil {
			return err
		}
		if ok {
			ok, err = db.settle(ctx, tx, c)
		}
		if err != nil {
			return err
		}
		if !ok {
			return core.Errorf(core.ELEASELOST, "outbox record %d is no longer held under this lease", c.ID)
		}
		if err := db.journalCompletion(ctx, tx, c); err != nil {
			return err
		}
		if c.Outcome == core.OutcomeDelivered && c.Link != nil {
			return db.upsertLink(ctx, tx, *c.Link, nowOr(c.Now))
		}
		return nil
	})
}

// settle applies one completion inside tx; false when the record is no
// longer held under c.Token.
func (db *DB) settle(ctx context.Context, tx *sqlx.Tx, c core.Completion) (bool, error) {
	now := micros(nowOr(c.Now))
	c.Error = core.CleanText(c.Error) // a CRM's error text may quote any bytes
	var res sql.Result
	var err error
	switch c.Outcome {
	case core.OutcomeDelivered:
		ext := ""
		if c.Link != nil {
			ext = c.Link.ExternalID
		}
		res, err = tx.ExecContext(ctx, db.q(`UPDATE outbox SET state = 'delivered', delivered_at = ?, updated_at = ?,
			lease_token = '', lease_expires_at = NULL, last_error = '', external_id = ?
			WHERE id = ? AND lease_token = ? AND state = 'pending'`), now, now, ext, c.ID, c.Token)
	case core.OutcomeRetry:
		res, err = tx.ExecContext(ctx, db.q(`UPDATE outbox SET available_at = ?, updated_at = ?, last_error = ?,
			lease_token = '', lease_expires_at = NULL
			WHERE id = ? AND lease_token = ? AND state = 'pending'`), micros(c.AvailableAt), now, c.Error, c.ID, c.Token)
	case core.OutcomeRelease:
		res, err = tx.ExecContext(ctx, db.q(`UPDATE outbox SET available_at = ?, updated_at = ?, attempts = attempts - 1,
			lease_token = '', lease_expires_at = NULL
			WHERE id = ? AND lease_token = ? AND state = 'pending'`), micros(c.AvailableAt), now, c.ID, c.Token)
	case core.OutcomeDead:
		res, err = tx.ExecContext(ctx, db.q(`UPDATE outbox SET state = 'dead', updated_at = ?, last_error = ?,
			lease_token = '', lease_expires_at = NULL
			WHERE id = ? AND lease_token = ? AND state = 'pending'`), now, c.Error, c.ID, c.Token)
	default:
		return false, core.Errorf(core.EINVALID, "unknown outcome %q", c.Outcome)
	}
	if err != nil {
		return false, db.wrap(err)
	}
	n, _ := res.RowsAffected()
	return n > 0, nil
}

// upsertLink records what the CRM holds for an order, never moving the synced
// version backwards.
func (db *DB) upsertLink(ctx context.Context, tx *sqlx.Tx, l core.CRMLink, now time.Time) error {
	_, err := tx.ExecContext(ctx, db.q(`INSERT INTO crm_links (connector, order_id, external_id, synced_version, synced_status, data, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (connector, order_id) DO UPDATE SET external_id = excluded.external_id,
			synced_version = excluded.synced_version, synced_status = excluded.synced_status,
			data = excluded.data, updated_at = excluded.updated_at
		WHERE crm_links.synced_version <= excluded.synced_version`),
		l.Connector, l.OrderID, core.CleanText(l.ExternalID), l.SyncedVersion, string(l.SyncedStatus), core.CleanText(l.Data), micros(now))
	return db.wrap(err)
}

// ListOutbox lists records of a connector ("" for all) in a state ("" for all), newest first.
func (db *DB) ListOutbox(ctx context.Context, connector string, state core.DeliveryState, limit int) ([]core.OutboxRecord, error) {
	where, args := []string{"1=1"}, []any{}
	if connector != "" {
		where, args = append(where, "connector = ?"), append(args, connector)
	}
	if state != "" {
		where, args = append(where, "state = ?"), append(args, string(state))
	}
	if limit <= 0 || limit > 1000 {
		limit = 100
	}
	var rows []outboxRow
	err := db.r.SelectContext(ctx, &rows, db.q(`SELECT `+outboxCols+` FROM outbox WHERE `+strings.Join(where, " AND ")+
		` ORDER BY id DESC LIMIT ?`), append(args, limit)...)
	return records(rows), db.wrap(err)
}

// OrderDeliveries lists an order's outbox records, oldest first.
func (db *DB) OrderDeliveries(ctx context.Context, orderID string) ([]core.OutboxRecord, error) {
	var rows []outboxRow
	err := db.r.SelectContext(ctx, &rows, db.q(`SELECT `+outboxCols+` FROM outbox WHERE order_id = ? ORDER BY id`), orderID)
	return records(rows), db.wrap(err)
}

// OutboxStats counts records per connector and state; Delivered counts
// orders (an order delivered at each of its changes is one order).
func (db *DB) OutboxStats(ctx context.Context) ([]core.OutboxStat, error) {
	var rows []struct {
		Connector string        `db:"connector"`
		State     string        `db:"state"`
		N         int64         `db:"n"`
		Orders    int64         `db:"orders"`
		Oldest    sql.NullInt64 `db:"oldest"`
	}
	if err := db.r.SelectContext(ctx, &rows, `SELECT connector, state, COUNT(*) AS n, COUNT(DISTINCT order_id) AS orders, MIN(created_at) AS oldest
		FROM outbox GROUP BY connector, state ORDER BY connector`); err != nil {
		return nil, db.wrap(err)
	}
	var out []core.OutboxStat
	idx := map[string]int{}
	for _, r := range rows {
		i, ok := idx[r.Connector]
		if !ok {
			i = len(out)
			idx[r.Connector] = i
			out = append(out, core.OutboxStat{Connector: r.Connector})
		}
		switch core.DeliveryState(r.State) {
		case core.DeliveryPending:
			out[i].Pending = r.N
			if r.Oldest.Valid {
				out[i].OldestPending = fromMicros(r.Oldest.Int64)
			}
		case core.DeliveryDead:
			out[i].Dead = r.N
		case core.DeliveryDelivered:
			out[i].Delivered = r.Orders
		}
	}
	return out, nil
}

// RetryOutbox requeues one dead record.
func (db *DB) RetryOutbox(ctx context.Context, id int64, now time.Time) error {
	res, err := db.w.ExecContext(ctx, db.q(`UPDATE outbox SET state = 'pending', available_at = ?, updated_at = ?,
		lease_token = '', lease_expires_at = NULL WHERE id = ? AND state = 'dead'`), micros(now), micros(now), id)
	if err != nil {
		return db.wrap(err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return core.Errorf(core.ENOTFOUND, "no dead outbox record with id %d (see `paysync outbox dead`)", id)
	}
	db.notifyAll()
	return nil
}

// RetryAllDead requeues every dead record of a connector ("" for all).
func (db *DB) RetryAllDead(ctx context.Context, connector string, now time.Time) (int64, error) {
	q, args := `UPDATE outbox SET state = 'pending', available_at = ?, updated_at = ?, lease_token = '', lease_expires_at = NULL
		WHERE state = 'dead'`, []any{micros(now), micros(now)}
	if connector != "" {
		q, args = q+` AND connector = ?`, append(args, connector)
	}
	return db.execDue(ctx, q, args...)
}

// ExpediteOutbox makes connector's waiting records due now.
func (db *DB) ExpediteOutbox(ctx context.Context, connector string, now time.Time) (int64, error) {
	at := micros(now)
	return db.execDue(ctx, `UPDATE outbox SET available_at = ?, updated_at = ?
		WHERE connector = ? AND state = 'pending' AND available_at > ?
		  AND (lease_expires_at IS NULL OR lease_expires_at <= ?)`, at, at, connector, at, at)
}

// execDue runs an update that makes outbox records due, and wakes the
// dispatchers when it moved any. It returns how many.
func (db *DB) execDue(ctx context.Context, q string, args ...any) (int64, error) {
	res, err := db.w.ExecContext(ctx, db.q(q), args...)
	if err != nil {
		return 0, db.wrap(err)
	}
	n, _ := res.RowsAffected()
	if n > 0 {
		db.notifyAll()
	}
	return n, nil
}

// Enqueue asks connectors to re-sync an order at its current version.
func (db *DB) Enqueue(ctx context.Context, orderID string, connectors []string, now time.Time) error {
	err := db.inTx(ctx, func(tx *sqlx.Tx) error {
		var v int64
		err := tx.GetContext(ctx, &v, db.q(`SELECT version FROM orders WHERE id = ?`), orderID)
		if errors.Is(err, sql.ErrNoRows) {
			return notFound("order", orderID)
		}
		if err != nil {
			return db.wrap(err)
		}
		return db.insertOutbox(ctx, tx, orderID, v, connectors, now)
	})
	if err == nil {
		db.notifyLocal(connectors)
	}
	return err
}

// PurgeDelivered deletes delivered records older than the cutoff; the journal stays.
func (db *DB) PurgeDelivered(ctx context.Context, olderThan time.Time) (int64, error) {
	res, err := db.w.ExecContext(ctx, db.q(`DELETE FROM outbox WHERE state = 'delivered' AND delivered_at < ?`), micros(olderThan))
	if err != nil {
		return 0, db.wrap(err)
	}
	return res.RowsAffected()
}

type linkRow struct {
	core.CRMLink
	UpdatedUS int64 `db:"updated_at"`
}

// GetLink returns the link of an order in one connector, or nil.
func (db *DB) GetLink(ctx context.Context, connector, orderID string) (*core.CRMLink, error) {
	var r linkRow
	err := db.r.GetContext(ctx, &r, db.q(`SELECT connector, order_id, external_id, synced_version, synced_status, data, updated_at
		FROM crm_links WHERE connector = ? AND order_id = ?`), connector, orderID)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, db.wrap(err)
	}
	l := r.CRMLink
	l.UpdatedAt = fromMicros(r.UpdatedUS)
	return &l, nil
}

// ListLinks returns an order's links in every connector.
func (db *DB) ListLinks(ctx context.Context, orderID string) ([]core.CRMLink, error) {
	var rows []linkRow
	err := db.r.SelectContext(ctx, &rows, db.q(`SELECT connector, order_id, external_id, synced_version, synced_status, data, updated_at
		FROM crm_links WHERE order_id = ? ORDER BY connector`), orderID)
	out := make([]core.CRMLink, len(rows))
	for i, r := range rows {
		out[i] = r.CRMLink
		out[i].UpdatedAt = fromMicros(r.UpdatedUS)
	}
	return out, db.wrap(err)
}
