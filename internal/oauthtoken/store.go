package oauthtoken

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"time"

	"github.com/paysync/paysync/core"
)

// Store persists the token pair. Load returns the stored token and its
// version (0 and a zero Token when none is stored). Save stores tok only if
// the stored version is still expectedVersion (0: nothing stored yet), which
// then becomes expectedVersion+1; on a mismatch it fails with a core.ESTALE
// error and changes nothing.
type Store interface {
	Load(ctx context.Context) (Token, int64, error)
	Save(ctx context.Context, tok Token, expectedVersion int64) error
}

// Leases serialise refreshes across replicas: core.Store has them.
type Leases interface {
	AcquireLease(ctx context.Context, name, holder string, ttl time.Duration, now time.Time) (bool, error)
	ReleaseLease(ctx context.Context, name, holder string) error
}

// MemoryStore keeps the token in memory, for tests and one-off runs.
type MemoryStore struct {
	mu    sync.Mutex
	tok   Token
	ver   int64
	saves int
}

// NewMemoryStore returns a store holding tok at version 1 (empty at version
// 0 for a zero tok).
func NewMemoryStore(tok Token) *MemoryStore {
	s := &MemoryStore{tok: tok.clone()}
	if !tok.IsZero() {
		s.ver = 1
	}
	return s
}

func (s *MemoryStore) Load(context.Context) (Token, int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.tok.clone(), s.ver, nil
}

func (s *MemoryStore) Save(_ context.Context, tok Token, expectedVersion int64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if expectedVersion != s.ver {
		return core.Errorf(core.ESTALE, "the OAuth token changed since version %d was read", expectedVersion)
	}
	s.tok, s.ver = tok.clone(), s.ver+1
	s.saves++
	return nil
}

// Saves counts successful saves.
func (s *MemoryStore) Saves() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.saves
}

// Backend is what StateStore needs of core.Store: connector state (a
// versioned value per connector and key) and, for Source, leases.
type Backend interface {
	GetState(ctx context.Context, connector, key string) (string, int64, error)
	PutState(ctx context.Context, connector, key, value string, expectedVersion int64) error
	Leases
}

// StateStore keeps the token as JSON in core.Store's connector state under
// (Connector, Key). It passes the backend's leases on, so a Source over it
// serialises refreshes across every replica sharing the database.
type StateStore struct {
	Backend   Backend
	Connector string // e.g. "bitrix24"
	Key       string // e.g. "oauth_token"
}

func (s StateStore) Load(ctx context.Context) (Token, int64, error) {
	v, ver, err := s.Backend.GetState(ctx, s.Connector, s.Key)
	if core.ErrorCode(err) == core.ENOTFOUND {
		return Token{}, 0, nil
	}
	if err != nil {
		return Token{}, 0, err
	}
	var tok Token
	if v != "" {
		if err := json.Unmarshal([]byte(v), &tok); err != nil {
			// The error text may quote the value: keep it out.
			return Token{}, 0, fmt.Errorf("the stored OAuth token of %s is not valid JSON", s.Connector)
		}
	}
	return tok, ver, nil
}

func (s StateStore) Save(ctx context.Context, tok Token, expectedVersion int64) error {
	b, err := json.Marshal(tok)
	if err != nil {
		return err
	}
	return s.Backend.PutState(ctx, s.Connector, s.Key, string(b), expectedVersion)
}

func (s StateStore) AcquireLease(ctx context.Context, name, holder string, ttl time.Duration, now time.Time) (bool, error) {
	return s.Backend.AcquireLease(ctx, name, holder, ttl, now)
}

func (s StateStore) ReleaseLease(ctx context.Context, name, holder string) error {
	return s.Backend.ReleaseLease(ctx, name, holder)
}
