package main

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	igsandbox "github.com/paysync/paysync/sandbox/instagram"
	"github.com/paysync/paysync/storage/testdb"
)

// BenchmarkPaymentToDirectMessage measures one payment on an idle account:
// from sending the signed payment webhook to the sandbox Instagram account
// storing the "paid" message in the customer's thread, through the real
// daemon (ledger transaction, outbox, the dispatcher woken by the commit,
// the connector's render, send log, window check and the Send API call).
// Only the instagram connector is on; the customer wrote a minute before;
// the orders exist and their (link-less) deliveries are settled before the
// clock starts; payments are 100 ms apart. Use -benchtime Nx:
//
//	go test -run '^$' -bench BenchmarkPaymentToDirectMessage -benchtime 200x ./cmd/paysync
//
// Metrics: p50-ms, p99-ms and max-ms of the latency.
func BenchmarkPaymentToDirectMessage(b *testing.B) {
	for _, dialect := range testdb.Dialects {
		b.Run(dialect, func(b *testing.B) {
			if dialect == "postgres" {
				testdb.PostgresURL(b)
			}
			e := startDirect(b, dialect, map[string]string{"PAYSYNC_GENERIC_WEBHOOK_SECRET": e2eSecret,
				"PAYSYNC_BITRIX24_WEBHOOK_URL": "", "PAYSYNC_AMOCRM_BASE_URL": "", "PAYSYNC_AMOCRM_ACCESS_TOKEN": "",
				"PAYSYNC_SHEETS_SPREADSHEET_ID": "", "PAYSYNC_SHEETS_CREDENTIALS_FILE": ""})
			sent := make(chan igsandbox.Message, 16)
			e.ig.OnSend(func(m igsandbox.Message) {
				if strings.HasPrefix(m.Text, "Շնորհակալություն") {
					sent <- m
				}
			})
			igsid := "1784599999"
			e.ig.CustomerWrites(igsandbox.Customer{IGSID: igsid, Username: "bench.buyer"}, "Բարև", time.Now().Add(-time.Minute))
			e.eventually("the conversation", func() bool {
				_, out := e.api("GET", "/v1/conversations", nil)
				return strings.Contains(fmt.Sprint(out), igsid)
			})
			id := func(i int) string { return "LAT-" + strconv.Itoa(i) }
			for i := range b.N {
				code, out := e.api("POST", "/v1/orders", map[string]any{"order_id": id(i), "amount_minor": 1500000, "currency": "AMD",
					"customer": map[string]any{"handle": "bench.buyer", "id": igsid}, "items": []map[string]any{{"name": "Scarf", "quantity": 1, "price_minor": 1500000}}})
				if code != 201 {
					b.Fatalf("create: %d %v", code, out)
				}
			}
			e.eventually("every delivery settled", func() bool {
				_, out := e.api("GET", "/v1/outbox/stats", nil)
				stats, _ := out["connectors"].([]any)
				for _, s := range stats {
					if m := s.(map[string]any); m["connector"] == "instagram" && m["pending"] == float64(0) && m["delivered"] == float64(b.N) {
						return true
					}
				}
				return false
			})
			time.Sleep(500 * time.Millisecond)
			lat := make([]time.Duration, 0, b.N)
			b.ResetTimer()
			for i := range b.N {
				start := time.Now()
				e.paidWebhook(id(i), "lat-evt-"+strconv.Itoa(i))
				select {
				case m := <-sent:
					if !strings.Contains(m.Text, id(i)+" ") {
						b.Fatalf("a paid message of another order while paying %s: %q", id(i), m.Text)
					}
				case <-time.After(30 * time.Second):
					b.Fatalf("%s: no paid message in the thread", id(i))
				}
				lat = append(lat, time.Since(start))
				b.StopTimer()
				time.Sleep(100 * time.Millisecond)
				b.StartTimer()
			}
			b.StopTimer()
			if st := e.ig.Stats(); st.Sent != b.N || st.Refused != 0 || st.RateLimited != 0 {
				b.Fatalf("the account stored %d messages for %d payments (refused %d, rate limited %d)", st.Sent, b.N, st.Refused, st.RateLimited)
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
