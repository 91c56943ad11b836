package storage

import (
	"context"
	"time"

	"github.com/lib/pq"
)

// Subscribe returns a channel that receives a connector's name soon after new
// outbox work for it commits: from LISTEN/NOTIFY on PostgreSQL (so every
// replica hears it), from this process on SQLite. Wake-ups are hints: a
// dispatcher still polls as a fallback. The channel closes when ctx ends.
func (db *DB) Subscribe(ctx context.Context) <-chan string {
	ch := make(chan string, 64)
	db.subMu.Lock()
	db.subs[ch] = struct{}{}
	db.subMu.Unlock()
	if db.dialect == Postgres {
		db.listenOnce.Do(func() { go db.listen(db.listenStop) })
	}
	go func() {
		<-ctx.Done()
		db.subMu.Lock()
		delete(db.subs, ch)
		close(ch)
		db.subMu.Unlock()
	}()
	return ch
}

// listen runs one LISTEN connection for the whole process until Close.
func (db *DB) listen(stop <-chan struct{}) {
	l := pq.NewListener(db.dsn, 100*time.Millisecond, 10*time.Second, nil)
	defer l.Close()
	if err := l.Listen("paysync_outbox"); err != nil {
		return
	}
	for {
		select {
		case <-stop:
			return
		case n := <-l.Notify:
			if n != nil {
				db.broadcast(n.Extra)
			}
		case <-time.After(90 * time.Second):
			go l.Ping()
		}
	}
}

func (db *DB) broadcast(connector string) {
	db.subMu.Lock()
	defer db.subMu.Unlock()
	for ch := range db.subs {
		select {
		case ch <- connector:
		default: // a full channel already holds a wake-up
		}
	}
}

// notifyLocal wakes this process's subscribers; PostgreSQL notifications come
// through the listener instead, after commit.
func (db *DB) notifyLocal(connectors []string) {
	if db.dialect == Postgres {
		return
	}
	for _, c := range connectors {
		db.broadcast(c)
	}
}

// notifyAll wakes every subscriber for every connector ("" means any).
func (db *DB) notifyAll() {
	db.broadcast("")
}
