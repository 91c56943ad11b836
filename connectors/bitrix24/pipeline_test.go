package bitrix24_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/time/rate"

	"github.com/paysync/paysync/connectors/bitrix24"
	"github.com/paysync/paysync/core"
	sandbox "github.com/paysync/paysync/sandbox/bitrix24"
)

func dealOf(t *testing.T, p *portal, r core.DeliveryResult) sandbox.Deal {
	t.Helper()
	id, _ := strconv.Atoi(r.ExternalID)
	d, ok := p.Deal(id)
	if !ok {
		t.Fatalf("deal %s not found", r.ExternalID)
	}
	return d
}

// A full delivery runs as a pipeline: the writes of 250 new orders go out in
// full requests, existing customers are found by grouped searches (in any
// phone format), and a customer with orders far apart in the batch gets one
// contact.
func TestPipelineFullDelivery(t *testing.T) {
	p := newPortal(t, sandbox.Options{})
	client := p.webhookClient(t)
	c := newConnector(t, p, shippedMapping(t))
	ctx := context.Background()
	// Existing customers: order 10's by phone (written with spaces), order
	// 111's by e-mail only.
	addContact := func(fields map[string]any) int {
		resp, err := client.Call(ctx, "crm.contact.add", map[string]any{"fields": fields})
		if err != nil {
			t.Fatal(err)
		}
		var id int
		_ = resp.Decode(&id)
		return id
	}
	byPhone := addContact(map[string]any{"NAME": "Old", "PHONE": []map[string]string{{"VALUE": "+374 93 000 010", "VALUE_TYPE": "MOBILE"}}})
	byEmail := addContact(map[string]any{"NAME": "Old", "EMAIL": []map[string]string{{"VALUE": "Buyer111@Example.com", "VALUE_TYPE": "WORK"}}})

	ds := make([]core.Delivery, 250)
	for i := range ds {
		o := benchOrder(i)
		if i == 200 {
			o.Customer = ds[5].Order.Customer // a second order, far from the first
		}
		ds[i] = core.Delivery{Order: o, Transitions: created(o)}
	}
	before := p.Stats().Requests
	res := c.Deliver(ctx, ds)
	requests := p.Stats().Requests - before
	for i, r := range res {
		if r.Err != nil {
			t.Fatalf("item %d: %v", i, r.Err)
		}
	}
	// 250 orders x (contact, deal, comment) = 747 writes (two contacts
	// exist, one is shared): 15 full requests, one that only looks up, one
	// for the leftovers and the contact resolution.
	calls := p.Stats().Calls
	t.Logf("%d requests, %v", requests, calls)
	if requests > 17 {
		t.Fatalf("%d requests for %d orders", requests, len(ds))
	}
	if calls["crm.contact.list"] != 2 {
		t.Fatalf("crm.contact.list ran %d times, want 2: one per search group with a hit", calls["crm.contact.list"])
	}
	phones := map[int][]string{}
	for _, ct := range p.Contacts() {
		phones[ct.ID] = ct.Phones
	}
	if n := len(phones); n != 2+len(ds)-3 {
		t.Fatalf("%d contacts, want %d", n, 2+len(ds)-3)
	}
	for i, r := range res {
		d := dealOf(t, p, r)
		if d.OriginID != ds[i].Order.ID || len(d.ContactIDs) != 1 || len(p.Comments(d.ID)) != 1 {
			t.Fatalf("item %d: deal %+v, comments %q", i, d, p.Comments(d.ID))
		}
		var ld bitrix24.LinkData
		_ = json.Unmarshal([]byte(r.LinkData), &ld)
		cid := d.ContactIDs[0]
		switch i {
		case 10:
			if cid != byPhone {
				t.Fatalf("order 10 has contact %d, want %d found by phone", cid, byPhone)
			}
		case 111:
			if cid != byEmail {
				t.Fatalf("order 111 has contact %d, want %d found by e-mail", cid, byEmail)
			}
		case 200:
			if want := dealOf(t, p, res[5]).ContactIDs[0]; cid != want {
				t.Fatalf("order 200 has contact %d, order 5 of the same customer %d", cid, want)
			}
		default:
			if len(phones[cid]) != 1 || phones[cid][0] != ds[i].Order.Customer.Phone {
				t.Fatalf("item %d: contact %d has phones %v, want %s", i, cid, phones[cid], ds[i].Order.Customer.Phone)
			}
		}
		if ld.ContactID != cid || ld.Stage != d.StageID {
			t.Fatalf("item %d: link data %+v, deal contact %d stage %s", i, ld, cid, d.StageID)
		}
	}
}

