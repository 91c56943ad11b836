package people

import (
	"bytes"
	"context"
	"log/slog"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/paysync/paysync/core"
)

// An address gets its allowance of wrong tokens; the first try past it
// starts a lock (logged and counted once), tries during the lock only
// wait, and the next lock after it is twice as long.
func TestGuardLocksOnceAndDoubles(t *testing.T) {
	t.Parallel()
	var logs bytes.Buffer
	g := NewGuard(slog.New(slog.NewTextHandler(&logs, nil)))
	ctx, now := context.Background(), time.Unix(1_000_000, 0)
	for i := range AddressRule.Burst {
		if err := g.Check(ctx, "api", "", "203.0.113.7", now); err != nil {
			t.Fatalf("try %d refused within the allowance: %v", i+1, err)
		}
		g.Failed(ctx, "api", "", "203.0.113.7", now)
	}
	for range 100 {
		if err := g.Check(ctx, "api", "", "203.0.113.7", now); core.ErrorCode(err) != core.ETOOMANY {
			t.Fatalf("a try past the allowance: %v, want ETOOMANY", err)
		}
	}
	if err := g.Check(ctx, "api", "", "198.51.100.1", now); err != nil {
		t.Fatalf("another address is held back: %v", err)
	}
	count := func() float64 { return counted(g, "address", "api") }
	if n, logged := count(), strings.Count(logs.String(), "locked out"); n != 1 || logged != 1 {
		t.Fatalf("100 tries past the allowance: %v lockouts counted, %d logged; want one of each", n, logged)
	}
	err := g.Check(ctx, "api", "", "203.0.113.7", now.Add(AddressRule.Every))
	if core.ErrorCode(err) != core.ETOOMANY || RetryAfter(err) != int((2*AddressRule.Every).Seconds()) || count() != 2 {
		t.Fatalf("right after the first lock: %v (Retry-After %d, %v lockouts), want a lock twice as long", err, RetryAfter(err), count())
	}
	if strings.Contains(logs.String(), "password=") {
		t.Fatal("a lockout logged a password")
	}
}

// A name guessed at from many addresses is held back only for addresses
// that failed themselves: its owner gets in from a fresh one.
func TestGuardNeverHoldsBackAFreshAddress(t *testing.T) {
	t.Parallel()
	g := NewGuard(slog.New(slog.DiscardHandler))
	ctx, now := context.Background(), time.Unix(1_000_000, 0)
	for i := range AccountRule.Burst + 10 {
		addr := "192.0.2." + itoa(i+1)
		if err := g.Check(ctx, "console", "Anahit", addr, now); err != nil {
			t.Fatalf("guess %d from a new address refused: %v", i+1, err)
		}
		g.Failed(ctx, "console", "Anahit", addr, now)
	}
	if err := g.Check(ctx, "console", "Anahit", "192.0.2.1", now); core.ErrorCode(err) != core.ETOOMANY {
		t.Fatalf("a guessing address trying the locked name again: %v, want ETOOMANY", err)
	}
	if err := g.Check(ctx, "console", "anahit", "198.51.100.9", now); err != nil {
		t.Fatalf("the owner from a fresh address: %v", err)
	}
	if counted(g, "account", "console") != 1 {
		t.Fatal("the account's lockout is not counted")
	}
}

func itoa(i int) string { return strconv.Itoa(i) }

// counted is the lockout counter's value for kind and surface, as
// /metrics reads it.
func counted(g *Guard, kind, surface string) float64 {
	reg := prometheus.NewRegistry()
	reg.MustRegister(g.Collectors()...)
	mfs, _ := reg.Gather()
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if mf.GetName() == "paysync_login_lockouts_total" && labels["kind"] == kind && labels["surface"] == surface {
				return m.GetCounter().GetValue()
			}
		}
	}
	return 0
}
