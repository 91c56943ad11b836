package storage

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/paysync/paysync/core"
)

// GetState reads a connector's state value; ENOTFOUND when absent.
func (db *DB) GetState(ctx context.Context, connector, key string) (string, int64, error) {
	var r struct {
		Value   string `db:"value"`
		Version int64  `db:"version"`
	}
	// Read through the writer so that a compare-and-swap right after sees its own write.
	err := db.w.GetContext(ctx, &r, db.q(`SELECT value, version FROM connector_state WHERE connector = ? AND key = ?`), connector, key)
	if errors.Is(err, sql.ErrNoRows) {
		return "", 0, notFound("connector state", connector+"/"+key)
	}
	return r.Value, r.Version, db.wrap(err)
}

// PutState creates (expectedVersion 0) or swaps a state value.
func (db *DB) PutState(ctx context.Context, connector, key, value string, expectedVersion int64) error {
	now := time.Now().UnixMicro()
	var res sql.Result
	var err error
	if expectedVersion == 0 {
		res, err = db.w.ExecContext(ctx, db.q(`INSERT INTO connector_state (connector, key, value, version, updated_at)
			VALUES (?, ?, ?, 1, ?) ON CONFLICT (connector, key) DO NOTHING`), connector, key, value, now)
	} else {
		res, err = db.w.ExecContext(ctx, db.q(`UPDATE connector_state SET value = ?, version = version + 1, updated_at = ?
			WHERE connector = ? AND key = ? AND version = ?`), value, now, connector, key, expectedVersion)
	}
	if err != nil {
		return db.wrap(err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return core.Errorf(core.ESTALE, "connector state %s/%s changed since version %d", connector, key, expectedVersion)
	}
	return nil
}

// AcquireLease takes or renews a named lease (leadership of a dispatcher or
// the scheduler among replicas).
func (db *DB) AcquireLease(ctx context.Context, name, holder string, ttl time.Duration, now time.Time) (bool, error) {
	gen, err := db.AcquireFencedLease(ctx, name, holder, ttl, now)
	return gen > 0, err
}

var _ core.FencedLeaser = (*DB)(nil)

// AcquireFencedLease takes or renews a named lease and returns its
// generation (0 when another holder has it). The generation grows when the
// lease changes hands, and when its holder takes it again after it had
// expired (another replica could have held it meanwhile), never on a
// renewal in time: completions fenced with an older one are refused.
func (db *DB) AcquireFencedLease(ctx context.Context, name, holder string, ttl time.Duration, now time.Time) (int64, error) {
	var r struct {
		Holder     string `db:"holder"`
		Generation int64  `db:"generation"`
	}
	at := micros(now)
	err := db.w.GetContext(ctx, &r, db.q(`INSERT INTO leases (name, holder, expires_at, generation) VALUES (?, ?, ?, 1)
		ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at,
			generation = CASE WHEN leases.holder = excluded.holder AND leases.expires_at > ? THEN leases.generation ELSE leases.generation + 1 END
		WHERE leases.holder = excluded.holder OR leases.expires_at <= ?
		RETURNING holder, generation`), name, holder, micros(now.Add(ttl)), at, at)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, db.wrap(err)
	}
	if r.Holder != holder {
		return 0, nil
	}
	return r.Generation, nil
}

// ReleaseLease gives a lease up early so another replica can take over at
// once. The row stays (expired), so that the generation keeps growing.
func (db *DB) ReleaseLease(ctx context.Context, name, holder string) error {
	_, err := db.w.ExecContext(ctx, db.q(`UPDATE leases SET expires_at = 0 WHERE name = ? AND holder = ?`), name, holder)
	return db.wrap(err)
}

// fenceHolds reports whether the lease of f still has f's holder and
// generation. On PostgreSQL the row is share-locked until tx ends, so that
// no takeover commits between this check and the writes it guards.
func (db *DB) fenceHolds(ctx context.Context, tx *sqlx.Tx, f *core.Fence) (bool, error) {
	if f == nil || f.Lease == "" {
		return true, nil
	}
	q := `SELECT holder, generation FROM leases WHERE name = ?`
	if db.dialect == Postgres {
		q += ` FOR SHARE`
	}
	var r struct {
		Holder     string `db:"holder"`
		Generation int64  `db:"generation"`
	}
	err := tx.GetContext(ctx, &r, db.q(q), f.Lease)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, db.wrap(err)
	}
	return r.Holder == f.Holder && r.Generation == f.Generation, nil
}