// An update that sets no new stage leaves the stage a manager chose, even a
// backward move. Its linked deal is checked first (one grouped lookup); when
// the deal was deleted, the same delivery finds the order's contact again
// and makes a new deal with it, and says so.
func TestUpdateKeepsManagersStage(t *testing.T) {
	p := newPortal(t, sandbox.Options{})
	c := newConnector(t, p, shippedMapping(t))
	a, b := benchOrder(1), benchOrder(2)
	first := c.Deliver(context.Background(), []core.Delivery{{Order: a}, {Order: b}})
	for _, r := range first {
		if r.Err != nil {
			t.Fatal(r.Err)
		}
	}
	kept, gone := dealOf(t, p, first[0]), dealOf(t, p, first[1])
	if err := p.SetDealStage(kept.ID, "NEW"); err != nil {
		t.Fatal(err)
	}
	p.DeleteDeal(gone.ID)
	contacts := len(p.Contacts())

	a2, b2 := a, b
	a2.Version, a2.AmountMinor = 2, 1600000
	b2.Version, b2.AmountMinor = 2, 1700000
	before := p.Stats().Requests
	res := c.Deliver(context.Background(), []core.Delivery{
		{Order: a2, Link: &core.CRMLink{ExternalID: first[0].ExternalID, Data: first[0].LinkData}},
		{Order: b2, Link: &core.CRMLink{ExternalID: first[1].ExternalID, Data: first[1].LinkData}},
	})
	for i, r := range res {
		if r.Err != nil {
			t.Fatalf("item %d: %v", i, r.Err)
		}
	}
	// The check of both links; a's update with b's lookups by ORIGIN_ID and
	// contact; b's new deal.
	if n := p.Stats().Requests - before; n != 3 {
		t.Fatalf("%d requests, want 3", n)
	}
	if d := dealOf(t, p, res[0]); d.ID != kept.ID || d.StageID != "NEW" || d.Opportunity != "16000.00" || res[0].Notice != "" {
		t.Fatalf("kept deal: %+v, notice %q", d, res[0].Notice)
	}
	d := dealOf(t, p, res[1])
	if d.ID == gone.ID || d.Opportunity != "17000.00" || len(p.DealsByOrigin("paysync", b.ID)) != 1 {
		t.Fatalf("recreated deal: %+v", d)
	}
	if len(d.ContactIDs) != 1 || d.ContactIDs[0] != gone.ContactIDs[0] || len(p.Contacts()) != contacts {
		t.Fatalf("the new deal must keep the customer's contact %v: %v, %d contacts (was %d)",
			gone.ContactIDs, d.ContactIDs, len(p.Contacts()), contacts)
	}
	want := "linked deal " + first[1].ExternalID + " no longer exists; wrote deal " + res[1].ExternalID + " instead"
	if res[1].Notice != want {
		t.Fatalf("notice %q, want %q", res[1].Notice, want)
	}
	// With the new link: its check and the update, nothing else.
	before = p.Stats().Requests
	if r := c.Deliver(context.Background(), []core.Delivery{{Order: b2, Link: &core.CRMLink{ExternalID: res[1].ExternalID, Data: res[1].LinkData}}})[0]; r.Err != nil || r.ExternalID != res[1].ExternalID || r.Notice != "" {
		t.Fatalf("update of the new deal: %+v", r)
	}
	if n := p.Stats().Requests - before; n != 2 {
		t.Fatalf("%d requests, want 2", n)
	}
}

// A delivery that runs out of time stops between requests: what was written
// is reported, the rest is retryable without slowing the connector down, and
// the retry makes no duplicates.
func TestDeliverStopsBeforeDeadline(t *testing.T) {
	p := newPortal(t, sandbox.Options{})
	// The wall clock: a fresh client runs at the drain rate, 4 requests/s.
	slow, err := bitrix24.New(bitrix24.Config{WebhookURL: p.WebhookURL(p.srv.URL), Rate: 4})
	if err != nil {
		t.Fatal(err)
	}
	c, err := bitrix24.NewConnector(bitrix24.ConnectorConfig{Client: slow, Mapping: shippedMapping(t)})
	if err != nil {
		t.Fatal(err)
	}
	ds := make([]core.Delivery, bitrix24.DefaultMaxBatch)
	for i := range ds {
		ds[i] = core.Delivery{Order: benchOrder(i)}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3500*time.Millisecond)
	defer cancel()
	res := c.Deliver(ctx, ds)
	var done, left []core.Delivery
	for i, r := range res {
		if r.Err == nil {
			done = append(done, ds[i])
			continue
		}
		if de := classOf(t, r.Err); de.Class != core.Retryable || de.SlowDown || !strings.Contains(de.Reason, "ran out of time") {
			t.Fatalf("item %d: %v", i, r.Err)
		}
		left = append(left, ds[i])
	}
	t.Logf("%d delivered, %d left", len(done), len(left))
	if len(done) == 0 || len(left) == 0 {
		t.Fatalf("%d delivered, %d left: want some of each", len(done), len(left))
	}
	for i, r := range newConnector(t, p, shippedMapping(t)).Deliver(context.Background(), left) {
		if r.Err != nil {
			t.Fatalf("retry of %s: %v", left[i].Order.ID, r.Err)
		}
	}
	if n := len(p.Deals()); n != len(ds) {
		t.Fatalf("%d deals for %d orders", n, len(ds))
	}
}

