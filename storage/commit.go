package storage

// Group commit. A webhook is answered only after its change is committed, and
// a commit costs a disk sync (an fsync of the WAL on both databases): one
// transaction per event caps ingest at the sync rate. Concurrent Apply calls
// are therefore queued, and every change waiting when a transaction starts
// goes into it, so that they share its sync (see committer for who writes).
// Each caller still returns only after that commit, with its own outcome:
//
//   - A change that fails a check (ESTALE, EDUPLICATE, ECONFLICT) is found
//     out by a statement that writes nothing in that case (see write.go), so
//     the others of the group go on in the same transaction.
//   - A change that fails after writing (a driver error, a constraint the
//     checks could not see, an injected fault) rolls the transaction back;
//     it gets its error and the rest of the group is written again without
//     it. One bad change never fails the others.
//   - A failed BEGIN or COMMIT fails every change of the group: none of them
//     is known to be stored.
//
// A lone change (one client) is written at once, by its own caller: nothing
// waits for company, so its latency is one transaction as before.

import (
	"context"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/paysync/paysync/core"
)

const (
	// maxGroup bounds the changes of one transaction: enough to share a
	// sync among every client of a busy shop, small enough that a rewrite
	// after a failed change stays cheap.
	maxGroup = 64
	// groupTimeout bounds one group's transaction on PostgreSQL: a caller
	// that gave up waiting still gets its change written or refused, never
	// left hanging.
	groupTimeout = 30 * time.Second
)

// postgresGroups is how many group transactions run at once on PostgreSQL:
// while one waits for its sync, the next group is written. (SQLite has one
// writer connection, so one.)
const postgresGroups = 2

// applyReq is one Apply waiting for its commit.
type applyReq struct {
	ctx       context.Context
	c         core.Change
	journalID int64
	err       error
	// wake is closed when the change is written or refused (lead false),
	// or when this caller is to write the next group (lead true).
	wake chan struct{}
	lead bool
}

// committer queues changes. The callers themselves write the groups (no
// goroutine in between, so a lone caller pays no hand-off): a caller that
// finds fewer than workers groups in flight writes its change and whatever
// is queued behind it; the others wait, and when a group ends its writer
// hands the queue to the first waiting caller.
type committer struct {
	mu      sync.Mutex
	closed  bool
	queue   []*applyReq
	leading int // groups in flight
	workers int
	active  sync.WaitGroup // callers inside submit
}

// submit writes c in a group and returns once the group's transaction ended.
func (db *DB) submit(ctx context.Context, c core.Change) (int64, error) {
	g := &db.group
	r := &applyReq{ctx: ctx, c: c, wake: make(chan struct{})}
	g.mu.Lock()
	if g.closed {
		g.mu.Unlock()
		return 0, core.Errorf(core.EUNAVAILABLE, "the database is closed; restart paysync")
	}
	g.active.Add(1)
	defer g.active.Done()
	if g.leading < g.workers {
		g.leading++
		g.mu.Unlock()
		db.lead(r)
		return r.journalID, r.err
	}
	g.queue = append(g.queue, r)
	g.mu.Unlock()
	// Once queued, the change is written or refused within groupTimeout;
	// the caller learns which, even if its context ends meanwhile.
	<-r.wake
	if r.lead {
		db.lead(r)
	}
	return r.journalID, r.err
}

// lead writes a group made of first and the changes queued behind it, then
// hands the queue to the next waiting caller or steps down.
func (db *DB) lead(first *applyReq) {
	g := &db.group
	g.mu.Lock()
	n := min(len(g.queue), maxGroup-1)
	group := make([]*applyReq, 0, n+1)
	group = append(group, first)
	group = append(group, g.queue[:n]...)
	g.queue = g.queue[n:]
	g.mu.Unlock()

	db.commitGroup(group)

	g.mu.Lock()
	if len(g.queue) == 0 {
		g.leading--
		g.mu.Unlock()
		return
	}
	next := g.queue[0]
	g.queue = g.queue[1:]
	g.mu.Unlock()
	next.lead = true
	close(next.wake)
}

// closeGroup refuses new changes and waits for those in flight.
func (db *DB) closeGroup() {
	g := &db.group
	g.mu.Lock()
	g.closed = true
	g.mu.Unlock()
	g.active.Wait()
}

// commitGroup writes the changes of group in one transaction and answers
// each; see the file comment for how failures stay apart.
func (db *DB) commitGroup(group []*applyReq) {
	live := make([]*applyReq, 0, len(group))
	for _, r := range group {
		if err := r.ctx.Err(); err != nil {
			r.err = err // given up before anything was written
			r.answer()
			continue
		}
		live = append(live, r)
	}
	if len(live) == 0 {
		return
	}
	if db.group.workers > 1 {
		// Groups written at once lock their orders in one order: they may
		// wait for each other, never deadlock.
		slices.SortStableFunc(live, func(a, b *applyReq) int { return strings.Compare(orderOf(a.c), orderOf(b.c)) })
	}
	// The group outlives any one caller's context. On PostgreSQL a lost
	// connection must not hold it for ever; SQLite is in this process (its
	// busy timeout bounds a wait for the lock), and a context that can end
	// costs the driver a watcher goroutine per statement.
	ctx := context.WithoutCancel(live[0].ctx)
	if db.dialect == Postgres {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, groupTimeout)
		defer cancel()
	}
	each := false
	for len(live) > 0 {
		bad, err := db.writeGroup(ctx, live, each)
		if bad == rewriteEach {
			each = true
			continue
		}
		if bad < 0 {
			for _, r := range live {
				if err != nil {
					r.err = err
				}
				if r.err == nil && r.c.Journal != nil {
					r.c.Journal.ID = r.journalID
				}
			}
			if err == nil {
				db.notifyLocal(outboxOf(live))
			}
			for _, r := range live {
				r.answer()
			}
			db.boundWAL()
			return
		}
		live[bad].err = err
		live[bad].answer()
		live = append(live[:bad], live[bad+1:]...)
	}
}

