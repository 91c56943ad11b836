package dispatcher_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"golang.org/x/time/rate"

	"github.com/paysync/paysync/core"
	"github.com/paysync/paysync/dispatcher"
	"github.com/paysync/paysync/dispatcher/dispatchertest"
	"github.com/paysync/paysync/internal/testutil"
	"github.com/paysync/paysync/storage/testdb"
)

// scripted is a connector whose every call makes the requests of script
// (reported to the dispatcher through core.ObserveRequest) and then fails
// every order with a retryable error, the way a connector whose delivery
// is a chain of requests fails what one bad request left undone.
type scripted struct {
	name   string
	script []core.RequestOutcome

	mu    sync.Mutex
	calls int
}

func (s *scripted) Name() string  { return s.name }
func (s *scripted) MaxBatch() int { return 10 }

func (s *scripted) Deliver(ctx context.Context, batch []core.Delivery) []core.DeliveryResult {
	s.mu.Lock()
	s.calls++
	s.mu.Unlock()
	for _, o := range s.script {
		core.ObserveRequest(ctx, o)
	}
	out := make([]core.DeliveryResult, len(batch))
	for i := range out {
		out[i].Err = dispatchertest.Unavailable()
	}
	return out
}

func (s *scripted) Calls() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls
}

// The breaker counts the requests a connector reports, not whole calls
// (issue 24): a call that failed its orders after three good requests and
// one bad one is no sign of an outage, however often it happens; three
// failed requests in one call are, at once.
func TestBreakerCountsRequests(t *testing.T) {
	testdb.Each(t, func(t *testing.T, dialect string) {
		for _, tc := range []struct {
			name   string
			script []core.RequestOutcome
			calls  int  // calls made before the check
			open   bool // the breaker is open after them
		}{
			{"one bad request in four", []core.RequestOutcome{core.RequestAnswered, core.RequestAnswered, core.RequestAnswered, core.RequestFailed}, 6, false},
			{"three bad requests in one call", []core.RequestOutcome{core.RequestFailed, core.RequestFailed, core.RequestFailed}, 1, true},
			{"rate limits say nothing", []core.RequestOutcome{core.RequestAnswered, core.RequestThrottled, core.RequestThrottled, core.RequestThrottled}, 4, false},
		} {
			t.Run(tc.name, func(t *testing.T) {
				db := testdb.Open(t, dialect)
				conn := &scripted{name: "crm", script: tc.script}
				create(t, db, "o-1", "crm")
				clock := dispatchertest.NewClock(time.Now().Add(time.Second))
				wake := make(chan string, 1)
				d := dispatcher.New(db, []core.Connector{conn}, dispatcher.Options{Owner: "replica", Clock: clock, LeaderLease: time.Minute, Wake: wake,
					Logger: testutil.Logger(t), Gather: -1, RateLimits: map[string]dispatcher.RateLimit{"crm": {PerSecond: rate.Inf, Burst: 1}},
					Backoff: dispatcher.Backoff{Steps: []time.Duration{time.Second}, Every: time.Second, NoJitter: true},
					Breaker: dispatcher.Breaker{Failures: 3, Cooldown: time.Minute}})
				start(t, d)
				for call := 1; call <= tc.calls; call++ {
					testutil.Eventually(t, "a call", func() bool {
						r := onlyRecord(t, db, "o-1")
						return conn.Calls() == call && r.Attempts == call && r.LeaseToken == "" && clock.Asleep("crm")
					})
					if call < tc.calls {
						clock.Advance(time.Second)
						wake <- "crm"
					}
				}
				s := stateOf(t, d, "crm")
				if open := s.State == dispatcher.StateOpen; open != tc.open {
					t.Fatalf("after %d calls of %v the connector is %s (%s), want open = %v", tc.calls, tc.script, s.State, s.Reason, tc.open)
				}
			})
		}
	})
}
