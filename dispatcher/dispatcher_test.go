package dispatcher_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/time/rate"

	"github.com/paysync/paysync/core"
	"github.com/paysync/paysync/dispatcher"
	"github.com/paysync/paysync/dispatcher/dispatchertest"
	"github.com/paysync/paysync/internal/testutil"
	"github.com/paysync/paysync/storage"
	"github.com/paysync/paysync/storage/testdb"
)

var unlimited = map[string]dispatcher.RateLimit{}

func init() {
	for _, n := range []string{"crm", "good", "bad", "crm-a", "crm-b", "crm-c"} {
		unlimited[n] = dispatcher.RateLimit{PerSecond: rate.Inf, Burst: 1}
	}
}

// fast are options for tests on the wall clock: short polls and retries, so
// that work moves quickly; the assertions still only count.
func fast(t testing.TB, owner string) dispatcher.Options {
	return dispatcher.Options{
		Owner: owner, Lease: 5 * time.Second, PollInterval: 10 * time.Millisecond,
		Backoff:    dispatcher.Backoff{Steps: []time.Duration{5 * time.Millisecond}, Every: 10 * time.Millisecond},
		Breaker:    dispatcher.Breaker{Cooldown: 20 * time.Millisecond},
		RateLimits: unlimited, Logger: testutil.Logger(t), ShutdownTimeout: 5 * time.Second,
	}
}

// Done-when 1: a dispatcher killed after the CRM wrote the order but before
// the outbox was acked leaves the record leased; a new dispatcher takes the
// connector over once the lease expires, delivers again, and the CRM still
// has one record for the order, written twice.
func TestCrashBetweenWriteAndAck(t *testing.T) {
	testdb.Each(t, func(t *testing.T, dialect string) {
		db := testdb.Open(t, dialect)
		create(t, db, "o-1", "crm")
		crm := dispatchertest.NewCRM("crm", 10)
		clock := dispatchertest.NewClock(time.Now().Add(time.Second))

		a := &killable{DB: db}
		ctxA, killA := context.WithCancel(bg)
		var once sync.Once
		crm.SetAfterWrite(func(string) {
			once.Do(func() { a.killed.Store(true); killA() })
		})
		optA := dispatcher.Options{Owner: "replica-a", Clock: clock, LeaderLease: time.Minute, Logger: testutil.Logger(t), RateLimits: unlimited}
		doneA := make(chan error, 1)
		go func() { doneA <- dispatcher.New(a, []core.Connector{crm}, optA).Run(ctxA) }()
		if err := <-doneA; err != nil {
			t.Fatal(err)
		}
		crm.SetAfterWrite(nil)

		if n := len(crm.Writes("o-1")); n != 1 {
			t.Fatalf("CRM writes before the crash = %d, want 1", n)
		}
		r := onlyRecord(t, db, "o-1")
		if r.State != core.DeliveryPending || r.Attempts != 1 || r.LeaseOwner != "replica-a" || r.LeaseExpiresAt == nil {
			t.Fatalf("after the crash the record is %+v, want pending, leased to replica-a, 1 attempt", r)
		}

		b := &killable{DB: db}
		optB := dispatcher.Options{Owner: "replica-b", Clock: clock, LeaderLease: time.Minute, Logger: testutil.Logger(t), RateLimits: unlimited}
		db2 := dispatcher.New(b, []core.Connector{crm}, optB)
		stale := clock.Timers() // left behind by replica a
		start(t, db2)
		// b asked for the lease and sleeps on its follower timer.
		testutil.Eventually(t, "replica b tried to lead", func() bool { return b.leases.Load() >= 1 && clock.Timers() == stale+1 })
		clock.Advance(30 * time.Second) // half the lease: a's claim still stands
		testutil.Eventually(t, "replica b tried again", func() bool { return b.leases.Load() >= 2 && clock.Timers() == 1 })
		if n := len(crm.Writes("o-1")); n != 1 {
			t.Fatalf("redelivered before the lease expired: %d writes", n)
		}
		if s := stateOf(t, db2, "crm"); s.State != dispatcher.StateStandby {
			t.Fatalf("replica b state = %q, want standby while a's lease holds", s.State)
		}

		clock.Advance(31 * time.Second) // past the lease
		testutil.Eventually(t, "redelivered and acked", func() bool {
			return countState(t, db, "crm", core.DeliveryDelivered) == 1
		})
		if crm.Len() != 1 {
			t.Fatalf("CRM has %d records, want 1", crm.Len())
		}
		ws := crm.Writes("o-1")
		if len(ws) != 2 || !ws[0].Created || ws[1].Created || ws[0].ExternalID != ws[1].ExternalID {
			t.Fatalf("writes = %+v, want a create and an update of the same record", ws)
		}
		r = onlyRecord(t, db, "o-1")
		if r.Attempts != 2 || r.ExternalID != ws[0].ExternalID {
			t.Fatalf("record = %+v, want 2 attempts and external id %s", r, ws[0].ExternalID)
		}
		link, _ := db.GetLink(bg, "crm", "o-1")
		if link == nil || link.SyncedVersion != 1 || link.ExternalID != ws[0].ExternalID {
			t.Fatalf("link = %+v", link)
		}
		crm.Check(t)
	})
}

// Done-when 2: random status changes racing the dispatcher, with injected
// failures and restarts, end with every CRM record equal to its order, and
// the CRM never saw a version older than one it had.
func TestPropertyFinalStateNeverRegresses(t *testing.T) {
	testdb.Each(t, func(t *testing.T, dialect string) {
		for seed := uint64(1); seed <= 3; seed++ {
			t.Run(fmt.Sprint("seed", seed), func(t *testing.T) { propertyRun(t, dialect, seed) })
		}
	})
}

