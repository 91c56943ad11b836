package amocrm

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"sync"
	"time"

	"github.com/paysync/paysync/core"
)

// Unconfirmed keeps the orders whose lead may exist in amoCRM without
// paysync holding its id: a create was sent for them, and no delivery since
// has come with a link that verified. amoCRM has no idempotency key and its
// search (GET /leads?query=) takes one text per request, so searching before
// every create would cost a request per new order; only these orders are
// searched for before they are created (again).
//
// An order joins before its create request is sent (at the time of its
// first such create), and leaves once a delivery of it comes with a stored
// link that names its own lead. Entries
// older than UnconfirmedTTL are dropped: their retries ended long before.
type Unconfirmed interface {
	Load(ctx context.Context) (map[string]time.Time, error)
	Add(ctx context.Context, orderIDs []string, at time.Time) error
	Remove(ctx context.Context, orderIDs []string) error
}

// UnconfirmedTTL bounds how long an order stays unconfirmed: far past the
// dispatcher's default of retrying for 3 days.
const UnconfirmedTTL = 30 * 24 * time.Hour

// MemoryUnconfirmed keeps the set in memory (tests, `config check`).
type MemoryUnconfirmed struct {
	mu  sync.Mutex
	set map[string]time.Time
}

func NewMemoryUnconfirmed() *MemoryUnconfirmed {
	return &MemoryUnconfirmed{set: map[string]time.Time{}}
}

func (m *MemoryUnconfirmed) Load(context.Context) (map[string]time.Time, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return maps.Clone(m.set), nil
}

func (m *MemoryUnconfirmed) Add(_ context.Context, ids []string, at time.Time) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, id := range ids {
		if was, ok := m.set[id]; !ok || at.Before(was) {
			m.set[id] = at
		}
	}
	return nil
}

func (m *MemoryUnconfirmed) Remove(_ context.Context, ids []string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, id := range ids {
		delete(m.set, id)
	}
	return nil
}

// StateBackend is what StateUnconfirmed needs of core.Store.
type StateBackend interface {
	GetState(ctx context.Context, connector, key string) (string, int64, error)
	PutState(ctx context.Context, connector, key, value string, expectedVersion int64) error
}

// StateUnconfirmed keeps the set as one JSON object {"order id": unix
// seconds} in core.Store's connector state ("amocrm", "unconfirmed_creates"),
// changed with compare-and-swap, so that it survives a crash and is shared
// by the replicas.
type StateUnconfirmed struct {
	Store StateBackend
	Now   func() time.Time // for pruning; default time.Now
}

const unconfirmedKey = "unconfirmed_creates"

func (s StateUnconfirmed) read(ctx context.Context) (map[string]int64, int64, error) {
	v, ver, err := s.Store.GetState(ctx, Name, unconfirmedKey)
	if core.ErrorCode(err) == core.ENOTFOUND {
		return map[string]int64{}, 0, nil
	}
	if err != nil {
		return nil, 0, err
	}
	set := map[string]int64{}
	if v != "" {
		if err := json.Unmarshal([]byte(v), &set); err != nil {
			return nil, 0, fmt.Errorf("the stored set of unconfirmed amoCRM creates is not valid JSON: %w", err)
		}
	}
	return set, ver, nil
}

func (s StateUnconfirmed) Load(ctx context.Context) (map[string]time.Time, error) {
	set, _, err := s.read(ctx)
	if err != nil {
		return nil, err
	}
	out := make(map[string]time.Time, len(set))
	for id, at := range set {
		out[id] = time.Unix(at, 0)
	}
	return out, nil
}

func (s StateUnconfirmed) Add(ctx context.Context, ids []string, at time.Time) error {
	return s.change(ctx, func(set map[string]int64) bool {
		changed := false
		for _, id := range ids {
			// The earliest create counts: the leads created since then are
			// where a lost one is found (run.findUnsure).
			if was, ok := set[id]; !ok || at.Unix() < was {
				set[id] = at.Unix()
				changed = true
			}
		}
		return changed
	})
}

func (s StateUnconfirmed) Remove(ctx context.Context, ids []string) error {
	return s.change(ctx, func(set map[string]int64) bool {
		changed := false
		for _, id := range ids {
			if _, ok := set[id]; ok {
				delete(set, id)
				changed = true
			}
		}
		return changed
	})
}

// change applies fn with compare-and-swap, retrying when another writer
// got in between.
func (s StateUnconfirmed) change(ctx context.Context, fn func(map[string]int64) bool) error {
	now := time.Now
	if s.Now != nil {
		now = s.Now
	}
	for attempt := 0; ; attempt++ {
		set, ver, err := s.read(ctx)
		if err != nil {
			return err
		}
		changed := fn(set)
		cut := now().Add(-UnconfirmedTTL).Unix()
		for id, at := range set {
			if at < cut {
				delete(set, id)
				changed = true
			}
		}
		if !changed {
			return nil
		}
		b, _ := json.Marshal(set)
		err = s.Store.PutState(ctx, Name, unconfirmedKey, string(b), ver)
		if core.ErrorCode(err) != core.ESTALE || attempt >= 10 {
			return err
		}
	}
}
