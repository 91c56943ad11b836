package sheets_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/paysync/paysync/connectors/connectortest"
	"github.com/paysync/paysync/connectors/sheets"
	"github.com/paysync/paysync/core"
	"github.com/paysync/paysync/dispatcher"
	"github.com/paysync/paysync/internal/testutil"
	sandbox "github.com/paysync/paysync/sandbox/sheets"
	"github.com/paysync/paysync/storage/testdb"
)

// BenchmarkPaidOrders measures row updates per second when 1,000 linked
// orders are paid (one op), through a connector with the default budgets
// (60 write and 60 read requests a minute) against a double that enforces
// the same quota. Each op sets up, untimed, a new double whose 1,000
// pending rows are appended with no quota at all; the double's clock then
// moves past the minute, so the timed deliveries (MaxBatch, 500) start
// with an idle quota.
//
//	go test -run '^$' -bench BenchmarkPaidOrders ./connectors/sheets
//
// Metrics: rows/s, and write and read requests per 1,000 rows as the double
// counted them. The double refusing a request over quota fails the run.
func BenchmarkPaidOrders(b *testing.B) {
	const n = 1000
	m := shipped(b)
	var writes, reads int
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		d := newDouble(b, sandbox.Options{WritesPerMinute: -1, ReadsPerMinute: -1})
		setup, err := sheets.NewConnector(sheets.ConnectorConfig{Client: d.client(b, -1, -1), Mapping: m, Logger: testutil.Logger(b)})
		if err != nil {
			b.Fatal(err)
		}
		ds := make([]core.Delivery, n)
		for i := range ds {
			ds[i] = core.Delivery{Order: connectortest.Order(fmt.Sprintf("IG-%06d", i))}
		}
		for i, r := range deliverAll(b, setup, ds) {
			ds[i] = linked(moveTo(ds[i].Order, core.StatusPaid), r)
		}
		d.SetQuota(sandbox.DefaultWritesPerMinute, sandbox.DefaultReadsPerMinute)
		d.clock.Advance(sandbox.QuotaWindow + time.Second)
		c := d.connector(b, m) // default budgets, spent on nothing yet
		before := d.Stats()
		b.StartTimer()

		deliverAll(b, c, ds)

		b.StopTimer()
		after := d.Stats()
		if after.Rejected != before.Rejected {
			b.Fatalf("the double refused %d requests over quota", after.Rejected-before.Rejected)
		}
		writes += after.Writes - before.Writes
		reads += after.Reads - before.Reads
		rows := d.Rows(sheets.DefaultSheet)
		statusCol := d.Column(sheets.DefaultSheet, "Status")
		if len(rows) != n+1 {
			b.Fatalf("%d data rows, want %d", len(rows)-1, n)
		}
		for _, row := range rows[1:] {
			if row[statusCol-1] != "Paid" {
				b.Fatalf("row %q is not Paid", row)
			}
		}
		b.StartTimer()
	}
	b.StopTimer()
	b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "rows/s")
	b.ReportMetric(float64(writes)/float64(b.N), "writes/1000rows")
	b.ReportMetric(float64(reads)/float64(b.N), "reads/1000rows")
}

func deliverAll(b *testing.B, c *sheets.Connector, ds []core.Delivery) []core.DeliveryResult {
	b.Helper()
	var out []core.DeliveryResult
	for i := 0; i < len(ds); i += c.MaxBatch() {
		out = append(out, mustDeliver(b, c, ds[i:min(i+c.MaxBatch(), len(ds))]...)...)
	}
	return out
}

// BenchmarkEventToRow measures the latency of one payment, from the
// verified event applied by the ledger (journal, order, outbox in one
// SQLite transaction) through the dispatcher's wake-up, claim and delivery
// to the paid status in the double's row. The quota is idle: neither the
// double nor the client budget makes a request wait. Each iteration first
// creates its order and waits for its row (untimed), then times the
// payment.
//
//	go test -run '^$' -bench BenchmarkEventToRow ./connectors/sheets
//
// Metrics: p50-ms and p99-ms of the event-to-row latency.
func BenchmarkEventToRow(b *testing.B) {
	db := testdb.Open(b, "sqlite")
	d := newDouble(b, sandbox.Options{WritesPerMinute: -1, ReadsPerMinute: -1})
	c, err := sheets.NewConnector(sheets.ConnectorConfig{Client: d.client(b, 1_000_000, 1_000_000), Mapping: shipped(b), Logger: testutil.Logger(b)})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	disp := dispatcher.New(db, []core.Connector{c}, dispatcher.Options{Owner: "bench", Wake: db.Subscribe(ctx), Logger: testutil.Logger(b)})
	done := make(chan error, 1)
	go func() { done <- disp.Run(ctx) }()
	ledger := &core.Ledger{Store: db, Connectors: func() []string { return []string{sheets.Name} }}

	// waitFor polls the double's write counter, cheap next to reading its
	// rows, and reads the rows only after a write.
	waitFor := func(id, status string, since int) {
		deadline := time.Now().Add(10 * time.Second)
		for {
			if v := d.Version(); v != since {
				since = v
				if r := d.RowsWhere(sheets.DefaultSheet, sheets.DefaultKeyColumn, id); len(r) == 1 && d.Value(sheets.DefaultSheet, r[0], "Status") == status {
					return
				}
			}
			if time.Now().After(deadline) {
				b.Fatalf("order %s did not reach %q in the sheet within 10s", id, status)
			}
			time.Sleep(100 * time.Microsecond)
		}
	}
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := range b.N {
		b.StopTimer()
		o := connectortest.Order(fmt.Sprintf("EV-%05d", i))
		v := d.Version()
		if _, _, err := ledger.CreateOrder(ctx, o); err != nil {
			b.Fatal(err)
		}
		waitFor(o.ID, "Awaiting payment", v)
		v = d.Version()
		b.StartTimer()
		start := time.Now()
		out, err := ledger.ApplyEvent(ctx, core.PaymentEvent{Provider: "generic", EventID: "evt-" + o.ID, Type: "payment.succeeded",
			OrderID: o.ID, Status: core.StatusPaid, AmountMinor: o.AmountMinor, Currency: o.Currency,
			OccurredAt: time.Now(), Source: core.SourceWebhook, Verified: true})
		if err != nil || out.Verdict != core.VerdictAccepted {
			b.Fatalf("event: %v %v", out.Verdict, err)
		}
		waitFor(o.ID, "Paid", v)
		lat = append(lat, time.Since(start))
	}
	b.StopTimer()
	cancel()
	if err := <-done; err != nil {
		b.Fatal(err)
	}
	slices.Sort(lat)
	pct := func(p float64) float64 {
		return float64(lat[min(len(lat)-1, int(p*float64(len(lat))))].Microseconds()) / 1000
	}
	b.ReportMetric(pct(0.50), "p50-ms")
	b.ReportMetric(pct(0.99), "p99-ms")
	b.ReportMetric(float64(lat[len(lat)-1].Microseconds())/1000, "max-ms")
}