func propertyRun(t *testing.T, dialect string, seed uint64) {
	db := testdb.Open(t, dialect)
	rng := rand.New(rand.NewPCG(seed, 42))
	var rmu sync.Mutex
	roll := func(n int) int { rmu.Lock(); defer rmu.Unlock(); return rng.IntN(n) }

	crm := dispatchertest.NewCRM("crm", 4)
	crm.SetFail(func(core.Delivery) error {
		switch r := roll(100); {
		case r < 20:
			return dispatchertest.Unavailable()
		case r < 23:
			return dispatchertest.SlowDown(3 * time.Millisecond)
		}
		return nil
	})
	crm.SetBeforeDeliver(func(context.Context, []core.Delivery) {
		time.Sleep(time.Duration(roll(2000)) * time.Microsecond)
	})

	const nOrders = 12
	orders := make([]*core.Order, nOrders)
	for i := range orders {
		orders[i] = create(t, db, fmt.Sprintf("o-%d", i), "crm")
	}
	var (
		dmu     sync.Mutex
		current *running
	)
	restart := func() {
		dmu.Lock()
		defer dmu.Unlock()
		if current != nil {
			current.stop(t)
		}
		opt := fast(t, fmt.Sprintf("replica-%d", roll(1000)))
		current = start(t, dispatcher.New(db, []core.Connector{crm}, opt))
	}
	restart()

	// The actor: valid transitions only, interleaved with deliveries.
	for step := 0; step < 120; step++ {
		o := orders[roll(nOrders)]
		var next []core.Status
		for _, s := range core.Statuses {
			if core.CanTransition(o.Status, s) {
				next = append(next, s)
			}
		}
		if len(next) > 0 {
			if err := move(db, o, next[roll(len(next))], "crm"); err != nil {
				t.Fatalf("move %s: %v", o.ID, err)
			}
		}
		if roll(40) == 0 {
			restart()
		}
		time.Sleep(time.Duration(roll(1500)) * time.Microsecond)
	}

	testutil.Eventually(t, "every record delivered", func() bool {
		return countState(t, db, "crm", core.DeliveryPending) == 0
	})
	if n := countState(t, db, "crm", core.DeliveryDead); n != 0 {
		t.Fatalf("%d records dead", n)
	}
	for _, o := range orders {
		stored, err := db.GetOrder(bg, o.ID)
		if err != nil {
			t.Fatal(err)
		}
		r, ok := crm.Record(o.ID)
		if !ok || r.Version != stored.Version || r.Status != stored.Status {
			t.Errorf("order %s: CRM has v%d %s, the order is v%d %s", o.ID, r.Version, r.Status, stored.Version, stored.Status)
		}
		var last int64
		for _, w := range crm.Writes(o.ID) {
			if w.Version < last {
				t.Errorf("order %s: CRM got v%d after v%d", o.ID, w.Version, last)
			}
			last = w.Version
		}
	}
	crm.Check(t)
}

// Done-when 3: a CRM that answers 503 forever, even one that hangs first,
// does not hold up another connector: the healthy one delivers everything
// while the failing one has delivered nothing.
func TestFailingConnectorDoesNotDelayAnother(t *testing.T) {
	testdb.Each(t, func(t *testing.T, dialect string) {
		db := testdb.Open(t, dialect)
		good := dispatchertest.NewCRM("good", 5)
		bad := dispatchertest.NewCRM("bad", 5)
		bad.SetDown(dispatchertest.Unavailable())
		hang := make(chan struct{})
		bad.SetBeforeDeliver(func(ctx context.Context, _ []core.Delivery) {
			select { // the first call hangs until the test lets it go
			case <-hang:
			case <-ctx.Done():
			}
		})
		const n = 40
		for i := range n / 2 {
			create(t, db, fmt.Sprintf("o-%d", i), "good", "bad")
		}
		opt := fast(t, "replica")
		opt.DeliverTimeout = time.Minute
		r := start(t, dispatcher.New(db, []core.Connector{bad, good}, opt))

		testutil.Eventually(t, "bad connector called", func() bool { return bad.Calls() >= 1 })
		testutil.Eventually(t, "good connector delivered the first half", func() bool {
			return countState(t, db, "good", core.DeliveryDelivered) == n/2
		})
		if bad.Calls() != 1 {
			t.Fatalf("bad connector calls = %d while the first hangs", bad.Calls())
		}
		close(hang)
		testutil.Eventually(t, "bad connector failing", func() bool { return bad.Calls() >= 2 })

		for i := n / 2; i < n; i++ {
			create(t, db, fmt.Sprintf("o-%d", i), "good", "bad")
		}
		testutil.Eventually(t, "good connector delivered everything", func() bool {
			return countState(t, db, "good", core.DeliveryDelivered) == n
		})
		if good.Len() != n {
			t.Fatalf("good CRM has %d records, want %d", good.Len(), n)
		}
		if d := countState(t, db, "bad", core.DeliveryDelivered); d != 0 || bad.Len() != 0 {
			t.Fatalf("bad connector delivered %d", d)
		}
		if p := countState(t, db, "bad", core.DeliveryPending); p != n {
			t.Fatalf("bad connector has %d pending, want %d", p, n)
		}
		r.stop(t)
		good.Check(t)
	})
}

// Done-when 4: a permanent refusal dead-letters the order after exactly one
// attempt, with the CRM's reason where the operator looks for it.
func TestPermanentErrorDeadLettersAtOnce(t *testing.T) {
	testdb.Each(t, func(t *testing.T, dialect string) {
		db := testdb.Open(t, dialect)
		crm := dispatchertest.NewCRM("crm", 10)
		const reason = "Bitrix24 rejected CURRENCY_ID AMD: enable AMD in CRM > Settings > Currencies"
		crm.Refuse("o-2", reason)
		for _, id := range []string{"o-1", "o-2", "o-3"} {
			create(t, db, id, "crm")
		}
		start(t, dispatcher.New(db, []core.Connector{crm}, fast(t, "replica")))
		testutil.Eventually(t, "settled", func() bool {
			return countState(t, db, "crm", core.DeliveryDelivered) == 2 && countState(t, db, "crm", core.DeliveryDead) == 1
		})
		dead := records(t, db, "crm", core.DeliveryDead)
		if dead[0].OrderID != "o-2" || dead[0].Attempts != 1 || dead[0].LastError != reason {
			t.Fatalf("dead letter = %+v, want o-2 after 1 attempt with the reason", dead[0])
		}
		if tries := crm.Tries("o-2"); tries != 1 {
			t.Fatalf("o-2 was tried %d times, want 1", tries)
		}
		if _, ok := crm.Record("o-2"); ok {
			t.Fatal("o-2 is in the CRM")
		}
	})
}

