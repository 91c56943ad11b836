package bitrix24_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/time/rate"

	"github.com/paysync/paysync/connectors/bitrix24"
	"github.com/paysync/paysync/connectors/connectortest"
	"github.com/paysync/paysync/core"
	"github.com/paysync/paysync/dispatcher"
	"github.com/paysync/paysync/internal/testutil"
	"github.com/paysync/paysync/mapping"
	sandbox "github.com/paysync/paysync/sandbox/bitrix24"
	"github.com/paysync/paysync/storage"
	"github.com/paysync/paysync/storage/testdb"
)

// BenchmarkPaidToDealStage measures payments reaching the CRM through the
// whole path: core.Ledger.ApplyEvent on SQLite, the dispatcher (woken by
// the store), the Bitrix24 connector with its default rate budget, and the
// sandbox portal over loopback HTTP with its leaky bucket (block at 50,
// drain 2/s) on the wall clock. Every order already has its deal (set up
// untimed, unthrottled); then N verified "paid" events arrive, and each
// order's latency runs from its event's arrival to the moment the portal
// stores its deal at the paid stage (Options.OnDealStage).
//
// The portal is idle at the start of each run: the connector's client is
// new, and a new client assumes its burst share is already spent (12.5 s to
// drain); the benchmark skips that wait by moving the clock that the portal
// and the client share 13 s ahead, as waiting would.
//
//	go test -run '^$' -bench BenchmarkPaidToDealStage -benchtime 1x ./connectors/bitrix24
//
// Metrics: p50_ms and p99_ms of the latency; deals/s from the first event
// to the last deal at the paid stage; refusals (QUERY_LIMIT_EXCEEDED) the
// portal answered; commands/payment and requests/run as the portal counted
// them; for the
// long run, sustained_deals/s over its second half and goal_deals/s, 90 %
// of 100 commands a second divided by commands/payment.
func BenchmarkPaidToDealStage(b *testing.B) {
	b.Run("40-within-100ms", func(b *testing.B) { benchPaid(b, 40, 100*time.Millisecond) })
	b.Run("120-together", func(b *testing.B) { benchPaid(b, 120, 0) })
	b.Run("2000-together", func(b *testing.B) { benchPaid(b, 2000, 0) })
}

// skipClock is the wall clock plus an offset that only grows: Skip stands
// for waiting, for the portal and the client alike.
type skipClock struct{ off atomic.Int64 }

func (c *skipClock) Now() time.Time       { return time.Now().Add(time.Duration(c.off.Load())) }
func (c *skipClock) Skip(d time.Duration) { c.off.Add(int64(d)) }

// e2e is the whole path on one SQLite database and one sandbox portal.
type e2e struct {
	db     *storage.DB
	portal *sandbox.Portal
	srv    *httptest.Server
	m      *mapping.Mapping
	clock  *skipClock
	paid   string // the paid stage of the shipped mapping

	mu      sync.Mutex
	byDeal  map[int]int // deal id -> order index of the current run
	paidAt  []time.Time
	reached int
	done    chan struct{}
}

func newE2E(b testing.TB) *e2e {
	b.Helper()
	m, err := mapping.Shipped(bitrix24.Name)
	if err != nil {
		b.Fatal(err)
	}
	e := &e2e{db: testdb.Open(b, storage.SQLite), m: m, clock: &skipClock{}}
	probe := connectortest.Order("PROBE")
	probe.Status = core.StatusPaid
	p, err := m.Render(mapping.Input{Order: probe})
	if err != nil {
		b.Fatal(err)
	}
	e.paid = p.Stage
	e.portal = sandbox.New(sandbox.Options{Now: e.clock.Now, OnDealStage: e.stageSet})
	e.srv = httptest.NewServer(e.portal)
	b.Cleanup(func() { e.portal.Close(); e.srv.Close() })
	return e
}

// stageSet runs inside the portal when it stores a deal at a new stage.
func (e *e2e) stageSet(dealID int, stage string) {
	if stage != e.paid {
		return
	}
	at := time.Now()
	e.mu.Lock()
	defer e.mu.Unlock()
	i, ok := e.byDeal[dealID]
	if !ok || !e.paidAt[i].IsZero() {
		return
	}
	e.paidAt[i] = at
	if e.reached++; e.reached == len(e.paidAt) {
		close(e.done)
	}
}

