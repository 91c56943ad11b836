package payments

import (
	"context"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/paysync/paysync/core"
	"github.com/paysync/paysync/internal/throttle"
)

// Defaults for the limit on failing webhook requests.
const (
	DefaultFailingBurst = 20
	DefaultFailingEvery = 3 * time.Second
	DefaultRefusalFlush = time.Second
)

// maxHeld bounds the refusal records held between flushes; past it, the
// counts of further sources are held under core.OtherSources.
const maxHeld = 4 * core.MaxRefusalSources

// refusalGate limits failing webhook requests per source address (a
// throttle.Limiter, bounded in memory like every per-source limit) and
// holds the counts of those over the limit until the next flush, so that a
// flood costs neither a database write per request nor a row.
type refusalGate struct {
	limit *throttle.Limiter

	mu   sync.Mutex
	held map[string]*core.Refusal
}

func newRefusalGate(burst int, every time.Duration) *refusalGate {
	return &refusalGate{limit: throttle.New(throttle.Rule{Burst: burst, Every: every}), held: map[string]*core.Refusal{}}
}

// allow takes one failing request of source from its allowance; when there
// is none left it says how long until there is.
func (g *refusalGate) allow(source string, now time.Time) (wait time.Duration, ok bool) {
	wait, ok, _ = g.limit.Take(source, now)
	return wait, ok
}

// hold counts a refused request to be written at the next flush.
func (g *refusalGate) hold(r core.Refusal) {
	g.mu.Lock()
	defer g.mu.Unlock()
	k := r.Key()
	if _, ok := g.held[k]; !ok && len(g.held) >= maxHeld {
		r.Source = core.OtherSources
		k = r.Key()
	}
	if h, ok := g.held[k]; ok {
		h.Add(r)
		return
	}
	g.held[k] = &r
}

// take returns the held counts and forgets them.
func (g *refusalGate) take() []core.Refusal {
	g.mu.Lock()
	defer g.mu.Unlock()
	out := make([]core.Refusal, 0, len(g.held))
	for _, r := range g.held {
		out = append(out, *r)
	}
	clear(g.held)
	return out
}

// sourceOf is the address a request came from: the peer's IP (a header
// such as X-Forwarded-For could be forged by the very sender being limited).
func sourceOf(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// FlushRefusals writes the counts of refused requests held in memory (those
// over the per-source limit). It runs every RefusalFlush while Run runs,
// and at shutdown.
func (s *Service) FlushRefusals(ctx context.Context) error {
	var first error
	var throttled int64
	for _, r := range s.gate.take() {
		throttled += r.Throttled
		if err := s.ledger.Refuse(ctx, r); err != nil {
			s.log.Error("refused webhook requests not recorded", "provider", r.Provider, "source", r.Source, "count", r.Requests, "err", err)
			if first == nil {
				first = err
			}
		}
	}
	if throttled > 0 {
		s.log.Warn("webhook requests over the failing limit answered 429 and counted", "count", throttled)
	}
	return first
}

// flushRefusals runs FlushRefusals every RefusalFlush until the service
// stops (Shutdown flushes once more).
func (s *Service) flushRefusals() {
	defer s.wg.Done()
	t := time.NewTicker(s.o.RefusalFlush)
	defer t.Stop()
	for {
		select {
		case <-t.C:
		case <-s.stopping:
			return
		}
		ctx, cancel := dbContext(s.ctx)
		s.FlushRefusals(ctx)
		cancel()
	}
}
