// Package dispatcher delivers the transactional outbox to CRM connectors.
//
// Each connector gets its own worker goroutine, rate limiter and circuit
// breaker, so a failing CRM never delays another. A worker claims a batch of
// due orders (all their pending records at once), reads each order's latest
// state, calls the connector once for the batch and settles every record:
// delivered, retried on a schedule, dead-lettered, or released without
// counting an attempt. Across replicas, a lease makes one replica the
// dispatcher of each connector; record leases make a delivery safe even when
// two replicas overlap during a fail-over. docs/delivery.md is the operator's
// side of all this.
package dispatcher

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/time/rate"

	"github.com/paysync/paysync/core"
)

// RateLimit is a token bucket for calls to one connector's Deliver.
type RateLimit struct {
	PerSecond rate.Limit // rate.Inf for no limit
	Burst     int        // calls allowed at once (at least 1)
}

// DefaultRateLimit applies to connectors not listed in Options.RateLimits:
// none. Connectors pace their own requests to their CRM's budget (a Deliver
// call is several batch requests, so only the connector knows what it
// spends); the dispatcher's limiter is for tests and special cases.
var DefaultRateLimit = RateLimit{PerSecond: rate.Inf, Burst: 1}

// DefaultLeaderLease is how long a connector's leadership lasts without
// renewal: failover to another replica takes about this long.
const DefaultLeaderLease = 6 * time.Second

// Options tune a Dispatcher. The zero value works.
type Options struct {
	// Owner names this replica in leases (default host:pid:random).
	Owner string
	// Lease is how long a claim holds its records without being settled
	// (default 1m), and so bounds DeliverTimeout. With a store that keeps
	// lease generations a new leader takes a dead one's records at once;
	// otherwise they come back when their claim's lease expires.
	Lease time.Duration
	// LeaderLease is how long a connector's leadership lasts without
	// renewal (default 6s). The leader renews it four times per lease and
	// stops its work when a renewal is late; a replica that dies is
	// replaced about one LeaderLease after its last renewal.
	LeaderLease time.Duration
	// PollInterval is the fallback poll when no wake-up arrives (default 1s).
	PollInterval time.Duration
	// Gather spaces the deliveries of a burst: after a delivery that took
	// everything due, the next claim waits until Gather has passed since it
	// ended, so that orders arriving together (a sale: 40 payments in a
	// tenth of a second) go out in a few full batches rather than many
	// small ones, each of which costs the CRM's rate budget its own
	// requests. A payment after a quiet spell goes out at once. A
	// connector that paces its budget (core.Pacer) may ask for longer.
	// Default 10ms; negative for none.
	Gather time.Duration
	// Wake, when set, carries wake-ups: a connector's name, or "" for all
	// (storage.DB.Subscribe provides one).
	Wake <-chan string
	// Clock defaults to the wall clock.
	Clock Clock
	// Backoff is the retry schedule (default: 5s, 30s, 2m, 10m, 30m, 1h, 3h,
	// 6h, then every 12h, dead 3 days after the record was enqueued).
	Backoff Backoff
	// RateLimits by connector name limit calls to Deliver; connectors not
	// listed get DefaultRateLimit (none). A zero PerSecond means the default.
	RateLimits map[string]RateLimit
	// Breaker configures every connector's circuit breaker.
	Breaker Breaker
	// ProbeInterval is how long a connector stays paused after its CRM said
	// the credentials are dead or the account is blocked, before one order
	// is tried again (default 5m).
	ProbeInterval time.Duration
	// SlowDownPause pauses a connector after a rate-limit answer that gives
	// no Retry-After (default 10s).
	SlowDownPause time.Duration
	// DeliverTimeout bounds one call to Deliver (default Lease/2), so that a
	// batch is settled before its lease can expire.
	DeliverTimeout time.Duration
	// ShutdownTimeout bounds the graceful stop: work in flight may finish for
	// this long, then it is cancelled and its records released (default 10s).
	ShutdownTimeout time.Duration
	// Logger defaults to slog.Default().
	Logger *slog.Logger
	// Registerer, when set, gets the dispatcher's Prometheus metrics.
	Registerer prometheus.Registerer
}

