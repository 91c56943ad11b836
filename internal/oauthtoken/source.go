package oauthtoken

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/paysync/paysync/core"
)

// RefreshFunc asks the provider for a new pair in exchange for
// current.RefreshToken. current is the pair being replaced, so that the
// function can carry extras the answer leaves out.
type RefreshFunc func(ctx context.Context, current Token) (Token, error)

// Errors a Source returns besides the refresh function's own.
var (
	// ErrNoToken: nothing is stored; a person must authorise the app.
	ErrNoToken = errors.New("no OAuth token is stored")
	// ErrNoRefreshToken: the stored pair cannot be refreshed; a person must
	// authorise the app again.
	ErrNoRefreshToken = errors.New("the stored OAuth token has no refresh token")
)

// SaveError is a rotated pair that could not be stored. The Source keeps it
// in memory and stores it before anything else on the next call: the
// refresh token it replaced is spent.
type SaveError struct{ Err error }

func (e *SaveError) Error() string {
	return "the rotated OAuth token could not be stored (kept in memory, stored before use on the next call): " + e.Err.Error()
}
func (e *SaveError) Unwrap() error { return e.Err }

// StoreError is a failure to read the stored pair or to take the refresh
// lease: the database is unavailable; retry later.
type StoreError struct {
	Op  string // "load" or "lease"
	Err error
}

func (e *StoreError) Error() string { return "OAuth token store " + e.Op + ": " + e.Err.Error() }
func (e *StoreError) Unwrap() error { return e.Err }

// Config configures a Source.
type Config struct {
	// Name names the lease, "oauth:"+Name (the connector's name).
	Name string
	// Store keeps the pair; required.
	Store Store
	// Refresh exchanges the refresh token for a new pair; required.
	Refresh RefreshFunc
	// InvalidGrant reports whether a Refresh error says the refresh token is
	// spent or dead (OAuth invalid_grant). After one, the store is read
	// again: another process may have rotated the pair. Default: never.
	InvalidGrant func(error) bool
	// Leases serialise refreshes across replicas; default Store when it has
	// them (StateStore does), else refreshes are serialised in-process only.
	Leases Leases
	// Holder names this Source in leases (default host:pid:random).
	Holder string
	// LeaseTTL bounds how long a replica that dies mid-refresh blocks the
	// others (default 30s); one refresh call gets two thirds of it.
	LeaseTTL time.Duration
	// Now is the clock for leases (default time.Now).
	Now func() time.Time
	// OnRefresh, when set, hears of every call to Refresh and its error
	// (for metrics).
	OnRefresh func(err error)
	// SelfRefreshing: the access token is exchanged for a new one by
	// itself, with no refresh token (Instagram's long-lived tokens). The
	// refresh function then reads current.AccessToken.
	SelfRefreshing bool
}

// Source hands out the current access token and refreshes it when the
// provider calls it expired. It is safe for concurrent use; a process should
// have one Source per token.
type Source struct {
	cfg Config
	sem chan struct{} // one refresh (or load) at a time in this process

	mu      sync.Mutex
	tok     Token
	ver     int64
	loaded  bool
	unsaved *Token
}

