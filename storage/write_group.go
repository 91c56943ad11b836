package storage

// A group of order changes in one PostgreSQL statement. Written one by one,
// a group of n changes costs n round trips inside its transaction, and on a
// busy machine each one waits for the database and then for the writer to be
// scheduled again; as one statement it costs one, and, alone in its
// transaction, the statement commits by itself. Each change keeps its own
// checks: an order is written only at its expected version (or, new, only
// if its id is free), and only if its event is not journaled yet; the journal
// entry and the outbox records follow only the orders written. A change
// refused by a check writes nothing and the others go on. If the statement
// fails as a whole (an event journaled meanwhile by another transaction, a
// lost connection) nothing of it is stored, and the group is written again
// change by change, which tells the culprit from the others.

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	"github.com/lib/pq"

	"github.com/paysync/paysync/core"
)

var pgGroupChanges = func() string {
	n := len(orderWriteCols)
	arrays := []string{"$1::int[]", "$2::boolean[]", "$3::text[]", "$4::bigint[]", "$5::bigint[]"}
	cols := []string{"idx", "ins", "id", "expected", "created_at"}
	sets := make([]string, 0, n)
	vals := make([]string, 0, n)
	p := 6
	for _, c := range orderWriteCols {
		arrays = append(arrays, fmt.Sprintf("$%d::%s[]", p, c.pgType))
		cols = append(cols, c.name)
		sets = append(sets, c.name+" = v."+c.name)
		vals = append(vals, "v."+c.name)
		p++
	}
	jvals := make([]string, 0, len(journalCols))
	for _, c := range journalCols {
		arrays = append(arrays, fmt.Sprintf("$%d::%s[]", p, c.pgType))
		cols = append(cols, "j_"+c.name)
		jvals = append(jvals, "v.j_"+c.name)
		p++
	}
	arrays = append(arrays, fmt.Sprintf("$%d::boolean[]", p))
	cols = append(cols, "has_journal")
	now, obIdx, obConn := p+1, p+2, p+3
	return fmt.Sprintf(`WITH v AS (
		SELECT * FROM unnest(%s) AS v(%s)
	), dup AS (
		SELECT v.idx FROM v WHERE v.j_event_id IS NOT NULL
		  AND EXISTS (SELECT 1 FROM journal WHERE journal.provider = v.j_provider AND journal.event_id = v.j_event_id)
	), upd AS (
		UPDATE orders SET %s, version = orders.version + 1
		FROM v WHERE NOT v.ins AND orders.id = v.id AND orders.version = v.expected
		  AND v.idx NOT IN (SELECT idx FROM dup)
		RETURNING v.idx
	), ins AS (
		INSERT INTO orders (%s, id, created_at, version)
		SELECT %s, v.id, v.created_at, 1 FROM v
		WHERE v.ins AND v.idx NOT IN (SELECT idx FROM dup)
		ON CONFLICT (id) DO NOTHING
		RETURNING id
	), w AS (
		SELECT idx FROM upd
		UNION ALL
		SELECT v.idx FROM v JOIN ins ON v.ins AND ins.id = v.id
	), j AS (
		INSERT INTO journal (%s)
		SELECT %s FROM v JOIN w ON w.idx = v.idx WHERE v.has_journal
		RETURNING id, order_id
	), ob AS (
		INSERT INTO outbox (connector, order_id, order_version, state, attempts, available_at, created_at, updated_at)
		SELECT x.conn, v.id, v.expected + 1, 'pending', 0, $%[8]d::bigint, $%[8]d::bigint, $%[8]d::bigint
		FROM unnest($%[9]d::int[], $%[10]d::text[]) AS x(idx, conn) JOIN w ON w.idx = x.idx JOIN v ON v.idx = x.idx
	), n AS (
		SELECT count(*) AS n FROM (SELECT pg_notify('paysync_outbox', d.conn) FROM (SELECT DISTINCT x.conn
			FROM unnest($%[9]d::int[], $%[10]d::text[]) AS x(idx, conn) JOIN w ON w.idx = x.idx) d) p
	)
	SELECT v.idx, w.idx IS NOT NULL, EXISTS (SELECT 1 FROM dup WHERE dup.idx = v.idx), j.id, (SELECT n FROM n)
	FROM v LEFT JOIN w ON w.idx = v.idx LEFT JOIN j ON j.order_id = v.id
	ORDER BY v.idx`,
		strings.Join(arrays, ", "), strings.Join(cols, ", "), strings.Join(sets, ", "),
		names(orderWriteCols), strings.Join(vals, ", "), names(journalCols), strings.Join(jvals, ", "),
		now, obIdx, obConn)
}()

