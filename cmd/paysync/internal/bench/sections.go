package bench

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"time"

	"github.com/paysync/paysync/connectors/amocrm"
	"github.com/paysync/paysync/connectors/bitrix24"
	"github.com/paysync/paysync/connectors/sheets"
	sheetsandbox "github.com/paysync/paysync/sandbox/sheets"
)

var crmNames = []string{bitrix24.Name, amocrm.Name, sheets.Name}

// daemon runs sections 3 to 5 against the real binary: two runs of
// `paysync serve` on SQLite with every CRM double, the first for its start,
// its idle memory and the end-to-end latency, the second (fresh rate
// budgets, as after a restart) for the backlog drain and the load.
func (r *run) daemon(ctx context.Context) error {
	if r.o.Binary == "" {
		r.skip("end to end, backlog and footprint: no paysync binary to run")
		return nil
	}
	dir, err := os.MkdirTemp("", "paysync-bench-daemon-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	c, err := startCRMs(dir)
	if err != nil {
		return err
	}
	defer c.close()
	fp := &Footprint{GoalIdleMiB: goalIdleMiB, GoalLoadMiB: goalLoadMiB}
	if st, err := os.Stat(r.o.Binary); err == nil {
		fp.BinaryBytes = st.Size()
	}
	r.rep.Footprint = fp

	r.progress("footprint: starting %s serve on SQLite with the Bitrix24, amoCRM and Google Sheets doubles", r.o.Binary)
	d, ready, err := r.startDaemon(ctx, dir, c.env)
	if err != nil {
		return err
	}
	fp.StartToReadyMs = ms(ready)
	time.Sleep(time.Duration(r.pick(1, 3)) * time.Second)
	if fp.RSSIdleMiB, err = d.rssMiB("VmRSS"); err != nil {
		d.stop()
		return err
	}
	r.progress("  ready in %.0f ms, %.1f MiB idle", fp.StartToReadyMs, fp.RSSIdleMiB)

	e2eN, orders := e2eRate*r.pick(1, 10)/2, r.pick(10, 100)
	r.progress("setup: %d orders through the API, each delivered to every CRM", e2eN+orders)
	if err := d.createOrders(ctx, "E2E-", e2eN); err != nil {
		d.stop()
		return err
	}
	if err := d.createOrders(ctx, "BKL-", orders); err != nil {
		d.stop()
		return err
	}
	if err := d.settled(ctx, 5*time.Minute); err != nil {
		d.stop()
		return fmt.Errorf("setup: %w: %s", err, d.tail())
	}
	if !r.o.Quick {
		// Idle CRMs: the Bitrix24 client of a fresh start assumes its burst
		// share of the portal's bucket spent; it refills at 2 requests a
		// second, in 12.5 s.
		r.progress("waiting 15 s for the CRMs' budgets to refill")
		time.Sleep(15 * time.Second)
	}
	err = r.endToEnd(ctx, d, c, e2eN)
	d.stop()
	if err != nil {
		return err
	}

	// A restart: fresh rate budgets in paysync, and the doubles forget what
	// the first run spent (Bitrix24's bucket drains, Google's minute passes).
	c.portal.DrainBucket()
	c.clock.Skip(sheetsandbox.QuotaWindow + time.Second)
	time.Sleep(1100 * time.Millisecond) // amoCRM's second
	if d, _, err = r.startDaemon(ctx, dir, c.env); err != nil {
		return err
	}
	defer d.stop()
	if err := r.backlog(ctx, d, c, orders); err != nil {
		return err
	}
	return r.load(ctx, d, fp)
}

// endToEnd sends n paid webhooks at e2eRate a second for orders whose CRM
// records exist, and times each until each CRM stores it as paid.
func (r *run) endToEnd(ctx context.Context, d *daemonProc, c *crms, n int) error {
	r.progress("end to end: %d paid webhooks at %d/s, until each CRM stores each order as paid", n, e2eRate)
	wctx, stopWatch := context.WithCancel(ctx)
	defer stopWatch()
	go c.watchSheet(wctx)
	ids := make([]string, n)
	hooks := make([]webhook, n)
	for i := range hooks {
		ids[i] = "E2E-" + strconv.Itoa(i)
		var err error
		if hooks[i], err = d.event("e2e-pay-"+strconv.Itoa(i), ids[i], "paid", 0); err != nil {
			return err
		}
	}
	sent := make([]time.Time, n)
	if _, err := openLoop(ctx, n, e2eRate, func(ctx context.Context, i int) error {
		sent[i] = time.Now()
		return send(ctx, d.client, hooks[i])
	}); err != nil {
		return err
	}
	wait := time.Duration(r.pick(15, 90)) * time.Second
	deadline := time.Now().Add(wait)
	var seen map[string]map[string]time.Time
	for {
		seen = c.paidAt(ids)
		done := true
		for _, name := range crmNames {
			done = done && len(seen[name]) == n
		}
		if done || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	for _, name := range crmNames {
		lat := make([]time.Duration, 0, n)
		for i, id := range ids {
			if at, ok := seen[name][id]; ok {
				lat = append(lat, at.Sub(sent[i]))
			}
		}
		row := LatencyRow{Connector: name, Events: n, Rate: e2eRate, P50ms: quantileMS(lat, 0.5), P99ms: quantileMS(lat, 0.99),
			MaxMs: quantileMS(lat, 1), Missing: n - len(lat), GoalP99ms: e2eGoalP99ms}
		row.Met = row.Missing == 0 && row.P99ms <= row.GoalP99ms
		r.rep.EndToEnd = append(r.rep.EndToEnd, row)
		r.progress("  %s: p50 %.0f ms, p99 %.0f ms%s", name, row.P50ms, row.P99ms,
			map[bool]string{true: "", false: fmt.Sprintf(", %d not written within %s", row.Missing, wait)}[row.Missing == 0])
	}
	return nil
}

// backlog takes every CRM down, sends three events (paid, a partial refund,
// the rest refunded) for each of orders, brings the CRMs back and times
// the drain, counting the requests each CRM gets.
func (r *run) backlog(ctx context.Context, d *daemonProc, c *crms, orders int) error {
	n := 3 * orders
	r.progress("backlog: every CRM down; %d events for %d orders", n, orders)
	for _, g := range c.gates {
		g.down.Store(true)
	}
	down := time.Now()
	hooks := make([]webhook, 0, n)
	for step, ev := range []struct {
		status   string
		refunded int64
	}{{"paid", 0}, {"partially_refunded", 500000}, {"refunded", 1500000}} {
		for i := 0; i < orders; i++ {
			h, err := d.event(fmt.Sprintf("bkl-%d-%d", step, i), "BKL-"+strconv.Itoa(i), ev.status, ev.refunded)
			if err != nil {
				return err
			}
			hooks = append(hooks, h)
		}
	}
	// In order per order: each step after the last one's answer.
	for step := 0; step < 3; step++ {
		if _, err := closedLoop(ctx, orders, 8, func(ctx context.Context, i int) error {
			return send(ctx, d.client, hooks[step*orders+i])
		}); err != nil {
			return err
		}
	}
	time.Sleep(time.Second) // the dispatchers try, and fail
	for _, g := range c.gates {
		g.reset()
		g.down.Store(false)
	}
	up := time.Now()
	res := &BacklogResult{Events: n, Orders: orders, OutageSeconds: round2(up.Sub(down).Seconds())}
	r.progress("  CRMs back after %.1f s; draining", res.OutageSeconds)
	drained := map[string]time.Time{}
	deadline := up.Add(5 * time.Minute)
	for len(drained) < len(crmNames) {
		p, err := d.pending(ctx)
		if err != nil {
			return err
		}
		for _, name := range crmNames {
			if _, ok := drained[name]; !ok && p[name] == 0 {
				drained[name] = time.Now()
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the backlog was not drained within 5 minutes: %v", p)
		}
		time.Sleep(10 * time.Millisecond)
	}
	for _, name := range crmNames {
		g := c.gates[name]
		first, _ := g.span()
		row := BacklogCRM{Connector: name, Requests: int(g.requests.Load())}
		if !first.IsZero() {
			row.FirstRequestSeconds = round2(first.Sub(up).Seconds())
		}
		row.DrainSeconds = round2(drained[name].Sub(up).Seconds())
		row.RequestsPerEvent = round2(float64(row.Requests) / float64(n))
		res.CRMs = append(res.CRMs, row)
		r.progress("  %s: first request after %.1f s, drained after %.1f s, %d requests", name, row.FirstRequestSeconds, row.DrainSeconds, row.Requests)
	}
	r.rep.Backlog = res
	return nil
}

// load pays fresh orders from 32 clients at once and reads the daemon's
// peak memory.
func (r *run) load(ctx context.Context, d *daemonProc, fp *Footprint) error {
	n := r.pick(300, 5000)
	r.progress("footprint under load: %d orders created, then paid by webhooks from 32 clients", n)
	if err := d.createOrders(ctx, "LOAD-", n); err != nil {
		return err
	}
	hooks := make([]webhook, n)
	for i := range hooks {
		var err error
		if hooks[i], err = d.event("load-pay-"+strconv.Itoa(i), "LOAD-"+strconv.Itoa(i), "paid", 0); err != nil {
			return err
		}
	}
	s, err := closedLoop(ctx, n, 32, func(ctx context.Context, i int) error { return send(ctx, d.client, hooks[i]) })
	if err != nil {
		return err
	}
	fp.LoadWebhooks = n
	if fp.RSSLoadMiB, err = d.rssMiB("VmHWM"); err != nil {
		return err
	}
	fp.Met = fp.RSSIdleMiB <= fp.GoalIdleMiB && fp.RSSLoadMiB <= fp.GoalLoadMiB
	r.progress("  %.0f webhooks/s through the binary; peak %.1f MiB", s.perSecond(), fp.RSSLoadMiB)
	return nil
}
