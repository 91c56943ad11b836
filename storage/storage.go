// Package storage implements core.Store on PostgreSQL (lib/pq + sqlx) and on
// SQLite (modernc.org/sqlite, no cgo). The SQL is shared where the dialects
// agree; times are unix microseconds in both so comparisons read the same.
package storage

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jmoiron/sqlx"
	_ "modernc.org/sqlite" // registers the "sqlite" driver

	"github.com/paysync/paysync/core"
	"github.com/paysync/paysync/internal/redact"
)

const (
	Postgres = "postgres"
	SQLite   = "sqlite"
)

// Options says where the database is.
type Options struct {
	// DatabaseURL is a postgres:// URL; empty means SQLite at DataDir/paysync.db.
	DatabaseURL string
	DataDir     string
	// SQLiteSynchronous is SQLite's synchronous setting: FULL (the default:
	// a committed payment survives a power cut, not only a process kill),
	// EXTRA, or NORMAL (faster; the last commits may be lost on a power cut).
	SQLiteSynchronous string
	// SQLiteWALLimit bounds the SQLite write-ahead log file, in bytes
	// (default DefaultWALLimit, at least MinWALLimit); see checkpoints.
	SQLiteWALLimit int64
	// FaultHook, when set, is called after each statement of Apply with the
	// step's name; an error it returns aborts the transaction. Tests use it to
	// prove atomicity.
	FaultHook func(step string) error
}

// DB is a core.Store.
type DB struct {
	dialect string
	w       *sqlx.DB // writes; one connection on SQLite
	r       *sqlx.DB // reads; the same pool on PostgreSQL
	dsn     string
	hook    func(string) error

	rebound sync.Map // query -> dialect-specific query
	stmts   sync.Map // stmtKey -> *sqlx.Stmt, prepared once
	warmed  atomic.Bool
	group   committer

	subMu      sync.Mutex
	subs       map[chan string]struct{}
	listenOnce sync.Once
	listenStop chan struct{}
	closeOnce  sync.Once
	background sync.WaitGroup // the SQLite checkpointer
	walPath    string         // the SQLite WAL file
	walLimit   int64          // its bound (SQLite only)
	walMax     atomic.Int64   // the largest the WAL was seen, for /metrics
}

var _ core.Store = (*DB)(nil)

// Open connects and checks that the database is reachable. It does not migrate.
func Open(ctx context.Context, o Options) (*DB, error) {
	if o.DatabaseURL != "" {
		return openPostgres(ctx, o)
	}
	return openSQLite(ctx, o)
}

func openPostgres(ctx context.Context, o Options) (*DB, error) {
	if !strings.HasPrefix(o.DatabaseURL, "postgres://") && !strings.HasPrefix(o.DatabaseURL, "postgresql://") {
		return nil, core.Errorf(core.EINVALID, "PAYSYNC_DATABASE_URL must start with postgres:// (got %q); leave it empty to use SQLite", RedactURL(o.DatabaseURL))
	}
	if p := redact.URLProblem(o.DatabaseURL); p != "" {
		// Neither the URL nor the parser's message (which quotes it) is shown.
		return nil, core.Errorf(core.EINVALID, "the database URL %s (PAYSYNC_DATABASE_URL, database_url) does not parse: %s", RedactURL(o.DatabaseURL), p)
	}
	x, err := sqlx.Open("postgres", withSessionDefaults(o.DatabaseURL))
	if err != nil {
		return nil, core.Errorf(core.EINVALID, "PAYSYNC_DATABASE_URL is not a valid PostgreSQL URL: %v", scrub(err, o.DatabaseURL))
	}
	x.SetMaxOpenConns(20)
	x.SetMaxIdleConns(20)
	x.SetConnMaxIdleTime(5 * time.Minute)
	db := &DB{dialect: Postgres, w: x, r: x, dsn: o.DatabaseURL, hook: o.FaultHook, subs: map[chan string]struct{}{}, listenStop: make(chan struct{})}
	db.group.workers = postgresGroups
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := x.PingContext(pctx); err != nil {
		x.Close()
		return nil, core.Errorf(core.EUNAVAILABLE, "cannot reach PostgreSQL at %s: %v (is the server running and the URL right?)", RedactURL(o.DatabaseURL), scrub(err, o.DatabaseURL))
	}
	return db, nil
}

