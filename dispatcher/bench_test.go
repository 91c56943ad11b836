package dispatcher

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"testing"
	"time"

	"golang.org/x/time/rate"

	"github.com/paysync/paysync/core"
	"github.com/paysync/paysync/dispatcher/dispatchertest"
	"github.com/paysync/paysync/storage"
	"github.com/paysync/paysync/storage/testdb"
)

// BenchmarkDispatch measures the dispatcher's own cost: claim, read the
// orders, deliver to a connector that does nothing, ack. Setup (not timed)
// writes b.N orders, their journal entries and one outbox record each with
// bulk SQL through db.Writer(), not Apply, so that large b.N set up quickly,
// then runs ANALYZE as autovacuum (PostgreSQL) or PRAGMA optimize (SQLite)
// would on a live database; BENCH_NO_ANALYZE=1 skips it.
//
//	go test -run X -bench Dispatch -benchtime 20000x ./dispatcher/
func BenchmarkDispatch(b *testing.B) {
	for _, dialect := range testdb.Dialects {
		b.Run(dialect, func(b *testing.B) {
			db := testdb.Open(b, dialect)
			seedOutbox(b, db, b.N)
			noop := &dispatchertest.Noop{ConnectorName: "noop", Batch: 100}
			d := New(db, []core.Connector{noop}, Options{
				Owner: "bench", PollInterval: 5 * time.Millisecond,
				RateLimits: map[string]RateLimit{"noop": {PerSecond: rate.Inf, Burst: 1}},
				Logger:     slog.New(slog.NewTextHandler(io.Discard, nil)),
			})
			w := d.workers["noop"]
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)

			b.ResetTimer()
			start := time.Now()
			go func() { done <- d.Run(ctx) }()
			for w.delivered.Load() < int64(b.N) {
				if time.Since(start) > 5*time.Minute {
					b.Fatalf("only %d of %d delivered after 5 minutes", w.delivered.Load(), b.N)
				}
				time.Sleep(200 * time.Microsecond)
			}
			elapsed := time.Since(start)
			b.StopTimer()

			cancel()
			if err := <-done; err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(float64(b.N)/elapsed.Seconds(), "deliveries/s")
			if got := noop.Delivered(); got != int64(b.N) {
				b.Fatalf("connector got %d deliveries, want %d", got, b.N)
			}
		})
	}
}

// seedOutbox writes n paid orders with one journal entry and one pending
// outbox record for "noop" each.
func seedOutbox(b *testing.B, db *storage.DB, n int) {
	b.Helper()
	now := time.Now().Add(-time.Second).UnixMicro()
	series := fmt.Sprintf(`(WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < %d) SELECT i FROM s) AS g`, n)
	for _, q := range []string{
		fmt.Sprintf(`INSERT INTO orders (id, status, amount_minor, currency, customer, items, delivery,
			created_at, updated_at, status_changed_at, version)
			SELECT 'bench-' || g.i, 'paid', 1500000, 'AMD', '{"name":"Anna"}',
				'[{"name":"Dress","quantity":1,"price_minor":1500000}]', '{}', %d, %d, %d, 1 FROM %s`, now, now, now, series),
		fmt.Sprintf(`INSERT INTO journal (order_id, source, verdict, status_before, status_after, order_version, created_at)
			SELECT 'bench-' || g.i, 'api', 'created', '', 'paid', 1, %d FROM %s`, now, series),
		fmt.Sprintf(`INSERT INTO outbox (connector, order_id, order_version, state, attempts, available_at, created_at, updated_at)
			SELECT 'noop', 'bench-' || g.i, 1, 'pending', 0, %d, %d, %d FROM %s`, now, now, now, series),
	} {
		if _, err := db.Writer().Exec(q); err != nil {
			b.Fatalf("seed: %v", err)
		}
	}
	if os.Getenv("BENCH_NO_ANALYZE") == "" {
		if _, err := db.Writer().Exec(`ANALYZE`); err != nil {
			b.Fatal(err)
		}
	}
}
