package storage

import (
	"context"
	"database/sql"
	"time"

	"github.com/jmoiron/sqlx"
)

// PayloadSet describes raw request bytes kept in one table: how many rows
// hold some, how many bytes, and the oldest and newest row's time.
type PayloadSet struct {
	Rows           int64
	Bytes          int64
	Oldest, Newest time.Time
}

// Payloads are the raw request bytes older than a cutoff: the journal's
// payloads and the refusal records' samples.
type Payloads struct {
	Journal  PayloadSet
	Refusals PayloadSet
}

// Rows is how many rows hold bytes in both tables.
func (p Payloads) Rows() int64 { return p.Journal.Rows + p.Refusals.Rows }

// Bytes is how many bytes both tables hold.
func (p Payloads) Bytes() int64 { return p.Journal.Bytes + p.Refusals.Bytes }

// purgeBatch is how many rows one purge transaction clears: short enough
// that a webhook waits at most a few milliseconds for the write lock.
const purgeBatch = 1000

// retained are the tables whose raw bytes are purged: the column, the
// row's time, and what stays (sizes and digests are other columns).
var retained = []struct{ table, bytes, at string }{
	{"journal", "payload", "created_at"},
	{"refusals", "sample", "last_at"},
}

// PayloadsBefore reports the raw bytes PurgePayloads would clear for the
// cutoff, changing nothing (paysync purge --dry-run).
func (db *DB) PayloadsBefore(ctx context.Context, cutoff time.Time) (Payloads, error) {
	var out Payloads
	for i, t := range retained {
		var row struct {
			Rows   int64         `db:"n"`
			Bytes  sql.NullInt64 `db:"bytes"`
			Oldest sql.NullInt64 `db:"oldest"`
			Newest sql.NullInt64 `db:"newest"`
		}
		err := db.r.GetContext(ctx, &row, db.q(`SELECT COUNT(*) AS n, SUM(length(`+t.bytes+`)) AS bytes,
			MIN(`+t.at+`) AS oldest, MAX(`+t.at+`) AS newest
			FROM `+t.table+` WHERE `+t.at+` < ? AND length(`+t.bytes+`) > 0`), micros(cutoff))
		if err != nil {
			return out, db.wrap(err)
		}
		set := PayloadSet{Rows: row.Rows, Bytes: row.Bytes.Int64, Oldest: fromMicros(row.Oldest.Int64), Newest: fromMicros(row.Newest.Int64)}
		if i == 0 {
			out.Journal = set
		} else {
			out.Refusals = set
		}
	}
	return out, nil
}

// PurgePayloads clears the raw bytes of journal entries and refusal records
// older than cutoff, a batch of rows per transaction, oldest first, so that
// webhooks keep being answered between batches. What the journal says
// (verdicts, statuses, amounts, references, reasons) and each request's
// size and SHA-256 digest stay: a dispute can still prove what was
// received by comparing a copy with the digest. progress, when set, hears
// after every batch how many rows were cleared so far. It returns what was
// cleared.
func (db *DB) PurgePayloads(ctx context.Context, cutoff time.Time, progress func(done int64)) (Payloads, error) {
	before, err := db.PayloadsBefore(ctx, cutoff)
	if err != nil {
		return Payloads{}, err
	}
	var done Payloads
	var total int64
	for i, t := range retained {
		set := &done.Journal
		want := before.Journal
		if i == 1 {
			set, want = &done.Refusals, before.Refusals
		}
		for set.Rows < want.Rows {
			var n int64
			err := db.inTx(ctx, func(tx *sqlx.Tx) error {
				res, err := tx.ExecContext(ctx, db.q(`UPDATE `+t.table+` SET `+t.bytes+` = ? WHERE id IN (
					SELECT id FROM `+t.table+` WHERE `+t.at+` < ? AND length(`+t.bytes+`) > 0 ORDER BY `+t.at+` LIMIT ?)`),
					[]byte{}, micros(cutoff), purgeBatch)
				if err != nil {
					return db.wrap(err)
				}
				n, err = res.RowsAffected()
				return err
			})
			if err != nil {
				return done, err
			}
			if n == 0 {
				break
			}
			set.Rows += n
			total += n
			if progress != nil {
				progress(total)
			}
		}
		if set.Rows > 0 {
			set.Bytes, set.Oldest, set.Newest = want.Bytes, want.Oldest, want.Newest
			if set.Rows != want.Rows {
				set.Bytes = -1 // rows came or went meanwhile: the count is exact, the bytes are not known
			}
		}
	}
	return done, nil
}