func (o Options) withDefaults() Options {
	if o.Owner == "" {
		host, _ := os.Hostname()
		o.Owner = fmt.Sprintf("%s:%d:%s", host, os.Getpid(), randomHex(4))
	}
	if o.Lease <= 0 {
		o.Lease = time.Minute
	}
	if o.LeaderLease <= 0 {
		o.LeaderLease = DefaultLeaderLease
	}
	if o.PollInterval <= 0 {
		o.PollInterval = time.Second
	}
	if o.Gather == 0 {
		o.Gather = 10 * time.Millisecond
	}
	if o.Clock == nil {
		o.Clock = wallClock{}
	}
	o.Backoff = o.Backoff.withDefaults()
	o.Breaker = o.Breaker.withDefaults()
	if o.ProbeInterval <= 0 {
		o.ProbeInterval = 5 * time.Minute
	}
	if o.SlowDownPause <= 0 {
		o.SlowDownPause = 10 * time.Second
	}
	if o.DeliverTimeout <= 0 || o.DeliverTimeout > o.Lease {
		o.DeliverTimeout = o.Lease / 2
	}
	if o.ShutdownTimeout <= 0 {
		o.ShutdownTimeout = 10 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return o
}

func (o Options) rateLimit(connector string) RateLimit {
	r, ok := o.RateLimits[connector]
	if !ok || r.PerSecond <= 0 {
		r = DefaultRateLimit
	}
	if r.Burst < 1 {
		r.Burst = 1
	}
	return r
}

// Dispatcher delivers the outbox of its connectors until its Run ends.
type Dispatcher struct {
	store   core.Store
	opt     Options
	clock   Clock
	log     *slog.Logger
	metrics *metrics
	workers map[string]*worker
	names   []string // sorted
	running atomic.Bool
}

// New returns a dispatcher for connectors over store. Connector names must be
// unique; a duplicate is a wiring mistake and panics.
func New(store core.Store, connectors []core.Connector, opts Options) *Dispatcher {
	opts = opts.withDefaults()
	d := &Dispatcher{store: store, opt: opts, clock: opts.Clock, log: opts.Logger, workers: map[string]*worker{}}
	for _, c := range connectors {
		name := c.Name()
		if _, dup := d.workers[name]; dup {
			panic(fmt.Sprintf("dispatcher: connector %q configured twice", name))
		}
		d.workers[name] = newWorker(d, c)
		d.names = append(d.names, name)
	}
	sort.Strings(d.names)
	d.metrics = newMetrics(opts.Registerer, d, d.log)
	return d
}

// Owner is the name this replica holds leases under.
func (d *Dispatcher) Owner() string { return d.opt.Owner }

// Connectors lists the configured connector names, sorted.
func (d *Dispatcher) Connectors() []string { return slices.Clone(d.names) }

// Run dispatches until ctx ends, then stops gracefully: it claims nothing
// more, lets work in flight finish for up to Options.ShutdownTimeout, releases
// what is left and gives up its leases. It returns nil after a clean stop.
func (d *Dispatcher) Run(ctx context.Context) error {
	if !d.running.CompareAndSwap(false, true) {
		return core.Errorf(core.ECONFLICT, "dispatcher is already running")
	}
	defer d.running.Store(false)
	d.log.Info("dispatcher started", "owner", d.opt.Owner, "connectors", strings.Join(d.names, ","))

	var wg sync.WaitGroup
	if d.opt.Wake != nil {
		wg.Go(func() { d.fanOut(ctx) })
	}
	for _, name := range d.names {
		w := d.workers[name]
		wg.Go(func() { w.run(ctx) })
	}
	wg.Wait()
	d.log.Info("dispatcher stopped", "owner", d.opt.Owner)
	return nil
}

// fanOut passes wake-ups on to the workers they name.
func (d *Dispatcher) fanOut(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case name, ok := <-d.opt.Wake:
			if !ok {
				return
			}
			d.wake(name)
		}
	}
}

