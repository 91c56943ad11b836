package payments_test

import (
	"context"
	"fmt"
	"io"
	"sync/atomic"
	"testing"
	"time"

	"github.com/paysync/paysync/core"
	"github.com/paysync/paysync/storage/testdb"
)

// BenchmarkWebhookIngest measures one generic webhook end to end: an HTTP
// request over loopback (httptest server, real client), Standard Webhooks
// verification, and the transaction that journals the event, moves the
// order to paid and enqueues one outbox record per connector (two). Every
// event is distinct and pays its own pending order.
func BenchmarkWebhookIngest(b *testing.B) {
	for _, dialect := range testdb.Dialects {
		b.Run(dialect, func(b *testing.B) {
			for _, mode := range []string{"serial", "parallel"} {
				b.Run(mode, func(b *testing.B) {
					h := newHarness(b, dialect, harnessOptions{})
					ctx := context.Background()
					for i := 0; i < b.N; i++ {
						if _, _, err := h.ledger.CreateOrder(ctx, core.Order{ID: fmt.Sprintf("B-%d", i), AmountMinor: 1500000, Currency: "AMD"}); err != nil {
							b.Fatal(err)
						}
					}
					bodies := make([][]byte, b.N)
					for i := range bodies {
						bodies[i] = genericEvent{EventID: fmt.Sprintf("evt-%d", i), OrderID: fmt.Sprintf("B-%d", i), Status: "paid",
							AmountMinor: 1500000, Currency: "AMD"}.body()
					}
					send := func(i int) {
						req := h.signedRequest(genericSecret, fmt.Sprintf("evt-%d", i), time.Now(), bodies[i])
						resp, err := h.client.Do(req)
						if err != nil {
							b.Error(err)
							return
						}
						io.Copy(io.Discard, resp.Body)
						resp.Body.Close()
						if resp.StatusCode != 200 {
							b.Errorf("status %d", resp.StatusCode)
						}
					}
					b.ReportAllocs()
					b.ResetTimer()
					if mode == "serial" {
						for i := 0; i < b.N; i++ {
							send(i)
						}
					} else {
						var next atomic.Int64
						b.RunParallel(func(pb *testing.PB) {
							for pb.Next() {
								send(int(next.Add(1) - 1))
							}
						})
					}
					b.StopTimer()
					if o, err := h.db.GetOrder(ctx, fmt.Sprintf("B-%d", b.N-1)); err != nil || o.Status != core.StatusPaid {
						b.Fatalf("last order %+v %v", o.Status, err)
					}
				})
			}
		})
	}
}
