package amocrm

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"time"

	"github.com/paysync/paysync/core"
)

// Merges remembers that amoCRM's duplicate control merged new leads of
// paysync's into leads that existed: POST /leads/complex answers merged:
// true with the old lead's id. amoCRM's API does not say whether duplicate
// control is on for an integration, so this is how `paysync connectors
// check` knows to warn about it.
type Merges interface {
	// Note records n merges seen at at.
	Note(ctx context.Context, n int, at time.Time) error
	// Seen returns how many merges were seen, and the last one's time.
	Seen(ctx context.Context) (n int, last time.Time, err error)
}

// MemoryMerges keeps the count in memory (tests, `config check`).
type MemoryMerges struct {
	mu   sync.Mutex
	n    int
	last time.Time
}

func (m *MemoryMerges) Note(_ context.Context, n int, at time.Time) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.n += n
	m.last = at
	return nil
}

func (m *MemoryMerges) Seen(context.Context) (int, time.Time, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.n, m.last, nil
}

// StateMerges keeps the count in core.Store's connector state ("amocrm",
// "duplicate_merges") as {"count": N, "last": unix seconds}.
type StateMerges struct {
	Store StateBackend
}

const mergesKey = "duplicate_merges"

type mergesState struct {
	Count int   `json:"count"`
	Last  int64 `json:"last"`
}

func (s StateMerges) read(ctx context.Context) (mergesState, int64, error) {
	var st mergesState
	v, ver, err := s.Store.GetState(ctx, Name, mergesKey)
	if core.ErrorCode(err) == core.ENOTFOUND {
		return st, 0, nil
	}
	if err != nil {
		return st, 0, err
	}
	if v != "" {
		if err := json.Unmarshal([]byte(v), &st); err != nil {
			return st, 0, fmt.Errorf("the stored count of amoCRM merges is not valid JSON: %w", err)
		}
	}
	return st, ver, nil
}

func (s StateMerges) Note(ctx context.Context, n int, at time.Time) error {
	for attempt := 0; ; attempt++ {
		st, ver, err := s.read(ctx)
		if err != nil {
			return err
		}
		st.Count += n
		st.Last = at.Unix()
		b, _ := json.Marshal(st)
		err = s.Store.PutState(ctx, Name, mergesKey, string(b), ver)
		if core.ErrorCode(err) != core.ESTALE || attempt >= 10 {
			return err
		}
	}
}

func (s StateMerges) Seen(ctx context.Context) (int, time.Time, error) {
	st, _, err := s.read(ctx)
	if err != nil || st.Count == 0 {
		return 0, time.Time{}, err
	}
	return st.Count, time.Unix(st.Last, 0), nil
}