// idleInTxTimeout ends a session that sits inside a transaction this long
// (PostgreSQL's idle_in_transaction_session_timeout). paysync's
// transactions never wait between statements, so such a session belongs to
// a replica that was cut off or paused mid-transaction; without the
// timeout its locks (on the lease row, on claimed records) would outlive
// its lease and hold up the replica taking over (issue 23).
const idleInTxTimeout = 5 * time.Second

// withSessionDefaults adds paysync's session settings to a PostgreSQL URL
// as run-time parameters, unless the URL sets them itself.
func withSessionDefaults(dsn string) string {
	u, err := url.Parse(dsn)
	if err != nil {
		return dsn
	}
	q := u.Query()
	if q.Has("idle_in_transaction_session_timeout") {
		return dsn
	}
	q.Set("idle_in_transaction_session_timeout", strconv.FormatInt(idleInTxTimeout.Milliseconds(), 10))
	u.RawQuery = q.Encode()
	return u.String()
}

func openSQLite(ctx context.Context, o Options) (*DB, error) {
	dir := o.DataDir
	if dir == "" {
		dir = "data"
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, core.Errorf(core.EINVALID, "cannot create data directory %s: %v; set PAYSYNC_DATA_DIR to a writable directory", dir, err)
	}
	sync, err := sqliteSynchronous(o.SQLiteSynchronous)
	if err != nil {
		return nil, err
	}
	path := filepath.Join(dir, "paysync.db")
	if err := checkWritable(dir, path); err != nil {
		return nil, err
	}
	walLimit, err := sqliteWALLimit(o.SQLiteWALLimit)
	if err != nil {
		return nil, err
	}
	// WAL lets readers run beside the one writer; busy_timeout absorbs short
	// waits; _txlock=immediate takes the write lock at BEGIN so that two
	// writers never deadlock upgrading a read lock. synchronous=FULL syncs the
	// WAL at every commit: a webhook answered 2xx survives a power cut. How
	// the WAL is kept within walLimit: see checkpoints.
	base := "file:" + filepath.ToSlash(path) + "?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=synchronous(" + sync + ")&_pragma=foreign_keys(1)" +
		"&_pragma=journal_size_limit(" + strconv.FormatInt(walLimit/4, 10) + ")"
	w, err := sqlx.Open("sqlite", base+"&_txlock=immediate&_pragma=wal_autocheckpoint("+strconv.FormatInt(walLimit/4/sqlitePageSize, 10)+")")
	if err != nil {
		return nil, err
	}
	w.SetMaxOpenConns(1) // SQLite has one writer: one connection avoids SQLITE_BUSY
	w.SetConnMaxIdleTime(0)
	r, err := sqlx.Open("sqlite", base)
	if err != nil {
		w.Close()
		return nil, err
	}
	r.SetMaxOpenConns(8)
	db := &DB{dialect: SQLite, w: w, r: r, dsn: path, hook: o.FaultHook, subs: map[chan string]struct{}{}, listenStop: make(chan struct{}),
		walPath: path + "-wal", walLimit: walLimit}
	db.group.workers = 1 // one writer
	if err := w.PingContext(ctx); err != nil {
		db.Close()
		return nil, core.Errorf(core.EUNAVAILABLE, "cannot open SQLite database %s: %v", path, err)
	}
	db.background.Add(1)
	go db.checkpoints(db.listenStop)
	return db, nil
}

// The SQLite WAL bound.
const (
	// DefaultWALLimit is the largest the SQLite WAL file grows by default.
	DefaultWALLimit = 32 << 20
	// MinWALLimit is the smallest bound accepted: a few groups of webhooks.
	MinWALLimit = 4 << 20
	// sqlitePageSize is SQLite's default page size, which paysync keeps.
	sqlitePageSize = 4096
)

// checkpointEvery is how often the background checkpointer looks at the WAL.
const checkpointEvery = 250 * time.Millisecond