func (e *e2e) ledger() *core.Ledger {
	return &core.Ledger{Store: e.db, Connectors: func() []string { return []string{bitrix24.Name} }}
}

func (e *e2e) newClient(b testing.TB, r rate.Limit) *bitrix24.Client {
	c, err := bitrix24.New(bitrix24.Config{WebhookURL: e.portal.WebhookURL(e.srv.URL), Rate: r, Now: e.clock.Now})
	if err != nil {
		b.Fatal(err)
	}
	return c
}

// dispatch runs a dispatcher for c until the returned stop is called.
func (e *e2e) dispatch(b testing.TB, c *bitrix24.Client) (stop func()) {
	return e.dispatchOn(b, c, nil)
}

// dispatchOn is dispatch that hands the running dispatcher to use.
func (e *e2e) dispatchOn(b testing.TB, c *bitrix24.Client, use func(*dispatcher.Dispatcher)) (stop func()) {
	conn, err := bitrix24.NewConnector(bitrix24.ConnectorConfig{Client: c, Mapping: e.m})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	d := dispatcher.New(e.db, []core.Connector{conn}, dispatcher.Options{
		Wake: e.db.Subscribe(ctx),
		// The client keeps the portal's budget; the dispatcher does not
		// throttle deliveries a second time (as cmd/paysync wires it).
		RateLimits: map[string]dispatcher.RateLimit{bitrix24.Name: {PerSecond: rate.Inf, Burst: 1}},
		Logger:     testutil.Logger(b),
	})
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	for {
		st, err := d.Stats(context.Background())
		if err != nil {
			b.Fatal(err)
		}
		if st[0].State == dispatcher.StateRunning {
			break
		}
		time.Sleep(time.Millisecond)
	}
	if use != nil {
		use(d)
	}
	return func() {
		cancel()
		if err := <-done; err != nil {
			b.Fatal(err)
		}
	}
}

// setup creates n pending orders and their deals, untimed and unthrottled,
// and readies the hook for this run.
func (e *e2e) setup(b *testing.B, run, n int) []core.Order {
	b.Helper()
	e.portal.Reset()
	e.portal.SetLimiter(1<<30, 1e9)
	l := e.ledger()
	orders := make([]core.Order, n)
	for i := range orders {
		o := benchOrder(i)
		o.ID = fmt.Sprintf("PAY-%d-%d", run, i)
		o.Status, o.Version, o.CreatedAt, o.UpdatedAt, o.StatusChangedAt = "", 0, time.Time{}, time.Time{}, time.Time{}
		created, _, err := l.CreateOrder(context.Background(), o)
		if err != nil {
			b.Fatal(err)
		}
		orders[i] = created
	}
	stop := e.dispatch(b, e.newClient(b, rate.Inf))
	deadline := time.Now().Add(2 * time.Minute)
	for len(e.portal.Deals()) < n {
		if time.Now().After(deadline) {
			b.Fatalf("setup: %d of %d deals", len(e.portal.Deals()), n)
		}
		time.Sleep(5 * time.Millisecond)
	}
	stop()
	e.mu.Lock()
	e.byDeal, e.paidAt, e.reached, e.done = map[int]int{}, make([]time.Time, n), 0, make(chan struct{})
	for i, o := range orders {
		deals := e.portal.DealsByOrigin(bitrix24.DefaultOriginatorID, o.ID)
		if len(deals) != 1 {
			b.Fatalf("setup: order %s has %d deals", o.ID, len(deals))
		}
		e.byDeal[deals[0].ID] = i
	}
	e.mu.Unlock()
	e.portal.SetLimiter(sandbox.DefaultBlockThreshold, sandbox.DefaultDrainPerSecond)
	e.portal.DrainBucket()
	return orders
}

