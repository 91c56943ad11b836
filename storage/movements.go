package storage

import (
	"context"
	"strings"
	"time"

	"github.com/paysync/paysync/core"
)

// exportChunk is how many orders one query of MoneyJournal reads.
const exportChunk = 500

// MoneyJournal returns the orders whose journal has an entry in [from, to)
// leaving them holding a payment (paid or refunded: where money moved),
// each with its journal up to to, oldest first and without payloads, for
// core.Movements. Orders come in the order of their first such entry.
func (db *DB) MoneyJournal(ctx context.Context, from, to time.Time) ([]core.OrderJournal, error) {
	var ids []string
	err := db.r.SelectContext(ctx, &ids, db.q(`SELECT order_id FROM journal
		WHERE created_at >= ? AND created_at < ? AND status_after IN ('paid', 'partially_refunded', 'refunded') AND order_id IS NOT NULL
		GROUP BY order_id ORDER BY MIN(id)`), micros(from), micros(to))
	if err != nil {
		return nil, db.wrap(err)
	}
	out := make([]core.OrderJournal, 0, len(ids))
	for len(ids) > 0 {
		chunk := ids[:min(exportChunk, len(ids))]
		ids = ids[len(chunk):]
		marks := strings.TrimSuffix(strings.Repeat("?,", len(chunk)), ",")
		args := make([]any, 0, len(chunk)+1)
		for _, id := range chunk {
			args = append(args, id)
		}
		orders, err := db.selectOrders(ctx, `SELECT `+orderCols+` FROM orders WHERE id IN (`+marks+`)`, args...)
		if err != nil {
			return nil, err
		}
		byID := make(map[string]*core.OrderJournal, len(orders))
		for _, o := range orders {
			byID[o.ID] = &core.OrderJournal{Order: o}
		}
		var rows []journalRow
		err = db.r.SelectContext(ctx, &rows, db.q(`SELECT id, order_id, provider, event_id, source, event_type, verdict,
			status_before, status_after, amount_minor, currency, provider_ref, reason, payload_size, payload_sha256,
			order_version, created_at
			FROM journal WHERE order_id IN (`+marks+`) AND created_at < ? ORDER BY id`), append(args, micros(to))...)
		if err != nil {
			return nil, db.wrap(err)
		}
		for _, r := range rows {
			e := r.JournalEntry
			e.OrderID, e.EventID, e.CreatedAt = r.OrderIDN.String, r.EventIDN.String, fromMicros(r.CreatedUS)
			if oj := byID[e.OrderID]; oj != nil {
				oj.Entries = append(oj.Entries, e)
			}
		}
		for _, id := range chunk {
			if oj := byID[id]; oj != nil {
				out = append(out, *oj)
			}
		}
	}
	return out, nil
}
