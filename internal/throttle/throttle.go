// Package throttle limits failing requests per key (a source address, an
// account), in memory and bounded: each key has an allowance that refills
// over time, and, for guessing (logins, tokens), a lock that doubles with
// each failure past it. The webhooks' refusal gate (package payments) and
// the people's login and token checks (console, httpapi) share it.
package throttle

import (
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"time"
)

// Rule is one limit.
type Rule struct {
	// Burst failures are allowed at once; one more comes back every Every.
	Burst int
	Every time.Duration
	// Backoff: a failure past the allowance locks the key, for Every at
	// first and twice as long at each further failure past it (up to
	// MaxLock); the allowance refills only once the lock has passed.
	// Without it, the key simply waits for its next failure to come back.
	Backoff bool
	MaxLock time.Duration
}

// MaxKeys bounds the keys one Limiter remembers; past it, keys with their
// whole allowance back are forgotten, and new ones share one overflow key.
const MaxKeys = 10000

// Limiter holds the allowance of every key under one Rule.
type Limiter struct {
	rule     Rule
	mu       sync.Mutex
	keys     map[string]*state
	overflow state
}

type state struct {
	tokens  float64
	at      time.Time // when tokens was last brought up to date
	strikes int       // failures past the allowance since the key was last quiet
	until   time.Time // locked until (Backoff)
}

// New returns a Limiter for rule.
func New(rule Rule) *Limiter {
	if rule.Burst < 1 {
		rule.Burst = 1
	}
	if rule.Every <= 0 {
		rule.Every = time.Second
	}
	if rule.MaxLock <= 0 {
		rule.MaxLock = time.Hour
	}
	return &Limiter{rule: rule, keys: map[string]*state{}, overflow: state{tokens: float64(rule.Burst)}}
}

// refill brings s's allowance up to now; a key quiet long enough to have it
// all back forgets its strikes.
func (l *Limiter) refill(s *state, now time.Time) {
	if now.Before(s.until) {
		return
	}
	from := s.at
	if s.until.After(from) {
		from = s.until // nothing comes back while locked
	}
	if d := now.Sub(from); d > 0 {
		s.tokens += float64(d) / float64(l.rule.Every)
	}
	s.at = now
	if s.tokens >= float64(l.rule.Burst) {
		s.tokens, s.strikes = float64(l.rule.Burst), 0
	}
}

// get returns key's state, creating it with a full allowance.
func (l *Limiter) get(key string, now time.Time, create bool) *state {
	if s, ok := l.keys[key]; ok {
		return s
	}
	if !create {
		return nil
	}
	if len(l.keys) >= MaxKeys {
		for k, s := range l.keys {
			if l.refill(s, now); s.tokens >= float64(l.rule.Burst) {
				delete(l.keys, k)
			}
		}
	}
	if len(l.keys) >= MaxKeys {
		return &l.overflow
	}
	s := &state{tokens: float64(l.rule.Burst), at: now}
	l.keys[key] = s
	return s
}

// wait is how long s must wait before its next failure is allowed.
func (l *Limiter) wait(s *state, now time.Time) time.Duration {
	if now.Before(s.until) {
		return s.until.Sub(now)
	}
	if s.tokens >= 1 {
		return 0
	}
	return time.Duration((1 - s.tokens) * float64(l.rule.Every))
}

// Wait reports how long key must wait before it may fail again; 0 when it may now.
func (l *Limiter) Wait(key string, now time.Time) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := l.get(key, now, false)
	if s == nil {
		return 0
	}
	l.refill(s, now)
	return l.wait(s, now)
}

// Fresh reports whether key has its whole allowance: it has not failed lately.
func (l *Limiter) Fresh(key string, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := l.get(key, now, false)
	if s == nil {
		return true
	}
	l.refill(s, now)
	return s.strikes == 0 && s.tokens >= float64(l.rule.Burst)
}

// Take counts one failure of key. ok is false when key had no allowance
// left: then wait says how long it must wait, and locked says that this
// failure started a lock (with Backoff), for the caller to log and count.
func (l *Limiter) Take(key string, now time.Time) (wait time.Duration, ok, locked bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := l.get(key, now, true)
	l.refill(s, now)
	if now.Before(s.until) {
		return s.until.Sub(now), false, false
	}
	if s.tokens >= 1 {
		s.tokens--
		if l.rule.Backoff && s.tokens < 1 && s.strikes > 0 {
			// Out again right after a lock: the next lock is longer.
			return l.lock(s, now), true, true
		}
		return 0, true, false
	}
	if !l.rule.Backoff {
		return l.wait(s, now), false, false
	}
	return l.lock(s, now), false, true
}

func (l *Limiter) lock(s *state, now time.Time) time.Duration {
	d := l.rule.Every
	for i := 0; i < s.strikes && d < l.rule.MaxLock; i++ {
		d *= 2
	}
	d = min(d, l.rule.MaxLock)
	s.strikes++
	s.tokens, s.at, s.until = 0, now, now.Add(d)
	return d
}

// Reset forgets key's failures (a correct password from it).
func (l *Limiter) Reset(key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.keys, key)
}

// Proxies are the reverse proxies whose X-Forwarded-For paysync believes.
type Proxies []netip.Prefix

// ParseProxies reads addresses and CIDR ranges ("10.0.0.1", "10.0.0.0/8").
func ParseProxies(list []string) (Proxies, error) {
	var out Proxies
	for _, s := range list {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		if strings.Contains(s, "/") {
			p, err := netip.ParsePrefix(s)
			if err != nil {
				return nil, err
			}
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(s)
		if err != nil {
			return nil, err
		}
		out = append(out, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
	}
	return out, nil
}

func (ps Proxies) trusted(a netip.Addr) bool {
	a = a.Unmap()
	for _, p := range ps {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// Client is the address r came from: the peer's, or, when the peer is a
// trusted proxy, the last address in X-Forwarded-For that is not one (a
// client can write anything at the start of that header, never after its
// proxy's entry).
func (ps Proxies) Client(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	peer, err := netip.ParseAddr(host)
	if err != nil || len(ps) == 0 || !ps.trusted(peer) {
		return host
	}
	hops := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
	for i := len(hops) - 1; i >= 0; i-- {
		a, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
		if err != nil {
			break
		}
		if !ps.trusted(a) {
			return a.Unmap().String()
		}
	}
	return peer.Unmap().String()
}
