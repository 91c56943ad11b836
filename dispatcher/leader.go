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
// split between replicas, and a replica that dies is replaced within seconds.
//
// The lease is short (Options.LeaderLease, 6 s by default) and renewed four
// times per lease. This replica trusts it only until one renewal period
// before it could expire, counted from the moment the renewal was asked
// for: a renewal that fails or hangs (the database is cut off, the process
// was paused) ends the trust, and with it the delivery in flight (see
// watch), before another replica can take the lease. Followers try every
// second or so, so a dead leader's lease is taken about one lease after its
// last renewal.
//
// Where the store keeps lease generations (core.FencedLeaser) every claim
// and settlement carries the generation as a Fence: a replica that lost the
// lease while it was paused claims nothing and settles nothing, and its
// successor takes over the records it had claimed at once.
type leadership struct {
	store  core.Store
	clock  Clock
	log    *slog.Logger
	name   string // "dispatcher:<connector>"
	owner  string
	ttl    time.Duration
	renew  time.Duration // how often the leader renews
	follow time.Duration // how often a follower tries
	onFlip func(leader bool)

	mu         sync.Mutex
	until      time.Time     // trusted while now < until
	generation int64         // of the lease while held, for fences; 0 without FencedLeaser
	changed    chan struct{} // closed and replaced at every attempt
	leading    bool          // as last logged
}

func newLeadership(store core.Store, clock Clock, log *slog.Logger, connector, owner string, ttl time.Duration, onFlip func(bool)) *leadership {
	return &leadership{store: store, clock: clock, log: log, name: "dispatcher:" + connector,
		owner: owner, ttl: ttl, renew: ttl / 4, follow: min(ttl/6, time.Second), onFlip: onFlip, changed: make(chan struct{})}
}

// acquire takes or renews the lease; generation is 0 when another holds it.
func (l *leadership) acquire(ctx context.Context, now time.Time) (int64, error) {
	actx, cancel := context.WithTimeout(ctx, l.renew)
	defer cancel()
	if f, ok := l.store.(core.FencedLeaser); ok {
		return f.AcquireFencedLease(actx, l.name, l.owner, l.ttl, now)
	}
	ok, err := l.store.AcquireLease(actx, l.name, l.owner, l.ttl, now)
	if ok {
		return -1, err // held, but without a generation: no fence
	}
	return 0, err
}

// run takes and renews the lease until ctx ends.
func (l *leadership) run(ctx context.Context) {
	for {
		now := l.clock.Now() // before the call: the lease may run from any moment after
		gen, err := l.acquire(ctx, now)
		if ctx.Err() != nil {
			return
		}
		l.mu.Lock()
		switch {
		case err != nil:
			// Keep what we had: the trust runs out by itself at until.
			l.log.Warn("cannot renew dispatcher lease; retrying", "lease", l.name, "err", err)
		case gen != 0:
			l.until = now.Add(l.ttl - l.renew)
			l.generation = max(gen, 0)
		default:
			l.until, l.generation = time.Time{}, 0
		}
		after := l.clock.Now()
		if gen != 0 && err == nil && !after.Before(l.until) {
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
				l.log.Info("dispatching connector on this replica", "lease", l.name, "owner", l.owner, "generation", gen)
			} else {
				l.log.Info("another replica dispatches this connector; standing by", "lease", l.name, "owner", l.owner)
			}
			if l.onFlip != nil {
				l.onFlip(leading)
			}
		}
		every := l.follow
		if leading {
			every = l.renew
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

// fence is the lease at the generation this replica holds, for claims and
// settlements; nil when the store keeps no generations.
func (l *leadership) fence() *core.Fence {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.generation <= 0 {
		return nil
	}
	return &core.Fence{Lease: l.name, Holder: l.owner, Generation: l.generation}
}

// watch returns a context that ends with ctx, or as soon as this replica
// stops trusting its lease: the work in flight stops before another
// replica can have taken the connector over. Its CRM requests check the
// trust again just before they are sent (core.WithSendCheck), as a
// process resumed after a pause may run them before this watch wakes.
// stop releases it. The
// deadline is timed on the wall clock (a test's fake clock moves only at
// renewals, which wake the watch too).
func (l *leadership) watch(ctx context.Context) (context.Context, context.CancelFunc) {
	wctx, cancel := context.WithCancel(ctx)
	wctx = core.WithSendCheck(wctx, l.isLeader)
	go func() {
		t := time.NewTimer(time.Hour)
		defer t.Stop()
		for {
			l.mu.Lock()
			until, ch := l.until, l.changed
			l.mu.Unlock()
			left := until.Sub(l.clock.Now())
			if left <= 0 {
				l.log.Warn("lease not renewed in time: stopping the delivery in flight before another replica takes over", "lease", l.name)
				cancel()
				return
			}
			t.Reset(left)
			select {
			case <-wctx.Done():
				return
			case <-ch:
			case <-t.C:
			}
		}
	}()
	return wctx, cancel
}

// release gives the lease up so another replica takes over at once.
func (l *leadership) release(ctx context.Context) {
	l.mu.Lock()
	held := !l.until.IsZero()
	l.until, l.generation = time.Time{}, 0
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
