package dispatchertest

import (
	"sync"
	"time"
)

// Clock is a fake clock: time moves only when a test says so. Its times are
// whole microseconds, like the database's, so what a test computes from
// Now compares exactly with what the store returns.
type Clock struct {
	mu     sync.Mutex
	now    time.Time
	timers []fakeTimer
	asleep map[string]int
}

type fakeTimer struct {
	at time.Time
	ch chan time.Time
}

// NewClock returns a clock standing at start.
func NewClock(start time.Time) *Clock {
	return &Clock{now: start.UTC().Truncate(time.Microsecond)}
}

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Until fires once the clock has been moved to t or past it.
func (c *Clock) Until(t time.Time) <-chan time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	ch := make(chan time.Time, 1)
	if !t.After(c.now) {
		ch <- c.now
		return ch
	}
	c.timers = append(c.timers, fakeTimer{at: t, ch: ch})
	return ch
}

// After fires once the clock has been moved d past now.
func (c *Clock) After(d time.Duration) <-chan time.Time { return c.Until(c.Now().Add(d)) }

// Advance moves the clock forward by d and fires the timers now due.
func (c *Clock) Advance(d time.Duration) { c.Set(c.Now().Add(d)) }

// Set moves the clock to t (never backwards) and fires the timers now due.
func (c *Clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	t = t.UTC().Truncate(time.Microsecond)
	if t.After(c.now) {
		c.now = t
	}
	kept := c.timers[:0]
	for _, tm := range c.timers {
		if !tm.at.After(c.now) {
			tm.ch <- c.now
			continue
		}
		kept = append(kept, tm)
	}
	c.timers = kept
}

// Timers is the number of timers waiting to fire.
func (c *Clock) Timers() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.timers)
}

// Sleeping records that a connector's worker sleeps on the clock until the
// returned function is called (dispatcher.SleepWatcher).
func (c *Clock) Sleeping(connector string) func() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.asleep == nil {
		c.asleep = map[string]int{}
	}
	c.asleep[connector]++
	return func() {
		c.mu.Lock()
		defer c.mu.Unlock()
		c.asleep[connector]--
	}
}

// Asleep reports whether the connector's worker is sleeping on the clock:
// it has finished what it was doing, so moving the clock now reaches it.
func (c *Clock) Asleep(connector string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.asleep[connector] > 0
}