// wake nudges one connector's worker, or all of them for "".
func (d *Dispatcher) wake(name string) {
	if name == "" {
		for _, w := range d.workers {
			w.poke()
		}
		return
	}
	if w, ok := d.workers[name]; ok {
		w.poke()
	}
}

// ConnectorStats is one connector's backlog and what its worker is doing on
// this replica, for the console and `paysync outbox stats`.
type ConnectorStats struct {
	Connector     string    `json:"connector"`
	Pending       int64     `json:"pending"`
	Dead          int64     `json:"dead"`
	Delivered     int64     `json:"delivered"`
	OldestPending time.Time `json:"oldest_pending,omitzero"`
	// State is one of the State* constants; empty for a connector that has
	// records but is not configured on this replica.
	State string `json:"state,omitempty"`
	// Until is when a pause or an open breaker is next probed.
	Until time.Time `json:"until,omitzero"`
	// Reason says why the connector is paused or its breaker open.
	Reason string `json:"reason,omitempty"`
}

// Stats returns the backlog of every connector, configured or not, sorted by name.
func (d *Dispatcher) Stats(ctx context.Context) ([]ConnectorStats, error) {
	all, err := d.store.OutboxStats(ctx)
	if err != nil {
		return nil, err
	}
	byName := map[string]*ConnectorStats{}
	for _, name := range d.names {
		byName[name] = &ConnectorStats{Connector: name}
	}
	for _, s := range all {
		cs := byName[s.Connector]
		if cs == nil {
			cs = &ConnectorStats{Connector: s.Connector}
			byName[s.Connector] = cs
		}
		cs.Pending, cs.Dead, cs.Delivered = s.Pending, s.Dead, s.Delivered
		if s.Pending > 0 {
			cs.OldestPending = s.OldestPending
		}
	}
	for _, h := range d.Health() {
		cs := byName[h.Connector]
		cs.State, cs.Until, cs.Reason = h.State, h.Until, h.Reason
	}
	out := make([]ConnectorStats, 0, len(byName))
	for _, cs := range byName {
		out = append(out, *cs)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Connector < out[j].Connector })
	return out, nil
}

// RetryDead requeues one dead-lettered record, due now.
func (d *Dispatcher) RetryDead(ctx context.Context, id int64) error {
	if err := d.store.RetryOutbox(ctx, id, d.clock.Now()); err != nil {
		return err
	}
	d.wake("")
	return nil
}

// RetryAllDead requeues every dead record of connector ("" for all) and
// returns how many.
func (d *Dispatcher) RetryAllDead(ctx context.Context, connector string) (int64, error) {
	n, err := d.store.RetryAllDead(ctx, connector, d.clock.Now())
	if err == nil && n > 0 {
		d.wake(connector)
	}
	return n, err
}

// Resync asks connector ("" for every configured one) to write the order to
// the CRM again at its current version, even if its link says the CRM has it:
// use it after someone edited or deleted the CRM record by hand. (A record
// enqueued after the link was last written is delivered even at the synced
// version; older ones at that version are acknowledged without a write.)
func (d *Dispatcher) Resync(ctx context.Context, orderID, connector string) error {
	names := d.names
	if connector != "" {
		if err := core.CheckConnector(connector, d.names); err != nil {
			return err
		}
		names = []string{connector}
	}
	if len(names) == 0 {
		return core.ErrNoConnector
	}
	if err := d.store.Enqueue(ctx, orderID, names, d.clock.Now()); err != nil {
		return err
	}
	d.wake(connector)
	return nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}