// Done-when 5: on a fake clock, a failing record becomes due exactly when the
// schedule says and not a microsecond before, until it is dead-lettered on
// the first failure 3 days after it was enqueued.
func TestBackoffSchedule(t *testing.T) {
	testdb.Each(t, func(t *testing.T, dialect string) {
		db := testdb.Open(t, dialect)
		create(t, db, "o-1", "crm")
		crm := dispatchertest.NewCRM("crm", 10)
		crm.SetDown(dispatchertest.Unavailable())
		clock := dispatchertest.NewClock(time.Now().Add(time.Second))
		wake := make(chan string, 1)
		backoff := dispatcher.Backoff{NoJitter: true}
		opt := dispatcher.Options{Owner: "replica", Clock: clock, LeaderLease: time.Minute, Wake: wake, Backoff: backoff, Logger: testutil.Logger(t),
			RateLimits: unlimited,
			// A breaker that never trips: this test is about the schedule alone.
			Breaker: dispatcher.Breaker{Failures: 1 << 30, Ratio: 1, Window: 1000, MinCalls: 1000}}
		start(t, dispatcher.New(db, []core.Connector{crm}, opt))

		created := onlyRecord(t, db, "o-1").CreatedAt
		for attempt := 1; ; attempt++ {
			at := clock.Now()
			var r core.OutboxRecord
			testutil.Eventually(t, fmt.Sprintf("attempt %d settled", attempt), func() bool {
				r = onlyRecord(t, db, "o-1")
				return r.Attempts == attempt && r.LeaseToken == "" && clock.Asleep("crm")
			})
			if at.Sub(created) >= 72*time.Hour {
				if r.State != core.DeliveryDead || !strings.Contains(r.LastError, fmt.Sprintf("gave up after %d attempts", attempt)) {
					t.Fatalf("attempt %d, %s after enqueue: record %+v, want dead", attempt, at.Sub(created), r)
				}
				// Attempt 9 comes 10h42m35s after the first; then every 12h:
				// attempt 14 at ~70h42m is retried, attempt 15 at ~82h42m is dead.
				if attempt != 15 {
					t.Fatalf("dead after %d attempts, want 15", attempt)
				}
				break
			}
			if r.State != core.DeliveryPending || r.LastError != dispatchertest.Unavailable().Reason {
				t.Fatalf("attempt %d: record %+v", attempt, r)
			}
			want := at.Add(backoff.Step(attempt))
			if !r.AvailableAt.Equal(want) {
				t.Fatalf("attempt %d failed at %s: due at %s, want %s (+%s)", attempt, at, r.AvailableAt, want, backoff.Step(attempt))
			}
			// A microsecond early, nothing is due.
			early, err := db.ClaimOutbox(bg, core.ClaimRequest{Connector: "crm", Owner: "probe", Token: "probe",
				Limit: 10, Lease: time.Minute, Now: want.Add(-time.Microsecond)})
			if err != nil || len(early) != 0 {
				t.Fatalf("claim a microsecond early got %d records (err %v)", len(early), err)
			}
			clock.Set(want)
			wake <- "crm"
		}
		if got := crm.Calls(); got != 15 {
			t.Fatalf("CRM calls = %d, want 15", got)
		}
	})
}

// With full jitter each wait lies in [0, step], and waits differ.
func TestBackoffJitter(t *testing.T) {
	b := dispatcher.Backoff{}
	want := []time.Duration{5 * time.Second, 30 * time.Second, 2 * time.Minute, 10 * time.Minute, 30 * time.Minute,
		time.Hour, 3 * time.Hour, 6 * time.Hour, 12 * time.Hour, 12 * time.Hour}
	for i, w := range want {
		if got := b.Step(i + 1); got != w {
			t.Fatalf("step %d = %s, want %s", i+1, got, w)
		}
	}
	seen := map[time.Duration]bool{}
	for attempt := 1; attempt <= 12; attempt++ {
		step := b.Step(attempt)
		for range 200 {
			d := b.Delay(attempt, rand.Float64())
			if d < 0 || d > step {
				t.Fatalf("attempt %d: delay %s outside [0, %s]", attempt, d, step)
			}
			seen[d] = true
		}
		if b.Delay(attempt, 0) != 0 || b.Delay(attempt, 1) != step {
			t.Fatalf("attempt %d: bounds are not [0, %s]", attempt, step)
		}
	}
	if len(seen) < 1000 {
		t.Fatalf("only %d distinct delays: no jitter?", len(seen))
	}
	if (dispatcher.Backoff{NoJitter: true}).Delay(3, 0.1) != 2*time.Minute {
		t.Fatal("NoJitter must wait the step exactly")
	}
}

// The dispatcher jitters for real: every retry lands in [failure, failure+step].
func TestBackoffJitterApplied(t *testing.T) {
	testdb.Each(t, func(t *testing.T, dialect string) {
		db := testdb.Open(t, dialect)
		crm := dispatchertest.NewCRM("crm", 50)
		crm.SetDown(dispatchertest.Unavailable())
		for i := range 30 {
			create(t, db, fmt.Sprintf("o-%d", i), "crm")
		}
		clock := dispatchertest.NewClock(time.Now().Add(time.Second))
		opt := dispatcher.Options{Owner: "replica", Clock: clock, LeaderLease: time.Minute, Logger: testutil.Logger(t), RateLimits: unlimited}
		start(t, dispatcher.New(db, []core.Connector{crm}, opt))
		testutil.Eventually(t, "all tried", func() bool {
			for _, r := range records(t, db, "crm", "") {
				if r.Attempts != 1 || r.LeaseToken != "" {
					return false
				}
			}
			return true
		})
		now := clock.Now()
		distinct := map[time.Time]bool{}
		for _, r := range records(t, db, "crm", "") {
			if r.AvailableAt.Before(now) || r.AvailableAt.After(now.Add(5*time.Second)) {
				t.Fatalf("retry at %s, outside [%s, +5s]", r.AvailableAt, now)
			}
			distinct[r.AvailableAt] = true
		}
		if len(distinct) < 20 {
			t.Fatalf("only %d distinct retry times for 30 records", len(distinct))
		}
	})
}

// Done-when 6: two replicas, each with its own connection pool, restarted
// at random so that leadership moves between them, never work on one order
// at once, and deliver every record enqueued.
func TestTwoReplicasNeverOverlap(t *testing.T) {
	testdb.Each(t, func(t *testing.T, dialect string) {
		o := testdb.Options(t, dialect)
		stores := []*storage.DB{testdb.OpenWith(t, o), testdb.OpenWith(t, o)}
		names := []string{"crm-a", "crm-b", "crm-c"}
		crms := make([]*dispatchertest.CRM, len(names))
		conns := make([]core.Connector, len(names))
		rng := rand.New(rand.NewPCG(7, 7))
		var rmu sync.Mutex
		roll := func(n int) int { rmu.Lock(); defer rmu.Unlock(); return rng.IntN(n) }
		for i, n := range names {
			crms[i] = dispatchertest.NewCRM(n, 5)
			crms[i].SetBeforeDeliver(func(context.Context, []core.Delivery) {
				time.Sleep(time.Duration(roll(3000)) * time.Microsecond)
			})
			crms[i].SetFail(func(core.Delivery) error {
				if roll(10) == 0 {
					return dispatchertest.Unavailable()
				}
				return nil
			})
			conns[i] = crms[i]
		}
		ds := make([]*dispatcher.Dispatcher, 2)
		replica := func(i, gen int) *running {
			opt := fast(t, fmt.Sprintf("replica-%d-%d", i, gen))
			opt.Lease = time.Second
			opt.ShutdownTimeout = 50 * time.Millisecond
			opt.Wake = stores[i].Subscribe(t.Context())
			ds[i] = dispatcher.New(stores[i], conns, opt)
			return start(t, ds[i])
		}
		live := []*running{replica(0, 0), replica(1, 0)}
		leadsAll := func(i int) bool {
			st, err := ds[i].Stats(bg)
			if err != nil {
				t.Fatal(err)
			}
			for _, s := range st {
				if s.State == dispatcher.StateStandby {
					return false
				}
			}
			return true
		}
		failovers := 0

		orders := make([]*core.Order, 30)
		enqueued := 0
		for i := range orders {
			orders[i] = create(t, stores[i%2], fmt.Sprintf("o-%d", i), names...)
			enqueued += len(names)
		}
		for step := 0; step < 90; step++ {
			o := orders[roll(len(orders))]
			for _, to := range []core.Status{core.StatusPaid, core.StatusFailed, core.StatusManualReview, core.StatusRefunded} {
				if core.CanTransition(o.Status, to) {
					if err := move(stores[step%2], o, to, names...); err != nil {
						t.Fatal(err)
					}
					enqueued += len(names)
					break
				}
			}
			if step%15 == 14 { // restart a replica once the other has taken its connectors over
				i := (step / 15) % 2
				live[i].stop(t)
				testutil.Eventually(t, "fail-over", func() bool { return leadsAll(1 - i) })
				failovers++
				live[i] = replica(i, step)
			}
			time.Sleep(time.Duration(roll(5)) * time.Millisecond)
		}

		testutil.Eventually(t, "everything delivered", func() bool {
			n := 0
			for _, c := range names {
				n += countState(t, stores[0], c, core.DeliveryDelivered)
			}
			return n == enqueued
		})
		for _, c := range names {
			if p, d := countState(t, stores[0], c, core.DeliveryPending), countState(t, stores[0], c, core.DeliveryDead); p+d != 0 {
				t.Fatalf("%s: %d pending, %d dead", c, p, d)
			}
		}
		if failovers != 6 {
			t.Fatalf("%d fail-overs, want 6", failovers)
		}
		for i, crm := range crms {
			crm.Check(t)
			for _, o := range orders {
				stored, _ := stores[0].GetOrder(bg, o.ID)
				if r, _ := crm.Record(o.ID); r.Version != stored.Version || r.Status != stored.Status {
					t.Errorf("%s %s: CRM v%d %s, order v%d %s", names[i], o.ID, r.Version, r.Status, stored.Version, stored.Status)
				}
			}
		}
	})
}

