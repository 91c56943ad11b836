package storage

import (
	"context"
	"time"

	"github.com/paysync/paysync/core"
)

// RecordRefusal adds r's counts to its record (provider, source, verdict,
// window) in one statement; the first request of a window creates the record
// with its reason and sample. A window holds at most core.MaxRefusalSources
// sources per provider and verdict: a request from any further source is
// counted under core.OtherSources, so that a flood from many networks
// leaves a bounded number of records. (Two PostgreSQL replicas adding new
// sources at the same moment may each take the last place: a few more.)
func (db *DB) RecordRefusal(ctx context.Context, r core.Refusal) error {
	r.Clean()
	window := micros(r.WindowStart)
	_, err := db.w.ExecContext(ctx, db.q(`INSERT INTO refusals
		(provider, source, verdict, window_start, requests, throttled, bytes, first_at, last_at,
		 reason, last_reason, sample_size, sample_sha256, sample)
		VALUES (?, (SELECT CASE WHEN EXISTS (SELECT 1 FROM refusals WHERE provider = ? AND source = ? AND verdict = ? AND window_start = ?)
			OR (SELECT COUNT(*) FROM refusals WHERE provider = ? AND verdict = ? AND window_start = ? AND source <> ?) < ?
			THEN ? ELSE ? END),
			?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (provider, source, verdict, window_start) DO UPDATE SET
			requests = refusals.requests + excluded.requests,
			throttled = refusals.throttled + excluded.throttled,
			bytes = refusals.bytes + excluded.bytes,
			last_at = CASE WHEN excluded.last_at > refusals.last_at THEN excluded.last_at ELSE refusals.last_at END,
			last_reason = CASE WHEN excluded.last_reason <> '' THEN excluded.last_reason ELSE refusals.last_reason END`),
		r.Provider, r.Provider, r.Source, string(r.Verdict), window,
		r.Provider, string(r.Verdict), window, core.OtherSources, core.MaxRefusalSources,
		r.Source, core.OtherSources,
		string(r.Verdict), window, r.Requests, r.Throttled, r.Bytes,
		micros(r.FirstAt), micros(r.LastAt), r.Reason, r.LastReason, r.SampleSize, r.SampleSHA256, r.Sample)
	return db.wrap(err)
}

type refusalRow struct {
	ID           int64  `db:"id"`
	Provider     string `db:"provider"`
	Source       string `db:"source"`
	Verdict      string `db:"verdict"`
	WindowStart  int64  `db:"window_start"`
	Requests     int64  `db:"requests"`
	Throttled    int64  `db:"throttled"`
	Bytes        int64  `db:"bytes"`
	FirstAt      int64  `db:"first_at"`
	LastAt       int64  `db:"last_at"`
	Reason       string `db:"reason"`
	LastReason   string `db:"last_reason"`
	SampleSize   int64  `db:"sample_size"`
	SampleSHA256 string `db:"sample_sha256"`
	Sample       []byte `db:"sample"`
}

// ListRefusals lists refusal records, the latest first.
func (db *DB) ListRefusals(ctx context.Context, limit int) ([]core.Refusal, error) {
	if limit <= 0 || limit > 500 {
		limit = 100
	}
	var rows []refusalRow
	err := db.r.SelectContext(ctx, &rows, db.q(`SELECT id, provider, source, verdict, window_start, requests, throttled, bytes,
		first_at, last_at, reason, last_reason, sample_size, sample_sha256, sample
		FROM refusals ORDER BY last_at DESC, id DESC LIMIT ?`), limit)
	if err != nil {
		return nil, db.wrap(err)
	}
	out := make([]core.Refusal, len(rows))
	for i, r := range rows {
		out[i] = core.Refusal{ID: r.ID, Provider: r.Provider, Source: r.Source, Verdict: core.Verdict(r.Verdict),
			WindowStart: fromMicros(r.WindowStart), Requests: r.Requests, Throttled: r.Throttled, Bytes: r.Bytes,
			FirstAt: fromMicros(r.FirstAt), LastAt: fromMicros(r.LastAt), Reason: r.Reason, LastReason: r.LastReason,
			SampleSize: r.SampleSize, SampleSHA256: r.SampleSHA256, Sample: r.Sample}
	}
	return out, nil
}

// PurgeRefusals deletes refusal records whose last request is older than the cutoff.
func (db *DB) PurgeRefusals(ctx context.Context, olderThan time.Time) (int64, error) {
	res, err := db.w.ExecContext(ctx, db.q(`DELETE FROM refusals WHERE last_at < ?`), micros(olderThan))
	if err != nil {
		return 0, db.wrap(err)
	}
	return res.RowsAffected()
}
