package amocrm

import (
	"context"
	"sync"
	"time"

	"github.com/paysync/paysync/core"
)

// DefaultMargin widens the limiter's window a little: a request's start is
// taken on this side of the network, and one that travels slower than the
// request seven slots later would otherwise arrive in the same second as it.
const DefaultMargin = 50 * time.Millisecond

// window is a strict sliding-window limiter: no more than n requests start
// in any period of length per. amoCRM blocks an integration that exceeds 7
// requests a second again and again, so a token bucket, which after an idle
// second lets a full burst through right behind the requests of the last
// second (up to 2n in one second), is not enough.
//
// Each request reserves a start time: the later of now, a hold (after a
// 429 or 403) and the start of the request n places earlier plus per.
// Reservations never decrease, so any n+1 consecutive starts span at least
// per.
type window struct {
	n   int
	per time.Duration
	now func() time.Time
	// sleep waits d or until ctx ends (tests replace it).
	sleep func(ctx context.Context, d time.Duration) error

	mu     sync.Mutex
	starts []time.Time // ring of the last n reservations
	next   int         // the slot of the oldest reservation
	hold   time.Time
}

func newWindow(n int, per time.Duration, now func() time.Time) *window {
	if now == nil {
		now = time.Now
	}
	return &window{n: n, per: per, now: now, sleep: sleepCtx, starts: make([]time.Time, n)}
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// errNoSlot is returned when the next free start is past ctx's deadline.
var errNoSlot = &core.DeliveryError{Class: core.Retryable,
	Reason: "paysync's own amoCRM pace (7 requests a second) leaves no request slot before the deadline; the rest is retried"}

// Wait blocks until the caller may start one request.
func (w *window) Wait(ctx context.Context) error {
	w.mu.Lock()
	now := w.now()
	at := now
	if w.hold.After(at) {
		at = w.hold
	}
	slot := w.next
	prev := w.starts[slot]
	if !prev.IsZero() && prev.Add(w.per).After(at) {
		at = prev.Add(w.per)
	}
	if dl, ok := ctx.Deadline(); ok && at.After(dl) {
		w.mu.Unlock()
		return errNoSlot
	}
	w.starts[slot] = at
	w.next = (slot + 1) % w.n
	w.mu.Unlock()

	if err := w.sleep(ctx, at.Sub(now)); err != nil {
		w.mu.Lock()
		// Give the slot back if nobody reserved after it.
		if w.next == (slot+1)%w.n && w.starts[slot].Equal(at) {
			w.starts[slot], w.next = prev, slot
		}
		w.mu.Unlock()
		return err
	}
	return nil
}

// Hold starts no request before until (a server's retry_after, a block).
func (w *window) Hold(until time.Time) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if until.After(w.hold) {
		w.hold = until
	}
}