// refuser passes requests to the portal but refuses, inside batches, every
// crm.duplicate.findbycomm that asks for a poisoned value, as the portal
// refuses a command it cannot run.
type refuser struct {
	portal http.Handler
	poison string
}

func (f refuser) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !strings.HasSuffix(r.URL.Path, "/batch.json") {
		f.portal.ServeHTTP(w, r)
		return
	}
	body, _ := io.ReadAll(r.Body)
	var req struct {
		Cmd map[string]string `json:"cmd"`
	}
	_ = json.Unmarshal(body, &req)
	var refused []string
	for k, v := range req.Cmd {
		if !strings.HasPrefix(v, "crm.duplicate.findbycomm?") || !strings.Contains(v, url.QueryEscape(f.poison)) {
			continue
		}
		kb, _ := json.Marshal(k)
		vb, _ := json.Marshal(v)
		pair := string(kb) + ":" + string(vb)
		s := string(body)
		if strings.Contains(s, pair+",") {
			pair += ","
		} else if strings.Contains(s, ","+pair) {
			pair = "," + pair
		}
		body = []byte(strings.Replace(s, pair, "", 1))
		refused = append(refused, k)
	}
	r2 := r.Clone(r.Context())
	r2.Body, r2.ContentLength = io.NopCloser(bytes.NewReader(body)), int64(len(body))
	rec := httptest.NewRecorder()
	f.portal.ServeHTTP(rec, r2)
	if len(refused) == 0 || rec.Code != http.StatusOK {
		w.WriteHeader(rec.Code)
		_, _ = w.Write(rec.Body.Bytes())
		return
	}
	dec := json.NewDecoder(rec.Body)
	dec.UseNumber()
	var answer map[string]any
	_ = dec.Decode(&answer)
	result := answer["result"].(map[string]any)
	errs, ok := result["result_error"].(map[string]any) // [] when empty
	if !ok {
		errs = map[string]any{}
	}
	for _, k := range refused {
		errs[k] = map[string]string{"error": "", "error_description": "Invalid communication value"}
	}
	result["result_error"] = errs
	out, _ := json.Marshal(answer)
	_, _ = w.Write(out)
}

// When the portal refuses a grouped search because of one order's value,
// the connector asks for each value alone: only that order fails, and
// permanently, with the portal's reason.
func TestRefusedSearchFailsOnlyItsOrder(t *testing.T) {
	clock := sandbox.NewManualClock(t0)
	sp := sandbox.New(sandbox.Options{Now: clock.Now})
	srv := httptest.NewServer(refuser{portal: sp, poison: "poison@example.com"})
	t.Cleanup(func() { sp.Close(); srv.Close() })
	client, err := bitrix24.New(bitrix24.Config{WebhookURL: sp.WebhookURL(srv.URL), Rate: rate.Inf, Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	c, err := bitrix24.NewConnector(bitrix24.ConnectorConfig{Client: client, Mapping: shippedMapping(t)})
	if err != nil {
		t.Fatal(err)
	}
	// 30 orders: too many searches for one per value, so they are grouped.
	ds := make([]core.Delivery, 30)
	for i := range ds {
		ds[i] = core.Delivery{Order: benchOrder(i)}
	}
	ds[7].Order.Customer.Email = "poison@example.com"
	res := c.Deliver(context.Background(), ds)
	for i, r := range res {
		if i != 7 {
			if r.Err != nil {
				t.Fatalf("item %d: %v", i, r.Err)
			}
			continue
		}
		if de := classOf(t, r.Err); de.Class != core.Permanent || !strings.Contains(de.Reason, "Invalid communication value") {
			t.Fatalf("the poisoned order: %v", r.Err)
		}
	}
	if n := len(sp.Deals()); n != len(ds)-1 {
		t.Fatalf("%d deals, want %d", n, len(ds)-1)
	}
	if st := sp.Stats(); st.Calls["crm.duplicate.findbycomm"] < 20 {
		t.Fatalf("the refused group was not split: %d searches", st.Calls["crm.duplicate.findbycomm"])
	}
}
