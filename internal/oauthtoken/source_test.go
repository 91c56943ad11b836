package oauthtoken_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/paysync/paysync/internal/oauthtoken"
	"github.com/paysync/paysync/storage"
	"github.com/paysync/paysync/storage/testdb"
)

var errInvalidGrant = errors.New("invalid_grant: the refresh token is spent")

// provider is an OAuth server with single-use refresh tokens, as amoCRM's and
// Bitrix24's are: a refresh spends the refresh token and the access token it
// came with.
type provider struct {
	mu        sync.Mutex
	seq       int
	access    map[string]bool
	refresh   map[string]bool
	refreshes int // successful ones
	calls     int // every request, refused or not
	delay     time.Duration
}

func newProvider() *provider {
	return &provider{access: map[string]bool{}, refresh: map[string]bool{}}
}

// issue is what installing the app gives.
func (p *provider) issue() oauthtoken.Token {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.pairLocked()
}

func (p *provider) pairLocked() oauthtoken.Token {
	p.seq++
	t := oauthtoken.Token{AccessToken: fmt.Sprintf("access-%d", p.seq), RefreshToken: fmt.Sprintf("refresh-%d", p.seq),
		Expiry: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC), Extra: map[string]string{"domain": "shop.example"}}
	p.access[t.AccessToken], p.refresh[t.RefreshToken] = true, true
	return t
}

func (p *provider) Refresh(ctx context.Context, cur oauthtoken.Token) (oauthtoken.Token, error) {
	if p.delay > 0 {
		time.Sleep(p.delay) // keep the refresh in flight while others pile up
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.calls++
	if !p.refresh[cur.RefreshToken] {
		return oauthtoken.Token{}, errInvalidGrant
	}
	delete(p.refresh, cur.RefreshToken)
	p.refreshes++
	return p.pairLocked(), nil
}

// expire makes every access token issued so far expired.
func (p *provider) expire() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.access = map[string]bool{}
}

func (p *provider) valid(access string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.access[access]
}

func (p *provider) count() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.refreshes
}

// call is a CRM call the way a connector makes it: the token, and on
// "expired" one refresh and a retry.
func call(ctx context.Context, p *provider, src *oauthtoken.Source) error {
	tok, err := src.Token(ctx)
	if err != nil {
		return err
	}
	if p.valid(tok.AccessToken) {
		return nil
	}
	if tok, err = src.Refresh(ctx, tok.AccessToken); err != nil {
		return err
	}
	if !p.valid(tok.AccessToken) {
		return fmt.Errorf("access token %s is still refused after a refresh", tok.AccessToken)
	}
	return nil
}

func newSource(t *testing.T, p *provider, store oauthtoken.Store, mod ...func(*oauthtoken.Config)) *oauthtoken.Source {
	t.Helper()
	cfg := oauthtoken.Config{Name: "testcrm", Store: store, Refresh: p.Refresh,
		InvalidGrant: func(err error) bool { return errors.Is(err, errInvalidGrant) }}
	for _, m := range mod {
		m(&cfg)
	}
	src, err := oauthtoken.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return src
}

func stateStore(db *storage.DB) oauthtoken.StateStore {
	return oauthtoken.StateStore{Backend: db, Connector: "testcrm", Key: "oauth_token"}
}

func TestTokenJSON(t *testing.T) {
	t.Parallel()
	// The shape bitrix24 stored before this package existed loads with its extras.
	old := `{"access_token":"a1","refresh_token":"r1","expiry":"2025-03-01T10:00:00Z",` +
		`"client_endpoint":"https://shop.bitrix24.com/rest/","domain":"shop.bitrix24.com","member_id":"m1"}`
	var tok oauthtoken.Token
	if err := json.Unmarshal([]byte(old), &tok); err != nil {
		t.Fatal(err)
	}
	want := oauthtoken.Token{AccessToken: "a1", RefreshToken: "r1", Expiry: time.Date(2025, 3, 1, 10, 0, 0, 0, time.UTC),
		Extra: map[string]string{"client_endpoint": "https://shop.bitrix24.com/rest/", "domain": "shop.bitrix24.com", "member_id": "m1"}}
	if !reflect.DeepEqual(tok, want) {
		t.Fatalf("decoded %+v, want %+v", tok, want)
	}
	b, err := json.Marshal(tok)
	if err != nil {
		t.Fatal(err)
	}
	var back oauthtoken.Token
	if err := json.Unmarshal(b, &back); err != nil || !reflect.DeepEqual(back, want) {
		t.Fatalf("round trip: %s -> %+v (%v)", b, back, err)
	}
	var flat map[string]any
	_ = json.Unmarshal(b, &flat)
	if flat["client_endpoint"] != "https://shop.bitrix24.com/rest/" || flat["access_token"] != "a1" {
		t.Fatalf("not flat: %s", b)
	}
}

