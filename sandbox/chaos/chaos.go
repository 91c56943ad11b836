// Package chaos is the random fault profile the CRM doubles apply when a
// chaos test (or a person poking at `paysync sandbox`) turns it on: each API
// request draws, from a seeded generator, whether it fails with a 5xx, hangs
// until the client gives up, or falls into a burst of rate-limit answers;
// a write that went through may then lose its answer. Each double answers
// with its own CRM's error shapes; this package only rolls the dice and
// counts what it injected.
package chaos

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"sync"
	"time"
)

// Profile says how often each fault happens. Shares are between 0 and 1.
type Profile struct {
	// Seed makes the draws repeatable: the same seed and the same requests
	// in the same order draw the same faults.
	Seed uint64 `json:"seed"`
	// ServerErrors is the share of requests answered with a 5xx, doing no work.
	ServerErrors float64 `json:"server_errors"`
	// Timeouts is the share of requests that hang, doing no work, until the
	// client gives up.
	Timeouts float64 `json:"timeouts"`
	// LostAnswers is the share of writes, done and stored, whose answer is
	// lost: an error status, a closed connection or a hang.
	LostAnswers float64 `json:"lost_answers"`
	// Bursts is the chance that a request starts a burst of rate-limit
	// answers (429, or the CRM's own), as when another integration spends
	// the account's budget; every request of the burst gets one.
	Bursts float64 `json:"bursts"`
	// BurstLength is how long a burst lasts (default 2 s).
	BurstLength Duration `json:"burst_length"`
}

// Duration is a time.Duration written as "2s" in JSON.
type Duration time.Duration

func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("burst_length is a duration such as \"2s\": %w", err)
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("burst_length is a duration such as \"2s\": %w", err)
	}
	*d = Duration(v)
	return nil
}

// Default is the profile of the chaos test (issue 15): 10 % 5xx, 5 %
// timeouts, 5 % of writes losing their answer, and a 2-second burst of
// rate-limit answers starting on about one request in a hundred.
func Default(seed uint64) Profile {
	return Profile{Seed: seed, ServerErrors: 0.10, Timeouts: 0.05, LostAnswers: 0.05, Bursts: 0.01, BurstLength: Duration(2 * time.Second)}
}

// Validate says what is wrong with a profile, or nil.
func (p Profile) Validate() error {
	for _, s := range []struct {
		name string
		v    float64
	}{{"server_errors", p.ServerErrors}, {"timeouts", p.Timeouts}, {"lost_answers", p.LostAnswers}, {"bursts", p.Bursts}} {
		if s.v < 0 || s.v > 1 {
			return fmt.Errorf("%s is a share between 0 and 1, got %g", s.name, s.v)
		}
	}
	if p.ServerErrors+p.Timeouts > 1 {
		return fmt.Errorf("server_errors + timeouts is more than every request (%g)", p.ServerErrors+p.Timeouts)
	}
	if p.BurstLength < 0 {
		return fmt.Errorf("burst_length must not be negative")
	}
	return nil
}

// Fault is what a request draws.
type Fault int

const (
	None        Fault = iota
	ServerError       // answer a 5xx, do nothing
	Timeout           // hang until the client gives up, do nothing
	RateLimited       // answer the CRM's rate-limit error, do nothing
)

// Loss is how a write's answer is lost after the write was stored.
type Loss int

const (
	Kept      Loss = iota
	LostError      // a 5xx although the write happened
	LostClose      // the connection closes without an answer
	LostHang       // no answer until the client gives up
)

// Stats counts what a double's profile injected.
type Stats struct {
	Requests     int `json:"requests"` // requests that drew
	ServerErrors int `json:"server_errors"`
	Timeouts     int `json:"timeouts"`
	RateLimited  int `json:"rate_limited"` // answers inside bursts
	Bursts       int `json:"bursts"`
	LostAnswers  int `json:"lost_answers"`
}