func paidEvent(o core.Order) core.PaymentEvent {
	return core.PaymentEvent{Provider: "vpos", EventID: "ev-" + o.ID, Type: "payment.succeeded", OrderID: o.ID,
		Status: core.StatusPaid, AmountMinor: o.AmountMinor, Currency: o.Currency, ProviderRef: "REF-" + o.ID,
		OccurredAt: time.Now(), Source: core.SourceWebhook, Verified: true}
}

// benchPaid runs b.N times: n payments arrive spread evenly over window (all
// at once for 0), through 8 concurrent senders as webhooks would.
func benchPaid(b *testing.B, n int, window time.Duration) {
	e := newE2E(b)
	var lat []time.Duration
	var elapsed, secondHalf time.Duration
	var refusals, commands, requests int
	b.ResetTimer()
	b.StopTimer()
	for run := 0; run < b.N; run++ {
		orders := e.setup(b, run, n)
		stop := e.dispatch(b, e.newClient(b, 0))
		e.clock.Skip(13 * time.Second) // the idle portal: the new client's share has drained
		before := e.portal.Stats()
		arrival := make([]time.Time, n)
		l := e.ledger()
		start := time.Now()
		b.StartTimer()
		var wg sync.WaitGroup
		const senders = 8
		for s := range senders {
			wg.Go(func() {
				for i := s; i < n; i += senders {
					if window > 0 {
						time.Sleep(time.Until(start.Add(window * time.Duration(i) / time.Duration(n))))
					}
					arrival[i] = time.Now()
					out, err := l.ApplyEvent(context.Background(), paidEvent(orders[i]))
					if err != nil || out.Verdict != core.VerdictAccepted {
						b.Errorf("event %d: %v %v", i, out.Verdict, err)
					}
				}
			})
		}
		wg.Wait()
		select {
		case <-e.done:
		case <-time.After(5 * time.Minute):
			b.Fatalf("only %d of %d deals reached the paid stage", e.reached, n)
		}
		b.StopTimer()
		stop()
		after := e.portal.Stats()
		refusals += after.Rejected - before.Rejected
		requests += after.Requests - before.Requests
		for k, v := range after.Calls {
			commands += v - before.Calls[k]
		}
		e.mu.Lock()
		paidAt := slices.Clone(e.paidAt)
		e.mu.Unlock()
		last := slices.MaxFunc(paidAt, func(a, b time.Time) int { return a.Compare(b) })
		for i := range paidAt {
			lat = append(lat, paidAt[i].Sub(arrival[i]))
		}
		elapsed += last.Sub(start)
		sorted := slices.SortedFunc(slices.Values(paidAt), func(a, b time.Time) int { return a.Compare(b) })
		secondHalf += last.Sub(sorted[n/2-1])
		for _, d := range e.portal.Deals() {
			if d.StageID != e.paid {
				b.Fatalf("deal %d of %s is at %s", d.ID, d.OriginID, d.StageID)
			}
		}
	}
	slices.Sort(lat)
	pct := func(p float64) float64 {
		return float64(lat[min(len(lat)-1, int(p*float64(len(lat))))].Microseconds()) / 1000
	}
	total := float64(n * b.N)
	perPayment := float64(commands) / total
	b.ReportMetric(pct(0.50), "p50_ms")
	b.ReportMetric(pct(0.99), "p99_ms")
	b.ReportMetric(total/elapsed.Seconds(), "deals/s")
	b.ReportMetric(float64(refusals), "refusals")
	b.ReportMetric(perPayment, "commands/payment")
	b.ReportMetric(float64(requests)/float64(b.N), "requests/run")
	if n >= 1000 {
		b.ReportMetric(float64(n/2*b.N)/secondHalf.Seconds(), "sustained_deals/s")
		b.ReportMetric(0.9*100/perPayment, "goal_deals/s")
	}
}

