package bitrix24_test

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/paysync/paysync/connectors/bitrix24"
	"github.com/paysync/paysync/connectors/connectortest"
	"github.com/paysync/paysync/core"
	"github.com/paysync/paysync/mapping"
	sandbox "github.com/paysync/paysync/sandbox/bitrix24"
)

// harness runs the CRM conformance suite against the sandbox portal with the
// shipped mapping/bitrix24.yaml.
type harness struct {
	m *mapping.Mapping
	p *portal
}

func shippedMapping(t *testing.T) *mapping.Mapping {
	t.Helper()
	m, err := mapping.Shipped(bitrix24.Name)
	if err != nil {
		t.Fatalf("shipped bitrix24 mapping: %v", err)
	}
	return m
}

func newConnector(t testing.TB, p *portal, m bitrix24.Renderer) *bitrix24.Connector {
	t.Helper()
	c, err := bitrix24.NewConnector(bitrix24.ConnectorConfig{Client: p.webhookClient(t), Mapping: m})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func (h *harness) NewConnector(t *testing.T) core.Connector {
	h.p = newPortal(t, sandbox.Options{})
	return newConnector(t, h.p, h.m)
}

func (h *harness) Records(t *testing.T, orderID string) []connectortest.Record {
	var out []connectortest.Record
	for _, d := range h.p.DealsByOrigin(bitrix24.DefaultOriginatorID, orderID) {
		minor, err := core.ParseDecimal(d.Opportunity, d.CurrencyID)
		if err != nil {
			t.Fatalf("deal %d OPPORTUNITY %q: %v", d.ID, d.Opportunity, err)
		}
		out = append(out, connectortest.Record{ExternalID: strconv.Itoa(d.ID), Stage: d.StageID, AmountMinor: minor,
			Title: d.Title, Contact: fmt.Sprint(d.ContactIDs)})
	}
	return out
}

func (h *harness) StageFor(s core.Status) string {
	o := connectortest.Order("STAGE-PROBE")
	o.Status = s
	p, err := h.m.Render(mapping.Input{Order: o})
	if err != nil {
		panic(err)
	}
	return p.Stage
}

func (h *harness) LaterStage() string {
	stages := h.m.Stages()
	i := slices.Index(stages, h.StageFor(core.StatusPaid))
	return stages[i+1]
}

func (h *harness) SetStage(t *testing.T, orderID, stage string) {
	deals := h.p.DealsByOrigin(bitrix24.DefaultOriginatorID, orderID)
	if len(deals) != 1 {
		t.Fatalf("order %s has %d deals", orderID, len(deals))
	}
	if err := h.p.SetDealStage(deals[0].ID, stage); err != nil {
		t.Fatal(err)
	}
}

func (h *harness) LoseNextCreateResponse(*testing.T) {
	h.p.LoseResponseAfterCreate(1, sandbox.LoseConnection)
}

func (h *harness) ExhaustRateLimit(*testing.T) { h.p.FillBucket() }
func (h *harness) WaitRateLimit(*testing.T)    { h.p.clock.Advance(30 * time.Second) }

func (h *harness) MakeInvalid(t *testing.T, o *core.Order) string {
	h.p.DisableCurrency("GBP")
	o.Currency = "GBP"
	return "enable GBP in CRM > Settings > Currencies"
}

func (h *harness) BreakCredentials(*testing.T) { h.p.SetWebhookCode("rotatedcode42") }

// RebuildAccount forgets every deal and contact: ids count from 1 again.
func (h *harness) RebuildAccount(*testing.T) { h.p.Reset() }

func (h *harness) Secrets() []string {
	return []string{h.p.WebhookURL(h.p.srv.URL), sandbox.DefaultWebhookCode}
}

func TestConformance(t *testing.T) {
	connectortest.Run(t, &harness{m: shippedMapping(t)})
}

func deliverOne(t *testing.T, c core.Connector, d core.Delivery) core.DeliveryResult {
	t.Helper()
	r := c.Deliver(context.Background(), []core.Delivery{d})[0]
	if r.Err != nil {
		t.Fatalf("deliver %s: %v", d.Order.ID, r.Err)
	}
	return r
}

func TestDeliverTwoRequestsContactsAndNotes(t *testing.T) {
	p := newPortal(t, sandbox.Options{})
	c := newConnector(t, p, shippedMapping(t))
	// An existing customer: found by phone, not created again.
	known := connectortest.Order("N-1")
	if _, err := p.webhookClient(t).Call(context.Background(), "crm.contact.add", map[string]any{"fields": map[string]any{
		"NAME": "Ani", "PHONE": []map[string]string{{"VALUE": known.Customer.Phone, "VALUE_TYPE": "MOBILE"}}}}); err != nil {
		t.Fatal(err)
	}
	// Two orders of one new customer in one batch share one new contact.
	a, b := connectortest.Order("N-2"), connectortest.Order("N-3")
	b.Customer = a.Customer
	a.PaymentURL = "https://pay.example/a"
	before := p.Stats().Requests
	res := c.Deliver(context.Background(), []core.Delivery{
		{Order: known}, {Order: a, Transitions: []core.JournalEntry{{StatusAfter: core.StatusPending}}}, {Order: b},
	})
	for i, r := range res {
		if r.Err != nil {
			t.Fatalf("item %d: %v", i, r.Err)
		}
	}
	if n := p.Stats().Requests - before; n != 2 {
		t.Fatalf("one delivery made %d requests, want 2 (lookup + write)", n)
	}
	contacts := p.Contacts()
	if len(contacts) != 2 {
		t.Fatalf("%d contacts, want the known one and one new: %+v", len(contacts), contacts)
	}
	for i, want := range []int{1, 2, 2} {
		var ld bitrix24.LinkData
		_ = json.Unmarshal([]byte(res[i].LinkData), &ld)
		id, _ := strconv.Atoi(res[i].ExternalID)
		d, _ := p.Deal(id)
		if ld.ContactID != want || len(d.ContactIDs) != 1 || d.ContactIDs[0] != want {
			t.Fatalf("item %d: link contact %d, deal contacts %v, want %d", i, ld.ContactID, d.ContactIDs, want)
		}
		if ld.Stage != d.StageID {
			t.Fatalf("item %d: link stage %q, deal stage %q", i, ld.Stage, d.StageID)
		}
	}
	id, _ := strconv.Atoi(res[1].ExternalID)
	if cm := p.Comments(id); len(cm) != 1 || !strings.Contains(cm[0], "https://pay.example/a") {
		t.Fatalf("timeline comments: %q", cm)
	}
	d, _ := p.Deal(id)
	if d.Opportunity != "15000.00" || d.CurrencyID != "AMD" || !strings.Contains(d.Title, "N-2") || d.Fields["UF_CRM_INSTAGRAM"] == "" {
		t.Fatalf("deal fields: %+v", d)
	}
}

func TestDeletedDealIsRecreated(t *testing.T) {
	p := newPortal(t, sandbox.Options{})
	c := newConnector(t, p, shippedMapping(t))
	o := connectortest.Order("DEL-1")
	r := deliverOne(t, c, core.Delivery{Order: o})
	id, _ := strconv.Atoi(r.ExternalID)
	p.DeleteDeal(id)
	o.Version++
	r2 := deliverOne(t, c, core.Delivery{Order: o, Link: &core.CRMLink{ExternalID: r.ExternalID, Data: r.LinkData}})
	if r2.ExternalID == r.ExternalID || len(p.DealsByOrigin("paysync", o.ID)) != 1 {
		t.Fatalf("deleted deal: %s -> %s, deals %+v", r.ExternalID, r2.ExternalID, p.Deals())
	}
}

func TestDisabledAMD(t *testing.T) {
	p := newPortal(t, sandbox.Options{})
	c := newConnector(t, p, shippedMapping(t))
	p.DisableCurrency("AMD")
	r := c.Deliver(context.Background(), []core.Delivery{{Order: connectortest.Order("AMD-1")}})[0]
	de := classOf(t, r.Err)
	if de.Class != core.Permanent || !strings.Contains(de.Reason, "Bitrix24 rejected CURRENCY_ID AMD: enable AMD in CRM > Settings > Currencies") {
		t.Fatalf("disabled AMD: %v", r.Err)
	}
}

func TestLookupFailureFailsEveryItem(t *testing.T) {
	p := newPortal(t, sandbox.Options{})
	c := newConnector(t, p, shippedMapping(t))
	p.FailNext(1, 503)
	res := c.Deliver(context.Background(), []core.Delivery{{Order: connectortest.Order("F-1")}, {Order: connectortest.Order("F-2")}})
	for i, r := range res {
		if classOf(t, r.Err).Class != core.Retryable {
			t.Fatalf("item %d: %v", i, r.Err)
		}
	}
	if len(p.Deals()) != 0 {
		t.Fatal("nothing may be written without a lookup")
	}
}

func TestSameOrderTwiceInABatch(t *testing.T) {
	p := newPortal(t, sandbox.Options{})
	c := newConnector(t, p, shippedMapping(t))
	o := connectortest.Order("TWICE-1")
	paid := o
	paid.Status, paid.Version = core.StatusPaid, 2
	res := c.Deliver(context.Background(), []core.Delivery{{Order: o}, {Order: paid}})
	if res[0].Err != nil || res[1].Err != nil || res[0].ExternalID != res[1].ExternalID {
		t.Fatalf("results: %+v", res)
	}
	deals := p.DealsByOrigin("paysync", o.ID)
	if len(deals) != 1 || deals[0].StageID != "EXECUTING" {
		t.Fatalf("deals: %+v", deals)
	}
}

// BenchmarkDeliverFullBatch measures one full delivery (lookup + write batch)
// against the sandbox over loopback, the connector's own cost per batch.
func BenchmarkDeliverFullBatch(b *testing.B) {
	p := newPortal(b, sandbox.Options{BlockThreshold: 1 << 30})
	m, err := mapping.Shipped(bitrix24.Name)
	if err != nil {
		b.Fatal(err)
	}
	c := newConnector(b, p, m)
	batch := make([]core.Delivery, c.MaxBatch())
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for j := range batch {
			batch[j] = core.Delivery{Order: connectortest.Order("B-" + strconv.Itoa(i) + "-" + strconv.Itoa(j))}
		}
		for _, r := range c.Deliver(context.Background(), batch) {
			if r.Err != nil {
				b.Fatal(r.Err)
			}
		}
	}
	b.ReportMetric(float64(b.N*len(batch))/b.Elapsed().Seconds(), "orders/s")
}

