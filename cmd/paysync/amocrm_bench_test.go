package main

import (
	"fmt"
	"slices"
	"strconv"
	"testing"
	"time"

	amocrmsandbox "github.com/paysync/paysync/sandbox/amocrm"
	"github.com/paysync/paysync/storage/testdb"
)

// BenchmarkPaymentToLeadStatus measures one payment on an idle account:
// from sending the signed webhook to the sandbox account holding the lead
// at the paid status, through the real daemon (ledger transaction, outbox,
// the dispatcher woken by the commit, the connector's GET, PATCH and notes).
// The orders and their leads exist before the clock starts; payments are
// 600 ms apart so that each finds the connector's limiter idle (3 requests
// each, 7 allowed in any second). Use -benchtime Nx:
//
//	go test -run '^$' -bench BenchmarkPaymentToLeadStatus -benchtime 200x ./cmd/paysync
//
// Metrics: p50-ms, p99-ms and max-ms of the latency.
func BenchmarkPaymentToLeadStatus(b *testing.B) {
	for _, dialect := range testdb.Dialects {
		b.Run(dialect, func(b *testing.B) {
			if dialect == "postgres" {
				testdb.PostgresURL(b)
			}
			paidLeads := make(chan amocrmsandbox.Lead, 16)
			e, acc := startAmoE2E(b, dialect, amocrmsandbox.Options{OnLeadChange: func(l amocrmsandbox.Lead) {
				if l.StatusID == amocrmsandbox.StatusPaid {
					paidLeads <- l
				}
			}})
			id := func(i int) string { return "LAT-" + strconv.Itoa(i) }
			for i := range b.N {
				e.createOrder(id(i), fmt.Sprintf("+37494%06d", i))
			}
			e.eventually("every order's lead", func() bool { return len(acc.Leads()) == b.N })
			e.eventually("every delivery settled", func() bool {
				_, out := e.api("GET", "/v1/outbox/stats", nil)
				stats, _ := out["connectors"].([]any)
				for _, s := range stats {
					if m := s.(map[string]any); m["connector"] == "amocrm" && m["pending"] == float64(0) {
						return true
					}
				}
				return false
			})
			time.Sleep(1100 * time.Millisecond)
			lat := make([]time.Duration, 0, b.N)
			b.ResetTimer()
			for i := range b.N {
				start := time.Now()
				e.paidWebhook(id(i), "lat-evt-"+strconv.Itoa(i))
				select {
				case l := <-paidLeads:
					if l.OrderID != id(i) {
						b.Fatalf("lead of %s moved while paying %s", l.OrderID, id(i))
					}
				case <-time.After(30 * time.Second):
					b.Fatalf("%s: the lead did not reach the paid status", id(i))
				}
				lat = append(lat, time.Since(start))
				b.StopTimer()
				time.Sleep(600 * time.Millisecond)
				b.StartTimer()
			}
			b.StopTimer()
			if st := acc.Stats(); st.Rejected != 0 || st.MaxPerWindow > amocrmsandbox.DefaultLimit {
				b.Fatalf("the account refused %d requests, saw %d in one second", st.Rejected, st.MaxPerWindow)
			}
			slices.Sort(lat)
			q := func(p float64) float64 {
				i := int(float64(len(lat))*p+0.999999) - 1
				return float64(lat[max(i, 0)]) / float64(time.Millisecond)
			}
			b.ReportMetric(q(0.5), "p50-ms")
			b.ReportMetric(q(0.99), "p99-ms")
			b.ReportMetric(q(1), "max-ms")
		})
	}
}
