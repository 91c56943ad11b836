package dispatcher

import (
	"context"
	"fmt"
	"log/slog"
	"runtime/debug"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"

	"github.com/paysync/paysync/core"
)

// settleTimeout bounds writing the outcome of a batch, which must happen even
// while shutting down.
const settleTimeout = 15 * time.Second

// worker dispatches one connector: its own goroutine, limiter, breaker and lease.
type worker struct {
	d       *Dispatcher
	conn    core.Connector
	name    string
	log     *slog.Logger
	limiter *rate.Limiter
	gate    *gate
	lead    *leadership
	wakeCh  chan struct{}

	delivered atomic.Int64 // records settled as delivered (benchmarks read it)
	settled   atomic.Int64 // records settled in any way
}

func newWorker(d *Dispatcher, c core.Connector) *worker {
	name := c.Name()
	rl := d.opt.rateLimit(name)
	w := &worker{
		d: d, conn: c, name: name,
		log:     d.log.With("connector", name),
		limiter: rate.NewLimiter(rl.PerSecond, rl.Burst),
		gate:    newGate(d.opt.Breaker),
		wakeCh:  make(chan struct{}, 1),
	}
	w.lead = newLeadership(d.store, d.clock, w.log, name, d.opt.Owner, d.opt.LeaderLease, nil)
	return w
}

func (w *worker) poke() {
	select {
	case w.wakeCh <- struct{}{}:
	default: // one pending wake-up is enough
	}
}

func (w *worker) state(now time.Time, running bool) (string, time.Time, string) {
	if !running {
		return StateStopped, time.Time{}, ""
	}
	if !w.lead.isLeader() {
		return StateStandby, time.Time{}, ""
	}
	return w.gate.state(now)
}

// gather is how long orders gather after a delivery that took everything
// due: Options.Gather, or longer when the connector paces its budget.
func (w *worker) gather() time.Duration {
	g := w.d.opt.Gather
	if p, ok := w.conn.(core.Pacer); ok {
		g = max(g, p.Pace())
	}
	return g
}

func (w *worker) maxBatch() int {
	if n := w.conn.MaxBatch(); n > 0 {
		return n
	}
	return 1
}

// run loops until ctx ends. Work already claimed runs on its own context,
// which outlives ctx by Options.ShutdownTimeout.
func (w *worker) run(ctx context.Context) {
	work, cancelWork := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelWork()
	var mu sync.Mutex
	var deadline *time.Timer
	stopAfter := context.AfterFunc(ctx, func() {
		mu.Lock()
		deadline = time.AfterFunc(w.d.opt.ShutdownTimeout, cancelWork)
		mu.Unlock()
	})
	defer func() {
		stopAfter()
		mu.Lock()
		if deadline != nil {
			deadline.Stop()
		}
		mu.Unlock()
	}()

	var lwg sync.WaitGroup
	lwg.Go(func() { w.lead.run(ctx) })
	defer func() {
		lwg.Wait()
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		w.lead.release(rctx)
	}()

	var lastEnd time.Time // when the last delivery that drained what was due ended
	for ctx.Err() == nil {
		if !w.lead.wait(ctx) {
			return
		}
		now := w.d.clock.Now()
		wait, probe := w.gate.admit(now)
		if wait > 0 {
			w.sleep(ctx, now.Add(wait), false)
			continue
		}
		if gathered := lastEnd.Add(w.gather()); gathered.After(now) {
			// A burst is arriving: let it gather into the next batch.
			if !w.sleep(ctx, gathered, false) {
				return
			}
			now = w.d.clock.Now()
		}
		limit := w.maxBatch()
		if probe {
			limit = 1
		}
		res := w.limiter.ReserveN(now, 1)
		if delay := res.DelayFrom(now); delay > 0 {
			if !w.sleep(ctx, now.Add(delay), false) {
				res.CancelAt(w.d.clock.Now())
				return
			}
		}
		if ctx.Err() != nil {
			res.CancelAt(w.d.clock.Now())
			return
		}
		if !w.lead.isLeader() {
			// The lease lapsed while this worker waited: renew it first.
			res.CancelAt(w.d.clock.Now())
			continue
		}
		fence := w.lead.fence()
		claimed := w.d.clock.Now()
		recs, err := w.d.store.ClaimOutbox(work, core.ClaimRequest{
			Connector: w.name, Owner: w.d.opt.Owner, Token: randomHex(16),
			Limit: limit, Lease: w.d.opt.Lease, Now: claimed, Fence: fence,
		})
		if err != nil {
			res.CancelAt(w.d.clock.Now())
			w.log.Error("cannot claim outbox records; retrying", "err", err)
			w.sleep(ctx, claimed.Add(w.d.opt.PollInterval), false)
			continue
		}
		if len(recs) == 0 {
			res.CancelAt(w.d.clock.Now())
			w.sleep(ctx, claimed.Add(w.d.opt.PollInterval), true)
			continue
		}
		// The batch stops as soon as this replica stops trusting its lease.
		bctx, stop := w.lead.watch(work)
		orders := w.process(bctx, recs, fence)
		stop()
		if orders < limit {
			// A short batch drained what was due: wait for news or the poll.
			lastEnd = w.d.clock.Now()
			w.sleep(ctx, lastEnd.Add(w.d.opt.PollInterval), true)
		} else {
			lastEnd = time.Time{} // a backlog: claim the next batch at once
		}
	}
}

