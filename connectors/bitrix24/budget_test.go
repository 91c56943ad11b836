package bitrix24

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/paysync/paysync/core"
	sandbox "github.com/paysync/paysync/sandbox/bitrix24"
)

var t0 = time.Date(2025, 3, 1, 10, 0, 0, 0, time.UTC)

func TestBudgetModel(t *testing.T) {
	t.Parallel()
	b := newBudget(DefaultRate, DefaultBucketSize, DefaultBurstShare, t0)
	// Just started: the share (25) may be full, so the first request waits
	// for one to drain.
	if w := b.reserve(t0); w != 500*time.Millisecond {
		t.Fatalf("first request after start waits %s, want 500ms", w)
	}
	// 26 booked at t0 drain in 13 s; then 25 go at once and the 26th waits.
	now := t0.Add(13 * time.Second)
	for i := 1; i <= 25; i++ {
		if w := b.reserve(now); w != 0 {
			t.Fatalf("request %d of an idle burst waits %s", i, w)
		}
	}
	if w := b.reserve(now); w != 500*time.Millisecond {
		t.Fatalf("26th request waits %s, want 500ms", w)
	}
	if w := b.reserve(now); w != time.Second {
		t.Fatalf("27th request waits %s, want 1s", w)
	}
	b.cancel(now) // the 27th was never sent
	if w := b.delay(now); w != time.Second {
		t.Fatalf("after a cancel the next waits %s, want 1s", w)
	}
	// The portal refused (someone else filled its bucket): the level is the
	// whole capacity, 50, and a request waits until it is back at 24.
	now = now.Add(500 * time.Millisecond)
	b.fill(now)
	if lvl := b.levelAt(now); lvl != DefaultBucketSize {
		t.Fatalf("level after QUERY_LIMIT_EXCEEDED: %v", lvl)
	}
	if w := b.delay(now); w != 13*time.Second {
		t.Fatalf("after QUERY_LIMIT_EXCEEDED a request waits %s, want 13s", w)
	}

	ent := newBudget(EnterpriseRate, EnterpriseBucketSize, DefaultBurstShare, t0)
	now = t0.Add(25 * time.Second) // 125 drained at 5/s
	for i := 1; i <= 125; i++ {
		if w := ent.reserve(now); w != 0 {
			t.Fatalf("Enterprise: request %d of an idle burst waits %s", i, w)
		}
	}
	if w := ent.reserve(now); w != 200*time.Millisecond {
		t.Fatalf("Enterprise: 126th waits %s, want 200ms", w)
	}
}

// budgetEnv is a client and a sandbox portal on one manual clock; the
// client's waits advance the clock instead of sleeping.
type budgetEnv struct {
	portal *sandbox.Portal
	clock  *sandbox.ManualClock
	url    string
	maxLvl float64
}

func newBudgetEnv(t *testing.T, opts sandbox.Options) *budgetEnv {
	t.Helper()
	clock := sandbox.NewManualClock(t0)
	opts.Now = clock.Now
	p := sandbox.New(opts)
	srv := httptestServer(t, p)
	return &budgetEnv{portal: p, clock: clock, url: p.WebhookURL(srv)}
}

func (e *budgetEnv) client(t *testing.T, cfg Config) *Client {
	t.Helper()
	cfg.WebhookURL, cfg.Now = e.url, e.clock.Now
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	c.sleep = func(_ context.Context, d time.Duration) error {
		e.clock.Advance(d)
		return nil
	}
	return c
}

// send makes n requests back to back and records the portal's highest level.
func (e *budgetEnv) send(t *testing.T, c *Client, n int) {
	t.Helper()
	for i := 0; i < n; i++ {
		if _, err := c.Call(context.Background(), "crm.deal.list", nil); err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		e.maxLvl = max(e.maxLvl, e.portal.BucketLevel())
	}
}

// However often paysync restarts and however much it sends, it never fills
// more than its share of the portal's bucket, and is never refused.
func TestBudgetKeepsThePortalUnderTheShare(t *testing.T) {
	t.Parallel()
	e := newBudgetEnv(t, sandbox.Options{})
	for restart := 0; restart < 20; restart++ {
		e.send(t, e.client(t, Config{}), 40)
	}
	if st := e.portal.Stats(); st.Rejected != 0 || st.Served != 800 {
		t.Fatalf("portal stats %+v", st)
	}
	if e.maxLvl > 25 {
		t.Fatalf("the portal's bucket reached %v, above paysync's share of 25", e.maxLvl)
	}
	// An idle portal takes the whole share at once, and not one more.
	c := e.client(t, Config{})
	e.clock.Advance(time.Minute)
	start := e.clock.Now()
	e.send(t, c, 25)
	if waited := e.clock.Now().Sub(start); waited != 0 {
		t.Fatalf("a burst of 25 on an idle portal waited %s", waited)
	}
	e.send(t, c, 1)
	if waited := e.clock.Now().Sub(start); waited != 500*time.Millisecond {
		t.Fatalf("the 26th request waited %s, want 500ms", waited)
	}
}

// Another integration filled the bucket: the portal refuses, the client
// slows the connector down (SlowDown) and counts the bucket as full.
func TestBudgetAfterQueryLimitExceeded(t *testing.T) {
	t.Parallel()
	e := newBudgetEnv(t, sandbox.Options{})
	c := e.client(t, Config{})
	e.clock.Advance(time.Minute)
	e.portal.FillBucket()
	_, err := c.Call(context.Background(), "crm.deal.list", nil)
	if de := Classify(err); de.Class != core.Retryable || !de.SlowDown {
		t.Fatalf("full bucket: %v", err)
	}
	if w := c.nextSlot(); w != 13*time.Second {
		t.Fatalf("after QUERY_LIMIT_EXCEEDED the next request waits %s, want 13s", w)
	}
	e.send(t, c, 5)
	if st := e.portal.Stats(); st.Rejected != 1 {
		t.Fatalf("refused %d times", st.Rejected)
	}
}

// An Enterprise portal, configured as such, takes a burst of 125.
func TestBudgetEnterprise(t *testing.T) {
	t.Parallel()
	e := newBudgetEnv(t, sandbox.Options{BlockThreshold: sandbox.EnterpriseBlockThreshold, DrainPerSecond: sandbox.EnterpriseDrainPerSecond})
	c := e.client(t, Config{Rate: EnterpriseRate, BucketSize: EnterpriseBucketSize})
	e.clock.Advance(time.Minute)
	start := e.clock.Now()
	e.send(t, c, 125)
	if waited := e.clock.Now().Sub(start); waited != 0 {
		t.Fatalf("a burst of 125 waited %s", waited)
	}
	e.send(t, c, 200)
	if st := e.portal.Stats(); st.Rejected != 0 || e.maxLvl > 125 {
		t.Fatalf("refused %d, highest level %v", st.Rejected, e.maxLvl)
	}
}

// httptestServer serves h on loopback until the test ends and returns its URL.
func httptestServer(t *testing.T, h http.Handler) string {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv.URL
}
