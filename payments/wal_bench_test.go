package payments_test

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/paysync/paysync/core"
	"github.com/paysync/paysync/storage/testdb"
)

// BenchmarkWebhookWAL is issue 22's disk benchmark: 20,000 signed generic
// webhooks, each paying its own order, sent by 8 clients over loopback HTTP
// to a service on SQLite (synchronous=FULL, the default). It reports the
// ingest rate and the largest the WAL file grew while the orders were
// created and paid (sampled every 2 ms), so that a change to the
// checkpoints can be held to both: the WAL within its bound, the rate
// within 10 % of before. Run it alone, once:
//
//	go test -run '^$' -bench WebhookWAL -benchtime 1x ./payments/
func BenchmarkWebhookWAL(b *testing.B) {
	const webhooks, clients = 20000, 8
	for i := 0; i < b.N; i++ {
		o := testdb.Options(b, "sqlite")
		h := newHarness(b, "sqlite", harnessOptions{storage: o})
		wal := filepath.Join(o.DataDir, "paysync.db-wal")
		var maxWAL atomic.Int64
		stop := make(chan struct{})
		var sampled sync.WaitGroup
		sampled.Add(1)
		go func() {
			defer sampled.Done()
			t := time.NewTicker(2 * time.Millisecond)
			defer t.Stop()
			for {
				if st, err := os.Stat(wal); err == nil && st.Size() > maxWAL.Load() {
					maxWAL.Store(st.Size())
				}
				select {
				case <-stop:
					return
				case <-t.C:
				}
			}
		}()
		ctx := context.Background()
		run := func(f func(i int)) {
			var next atomic.Int64
			var wg sync.WaitGroup
			for c := 0; c < clients; c++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for {
						i := int(next.Add(1) - 1)
						if i >= webhooks {
							return
						}
						f(i)
					}
				}()
			}
			wg.Wait()
		}
		run(func(i int) {
			if _, _, err := h.ledger.CreateOrder(ctx, core.Order{ID: fmt.Sprintf("W-%d", i), AmountMinor: 1500000, Currency: "AMD"}); err != nil {
				b.Error(err)
			}
		})
		b.ResetTimer()
		start := time.Now()
		run(func(i int) {
			body := genericEvent{EventID: fmt.Sprintf("evt-%d", i), OrderID: fmt.Sprintf("W-%d", i), Status: "paid", AmountMinor: 1500000, Currency: "AMD"}.body()
			resp, err := h.client.Do(h.signedRequest(genericSecret, fmt.Sprintf("evt-%d", i), time.Now(), body))
			if err != nil {
				b.Error(err)
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 {
				b.Errorf("status %d", resp.StatusCode)
			}
		})
		took := time.Since(start)
		b.StopTimer()
		close(stop)
		sampled.Wait()
		if o, err := h.db.GetOrder(ctx, fmt.Sprintf("W-%d", webhooks-1)); err != nil || o.Status != core.StatusPaid {
			b.Fatalf("last order %+v %v", o.Status, err)
		}
		b.ReportMetric(float64(webhooks)/took.Seconds(), "webhooks/s")
		b.ReportMetric(float64(maxWAL.Load())/(1<<20), "WAL-max-MiB")
		b.ReportMetric(0, "ns/op")
		b.StartTimer()
	}
}
