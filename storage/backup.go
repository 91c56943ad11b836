package storage

import (
	"context"
	"database/sql"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/paysync/paysync/core"
)

// DatabaseFile is the SQLite database's name in the data directory.
const DatabaseFile = "paysync.db"

// PostgresBackupHint says how a PostgreSQL database is backed up and
// restored: by PostgreSQL's own tools, which copy a live database
// consistently and know its roles, sequences and large objects.
const PostgresBackupHint = "paysync backup copies SQLite databases; on PostgreSQL use its own tools: " +
	"pg_dump --format=custom --file=paysync.dump \"$PAYSYNC_DATABASE_URL\" to back up, " +
	"pg_restore --no-owner --dbname=\"$NEW_DATABASE_URL\" paysync.dump to restore (docs/deploy/backup.md)"

// BackupInfo describes a backup file.
type BackupInfo struct {
	Path       string
	Bytes      int64
	Migrations int    // schema migrations applied in it
	Latest     string // the newest of them
	Orders     int64
	// Newer lists the migrations in the backup that this binary does not
	// have: a newer paysync wrote it.
	Newer []string
}

// Backup writes a consistent copy of the live SQLite database to path with
// VACUUM INTO: it reads one snapshot (every transaction committed before it
// began, none after) while serve goes on writing, and the copy is a
// complete database, its WAL folded in. The copy is written beside path and
// renamed into place once synced, so path never holds half a backup. An
// existing path is refused. On PostgreSQL it returns EINVALID with
// PostgresBackupHint.
func (db *DB) Backup(ctx context.Context, path string) (BackupInfo, error) {
	if db.dialect == Postgres {
		return BackupInfo{}, core.Errorf(core.EINVALID, "%s", PostgresBackupHint)
	}
	if path == "" {
		return BackupInfo{}, core.Errorf(core.EINVALID, "name the backup file: paysync backup --out FILE")
	}
	if _, err := os.Stat(path); err == nil {
		return BackupInfo{}, core.Errorf(core.EINVALID, "%s exists; a backup never overwrites a file: choose another name or remove it", path)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return BackupInfo{}, err
	}
	if same, _ := filepath.Abs(db.dsn); same == abs {
		return BackupInfo{}, core.Errorf(core.EINVALID, "%s is the live database; write the backup elsewhere", path)
	}
	tmp := abs + ".part"
	os.Remove(tmp)
	// A reader connection: the copy takes no write lock, so webhooks are
	// answered meanwhile (the WAL keeps the snapshot readable).
	if _, err := db.r.ExecContext(ctx, `VACUUM INTO ?`, tmp); err != nil {
		os.Remove(tmp)
		return BackupInfo{}, core.Errorf(core.EUNAVAILABLE, "cannot write the backup to %s: %v (is the folder writable, is there room?)", path, scrub(err, db.dsn))
	}
	os.Chmod(tmp, 0o600) // it holds customers' names and phones
	if err := syncFile(tmp); err != nil {
		os.Remove(tmp)
		return BackupInfo{}, core.Errorf(core.EUNAVAILABLE, "cannot sync the backup %s: %v", tmp, err)
	}
	if err := os.Rename(tmp, abs); err != nil {
		os.Remove(tmp)
		return BackupInfo{}, core.Errorf(core.EUNAVAILABLE, "cannot move the backup into place at %s: %v", path, err)
	}
	syncDir(filepath.Dir(abs))
	return InspectBackup(ctx, path)
}

