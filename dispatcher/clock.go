package dispatcher

import "time"

// Clock is the dispatcher's source of time: claims, leases, backoff, pauses,
// the circuit breaker and the rate limiters all read it, so tests can drive
// them with a fake (dispatchertest.Clock). Two things stay on the wall clock
// because they bound real waiting on the outside world: Options.DeliverTimeout
// and Options.ShutdownTimeout.
type Clock interface {
	Now() time.Time
	// Until sends the time once the clock has reached t (at once when it
	// already has).
	Until(t time.Time) <-chan time.Time
}

type wallClock struct{}

func (wallClock) Now() time.Time                     { return time.Now() }
func (wallClock) Until(t time.Time) <-chan time.Time { return time.After(time.Until(t)) }

// SleepWatcher is implemented by a test clock that wants to know when a
// connector's worker sleeps on it: Sleeping is called once the worker's timer
// is set, and the function it returns when the worker wakes. A test that
// moves the clock after the worker has gone to sleep is then sure the move
// reaches it, instead of racing the worker's last steps before it sleeps.
type SleepWatcher interface {
	Sleeping(connector string) (awake func())
}