// The breaker opens after consecutive failures, lets one probe through
// after the cool-down (doubling it when the probe fails) and closes when a
// probe succeeds.
func TestCircuitBreaker(t *testing.T) {
	testdb.Each(t, func(t *testing.T, dialect string) {
		db := testdb.Open(t, dialect)
		crm := dispatchertest.NewCRM("crm", 10)
		crm.SetDown(dispatchertest.Unavailable())
		create(t, db, "o-1", "crm")
		clock := dispatchertest.NewClock(time.Now().Add(time.Second))
		wake := make(chan string, 1)
		opt := dispatcher.Options{Owner: "replica", Clock: clock, LeaderLease: time.Minute, Wake: wake, Logger: testutil.Logger(t), RateLimits: unlimited,
			Backoff: dispatcher.Backoff{Steps: []time.Duration{time.Second}, Every: time.Second, NoJitter: true},
			Breaker: dispatcher.Breaker{Failures: 3, Cooldown: time.Minute}}
		d := dispatcher.New(db, []core.Connector{crm}, opt)
		start(t, d)

		for call := 1; call <= 3; call++ {
			testutil.Eventually(t, fmt.Sprintf("call %d", call), func() bool {
				r := onlyRecord(t, db, "o-1")
				return crm.Calls() == call && r.Attempts == call && r.LeaseToken == "" && clock.Asleep("crm")
			})
			if call < 3 {
				// Failing, but not yet enough to open the breaker: backing off, with the CRM's answer.
				if s := stateOf(t, d, "crm"); s.State != dispatcher.StateBackingOff || s.Reason != dispatchertest.Unavailable().Reason {
					t.Fatalf("after %d failures state = %s (%q), want backing_off with the reason", call, s.State, s.Reason)
				}
				clock.Advance(time.Second)
				wake <- "crm"
			}
		}
		opened := clock.Now()
		s := stateOf(t, d, "crm")
		if s.State != dispatcher.StateOpen || !s.Until.Equal(opened.Add(time.Minute)) || s.Reason == "" {
			t.Fatalf("after 3 failures: %+v, want open until +1m with a reason", s)
		}

		clock.Advance(30 * time.Second) // due, but the breaker holds it
		wake <- "crm"
		if s := stateOf(t, d, "crm"); s.State != dispatcher.StateOpen {
			t.Fatalf("mid cool-down state = %s", s.State)
		}
		if crm.Calls() != 3 {
			t.Fatalf("called while open: %d calls", crm.Calls())
		}

		clock.Advance(30 * time.Second) // cool-down over: one probe, still failing
		testutil.Eventually(t, "failed probe", func() bool {
			return crm.Calls() == 4 && stateOf(t, d, "crm").State == dispatcher.StateOpen && clock.Asleep("crm")
		})
		if s := stateOf(t, d, "crm"); !s.Until.Equal(clock.Now().Add(2 * time.Minute)) {
			t.Fatalf("after a failed probe: open until %s, want +2m", s.Until)
		}

		create(t, db, "o-2", "crm")
		create(t, db, "o-3", "crm")
		crm.SetDown(nil)
		clock.Advance(2 * time.Minute)
		testutil.Eventually(t, "all delivered", func() bool { return countState(t, db, "crm", core.DeliveryDelivered) == 3 })
		sizes := crm.BatchSizes()
		if len(sizes) != 6 || sizes[4] != 1 || sizes[5] != 2 {
			t.Fatalf("batch sizes = %v, want a probe of 1 then the other 2", sizes)
		}
		if s := stateOf(t, d, "crm"); s.State != dispatcher.StateRunning {
			t.Fatalf("after a good probe state = %s", s.State)
		}
	})
}

// A graceful stop lets a call finish within ShutdownTimeout; a call that
// outlives it is cancelled and its records released without an attempt
// counted, and the connector's lease is given up at once.
func TestGracefulShutdown(t *testing.T) {
	testdb.Each(t, func(t *testing.T, dialect string) {
		for _, finishes := range []bool{true, false} {
			t.Run(map[bool]string{true: "finishes", false: "released"}[finishes], func(t *testing.T) {
				db := testdb.Open(t, dialect)
				create(t, db, "o-1", "crm")
				crm := dispatchertest.NewCRM("crm", 10)
				entered, letGo := make(chan struct{}), make(chan struct{})
				crm.SetBeforeDeliver(func(ctx context.Context, _ []core.Delivery) {
					close(entered)
					select {
					case <-letGo:
					case <-ctx.Done():
					}
				})
				opt := fast(t, "replica")
				opt.ShutdownTimeout = 200 * time.Millisecond
				if finishes {
					opt.ShutdownTimeout = time.Minute
				}
				r := start(t, dispatcher.New(db, []core.Connector{crm}, opt))
				<-entered
				r.cancel()
				if finishes {
					close(letGo)
				}
				r.stop(t)

				rec := onlyRecord(t, db, "o-1")
				if finishes {
					if rec.State != core.DeliveryDelivered {
						t.Fatalf("record = %+v, want delivered during the graceful stop", rec)
					}
				} else if rec.State != core.DeliveryPending || rec.Attempts != 0 || rec.LeaseToken != "" || rec.LeaseExpiresAt != nil {
					t.Fatalf("record = %+v, want released: pending, 0 attempts, no lease", rec)
				}
				ok, err := db.AcquireLease(bg, "dispatcher:crm", "next-replica", time.Minute, time.Now())
				if err != nil || !ok {
					t.Fatalf("lease not released on stop: %v %v", ok, err)
				}
			})
		}
	})
}