// New returns a Source.
func New(cfg Config) (*Source, error) {
	if cfg.Store == nil || cfg.Refresh == nil || cfg.Name == "" {
		return nil, core.Errorf(core.EINVALID, "oauthtoken: a Source needs a name, a store and a refresh function")
	}
	if cfg.InvalidGrant == nil {
		cfg.InvalidGrant = func(error) bool { return false }
	}
	if cfg.Leases == nil {
		cfg.Leases, _ = cfg.Store.(Leases)
	}
	if cfg.Holder == "" {
		host, _ := os.Hostname()
		b := make([]byte, 4)
		rand.Read(b)
		cfg.Holder = fmt.Sprintf("%s:%d:%s", host, os.Getpid(), hex.EncodeToString(b))
	}
	if cfg.LeaseTTL <= 0 {
		cfg.LeaseTTL = 30 * time.Second
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Source{cfg: cfg, sem: make(chan struct{}, 1)}, nil
}

// Token returns the pair to use. The first call loads it from the store; a
// rotated pair that could not be stored earlier is stored first; with no
// access token (only a refresh token, as after an install) it refreshes.
func (s *Source) Token(ctx context.Context) (Token, error) {
	s.mu.Lock()
	if s.loaded && s.unsaved == nil && s.tok.AccessToken != "" {
		t := s.tok.clone()
		s.mu.Unlock()
		return t, nil
	}
	s.mu.Unlock()
	if err := s.lock(ctx); err != nil {
		return Token{}, err
	}
	defer s.unlock()
	if err := s.ensureLoaded(ctx); err != nil {
		return Token{}, err
	}
	if s.tok.IsZero() && s.unsaved == nil {
		return Token{}, ErrNoToken
	}
	if s.unsaved != nil || s.tok.AccessToken == "" {
		if err := s.refreshLocked(ctx, s.tok.AccessToken); err != nil {
			return Token{}, err
		}
	}
	return s.current(), nil
}

// Refresh replaces stale, the access token the provider just called
// expired, and returns the pair to use instead. However many callers and
// replicas ask at once, the provider is asked once: the others find the new
// pair in memory or in the store.
func (s *Source) Refresh(ctx context.Context, stale string) (Token, error) {
	if err := s.lock(ctx); err != nil {
		return Token{}, err
	}
	defer s.unlock()
	if err := s.ensureLoaded(ctx); err != nil {
		return Token{}, err
	}
	if err := s.refreshLocked(ctx, stale); err != nil {
		return Token{}, err
	}
	return s.current(), nil
}

func (s *Source) lock(ctx context.Context) error {
	select {
	case s.sem <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (s *Source) unlock() { <-s.sem }

func (s *Source) current() Token {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.tok.clone()
}

// set replaces the pair in use. Caller holds sem.
func (s *Source) set(tok Token, ver int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tok, s.ver, s.unsaved = tok, ver, nil
}

// ensureLoaded reads the store on first use. Caller holds sem.
func (s *Source) ensureLoaded(ctx context.Context) error {
	if s.loaded {
		return nil
	}
	tok, ver, err := s.cfg.Store.Load(ctx)
	if err != nil {
		return &StoreError{Op: "load", Err: err}
	}
	s.set(tok, ver)
	s.mu.Lock()
	s.loaded = true
	s.mu.Unlock()
	return nil
}

// adopt takes a pair another process stored if it is newer than what this
// Source holds and is not stale. Caller holds sem.
func (s *Source) adopt(tok Token, ver int64, stale string) bool {
	if ver == s.ver || tok.AccessToken == "" || tok.AccessToken == stale {
		return false
	}
	s.set(tok, ver)
	return true
}

// refreshLocked does the work of Refresh. Caller holds sem.
func (s *Source) refreshLocked(ctx context.Context, stale string) error {
	if s.unsaved != nil {
		// A pair rotated earlier could not be stored: store it before
		// anything else, since the refresh token it replaced is spent.
		return s.save(ctx, *s.unsaved)
	}
	if s.tok.AccessToken != stale {
		return nil // refreshed meanwhile by another caller of this Source
	}
	release, err := s.acquire(ctx, stale)
	if err != nil || release == nil {
		return err // nil, nil: another replica refreshed and we took its pair
	}
	defer release()

	// With the lease held, the store is the truth: another replica may have
	// rotated the pair since this Source last read it.
	tok, ver, err := s.cfg.Store.Load(ctx)
	if err != nil {
		return &StoreError{Op: "load", Err: err}
	}
	if s.adopt(tok, ver, stale) {
		return nil
	}
	if ver != s.ver {
		s.set(tok, ver)
	}
	if s.tok.RefreshToken == "" && !s.cfg.SelfRefreshing {
		return ErrNoRefreshToken
	}
	rctx, cancel := context.WithTimeout(ctx, s.cfg.LeaseTTL*2/3)
	defer cancel()
	next, err := s.cfg.Refresh(rctx, s.tok.clone())
	if s.cfg.OnRefresh != nil {
		s.cfg.OnRefresh(err)
	}
	if err != nil {
		if s.cfg.InvalidGrant(err) {
			// Someone else spent our refresh token: the pair they stored is
			// the one to use.
			if stored, ver, lerr := s.cfg.Store.Load(ctx); lerr == nil && stored.RefreshToken != "" && stored.RefreshToken != s.tok.RefreshToken {
				s.set(stored, ver)
				return nil
			}
		}
		return err
	}
	return s.save(ctx, next)
}

// save stores a rotated pair and only then starts using it. Caller holds sem.
func (s *Source) save(ctx context.Context, tok Token) error {
	err := s.cfg.Store.Save(ctx, tok, s.ver)
	if core.ErrorCode(err) == core.ESTALE {
		// Someone stored a newer pair meanwhile; theirs wins.
		stored, ver, lerr := s.cfg.Store.Load(ctx)
		if lerr == nil {
			s.set(stored, ver)
			return nil
		}
		err = lerr
	}
	if err != nil {
		s.mu.Lock()
		s.unsaved = &tok
		s.mu.Unlock()
		return &SaveError{Err: err}
	}
	s.set(tok, s.ver+1)
	return nil
}

// acquire takes the refresh lease. While another replica holds it, it waits
// and watches the store: when that replica's new pair appears, it is adopted
// and acquire returns (nil, nil). Without Leases it returns a no-op release.
func (s *Source) acquire(ctx context.Context, stale string) (release func(), err error) {
	l := s.cfg.Leases
	if l == nil {
		return func() {}, nil
	}
	name := "oauth:" + s.cfg.Name
	wait := 10 * time.Millisecond
	for {
		ok, err := l.AcquireLease(ctx, name, s.cfg.Holder, s.cfg.LeaseTTL, s.cfg.Now())
		if err != nil {
			return nil, &StoreError{Op: "lease", Err: err}
		}
		if ok {
			return func() {
				rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
				defer cancel()
				// If the release fails, the lease expires after LeaseTTL.
				_ = l.ReleaseLease(rctx, name, s.cfg.Holder)
			}, nil
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, ctx.Err()
		case <-t.C:
		}
		wait = min(2*wait, 200*time.Millisecond)
		tok, ver, err := s.cfg.Store.Load(ctx)
		if err != nil {
			return nil, &StoreError{Op: "load", Err: err}
		}
		if s.adopt(tok, ver, stale) {
			return nil, nil
		}
	}
}