// checkpoints keeps the SQLite WAL within walLimit under any load; the
// issue that brought this (22) measured 1 GB of WAL after 20,000 webhooks,
// and it never shrank.
//
// A checkpoint copies the WAL's pages into the database file; SQLite starts
// the WAL over only once every page is copied and no reader still reads
// from it. Under a steady stream of writes a checkpoint beside them never
// catches up, so:
//   - the writer connection checkpoints itself (wal_autocheckpoint) once
//     the WAL holds a quarter of the limit: in the commit that crosses it,
//     when no other write can add pages, so the WAL starts over; SQLite then
//     truncates the file to a quarter of the limit (journal_size_limit);
//   - a reader connection copies pages in the background every 250 ms
//     (a passive checkpoint, beside the commits), so that the writer's own
//     checkpoint finds little left to copy and a commit seldom waits on it;
//   - should the WAL still pass half the limit (a reader held an old
//     snapshot, so pages could not be copied), the background checkpoint
//     waits for the readers and truncates the WAL, holding writers back
//     meanwhile (at most the busy timeout);
//   - when nothing was written for a while, the WAL is truncated to nothing.
//
// Readers do not pin old snapshots: every read is one statement or a short
// transaction, and none is held open between requests.
func (db *DB) checkpoints(stop <-chan struct{}) {
	defer db.background.Done()
	t := time.NewTicker(checkpointEvery)
	defer t.Stop()
	var last os.FileInfo
	idleSince := time.Now()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
		}
		st, err := os.Stat(db.walPath)
		if err != nil {
			continue
		}
		db.noteWAL(st.Size())
		if last != nil && st.Size() == last.Size() && st.ModTime().Equal(last.ModTime()) {
			if st.Size() > 0 && time.Since(idleSince) >= walIdle {
				db.checkpoint("TRUNCATE")
			}
		} else {
			idleSince = time.Now()
		}
		last = st
		// An error (the disk is full, say) is the next commit's to report.
		if st.Size() > db.walLimit/2 {
			db.checkpoint("TRUNCATE")
		} else {
			db.checkpoint("PASSIVE")
		}
	}
}

// boundWAL truncates a SQLite WAL that holds more than half its bound,
// from the writer's side, before the next write: the background
// checkpointer does the same every 250 ms, but on a starved machine its
// timer came late while writers kept adding pages, and the WAL passed its
// bound. Here no write can add pages meanwhile, as the writer is this
// connection.
func (db *DB) boundWAL() {
	if db.walPath == "" {
		return
	}
	st, err := os.Stat(db.walPath)
	if err != nil || st.Size() <= db.walLimit/2 {
		return
	}
	db.noteWAL(st.Size())
	// An error (a reader kept an old snapshot past the busy timeout, a full
	// disk) leaves the WAL to the next commit and the checkpointer.
	db.w.Exec(`PRAGMA wal_checkpoint(TRUNCATE)`)
}

// walIdle is how long nothing must be written before the WAL is truncated.
const walIdle = 2 * time.Second

// checkpoint runs one checkpoint of the given mode on a reader connection.
func (db *DB) checkpoint(mode string) {
	db.r.Exec(`PRAGMA wal_checkpoint(` + mode + `)`)
	if st, err := os.Stat(db.walPath); err == nil {
		db.noteWAL(st.Size())
	}
}

func (db *DB) noteWAL(n int64) {
	for {
		m := db.walMax.Load()
		if n <= m || db.walMax.CompareAndSwap(m, n) {
			return
		}
	}
}

// sqliteWALLimit checks the WAL bound; 0 means DefaultWALLimit.
func sqliteWALLimit(n int64) (int64, error) {
	switch {
	case n == 0:
		return DefaultWALLimit, nil
	case n < MinWALLimit:
		return 0, core.Errorf(core.EINVALID, "sqlite_wal_limit %d bytes is too small: at least %d MiB (PAYSYNC_SQLITE_WAL_LIMIT); 32MiB is the default", n, MinWALLimit>>20)
	}
	return n, nil
}

// sqliteSynchronous checks the synchronous setting; empty means FULL.
func sqliteSynchronous(v string) (string, error) {
	switch s := strings.ToUpper(strings.TrimSpace(v)); s {
	case "":
		return "FULL", nil
	case "FULL", "EXTRA", "NORMAL":
		return s, nil
	}
	return "", core.Errorf(core.EINVALID, "sqlite_synchronous %q must be full, extra or normal (PAYSYNC_SQLITE_SYNCHRONOUS); full is the safe default", v)
}