// Two replicas, 16 callers each, all find the access token expired at once:
// the provider is asked exactly once, and everyone ends up with the new pair.
func TestOneRefreshAcrossReplicas(t *testing.T) {
	t.Parallel()
	testdb.Each(t, func(t *testing.T, dialect string) {
		t.Parallel()
		opts := testdb.Options(t, dialect)
		db1, db2 := testdb.OpenWith(t, opts), testdb.OpenWith(t, opts)
		p := newProvider()
		p.delay = 30 * time.Millisecond
		first := p.issue()
		ctx := context.Background()
		if err := stateStore(db1).Save(ctx, first, 0); err != nil {
			t.Fatal(err)
		}
		replicas := []*oauthtoken.Source{newSource(t, p, stateStore(db1)), newSource(t, p, stateStore(db2))}
		for _, src := range replicas {
			if err := call(ctx, p, src); err != nil { // both load the first pair
				t.Fatal(err)
			}
		}
		p.expire()

		var wg sync.WaitGroup
		errs := make(chan error, 32)
		for _, src := range replicas {
			for range 16 {
				wg.Go(func() { errs <- call(ctx, p, src) })
			}
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
		p.mu.Lock()
		calls := p.calls
		p.mu.Unlock()
		if calls != 1 {
			t.Fatalf("the provider was asked for %d refreshes, want 1", calls)
		}
		stored, ver, err := stateStore(db2).Load(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if ver != 2 || stored.RefreshToken == first.RefreshToken || !p.valid(stored.AccessToken) || stored.Get("domain") != "shop.example" {
			t.Fatalf("stored version %d token %+v", ver, stored)
		}
	})
}

// crashingStore stores the pair and then dies, before the pair is used.
type crashingStore struct{ oauthtoken.Store }

type crash struct{}

func (s crashingStore) Save(ctx context.Context, tok oauthtoken.Token, v int64) error {
	if err := s.Store.Save(ctx, tok, v); err != nil {
		return err
	}
	panic(crash{})
}

// A process that dies right after storing a rotated pair loses nothing: the
// next process loads the new pair and uses it, and its refresh token is the
// live one.
func TestCrashAfterSaveLosesNothing(t *testing.T) {
	t.Parallel()
	testdb.Each(t, func(t *testing.T, dialect string) {
		t.Parallel()
		db := testdb.Open(t, dialect)
		p := newProvider()
		ctx := context.Background()
		first := p.issue()
		if err := stateStore(db).Save(ctx, first, 0); err != nil {
			t.Fatal(err)
		}
		p.expire()
		dying := newSource(t, p, crashingStore{stateStore(db)})
		func() {
			defer func() {
				if r := recover(); r != (crash{}) {
					t.Fatalf("the save did not crash: %v", r)
				}
			}()
			_ = call(ctx, p, dying)
		}()
		if p.count() != 1 {
			t.Fatalf("%d refreshes before the crash", p.count())
		}

		next := newSource(t, p, stateStore(db))
		tok, err := next.Token(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if tok.AccessToken == first.AccessToken || !p.valid(tok.AccessToken) {
			t.Fatalf("after the crash the new process uses %s", tok.AccessToken)
		}
		if err := call(ctx, p, next); err != nil || p.count() != 1 {
			t.Fatalf("call: %v; %d refreshes", err, p.count())
		}
		// The stored refresh token is the live one.
		p.expire()
		if err := call(ctx, p, next); err != nil || p.count() != 2 {
			t.Fatalf("refresh with the stored refresh token: %v; %d refreshes", err, p.count())
		}
	})
}

// failingStore fails the first saves, as a database outage would.
type failingStore struct {
	*oauthtoken.MemoryStore
	mu    sync.Mutex
	fails int
}

func (s *failingStore) Save(ctx context.Context, tok oauthtoken.Token, v int64) error {
	s.mu.Lock()
	if s.fails > 0 {
		s.fails--
		s.mu.Unlock()
		return errors.New("database is down")
	}
	s.mu.Unlock()
	return s.MemoryStore.Save(ctx, tok, v)
}

func TestUnsavedPairIsSavedBeforeUse(t *testing.T) {
	t.Parallel()
	p := newProvider()
	store := &failingStore{MemoryStore: oauthtoken.NewMemoryStore(p.issue()), fails: 1}
	src := newSource(t, p, store)
	ctx := context.Background()
	p.expire()
	err := call(ctx, p, src)
	var se *oauthtoken.SaveError
	if !errors.As(err, &se) {
		t.Fatalf("save failure: %v", err)
	}
	// Not used yet: the next call stores it first, without refreshing again.
	if err := call(ctx, p, src); err != nil {
		t.Fatal(err)
	}
	stored, ver, _ := store.Load(ctx)
	if p.count() != 1 || store.Saves() != 1 || ver != 2 || !p.valid(stored.AccessToken) {
		t.Fatalf("refreshes %d, saves %d, version %d", p.count(), store.Saves(), ver)
	}
}

// Another process (one without the lease, or whose lease expired) spends our
// refresh token between our read and our refresh: invalid_grant, and the pair
// it stored is used.
func TestInvalidGrantAfterConcurrentRotation(t *testing.T) {
	t.Parallel()
	p := newProvider()
	store := oauthtoken.NewMemoryStore(p.issue())
	ctx := context.Background()
	var once sync.Once
	src := newSource(t, p, store, func(c *oauthtoken.Config) {
		c.Refresh = func(ctx context.Context, cur oauthtoken.Token) (oauthtoken.Token, error) {
			once.Do(func() {
				other, err := p.Refresh(ctx, cur)
				if err != nil {
					t.Error(err)
				}
				if err := store.Save(ctx, other, 1); err != nil {
					t.Error(err)
				}
			})
			return p.Refresh(ctx, cur)
		}
	})
	if err := call(ctx, p, src); err != nil {
		t.Fatal(err)
	}
	p.expire()
	if err := call(ctx, p, src); err != nil {
		t.Fatalf("after the concurrent rotation: %v", err)
	}
	stored, _, _ := store.Load(ctx)
	tok, err := src.Token(ctx)
	if err != nil || tok.RefreshToken != stored.RefreshToken {
		t.Fatalf("after invalid_grant the source holds %+v (%v), the store %+v", tok, err, stored)
	}
	if p.count() != 1 {
		t.Fatalf("%d refreshes, want only the other process's", p.count())
	}
}

// A replica that died holding the refresh lease blocks the others only until
// the lease expires.
func TestDeadHolderLeaseExpires(t *testing.T) {
	t.Parallel()
	testdb.Each(t, func(t *testing.T, dialect string) {
		t.Parallel()
		db := testdb.Open(t, dialect)
		p := newProvider()
		ctx := context.Background()
		if err := stateStore(db).Save(ctx, p.issue(), 0); err != nil {
			t.Fatal(err)
		}
		ok, err := db.AcquireLease(ctx, "oauth:testcrm", "dead-replica", 300*time.Millisecond, time.Now())
		if err != nil || !ok {
			t.Fatalf("lease: %v %v", ok, err)
		}
		src := newSource(t, p, stateStore(db))
		p.expire()
		start := time.Now()
		if err := call(ctx, p, src); err != nil {
			t.Fatal(err)
		}
		if waited := time.Since(start); waited < 250*time.Millisecond {
			t.Fatalf("refreshed after %s while another replica held the lease", waited)
		}
		if p.count() != 1 {
			t.Fatalf("%d refreshes", p.count())
		}
	})
}

func TestNoToken(t *testing.T) {
	t.Parallel()
	p := newProvider()
	src := newSource(t, p, oauthtoken.NewMemoryStore(oauthtoken.Token{}))
	if _, err := src.Token(context.Background()); !errors.Is(err, oauthtoken.ErrNoToken) {
		t.Fatalf("empty store: %v", err)
	}
	// Only a refresh token (as handed over at install): the first use refreshes.
	tok := p.issue()
	tok.AccessToken = ""
	src = newSource(t, p, oauthtoken.NewMemoryStore(tok))
	if err := call(context.Background(), p, src); err != nil || p.count() != 1 {
		t.Fatalf("refresh-only token: %v, %d refreshes", err, p.count())
	}
	// A refresh token that is dead for good comes back as the provider's error.
	p.expire()
	p.mu.Lock()
	p.refresh = map[string]bool{}
	p.mu.Unlock()
	if err := call(context.Background(), p, src); !errors.Is(err, errInvalidGrant) {
		t.Fatalf("dead refresh token: %v", err)
	}
}

// A self-refreshing token (Instagram's long-lived one) has no refresh
// token: it is exchanged for a new one by itself, and the new one is stored
// before it is used. Without SelfRefreshing such a token cannot refresh.
func TestSelfRefreshingToken(t *testing.T) {
	t.Parallel()
	store := oauthtoken.NewMemoryStore(oauthtoken.Token{AccessToken: "IGAA-long-1"})
	var seen []string
	exchange := func(_ context.Context, cur oauthtoken.Token) (oauthtoken.Token, error) {
		seen = append(seen, cur.AccessToken)
		return oauthtoken.Token{AccessToken: "IGAA-long-2", Expiry: time.Date(2030, 3, 1, 0, 0, 0, 0, time.UTC)}, nil
	}
	plain, err := oauthtoken.New(oauthtoken.Config{Name: "plain", Store: store, Refresh: exchange})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := plain.Refresh(context.Background(), "IGAA-long-1"); !errors.Is(err, oauthtoken.ErrNoRefreshToken) {
		t.Fatalf("without SelfRefreshing: %v, want ErrNoRefreshToken", err)
	}
	src, err := oauthtoken.New(oauthtoken.Config{Name: "instagram", Store: store, Refresh: exchange, SelfRefreshing: true})
	if err != nil {
		t.Fatal(err)
	}
	tok, err := src.Refresh(context.Background(), "IGAA-long-1")
	if err != nil || tok.AccessToken != "IGAA-long-2" || len(seen) != 1 || seen[0] != "IGAA-long-1" {
		t.Fatalf("self refresh: %+v, %v; the exchange saw %v", tok, err, seen)
	}
	if stored, ver, _ := store.Load(context.Background()); stored.AccessToken != "IGAA-long-2" || ver != 2 || stored.Expiry.IsZero() {
		t.Fatalf("stored after the refresh: %+v at version %d", stored, ver)
	}
}
