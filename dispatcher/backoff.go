package dispatcher

import (
	"math/rand/v2"
	"time"
)

// DefaultBackoffSteps is the wait after each failed attempt: after the first
// 5s, after the second 30s, and so on; past the list, Backoff.Every.
var DefaultBackoffSteps = []time.Duration{
	5 * time.Second, 30 * time.Second, 2 * time.Minute, 10 * time.Minute,
	30 * time.Minute, time.Hour, 3 * time.Hour, 6 * time.Hour,
}

// Backoff is the retry schedule of a failed delivery. The zero value is the
// default: DefaultBackoffSteps, then every 12h, dead after 3 days, full jitter.
type Backoff struct {
	// Steps[i] is the wait after attempt i+1 failed.
	Steps []time.Duration
	// Every is the wait after each attempt past Steps (default 12h).
	Every time.Duration
	// GiveUpAfter dead-letters a record that still fails this long after it
	// was enqueued (default 72h). Stripe retries for 3 days too.
	GiveUpAfter time.Duration
	// NoJitter waits exactly the step. Otherwise the wait is drawn uniformly
	// from [0, step] ("full jitter"), so that records that failed together,
	// say during a CRM outage, do not all come back at the same instant.
	NoJitter bool
}

func (b Backoff) withDefaults() Backoff {
	if len(b.Steps) == 0 {
		b.Steps = DefaultBackoffSteps
	}
	if b.Every <= 0 {
		b.Every = 12 * time.Hour
	}
	if b.GiveUpAfter <= 0 {
		b.GiveUpAfter = 72 * time.Hour
	}
	return b
}

// Step is the un-jittered wait after the given attempt (1 = the first) failed.
func (b Backoff) Step(attempt int) time.Duration {
	b = b.withDefaults()
	if attempt < 1 {
		attempt = 1
	}
	if attempt <= len(b.Steps) {
		return b.Steps[attempt-1]
	}
	return b.Every
}

// Delay is the wait after the given attempt failed, jittered with u, a
// uniform draw from [0, 1): the result lies in [0, Step(attempt)].
func (b Backoff) Delay(attempt int, u float64) time.Duration {
	step := b.Step(attempt)
	if b.NoJitter {
		return step
	}
	if u < 0 {
		u = 0
	}
	if u > 1 {
		u = 1
	}
	return time.Duration(u * float64(step))
}

// jitter draws u for Delay.
func jitter() float64 { return rand.Float64() }