// sleep waits until the clock reaches until; wakeable lets a wake-up end it
// early. It returns false when ctx ended. Waiting for a time rather than a
// span keeps a wait computed from one reading of the clock true when the
// clock moves before the wait begins.
func (w *worker) sleep(ctx context.Context, until time.Time, wakeable bool) bool {
	var wake chan struct{}
	if wakeable {
		wake = w.wakeCh
	}
	timer := w.d.clock.Until(until)
	if s, ok := w.d.clock.(SleepWatcher); ok {
		defer s.Sleeping(w.name)()
	}
	select {
	case <-ctx.Done():
		return false
	case <-timer:
	case <-wake:
	}
	return true
}

// group is the claimed records of one order: delivered as one.
type group struct {
	orderID string
	recs    []core.OutboxRecord
}

func groupByOrder(recs []core.OutboxRecord) []*group {
	var out []*group
	idx := map[string]*group{}
	for _, r := range recs {
		g := idx[r.OrderID]
		if g == nil {
			g = &group{orderID: r.OrderID}
			idx[r.OrderID] = g
			out = append(out, g)
		}
		g.recs = append(g.recs, r)
	}
	return out
}

// settle builds the completion of every record of g.
func (g *group) settle(o core.Outcome, reason string, at, now time.Time, link *core.CRMLink) []core.Completion {
	cs := make([]core.Completion, len(g.recs))
	for i, r := range g.recs {
		cs[i] = core.Completion{ID: r.ID, Token: r.LeaseToken, Outcome: o, Error: reason, AvailableAt: at, Now: now, Link: link}
	}
	return cs
}

// attempts is the highest attempt count among g's records: the order has
// been tried that often.
func (g *group) attempts() int {
	n := 0
	for _, r := range g.recs {
		n = max(n, r.Attempts)
	}
	return n
}

// since is when the oldest of g's records was enqueued.
func (g *group) since() time.Time {
	t := g.recs[0].CreatedAt
	for _, r := range g.recs[1:] {
		if r.CreatedAt.Before(t) {
			t = r.CreatedAt
		}
	}
	return t
}

// inSync reports whether the CRM already holds d's version, so the records
// can be acknowledged without a write. A record enqueued after the link was
// written at that same version is an explicit re-sync and is delivered.
func inSync(d core.Delivery, g *group) bool {
	if d.Link == nil || d.Order.Version > d.Link.SyncedVersion {
		return false
	}
	if d.Order.Version < d.Link.SyncedVersion {
		return true
	}
	for _, r := range g.recs {
		if r.CreatedAt.After(d.Link.UpdatedAt) {
			return false
		}
	}
	return true
}

