package amocrm

import (
	"context"
	"sort"
	"sync"
	"testing"
	"time"
)

// fakeTime drives a window without sleeping: sleep advances the clock.
type fakeTime struct {
	mu sync.Mutex
	t  time.Time
}

func (f *fakeTime) now() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.t
}

func (f *fakeTime) advance(d time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.t = f.t.Add(d)
}

func newFakeWindow(n int, per time.Duration) (*window, *fakeTime, *[]time.Time) {
	ft := &fakeTime{t: time.Date(2025, 3, 1, 10, 0, 0, 0, time.UTC)}
	w := newWindow(n, per, ft.now)
	var starts []time.Time
	var mu sync.Mutex
	w.sleep = func(ctx context.Context, d time.Duration) error {
		mu.Lock()
		defer mu.Unlock()
		if d > 0 {
			// The request starts when its slot comes.
			ft.mu.Lock()
			if t := ft.t.Add(d); t.After(ft.t) {
				ft.t = t
			}
			ft.mu.Unlock()
		}
		starts = append(starts, ft.now())
		return ctx.Err()
	}
	return w, ft, &starts
}

// maxInWindow is the most starts in any half-open window (t-per, t].
func maxInWindow(starts []time.Time, per time.Duration) int {
	s := append([]time.Time(nil), starts...)
	sort.Slice(s, func(i, j int) bool { return s[i].Before(s[j]) })
	best, from := 0, 0
	for i := range s {
		for !s[from].After(s[i].Add(-per)) {
			from++
		}
		best = max(best, i-from+1)
	}
	return best
}

func TestWindowNeverLetsMoreThanNStartInAnyPeriod(t *testing.T) {
	w, ft, starts := newFakeWindow(7, time.Second)
	ctx := context.Background()
	// Idle, then a burst: the first 7 go at once, the 8th a full second later.
	for range 8 {
		if err := w.Wait(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if d := (*starts)[7].Sub((*starts)[0]); d != time.Second {
		t.Fatalf("the 8th request started %v after the 1st, want 1s", d)
	}
	// Irregular traffic: pauses of every length between requests. A token
	// bucket with a burst of 7 would let 7 through right after an idle
	// second that followed 7 others; the window never does.
	pauses := []time.Duration{0, 900 * time.Millisecond, 0, 0, 100 * time.Millisecond, 1100 * time.Millisecond, 0, 0, 0, 0, 0, 0, 0, 300 * time.Millisecond}
	for i := range 200 {
		ft.advance(pauses[i%len(pauses)])
		if err := w.Wait(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if got := maxInWindow(*starts, time.Second); got != 7 {
		t.Fatalf("%d requests started within one second, want at most (and at busy times exactly) 7", got)
	}
}

func TestWindowHoldAndCancel(t *testing.T) {
	w, ft, starts := newFakeWindow(2, time.Second)
	ctx := context.Background()
	t0 := ft.now()
	w.Hold(t0.Add(3 * time.Second)) // a retry_after of 3 s
	if err := w.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	if d := (*starts)[0].Sub(t0); d != 3*time.Second {
		t.Fatalf("started %v after a 3 s hold", d)
	}
	// A wait whose slot lies past the deadline gives up at once, and the
	// slot stays free for the next caller.
	w.Wait(ctx)
	dctx, cancel := context.WithDeadline(ctx, ft.now().Add(500*time.Millisecond))
	defer cancel()
	if err := w.Wait(dctx); err != errNoSlot {
		t.Fatalf("past the deadline: %v", err)
	}
	if err := w.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	if d := (*starts)[2].Sub((*starts)[0]); d != time.Second {
		t.Fatalf("the next request started %v after the first of the window, want 1s (the refused wait kept no slot)", d)
	}
	// A cancelled wait gives its slot back too.
	w2 := newWindow(2, time.Second, time.Now)
	w2.Wait(ctx)
	w2.Wait(ctx)
	w2.mu.Lock()
	first := w2.starts[0]
	w2.mu.Unlock()
	cctx, cancel2 := context.WithCancel(ctx)
	cancel2()
	if err := w2.Wait(cctx); err == nil {
		t.Fatal("a cancelled wait succeeded")
	}
	w2.mu.Lock()
	n, kept := w2.next, w2.starts[0]
	w2.mu.Unlock()
	if n != 0 || !kept.Equal(first) {
		t.Fatalf("the cancelled wait kept its slot (next %d, slot 0 at %v, was %v)", n, kept, first)
	}
}
