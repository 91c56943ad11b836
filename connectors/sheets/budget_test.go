package sheets

import (
	"context"
	"sync"
	"testing"
	"time"
)

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// TestBudgetBurstsAQuarterThenPaces: a quarter of the minute's quota goes
// at once, the rest at the quota's pace (one a second for 60 a minute), so
// that a burst of one-order deliveries cannot spend the whole minute and
// leave the orders behind them waiting for the next.
func TestBudgetBurstsAQuarterThenPaces(t *testing.T) {
	t.Parallel()
	clk := &fakeClock{t: time.Date(2026, 1, 1, 10, 0, 0, 0, time.UTC)}
	b := newBudget(60, time.Minute, clk.now)
	ctx := context.Background()
	for i := range 15 {
		release, wait, err := b.acquire(ctx)
		if err != nil || wait != 0 {
			t.Fatalf("request %d of the burst: wait %v, %v", i, wait, err)
		}
		release()
	}
	short, cancel := context.WithDeadline(ctx, time.Now().Add(time.Millisecond))
	defer cancel()
	if _, wait, err := b.acquire(short); err == nil || wait <= 0 || wait > time.Second+time.Millisecond {
		t.Fatalf("the 16th request: wait %v, err %v; want about a second", wait, err)
	}
	clk.advance(time.Second)
	release, wait, err := b.acquire(ctx)
	if err != nil || wait != 0 {
		t.Fatalf("a second later: %v %v", wait, err)
	}
	release()
}

// TestBudgetNeverMoreThanTheQuota: requests sent as fast as the budget lets
// them, for three minutes, never exceed the quota in any minute (the pace's
// refill alone would allow a burst's worth more in the first one).
func TestBudgetNeverMoreThanTheQuota(t *testing.T) {
	t.Parallel()
	clk := &fakeClock{t: time.Date(2026, 1, 1, 10, 0, 0, 0, time.UTC)}
	b := newBudget(8, time.Minute, clk.now)
	start := clk.now()
	var sent []time.Time
	for clk.now().Sub(start) < 3*time.Minute {
		b.mu.Lock()
		d := b.next(clk.now())
		b.mu.Unlock()
		if d > 0 {
			clk.advance(d)
			continue
		}
		release, _, err := b.acquire(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		sent = append(sent, clk.now())
		release()
	}
	for i := range sent {
		n := 0
		for _, at := range sent[i:] {
			if at.Sub(sent[i]) < time.Minute {
				n++
			}
		}
		if n > 8 {
			t.Fatalf("%d requests in the minute from %v (sent at %v)", n, sent[i], sent)
		}
	}
	if len(sent) < 20 {
		t.Fatalf("only %d requests in three minutes of a quota of 8 a minute", len(sent))
	}
}

// TestBudgetCountsRequestsInFlight: a request holds its slot until its
// answer is back; a waiter learns when the answer comes how long the
// minute still runs.
func TestBudgetCountsRequestsInFlight(t *testing.T) {
	t.Parallel()
	clk := &fakeClock{t: time.Now()}
	b := newBudget(1, time.Minute, clk.now)
	release, _, err := b.acquire(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	type result struct {
		wait time.Duration
		err  error
	}
	got := make(chan result, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_, wait, err := b.acquire(ctx)
		got <- result{wait, err}
	}()
	select {
	case r := <-got:
		t.Fatalf("a second request went on while the first was in flight: %+v", r)
	case <-time.After(50 * time.Millisecond):
	}
	release()
	release() // a second release is a no-op
	r := <-got
	if r.err == nil || r.wait != time.Minute {
		t.Fatalf("after the answer: %+v, want a wait of a minute beyond the deadline", r)
	}
	clk.advance(time.Minute)
	if _, wait, err := b.acquire(context.Background()); err != nil || wait != 0 {
		t.Fatalf("a minute later: %v %v", wait, err)
	}
}