// Dead credentials pause the connector: the records go back without an
// attempt counted, the operator is told what to do, and one order probes
// the CRM after ProbeInterval.
func TestNeedsReauthPauses(t *testing.T) {
	testdb.Each(t, func(t *testing.T, dialect string) {
		db := testdb.Open(t, dialect)
		crm := dispatchertest.NewCRM("crm", 10)
		crm.SetDown(dispatchertest.Reauth())
		create(t, db, "o-1", "crm")
		create(t, db, "o-2", "crm")
		clock := dispatchertest.NewClock(time.Now().Add(time.Second))
		wake := make(chan string, 1)
		var logs logBuffer
		opt := dispatcher.Options{Owner: "replica", Clock: clock, LeaderLease: time.Minute, Wake: wake, RateLimits: unlimited,
			Logger: slogTo(&logs), ProbeInterval: 5 * time.Minute}
		d := dispatcher.New(db, []core.Connector{crm}, opt)
		start(t, d)

		testutil.Eventually(t, "released", func() bool {
			rs := records(t, db, "crm", core.DeliveryPending)
			return crm.Calls() == 1 && len(rs) == 2 && rs[0].LeaseToken == "" && rs[1].LeaseToken == "" && clock.Asleep("crm")
		})
		paused := clock.Now()
		for _, r := range records(t, db, "crm", "") {
			if r.Attempts != 0 || !r.AvailableAt.Equal(paused.Add(5*time.Minute)) {
				t.Fatalf("record = %+v, want 0 attempts and due in 5m", r)
			}
		}
		s := stateOf(t, d, "crm")
		if s.State != dispatcher.StatePaused || s.Reason != dispatchertest.Reauth().Reason || !s.Until.Equal(paused.Add(5*time.Minute)) {
			t.Fatalf("stats = %+v, want paused with the reason until +5m", s)
		}
		if h := d.Health(); len(h) != 1 || h[0].Connector != "crm" || h[0].State != s.State || h[0].Reason != s.Reason || !h[0].Until.Equal(s.Until) {
			t.Fatalf("health = %+v, want what the stats say: %+v", h, s)
		}
		if !strings.Contains(logs.String(), "re-authorise paysync") {
			t.Fatalf("log does not tell the operator what to do:\n%s", logs.String())
		}

		create(t, db, "o-3", "crm") // news does not break the pause
		wake <- "crm"
		clock.Advance(4 * time.Minute)
		if crm.Calls() != 1 {
			t.Fatalf("called while paused: %d calls", crm.Calls())
		}

		crm.SetDown(nil)
		clock.Advance(time.Minute)
		testutil.Eventually(t, "all delivered", func() bool { return countState(t, db, "crm", core.DeliveryDelivered) == 3 })
		for _, r := range records(t, db, "crm", "") {
			if r.Attempts != 1 {
				t.Fatalf("record %d has %d attempts, want 1: the paused try must not count", r.ID, r.Attempts)
			}
		}
		if sizes := crm.BatchSizes(); sizes[1] != 1 {
			t.Fatalf("batch sizes = %v, want a probe of one after the pause", sizes)
		}
	})
}

// Orders that arrive together go out together: after a delivery that
// drained what was due, the next claim waits Gather so that the rest of a
// burst joins it, since every delivery costs the CRM's rate budget its own
// requests. After a quiet spell an order goes out at once.
func TestBurstGathersIntoOneBatch(t *testing.T) {
	testdb.Each(t, func(t *testing.T, dialect string) {
		db := testdb.Open(t, dialect)
		crm := dispatchertest.NewCRM("crm", 10)
		clock := dispatchertest.NewClock(time.Now().Add(time.Second))
		wake := make(chan string, 8)
		var once sync.Once
		crm.SetBeforeDeliver(func(context.Context, []core.Delivery) {
			once.Do(func() { // o-2 arrives while o-1 is being delivered
				create(t, db, "o-2", "crm")
				wake <- "crm"
			})
		})
		opt := dispatcher.Options{Owner: "replica", Clock: clock, LeaderLease: time.Minute, Wake: wake, Logger: testutil.Logger(t), RateLimits: unlimited,
			Gather: 10 * time.Millisecond}
		d := dispatcher.New(db, []core.Connector{crm}, opt)
		create(t, db, "o-1", "crm")
		start(t, d)
		testutil.Eventually(t, "o-1 delivered", func() bool { return onlyRecord(t, db, "o-1").State == core.DeliveryDelivered })
		time.Sleep(30 * time.Millisecond) // the clock stands still: still within the gather window
		create(t, db, "o-3", "crm")
		wake <- "crm"
		time.Sleep(30 * time.Millisecond)
		if n := crm.Calls(); n != 1 {
			t.Fatalf("claimed within the gather window: batches %v", crm.BatchSizes())
		}
		clock.Advance(10 * time.Millisecond)
		testutil.Eventually(t, "o-2 and o-3 delivered", func() bool {
			return countState(t, db, "crm", core.DeliveryDelivered) == 3 && clock.Asleep("crm")
		})
		if sizes := fmt.Sprint(crm.BatchSizes()); sizes != "[1 2]" {
			t.Fatalf("batches %s, want [1 2]", sizes)
		}
		clock.Advance(time.Second)
		create(t, db, "o-4", "crm")
		wake <- "crm"
		testutil.Eventually(t, "o-4 delivered without waiting", func() bool { return countState(t, db, "crm", core.DeliveryDelivered) == 4 })
		crm.Check(t)
	})
}

// A rate-limit answer pauses the whole connector, not only the item, for
// the Retry-After the CRM gave; the item retries no earlier than that.
func TestSlowDownPausesConnector(t *testing.T) {
	testdb.Each(t, func(t *testing.T, dialect string) {
		db := testdb.Open(t, dialect)
		crm := dispatchertest.NewCRM("crm", 10)
		crm.FailNext("o-1", 1, dispatchertest.SlowDown(time.Minute))
		create(t, db, "o-1", "crm")
		clock := dispatchertest.NewClock(time.Now().Add(time.Second))
		wake := make(chan string, 1)
		opt := dispatcher.Options{Owner: "replica", Clock: clock, LeaderLease: time.Minute, Wake: wake, Logger: testutil.Logger(t), RateLimits: unlimited}
		d := dispatcher.New(db, []core.Connector{crm}, opt)
		start(t, d)
		testutil.Eventually(t, "rate limited", func() bool {
			r := onlyRecord(t, db, "o-1")
			return r.Attempts == 1 && r.LeaseToken == "" && clock.Asleep("crm")
		})
		at := clock.Now()
		if r := onlyRecord(t, db, "o-1"); !r.AvailableAt.Equal(at.Add(time.Minute)) {
			t.Fatalf("retry at %s, want the Retry-After, %s", r.AvailableAt, at.Add(time.Minute))
		}
		// A rate-limit pause ends by itself: backing off, not paused for a person.
		if s := stateOf(t, d, "crm"); s.State != dispatcher.StateBackingOff || !s.Until.Equal(at.Add(time.Minute)) {
			t.Fatalf("state = %s until %s, want backing_off until the Retry-After", s.State, s.Until)
		}
		create(t, db, "o-2", "crm")
		wake <- "crm"
		clock.Advance(30 * time.Second)
		if crm.Calls() != 1 {
			t.Fatalf("called while paused: %d", crm.Calls())
		}
		clock.Advance(30 * time.Second)
		testutil.Eventually(t, "both delivered", func() bool { return countState(t, db, "crm", core.DeliveryDelivered) == 2 })
	})
}

