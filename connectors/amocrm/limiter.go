package amocrm

import (
	"context"
	"sync"
	"time"

	"github.com/paysync/paysync/core"
)

// DefaultMargin widens the limiter's second a little, for clock granularity.
const DefaultMargin = 10 * time.Millisecond

// window is a strict sliding-window limiter: amoCRM never sees more than n
// requests arrive in any period of length per. amoCRM blocks an
// integration that exceeds 7 requests a second again and again, so a token
// bucket, which after an idle second lets a full burst through right behind
// the requests of the last second (up to 2n in one second), is not enough.
//
// A request's slot counts from when its answer came back (or it failed):
// the request arrived at amoCRM no later than that. The request n places
// later starts no earlier than that plus per, so however late the earlier
// one travelled, the two arrive more than per apart. While the request n
// places earlier is still in flight, the next one waits for it.
type window struct {
	n   int
	per time.Duration
	now func() time.Time
	// sleep waits d or until ctx ends (tests replace it).
	sleep func(ctx context.Context, d time.Duration) error

	mu    sync.Mutex
	slots []slot // ring of the last n requests
	next  int    // the slot of the oldest of them
	hold  time.Time
}

type slot struct {
	at     time.Time     // when the request's answer came back; zero: never used
	flight chan struct{} // non-nil while the request is in flight; closed when it ends
}

func newWindow(n int, per time.Duration, now func() time.Time) *window {
	if now == nil {
		now = time.Now
	}
	return &window{n: n, per: per, now: now, sleep: sleepCtx, slots: make([]slot, n)}
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

// Wait blocks until the caller may start one request, and returns the
// function to call when the request has ended (answered or failed).
func (w *window) Wait(ctx context.Context) (done func(), err error) {
	w.mu.Lock()
	for {
		s := w.slots[w.next]
		if s.flight == nil {
			break
		}
		w.mu.Unlock()
		select {
		case <-s.flight:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		w.mu.Lock()
	}
	now := w.now()
	at := now
	if w.hold.After(at) {
		at = w.hold
	}
	i := w.next
	prev := w.slots[i].at
	if !prev.IsZero() && prev.Add(w.per).After(at) {
		at = prev.Add(w.per)
	}
	if dl, ok := ctx.Deadline(); ok && at.After(dl) {
		w.mu.Unlock()
		return nil, errNoSlot
	}
	flight := make(chan struct{})
	w.slots[i] = slot{at: at, flight: flight}
	w.next = (i + 1) % w.n
	w.mu.Unlock()

	end := func(t time.Time) {
		w.mu.Lock()
		w.slots[i] = slot{at: t}
		w.mu.Unlock()
		close(flight)
	}
	if err := w.sleep(ctx, at.Sub(now)); err != nil {
		end(prev) // nothing was sent: the slot keeps the request before
		return nil, err
	}
	return func() {
		t := w.now()
		if t.Before(at) {
			t = at
		}
		end(t)
	}, nil
}

// StartsBefore counts the requests that could start from now until t if
// they were sent back to back and answered at once: the most the window
// allows. The window is a sliding one, so after a burst the next start is
// a whole period away, not one pace.
func (w *window) StartsBefore(t time.Time) int {
	w.mu.Lock()
	defer w.mu.Unlock()
	floor := w.now()
	if w.hold.After(floor) {
		floor = w.hold
	}
	starts := make([]time.Time, 0, 2*w.n)
	for k := 0; k < 100*w.n; k++ {
		var free time.Time
		if k < w.n {
			if s := w.slots[(w.next+k)%w.n]; !s.at.IsZero() {
				free = s.at.Add(w.per)
			}
		} else {
			free = starts[k-w.n].Add(w.per)
		}
		at := floor
		if free.After(at) {
			at = free
		}
		if at.After(t) {
			return k
		}
		starts = append(starts, at)
	}
	return 100 * w.n
}

// Hold starts no request before until (a server's retry_after).
func (w *window) Hold(until time.Time) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if until.After(w.hold) {
		w.hold = until
	}
}
