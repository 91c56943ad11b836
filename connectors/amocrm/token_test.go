package amocrm_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/paysync/paysync/connectors/amocrm"
	"github.com/paysync/paysync/core"
	"github.com/paysync/paysync/internal/oauthtoken"
	sandbox "github.com/paysync/paysync/sandbox/amocrm"
	"github.com/paysync/paysync/storage/testdb"
)

// oauthClient is one process's client of an OAuth integration whose pair
// lives in store, starting from the refresh token seed.
func (a *account) oauthClient(t testing.TB, store oauthtoken.Backend, seed, holder string) *amocrm.Client {
	t.Helper()
	c, err := amocrm.New(amocrm.Config{BaseURL: a.srv.URL, OAuth: &amocrm.OAuthConfig{
		ClientID: a.ClientID(), ClientSecret: a.ClientSecret(), RedirectURI: a.RedirectURI(),
		RefreshToken: seed, Store: amocrm.StateTokenStore(store), Holder: holder}})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func read(t testing.TB, c *amocrm.Client) error {
	t.Helper()
	_, err := c.LeadsByID(context.Background(), []int64{1})
	return err
}

// TestOAuthRotatesOnce: the first request exchanges the configured refresh
// token; a 401 refreshes once and repeats the request; the rotated pair is
// in the database, never the spent one.
func TestOAuthRotatesOnce(t *testing.T) {
	testdb.Each(t, func(t *testing.T, dialect string) {
		t.Parallel()
		store := testdb.Open(t, dialect)
		a := newAccount(t, sandbox.Options{})
		_, seed := a.IssueTokens()
		c := a.oauthClient(t, store, seed, "replica-1")
		if err := read(t, c); err != nil {
			t.Fatal(err)
		}
		a.ExpireAccessTokens()
		if err := read(t, c); err != nil {
			t.Fatalf("after the access token expired: %v", err)
		}
		if st := a.Stats(); st.Refreshes != 2 || st.Requests != 5 {
			t.Fatalf("refreshes %d, requests %d: want 2 refreshes (start, 401) and 5 requests", st.Refreshes, st.Requests)
		}
		v, _, err := store.GetState(context.Background(), amocrm.Name, "oauth_token")
		if err != nil || strings.Contains(v, seed) || !strings.Contains(v, `"refresh_token":"rt-`) {
			t.Fatalf("stored pair %q (%v) must be the rotated one", v, err)
		}
	})
}

// TestOAuthCrashAfterRotation: a process that received and stored a new
// pair dies before using it; the next process, configured exactly the same,
// is authorised with the stored pair, although the configured refresh token
// is spent.
func TestOAuthCrashAfterRotation(t *testing.T) {
	testdb.Each(t, func(t *testing.T, dialect string) {
		t.Parallel()
		store := testdb.Open(t, dialect)
		a := newAccount(t, sandbox.Options{})
		_, seed := a.IssueTokens()
		first, err := amocrm.New(amocrm.Config{BaseURL: a.srv.URL, Timeout: 300 * time.Millisecond, OAuth: &amocrm.OAuthConfig{
			ClientID: a.ClientID(), ClientSecret: a.ClientSecret(), RedirectURI: a.RedirectURI(),
			RefreshToken: seed, Store: amocrm.StateTokenStore(store), Holder: "process-1"}})
		if err != nil {
			t.Fatal(err)
		}
		// The process exchanges the refresh token and dies before its first
		// request with the new pair gets an answer.
		a.HangNext(1)
		if de := amocrm.Classify(read(t, first)); de == nil || de.Class != core.Retryable {
			t.Fatalf("the request that hung: %v", de)
		}
		second := a.oauthClient(t, store, seed, "process-2")
		if err := read(t, second); err != nil {
			t.Fatalf("after the restart: %v", err)
		}
		a.ExpireAccessTokens()
		if err := read(t, second); err != nil {
			t.Fatalf("refreshing the stored pair after the restart: %v", err)
		}
		if n := a.Stats().Refreshes; n != 2 {
			t.Fatalf("%d refreshes, want 2 (the crashed one, then the stored pair's)", n)
		}
		// Without the stored pair the restart would have been locked out:
		// the configured refresh token is spent.
		lost := a.oauthClient(t, testdb.Open(t, dialect), seed, "process-3")
		if de := amocrm.Classify(read(t, lost)); de == nil || de.Class != core.NeedsReauth || !strings.Contains(de.Reason, "Token has been revoked") {
			t.Fatalf("the spent refresh token: %v", de)
		}
	})
}

// TestOAuthTwoReplicasRefreshOnce: two replicas, each with requests in
// flight, find the access token expired at the same moment: amoCRM sees one
// refresh, and every request succeeds.
func TestOAuthTwoReplicasRefreshOnce(t *testing.T) {
	testdb.Each(t, func(t *testing.T, dialect string) {
		t.Parallel()
		store := testdb.Open(t, dialect)
		a := newAccount(t, sandbox.Options{Limit: 1000})
		_, seed := a.IssueTokens()
		replicas := []*amocrm.Client{a.oauthClient(t, store, seed, "replica-a"), a.oauthClient(t, store, seed, "replica-b")}
		for _, c := range replicas {
			if err := read(t, c); err != nil {
				t.Fatal(err)
			}
		}
		before := a.Stats().Refreshes
		a.ExpireAccessTokens()
		var wg sync.WaitGroup
		for _, c := range replicas {
			for range 3 {
				wg.Go(func() {
					if err := read(t, c); err != nil {
						t.Error(err)
					}
				})
			}
		}
		wg.Wait()
		if n := a.Stats().Refreshes - before; n != 1 {
			t.Fatalf("%d refreshes for two replicas, want 1", n)
		}
	})
}

func TestOAuthRefusals(t *testing.T) {
	t.Parallel()
	store := testdb.Open(t, "sqlite")
	a := newAccount(t, sandbox.Options{})
	_, seed := a.IssueTokens()
	c := a.oauthClient(t, store, seed, "r")
	if err := read(t, c); err != nil {
		t.Fatal(err)
	}
	// The integration was disconnected: the refresh token is dead.
	a.RevokeRefreshTokens()
	a.ExpireAccessTokens()
	de := amocrm.Classify(read(t, c))
	if de == nil || de.Class != core.NeedsReauth || !strings.Contains(de.Reason, "PAYSYNC_AMOCRM_REFRESH_TOKEN") {
		t.Fatalf("revoked: %v", de)
	}
	// A person re-authorises and sets the new refresh token: it replaces
	// the dead stored pair.
	_, fresh := a.IssueTokens()
	if err := read(t, a.oauthClient(t, store, fresh, "r")); err != nil {
		t.Fatalf("after re-authorising: %v", err)
	}
	// A wrong client secret says so.
	bad, err := amocrm.New(amocrm.Config{BaseURL: a.srv.URL, OAuth: &amocrm.OAuthConfig{ClientID: a.ClientID(),
		ClientSecret: "not-the-secret", RedirectURI: a.RedirectURI(), RefreshToken: "rt-x", Store: amocrm.StateTokenStore(testdb.Open(t, "sqlite"))}})
	if err != nil {
		t.Fatal(err)
	}
	err = read(t, bad)
	if de := amocrm.Classify(err); de == nil || de.Class != core.NeedsReauth || !strings.Contains(de.Reason, "PAYSYNC_AMOCRM_CLIENT_SECRET") ||
		strings.Contains(err.Error(), "not-the-secret") || strings.Contains(de.Reason, fresh) {
		t.Fatalf("wrong secret: %v", err)
	}
}

// TestOAuthRefreshesPastExpiry: an access token past its expiry is
// refreshed before the request, which saves amoCRM a request answered 401.
func TestOAuthRefreshesPastExpiry(t *testing.T) {
	t.Parallel()
	a := newAccount(t, sandbox.Options{})
	_, seed := a.IssueTokens()
	clock := sandbox.NewManualClock(time.Now())
	c, err := amocrm.New(amocrm.Config{BaseURL: a.srv.URL, Now: clock.Now, OAuth: &amocrm.OAuthConfig{
		ClientID: a.ClientID(), ClientSecret: a.ClientSecret(), RedirectURI: a.RedirectURI(),
		RefreshToken: seed, Store: amocrm.StateTokenStore(testdb.Open(t, "sqlite"))}})
	if err != nil {
		t.Fatal(err)
	}
	if err := read(t, c); err != nil {
		t.Fatal(err)
	}
	clock.Advance(sandbox.AccessTokenTTL)
	if err := read(t, c); err != nil {
		t.Fatal(err)
	}
	if st := a.Stats(); st.Refreshes != 2 || st.Requests != 4 {
		t.Fatalf("refreshes %d, requests %d: want 2 refreshes and no request answered 401", st.Refreshes, st.Requests)
	}
}
