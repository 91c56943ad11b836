// Package dispatchertest has doubles for testing delivery: CRM, an in-memory
// connector that records every write and checks the dispatcher's promises;
// Clock, a fake clock; and Noop, a connector that accepts everything.
package dispatchertest

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/paysync/paysync/core"
)

// Record is what the CRM holds for one order: it upserts by order id, as a
// real connector does by finding the deal after a lost response.
type Record struct {
	ExternalID string
	OrderID    string
	Version    int64
	Status     core.Status
	Writes     int // how many times it was written
}

// Write is one write the CRM accepted.
type Write struct {
	OrderID     string
	ExternalID  string
	Version     int64
	Status      core.Status
	Created     bool  // a new record, not an update
	Transitions int64 // the last transition's order version, 0 when none were sent
}

// CRM is a scriptable in-memory connector. It fails on request (a number of
// times, forever, permanently for one order, or through a function), runs
// hooks before a call and after each write (to simulate a crash between the
// CRM's write and the dispatcher's ack), and notes every broken promise in
// Problems: an older version written after a newer one, two calls working on
// one order at once, a link that does not match the record, transitions out
// of range.
type CRM struct {
	name     string
	maxBatch int

	mu         sync.Mutex
	records    map[string]*Record
	writes     []Write
	calls      int
	batchSizes []int
	inFlight   map[string]bool
	tries      map[string]int // deliveries seen per order, failed or not
	problems   []string
	seq        int
	rebuilds   int

	down          error
	failN         map[string]int // order id ("" = any order) -> failures left
	failErr       map[string]error
	permanent     map[string]string
	failFunc      func(core.Delivery) error
	beforeDeliver func(ctx context.Context, batch []core.Delivery)
	afterWrite    func(orderID string)
}

var _ core.Connector = (*CRM)(nil)

// NewCRM returns an empty CRM connector named name taking batches of maxBatch.
func NewCRM(name string, maxBatch int) *CRM {
	return &CRM{name: name, maxBatch: maxBatch, records: map[string]*Record{}, inFlight: map[string]bool{}, tries: map[string]int{},
		failN: map[string]int{}, failErr: map[string]error{}, permanent: map[string]string{}}
}

func (c *CRM) Name() string  { return c.name }
func (c *CRM) MaxBatch() int { return c.maxBatch }

// Unavailable is a 503: retryable.
func Unavailable() *core.DeliveryError {
	return &core.DeliveryError{Class: core.Retryable, Reason: "CRM answered 503 Service Unavailable"}
}

// Refused is a validation error: permanent.
func Refused(reason string) *core.DeliveryError {
	return &core.DeliveryError{Class: core.Permanent, Reason: reason}
}

// Reauth says the credentials are dead.
func Reauth() *core.DeliveryError {
	return &core.DeliveryError{Class: core.NeedsReauth, Reason: "CRM rejected the token: re-authorise paysync in the CRM settings"}
}

// SlowDown is a rate-limit answer with a Retry-After hint.
func SlowDown(retryAfter time.Duration) *core.DeliveryError {
	return &core.DeliveryError{Class: core.Retryable, Reason: "CRM answered 429 Too Many Requests", RetryAfter: retryAfter, SlowDown: true}
}

// SetDown makes every item fail with err until SetDown(nil).
func (c *CRM) SetDown(err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.down = err
}

// FailNext makes the next n deliveries of orderID ("" = of any order) fail with err.
func (c *CRM) FailNext(orderID string, n int, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.failN[orderID] += n
	c.failErr[orderID] = err
}

// Refuse makes every delivery of orderID fail permanently with reason.
func (c *CRM) Refuse(orderID, reason string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.permanent[orderID] = reason
}

// SetFail consults f for every item before writing it; a non-nil error fails the item.
func (c *CRM) SetFail(f func(core.Delivery) error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.failFunc = f
}

// SetBeforeDeliver runs f at the start of every call; it may block.
func (c *CRM) SetBeforeDeliver(f func(ctx context.Context, batch []core.Delivery)) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.beforeDeliver = f
}

// SetAfterWrite runs f after each write, before the call returns: a hook that
// kills the dispatcher here leaves the CRM written and the outbox unacked.
func (c *CRM) SetAfterWrite(f func(orderID string)) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.afterWrite = f
}

// Deliver implements core.Connector.
func (c *CRM) Deliver(ctx context.Context, batch []core.Delivery) []core.DeliveryResult {
	c.mu.Lock()
	c.calls++
	c.batchSizes = append(c.batchSizes, len(batch))
	for _, d := range batch {
		if c.inFlight[d.Order.ID] {
			c.problems = append(c.problems, fmt.Sprintf("order %s: delivered by two calls at once", d.Order.ID))
		}
		c.inFlight[d.Order.ID] = true
		c.tries[d.Order.ID]++
	}
	before, after := c.beforeDeliver, c.afterWrite
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		for _, d := range batch {
			delete(c.inFlight, d.Order.ID)
		}
		c.mu.Unlock()
	}()

	if before != nil {
		before(ctx, batch)
	}
	results := make([]core.DeliveryResult, len(batch))
	for i, d := range batch {
		if err := ctx.Err(); err != nil {
			results[i].Err = &core.DeliveryError{Class: core.Retryable, Reason: "request to the CRM was cancelled", Err: err}
			continue
		}
		if err := c.failure(d); err != nil {
			results[i].Err = err
			continue
		}
		ext, notice := c.write(d)
		results[i] = core.DeliveryResult{ExternalID: ext, LinkData: fmt.Sprintf(`{"deal":%q}`, ext), Notice: notice}
		if after != nil {
			after(d.Order.ID)
		}
	}
	return results
}

