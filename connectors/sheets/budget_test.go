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

// TestBudgetBurstsTheMinuteNeverMore: the whole minute's quota may go at
// once, and then nothing until the first of those answers is a minute old,
// unlike a token bucket of the same size that would allow a second
// minute's worth within the first minute.
func TestBudgetBurstsTheMinuteNeverMore(t *testing.T) {
	t.Parallel()
	clk := &fakeClock{t: time.Date(2026, 1, 1, 10, 0, 0, 0, time.UTC)}
	b := newBudget(3, time.Minute, clk.now)
	ctx := context.Background()
	for i := range 3 {
		release, wait, err := b.acquire(ctx)
		if err != nil || wait != 0 {
			t.Fatalf("request %d of the burst: wait %v, %v", i, wait, err)
		}
		release()
		clk.advance(10 * time.Second)
	}
	// 30 s after the first answer: the fourth must wait 30 s more.
	short, cancel := context.WithDeadline(ctx, time.Now().Add(time.Second))
	defer cancel()
	if _, wait, err := b.acquire(short); err == nil || wait != 30*time.Second {
		t.Fatalf("fourth request in the minute: wait %v, err %v; want 30s and an error", wait, err)
	}
	if got := b.wait(); got != 30*time.Second {
		t.Fatalf("wait() = %v", got)
	}
	clk.advance(30 * time.Second)
	release, wait, err := b.acquire(short)
	if err != nil || wait != 0 {
		t.Fatalf("after the first answer aged a minute: %v %v", wait, err)
	}
	release()
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
