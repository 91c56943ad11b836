package storage

import (
	"context"
	"database/sql"
	"errors"
	"time"

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
	var got string
	err := db.w.GetContext(ctx, &got, db.q(`INSERT INTO leases (name, holder, expires_at) VALUES (?, ?, ?)
		ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at
		WHERE leases.holder = excluded.holder OR leases.expires_at <= ?
		RETURNING holder`), name, holder, micros(now.Add(ttl)), micros(now))
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, db.wrap(err)
	}
	return got == holder, nil
}

// ReleaseLease gives a lease up early so another replica can take over at once.
func (db *DB) ReleaseLease(ctx context.Context, name, holder string) error {
	_, err := db.w.ExecContext(ctx, db.q(`DELETE FROM leases WHERE name = ? AND holder = ?`), name, holder)
	return db.wrap(err)
}