func (c *CRM) failure(d core.Delivery) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	id := d.Order.ID
	switch {
	case c.down != nil:
		return c.down
	case c.permanent[id] != "":
		return Refused(c.permanent[id])
	case c.failN[id] > 0:
		c.failN[id]--
		return c.failErr[id]
	case c.failN[""] > 0:
		c.failN[""]--
		return c.failErr[""]
	case c.failFunc != nil:
		return c.failFunc(d)
	}
	return nil
}

// write upserts the order's record. The link is only a hint, as for every
// connector: a linked id that is not the order's record gets a notice.
func (c *CRM) write(d core.Delivery) (ext, notice string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	o := d.Order
	r := c.records[o.ID]
	created := r == nil
	if created {
		c.seq++
		r = &Record{OrderID: o.ID, ExternalID: fmt.Sprintf("%s-%d", c.name, c.seq)}
		c.records[o.ID] = r
	}
	if o.Version < r.Version {
		c.problems = append(c.problems, fmt.Sprintf("order %s: version %d written after version %d", o.ID, o.Version, r.Version))
	}
	if d.Link != nil && d.Link.ExternalID != r.ExternalID {
		if !created && c.rebuilds == 0 {
			c.problems = append(c.problems, fmt.Sprintf("order %s: link says %s, the CRM has %s", o.ID, d.Link.ExternalID, r.ExternalID))
		}
		notice = fmt.Sprintf("linked record %s is gone; wrote record %s instead", d.Link.ExternalID, r.ExternalID)
		for id, other := range c.records {
			if other.ExternalID == d.Link.ExternalID && id != o.ID {
				notice = fmt.Sprintf("linked record %s belongs to order %s; wrote record %s instead", d.Link.ExternalID, id, r.ExternalID)
			}
		}
	}
	var synced, last int64
	if d.Link != nil {
		synced = d.Link.SyncedVersion
	}
	for _, t := range d.Transitions {
		if t.OrderVersion <= synced || t.OrderVersion > o.Version || t.OrderVersion <= last {
			c.problems = append(c.problems, fmt.Sprintf("order %s: transition to version %d sent with synced %d, order %d",
				o.ID, t.OrderVersion, synced, o.Version))
		}
		last = t.OrderVersion
	}
	// Like a real CRM, the last write wins, older or not; Problems has noted it.
	r.Version, r.Status = o.Version, o.Status
	r.Writes++
	c.writes = append(c.writes, Write{OrderID: o.ID, ExternalID: r.ExternalID, Version: o.Version, Status: o.Status,
		Created: created, Transitions: last})
	return r.ExternalID, notice
}

// RebuildAccount wipes the CRM, as when a shop moves to a new account: its
// ids count from the start again, so stored links may name other orders'
// records.
func (c *CRM) RebuildAccount() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.records, c.seq = map[string]*Record{}, 0
	c.rebuilds++
}

// Record returns what the CRM holds for orderID.
func (c *CRM) Record(orderID string) (Record, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	r, ok := c.records[orderID]
	if !ok {
		return Record{}, false
	}
	return *r, true
}

// Records returns every record, by order id.
func (c *CRM) Records() map[string]Record {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[string]Record, len(c.records))
	for id, r := range c.records {
		out[id] = *r
	}
	return out
}

// Len is the number of records (orders) in the CRM.
func (c *CRM) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.records)
}

// Writes returns the writes of orderID ("" for all), oldest first.
func (c *CRM) Writes(orderID string) []Write {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []Write
	for _, w := range c.writes {
		if orderID == "" || w.OrderID == orderID {
			out = append(out, w)
		}
	}
	return out
}

// Tries is how many times orderID was handed to the CRM, failed or not.
func (c *CRM) Tries(orderID string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.tries[orderID]
}

// Calls is the number of Deliver calls so far.
func (c *CRM) Calls() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.calls
}

// BatchSizes lists the size of every Deliver call.
func (c *CRM) BatchSizes() []int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]int(nil), c.batchSizes...)
}

// Problems lists every broken promise seen so far, sorted.
func (c *CRM) Problems() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := append([]string(nil), c.problems...)
	sort.Strings(out)
	return out
}

// Check fails t for each problem seen.
func (c *CRM) Check(t testing.TB) {
	t.Helper()
	for _, p := range c.Problems() {
		t.Errorf("%s: %s", c.name, p)
	}
}

// Noop accepts every delivery without doing anything; benchmarks use it.
type Noop struct {
	ConnectorName string
	Batch         int
	delivered     atomic.Int64
}

func (n *Noop) Name() string  { return n.ConnectorName }
func (n *Noop) MaxBatch() int { return n.Batch }

// Deliver implements core.Connector.
func (n *Noop) Deliver(_ context.Context, batch []core.Delivery) []core.DeliveryResult {
	n.delivered.Add(int64(len(batch)))
	out := make([]core.DeliveryResult, len(batch))
	for i, d := range batch {
		out[i].ExternalID = d.Order.ID
	}
	return out
}

// Delivered is the number of orders accepted.
func (n *Noop) Delivered() int64 { return n.delivered.Load() }
