package sheets

import (
	"context"
	"math"
	"sync"
	"time"
)

// budget spends a per-minute quota the way Google counts it: at most limit
// requests in any minute. Unlike a token bucket refilling at limit/60 per
// second, it lets a burst of the whole minute's quota go at once when the
// minute allows it (a batch of writes after a quiet hour), and never more:
// a bucket of the same size would allow twice the quota in the minute
// after a burst, and Google would answer 429.
//
// It also paces: a burst may spend a quarter of the quota at once, and the
// rest comes back at the quota's own pace (limit a window). Spending the
// whole minute on the first requests of a burst (one order each, as a sale
// arrives) would leave the orders that follow waiting for the next minute;
// paced, they gather into the next delivery a second later.
//
// A request holds its slot from when it is sent until its answer is back,
// and the minute starts counting then: Google counts a request when it
// arrives, which is no later than the answer, so the two windows can only
// disagree in Google's favour.
type budget struct {
	limit  int
	window time.Duration
	now    func() time.Time

	mu       sync.Mutex
	done     []time.Time // answers of the last window, oldest first
	inFlight int
	freed    chan struct{} // closed and replaced whenever a slot may have freed
	// The pace: tokens refill at limit a window up to burst; a request takes one.
	tokens, burst float64
	filled        time.Time
}

func newBudget(limit int, window time.Duration, now func() time.Time) *budget {
	burst := float64(max(limit/4, 1))
	return &budget{limit: limit, window: window, now: now, freed: make(chan struct{}), tokens: burst, burst: burst, filled: now()}
}

// refill adds the tokens the pace gave since the last refill. Caller holds mu.
func (b *budget) refill(now time.Time) {
	if now.After(b.filled) {
		b.tokens = min(b.burst, b.tokens+float64(now.Sub(b.filled))*float64(b.limit)/float64(b.window))
		b.filled = now
	}
}

// next reports how long until a slot frees; 0 when one is free now, and -1
// when only an answer in flight can free one. Caller holds mu.
func (b *budget) next(now time.Time) time.Duration {
	for len(b.done) > 0 && !now.Before(b.done[0].Add(b.window)) {
		b.done = b.done[1:]
	}
	var wait time.Duration
	switch {
	case len(b.done)+b.inFlight < b.limit:
	case len(b.done) == 0:
		return -1
	default:
		wait = b.done[0].Add(b.window).Sub(now)
	}
	b.refill(now)
	if b.tokens < 1 {
		wait = max(wait, time.Duration(math.Ceil((1-b.tokens)*float64(b.window)/float64(b.limit))))
	}
	return wait
}

// acquire waits for a slot. When the wait would outlast ctx's deadline it
// returns at once with the wait, so the caller can report when to retry.
func (b *budget) acquire(ctx context.Context) (release func(), wait time.Duration, err error) {
	for {
		b.mu.Lock()
		now := b.now()
		d := b.next(now)
		if d == 0 {
			b.inFlight++
			b.tokens--
			b.mu.Unlock()
			var once sync.Once
			return func() { once.Do(b.release) }, 0, nil
		}
		freed := b.freed
		b.mu.Unlock()
		if dl, ok := ctx.Deadline(); ok && d > 0 && now.Add(d).After(dl) {
			return nil, d, context.DeadlineExceeded
		}
		var timer *time.Timer
		var fired <-chan time.Time
		if d > 0 {
			timer = time.NewTimer(d)
			fired = timer.C
		}
		select {
		case <-ctx.Done():
			err = ctx.Err()
		case <-freed:
		case <-fired:
		}
		if timer != nil {
			timer.Stop()
		}
		if err != nil {
			return nil, d, err
		}
	}
}

func (b *budget) release() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.inFlight--
	b.done = append(b.done, b.now())
	close(b.freed)
	b.freed = make(chan struct{})
}

// pace is how long the dispatcher should let orders gather before the next
// delivery: the share of the burst spent times the quota's pace (one
// request a second at 60 a minute). With the burst unspent it is 0 and a
// payment goes at once; as a stream of payments spends it, deliveries come
// less often and carry more, so the burst lasts instead of going on
// one-order deliveries that leave the rest of the stream waiting at the pace.
func (b *budget) pace() time.Duration {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.refill(b.now())
	used := min(max(1-b.tokens/b.burst, 0), 1)
	return time.Duration(used * float64(b.window) / float64(b.limit))
}

// wait is how long until a slot frees, for a rate-limit error's RetryAfter.
func (b *budget) wait() time.Duration {
	b.mu.Lock()
	defer b.mu.Unlock()
	return max(b.next(b.now()), 0)
}
