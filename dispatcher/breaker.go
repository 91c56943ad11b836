package dispatcher

import (
	"sync"
	"time"

	"github.com/paysync/paysync/core"
)

// Breaker configures the circuit breaker each connector has. It counts the
// requests the connector reports making to its CRM (core.ObserveRequest): a
// request fails on a 5xx, a timeout or a network error; an answer, even a
// refusal of the data, means the CRM is up, and a rate-limit answer says
// nothing (it pauses the connector instead). A delivery is a chain of
// requests, and counting whole deliveries would read one lost answer among
// ten good requests as an outage (issue 24). A connector that reports no
// requests for a call is judged by the call, as one request: it fails when
// nothing in it was delivered and at least one item failed with a
// retryable error.
type Breaker struct {
	// Failures opens the breaker after this many failed requests in a row (default 5).
	Failures int
	// Ratio opens it when at least this share of the last Window requests
	// failed, once MinCalls requests were seen (defaults 0.7 over 20, at
	// least 10; Convoy uses 70% over at least 10 requests).
	Ratio    float64
	Window   int
	MinCalls int
	// Cooldown is the wait before an open breaker lets one probe call through
	// (default 5s). Each failed probe (a call that delivered nothing and got
	// no answer) doubles it, up to MaxCooldown (default 10m): a short outage
	// ends in seconds, a long one costs a probe every ten minutes. A probe
	// that goes through makes the orders waiting for a retry due at once.
	Cooldown    time.Duration
	MaxCooldown time.Duration
}

func (b Breaker) withDefaults() Breaker {
	if b.Failures <= 0 {
		b.Failures = 5
	}
	if b.Ratio <= 0 || b.Ratio > 1 {
		b.Ratio = 0.7
	}
	if b.Window <= 0 {
		b.Window = 20
	}
	if b.MinCalls <= 0 {
		b.MinCalls = 10
	}
	if b.MinCalls > b.Window {
		b.MinCalls = b.Window
	}
	if b.Cooldown <= 0 {
		b.Cooldown = 5 * time.Second
	}
	if b.MaxCooldown < b.Cooldown {
		b.MaxCooldown = max(10*time.Minute, b.Cooldown)
	}
	return b
}

// Connector states as Health, Stats and the metrics report them.
const (
	StateRunning    = "running"     // delivering
	StateBackingOff = "backing_off" // the CRM asked to slow down, or its last calls failed: orders wait for their retry
	StateOpen       = "open"        // breaker open: waiting for the cool-down to end
	StateHalfOpen   = "half_open"   // the next call is a probe of one order
	StatePaused     = "paused"      // stopped by the CRM: credentials dead or account blocked; a person must act
	StateStandby    = "standby"     // another replica holds this connector's lease
	StateStopped    = "stopped"     // the dispatcher is not running
)

type callResult int

const (
	callOK      callResult = iota // the CRM answered
	callFailed                    // nothing delivered, something retryable failed
	callNeutral                   // says nothing about health (paused, shut down)
)

// gate decides when a connector may call its CRM: its circuit breaker and
// its pause (rate-limit answers, dead credentials, a blocked account).
type gate struct {
	opt Breaker

	mu          sync.Mutex
	open        bool
	halfOpen    bool
	openUntil   time.Time
	cooldown    time.Duration
	streak      int    // failed requests in a row
	ring        []bool // last requests, true = failed
	failing     int    // calls in a row that delivered nothing: the CRM is "backing off"
	ringPos     int
	ringLen     int
	pausedUntil time.Time
	reason      string // why paused or open, for the operator
	failure     string // the last failed call's reason, while calls keep failing
	probeNext   bool   // after a pause for credentials or the account, probe with one order
}

func newGate(b Breaker) *gate {
	b = b.withDefaults()
	return &gate{opt: b, cooldown: b.Cooldown, ring: make([]bool, b.Window)}
}

