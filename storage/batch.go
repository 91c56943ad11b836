package storage

// The dispatcher's batch API (core.BatchStore). The dispatcher falls back to
// the core.Store methods one record at a time when a store lacks it. One
// batch of 100 orders costs three reads and one write transaction instead of
// ~400 statements.

import (
	"context"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"github.com/paysync/paysync/core"
)

var _ core.BatchStore = (*DB)(nil)

// LoadDeliveries returns, for each known order of orderIDs, what a connector
// needs to bring its CRM in step: the order as stored now, its link in
// connector (nil when never synced) and the journal entries that moved it
// past the link's synced version, oldest first. Unknown ids are left out.
func (db *DB) LoadDeliveries(ctx context.Context, connector string, orderIDs []string) ([]core.Delivery, error) {
	if len(orderIDs) == 0 {
		return nil, nil
	}
	in, args := db.inList(orderIDs)
	orders, err := db.selectOrders(ctx, `SELECT `+orderCols+` FROM orders WHERE id IN (`+in+`)`, args...)
	if err != nil {
		return nil, err
	}

	var links []linkRow
	err = db.r.SelectContext(ctx, &links, db.q(`SELECT connector, order_id, external_id, synced_version, synced_status, data, updated_at
		FROM crm_links WHERE connector = ? AND order_id IN (`+in+`)`), append([]any{connector}, args...)...)
	if err != nil {
		return nil, db.wrap(err)
	}
	linkOf := make(map[string]*core.CRMLink, len(links))
	for _, r := range links {
		l := r.CRMLink
		l.UpdatedAt = fromMicros(r.UpdatedUS)
		linkOf[l.OrderID] = &l
	}

	// Only the entries the CRM has not seen: a long-lived order keeps a long
	// journal. Without their payloads, which mappings do not use and which
	// may be a whole webhook body each.
	var rows []journalRow
	err = db.r.SelectContext(ctx, &rows, db.q(`SELECT j.id, j.order_id, j.provider, j.event_id, j.source, j.event_type, j.verdict,
		j.status_before, j.status_after, j.amount_minor, j.currency, j.provider_ref, j.reason, j.payload_size, j.payload_sha256,
		j.order_version, j.created_at
		FROM journal j
		WHERE j.order_id IN (`+in+`) AND j.order_version > COALESCE(
			(SELECT l.synced_version FROM crm_links l WHERE l.connector = ? AND l.order_id = j.order_id), 0)
		ORDER BY j.order_id, j.id`), append(args, connector)...)
	if err != nil {
		return nil, db.wrap(err)
	}
	journal := map[string][]core.JournalEntry{}
	for _, r := range rows {
		e := r.JournalEntry
		e.OrderID, e.EventID, e.CreatedAt = r.OrderIDN.String, r.EventIDN.String, fromMicros(r.CreatedUS)
		journal[e.OrderID] = append(journal[e.OrderID], e)
	}

	out := make([]core.Delivery, 0, len(orders))
	for _, o := range orders {
		d := core.Delivery{Order: o, Link: linkOf[o.ID]}
		for _, e := range journal[o.ID] {
			// An entry committed after the order was read belongs to the next delivery.
			if e.OrderVersion <= o.Version {
				d.Transitions = append(d.Transitions, e)
			}
		}
		out = append(out, d)
	}
	return out, nil
}

// inList returns "?, ?, …" for ids and the matching arguments.
func (db *DB) inList(ids []string) (string, []any) {
	args := make([]any, len(ids))
	for i, id := range ids {
		args[i] = id
	}
	return strings.TrimSuffix(strings.Repeat("?, ", len(ids)), ", "), args
}

// CompleteOutboxBatch settles many claimed records in one transaction. Each
// record is guarded by its own lease token exactly as in CompleteOutbox: a
// record no longer held gets ELEASELOST in its slot of the returned slice and
// changes nothing, its link and journal entry included, while the others
// still apply. A non-nil error means nothing was applied.
//
// A link may ride on several completions of one order; it is written once,
// at the highest synced version among the records that applied, and never
// moves the stored synced version backwards.
func (db *DB) CompleteOutboxBatch(ctx context.Context, cs []core.Completion) ([]error, error) {
	if len(cs) == 0 {
		return nil, nil
	}
	for _, c := range cs {
		switch c.Outcome {
		case core.OutcomeDelivered, core.OutcomeRetry, core.OutcomeRelease, core.OutcomeDead:
		default:
			return nil, core.Errorf(core.EINVALID, "unknown outcome %q", c.Outcome)
		}
	}
	applied := make([]bool, len(cs))
	err := db.inTx(ctx, func(tx *sqlx.Tx) error {
		for _, f := range fences(cs) {
			ok, err := db.fenceHolds(ctx, tx, f)
			if err != nil {
				return err
			}
			if !ok {
				return nil // another replica leads now: nothing is settled
			}
		}
		var err error
		if db.dialect == Postgres {
			err = db.settlePostgres(ctx, tx, cs, applied)
		} else {
			err = db.settleEach(ctx, tx, cs, applied)
		}
		if err != nil {
			return err
		}
		for i, c := range cs {
			if applied[i] {
				if err := db.journalCompletion(ctx, tx, c); err != nil {
					return err
				}
			}
		}
		return db.upsertLinks(ctx, tx, cs, applied)
	})
	if err != nil {
		return nil, err
	}
	errs := make([]error, len(cs))
	for i, c := range cs {
		if !applied[i] {
			errs[i] = core.Errorf(core.ELEASELOST, "outbox record %d is no longer held under this lease", c.ID)
		}
	}
	return errs, nil
}