// checkWritable turns a read-only data directory or file into one clear line.
func checkWritable(dir, path string) error {
	probe := filepath.Join(dir, ".paysync-write-test")
	f, err := os.OpenFile(probe, os.O_CREATE|os.O_WRONLY, 0o600)
	if err != nil {
		return core.Errorf(core.EINVALID, "data directory %s is not writable (%v): fix its permissions or set PAYSYNC_DATA_DIR to a writable directory", dir, errors.Unwrap(err))
	}
	f.Close()
	os.Remove(probe)
	if st, err := os.Stat(path); err == nil {
		if st.IsDir() {
			return core.Errorf(core.EINVALID, "%s is a directory, not a database file", path)
		}
		f, err := os.OpenFile(path, os.O_WRONLY, 0)
		if err != nil {
			return core.Errorf(core.EINVALID, "database file %s is not writable (%v): fix its permissions", path, errors.Unwrap(err))
		}
		f.Close()
	}
	return nil
}

// Dialect is "postgres" or "sqlite".
func (db *DB) Dialect() string { return db.dialect }

// Ping checks that the database answers.
func (db *DB) Ping(ctx context.Context) error { return db.r.PingContext(ctx) }

// Close releases the pools.
func (db *DB) Close() error {
	db.closeOnce.Do(func() { close(db.listenStop) })
	db.background.Wait()
	db.closeGroup()
	db.closeStmts()
	err := db.w.Close()
	if db.r != db.w {
		if e := db.r.Close(); err == nil {
			err = e
		}
	}
	return err
}

// Writer exposes the write pool to tests and benchmarks in this module.
func (db *DB) Writer() *sqlx.DB { return db.w }

// Reader exposes the read pool (the write pool on PostgreSQL) to tests.
func (db *DB) Reader() *sqlx.DB { return db.r }

// q rewrites ?-placeholders for the dialect, once per distinct query.
func (db *DB) q(query string) string {
	if db.dialect != Postgres {
		return query
	}
	if v, ok := db.rebound.Load(query); ok {
		return v.(string)
	}
	r := sqlx.Rebind(sqlx.DOLLAR, query)
	db.rebound.Store(query, r)
	return r
}

// inTx runs fn in a write transaction and commits it, or rolls back on error.
func (db *DB) inTx(ctx context.Context, fn func(tx *sqlx.Tx) error) error {
	tx, err := db.w.BeginTxx(ctx, nil)
	if err != nil {
		return db.wrap(err)
	}
	if err := fn(tx); err != nil {
		tx.Rollback()
		return err
	}
	err = db.wrap(tx.Commit())
	db.boundWAL()
	return err
}

func (db *DB) step(name string) error {
	if db.hook != nil {
		return db.hook(name)
	}
	return nil
}

