package dispatcher

import (
	"testing"
	"time"
)

// The breaker also opens on a failure ratio, not only on a streak, and only
// once it has seen MinCalls calls.
func TestBreakerRatio(t *testing.T) {
	g := newGate(Breaker{Failures: 100, Ratio: 0.7, Window: 10, MinCalls: 10, Cooldown: time.Minute})
	now := time.Unix(1_700_000_000, 0)
	// ok, fail, fail, fail, ok, fail, fail, fail, ok, fail: 7 of 10 failed, longest streak 3.
	pattern := []bool{false, true, true, true, false, true, true, true, false, true}
	for i, failed := range pattern {
		r := callOK
		if failed {
			r = callFailed
		}
		opened, _ := g.record(now, r, "CRM answered 502", nil)
		if opened != (i == len(pattern)-1) {
			t.Fatalf("call %d: opened = %v", i+1, opened)
		}
	}
	if state, until, reason := g.state(now); state != StateOpen || !until.Equal(now.Add(time.Minute)) || reason != "CRM answered 502" {
		t.Fatalf("state %s until %s reason %q", state, until, reason)
	}
	if wait, _ := g.admit(now.Add(59 * time.Second)); wait != time.Second {
		t.Fatalf("wait = %s, want 1s", wait)
	}
	if wait, probe := g.admit(now.Add(time.Minute)); wait != 0 || !probe {
		t.Fatalf("after the cool-down: wait %s probe %v, want a probe", wait, probe)
	}
	if _, back := g.record(now.Add(time.Minute), callOK, "", nil); !back {
		t.Fatal("a good probe must close the breaker")
	}
	if state, _, _ := g.state(now.Add(time.Minute)); state != StateRunning {
		t.Fatalf("state after recovery = %s", state)
	}
	// The window starts afresh: one failure does not reopen it.
	if opened, _ := g.record(now.Add(time.Minute), callFailed, "x", nil); opened {
		t.Fatal("reopened on the first failure after recovery")
	}
}
