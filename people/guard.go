package people

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/paysync/paysync/core"
	"github.com/paysync/paysync/internal/throttle"
)

// The throttles on wrong passwords and tokens. An address gets a few
// tries, then waits twice as long after each further miss (up to 15
// minutes); so does one account from one address. An account guessed at
// from many addresses is held back too, but only for addresses that have
// failed themselves: a right password from an address that has not been
// guessing is never refused because of someone else's guesses.
var (
	AddressRule = throttle.Rule{Burst: 10, Every: 6 * time.Second, Backoff: true, MaxLock: 15 * time.Minute}
	PairRule    = throttle.Rule{Burst: 5, Every: 12 * time.Second, Backoff: true, MaxLock: 15 * time.Minute}
	AccountRule = throttle.Rule{Burst: 30, Every: 10 * time.Second, Backoff: true, MaxLock: 15 * time.Minute}
)

// Guard holds the throttles, logs every lockout and counts it.
type Guard struct {
	address, pair, account *throttle.Limiter
	lockouts               *prometheus.CounterVec
	log                    *slog.Logger
}

// NewGuard returns a Guard with the default rules.
func NewGuard(log *slog.Logger) *Guard {
	if log == nil {
		log = slog.Default()
	}
	return &Guard{address: throttle.New(AddressRule), pair: throttle.New(PairRule), account: throttle.New(AccountRule), log: log,
		lockouts: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "paysync_login_lockouts_total",
			Help: "Lockouts after wrong passwords or tokens, by what was locked (address, account_address, account) and where (console, api)."},
			[]string{"kind", "surface"})}
}

// Collectors are the Guard's metrics, for /metrics.
func (g *Guard) Collectors() []prometheus.Collector { return []prometheus.Collector{g.lockouts} }

// Throttled is the cause of an ETOOMANY: how long to wait.
type Throttled struct{ Wait time.Duration }

func (t *Throttled) Error() string { return fmt.Sprintf("throttled for %s", t.Wait) }

// RetryAfter is the wait an ETOOMANY error asks for, in whole seconds (at least 1).
func RetryAfter(err error) int {
	var t *Throttled
	if errors.As(err, &t) {
		return max(1, int(math.Ceil(t.Wait.Seconds())))
	}
	return 1
}

func tooMany(wait time.Duration) error {
	return &core.Error{Code: core.ETOOMANY, Err: &Throttled{Wait: wait},
		Message: fmt.Sprintf("too many wrong passwords or tokens from here: wait %s and try again", wait.Round(time.Second))}
}

func pairKey(name, addr string) string { return strings.ToLower(name) + "\x00" + addr }

// Check refuses (ETOOMANY) a try of name ("" for a bearer token) from addr
// that a throttle holds back; it checks no credential. A try refused once
// the allowance is spent is the failure past it: it starts the lock (twice
// as long as the last one), which is logged and counted; tries during the
// lock only wait.
func (g *Guard) Check(ctx context.Context, surface, name, addr string, now time.Time) error {
	if w := g.address.Wait(addr, now); w > 0 {
		return g.refuse(ctx, g.address, addr, "address", surface, name, addr, w, now)
	}
	if name == "" {
		return nil
	}
	key := strings.ToLower(name)
	if w := g.pair.Wait(pairKey(name, addr), now); w > 0 {
		return g.refuse(ctx, g.pair, pairKey(name, addr), "account_address", surface, name, addr, w, now)
	}
	if w := g.account.Wait(key, now); w > 0 && !g.address.Fresh(addr, now) {
		return g.refuse(ctx, g.account, key, "account", surface, name, addr, w, now)
	}
	return nil
}

// refuse answers a try that l holds back under key, locking key when this
// try is the first past its allowance.
func (g *Guard) refuse(ctx context.Context, l *throttle.Limiter, key, kind, surface, name, addr string, wait time.Duration, now time.Time) error {
	if w, _, locked := l.Take(key, now); locked {
		g.note(ctx, kind, surface, name, addr, w)
		wait = w
	}
	return tooMany(wait)
}

func (g *Guard) note(ctx context.Context, kind, surface, name, addr string, wait time.Duration) {
	g.lockouts.WithLabelValues(kind, surface).Inc()
	g.log.WarnContext(ctx, "locked out after wrong passwords or tokens", "kind", kind, "surface", surface,
		"remote", addr, "account", name, "for", wait.Round(time.Second))
}

// Failed counts a wrong password or token; a lockout it starts is logged
// (the address and the name tried, never the password) and counted.
func (g *Guard) Failed(ctx context.Context, surface, name, addr string, now time.Time) {
	note := func(kind string, wait time.Duration, locked bool) {
		if locked {
			g.note(ctx, kind, surface, name, addr, wait)
		}
	}
	w, _, locked := g.address.Take(addr, now)
	note("address", w, locked)
	if name != "" {
		w, _, locked = g.pair.Take(pairKey(name, addr), now)
		note("account_address", w, locked)
		w, _, locked = g.account.Take(strings.ToLower(name), now)
		note("account", w, locked)
	}
}

// Passed forgets the failures of name from addr after a right password.
func (g *Guard) Passed(name, addr string) {
	if name != "" {
		g.pair.Reset(pairKey(name, addr))
	}
}
