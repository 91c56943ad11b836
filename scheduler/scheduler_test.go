package scheduler_test

import (
	"context"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/paysync/paysync/config"
	"github.com/paysync/paysync/core"
	"github.com/paysync/paysync/internal/testutil"
	"github.com/paysync/paysync/payments"
	"github.com/paysync/paysync/scheduler"
	"github.com/paysync/paysync/storage/testdb"
)

// TestOneLeader runs two replicas on one database: only the leader runs
// jobs, never both at once, and the other takes over when it stops.
func TestOneLeader(t *testing.T) {
	testdb.Each(t, func(t *testing.T, dialect string) {
		db := testdb.Open(t, dialect)
		var running, overlap atomic.Int32
		runs := map[string]*atomic.Int32{"a": {}, "b": {}}
		mk := func(owner string) *scheduler.Scheduler {
			s, err := scheduler.New(scheduler.Options{Store: db, Owner: owner, LeaseTTL: 2 * time.Second, RenewEvery: 200 * time.Millisecond, Logger: testutil.Logger(t)})
			if err != nil {
				t.Fatal(err)
			}
			err = s.Add("tick", "@every 1s", func(ctx context.Context) error {
				if running.Add(1) > 1 {
					overlap.Add(1)
				}
				defer running.Add(-1)
				runs[owner].Add(1)
				time.Sleep(20 * time.Millisecond)
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			return s
		}
		a, b := mk("a"), mk("b")
		ctx := context.Background()
		a.Start(ctx)
		testutil.Eventually(t, "a to lead", a.IsLeader)
		b.Start(ctx)
		defer b.Stop(ctx)
		testutil.Eventually(t, "a to run twice", func() bool { return runs["a"].Load() >= 2 })
		if b.IsLeader() || runs["b"].Load() != 0 {
			t.Fatalf("b ran %d times while a led", runs["b"].Load())
		}
		if err := a.Stop(ctx); err != nil {
			t.Fatal(err)
		}
		testutil.Eventually(t, "b to take over", b.IsLeader)
		testutil.Eventually(t, "b to run", func() bool { return runs["b"].Load() >= 1 })
		if a.IsLeader() {
			t.Fatal("a still leads after Stop")
		}
		if overlap.Load() != 0 {
			t.Fatal("jobs ran on two replicas at once")
		}
	})
}

// flakyLeaser lets a test take the lease away from a replica.
type flakyLeaser struct {
	scheduler.Leaser
	lost atomic.Bool
}

func (f *flakyLeaser) AcquireLease(ctx context.Context, name, holder string, ttl time.Duration, now time.Time) (bool, error) {
	if f.lost.Load() {
		return false, nil
	}
	return f.Leaser.AcquireLease(ctx, name, holder, ttl, now)
}

// TestLeadershipLostCancelsJobs: a replica that loses its lease cancels
// the jobs it is running and starts no more.
func TestLeadershipLostCancelsJobs(t *testing.T) {
	testdb.Each(t, func(t *testing.T, dialect string) {
		db := testdb.Open(t, dialect)
		fl := &flakyLeaser{Leaser: db}
		s, _ := scheduler.New(scheduler.Options{Store: fl, Owner: "a", LeaseTTL: 2 * time.Second, RenewEvery: 100 * time.Millisecond, Logger: testutil.Logger(t)})
		started := make(chan struct{}, 10)
		var cancelled atomic.Bool
		s.Add("long", "@every 1s", func(ctx context.Context) error {
			started <- struct{}{}
			<-ctx.Done()
			cancelled.Store(true)
			return ctx.Err()
		})
		ctx := context.Background()
		s.Start(ctx)
		defer s.Stop(ctx)
		<-started
		fl.lost.Store(true)
		testutil.Eventually(t, "the job to be cancelled", cancelled.Load)
		if s.IsLeader() {
			t.Fatal("still leader")
		}
	})
}

// TestNoOverlap: a run still going when the next is due makes cron skip it.
func TestNoOverlap(t *testing.T) {
	db := testdb.Open(t, "sqlite")
	var logs testutil.SyncBuffer
	log := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	s, _ := scheduler.New(scheduler.Options{Store: db, LeaseTTL: 3 * time.Second, Logger: log})
	release := make(chan struct{})
	var concurrent, maxConcurrent atomic.Int32
	s.Add("slow", "@every 1s", func(ctx context.Context) error {
		n := concurrent.Add(1)
		defer concurrent.Add(-1)
		for {
			m := maxConcurrent.Load()
			if n <= m || maxConcurrent.CompareAndSwap(m, n) {
				break
			}
		}
		select {
		case <-release:
		case <-ctx.Done():
		}
		return nil
	})
	ctx := context.Background()
	s.Start(ctx)
	testutil.Eventually(t, "a run to be skipped", func() bool { return strings.Contains(logs.String(), "cron: skip") })
	close(release)
	if err := s.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if maxConcurrent.Load() != 1 {
		t.Fatalf("%d runs at once", maxConcurrent.Load())
	}
	if !strings.Contains(logs.String(), "job done") {
		t.Fatal("runs are not logged")
	}
}

func TestAddValidates(t *testing.T) {
	db := testdb.Open(t, "sqlite")
	s, _ := scheduler.New(scheduler.Options{Store: db, Logger: testutil.Logger(t)})
	noop := func(context.Context) error { return nil }
	if err := s.Add("bad", "every five minutes", noop); err == nil || !strings.Contains(err.Error(), "@every") {
		t.Fatalf("bad spec: %v", err)
	}
	if err := s.Add("off", "", noop); err != nil {
		t.Fatal(err)
	}
	if err := s.Add("x", "*/5 * * * *", noop); err != nil {
		t.Fatal(err)
	}
	if err := s.Add("x", "@hourly", noop); err == nil {
		t.Fatal("duplicate name accepted")
	}
	if got := s.Jobs(); len(got) != 1 || got[0] != "x" {
		t.Fatalf("jobs %v", got)
	}
	if _, err := scheduler.New(scheduler.Options{Store: db, LeaseTTL: time.Second, RenewEvery: 2 * time.Second}); err == nil {
		t.Fatal("renewal slower than the TTL accepted")
	}
}

func TestFromConfig(t *testing.T) {
	testdb.Each(t, func(t *testing.T, dialect string) {
		db := testdb.Open(t, dialect)
		ledger := &core.Ledger{Store: db}
		svc, err := payments.New(payments.Options{Ledger: ledger, Store: db, Logger: testutil.Logger(t)})
		if err != nil {
			t.Fatal(err)
		}
		defer svc.Close()
		cfg := config.Defaults()
		s, err := scheduler.FromConfig(&cfg, db, svc, testutil.Logger(t))
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Add("purge", cfg.Scheduler.PurgeSchedule, func(ctx context.Context) error {
			_, err := db.PurgeDelivered(ctx, time.Now().Add(-cfg.Dispatcher.KeepDelivered.D()))
			return err
		}); err != nil {
			t.Fatal(err)
		}
		if got := strings.Join(s.Jobs(), ","); got != "expire,purge,reconcile" {
			t.Fatalf("jobs %s", got)
		}
		past := time.Now().Add(-time.Hour).UTC()
		if _, _, err := svc.CreateOrder(context.Background(), core.Order{ID: "E-1", AmountMinor: 1, Currency: "AMD", ExpiresAt: &past}); err != nil {
			t.Fatal(err)
		}
		for _, j := range s.Jobs() {
			if err := s.RunNow(context.Background(), j); err != nil {
				t.Fatalf("%s: %v", j, err)
			}
		}
		if o, _ := db.GetOrder(context.Background(), "E-1"); o.Status != core.StatusExpired {
			t.Fatalf("expire job: %s", o.Status)
		}
	})
}

// TestExpireJobQuietUntilItExpires: the expire job, due every second as in
// the demo, writes nothing at INFO while there is nothing to expire, and one
// line with the count when it expires an order.
func TestExpireJobQuietUntilItExpires(t *testing.T) {
	db := testdb.Open(t, "sqlite")
	var logs testutil.SyncBuffer
	log := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	svc, err := payments.New(payments.Options{Ledger: &core.Ledger{Store: db}, Store: db, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	defer svc.Close()
	cfg := config.Defaults()
	cfg.Scheduler.ExpireSchedule, cfg.Scheduler.ReconcileSchedule = "@every 1s", "@every 1h"
	s, err := scheduler.FromConfig(&cfg, db, svc, log)
	if err != nil {
		t.Fatal(err)
	}
	var runs atomic.Int32
	s.Observe(func(job string, _ time.Duration, _ error) {
		if job == scheduler.JobExpire {
			runs.Add(1)
		}
	})
	ctx := context.Background()
	s.Start(ctx)
	defer s.Stop(ctx)
	testutil.Eventually(t, "the expire job to run twice", func() bool { return runs.Load() >= 2 })
	if got := logs.String(); strings.Contains(got, "job=expire") || strings.Contains(got, "expired") {
		t.Fatalf("the expire job logged at INFO with nothing to expire:\n%s", got)
	}

	past := time.Now().Add(-time.Hour).UTC()
	if _, _, err := svc.CreateOrder(ctx, core.Order{ID: "E-1", AmountMinor: 1, Currency: "AMD", ExpiresAt: &past}); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, "the order to expire, logged at INFO", func() bool {
		return strings.Contains(logs.String(), `msg="orders expired"`) && strings.Contains(logs.String(), "count=1")
	})
	if n := strings.Count(logs.String(), "orders expired"); n != 1 {
		t.Errorf("%d lines say orders expired, want 1:\n%s", n, logs.String())
	}
}