// The story of issue 9 through the whole path: SHOP-1's deal is deal 1; the
// portal is rebuilt (ids restart); SHOP-2 gets deal 1; an operator resyncs
// SHOP-1. SHOP-1 gets its own deal, SHOP-2's deal is left as it was, and
// SHOP-1's journal says what happened.
func TestResyncAfterPortalRebuilt(t *testing.T) {
	e := newE2E(t)
	ctx := context.Background()
	l := e.ledger()
	shop := func(id string, i int) core.Order {
		o := benchOrder(i)
		o.ID = id
		o.Status, o.Version, o.CreatedAt, o.UpdatedAt, o.StatusChangedAt = "", 0, time.Time{}, time.Time{}, time.Time{}
		return o
	}
	var d *dispatcher.Dispatcher
	stop := e.dispatchOn(t, e.newClient(t, rate.Inf), func(x *dispatcher.Dispatcher) { d = x })
	defer stop()
	waitDeal := func(orderID string, ok func(sandbox.Deal) bool) sandbox.Deal {
		t.Helper()
		var d sandbox.Deal
		testutil.Eventually(t, orderID+"'s deal", func() bool {
			ds := e.portal.DealsByOrigin(bitrix24.DefaultOriginatorID, orderID)
			if len(ds) > 1 {
				t.Fatalf("%s has %d deals", orderID, len(ds))
			}
			if len(ds) == 1 && ok(ds[0]) {
				d = ds[0]
				return true
			}
			return false
		})
		return d
	}
	if _, _, err := l.CreateOrder(ctx, shop("SHOP-1", 1)); err != nil {
		t.Fatal(err)
	}
	first := waitDeal("SHOP-1", func(sandbox.Deal) bool { return true })
	waitLink := func(orderID string, dealID int) {
		t.Helper()
		testutil.Eventually(t, fmt.Sprintf("%s linked to deal %d", orderID, dealID), func() bool {
			l, err := e.db.GetLink(ctx, bitrix24.Name, orderID)
			if err != nil {
				t.Fatal(err)
			}
			return l != nil && l.ExternalID == fmt.Sprint(dealID)
		})
	}
	waitLink("SHOP-1", first.ID)

	e.portal.Reset() // the shop moved to a new portal: ids count from 1 again
	two := shop("SHOP-2", 2)
	two.AmountMinor, two.Items[0].PriceMinor = 2500000, 2500000
	if _, _, err := l.CreateOrder(ctx, two); err != nil {
		t.Fatal(err)
	}
	if _, err := l.ApplyEvent(ctx, paidEvent(two)); err != nil {
		t.Fatal(err)
	}
	before := waitDeal("SHOP-2", func(d sandbox.Deal) bool { return d.StageID == e.paid })
	if before.ID != first.ID {
		t.Fatalf("SHOP-2 got deal %d, want the reused id %d", before.ID, first.ID)
	}
	comments := e.portal.Comments(before.ID)

	if err := d.Resync(ctx, "SHOP-1", bitrix24.Name); err != nil {
		t.Fatal(err)
	}
	own := waitDeal("SHOP-1", func(sandbox.Deal) bool { return true })
	after, _ := e.portal.Deal(before.ID)
	if after.Title != before.Title || after.Opportunity != before.Opportunity || after.StageID != before.StageID ||
		fmt.Sprint(after.ContactIDs) != fmt.Sprint(before.ContactIDs) || after.OriginID != "SHOP-2" ||
		len(e.portal.Comments(before.ID)) != len(comments) {
		t.Fatalf("SHOP-2's deal changed:\nbefore %+v\nafter  %+v", before, after)
	}
	if own.ID == before.ID || own.Opportunity != "15000.00" || fmt.Sprint(own.ContactIDs) == fmt.Sprint(before.ContactIDs) {
		t.Fatalf("SHOP-1's deal %+v, SHOP-2's %+v", own, before)
	}
	want := fmt.Sprintf("linked deal %d belongs to order SHOP-2; wrote deal %d instead", first.ID, own.ID)
	var got []string
	testutil.Eventually(t, "SHOP-1's journal says it was relinked", func() bool {
		entries, err := e.db.ListJournal(ctx, "SHOP-1")
		if err != nil {
			t.Fatal(err)
		}
		got = nil
		for _, j := range entries {
			if j.Verdict == core.VerdictRelinked {
				got = append(got, j.Reason)
			}
		}
		return len(got) > 0
	})
	if len(got) != 1 || got[0] != want {
		t.Fatalf("SHOP-1's journal: relinked %q, want %q", got, want)
	}
	waitLink("SHOP-1", own.ID)
}
