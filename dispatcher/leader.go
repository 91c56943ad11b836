package dispatcher

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/paysync/paysync/core"
)

// leadership keeps this replica's claim on one connector: at most one replica
// dispatches a connector at a time, so its rate limit and breaker are not
// split between replicas. Record leases still guard every record on their
// own; leadership is about sharing the CRM politely, not about correctness.
type leadership struct {
	store  core.Store
	clock  Clock
	log    *slog.Logger
	name   string // "dispatcher:<connector>"
	owner  string
	ttl    time.Duration
	onFlip func(leader bool)

	mu      sync.Mutex
	until   time.Time     // leader while now < until
	changed chan struct{} // closed and replaced at every attempt
	leading bool          // as last logged
}

func newLeadership(store core.Store, clock Clock, log *slog.Logger, connector, owner string, ttl time.Duration, onFlip func(bool)) *leadership {
	return &leadership{store: store, clock: clock, log: log, name: "dispatcher:" + connector,
		owner: owner, ttl: ttl, onFlip: onFlip, changed: make(chan struct{})}
}

// run takes and renews the lease until ctx ends: a leader renews every third
// of the lease, a follower tries every sixth, so a replica that dies without
// releasing is replaced about one lease time after its last renewal.
func (l *leadership) run(ctx context.Context) {
	for {
		now := l.clock.Now()
		ok, err := l.store.AcquireLease(ctx, l.name, l.owner, l.ttl, now)
		if ctx.Err() != nil {
			return
		}
		l.mu.Lock()
		switch {
		case err != nil:
			// Keep what we had: the lease runs out by itself at until.
			l.log.Warn("cannot renew dispatcher lease; retrying", "lease", l.name, "err", err)
		case ok:
			l.until = now.Add(l.ttl)
		default:
			l.until = time.Time{}
		}
		after := l.clock.Now()
		if ok && !after.Before(l.until) {
			// The clock passed the whole lease while we asked for it (a
			// stalled process, or a test's fake clock): ask again at once.
			l.mu.Unlock()
			continue
		}
		leading := after.Before(l.until)
		flipped := leading != l.leading
		l.leading = leading
		close(l.changed)
		l.changed = make(chan struct{})
		l.mu.Unlock()
		if flipped {
			if leading {
				l.log.Info("dispatching connector on this replica", "lease", l.name, "owner", l.owner)
			} else {
				l.log.Info("another replica dispatches this connector; standing by", "lease", l.name, "owner", l.owner)
			}
			if l.onFlip != nil {
				l.onFlip(leading)
			}
		}
		every := l.ttl / 6
		if leading {
			every = l.ttl / 3
		}
		select {
		case <-ctx.Done():
			return
		case <-l.clock.Until(after.Add(every)):
		}
	}
}

// wait blocks until this replica leads, or ctx ends (false).
func (l *leadership) wait(ctx context.Context) bool {
	for {
		l.mu.Lock()
		until, ch := l.until, l.changed
		l.mu.Unlock()
		if l.clock.Now().Before(until) {
			return true
		}
		select {
		case <-ctx.Done():
			return false
		case <-ch:
		}
	}
}

func (l *leadership) isLeader() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.clock.Now().Before(l.until)
}

// release gives the lease up so another replica takes over at once.
func (l *leadership) release(ctx context.Context) {
	l.mu.Lock()
	held := !l.until.IsZero()
	l.until = time.Time{}
	l.leading = false
	l.mu.Unlock()
	if !held {
		return
	}
	if err := l.store.ReleaseLease(ctx, l.name, l.owner); err != nil {
		l.log.Warn("cannot release dispatcher lease; another replica takes over when it expires", "lease", l.name, "err", err)
	}
	if l.onFlip != nil {
		l.onFlip(false)
	}
}