// InspectBackup opens a backup file read-only and checks that it is a
// whole paysync database: SQLite's integrity check passes and it holds
// paysync's migrations table with at least the first migration.
func InspectBackup(ctx context.Context, path string) (BackupInfo, error) {
	st, err := os.Stat(path)
	if err != nil {
		return BackupInfo{}, core.Errorf(core.ENOTFOUND, "cannot read the backup %s: %v", path, errors.Unwrap(err))
	}
	if st.IsDir() {
		return BackupInfo{}, core.Errorf(core.EINVALID, "%s is a directory; name the backup file (paysync backup --out FILE wrote one)", path)
	}
	notOurs := func(why string) error {
		return core.Errorf(core.EINVALID, "%s is not a paysync backup (%s); restore a file written by paysync backup --out FILE", path, why)
	}
	head := make([]byte, 16)
	if f, err := os.Open(path); err == nil {
		n, _ := io.ReadFull(f, head)
		f.Close()
		if n < 16 || string(head) != "SQLite format 3\x00" {
			return BackupInfo{}, notOurs("not an SQLite database")
		}
	}
	x, err := sql.Open("sqlite", "file:"+filepath.ToSlash(path)+"?mode=ro&_pragma=query_only(1)")
	if err != nil {
		return BackupInfo{}, err
	}
	defer x.Close()
	var check string
	if err := x.QueryRowContext(ctx, `PRAGMA quick_check`).Scan(&check); err != nil {
		return BackupInfo{}, notOurs(err.Error())
	}
	if check != "ok" {
		return BackupInfo{}, core.Errorf(core.EINVALID, "the backup %s is damaged (SQLite: %s); restore an older one", path, check)
	}
	info := BackupInfo{Path: path, Bytes: st.Size()}
	var latest sql.NullString
	if err := x.QueryRowContext(ctx, `SELECT COUNT(*), MAX(version) FROM schema_migrations`).Scan(&info.Migrations, &latest); err != nil {
		return BackupInfo{}, notOurs("no schema_migrations table")
	}
	info.Latest = latest.String
	if info.Migrations == 0 {
		return BackupInfo{}, notOurs("no migration recorded")
	}
	if err := x.QueryRowContext(ctx, `SELECT COUNT(*) FROM orders`).Scan(&info.Orders); err != nil {
		return BackupInfo{}, notOurs("no orders table")
	}
	known, err := migrationVersions(SQLite)
	if err != nil {
		return BackupInfo{}, err
	}
	rows, err := x.QueryContext(ctx, `SELECT version FROM schema_migrations ORDER BY version`)
	if err != nil {
		return BackupInfo{}, notOurs(err.Error())
	}
	defer rows.Close()
	for rows.Next() {
		var v string
		if err := rows.Scan(&v); err != nil {
			return BackupInfo{}, err
		}
		if !known[v] {
			info.Newer = append(info.Newer, v)
		}
	}
	return info, rows.Err()
}

// Restore copies a backup into dataDir as its database. dataDir must be
// empty or absent: a restore never mixes with, or replaces, a database
// that may hold payments the backup lacks. The backup is checked first
// (InspectBackup), copied beside its final name, synced and renamed.
// serve applies any migrations the backup is behind on at its next start.
func Restore(ctx context.Context, backup, dataDir string) (BackupInfo, error) {
	if dataDir == "" {
		dataDir = "data"
	}
	info, err := InspectBackup(ctx, backup)
	if err != nil {
		return info, err
	}
	if len(info.Newer) > 0 {
		return info, core.Errorf(core.ECONFLICT, "the backup %s was written by a newer paysync (its schema has %s, which this binary does not know): restore it with that version",
			backup, strings.Join(info.Newer, ", "))
	}
	entries, err := os.ReadDir(dataDir)
	switch {
	case errors.Is(err, os.ErrNotExist):
		if err := os.MkdirAll(dataDir, 0o750); err != nil {
			return info, core.Errorf(core.EINVALID, "cannot create data directory %s: %v; set PAYSYNC_DATA_DIR to a writable directory", dataDir, errors.Unwrap(err))
		}
	case err != nil:
		return info, core.Errorf(core.EINVALID, "cannot read data directory %s: %v", dataDir, errors.Unwrap(err))
	case len(entries) > 0:
		names := make([]string, 0, 3)
		for _, e := range entries[:min(3, len(entries))] {
			names = append(names, e.Name())
		}
		return info, core.Errorf(core.ECONFLICT, "data directory %s is not empty (%s…): restore only into an empty one. "+
			"Stop serve, move the directory aside (mv %s %s.old), or point PAYSYNC_DATA_DIR at a new folder, then run restore again",
			dataDir, strings.Join(names, ", "), dataDir, dataDir)
	}
	dst := filepath.Join(dataDir, DatabaseFile)
	tmp := dst + ".part"
	if err := copyFile(backup, tmp); err != nil {
		os.Remove(tmp)
		return info, core.Errorf(core.EUNAVAILABLE, "cannot copy the backup into %s: %v", dataDir, err)
	}
	if err := os.Rename(tmp, dst); err != nil {
		os.Remove(tmp)
		return info, core.Errorf(core.EUNAVAILABLE, "cannot move the restored database into place: %v", err)
	}
	syncDir(dataDir)
	info.Path = dst
	return info, nil
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	if err := out.Sync(); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

func syncFile(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// syncDir makes a rename in dir durable; where directories cannot be
// synced it is a no-op.
func syncDir(dir string) {
	if f, err := os.Open(dir); err == nil {
		f.Sync()
		f.Close()
	}
}