// Several versions of one order waiting together reach the CRM as one
// delivery of the latest state, with every transition since the last sync;
// a version the CRM already has is acked without a write; Resync writes again.
func TestCoalesceAndResync(t *testing.T) {
	testdb.Each(t, func(t *testing.T, dialect string) {
		for _, path := range []string{"batch", "per-record"} {
			t.Run(path, func(t *testing.T) {
				db := testdb.Open(t, dialect)
				var store core.Store = db
				if path == "per-record" {
					store = perRecord{db}
				}
				o := create(t, db, "o-1", "crm")
				for _, to := range []core.Status{core.StatusFailed, core.StatusPaid} {
					if err := move(db, o, to, "crm"); err != nil {
						t.Fatal(err)
					}
				}
				crm := dispatchertest.NewCRM("crm", 10)
				var seen []core.Delivery
				var mu sync.Mutex
				crm.SetBeforeDeliver(func(_ context.Context, b []core.Delivery) {
					mu.Lock()
					defer mu.Unlock()
					seen = append(seen, b...)
				})
				reg := prometheus.NewRegistry()
				opt := fast(t, "replica")
				opt.Registerer = reg
				d := dispatcher.New(store, []core.Connector{crm}, opt)
				start(t, d)
				testutil.Eventually(t, "delivered", func() bool { return countState(t, db, "crm", core.DeliveryDelivered) == 3 })
				mu.Lock()
				first := seen[0]
				mu.Unlock()
				if len(crm.Writes("")) != 1 || first.Order.Version != 3 || first.Order.Status != core.StatusPaid || first.Link != nil {
					t.Fatalf("writes %d, first delivery v%d %s link %v: want one write of v3 paid", len(crm.Writes("")),
						first.Order.Version, first.Order.Status, first.Link)
				}
				if len(first.Transitions) != 3 || first.Transitions[2].StatusAfter != core.StatusPaid {
					t.Fatalf("transitions = %+v, want the 3 journal entries", first.Transitions)
				}
				ext := crm.Writes("")[0].ExternalID
				for _, r := range records(t, db, "crm", "") {
					if r.ExternalID != ext {
						t.Fatalf("record %d external id %q, want %q", r.ID, r.ExternalID, ext)
					}
				}

				// Paid -> refunded: the delivery carries only the new transition.
				if err := move(db, o, core.StatusRefunded, "crm"); err != nil {
					t.Fatal(err)
				}
				testutil.Eventually(t, "refund delivered", func() bool { return len(crm.Writes("")) == 2 })
				mu.Lock()
				second := seen[len(seen)-1]
				mu.Unlock()
				if second.Link == nil || second.Link.SyncedVersion != 3 || len(second.Transitions) != 1 || second.Transitions[0].OrderVersion != 4 {
					t.Fatalf("second delivery link %+v transitions %+v", second.Link, second.Transitions)
				}

				if err := d.Resync(bg, "o-1", "crm"); err != nil {
					t.Fatal(err)
				}
				testutil.Eventually(t, "resync written", func() bool { return len(crm.Writes("")) == 3 })
				if err := d.Resync(bg, "o-1", "nope"); core.ErrorCode(err) != core.EINVALID {
					t.Fatalf("resync to an unknown connector: %v", err)
				}
				testutil.Eventually(t, "all settled", func() bool { return countState(t, db, "crm", core.DeliveryPending) == 0 })
				crm.Check(t)

				text := gather(t, reg)
				for _, want := range []string{
					`paysync_delivery_attempts_total{connector="crm",outcome="delivered"} 5`,
					`paysync_outbox_pending{connector="crm"} 0`,
					`paysync_outbox_dead{connector="crm"} 0`,
					`paysync_delivery_latency_seconds_count{connector="crm"} 3`,
					`paysync_connector_state{connector="crm",state="running"} 1`,
				} {
					if !strings.Contains(text, want) {
						t.Errorf("metrics lack %s:\n%s", want, text)
					}
				}
			})
		}
	})
}

// A connector that found the linked record to be another order's reports a
// Notice: it is journaled for the order with the settlement, once, and never
// handed back to the connector as a transition.
func TestNoticeIsJournaled(t *testing.T) {
	testdb.Each(t, func(t *testing.T, dialect string) {
		for _, path := range []string{"batch", "per-record"} {
			t.Run(path, func(t *testing.T) {
				db := testdb.Open(t, dialect)
				var store core.Store = db
				if path == "per-record" {
					store = perRecord{db}
				}
				crm := dispatchertest.NewCRM("crm", 10)
				var mu sync.Mutex
				var seen []core.Delivery
				crm.SetBeforeDeliver(func(_ context.Context, b []core.Delivery) {
					mu.Lock()
					defer mu.Unlock()
					seen = append(seen, b...)
				})
				d := dispatcher.New(store, []core.Connector{crm}, fast(t, "replica"))
				start(t, d)
				a := create(t, db, "o-A", "crm")
				testutil.Eventually(t, "A delivered", func() bool { return countState(t, db, "crm", core.DeliveryDelivered) == 1 })
				crm.RebuildAccount()
				create(t, db, "o-B", "crm")
				testutil.Eventually(t, "B delivered", func() bool { return countState(t, db, "crm", core.DeliveryDelivered) == 2 })
				if err := d.Resync(bg, "o-A", "crm"); err != nil {
					t.Fatal(err)
				}
				testutil.Eventually(t, "A resynced", func() bool { return countState(t, db, "crm", core.DeliveryDelivered) == 3 })

				relinked := func(order string) []core.JournalEntry {
					entries, err := db.ListJournal(bg, order)
					if err != nil {
						t.Fatal(err)
					}
					var out []core.JournalEntry
					for _, e := range entries {
						if e.Verdict == core.VerdictRelinked {
							out = append(out, e)
						}
					}
					return out
				}
				got := relinked("o-A")
				want := "linked record crm-1 belongs to order o-B; wrote record crm-2 instead"
				if len(got) != 1 || got[0].Reason != want || got[0].Source != core.SourceConnector || got[0].EventType != "crm" {
					t.Fatalf("o-A journal: %+v, want one relinked entry %q", got, want)
				}
				if got := relinked("o-B"); len(got) != 0 {
					t.Fatalf("o-B journal: %+v", got)
				}
				if l, _ := db.GetLink(bg, "crm", "o-A"); l == nil || l.ExternalID != "crm-2" {
					t.Fatalf("o-A link: %+v", l)
				}

				// The notice is history, not a status change for the CRM.
				if err := move(db, a, core.StatusPaid, "crm"); err != nil {
					t.Fatal(err)
				}
				testutil.Eventually(t, "A paid delivered", func() bool { return countState(t, db, "crm", core.DeliveryDelivered) == 4 })
				mu.Lock()
				last := seen[len(seen)-1]
				mu.Unlock()
				if len(last.Transitions) != 1 || last.Transitions[0].StatusAfter != core.StatusPaid {
					t.Fatalf("transitions of the next delivery: %+v", last.Transitions)
				}
				if got := relinked("o-A"); len(got) != 1 {
					t.Fatalf("o-A journal after the next delivery: %+v", got)
				}
				crm.Check(t)
			})
		}
	})
}

