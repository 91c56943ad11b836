package amocrm_test

import (
	"context"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/paysync/paysync/connectors/amocrm"
	"github.com/paysync/paysync/connectors/connectortest"
	"github.com/paysync/paysync/core"
	sandbox "github.com/paysync/paysync/sandbox/amocrm"
)

// BenchmarkStatusUpdates measures paid orders brought to their lead's paid
// status per second against the sandbox account with its real limit (7
// requests in any second, every arrival counted) on the wall clock, through
// a client with its default limiter. b.N is the number of orders, in
// deliveries of the connector's MaxBatch (250): each is one GET verifying
// the links, one PATCH and one POST of notes.
//
//	go test -run '^$' -bench BenchmarkStatusUpdates -benchtime 1000x ./connectors/amocrm
//
// Metrics: updates/s, requests/update, and the most requests the account
// saw in any second (max-req/s), which must stay at or under 7.
func BenchmarkStatusUpdates(b *testing.B) {
	a := newAccount(b, sandbox.Options{})
	m := shippedMapping(b)
	ds := make([]core.Delivery, b.N)
	for i := range ds {
		o := connectortest.Order("UPD-" + strconv.Itoa(i))
		o.Customer.Phone = fmt.Sprintf("+37493%06d", i)
		ds[i] = core.Delivery{Order: o}
	}
	setup := newConnector(b, a, m)
	for i, r := range deliverBatches(b, setup, ds) {
		p, tr := paid(ds[i].Order)
		ds[i] = core.Delivery{Order: p, Link: linkOf(ds[i].Order, r), Transitions: tr}
	}
	// Let the setup's requests age out of the account's window, then time
	// a fresh connector (an idle limiter) from an idle account.
	time.Sleep(1100 * time.Millisecond)
	a.ResetStats()
	c := newConnector(b, a, m)
	b.ResetTimer()
	deliverBatches(b, c, ds)
	b.StopTimer()
	st := a.Stats()
	if st.Rejected != 0 || st.MaxPerWindow > sandbox.DefaultLimit {
		b.Fatalf("the account refused %d requests and saw %d in one second", st.Rejected, st.MaxPerWindow)
	}
	for _, d := range ds[:min(len(ds), 20)] {
		if ls := a.LeadsByOrder(d.Order.ID); len(ls) != 1 || ls[0].StatusID != sandbox.StatusPaid {
			b.Fatalf("%s: %+v", d.Order.ID, ls)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "updates/s")
	b.ReportMetric(float64(st.Requests)/float64(b.N), "requests/update")
	b.ReportMetric(float64(st.MaxPerWindow), "max-req/s")
}

func deliverBatches(b *testing.B, c *amocrm.Connector, ds []core.Delivery) []core.DeliveryResult {
	out := make([]core.DeliveryResult, 0, len(ds))
	for i := 0; i < len(ds); i += c.MaxBatch() {
		batch := ds[i:min(i+c.MaxBatch(), len(ds))]
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		res := c.Deliver(ctx, batch)
		cancel()
		for j, r := range res {
			if r.Err != nil {
				b.Fatalf("%s: %v", batch[j].Order.ID, r.Err)
			}
		}
		out = append(out, res...)
	}
	return out
}
