package core

import (
	"maps"
	"slices"
	"sync"
)

// RecentOrders holds the orders a Ledger wrote last, as it wrote them, so
// that the event that follows an order's creation (its payment, most often)
// is decided without reading the order back: one statement fewer on every
// webhook's path. A copy may be stale (another
// replica or process wrote the order since): it is only used for a decision
// that writes the order, and that write is refused (ESTALE) unless the stored
// version is still the copy's, after which the order is read afresh. A
// decision that would write no order (a journal entry only) is never made
// on a copy.
type RecentOrders struct {
	mu   sync.Mutex
	m    map[string]Order
	ring []string // ids in the order they came, the oldest at next
	next int
}

// DefaultRecentOrders bounds the copies kept (a few MiB): the orders of a
// busy hour, enough for payments that follow their order within minutes.
const DefaultRecentOrders = 4096

// NewRecentOrders keeps up to max orders (DefaultRecentOrders when max ≤ 0).
func NewRecentOrders(max int) *RecentOrders {
	if max <= 0 {
		max = DefaultRecentOrders
	}
	return &RecentOrders{m: make(map[string]Order, max), ring: make([]string, 0, max)}
}

func (r *RecentOrders) get(id string) (Order, bool) {
	if r == nil {
		return Order{}, false
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	o, ok := r.m[id]
	if !ok {
		return Order{}, false
	}
	return o.clone(), true
}

// put keeps a copy of o as stored (its Version is the stored one).
func (r *RecentOrders) put(o Order) {
	if r == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.m[o.ID]; !ok {
		if len(r.ring) < cap(r.ring) {
			r.ring = append(r.ring, o.ID)
		} else { // full: the oldest goes
			delete(r.m, r.ring[r.next])
			r.ring[r.next] = o.ID
			r.next = (r.next + 1) % len(r.ring)
		}
	}
	r.m[o.ID] = o.clone()
}

func (r *RecentOrders) drop(id string) {
	if r == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.m, id) // its id stays in the ring until its turn: harmless
}

// clone copies what a writer may change in place (storage cleans the
// items' text), so that no copy is shared.
func (o Order) clone() Order {
	o.Items = slices.Clone(o.Items)
	o.Shipping = maps.Clone(o.Shipping)
	return o
}
