package amocrm_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/paysync/paysync/connectors/amocrm"
	"github.com/paysync/paysync/connectors/connectortest"
	"github.com/paysync/paysync/core"
	"github.com/paysync/paysync/mapping"
	sandbox "github.com/paysync/paysync/sandbox/amocrm"
)

// account is a sandbox amoCRM account served over loopback.
type account struct {
	*sandbox.Account
	srv *httptest.Server
}

func newAccount(t testing.TB, opts sandbox.Options) *account {
	t.Helper()
	a := sandbox.New(opts)
	srv := httptest.NewServer(a)
	t.Cleanup(func() { a.Close(); srv.Close() })
	return &account{Account: a, srv: srv}
}

// client returns a client with the long-lived token and the default limiter.
func (a *account) client(t testing.TB) *amocrm.Client {
	t.Helper()
	c, err := amocrm.New(amocrm.Config{BaseURL: a.srv.URL, Tokens: amocrm.LongLivedToken(a.AccessToken())})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func shippedMapping(t testing.TB) *mapping.Mapping {
	t.Helper()
	m, err := mapping.Shipped(amocrm.Name)
	if err != nil {
		t.Fatalf("shipped amocrm mapping: %v", err)
	}
	return m
}

func newConnector(t testing.TB, a *account, m amocrm.Renderer) *amocrm.Connector {
	t.Helper()
	c, err := amocrm.NewConnector(amocrm.ConnectorConfig{Client: a.client(t), Mapping: m})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// harness runs the CRM conformance suite against the sandbox account with
// the shipped mapping/amocrm.yaml.
type harness struct {
	m *mapping.Mapping
	a *account
}

func (h *harness) NewConnector(t *testing.T) core.Connector {
	h.a = newAccount(t, sandbox.Options{})
	return newConnector(t, h.a, h.m)
}

func (h *harness) Records(t *testing.T, orderID string) []connectortest.Record {
	var out []connectortest.Record
	for _, l := range h.a.LeadsByOrder(orderID) {
		out = append(out, connectortest.Record{ExternalID: strconv.Itoa(l.ID), Stage: strconv.Itoa(l.StatusID),
			AmountMinor: l.Price * 100, Title: l.Name, Contact: fmt.Sprint(l.ContactIDs)})
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
	return stages[slices.Index(stages, h.StageFor(core.StatusPaid))+1]
}

func (h *harness) SetStage(t *testing.T, orderID, stage string) {
	leads := h.a.LeadsByOrder(orderID)
	if len(leads) != 1 {
		t.Fatalf("order %s has %d leads", orderID, len(leads))
	}
	st, _ := strconv.Atoi(stage)
	if err := h.a.SetLeadStatus(leads[0].ID, st); err != nil {
		t.Fatal(err)
	}
}

func (h *harness) LoseNextCreateResponse(*testing.T) {
	h.a.LoseResponseAfterCreate(1, sandbox.LoseConnection)
}

func (h *harness) ExhaustRateLimit(*testing.T) { h.a.Throttle(true) }
func (h *harness) WaitRateLimit(*testing.T)    { h.a.Throttle(false) }

// MakeInvalid sends the order's delivery method to the "Other" choice of
// the Delivery field, which a manager deleted.
func (h *harness) MakeInvalid(t *testing.T, o *core.Order) string {
	h.a.DeleteEnum(sandbox.FieldDelivery, sandbox.EnumDeliveryAny)
	o.Shipping = map[string]any{"method": "drone"}
	// Where the field lands in the list depends on which fields the order
	// fills (a payment link adds one before it).
	p, err := h.m.Render(mapping.Input{Order: *o})
	if err != nil {
		t.Fatal(err)
	}
	cfs, _ := p.Entity["custom_fields_values"].([]any)
	for i, cf := range cfs {
		if fmt.Sprint(cf.(map[string]any)["field_id"]) == fmt.Sprint(sandbox.FieldDelivery) {
			return fmt.Sprintf("lead field %d at custom_fields_values.%d.values.0.enum_id: NotSupportedChoice", sandbox.FieldDelivery, i)
		}
	}
	t.Fatalf("the mapping writes no Delivery field: %v", cfs)
	return ""
}

func (h *harness) BreakCredentials(*testing.T) { h.a.SetAccessToken("rotated-long-lived-token-42") }

func (h *harness) Secrets() []string { return []string{sandbox.DefaultAccessToken} }

func (h *harness) RebuildAccount(*testing.T) { h.a.Rebuild() }

func TestConformance(t *testing.T) {
	connectortest.Run(t, &harness{m: shippedMapping(t)})
}

func deliverAll(t testing.TB, c core.Connector, ds ...core.Delivery) []core.DeliveryResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res := c.Deliver(ctx, ds)
	if len(res) != len(ds) {
		t.Fatalf("%d results for %d deliveries", len(res), len(ds))
	}
	return res
}

func mustDeliver(t testing.TB, c core.Connector, ds ...core.Delivery) []core.DeliveryResult {
	t.Helper()
	res := deliverAll(t, c, ds...)
	for i, r := range res {
		if r.Err != nil {
			t.Fatalf("%s: %v", ds[i].Order.ID, r.Err)
		}
	}
	return res
}

func linkOf(o core.Order, r core.DeliveryResult) *core.CRMLink {
	return &core.CRMLink{Connector: amocrm.Name, OrderID: o.ID, ExternalID: r.ExternalID, SyncedVersion: o.Version,
		SyncedStatus: o.Status, Data: r.LinkData}
}

// paid moves o to paid with its journal entry.
func paid(o core.Order) (core.Order, []core.JournalEntry) {
	from := o.Status
	o.Status, o.Version = core.StatusPaid, o.Version+1
	o.ProviderRef = "REF-" + o.ID
	at := o.UpdatedAt.Add(time.Minute)
	o.UpdatedAt, o.StatusChangedAt, o.PaidAt = at, at, &at
	return o, []core.JournalEntry{{OrderID: o.ID, Source: core.SourceWebhook, Verdict: core.VerdictAccepted,
		StatusBefore: from, StatusAfter: core.StatusPaid, AmountMinor: o.AmountMinor, Currency: o.Currency,
		OrderVersion: o.Version, CreatedAt: at}}
}

// calls counts the requests the account ran since before, by "METHOD /path".
func calls(a *account, before sandbox.Stats) map[string]int {
	out := map[string]int{}
	for k, v := range a.Stats().Calls {
		if d := v - before.Calls[k]; d > 0 {
			out[k] = d
		}
	}
	return out
}

func sameCalls(got, want map[string]int) bool {
	if len(got) != len(want) {
		return false
	}
	for k, v := range want {
		if got[k] != v {
			return false
		}
	}
	return true
}

// TestLatePaymentKeepsManagersStatusAndTags: a manager moved the lead on
// and tagged it; the payment adds its note and its tag, swaps paysync's own
// status tag, and leaves the status and the manager's tag alone.
func TestLatePaymentKeepsManagersStatusAndTags(t *testing.T) {
	t.Parallel()
	a := newAccount(t, sandbox.Options{})
	c := newConnector(t, a, shippedMapping(t))
	o := connectortest.Order("TAG-1")
	r := mustDeliver(t, c, core.Delivery{Order: o})[0]
	id, _ := strconv.ParseInt(r.ExternalID, 10, 64)
	if err := a.SetLeadStatus(int(id), sandbox.StatusShipped); err != nil {
		t.Fatal(err)
	}
	if _, err := a.client(t).UpdateLeads(context.Background(), []map[string]any{{"id": id, "tags_to_add": []any{map[string]any{"name": "vip"}}}}); err != nil {
		t.Fatal(err)
	}
	p, tr := paid(o)
	before := a.Stats()
	r2 := mustDeliver(t, c, core.Delivery{Order: p, Link: linkOf(o, r), Transitions: tr})[0]
	if r2.ExternalID != r.ExternalID {
		t.Fatalf("paid went to lead %s, not %s", r2.ExternalID, r.ExternalID)
	}
	want := map[string]int{"GET /api/v4/leads": 1, "PATCH /api/v4/leads": 1, "POST /api/v4/leads/notes": 1}
	if got := calls(a, before); !sameCalls(got, want) {
		t.Fatalf("requests %v, want %v", got, want)
	}
	l, _ := a.Lead(int(id))
	slices.Sort(l.Tags)
	if l.StatusID != sandbox.StatusShipped || strings.Join(l.Tags, ",") != "instagram,paid,paysync,vip" {
		t.Fatalf("lead after a late payment: status %d tags %v", l.StatusID, l.Tags)
	}
	notes := a.Notes(int(id))
	if len(notes) != 1 || !strings.HasPrefix(notes[0].Text, "Paid 15") {
		t.Fatalf("notes %+v", notes)
	}
	var ld amocrm.LinkData
	if err := json.Unmarshal([]byte(r2.LinkData), &ld); err != nil || ld.StatusID != sandbox.StatusShipped || ld.ContactID == 0 {
		t.Fatalf("link data %s", r2.LinkData)
	}
	if lead, ok := a.Lead(int(id)); !ok || len(lead.ContactIDs) != 1 || lead.ContactIDs[0] != int(ld.ContactID) {
		t.Fatalf("the lead's contact %v, link data %+v", lead.ContactIDs, ld)
	}
}

// TestRequestsPerDelivery: 250 status updates take 3 requests, 100 new
// orders 2, and no new order is searched for.
func TestRequestsPerDelivery(t *testing.T) {
	t.Parallel()
	a := newAccount(t, sandbox.Options{})
	c := newConnector(t, a, shippedMapping(t))
	ds := make([]core.Delivery, 250)
	for i := range ds {
		ds[i] = core.Delivery{Order: connectortest.Order(fmt.Sprintf("REQ-%03d", i))}
	}
	before := a.Stats()
	res := mustDeliver(t, c, ds...)
	if got, want := calls(a, before), map[string]int{"POST /api/v4/leads/complex": 5}; !sameCalls(got, want) {
		t.Fatalf("250 new orders: %v, want %v", got, want)
	}
	for i := range ds {
		p, tr := paid(ds[i].Order)
		ds[i] = core.Delivery{Order: p, Link: linkOf(ds[i].Order, res[i]), Transitions: tr}
	}
	before = a.Stats()
	mustDeliver(t, c, ds...)
	want := map[string]int{"GET /api/v4/leads": 1, "PATCH /api/v4/leads": 1, "POST /api/v4/leads/notes": 1}
	if got := calls(a, before); !sameCalls(got, want) {
		t.Fatalf("250 payments: %v, want %v", got, want)
	}
	for _, d := range ds {
		if ls := a.LeadsByOrder(d.Order.ID); len(ls) != 1 || ls[0].StatusID != sandbox.StatusPaid {
			t.Fatalf("%s: %+v", d.Order.ID, ls)
		}
	}
}

// TestRefusedUpdateLeavesTheOthers: amoCRM refuses the whole PATCH for one
// item; that order is dead-lettered with the field, the others are written.
func TestRefusedUpdateLeavesTheOthers(t *testing.T) {
	t.Parallel()
	a := newAccount(t, sandbox.Options{})
	c := newConnector(t, a, shippedMapping(t))
	os := []core.Order{connectortest.Order("PU-1"), connectortest.Order("PU-2"), connectortest.Order("PU-3")}
	var ds []core.Delivery
	for _, o := range os {
		ds = append(ds, core.Delivery{Order: o})
	}
	res := mustDeliver(t, c, ds...)
	a.DeleteEnum(sandbox.FieldDelivery, sandbox.EnumDeliveryAny)
	for i, o := range os {
		p, tr := paid(o)
		if i == 1 {
			p.Shipping = map[string]any{"method": "drone"}
		}
		ds[i] = core.Delivery{Order: p, Link: linkOf(o, res[i]), Transitions: tr}
	}
	out := deliverAll(t, c, ds...)
	if out[0].Err != nil || out[2].Err != nil {
		t.Fatalf("the valid orders failed: %v / %v", out[0].Err, out[2].Err)
	}
	de := amocrm.Classify(out[1].Err)
	if de == nil || de.Class != core.Permanent || !strings.Contains(de.Reason, fmt.Sprintf("lead field %d", sandbox.FieldDelivery)) ||
		!strings.Contains(de.Reason, "NotSupportedChoice") || !strings.Contains(de.Reason, "PU-2") {
		t.Fatalf("refused order: %v", out[1].Err)
	}
	for i, o := range os {
		l := a.LeadsByOrder(o.ID)[0]
		wantStatus, wantNotes := sandbox.StatusPaid, 1
		if i == 1 {
			wantStatus, wantNotes = sandbox.StatusAwaiting, 0
		}
		if l.StatusID != wantStatus || len(a.Notes(l.ID)) != wantNotes {
			t.Errorf("%s: status %d notes %d, want %d and %d", o.ID, l.StatusID, len(a.Notes(l.ID)), wantStatus, wantNotes)
		}
	}
}

// TestRateLimitMidDelivery: a 429 on the second request keeps what the
// first wrote, slows the connector down, and the orders it refused are
// created on retry without a search (nothing was created).
func TestRateLimitMidDelivery(t *testing.T) {
	t.Parallel()
	a := newAccount(t, sandbox.Options{Limit: 1})
	c := newConnector(t, a, shippedMapping(t))
	ds := make([]core.Delivery, 60)
	for i := range ds {
		ds[i] = core.Delivery{Order: connectortest.Order(fmt.Sprintf("RL-%02d", i))}
	}
	res := deliverAll(t, c, ds...)
	for i, r := range res {
		switch de := amocrm.Classify(r.Err); {
		case i < 50 && r.Err != nil:
			t.Fatalf("%d: %v", i, r.Err)
		case i >= 50 && (de == nil || !de.SlowDown || de.RetryAfter < time.Second):
			t.Fatalf("%d: want a slow-down with retry_after, got %v", i, r.Err)
		}
	}
	before := a.Stats()
	mustDeliver(t, c, ds[50:]...)
	if got, want := calls(a, before), map[string]int{"POST /api/v4/leads/complex": 1}; !sameCalls(got, want) {
		t.Fatalf("the retry made %v, want %v", got, want)
	}
	if n := len(a.Leads()); n != 60 {
		t.Fatalf("%d leads for 60 orders", n)
	}
}

// TestGoneLeadIsCreatedAgain: a manager deleted the linked lead: the order
// gets a new lead with its contact.
func TestGoneLeadIsCreatedAgain(t *testing.T) {
	t.Parallel()
	a := newAccount(t, sandbox.Options{})
	c := newConnector(t, a, shippedMapping(t))
	o := connectortest.Order("GONE-1")
	r := mustDeliver(t, c, core.Delivery{Order: o})[0]
	id, _ := strconv.Atoi(r.ExternalID)
	a.DeleteLead(id)
	p, tr := paid(o)
	r2 := mustDeliver(t, c, core.Delivery{Order: p, Link: linkOf(o, r), Transitions: tr})[0]
	ls := a.LeadsByOrder(o.ID)
	if len(ls) != 1 || strconv.Itoa(ls[0].ID) != r2.ExternalID || r2.ExternalID == r.ExternalID ||
		ls[0].StatusID != sandbox.StatusPaid || len(ls[0].ContactIDs) != 1 {
		t.Fatalf("after the lead was deleted: result %s, leads %+v", r2.ExternalID, ls)
	}
	if want := fmt.Sprintf("linked lead %s is gone; wrote lead %s instead", r.ExternalID, r2.ExternalID); r2.Notice != want {
		t.Fatalf("notice %q, want %q", r2.Notice, want)
	}
}

// TestBlockedAccountPausesTheConnector: an HTML 403 pauses every order of
// the delivery and nothing more is sent.
func TestBlockedAccountPausesTheConnector(t *testing.T) {
	t.Parallel()
	a := newAccount(t, sandbox.Options{})
	c := newConnector(t, a, shippedMapping(t))
	a.Block()
	res := deliverAll(t, c, core.Delivery{Order: connectortest.Order("BL-1")}, core.Delivery{Order: connectortest.Order("BL-2")})
	for _, r := range res {
		if de := amocrm.Classify(r.Err); de == nil || de.Class != core.Paused || !strings.Contains(de.Reason, "amoCRM support") {
			t.Fatalf("blocked: %v", r.Err)
		}
	}
	if n := a.Stats().Requests; n != 1 {
		t.Fatalf("%d requests to a blocked account, want 1", n)
	}
}

// noOrderField drops the order-id field from what the mapping renders.
type noOrderField struct{ *mapping.Mapping }

func (m noOrderField) Render(in mapping.Input) (mapping.Payload, error) {
	p, err := m.Mapping.Render(in)
	list, _ := p.Entity["custom_fields_values"].([]any)
	p.Entity["custom_fields_values"] = list[1:]
	return p, err
}

func TestMappingWithoutOrderFieldPauses(t *testing.T) {
	t.Parallel()
	a := newAccount(t, sandbox.Options{})
	c := newConnector(t, a, noOrderField{shippedMapping(t)})
	r := deliverAll(t, c, core.Delivery{Order: connectortest.Order("NF-1")})[0]
	if de := amocrm.Classify(r.Err); de == nil || de.Class != core.Paused || !strings.Contains(de.Reason, "Order ID") {
		t.Fatalf("no order field: %v", r.Err)
	}
	if n := a.Stats().Requests; n != 0 {
		t.Fatalf("%d requests without an order field", n)
	}
}

// TestFailedNotesFailTheirOrders: the leads are written, the notes request
// fails: the orders with notes are retried (and their notes written once),
// the order without a note is done.
func TestFailedNotesFailTheirOrders(t *testing.T) {
	t.Parallel()
	a := newAccount(t, sandbox.Options{})
	c := newConnector(t, a, shippedMapping(t))
	x, y := connectortest.Order("FN-1"), connectortest.Order("FN-2")
	res := mustDeliver(t, c, core.Delivery{Order: x}, core.Delivery{Order: y})
	px, tr := paid(x)
	py := y
	py.Version++
	py.AmountMinor, py.Items[0].PriceMinor = 1600000, 1600000
	ds := []core.Delivery{{Order: px, Link: linkOf(x, res[0]), Transitions: tr}, {Order: py, Link: linkOf(y, res[1])}}
	a.FailNextOn("POST /api/v4/leads/notes", 1, 503)
	out := deliverAll(t, c, ds...)
	if de := amocrm.Classify(out[0].Err); de == nil || de.Class != core.Retryable {
		t.Fatalf("the order whose note failed: %v", out[0].Err)
	}
	if out[1].Err != nil {
		t.Fatalf("the order without a note: %v", out[1].Err)
	}
	mustDeliver(t, c, ds[0])
	l := a.LeadsByOrder(x.ID)[0]
	if n := a.Notes(l.ID); len(n) != 1 || l.StatusID != sandbox.StatusPaid {
		t.Fatalf("after the retry: status %d notes %+v", l.StatusID, n)
	}
	if l := a.LeadsByOrder(y.ID)[0]; l.Price != 16000 {
		t.Fatalf("the update without a note: %+v", l)
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

// TestSearchesAreBounded: after an outage in which every create may have
// happened, a delivery searches for at most MaxSearches orders and writes
// those; the next one takes the rest, so the backlog always moves.
func TestSearchesAreBounded(t *testing.T) {
	t.Parallel()
	a := newAccount(t, sandbox.Options{})
	c, err := amocrm.NewConnector(amocrm.ConnectorConfig{Client: a.client(t), Mapping: shippedMapping(t), MaxSearches: 5})
	if err != nil {
		t.Fatal(err)
	}
	// Links to leads that are gone: each order's own is searched by query.
	ds := staleLinked("OUT", 8)
	before := a.Stats()
	res := deliverAll(t, c, ds...)
	for i, r := range res {
		if (i < 5) != (r.Err == nil) {
			t.Fatalf("order %d: %v", i, r.Err)
		}
	}
	if got := calls(a, before)["GET /api/v4/leads"]; got != 1+5 {
		t.Fatalf("%d GET /leads, want the links' check and 5 searches", got)
	}
	mustDeliver(t, c, ds[5:]...)
	if n := len(a.Leads()); n != 8 {
		t.Fatalf("%d leads", n)
	}
}

// TestSearchesFitTheDeadline: when a delivery's deadline leaves time for
// only a few searches (a short lease, a low rate_limit), it searches for as
// many orders as leave room to write them, and writes those; before, it
// spent all its time on searches, failed every order, and the retry
// searched for the same orders again, for ever.
func TestSearchesFitTheDeadline(t *testing.T) {
	t.Parallel()
	a := newAccount(t, sandbox.Options{})
	c, err := amocrm.NewConnector(amocrm.ConnectorConfig{Client: a.client(t), Mapping: shippedMapping(t)})
	if err != nil {
		t.Fatal(err)
	}
	ds := staleLinked("TIGHT", 20)
	left := ds
	for round := 1; len(left) > 0; round++ {
		if round > 10 {
			t.Fatalf("%d orders still not written after %d deliveries", len(left), round-1)
		}
		// 3.5 s: 1.5 s to start requests (none starts in the last 2 s), about ten at 7 a second.
		ctx, cancel := context.WithTimeout(context.Background(), 3500*time.Millisecond)
		res := c.Deliver(ctx, left)
		cancel()
		var next []core.Delivery
		for i, r := range res {
			if r.Err != nil {
				next = append(next, left[i])
			}
		}
		if len(next) == len(left) {
			t.Fatalf("delivery %d wrote none of %d orders: %v", round, len(left), res[0].Err)
		}
		if len(next) > 0 && !strings.Contains(res[len(res)-1].Err.Error(), "searched on retry") {
			t.Fatalf("an order left for the next delivery says %q", res[len(res)-1].Err)
		}
		left = next
	}
	for _, d := range ds {
		if n := len(a.LeadsByOrder(d.Order.ID)); n != 1 {
			t.Fatalf("%s has %d leads", d.Order.ID, n)
		}
	}
}

// staleLinked returns n orders linked to leads that do not exist (a
// manager deleted them): each order's own lead is searched by order id
// (unconfirmed creates are found in bulk, see TestUncertainCreatesFoundInBulk).
func staleLinked(prefix string, n int) []core.Delivery {
	ds := make([]core.Delivery, n)
	for i := range ds {
		o := connectortest.Order(fmt.Sprintf("%s-%03d", prefix, i))
		ds[i] = core.Delivery{Order: o, Link: &core.CRMLink{Connector: amocrm.Name, OrderID: o.ID,
			ExternalID: strconv.Itoa(99_000_000 + i), SyncedVersion: o.Version, SyncedStatus: o.Status}}
	}
	return ds
}