// pending is a settlement being put together for one batch.
type pending struct {
	cs       []core.Completion
	outcomes []string // metric outcome per completion
}

func (p *pending) add(outcome string, cs []core.Completion) {
	p.cs = append(p.cs, cs...)
	for range cs {
		p.outcomes = append(p.outcomes, outcome)
	}
}

// process delivers one claimed batch and settles every record of it. It
// returns the number of orders in the batch.
func (w *worker) process(ctx context.Context, recs []core.OutboxRecord, fence *core.Fence) int {
	groups := groupByOrder(recs)
	ids := make([]string, len(groups))
	for i, g := range groups {
		ids[i] = g.orderID
	}
	var p pending
	found, failed, err := loadDeliveries(ctx, w.d.store, w.name, ids)
	if err != nil {
		// Nothing was tried: give the records back without counting an attempt.
		now := w.d.clock.Now()
		w.log.Error("cannot read the orders of a claimed batch; releasing it", "orders", len(groups), "err", err)
		for _, g := range groups {
			p.add(outcomeReleased, g.settle(core.OutcomeRelease, "", now.Add(w.d.opt.PollInterval), now, nil))
		}
		w.complete(ctx, p, fence)
		return len(groups)
	}

	var batch []core.Delivery
	var sent []*group
	now := w.d.clock.Now()
	for _, g := range groups {
		if _, gone := failed[g.orderID]; gone {
			reason := fmt.Sprintf("order %s is not in the database; there is nothing to deliver", g.orderID)
			w.log.Warn("dead-lettered: order not found", "order_id", g.orderID)
			p.add(outcomeDead, g.settle(core.OutcomeDead, reason, time.Time{}, now, nil))
			continue
		}
		d := found[g.orderID]
		if inSync(d, g) {
			p.add(outcomeSynced, g.settle(core.OutcomeDelivered, "", time.Time{}, now, d.Link))
			continue
		}
		batch = append(batch, d)
		sent = append(sent, g)
	}
	if len(batch) > 0 {
		results, reqs := w.deliver(ctx, batch)
		w.judge(ctx, batch, sent, results, reqs, &p)
	}
	w.complete(ctx, p, fence)
	return len(groups)
}

// deliver calls the connector once, bounded by DeliverTimeout, and always
// returns one result per item, even if the connector panics or miscounts.
// reqs are the outcomes of the requests the connector reported making
// (core.ObserveRequest), in the order they ended: the breaker counts them.
func (w *worker) deliver(ctx context.Context, batch []core.Delivery) (results []core.DeliveryResult, reqs []core.RequestOutcome) {
	var mu sync.Mutex // a connector may send requests concurrently
	var seen []core.RequestOutcome
	defer func() {
		mu.Lock()
		reqs = slices.Clone(seen)
		mu.Unlock()
	}()
	dctx, cancel := context.WithTimeout(ctx, w.d.opt.DeliverTimeout)
	defer cancel()
	dctx = core.WithRequestObserver(dctx, func(o core.RequestOutcome) {
		mu.Lock()
		seen = append(seen, o)
		mu.Unlock()
	})
	defer func() {
		if r := recover(); r != nil {
			w.log.Error("connector panicked; the batch will be retried", "panic", r, "stack", string(debug.Stack()))
			results = nil
		}
		if len(results) != len(batch) {
			if results != nil {
				w.log.Error("connector returned the wrong number of results; the batch will be retried (a connector bug)",
					"items", len(batch), "results", len(results))
			}
			bug := &core.DeliveryError{Class: core.Retryable,
				Reason: fmt.Sprintf("connector %s failed on this batch (a bug in paysync; see the log)", w.name)}
			results = make([]core.DeliveryResult, len(batch))
			for i := range results {
				results[i].Err = bug
			}
		}
	}()
	return w.conn.Deliver(dctx, batch), nil
}