// After the portal was rebuilt (ids restart), the link of SHOP-1 names the
// deal and contact that now belong to SHOP-2. SHOP-1 gets its own deal and
// its own contact; SHOP-2's deal keeps its title, amount, stage, contact and
// comments. A deal that a manager made (no ORIGINATOR_ID) is not touched
// either.
func TestRebuiltPortalNeverTouchesAnotherOrdersDeal(t *testing.T) {
	p := newPortal(t, sandbox.Options{})
	c := newConnector(t, p, shippedMapping(t))
	shop1, shop2 := benchOrder(1), benchOrder(2)
	shop1.ID, shop2.ID = "SHOP-1", "SHOP-2"
	r1 := deliverOne(t, c, core.Delivery{Order: shop1, Transitions: created(shop1)})
	p.Reset()
	paid2, tr2 := paid(shop2)
	r2 := deliverOne(t, c, core.Delivery{Order: paid2, Transitions: tr2})
	if r2.ExternalID != r1.ExternalID {
		t.Fatalf("after the rebuild SHOP-2 got deal %s, want the reused id %s", r2.ExternalID, r1.ExternalID)
	}
	before := dealOf(t, p, r2)
	comments := p.Comments(before.ID)

	shop1.Version++
	r := deliverOne(t, c, core.Delivery{Order: shop1, Link: &core.CRMLink{ExternalID: r1.ExternalID, Data: r1.LinkData}})
	after := dealOf(t, p, r2)
	if after.Title != before.Title || after.Opportunity != before.Opportunity || after.StageID != before.StageID ||
		fmt.Sprint(after.ContactIDs) != fmt.Sprint(before.ContactIDs) || len(p.Comments(before.ID)) != len(comments) || after.OriginID != "SHOP-2" {
		t.Fatalf("SHOP-2's deal changed:\nbefore %+v\nafter  %+v", before, after)
	}
	own := dealOf(t, p, r)
	if own.ID == before.ID || own.OriginID != "SHOP-1" || len(own.ContactIDs) != 1 || own.ContactIDs[0] == before.ContactIDs[0] {
		t.Fatalf("SHOP-1's deal %+v must be its own, with its own contact (SHOP-2's is %v)", own, before.ContactIDs)
	}
	if want := "linked deal " + r1.ExternalID + " belongs to order SHOP-2; wrote deal " + r.ExternalID + " instead"; r.Notice != want {
		t.Fatalf("notice %q, want %q", r.Notice, want)
	}

	// A manager's deal has the id of SHOP-3's old link.
	resp, err := p.webhookClient(t).Call(context.Background(), "crm.deal.add", map[string]any{"fields": map[string]any{"TITLE": "phone order", "OPPORTUNITY": 500}})
	if err != nil {
		t.Fatal(err)
	}
	var manual int
	_ = resp.Decode(&manual)
	shop3 := benchOrder(3)
	shop3.Version = 2
	r3 := deliverOne(t, c, core.Delivery{Order: shop3, Link: &core.CRMLink{ExternalID: strconv.Itoa(manual), Data: `{"contact_id":1,"stage":"NEW"}`}})
	if d, _ := p.Deal(manual); d.Title != "phone order" || d.Opportunity != "500.00" || len(d.ContactIDs) != 0 {
		t.Fatalf("the manager's deal was written: %+v", d)
	}
	if r3.ExternalID == strconv.Itoa(manual) || !strings.Contains(r3.Notice, "belongs to no order") {
		t.Fatalf("SHOP-3: deal %s, notice %q", r3.ExternalID, r3.Notice)
	}
}
