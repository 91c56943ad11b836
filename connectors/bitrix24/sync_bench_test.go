package bitrix24_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"golang.org/x/time/rate"

	"github.com/paysync/paysync/connectors/bitrix24"
	"github.com/paysync/paysync/connectors/connectortest"
	"github.com/paysync/paysync/core"
	"github.com/paysync/paysync/mapping"
	sandbox "github.com/paysync/paysync/sandbox/bitrix24"
)

// BenchmarkSync measures deals synced per second to a sandbox portal that
// enforces the real limits: its default leaky bucket (block at 50, drain 2
// requests/s) on the wall clock, through a client with its default budget.
// Setup runs through an unthrottled client and portal; the portal's limiter
// is then restored and its bucket emptied, so every timed run starts with an
// empty bucket and a fresh client. A fresh client assumes its burst share is
// already spent, so the rate is the steady state of 2 requests/s.
//
// b.N is the number of deals; deliveries are the connector's MaxBatch. Use
// -benchtime Nx with N a multiple of MaxBatch, e.g.
//
//	go test -run '^$' -bench 'BenchmarkSync/(create|update|mixed)' -benchtime 750x ./connectors/bitrix24
//	go test -run '^$' -bench 'BenchmarkSync/one-call-per-deal' -benchtime 20x ./connectors/bitrix24
//
// Metrics: deals/s, requests/deal and commands/deal (batch sub-commands and
// plain calls) as the portal counted them.
func BenchmarkSync(b *testing.B) {
	b.Run("create", func(b *testing.B) {
		// New orders of new customers: a contact, a deal and the "awaiting
		// payment" timeline comment each.
		s := newSyncBench(b)
		ds := make([]core.Delivery, b.N)
		for i := range ds {
			o := benchOrder(i)
			ds[i] = core.Delivery{Order: o, Transitions: created(o)}
		}
		s.measure(b, ds)
		s.check(b, b.N, b.N)
	})
	b.Run("update", func(b *testing.B) {
		// Linked deals move pending -> paid with the "Paid …" comment.
		s := newSyncBench(b)
		ds := s.linked(b, b.N)
		for i := range ds {
			ds[i].Order, ds[i].Transitions = paid(ds[i].Order)
		}
		s.measure(b, ds)
		s.check(b, b.N, 2*b.N)
	})
	b.Run("update-no-note", func(b *testing.B) {
		// Linked deals whose order changed without a status change (an
		// amount edit): one crm.deal.update each, the 1-command case.
		s := newSyncBench(b)
		ds := s.linked(b, b.N)
		for i := range ds {
			ds[i].Order.Version++
			ds[i].Order.AmountMinor += 100
		}
		s.measure(b, ds)
		s.check(b, b.N, 0)
	})
	b.Run("mixed", func(b *testing.B) {
		// A third each: new orders, pending -> paid, changes without a note.
		s := newSyncBench(b)
		ds := s.linked(b, b.N)
		for i := range ds {
			switch i % 3 {
			case 0:
				o := benchOrder(b.N + i)
				ds[i] = core.Delivery{Order: o, Transitions: created(o)}
			case 1:
				ds[i].Order, ds[i].Transitions = paid(ds[i].Order)
			case 2:
				ds[i].Order.Version++
				ds[i].Order.AmountMinor += 100
			}
		}
		s.measure(b, ds)
		s.check(b, b.N+(b.N+2)/3, -1)
	})
	b.Run("one-call-per-deal", func(b *testing.B) {
		// The naive integration: one crm.deal.add per order through
		// Client.Call, no contact, no comment.
		s := newSyncBench(b)
		client := s.steadyClient(b)
		fields := make([]map[string]any, b.N)
		for i := range fields {
			p, err := s.m.Render(mapping.Input{Order: benchOrder(i)})
			if err != nil {
				b.Fatal(err)
			}
			fields[i] = p.Entity
		}
		before := s.p.Stats()
		b.ResetTimer()
		for i := range fields {
			if _, err := client.Call(context.Background(), "crm.deal.add", map[string]any{"fields": fields[i]}); err != nil {
				b.Fatal(err)
			}
		}
		b.StopTimer()
		s.report(b, before)
	})
}

type syncBench struct {
	p   *sandbox.Portal
	srv *httptest.Server
	m   *mapping.Mapping
}

func newSyncBench(b *testing.B) *syncBench {
	b.Helper()
	m, err := mapping.Shipped(bitrix24.Name)
	if err != nil {
		b.Fatal(err)
	}
	p := sandbox.New(sandbox.Options{}) // wall clock, default bucket
	srv := httptest.NewServer(p)
	b.Cleanup(func() { p.Close(); srv.Close() })
	return &syncBench{p: p, srv: srv, m: m}
}

// client returns a client with the default limiter, or none for r = rate.Inf.
func (s *syncBench) client(b *testing.B, r rate.Limit) *bitrix24.Client {
	c, err := bitrix24.New(bitrix24.Config{WebhookURL: s.p.WebhookURL(s.srv.URL), Rate: r})
	if err != nil {
		b.Fatal(err)
	}
	return c
}

// steadyClient returns a fresh client with the default budget and empties
// the portal's bucket, which has its default limits again. A fresh client
// assumes its burst share is spent (it cannot know what was sent before it
// started), so it runs at the steady rate from its first request.
func (s *syncBench) steadyClient(b *testing.B) *bitrix24.Client {
	b.Helper()
	s.p.SetLimiter(sandbox.DefaultBlockThreshold, sandbox.DefaultDrainPerSecond)
	s.p.DrainBucket()
	return s.client(b, 0)
}