// RetryDead and RetryAllDead requeue dead letters. A dead letter that a
// later delivery of its order superseded is acked without a write.
func TestRetryDead(t *testing.T) {
	testdb.Each(t, func(t *testing.T, dialect string) {
		db := testdb.Open(t, dialect)
		crm := dispatchertest.NewCRM("crm", 10)
		crm.Refuse("o-1", "refused for now")
		crm.Refuse("o-2", "refused for now")
		o1 := create(t, db, "o-1", "crm")
		create(t, db, "o-2", "crm")
		d := dispatcher.New(db, []core.Connector{crm}, fast(t, "replica"))
		start(t, d)
		testutil.Eventually(t, "dead", func() bool { return countState(t, db, "crm", core.DeliveryDead) == 2 })
		crm.Refuse("o-1", "")
		crm.Refuse("o-2", "")

		// o-1 moves on and its new version is delivered: the dead v1 is superseded.
		if err := move(db, o1, core.StatusPaid, "crm"); err != nil {
			t.Fatal(err)
		}
		testutil.Eventually(t, "o-1 v2 delivered", func() bool { return countState(t, db, "crm", core.DeliveryDelivered) == 1 })

		var o2dead int64
		for _, r := range records(t, db, "crm", core.DeliveryDead) {
			if r.OrderID == "o-2" {
				o2dead = r.ID
			}
		}
		if err := d.RetryDead(bg, o2dead); err != nil {
			t.Fatal(err)
		}
		testutil.Eventually(t, "o-2 delivered", func() bool { return countState(t, db, "crm", core.DeliveryDelivered) == 2 })
		if n, err := d.RetryAllDead(bg, "crm"); err != nil || n != 1 {
			t.Fatalf("RetryAllDead = %d, %v; want the one superseded record", n, err)
		}
		testutil.Eventually(t, "all delivered", func() bool { return countState(t, db, "crm", core.DeliveryDelivered) == 3 })
		if w1, w2 := len(crm.Writes("o-1")), len(crm.Writes("o-2")); w1 != 1 || w2 != 1 {
			t.Fatalf("writes o-1 %d, o-2 %d; want 1 each (the superseded v1 is not written)", w1, w2)
		}
		if r, _ := crm.Record("o-1"); r.Version != 2 || r.Status != core.StatusPaid {
			t.Fatalf("CRM o-1 = %+v", r)
		}
		if err := d.RetryDead(bg, o2dead); core.ErrorCode(err) != core.ENOTFOUND {
			t.Fatalf("retry of a delivered record: %v", err)
		}
		crm.Check(t)
	})
}

func gather(t *testing.T, reg *prometheus.Registry) string {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			labels := []string{}
			for _, l := range m.GetLabel() {
				labels = append(labels, fmt.Sprintf("%s=%q", l.GetName(), l.GetValue()))
			}
			name, ls := mf.GetName(), "{"+strings.Join(labels, ",")+"}"
			switch {
			case m.Counter != nil:
				fmt.Fprintf(&b, "%s%s %g\n", name, ls, m.Counter.GetValue())
			case m.Gauge != nil:
				fmt.Fprintf(&b, "%s%s %g\n", name, ls, m.Gauge.GetValue())
			case m.Histogram != nil:
				fmt.Fprintf(&b, "%s_count%s %d\n", name, ls, m.Histogram.GetSampleCount())
			}
		}
	}
	return b.String()
}

// A dispatcher that outlives its claim (a long pause) and finds the records
// claimed by someone else cannot settle them: it logs, counts and drops them,
// and the new holder's claim stands.
func TestLeaseLostIsDropped(t *testing.T) {
	testdb.Each(t, func(t *testing.T, dialect string) {
		db := testdb.Open(t, dialect)
		create(t, db, "o-1", "crm")
		clock := dispatchertest.NewClock(time.Now().Add(time.Second))
		crm := dispatchertest.NewCRM("crm", 10)
		var once sync.Once
		var stolen []core.OutboxRecord
		crm.SetBeforeDeliver(func(context.Context, []core.Delivery) {
			once.Do(func() {
				clock.Advance(2 * time.Minute) // the claim expires mid-call
				var err error
				stolen, err = db.ClaimOutbox(bg, core.ClaimRequest{Connector: "crm", Owner: "thief", Token: "thief",
					Limit: 10, Lease: time.Hour, Now: clock.Now()})
				if err != nil {
					t.Error(err)
				}
			})
		})
		reg := prometheus.NewRegistry()
		opt := dispatcher.Options{Owner: "replica", Clock: clock, LeaderLease: time.Minute, Logger: testutil.Logger(t), RateLimits: unlimited, Registerer: reg}
		start(t, dispatcher.New(db, []core.Connector{crm}, opt))
		testutil.Eventually(t, "lease loss counted", func() bool {
			return strings.Contains(gather(t, reg), `paysync_delivery_attempts_total{connector="crm",outcome="lease_lost"} 1`)
		})
		if len(stolen) != 1 {
			t.Fatalf("thief claimed %d records", len(stolen))
		}
		r := onlyRecord(t, db, "o-1")
		if r.State != core.DeliveryPending || r.LeaseOwner != "thief" || r.Attempts != 2 {
			t.Fatalf("record = %+v, want still held by the thief", r)
		}
		if link, _ := db.GetLink(bg, "crm", "o-1"); link != nil {
			t.Fatalf("link written by a dispatcher that lost the lease: %+v", link)
		}
	})
}

// outage starts a dispatcher on the fake clock for a CRM that is down,
// with retries an hour apart, woken through wake.
func outage(t *testing.T, dialect string, b dispatcher.Breaker) (*storage.DB, *dispatchertest.CRM, *dispatchertest.Clock, chan string, *dispatcher.Dispatcher) {
	db := testdb.Open(t, dialect)
	crm := dispatchertest.NewCRM("crm", 10)
	crm.SetDown(dispatchertest.Unavailable())
	clock := dispatchertest.NewClock(time.Now().Add(time.Second))
	wake := make(chan string, 1)
	d := dispatcher.New(db, []core.Connector{crm}, dispatcher.Options{Owner: "replica", Clock: clock, LeaderLease: time.Minute, Wake: wake,
		Logger: testutil.Logger(t), RateLimits: unlimited, Breaker: b,
		Backoff: dispatcher.Backoff{Steps: []time.Duration{time.Hour}, Every: time.Hour, NoJitter: true}})
	start(t, d)
	return db, crm, clock, wake, d
}

