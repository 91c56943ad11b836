package bitrix24

import (
	"math"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// The portal's rate budget. Bitrix24 limits each portal with a leaky bucket
// shared by every integration of the shop: each request adds one, the bucket
// drains DefaultRate requests per second, and a request that would lift it
// above DefaultBucketSize is refused with 503 QUERY_LIMIT_EXCEEDED.
// Enterprise plans drain 5 per second and hold 250.
const (
	DefaultRate          = rate.Limit(2)
	DefaultBucketSize    = 50
	EnterpriseRate       = rate.Limit(5)
	EnterpriseBucketSize = 250
	// DefaultBurstShare is the share of the bucket paysync fills in a burst;
	// the rest is left to the shop's other integrations.
	DefaultBurstShare = 0.5
)

// budget models the portal's leaky bucket as far as paysync's own requests
// fill it. A request may start when the modeled level + 1 stays within
// ceiling (the burst share of the capacity); it then adds one. The level
// drains at the portal's rate. Requests are booked when they are reserved,
// so the level includes requests still waiting for their start: a booking
// that waits starts exactly when the level has drained to leave room for it.
type budget struct {
	mu       sync.Mutex
	drain    float64 // requests per second; +Inf: no limit
	capacity float64
	ceiling  float64 // the level paysync may fill, ≥ 1
	level    float64
	at       time.Time // when level was computed
}

// newBudget returns the budget of a client started at now. It does not know
// what it (or an earlier process) sent just before, so it assumes its share
// of the bucket is full: a client restarted in a loop then adds no more than
// the bucket drains.
func newBudget(r rate.Limit, capacity int, share float64, now time.Time) *budget {
	b := &budget{drain: float64(r), capacity: float64(capacity)}
	b.ceiling = max(math.Floor(share*float64(capacity)), 1)
	b.level, b.at = b.ceiling, now
	return b
}

func (b *budget) unlimited() bool { return math.IsInf(b.drain, 1) || b.drain <= 0 }

// drainTo brings the level to now. Caller holds mu.
func (b *budget) drainTo(now time.Time) {
	if el := now.Sub(b.at).Seconds(); el > 0 {
		b.level = max(b.level-el*b.drain, 0)
		b.at = now
	}
}

// waitLocked is how long a request reserved now would wait. Caller holds mu.
func (b *budget) waitLocked() time.Duration {
	over := b.level + 1 - b.ceiling
	if over <= 0 {
		return 0
	}
	return time.Duration(math.Ceil(over / b.drain * float64(time.Second)))
}

// reserve books one request at now and returns how long it must wait
// before it starts. A booking that is not used must be cancelled.
func (b *budget) reserve(now time.Time) time.Duration {
	if b.unlimited() {
		return 0
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.drainTo(now)
	wait := b.waitLocked()
	b.level++
	return wait
}

// cancel gives back a booking whose request was never sent.
func (b *budget) cancel(now time.Time) {
	if b.unlimited() {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.drainTo(now)
	b.level = max(b.level-1, 0)
}

// delay is how long a request would wait if it were reserved now.
func (b *budget) delay(now time.Time) time.Duration {
	if b.unlimited() {
		return 0
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.drainTo(now)
	return b.waitLocked()
}

// fill records that the portal refused a request for a full bucket
// (QUERY_LIMIT_EXCEEDED): others filled it. The level is set to the whole
// capacity, so paysync sends nothing until the bucket has drained to its
// share again.
func (b *budget) fill(now time.Time) {
	if b.unlimited() {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.drainTo(now)
	b.level = max(b.level, b.capacity)
}

// used is the share of paysync's part of the bucket that the level fills
// at now: 0 when it has drained, 1 when a request would wait.
func (b *budget) used(now time.Time) float64 {
	if b.unlimited() {
		return 0
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.drainTo(now)
	return min(b.level/b.ceiling, 1)
}

// pace is how long the dispatcher should let orders gather before the next
// delivery: the share of the bucket in use times the time the bucket takes
// to drain one delivery's two requests (a lookup, then the writes). On an
// idle portal it is 0 and a payment goes at once; as a stream of payments
// fills the bucket, deliveries come less often and carry more, so the burst
// share lasts instead of going on one-order deliveries that leave the rest
// of the stream waiting at the drain rate.
func (b *budget) pace(now time.Time) time.Duration {
	if b.unlimited() {
		return 0
	}
	u := b.used(now)
	return time.Duration(u * u * 2 / b.drain * float64(time.Second))
}

// levelAt is the modeled level at now, for tests.
func (b *budget) levelAt(now time.Time) float64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.drainTo(now)
	return b.level
}