func (s *syncBench) connector(b *testing.B, r rate.Limit) *bitrix24.Connector {
	c, err := bitrix24.NewConnector(bitrix24.ConnectorConfig{Client: s.client(b, r), Mapping: s.m})
	if err != nil {
		b.Fatal(err)
	}
	return c
}

func deliverAll(b *testing.B, c *bitrix24.Connector, ds []core.Delivery) []core.DeliveryResult {
	out := make([]core.DeliveryResult, 0, len(ds))
	for i := 0; i < len(ds); i += c.MaxBatch() {
		batch := ds[i:min(i+c.MaxBatch(), len(ds))]
		for j, r := range c.Deliver(context.Background(), batch) {
			if r.Err != nil {
				b.Fatalf("%s: %v", batch[j].Order.ID, r.Err)
			}
			out = append(out, r)
		}
	}
	return out
}

// linked creates n pending orders' deals untimed and unthrottled, and
// returns their deliveries with the links the dispatcher would store.
func (s *syncBench) linked(b *testing.B, n int) []core.Delivery {
	b.Helper()
	s.p.SetLimiter(1<<30, 1e9)
	ds := make([]core.Delivery, n)
	for i := range ds {
		o := benchOrder(i)
		ds[i] = core.Delivery{Order: o, Transitions: created(o)}
	}
	c := s.connector(b, rate.Inf)
	for i, r := range deliverAll(b, c, ds) {
		o := ds[i].Order
		ds[i] = core.Delivery{Order: o, Link: &core.CRMLink{Connector: bitrix24.Name, OrderID: o.ID, ExternalID: r.ExternalID,
			SyncedVersion: o.Version, SyncedStatus: o.Status, Data: r.LinkData}}
	}
	return ds
}

// measure delivers ds through a connector with the default client limiter,
// timed, starting with an empty bucket.
func (s *syncBench) measure(b *testing.B, ds []core.Delivery) {
	b.Helper()
	c, err := bitrix24.NewConnector(bitrix24.ConnectorConfig{Client: s.steadyClient(b), Mapping: s.m})
	if err != nil {
		b.Fatal(err)
	}
	before := s.p.Stats()
	b.ResetTimer()
	deliverAll(b, c, ds)
	b.StopTimer()
	s.report(b, before)
}

func (s *syncBench) report(b *testing.B, before sandbox.Stats) {
	after := s.p.Stats()
	if after.Rejected != before.Rejected {
		b.Fatalf("the portal refused %d requests", after.Rejected-before.Rejected)
	}
	n := float64(b.N)
	calls := 0
	for _, v := range after.Calls {
		calls += v
	}
	for _, v := range before.Calls {
		calls -= v
	}
	b.ReportMetric(n/b.Elapsed().Seconds(), "deals/s")
	b.ReportMetric(float64(after.Requests-before.Requests)/n, "requests/deal")
	b.ReportMetric(float64(calls)/n, "commands/deal")
}

// check verifies the portal after a run: one deal per order, one contact per
// customer, and a comment per note. comments < 0 skips the comment count.
func (s *syncBench) check(b *testing.B, deals, comments int) {
	b.Helper()
	all := s.p.Deals()
	if len(all) != deals {
		b.Fatalf("%d deals, want %d", len(all), deals)
	}
	seen := map[string]bool{}
	for _, d := range all {
		if seen[d.OriginID] {
			b.Fatalf("order %s has two deals", d.OriginID)
		}
		seen[d.OriginID] = true
		if len(d.ContactIDs) != 1 {
			b.Fatalf("deal %d has contacts %v", d.ID, d.ContactIDs)
		}
	}
	if n := len(s.p.Contacts()); n != deals {
		b.Fatalf("%d contacts for %d customers", n, deals)
	}
	if comments < 0 {
		return
	}
	n := 0
	for _, d := range all {
		n += len(s.p.Comments(d.ID))
	}
	if n < comments {
		b.Fatalf("%d timeline comments, want at least %d", n, comments)
	}
}

// benchOrder is a pending order of its own customer (a unique phone and e-mail).
func benchOrder(i int) core.Order {
	o := connectortest.Order("BENCH-" + strconv.Itoa(i))
	o.Customer.Phone = fmt.Sprintf("+37493%06d", i)
	o.Customer.Email = "buyer" + strconv.Itoa(i) + "@example.com"
	o.Customer.Handle = "buyer" + strconv.Itoa(i)
	return o
}

// created is the journal entry of a new order, which gives its first note.
func created(o core.Order) []core.JournalEntry {
	return []core.JournalEntry{{OrderID: o.ID, Source: core.SourceAPI, Verdict: core.VerdictCreated,
		StatusAfter: core.StatusPending, OrderVersion: o.Version, CreatedAt: o.CreatedAt}}
}

// paid moves o to paid with its journal entry.
func paid(o core.Order) (core.Order, []core.JournalEntry) {
	o.Status, o.Version = core.StatusPaid, o.Version+1
	o.ProviderRef = "REF-" + o.ID
	at := o.UpdatedAt.Add(time.Minute)
	o.UpdatedAt, o.StatusChangedAt, o.PaidAt = at, at, &at
	return o, []core.JournalEntry{{OrderID: o.ID, Source: core.SourceWebhook, Verdict: core.VerdictAccepted,
		StatusBefore: core.StatusPending, StatusAfter: core.StatusPaid, AmountMinor: o.AmountMinor,
		Currency: o.Currency, OrderVersion: o.Version, CreatedAt: at}}
}