// A probe that goes through after an outage makes the orders that failed
// during it due at once, instead of after the retry waits they were given
// while the CRM was down; the attempts they spent are kept.
func TestRecoveryRetriesWhatWaited(t *testing.T) {
	testdb.Each(t, func(t *testing.T, dialect string) {
		db, crm, clock, wake, d := outage(t, dialect, dispatcher.Breaker{Failures: 2, Cooldown: time.Minute})

		// Two failed calls, one order each: both wait an hour, and the breaker opens.
		for i, id := range []string{"o-1", "o-2"} {
			create(t, db, id, "crm")
			clock.Advance(time.Second) // past the gathering pause of the last call
			wake <- "crm"
			testutil.Eventually(t, id+" failed", func() bool {
				r := onlyRecord(t, db, id)
				return crm.Calls() == i+1 && r.Attempts == 1 && r.LeaseToken == "" && clock.Asleep("crm")
			})
		}
		testutil.Eventually(t, "breaker open", func() bool {
			return stateOf(t, d, "crm").State == dispatcher.StateOpen && clock.Asleep("crm")
		})

		create(t, db, "o-3", "crm") // the probe: the only order due when the cool-down ends
		crm.SetDown(nil)
		clock.Advance(time.Minute)
		testutil.Eventually(t, "all delivered an hour early", func() bool { return countState(t, db, "crm", core.DeliveryDelivered) == 3 })
		if sizes := crm.BatchSizes(); len(sizes) != 4 || sizes[2] != 1 || sizes[3] != 2 {
			t.Fatalf("batch sizes = %v, want the two failures, a probe of 1, then the 2 that waited", sizes)
		}
		for _, id := range []string{"o-1", "o-2"} {
			if r := onlyRecord(t, db, id); r.Attempts != 2 {
				t.Fatalf("%s: %d attempts, want 2 (the failure and the delivery)", id, r.Attempts)
			}
		}
	})
}

// The same without the breaker: one failed call leaves its order waiting
// for its retry; the next call that goes through makes it due at once.
func TestAnsweringAgainRetriesWhatWaited(t *testing.T) {
	testdb.Each(t, func(t *testing.T, dialect string) {
		db, crm, clock, wake, d := outage(t, dialect, dispatcher.Breaker{})

		create(t, db, "o-1", "crm")
		wake <- "crm"
		testutil.Eventually(t, "o-1 failed", func() bool {
			r := onlyRecord(t, db, "o-1")
			return crm.Calls() == 1 && r.Attempts == 1 && r.LeaseToken == "" && clock.Asleep("crm")
		})
		if s := stateOf(t, d, "crm"); s.State != dispatcher.StateBackingOff {
			t.Fatalf("after one failure: %s, want backing_off", s.State)
		}
		crm.SetDown(nil)
		create(t, db, "o-2", "crm")
		clock.Advance(time.Second)
		wake <- "crm"
		testutil.Eventually(t, "o-2 delivered", func() bool { return countState(t, db, "crm", core.DeliveryDelivered) == 1 })
		testutil.Eventually(t, "o-1 delivered an hour early", func() bool {
			clock.Advance(20 * time.Millisecond) // past the gathering pause after o-2; an hour short of o-1's retry
			return countState(t, db, "crm", core.DeliveryDelivered) == 2
		})
		if sizes := crm.BatchSizes(); len(sizes) != 3 || sizes[1] != 1 || sizes[2] != 1 {
			t.Fatalf("batch sizes = %v, want o-1 failing, o-2, then o-1 again", sizes)
		}
		if s := stateOf(t, d, "crm"); s.State != dispatcher.StateRunning {
			t.Fatalf("state = %s, want running", s.State)
		}
	})
}

// skipper is a channel that sends nothing for orders in skip (a rule of the
// service, such as Instagram's messaging window) and counts its calls.
type skipper struct {
	mu    sync.Mutex
	skip  map[string]string // order id -> why nothing is sent
	calls map[string]int
}

func (s *skipper) Name() string  { return "chat" }
func (s *skipper) MaxBatch() int { return 10 }
func (s *skipper) Deliver(_ context.Context, b []core.Delivery) []core.DeliveryResult {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]core.DeliveryResult, len(b))
	for i, d := range b {
		s.calls[d.Order.ID]++
		if why := s.skip[d.Order.ID]; why != "" {
			out[i] = core.DeliveryResult{Skipped: why}
			continue
		}
		out[i] = core.DeliveryResult{ExternalID: "msg-" + d.Order.ID}
	}
	return out
}

// A delivery the connector skipped by rule is done: settled as delivered
// at once (no retry, no dead letter), its reason journaled for the order
// with verdict not_sent, once.
func TestSkippedIsDoneAndJournaled(t *testing.T) {
	testdb.Each(t, func(t *testing.T, dialect string) {
		db := testdb.Open(t, dialect)
		why := "not sent in Direct: the customer last wrote 30h ago, outside Instagram's 24-hour window"
		c := &skipper{skip: map[string]string{"o-late": why}, calls: map[string]int{}}
		d := dispatcher.New(db, []core.Connector{c}, fast(t, "replica"))
		start(t, d)
		create(t, db, "o-late", "chat")
		create(t, db, "o-fine", "chat")
		testutil.Eventually(t, "both settled", func() bool { return countState(t, db, "chat", core.DeliveryDelivered) == 2 })
		time.Sleep(50 * time.Millisecond) // a retry would come within 5ms
		c.mu.Lock()
		calls := c.calls["o-late"]
		c.mu.Unlock()
		if calls != 1 {
			t.Fatalf("the skipped order was delivered %d times, want once", calls)
		}
		rec := onlyRecord(t, db, "o-late")
		if rec.State != core.DeliveryDelivered || rec.LastError != "" {
			t.Fatalf("the skipped order's record: %+v", rec)
		}
		notSent := func(order string) []core.JournalEntry {
			entries, err := db.ListJournal(bg, order)
			if err != nil {
				t.Fatal(err)
			}
			var out []core.JournalEntry
			for _, e := range entries {
				if e.Verdict == core.VerdictNotSent {
					out = append(out, e)
				}
			}
			return out
		}
		got := notSent("o-late")
		if len(got) != 1 || got[0].Reason != why || got[0].Source != core.SourceConnector || got[0].EventType != "chat" || got[0].OrderVersion != 0 {
			t.Fatalf("o-late journal: %+v, want one not_sent entry %q", got, why)
		}
		if got := notSent("o-fine"); len(got) != 0 {
			t.Fatalf("o-fine journal: %+v", got)
		}
		if l, _ := db.GetLink(bg, "chat", "o-late"); l == nil || l.SyncedVersion != 1 {
			t.Fatalf("o-late link: %+v", l)
		}
	})
}