// judge turns the connector's results into completions and into the
// connector's health: breaker, rate-limit pause, dead-credential pause.
func (w *worker) judge(ctx context.Context, batch []core.Delivery, sent []*group, results []core.DeliveryResult, reqs []core.RequestOutcome, p *pending) {
	now := w.d.clock.Now()
	stopping := ctx.Err() != nil // the shutdown deadline cut the call short
	var (
		ok, failedRetry, released, dead int
		healthy                         bool   // the CRM answered something
		firstReason                     string // of a retryable failure
		slowDown                        time.Duration
		pauseReason                     string
	)
	for i, d := range batch {
		g, res := sent[i], results[i]
		if res.Err == nil {
			link := &core.CRMLink{Connector: w.name, OrderID: d.Order.ID, ExternalID: res.ExternalID,
				SyncedVersion: d.Order.Version, SyncedStatus: d.Order.Status, Data: res.LinkData}
			cs := g.settle(core.OutcomeDelivered, "", time.Time{}, now, link)
			outcome := outcomeDelivered
			switch {
			case res.Skipped != "":
				// Done by sending nothing (a rule of the service, such as
				// Instagram's messaging window): journaled with the
				// settlement so that the order's page says why, and never
				// retried.
				w.log.Info("the connector sent nothing for this change", "order_id", d.Order.ID, "reason", res.Skipped)
				cs[0].Journal = &core.JournalEntry{OrderID: d.Order.ID, Source: core.SourceConnector, EventType: w.name,
					Verdict: core.VerdictNotSent, StatusBefore: d.Order.Status, StatusAfter: d.Order.Status, Reason: res.Skipped, CreatedAt: now}
				outcome = outcomeSkipped
			case res.Notice != "":
				// Journaled once per order, with the settlement: the
				// operator reads it in the order's history.
				w.log.Warn("the connector wrote another record than the linked one", "order_id", d.Order.ID, "notice", res.Notice)
				cs[0].Journal = &core.JournalEntry{OrderID: d.Order.ID, Source: core.SourceConnector, EventType: w.name,
					Verdict: core.VerdictRelinked, Reason: res.Notice, CreatedAt: now}
			}
			p.add(outcome, cs)
			w.d.metrics.delivered(w.name, d.Order.UpdatedAt, now)
			ok++
			healthy = true
			continue
		}
		if stopping {
			p.add(outcomeReleased, g.settle(core.OutcomeRelease, "", now, now, nil))
			released++
			continue
		}
		de := core.ClassifyDelivery(res.Err)
		reason := de.Reason
		if reason == "" {
			reason = "delivery failed"
		}
		switch de.Class {
		case core.Permanent:
			w.log.Warn("dead-lettered: the CRM refused the order", "order_id", d.Order.ID, "reason", reason)
			p.add(outcomeDead, g.settle(core.OutcomeDead, reason, time.Time{}, now, nil))
			dead++
			healthy = true
		case core.NeedsReauth, core.Paused:
			// Not the order's fault: give it back and count nothing.
			p.add(outcomeReleased, g.settle(core.OutcomeRelease, "", now.Add(w.d.opt.ProbeInterval), now, nil))
			released++
			if pauseReason == "" {
				pauseReason = reason
			}
		default:
			if age := now.Sub(g.since()); age >= w.d.opt.Backoff.GiveUpAfter {
				why := fmt.Sprintf("gave up after %d attempts over %s: %s", g.attempts(), age.Round(time.Minute), reason)
				w.log.Warn("dead-lettered: retries exhausted", "order_id", d.Order.ID, "reason", why)
				p.add(outcomeDead, g.settle(core.OutcomeDead, why, time.Time{}, now, nil))
				dead++
				continue
			}
			delay := max(w.d.opt.Backoff.Delay(g.attempts(), jitter()), de.RetryAfter)
			p.add(outcomeRetry, g.settle(core.OutcomeRetry, reason, now.Add(delay), now, nil))
			failedRetry++
			if de.SlowDown || de.RetryAfter > 0 {
				pause := de.RetryAfter
				if pause <= 0 {
					pause = w.d.opt.SlowDownPause
				}
				slowDown = max(slowDown, pause)
				healthy = true // it answered, just not now
			} else if firstReason == "" {
				firstReason = reason
			}
		}
	}

	if failedRetry > 0 || dead > 0 || released > 0 {
		w.log.Warn("deliveries failed", "delivered", ok, "retry", failedRetry, "dead", dead, "released", released,
			"reason", firstNonEmpty(firstReason, pauseReason))
	}
	call := callNeutral
	switch {
	case stopping:
	case healthy:
		call = callOK
	case firstReason != "":
		call = callFailed
	}
	if !stopping {
		opened, back := w.gate.record(now, call, firstReason, reqs)
		if back {
			w.recovered(ctx, now)
		}
		if opened {
			_, until, reason := w.gate.state(now)
			w.log.Warn("circuit breaker open: the CRM keeps failing; one order will probe it at the time given",
				"reason", reason, "probe_at", until)
		}
	}
	if slowDown > 0 {
		w.gate.pause(now, slowDown, "the CRM asked to slow down (rate limit)", false)
		w.log.Info("rate limited by the CRM; pausing the connector", "for", slowDown)
	}
	if pauseReason != "" {
		w.gate.pause(now, w.d.opt.ProbeInterval, pauseReason, true)
		w.log.Error("connector paused by the CRM: orders wait without counting attempts, one order probes again at probe_at; fix what reason says",
			"reason", pauseReason, "probe_at", now.Add(w.d.opt.ProbeInterval))
	}
}