// admit says how long to wait before the next call, and whether that call
// must be a probe of one order.
func (g *gate) admit(now time.Time) (wait time.Duration, probe bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if now.Before(g.pausedUntil) {
		return g.pausedUntil.Sub(now), false
	}
	if g.open {
		if now.Before(g.openUntil) {
			return g.openUntil.Sub(now), false
		}
		g.open, g.halfOpen = false, true
	}
	return 0, g.halfOpen || g.probeNext
}

// record notes the result of one call and of the requests it reported
// (reqs; none from a connector that does not report them, whose call then
// counts as one request). It reports whether the breaker opened and whether
// the CRM is back: a probe succeeded, or a call went through after calls
// that failed, so the caller can tell the operator and retry what waited.
func (g *gate) record(now time.Time, r callResult, reason string, reqs []core.RequestOutcome) (opened, back bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	counted := false
	for _, o := range reqs {
		switch o {
		case core.RequestAnswered:
			counted = true
			g.streak = 0
			g.push(false)
		case core.RequestFailed:
			counted = true
			g.streak++
			g.push(true)
		}
	}
	if !counted {
		switch r {
		case callOK:
			g.streak = 0
			g.push(false)
		case callFailed:
			g.streak++
			g.push(true)
		}
	}
	// Judged at the end of the call: failures a later answer of the same
	// call followed are a flaky CRM, not a dead one.
	tripped := g.streak >= g.opt.Failures || g.ratioTripped()
	switch r {
	case callOK:
		recovered := g.halfOpen || g.probeNext
		back = recovered || g.failing > 0
		g.halfOpen, g.probeNext, g.failing, g.failure = false, false, 0, ""
		g.cooldown = g.opt.Cooldown
		if recovered {
			// The probe went through: the window starts afresh.
			g.reason = ""
			g.ringLen, g.ringPos, g.streak = 0, 0, 0
			tripped = false
		}
	case callFailed:
		g.failing++
		g.failure = reason
		if g.halfOpen {
			g.cooldown = min(g.cooldown*2, g.opt.MaxCooldown)
			tripped = true
		}
	}
	if tripped && !g.open {
		if !g.halfOpen || r != callFailed {
			g.cooldown = g.opt.Cooldown
		}
		opened, back = true, false
		g.open, g.halfOpen = true, false
		g.openUntil = now.Add(g.cooldown)
		if reason == "" {
			reason = "too many of the CRM's requests failed (5xx, timeouts, network errors)"
		}
		g.reason = reason
	}
	return opened, back
}

func (g *gate) push(failed bool) {
	g.ring[g.ringPos] = failed
	g.ringPos = (g.ringPos + 1) % len(g.ring)
	if g.ringLen < len(g.ring) {
		g.ringLen++
	}
}

func (g *gate) ratioTripped() bool {
	if g.ringLen < g.opt.MinCalls {
		return false
	}
	n := 0
	for i := 0; i < g.ringLen; i++ {
		if g.ring[i] {
			n++
		}
	}
	return float64(n) >= g.opt.Ratio*float64(g.ringLen)
}

// pause stops calls until now+d. probe makes the first call after it a probe
// of one order (dead credentials: no point sending a full batch to find out).
func (g *gate) pause(now time.Time, d time.Duration, reason string, probe bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if until := now.Add(d); until.After(g.pausedUntil) {
		g.pausedUntil = until
	}
	g.reason = reason
	if probe {
		g.probeNext = true
	}
}

// state reports the gate for Stats.
func (g *gate) state(now time.Time) (state string, until time.Time, reason string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	switch {
	case now.Before(g.pausedUntil) && g.probeNext:
		return StatePaused, g.pausedUntil, g.reason
	case now.Before(g.pausedUntil):
		// A rate-limit pause ends by itself: nothing for a person to do.
		return StateBackingOff, g.pausedUntil, g.reason
	case g.open && now.Before(g.openUntil):
		return StateOpen, g.openUntil, g.reason
	case g.open || g.halfOpen || g.probeNext:
		return StateHalfOpen, time.Time{}, g.reason
	case g.failing > 0:
		return StateBackingOff, time.Time{}, g.failure
	}
	return StateRunning, time.Time{}, ""
}