// rewriteEach is writeGroup's answer when the group's shared statement
// failed as a whole: nothing was stored; write the group change by change.
const rewriteEach = -2

// writeGroup writes group and returns (-1, nil) when it committed (each
// request's err then holds its own check's outcome), (-1, err) when BEGIN or
// COMMIT failed, (i, err) when change i failed after writing (the
// transaction was rolled back: nothing is stored), and (rewriteEach, err)
// when the shared statement failed. each writes every change with its own
// statements.
func (db *DB) writeGroup(ctx context.Context, group []*applyReq, each bool) (int, error) {
	db.warm(ctx)
	now := time.Now().UTC()
	for _, r := range group {
		r.err, r.journalID = nil, 0
		prepare(r.c, now)
	}
	if len(group) == 1 && db.alone(group[0].c) {
		r := group[0]
		r.journalID, _, r.err = db.writeChange(ctx, stmtRunner{db: db}, r.c, now)
		return -1, nil
	}
	together, alone := []*applyReq(nil), group
	if db.dialect == Postgres && !each {
		if together, alone = groupable(group); len(together) < 2 {
			together, alone = nil, group
		}
	}
	if len(together) > 0 && len(alone) == 0 && db.hook == nil {
		// One statement, atomic and committed on its own.
		if err := db.writeGroupStatement(ctx, stmtRunner{db: db}, together, now); err != nil {
			return rewriteEach, err
		}
		return -1, nil
	}
	tx, err := db.w.BeginTxx(ctx, nil)
	if err != nil {
		return -1, db.wrap(err)
	}
	run := stmtRunner{db: db, tx: tx}
	if len(together) > 0 {
		if err := db.writeGroupStatement(ctx, run, together, now); err != nil {
			tx.Rollback()
			return rewriteEach, err
		}
		for _, r := range together {
			if r.err != nil {
				continue
			}
			if err := db.steps(r.c); err != nil {
				tx.Rollback()
				return slices.Index(group, r), err
			}
		}
	}
	for _, r := range alone {
		id, dirty, err := db.writeChange(ctx, run, r.c, now)
		if dirty {
			tx.Rollback()
			return slices.Index(group, r), err
		}
		r.journalID, r.err = id, err
	}
	if err := tx.Commit(); err != nil {
		return -1, db.wrap(err)
	}
	return -1, nil
}

// answer wakes the caller of a written or refused change; a leader's own
// change has no one waiting.
func (r *applyReq) answer() {
	if !r.lead {
		close(r.wake)
	}
}

func orderOf(c core.Change) string {
	if c.Order != nil {
		return c.Order.ID
	}
	return ""
}

// alone reports a change that is one statement on its own: on PostgreSQL
// every change is (see write.go), and a statement outside a transaction is
// committed atomically, which saves BEGIN and COMMIT round trips. Not with a
// fault hook: a fault after the statement must still undo it.
func (db *DB) alone(c core.Change) bool {
	return db.dialect == Postgres && db.hook == nil && (c.Order != nil || c.Journal != nil)
}

// outboxOf lists the connectors the committed changes of group enqueued for.
func outboxOf(group []*applyReq) []string {
	var out []string
	seen := map[string]bool{}
	for _, r := range group {
		if r.err != nil {
			continue
		}
		for _, c := range r.c.Outbox {
			if !seen[c] {
				seen[c] = true
				out = append(out, c)
			}
		}
	}
	return out
}

// warm prepares the statements writeChange runs. When preparing fails (the
// server is restarting) they run unprepared, and the next group tries again.
func (db *DB) warm(ctx context.Context) {
	if db.warmed.Load() {
		return
	}
	for _, q := range db.writeQueries() {
		if db.prepared(ctx, db.w, q) == nil {
			return
		}
	}
	db.warmed.Store(true)
}

// prepared returns query prepared on pool, or nil when it cannot be prepared.
func (db *DB) prepared(ctx context.Context, pool *sqlx.DB, query string) *sqlx.Stmt {
	key := stmtKey{pool: pool, query: query}
	if s, ok := db.stmts.Load(key); ok {
		return s.(*sqlx.Stmt)
	}
	s, err := pool.PreparexContext(ctx, query)
	if err != nil {
		return nil
	}
	if prev, loaded := db.stmts.LoadOrStore(key, s); loaded {
		s.Close()
		return prev.(*sqlx.Stmt)
	}
	return s
}

// closeStmts releases the prepared statements.
func (db *DB) closeStmts() {
	db.stmts.Range(func(k, s any) bool {
		s.(*sqlx.Stmt).Close()
		db.stmts.Delete(k)
		return true
	})
}

type stmtKey struct {
	pool  *sqlx.DB
	query string
}