// recovered runs when the CRM answers again: a call went through after
// calls that failed, or a probe after the breaker was open or the connector
// paused. The orders that failed meanwhile wait out retry delays that were
// about the outage, not about them, so they are made due now; the rate
// budget still paces them.
func (w *worker) recovered(ctx context.Context, now time.Time) {
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), settleTimeout)
	defer cancel()
	n, err := w.d.store.ExpediteOutbox(sctx, w.name, now)
	if err != nil {
		w.log.Warn("connector recovered; delivering again (the orders waiting for a retry keep their times: cannot move them)", "err", err)
		return
	}
	w.log.Info("connector recovered; delivering again", "orders_due_now", n)
	w.poke()
}

// complete writes the settlement under the fence of the claim. It runs
// even while shutting down.
func (w *worker) complete(ctx context.Context, p pending, fence *core.Fence) {
	if len(p.cs) == 0 {
		return
	}
	for i := range p.cs {
		p.cs[i].Fence = fence
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), settleTimeout)
	defer cancel()
	errs := completeAll(sctx, w.d.store, p.cs)
	counts := map[string]int{}
	var lost, broken int
	var firstErr error
	for i, err := range errs {
		switch {
		case err == nil:
			counts[p.outcomes[i]]++
		case core.ErrorCode(err) == core.ELEASELOST:
			lost++
		default:
			broken++
			if firstErr == nil {
				firstErr = err
			}
		}
	}
	if lost > 0 {
		// The lease ran out and another holder took the records: they are its now.
		w.log.Warn("lease lost before settling; another dispatcher owns these records now", "records", lost)
		w.d.metrics.settled(w.name, outcomeLost, lost)
	}
	if broken > 0 {
		w.log.Error("cannot settle records; they come back when their lease expires", "records", broken, "err", firstErr)
	}
	for outcome, n := range counts {
		w.d.metrics.settled(w.name, outcome, n)
		w.settled.Add(int64(n))
		if outcome == outcomeDelivered || outcome == outcomeSynced || outcome == outcomeSkipped {
			w.delivered.Add(int64(n))
		}
	}
}

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}
