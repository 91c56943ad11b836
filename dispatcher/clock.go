package dispatcher

import "time"

// Clock is the dispatcher's source of time: claims, leases, backoff, pauses,
// the circuit breaker and the rate limiters all read it, so tests can drive
// them with a fake (dispatchertest.Clock). Two things stay on the wall clock
// because they bound real waiting on the outside world: Options.DeliverTimeout
// and Options.ShutdownTimeout.
type Clock interface {
	Now() time.Time
	// After sends the time once d has passed.
	After(d time.Duration) <-chan time.Time
}

type wallClock struct{}

func (wallClock) Now() time.Time                         { return time.Now() }
func (wallClock) After(d time.Duration) <-chan time.Time { return time.After(d) }
