package storage

import (
	"context"
	"encoding/json"

	"time"

	"github.com/paysync/paysync/core"
)

var _ core.ReconcileStore = (*DB)(nil)

// PaidOrders lists a provider's orders paid in [from, to) that still count
// as paid (the index orders_provider_paid serves it).
func (db *DB) PaidOrders(ctx context.Context, provider string, from, to time.Time) ([]core.Order, error) {
	if err := core.CheckText("provider", provider); err != nil {
		return nil, err
	}
	return db.selectOrders(ctx, `SELECT `+orderCols+` FROM orders WHERE provider = ? AND paid_at >= ? AND paid_at < ?
		AND status IN ('paid', 'partially_refunded', 'refunded') ORDER BY paid_at, id`, provider, micros(from), micros(to))
}

// SaveReconcileReport keeps a report, replacing the one of its provider and day.
func (db *DB) SaveReconcileReport(ctx context.Context, r core.ReconcileReport) error {
	body, err := json.Marshal(r)
	if err != nil {
		return db.wrap(err)
	}
	_, err = db.w.ExecContext(ctx, db.q(`INSERT INTO reconcile_reports (provider, day, ran_at, report) VALUES (?, ?, ?, ?)
		ON CONFLICT (provider, day) DO UPDATE SET ran_at = excluded.ran_at, report = excluded.report`),
		r.Provider, r.Day, micros(r.RanAt), string(body))
	return db.wrap(err)
}

// ListReconcileReports lists the latest reports, the newest day first.
func (db *DB) ListReconcileReports(ctx context.Context, limit int) ([]core.ReconcileReport, error) {
	if limit <= 0 || limit > 1000 {
		limit = 60
	}
	var bodies []string
	if err := db.r.SelectContext(ctx, &bodies, db.q(`SELECT report FROM reconcile_reports ORDER BY day DESC, provider LIMIT ?`), limit); err != nil {
		return nil, db.wrap(err)
	}
	out := make([]core.ReconcileReport, 0, len(bodies))
	for _, b := range bodies {
		var r core.ReconcileReport
		if err := json.Unmarshal([]byte(b), &r); err != nil {
			return nil, db.wrap(err)
		}
		out = append(out, r)
	}
	return out, nil
}