// Injected is every fault counted once.
func (s Stats) Injected() int { return s.ServerErrors + s.Timeouts + s.RateLimited + s.LostAnswers }

// Add sums two counts.
func (s Stats) Add(o Stats) Stats {
	return Stats{Requests: s.Requests + o.Requests, ServerErrors: s.ServerErrors + o.ServerErrors, Timeouts: s.Timeouts + o.Timeouts,
		RateLimited: s.RateLimited + o.RateLimited, Bursts: s.Bursts + o.Bursts, LostAnswers: s.LostAnswers + o.LostAnswers}
}

// Dice draws faults for one double. The zero value is off; it is safe for
// concurrent use.
type Dice struct {
	mu         sync.Mutex
	on         bool
	p          Profile
	rng        *rand.Rand
	burstUntil time.Time
	stats      Stats
}

// Set turns the profile on, or off with nil. The counts are kept.
func (d *Dice) Set(p *Profile) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if p == nil {
		d.on, d.burstUntil = false, time.Time{}
		return
	}
	d.on, d.p = true, *p
	if d.p.BurstLength <= 0 {
		d.p.BurstLength = Duration(2 * time.Second)
	}
	d.rng = rand.New(rand.NewPCG(p.Seed, 0x9e3779b97f4a7c15))
	d.burstUntil = time.Time{}
}

// Profile returns the profile in force, or nil when off.
func (d *Dice) Profile() *Profile {
	d.mu.Lock()
	defer d.mu.Unlock()
	if !d.on {
		return nil
	}
	p := d.p
	return &p
}

// Draw decides the fate of one request arriving at now.
func (d *Dice) Draw(now time.Time) Fault {
	d.mu.Lock()
	defer d.mu.Unlock()
	if !d.on {
		return None
	}
	d.stats.Requests++
	if now.Before(d.burstUntil) {
		d.stats.RateLimited++
		return RateLimited
	}
	if d.p.Bursts > 0 && d.rng.Float64() < d.p.Bursts {
		d.burstUntil = now.Add(time.Duration(d.p.BurstLength))
		d.stats.Bursts++
		d.stats.RateLimited++
		return RateLimited
	}
	switch r := d.rng.Float64(); {
	case r < d.p.ServerErrors:
		d.stats.ServerErrors++
		return ServerError
	case r < d.p.ServerErrors+d.p.Timeouts:
		d.stats.Timeouts++
		return Timeout
	}
	return None
}

// DrawLoss decides whether the answer to a write that was stored is lost, and how.
func (d *Dice) DrawLoss() Loss {
	d.mu.Lock()
	defer d.mu.Unlock()
	if !d.on || d.rng.Float64() >= d.p.LostAnswers {
		return Kept
	}
	d.stats.LostAnswers++
	return Loss(1 + d.rng.IntN(3))
}

// Stats returns the counts so far.
func (d *Dice) Stats() Stats {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.stats
}

// Hang holds a request without answering until its client gives up or
// closed is closed (the double shuts down): a CRM that never answers.
func Hang(r *http.Request, closed <-chan struct{}) {
	select {
	case <-r.Context().Done():
	case <-closed:
	}
}

// Lose carries out l on a request whose write was stored: hang until the
// client gives up or closed is closed, drop the connection, or answer with
// fail (also when the connection cannot be dropped).
func Lose(w http.ResponseWriter, r *http.Request, l Loss, closed <-chan struct{}, fail func(http.ResponseWriter)) {
	switch l {
	case LostHang:
		Hang(r, closed)
		return
	case LostClose:
		if Drop(w) {
			return
		}
	}
	fail(w)
}

// Drop closes the request's connection without an answer. It reports false
// when the connection cannot be taken over (HTTP/2); the caller answers an
// error instead.
func Drop(w http.ResponseWriter) bool {
	hj, ok := w.(http.Hijacker)
	if !ok {
		return false
	}
	conn, _, err := hj.Hijack()
	if err != nil {
		return false
	}
	_ = conn.Close()
	return true
}