// groupable picks the changes of group that can share one statement: order
// changes whose journal entry (if any) is the order's, at most one change
// per order and per event. The rest are written one by one.
func groupable(group []*applyReq) (together, alone []*applyReq) {
	orders := map[string]bool{}
	events := map[[2]string]bool{}
	for _, r := range group {
		c := r.c
		ok := c.Order != nil && !orders[c.Order.ID] && (c.Journal == nil || c.Journal.OrderID == c.Order.ID)
		var key [2]string
		if ok && c.Journal != nil && c.Journal.EventID != "" {
			key = [2]string{c.Journal.Provider, c.Journal.EventID}
			ok = !events[key]
		}
		if !ok {
			alone = append(alone, r)
			continue
		}
		orders[c.Order.ID] = true
		if key[1] != "" {
			events[key] = true
		}
		together = append(together, r)
	}
	return together, alone
}

// writeGroupStatement writes rs (prepared, see groupable) in one statement
// and sets each one's outcome. An error means the statement failed as a
// whole: nothing of it was written, and on PostgreSQL the transaction, if
// any, is aborted.
func (db *DB) writeGroupStatement(ctx context.Context, run stmtRunner, rs []*applyReq, now time.Time) error {
	n := len(rs)
	idx, ins, ids := make([]int64, n), make([]bool, n), make([]string, n)
	expected, created := make([]int64, n), make([]int64, n)
	ocols := make([][]any, len(orderWriteCols))
	jcols := make([][]any, len(journalCols))
	for i := range ocols {
		ocols[i] = make([]any, n)
	}
	for i := range jcols {
		jcols[i] = make([]any, n)
	}
	payloads := make([][]byte, n)
	hasJournal := make([]bool, n)
	var obIdx []int64
	var obConn []string
	for i, r := range rs {
		c := r.c
		idx[i], ins[i], ids[i], expected[i] = int64(i), c.ExpectedVersion == 0, c.Order.ID, c.ExpectedVersion
		created[i] = micros(c.Order.CreatedAt)
		for k, v := range orderArgs(c.Order) {
			ocols[k][i] = v
		}
		for k, v := range journalArgs(c.Journal) {
			jcols[k][i] = v
		}
		hasJournal[i] = c.Journal != nil
		for _, conn := range c.Outbox {
			obIdx = append(obIdx, int64(i))
			obConn = append(obConn, conn)
		}
	}
	const payloadCol = 12 // journalCols: payload
	for i := range payloads {
		payloads[i], _ = jcols[payloadCol][i].([]byte)
	}
	args := []any{pq.Array(idx), pq.Array(ins), pq.Array(ids), pq.Array(expected), pq.Array(created)}
	for _, col := range ocols {
		args = append(args, pq.GenericArray{A: col})
	}
	for k, col := range jcols {
		if k == payloadCol {
			args = append(args, pq.ByteaArray(payloads))
			continue
		}
		args = append(args, pq.GenericArray{A: col})
	}
	args = append(args, pq.Array(hasJournal), micros(now), pq.Array(obIdx), pq.Array(obConn))

	rows, err := run.query(ctx, pgGroupChanges, args...)
	if err != nil {
		return db.wrap(err)
	}
	defer rows.Close()
	seen := 0
	for rows.Next() {
		var i int64
		var written, journaled bool
		var journalID sql.NullInt64
		var notified int64
		if err := rows.Scan(&i, &written, &journaled, &journalID, &notified); err != nil {
			return db.wrap(err)
		}
		r := rs[i]
		if written {
			r.journalID, r.err = journalID.Int64, nil
			r.c.Order.Version = r.c.ExpectedVersion + 1
		} else {
			r.journalID, r.err = 0, refusal(r.c, journaled)
		}
		seen++
	}
	if err := rows.Err(); err != nil {
		return db.wrap(err)
	}
	if seen != n {
		return core.Errorf(core.EINTERNAL, "a group of %d changes came back with %d outcomes", n, seen)
	}
	return nil
}