// wrap turns driver errors into core errors without leaking the DSN.
func (db *DB) wrap(err error) error {
	if err == nil {
		return nil
	}
	var ce *core.Error
	if errors.As(err, &ce) {
		return err
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return &core.Error{Code: core.EINTERNAL, Message: "database error", Err: scrub(err, db.dsn)}
}

// RedactURL shows a database URL with every password hidden: the one in the
// userinfo and any query parameter that carries one (?password=,
// ?sslpassword=, …). A key=value connection string has its password= values
// hidden instead, and a URL that does not parse shows only its scheme and
// host. Use it wherever a database URL is shown.
func RedactURL(s string) string {
	if redact.URLProblem(s) != "" {
		// Written as a URL, but it does not parse: which part is the
		// password cannot be told, so only the scheme and host are shown.
		return redact.SchemeAndHost(s)
	}
	u, err := url.Parse(s)
	if err != nil || u.Scheme == "" || u.Opaque != "" {
		return redactKV(s)
	}
	if u.User != nil {
		if _, ok := u.User.Password(); ok {
			u.User = url.UserPassword(u.User.Username(), redacted)
		}
	}
	if u.RawQuery != "" {
		q, err := url.ParseQuery(u.RawQuery)
		if err != nil {
			u.RawQuery = redactKV(u.RawQuery)
		} else {
			for k := range q {
				if secretParam(k) {
					q[k] = []string{redacted}
				}
			}
			u.RawQuery = q.Encode()
		}
	}
	return u.String()
}

const redacted = "xxxxx"

// secretParam reports whether a connection parameter holds a secret.
func secretParam(name string) bool {
	n := strings.ToLower(name)
	return strings.Contains(n, "password") || strings.Contains(n, "passwd") || strings.Contains(n, "secret") || strings.Contains(n, "token")
}

var kvSecret = regexp.MustCompile(`(?i)([a-z_]*(?:password|passwd|secret|token)[a-z_]*)(\s*=\s*)('(?:[^'\\]|\\.)*'|[^\s&]*)`)

func redactKV(s string) string {
	return kvSecret.ReplaceAllString(s, "${1}${2}"+redacted)
}

// urlSecrets lists the passwords in a database URL, as written and decoded,
// so that they can be cut out of driver messages that quote parts of it.
func urlSecrets(dsn string) []string {
	var out []string
	add := func(vs ...string) {
		for _, v := range vs {
			if v != "" && v != redacted {
				out = append(out, v)
			}
		}
	}
	if u, err := url.Parse(dsn); err == nil && u.Scheme != "" {
		if u.User != nil {
			if p, ok := u.User.Password(); ok {
				add(p, url.PathEscape(p), url.QueryEscape(p))
			}
		}
		if q, err := url.ParseQuery(u.RawQuery); err == nil {
			for k, vs := range q {
				if secretParam(k) {
					for _, v := range vs {
						add(v, url.QueryEscape(v))
					}
				}
			}
		}
	}
	if redact.URLProblem(dsn) != "" {
		// It does not parse: cut out all that may be the user name and
		// password (up to the last @), and the part after its first colon.
		_, rest, _ := strings.Cut(dsn, "://")
		if i := strings.LastIndex(rest, "@"); i >= 0 {
			userinfo := rest[:i]
			_, pass, _ := strings.Cut(userinfo, ":")
			add(userinfo, pass)
		}
	}
	for _, m := range kvSecret.FindAllStringSubmatch(dsn, -1) {
		add(strings.Trim(m[3], "'"), m[3])
	}
	// Longest first, so that a password containing another is cut whole.
	sort.Slice(out, func(i, j int) bool { return len(out[i]) > len(out[j]) })
	return out
}

type scrubbed struct{ msg string }

func (s scrubbed) Error() string { return s.msg }

// scrub removes a database URL and its passwords from an error message.
func scrub(err error, dsn string) error {
	if err == nil || dsn == "" {
		return err
	}
	msg := err.Error()
	clean := strings.ReplaceAll(msg, dsn, RedactURL(dsn))
	for _, secret := range urlSecrets(dsn) {
		clean = strings.ReplaceAll(clean, secret, redacted)
	}
	if clean != msg {
		return scrubbed{clean}
	}
	return err
}

func micros(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMicro()
}

func fromMicros(v int64) time.Time {
	if v == 0 {
		return time.Time{}
	}
	return time.UnixMicro(v).UTC()
}

func nullMicros(t *time.Time) sql.NullInt64 {
	if t == nil || t.IsZero() {
		return sql.NullInt64{}
	}
	return sql.NullInt64{Int64: t.UnixMicro(), Valid: true}
}

func fromNullMicros(v sql.NullInt64) *time.Time {
	if !v.Valid {
		return nil
	}
	t := time.UnixMicro(v.Int64).UTC()
	return &t
}

func nullString(s string) sql.NullString { return sql.NullString{String: s, Valid: s != ""} }

func notFound(what, id string) error {
	return core.Errorf(core.ENOTFOUND, "%s %s not found", what, id)
}

var _ = fmt.Sprintf

// DiskUsage is how much disk the database takes.
type DiskUsage = core.DiskUsage

// DiskUsage reports the database's size and, on SQLite, its WAL's.
func (db *DB) DiskUsage(ctx context.Context) (DiskUsage, error) {
	if db.dialect == Postgres {
		u := DiskUsage{WAL: -1, WALMax: -1, WALLimit: -1}
		err := db.r.GetContext(ctx, &u.Database, `SELECT pg_database_size(current_database())`)
		return u, db.wrap(err)
	}
	u := DiskUsage{WALLimit: db.walLimit}
	st, err := os.Stat(db.dsn)
	if err != nil {
		return u, core.Errorf(core.EUNAVAILABLE, "cannot read the size of %s: %v", db.dsn, errors.Unwrap(err))
	}
	u.Database = st.Size()
	if st, err := os.Stat(db.walPath); err == nil {
		u.WAL = st.Size()
		db.noteWAL(u.WAL)
	}
	u.WALMax = db.walMax.Load()
	return u, nil
}