// fences lists the distinct fences of cs (a batch has one).
func fences(cs []core.Completion) []*core.Fence {
	var out []*core.Fence
	for _, c := range cs {
		if c.Fence == nil {
			continue
		}
		seen := false
		for _, f := range out {
			seen = seen || *f == *c.Fence
		}
		if !seen {
			out = append(out, c.Fence)
		}
	}
	return out
}

// settlePostgres applies every completion in one statement: the arrays are
// zipped by unnest and each row is still guarded by its own token.
const settlePostgres = `
UPDATE outbox o SET
	state = CASE v.outcome WHEN 'delivered' THEN 'delivered' WHEN 'dead' THEN 'dead' ELSE 'pending' END,
	delivered_at = CASE WHEN v.outcome = 'delivered' THEN v.now ELSE o.delivered_at END,
	available_at = CASE WHEN v.outcome IN ('retry', 'release') THEN v.available_at ELSE o.available_at END,
	attempts = CASE WHEN v.outcome = 'release' THEN o.attempts - 1 ELSE o.attempts END,
	last_error = CASE v.outcome WHEN 'delivered' THEN '' WHEN 'release' THEN o.last_error ELSE v.error END,
	external_id = CASE WHEN v.outcome = 'delivered' THEN v.external_id ELSE o.external_id END,
	updated_at = v.now, lease_token = '', lease_expires_at = NULL
FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::bigint[], $6::text[], $7::bigint[])
	AS v(id, token, outcome, error, available_at, external_id, now)
WHERE o.id = v.id AND o.lease_token = v.token AND o.state = 'pending'
RETURNING o.id`

func (db *DB) settlePostgres(ctx context.Context, tx *sqlx.Tx, cs []core.Completion, applied []bool) error {
	n := len(cs)
	ids, avail, nows := make([]int64, n), make([]int64, n), make([]int64, n)
	tokens, outcomes, errs, exts := make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	for i, c := range cs {
		ids[i], tokens[i], outcomes[i], errs[i] = c.ID, c.Token, string(c.Outcome), c.Error
		avail[i], nows[i] = micros(c.AvailableAt), micros(nowOr(c.Now))
		if c.Link != nil {
			exts[i] = c.Link.ExternalID
		}
	}
	var done []int64
	err := tx.SelectContext(ctx, &done, settlePostgres, pq.Array(ids), pq.Array(tokens), pq.Array(outcomes),
		pq.Array(errs), pq.Array(avail), pq.Array(exts), pq.Array(nows))
	if err != nil {
		return db.wrap(err)
	}
	ok := make(map[int64]bool, len(done))
	for _, id := range done {
		ok[id] = true
	}
	for i, c := range cs {
		applied[i] = ok[c.ID]
	}
	return nil
}

// settleEach is the SQLite path: one writer, no network, so a statement per
// record inside the one transaction is cheap.
func (db *DB) settleEach(ctx context.Context, tx *sqlx.Tx, cs []core.Completion, applied []bool) error {
	for i, c := range cs {
		ok, err := db.settle(ctx, tx, c)
		if err != nil {
			return err
		}
		applied[i] = ok
	}
	return nil
}

// upsertLinks writes one link per (connector, order) among the applied
// delivered completions, at the highest synced version offered.
func (db *DB) upsertLinks(ctx context.Context, tx *sqlx.Tx, cs []core.Completion, applied []bool) error {
	type key struct{ connector, order string }
	best := map[key]int{}
	var order []key
	for i, c := range cs {
		if !applied[i] || c.Outcome != core.OutcomeDelivered || c.Link == nil {
			continue
		}
		k := key{c.Link.Connector, c.Link.OrderID}
		j, seen := best[k]
		if !seen {
			order = append(order, k)
		}
		if !seen || c.Link.SyncedVersion > cs[j].Link.SyncedVersion {
			best[k] = i
		}
	}
	if len(order) == 0 {
		return nil
	}
	if db.dialect != Postgres {
		for _, k := range order {
			c := cs[best[k]]
			if err := db.upsertLink(ctx, tx, *c.Link, nowOr(c.Now)); err != nil {
				return err
			}
		}
		return nil
	}
	n := len(order)
	conns, orders, exts, statuses, data := make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	versions, nows := make([]int64, n), make([]int64, n)
	for i, k := range order {
		c := cs[best[k]]
		l := c.Link
		conns[i], orders[i], exts[i], statuses[i], data[i] = l.Connector, l.OrderID, l.ExternalID, string(l.SyncedStatus), l.Data
		versions[i], nows[i] = l.SyncedVersion, micros(nowOr(c.Now))
	}
	_, err := tx.ExecContext(ctx, `INSERT INTO crm_links (connector, order_id, external_id, synced_version, synced_status, data, updated_at)
		SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[], $5::text[], $6::text[], $7::bigint[])
		ON CONFLICT (connector, order_id) DO UPDATE SET external_id = excluded.external_id,
			synced_version = excluded.synced_version, synced_status = excluded.synced_status,
			data = excluded.data, updated_at = excluded.updated_at
		WHERE crm_links.synced_version <= excluded.synced_version`,
		pq.Array(conns), pq.Array(orders), pq.Array(exts), pq.Array(versions), pq.Array(statuses), pq.Array(data), pq.Array(nows))
	return db.wrap(err)
}

func nowOr(t time.Time) time.Time {
	if t.IsZero() {
		return time.Now()
	}
	return t
}
