package chaos_test

import (
	"encoding/json"
	"math"
	"testing"
	"time"

	"github.com/paysync/paysync/sandbox/chaos"
)

func TestOffDrawsNothing(t *testing.T) {
	t.Parallel()
	var d chaos.Dice
	now := time.Now()
	for i := 0; i < 100; i++ {
		if f := d.Draw(now); f != chaos.None {
			t.Fatalf("draw %d: %v with no profile", i, f)
		}
		if l := d.DrawLoss(); l != chaos.Kept {
			t.Fatalf("loss %d: %v with no profile", i, l)
		}
	}
	p := chaos.Default(1)
	d.Set(&p)
	d.Set(nil)
	if f := d.Draw(now); f != chaos.None || d.Profile() != nil {
		t.Fatalf("after Set(nil): %v, profile %v", f, d.Profile())
	}
	if s := d.Stats(); s != (chaos.Stats{}) {
		t.Fatalf("stats %+v after no faults", s)
	}
}

// draws runs n requests a second apart (so that bursts end) and returns
// what they drew.
func draws(p chaos.Profile, n int) ([]chaos.Fault, []chaos.Loss, chaos.Stats) {
	var d chaos.Dice
	d.Set(&p)
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	var fs []chaos.Fault
	var ls []chaos.Loss
	for i := 0; i < n; i++ {
		now = now.Add(time.Second)
		f := d.Draw(now)
		fs = append(fs, f)
		if f == chaos.None {
			ls = append(ls, d.DrawLoss())
		}
	}
	return fs, ls, d.Stats()
}

func TestSameSeedSameFaults(t *testing.T) {
	t.Parallel()
	f1, l1, s1 := draws(chaos.Default(7), 2000)
	f2, l2, s2 := draws(chaos.Default(7), 2000)
	if s1 != s2 || len(l1) != len(l2) {
		t.Fatalf("same seed, different counts: %+v vs %+v", s1, s2)
	}
	for i := range f1 {
		if f1[i] != f2[i] {
			t.Fatalf("draw %d: %v vs %v", i, f1[i], f2[i])
		}
	}
	for i := range l1 {
		if l1[i] != l2[i] {
			t.Fatalf("loss %d: %v vs %v", i, l1[i], l2[i])
		}
	}
	_, _, s3 := draws(chaos.Default(8), 2000)
	if s3 == s1 {
		t.Fatalf("seeds 7 and 8 drew the same counts %+v", s1)
	}
}

func TestDefaultShares(t *testing.T) {
	t.Parallel()
	const n = 20000
	_, ls, s := draws(chaos.Default(3), n)
	near := func(what string, got int, of int, want float64) {
		t.Helper()
		if share := float64(got) / float64(of); math.Abs(share-want) > want/5 {
			t.Errorf("%s: %d of %d (%.3f), want about %.3f", what, got, of, share, want)
		}
	}
	if s.Requests != n {
		t.Fatalf("%d requests counted, want %d", s.Requests, n)
	}
	// A request in no burst draws a 5xx at 10 % and a timeout at 5 %.
	drawn := n - s.RateLimited
	near("5xx", s.ServerErrors, drawn, 0.10)
	near("timeouts", s.Timeouts, drawn, 0.05)
	near("bursts", s.Bursts, n, 0.01)
	near("lost answers", s.LostAnswers, len(ls), 0.05)
	kinds := map[chaos.Loss]int{}
	for _, l := range ls {
		kinds[l]++
	}
	for _, k := range []chaos.Loss{chaos.LostError, chaos.LostClose, chaos.LostHang} {
		if kinds[k] == 0 {
			t.Errorf("no answer lost as %d in %d losses", k, s.LostAnswers)
		}
	}
	if s.Injected() != s.ServerErrors+s.Timeouts+s.RateLimited+s.LostAnswers {
		t.Fatalf("Injected %d does not add up: %+v", s.Injected(), s)
	}
}

func TestBurstAnswersEveryRequestUntilItEnds(t *testing.T) {
	t.Parallel()
	var d chaos.Dice
	d.Set(&chaos.Profile{Seed: 1, Bursts: 1, BurstLength: chaos.Duration(2 * time.Second)})
	start := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	for _, at := range []time.Duration{0, 500 * time.Millisecond, 1999 * time.Millisecond} {
		if f := d.Draw(start.Add(at)); f != chaos.RateLimited {
			t.Fatalf("at +%s: %v inside the burst", at, f)
		}
	}
	if s := d.Stats(); s.Bursts != 1 || s.RateLimited != 3 {
		t.Fatalf("one burst of three answers, got %+v", s)
	}
	d.Draw(start.Add(2 * time.Second)) // the burst is over; with Bursts 1 the next starts
	if s := d.Stats(); s.Bursts != 2 {
		t.Fatalf("a request after the burst must start a new one at Bursts 1: %+v", s)
	}
}

func TestProfileJSONAndValidate(t *testing.T) {
	t.Parallel()
	p := chaos.Default(0)
	if err := json.Unmarshal([]byte(`{"seed":9,"timeouts":0.2,"burst_length":"500ms"}`), &p); err != nil {
		t.Fatal(err)
	}
	if p.Seed != 9 || p.Timeouts != 0.2 || p.ServerErrors != 0.10 || time.Duration(p.BurstLength) != 500*time.Millisecond {
		t.Fatalf("decoded %+v", p)
	}
	if err := json.Unmarshal([]byte(`{"burst_length":"soon"}`), &p); err == nil {
		t.Fatal("a bad burst_length decoded")
	}
	for _, bad := range []chaos.Profile{{ServerErrors: 1.5}, {Timeouts: -0.1}, {ServerErrors: 0.7, Timeouts: 0.4}, {BurstLength: -1}} {
		if err := bad.Validate(); err == nil {
			t.Errorf("%+v validated", bad)
		}
	}
	if err := chaos.Default(1).Validate(); err != nil {
		t.Fatal(err)
	}
}
