package throttle

import (
	"net/http/httptest"
	"testing"
	"time"
)

func TestAllowanceThenDoublingLocks(t *testing.T) {
	t.Parallel()
	l := New(Rule{Burst: 3, Every: time.Second, Backoff: true, MaxLock: 10 * time.Second})
	now := time.Unix(1_000_000, 0)
	for i := range 3 {
		if _, ok, _ := l.Take("a", now); !ok {
			t.Fatalf("failure %d refused within the allowance", i+1)
		}
	}
	wait, ok, locked := l.Take("a", now)
	if ok || !locked || wait != time.Second {
		t.Fatalf("past the allowance: wait %v ok %v locked %v, want a 1s lock", wait, ok, locked)
	}
	if w := l.Wait("a", now.Add(500*time.Millisecond)); w != 500*time.Millisecond {
		t.Fatalf("halfway through the lock Wait says %v", w)
	}
	if w := l.Wait("b", now); w != 0 || !l.Fresh("b", now) || l.Fresh("a", now) {
		t.Fatalf("another key is held back (%v) or the failing one looks fresh", w)
	}
	// Right after the lock there is nothing to spend: the next lock doubles.
	now = now.Add(time.Second)
	if wait, _, locked := l.Take("a", now); !locked || wait != 2*time.Second {
		t.Fatalf("second lock %v (locked %v), want 2s", wait, locked)
	}
	now = now.Add(2 * time.Second)
	if wait, _, _ := l.Take("a", now); wait != 4*time.Second {
		t.Fatalf("third lock %v, want 4s", wait)
	}
	for range 5 {
		now = now.Add(l.Wait("a", now))
		l.Take("a", now)
	}
	if w := l.Wait("a", now); w != 10*time.Second {
		t.Fatalf("the lock grew past MaxLock: %v", w)
	}
	// Quiet long enough, the key has its allowance back and forgets its strikes.
	now = now.Add(time.Minute)
	if !l.Fresh("a", now) {
		t.Fatal("a key quiet for a minute is still held")
	}
	l.Take("a", now)
	l.Reset("a")
	if !l.Fresh("a", now) {
		t.Fatal("Reset kept the failures")
	}
}

func TestWithoutBackoffTheKeyWaitsForOneFailureBack(t *testing.T) {
	t.Parallel()
	l := New(Rule{Burst: 2, Every: 3 * time.Second})
	now := time.Unix(1_000_000, 0)
	l.Take("x", now)
	l.Take("x", now)
	if wait, ok, locked := l.Take("x", now); ok || locked || wait != 3*time.Second {
		t.Fatalf("over the limit: wait %v ok %v locked %v", wait, ok, locked)
	}
	if _, ok, _ := l.Take("x", now.Add(3*time.Second)); !ok {
		t.Fatal("a failure that came back is not allowed")
	}
}

func TestClientBehindTrustedProxies(t *testing.T) {
	t.Parallel()
	ps, err := ParseProxies([]string{"10.0.0.0/8", "192.0.2.7"})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ peer, xff, want string }{
		{"203.0.113.5:4000", "198.51.100.1", "203.0.113.5"},                   // not a proxy: its header is not believed
		{"10.1.2.3:4000", "198.51.100.1", "198.51.100.1"},                     // the proxy's client
		{"10.1.2.3:4000", "1.2.3.4, 198.51.100.1, 192.0.2.7", "198.51.100.1"}, // the first untrusted hop from the right
		{"10.1.2.3:4000", "", "10.1.2.3"},
		{"10.1.2.3:4000", "garbage", "10.1.2.3"},
	} {
		r := httptest.NewRequest("GET", "/", nil)
		r.RemoteAddr = c.peer
		if c.xff != "" {
			r.Header.Set("X-Forwarded-For", c.xff)
		}
		if got := ps.Client(r); got != c.want {
			t.Errorf("peer %s, X-Forwarded-For %q: client %s, want %s", c.peer, c.xff, got, c.want)
		}
	}
	if _, err := ParseProxies([]string{"not-an-address"}); err == nil {
		t.Fatal("a bad proxy address is accepted")
	}
}
