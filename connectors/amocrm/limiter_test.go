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
	if d > 0 {
		f.t = f.t.Add(d)
	}
}

func newFakeWindow(n int, per time.Duration) (*window, *fakeTime) {
	ft := &fakeTime{t: time.Date(2025, 3, 1, 10, 0, 0, 0, time.UTC)}
	w := newWindow(n, per, ft.now)
	w.sleep = func(ctx context.Context, d time.Duration) error {
		ft.advance(d)
		return ctx.Err()
	}
	return w, ft
}

// maxInWindow is the most times in any half-open window (t-per, t].
func maxInWindow(times []time.Time, per time.Duration) int {
	s := append([]time.Time(nil), times...)
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

// TestWindowNeverLetsMoreThanNArriveInAnyPeriod: requests travel to the
// server for 0 to 80 ms and back; whatever their trip, the server never
// sees more than n arrive in a period.
func TestWindowNeverLetsMoreThanNArriveInAnyPeriod(t *testing.T) {
	w, ft := newFakeWindow(7, time.Second)
	ctx := context.Background()
	var starts, arrivals []time.Time
	send := func(there, back time.Duration) {
		done, err := w.Wait(ctx)
		if err != nil {
			t.Fatal(err)
		}
		starts = append(starts, ft.now())
		ft.advance(there)
		arrivals = append(arrivals, ft.now())
		ft.advance(back)
		done()
	}
	// Idle, then a burst: 7 go at once, the 8th a second after the 1st's answer.
	for range 8 {
		send(0, 0)
	}
	if d := starts[7].Sub(starts[0]); d != time.Second {
		t.Fatalf("the 8th request started %v after the 1st, want 1s", d)
	}
	// Irregular traffic and trips: the first request of each group of
	// seven is slow to arrive, the others fast, which is what would put
	// eight arrivals in a second if slots counted from the starts. Pauses
	// of every length between requests: a token bucket with a burst of 7
	// would let 7 through right after an idle second that followed 7 others.
	pauses := []time.Duration{0, 900 * time.Millisecond, 0, 0, 100 * time.Millisecond, 1100 * time.Millisecond, 0, 0, 0, 0, 0, 0, 0, 300 * time.Millisecond}
	for i := range 300 {
		ft.advance(pauses[i%len(pauses)])
		there := time.Millisecond
		if i%7 == 0 {
			there = 80 * time.Millisecond
		}
		send(there, time.Millisecond)
	}
	if got := maxInWindow(arrivals, time.Second); got != 7 {
		t.Fatalf("%d requests arrived within one second, want at most (and at busy times exactly) 7", got)
	}
}

// TestWindowWaitsForRequestsInFlight: with n requests in flight, the next
// waits for the first to end: until then its arrival is unknown.
func TestWindowWaitsForRequestsInFlight(t *testing.T) {
	w, ft := newFakeWindow(2, time.Second)
	ctx := context.Background()
	d1, _ := w.Wait(ctx)
	d2, _ := w.Wait(ctx)
	got := make(chan time.Time)
	go func() {
		d3, err := w.Wait(ctx)
		if err != nil {
			t.Error(err)
		}
		got <- ft.now()
		d3()
	}()
	select {
	case <-got:
		t.Fatal("a third request started while two were in flight")
	case <-time.After(50 * time.Millisecond):
	}
	ft.advance(300 * time.Millisecond)
	end := ft.now()
	d1()
	if start := <-got; start.Sub(end) != time.Second {
		t.Fatalf("the third request started %v after the first ended, want 1s", start.Sub(end))
	}
	d2()
}

func TestWindowHoldAndCancel(t *testing.T) {
	w, ft := newFakeWindow(2, time.Second)
	ctx := context.Background()
	t0 := ft.now()
	w.Hold(t0.Add(3 * time.Second)) // a retry_after of 3 s
	done, err := w.Wait(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if d := ft.now().Sub(t0); d != 3*time.Second {
		t.Fatalf("started %v after a 3 s hold", d)
	}
	first := ft.now()
	done()
	done, _ = w.Wait(ctx)
	done()
	// A wait whose slot lies past the deadline gives up at once and keeps
	// no slot.
	dctx, cancel := context.WithDeadline(ctx, ft.now().Add(500*time.Millisecond))
	defer cancel()
	if _, err := w.Wait(dctx); err != errNoSlot {
		t.Fatalf("past the deadline: %v", err)
	}
	done, _ = w.Wait(ctx)
	done()
	if d := ft.now().Sub(first); d != time.Second {
		t.Fatalf("the next request started %v after the first of the window, want 1s", d)
	}
	// A cancelled wait sends nothing: the slot keeps the request before it.
	cctx, cancel2 := context.WithCancel(ctx)
	cancel2()
	if _, err := w.Wait(cctx); err == nil {
		t.Fatal("a cancelled wait succeeded")
	}
	w.mu.Lock()
	kept := w.slots[(w.next+w.n-1)%w.n]
	w.mu.Unlock()
	if kept.flight != nil || !kept.at.Equal(first) {
		t.Fatalf("the cancelled wait left its slot at %v (in flight %v), want the earlier request's %v", kept.at, kept.flight != nil, first)
	}
}

// TestStartsBeforeCountsWhatWaitAllows: StartsBefore says how many
// requests Wait lets start before a time, fresh, after a burst and during a
// hold: a sliding window gives a burst of n, then the next n a period later.
func TestStartsBeforeCountsWhatWaitAllows(t *testing.T) {
	w, ft := newFakeWindow(7, time.Second)
	start := ft.now()
	if got := w.StartsBefore(start.Add(1900 * time.Millisecond)); got != 14 {
		t.Fatalf("fresh window, 1.9 s: %d starts, want 14 (7 now, 7 a second later)", got)
	}
	if got := w.StartsBefore(start.Add(500 * time.Millisecond)); got != 7 {
		t.Fatalf("fresh window, 0.5 s: %d starts, want 7", got)
	}
	// Spend the burst; what is left before 1.9 s is the second burst only.
	for i := 0; i < 7; i++ {
		done, err := w.Wait(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		done()
	}
	until := start.Add(1900 * time.Millisecond)
	want := w.StartsBefore(until)
	if want != 7 {
		t.Fatalf("after a burst, 1.9 s: %d starts, want 7", want)
	}
	got := 0
	for {
		done, err := w.Wait(context.Background()) // sleeps on the fake clock until its start
		if err != nil {
			t.Fatal(err)
		}
		done()
		if ft.now().After(until) {
			break
		}
		got++
	}
	if got != want {
		t.Fatalf("Wait let %d requests start before the deadline; StartsBefore said %d", got, want)
	}
	w.Hold(ft.now().Add(time.Hour))
	if n := w.StartsBefore(ft.now().Add(time.Minute)); n != 0 {
		t.Fatalf("%d starts during a hold", n)
	}
}
