// Package connectortest is the conformance suite every connector passes
// (Bitrix24, amoCRM, Google Sheets, Instagram Direct): create, update, stage
// moves that only go forward, no duplicate after a lost answer, a batch with
// one invalid item, a large batch mixing new and linked orders, recovery
// from rate limiting, wrong credentials, and links that name another order's
// record after the account was rebuilt. A connector's test supplies a
// Harness around the connector and its local double and calls Run; a
// harness whose service is not a CRM says so with Features, and the suite
// runs the cases that apply to it.
//
// Error reasons are checked the way operators read them: "what happened: how
// to fix it", never holding a secret.
package connectortest

import (
	"context"
	"fmt"
	"hash/fnv"
	"strings"
	"testing"
	"time"

	"github.com/paysync/paysync/core"
)

// Record is what the CRM double holds for an order, in CRM-neutral terms.
type Record struct {
	ExternalID string // the id the connector reports (deal id, lead id, row key)
	Stage      string // the CRM's stage or status of the record
	// AmountMinor is the record's amount converted back to minor units of
	// the order's currency.
	AmountMinor int64
	// Title is the record's name or title as the CRM shows it.
	Title string
	// Contact identifies the person the record is tied to (contact ids,
	// a phone), "" when the CRM keeps none.
	Contact string
}

// Harness adapts one connector and its double to the suite. The suite runs
// its cases one after another; each starts with NewConnector, and the other
// methods act on the double behind the connector it returned last.
type Harness interface {
	// NewConnector returns a connector writing to a fresh, empty double.
	NewConnector(t *testing.T) core.Connector
	// Records lists the records the double holds for an order.
	Records(t *testing.T, orderID string) []Record
	// StageFor is the stage the connector's mapping gives an order in status
	// s, "" when the mapping keeps the record's stage for s (stage: null).
	StageFor(s core.Status) string
	// LaterStage is a stage after StageFor(paid), where a manager moves a
	// record once the order is paid (e.g. "shipped").
	LaterStage() string
	// SetStage moves an order's record to stage, as a manager would.
	SetStage(t *testing.T, orderID, stage string)
	// LoseNextCreateResponse makes the double create the next record and
	// then lose its answer (a 5xx, a closed connection or a timeout).
	LoseNextCreateResponse(t *testing.T)
	// ExhaustRateLimit makes the double answer with its rate-limit error, as
	// after a burst, until WaitRateLimit.
	ExhaustRateLimit(t *testing.T)
	// WaitRateLimit lets the rate limit recover, e.g. by advancing the double's clock.
	WaitRateLimit(t *testing.T)
	// MakeInvalid changes o so that the CRM refuses it, and returns text the
	// Permanent error's Reason must contain (the CRM's reason or the fix).
	MakeInvalid(t *testing.T, o *core.Order) string
	// BreakCredentials makes the double refuse the connector's credentials.
	BreakCredentials(t *testing.T)
	// Secrets lists strings that must never appear in an error.
	Secrets() []string
	// RebuildAccount wipes the double, as when a shop moves from a test
	// account to its real one: the records are gone and ids count from the
	// start again, so a stored link may name another order's record.
	RebuildAccount(t *testing.T)
}

// Features says what kind of service a connector writes to, so that the
// suite runs the cases that apply (the zero value is a CRM).
type Features struct {
	// Messages: the connector sends the customer a message per order
	// change (Instagram Direct) rather than keeping one record per order up
	// to date. Records then lists the order's messages, oldest first, each
	// with the status it tells as Stage; the cases about a record's stage
	// and its editing (NewRecordStage, ForwardOnly, RebuiltAccount) do not
	// apply, and the others count one message per order change delivered.
	Messages bool
}

// Featured is implemented by a Harness whose connector is not a CRM.
type Featured interface {
	Features() Features
}

func featuresOf(h Harness) Features {
	if f, ok := h.(Featured); ok {
		return f.Features()
	}
	return Features{}
}

// Run runs every case that applies against h.
func Run(t *testing.T, h Harness) {
	f := featuresOf(h)
	cases := []struct {
		name string
		run  func(*testing.T, Harness)
		skip string // why the case does not apply to h, "" when it does
	}{
		{"Create", testCreate, ""},
		{"Update", testUpdate, ""},
		{"StageMove", testStageMove, ""},
		{"NewRecordStage", testNewRecordStage, messagesSkip(f, "a message has no stage to start at")},
		{"ForwardOnly", testForwardOnly, messagesSkip(f, "nobody moves a message a manager's way")},
		{"RedeliverWithoutLink", testRedeliverWithoutLink, ""},
		{"LostResponseAfterCreate", testLostResponse, ""},
		{"BatchPartialFailure", testBatchPartialFailure, ""},
		{"FullBatch", testFullBatch, ""},
		{"MixedBatch", testMixedBatch, ""},
		{"RateLimitRecovery", testRateLimit, ""},
		{"WrongCredentials", testWrongCredentials, ""},
		{"RebuiltAccount", testRebuiltAccount, messagesSkip(f, "a message sent is never written to again, so no link can name another order's")},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if tc.skip != "" {
				t.Skip(tc.skip)
			}
			tc.run(t, h)
		})
	}
}

func messagesSkip(f Features, why string) string {
	if f.Messages {
		return "does not apply to a messaging connector: " + why
	}
	return ""
}

var created = time.Date(2025, 3, 1, 9, 0, 0, 0, time.UTC)

// Order returns a pending order for the suite: 15,000.00 AMD for one item.
func Order(id string) core.Order {
	return core.Order{
		ID: id, Status: core.StatusPending, AmountMinor: 1500000, Currency: "AMD",
		Customer: core.Customer{Handle: "ani.shop.fan", ID: "1784", Name: "Ani Petrosyan",
			Phone: phoneFor(id), Email: strings.ToLower(id) + "@example.com"},
		Items:      []core.Item{{SKU: "SKU-1", Name: "Silver ring", Quantity: 1, PriceMinor: 1500000}},
		Provider:   "vpos",
		PaymentURL: "https://pay.example.am/" + id,
		CreatedAt:  created, UpdatedAt: created, StatusChangedAt: created,
		Version: 1,
	}
}

// phoneFor gives each order id its own Armenian mobile number.
func phoneFor(id string) string {
	h := fnv.New32a()
	h.Write([]byte(id))
	return fmt.Sprintf("+37491%06d", h.Sum32()%1000000)
}

// next returns o moved to status at the next version, with its journal entry.
func next(o core.Order, to core.Status) (core.Order, []core.JournalEntry) {
	from := o.Status
	o.Status = to
	o.Version++
	o.UpdatedAt = o.UpdatedAt.Add(time.Minute)
	o.StatusChangedAt = o.UpdatedAt
	if to == core.StatusPaid {
		paid := o.UpdatedAt
		o.PaidAt = &paid
	}
	return o, []core.JournalEntry{{OrderID: o.ID, Source: core.SourceWebhook, Verdict: core.VerdictAccepted,
		StatusBefore: from, StatusAfter: to, AmountMinor: o.AmountMinor, Currency: o.Currency, OrderVersion: o.Version, CreatedAt: o.UpdatedAt}}
}

// deliver calls Deliver and checks the contract every connector keeps:
// exactly one result per item, and no secret in any error.
func deliver(t *testing.T, h Harness, c core.Connector, ds ...core.Delivery) []core.DeliveryResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res := c.Deliver(ctx, ds)
	if len(res) != len(ds) {
		t.Fatalf("Deliver returned %d results for %d deliveries", len(res), len(ds))
	}
	for i, r := range res {
		if r.Err == nil {
			continue
		}
		msg := r.Err.Error() + " " + core.ClassifyDelivery(r.Err).Reason
		for _, s := range h.Secrets() {
			if s != "" && strings.Contains(msg, s) {
				t.Fatalf("item %d: error leaks a secret: %v", i, r.Err)
			}
		}
	}
	return res
}

// ok fails unless r succeeded with an external id.
func ok(t *testing.T, what string, r core.DeliveryResult) {
	t.Helper()
	if r.Err != nil {
		t.Fatalf("%s: %v", what, r.Err)
	}
	if r.ExternalID == "" {
		t.Fatalf("%s: no external id", what)
	}
}

// link is what the dispatcher stores after a successful delivery.
func link(c core.Connector, o core.Order, r core.DeliveryResult) *core.CRMLink {
	return &core.CRMLink{Connector: c.Name(), OrderID: o.ID, ExternalID: r.ExternalID,
		SyncedVersion: o.Version, SyncedStatus: o.Status, Data: r.LinkData, UpdatedAt: o.UpdatedAt}
}

// one returns the single record of an order.
func one(t *testing.T, h Harness, orderID string) Record {
	t.Helper()
	recs := h.Records(t, orderID)
	if len(recs) != 1 {
		t.Fatalf("order %s has %d records in the CRM, want 1: %+v", orderID, len(recs), recs)
	}
	return recs[0]
}

// current returns what stands for an order at the service: its one record
// in a CRM, or, for a messaging connector, its last message after checking
// that it has exactly changes of them (one per order change delivered).
func current(t *testing.T, h Harness, orderID string, changes int) Record {
	t.Helper()
	if !featuresOf(h).Messages {
		return one(t, h, orderID)
	}
	recs := h.Records(t, orderID)
	if len(recs) != changes {
		t.Fatalf("order %s has %d messages, want %d (one per order change): %+v", orderID, len(recs), changes, recs)
	}
	return recs[len(recs)-1]
}

func errClass(t *testing.T, what string, err error, want core.ErrorClass) *core.DeliveryError {
	t.Helper()
	if err == nil {
		t.Fatalf("%s: succeeded, want a %s error", what, want)
	}
	de := core.ClassifyDelivery(err)
	if de.Class != want {
		t.Fatalf("%s: class %s, want %s: %v", what, de.Class, want, err)
	}
	return de
}

func testCreate(t *testing.T, h Harness) {
	c := h.NewConnector(t)
	o := Order("CT-1001")
	r := deliver(t, h, c, core.Delivery{Order: o})[0]
	ok(t, "create", r)
	rec := current(t, h, o.ID, 1)
	if rec.ExternalID != r.ExternalID {
		t.Fatalf("reported id %s, CRM record %s", r.ExternalID, rec.ExternalID)
	}
	if rec.Stage != h.StageFor(core.StatusPending) || rec.AmountMinor != o.AmountMinor {
		t.Fatalf("record %+v, want stage %s amount %d", rec, h.StageFor(core.StatusPending), o.AmountMinor)
	}
}

func testUpdate(t *testing.T, h Harness) {
	c := h.NewConnector(t)
	o := Order("CT-1002")
	r := deliver(t, h, c, core.Delivery{Order: o})[0]
	ok(t, "create", r)
	o2 := o
	o2.Version++
	o2.AmountMinor, o2.Items[0].PriceMinor = 1800000, 1800000
	r2 := deliver(t, h, c, core.Delivery{Order: o2, Link: link(c, o, r)})[0]
	ok(t, "update", r2)
	if r2.ExternalID != r.ExternalID {
		t.Fatalf("update moved the order to record %s (was %s)", r2.ExternalID, r.ExternalID)
	}
	// A message sent cannot change: a change that is no status change sends
	// no new one.
	if rec := current(t, h, o.ID, 1); rec.AmountMinor != 1800000 && !featuresOf(h).Messages {
		t.Fatalf("amount after update: %d", rec.AmountMinor)
	}
	// The same version again changes nothing and creates nothing.
	r3 := deliver(t, h, c, core.Delivery{Order: o2, Link: link(c, o2, r2)})[0]
	ok(t, "redelivery", r3)
	current(t, h, o.ID, 1)
}

func testStageMove(t *testing.T, h Harness) {
	c := h.NewConnector(t)
	o := Order("CT-1003")
	r := deliver(t, h, c, core.Delivery{Order: o})[0]
	ok(t, "create", r)
	paid, tr := next(o, core.StatusPaid)
	r2 := deliver(t, h, c, core.Delivery{Order: paid, Link: link(c, o, r), Transitions: tr})[0]
	ok(t, "paid", r2)
	if rec := current(t, h, o.ID, 2); rec.Stage != h.StageFor(core.StatusPaid) {
		t.Fatalf("stage after paid: %s, want %s", rec.Stage, h.StageFor(core.StatusPaid))
	}
}

// testNewRecordStage creates one record per status, as when the CRM first
// hears of an order after it left pending: each starts at its status's
// stage, and a status whose stage is null (kept on update) starts where a
// record created while pending would have stayed. A failed order's record
// must not end at a different stage depending on whether the CRM saw the
// order before it failed.
func testNewRecordStage(t *testing.T, h Harness) {
	c := h.NewConnector(t)
	for i, s := range core.Statuses {
		o, tr := next(Order(fmt.Sprintf("CT-6%03d", i)), s)
		switch s {
		case core.StatusPartiallyRefunded:
			o.RefundedMinor = o.AmountMinor / 3
		case core.StatusRefunded:
			o.RefundedMinor = o.AmountMinor
		}
		want := h.StageFor(s)
		if want == "" {
			want = h.StageFor(core.StatusPending)
		}
		ok(t, "create in "+string(s), deliver(t, h, c, core.Delivery{Order: o, Transitions: tr})[0])
		if rec := one(t, h, o.ID); rec.Stage != want {
			t.Fatalf("a record created for an order in %s is at stage %q, want %q", s, rec.Stage, want)
		}
		if h.StageFor(s) != "" {
			continue
		}
		// The same status reached after the record was created while pending.
		p := Order(fmt.Sprintf("CT-7%03d", i))
		r := deliver(t, h, c, core.Delivery{Order: p})[0]
		ok(t, "create pending", r)
		moved, tr := next(p, s)
		ok(t, "move to "+string(s), deliver(t, h, c, core.Delivery{Order: moved, Link: link(c, p, r), Transitions: tr})[0])
		if rec := one(t, h, p.ID); rec.Stage != want {
			t.Fatalf("a record created while pending is at stage %q after %s, want %q as for one created in %s", rec.Stage, s, want, s)
		}
	}
}

func testForwardOnly(t *testing.T, h Harness) {
	c := h.NewConnector(t)
	o := Order("CT-1004")
	r := deliver(t, h, c, core.Delivery{Order: o})[0]
	ok(t, "create", r)
	// A manager moves the record on; a late "paid" must not pull it back.
	h.SetStage(t, o.ID, h.LaterStage())
	paid, tr := next(o, core.StatusPaid)
	r2 := deliver(t, h, c, core.Delivery{Order: paid, Link: link(c, o, r), Transitions: tr})[0]
	ok(t, "late paid", r2)
	if rec := one(t, h, o.ID); rec.Stage != h.LaterStage() {
		t.Fatalf("a late paid moved the record back from %s to %s", h.LaterStage(), rec.Stage)
	}
}

func testRedeliverWithoutLink(t *testing.T, h Harness) {
	c := h.NewConnector(t)
	o := Order("CT-1005")
	r := deliver(t, h, c, core.Delivery{Order: o})[0]
	ok(t, "create", r)
	// The link was not stored (crash after the CRM answered): find, don't duplicate.
	paid, tr := next(o, core.StatusPaid)
	r2 := deliver(t, h, c, core.Delivery{Order: paid, Transitions: tr})[0]
	ok(t, "redelivery without link", r2)
	if featuresOf(h).Messages {
		// The paid message is new; delivered again without a link (the
		// process died after the send), it is not sent twice.
		r3 := deliver(t, h, c, core.Delivery{Order: paid, Transitions: tr})[0]
		ok(t, "paid again without link", r3)
		if r3.ExternalID != r2.ExternalID {
			t.Fatalf("redelivery reported %s, first delivery %s", r3.ExternalID, r2.ExternalID)
		}
	} else if r2.ExternalID != r.ExternalID {
		t.Fatalf("redelivery reported %s, first delivery %s", r2.ExternalID, r.ExternalID)
	}
	if rec := current(t, h, o.ID, 2); rec.Stage != h.StageFor(core.StatusPaid) {
		t.Fatalf("stage %s, want %s", rec.Stage, h.StageFor(core.StatusPaid))
	}
}

func testLostResponse(t *testing.T, h Harness) {
	c := h.NewConnector(t)
	o := Order("CT-1006")
	h.LoseNextCreateResponse(t)
	r := deliver(t, h, c, core.Delivery{Order: o})[0]
	errClass(t, "create with a lost answer", r.Err, core.Retryable)
	r2 := deliver(t, h, c, core.Delivery{Order: o})[0]
	ok(t, "retry", r2)
	if rec := current(t, h, o.ID, 1); rec.ExternalID != r2.ExternalID {
		t.Fatalf("retry reported %s, CRM record %s", r2.ExternalID, rec.ExternalID)
	}
}

func testBatchPartialFailure(t *testing.T, h Harness) {
	c := h.NewConnector(t)
	if c.MaxBatch() < 3 {
		t.Skipf("MaxBatch %d < 3", c.MaxBatch())
	}
	a, b, d := Order("CT-2001"), Order("CT-2002"), Order("CT-2003")
	want := h.MakeInvalid(t, &b)
	res := deliver(t, h, c, core.Delivery{Order: a}, core.Delivery{Order: b}, core.Delivery{Order: d})
	ok(t, "valid item 1", res[0])
	ok(t, "valid item 3", res[2])
	if res[0].ExternalID == res[2].ExternalID {
		t.Fatalf("two orders got one record %s", res[0].ExternalID)
	}
	de := errClass(t, "invalid item", res[1].Err, core.Permanent)
	if !strings.Contains(de.Reason, want) {
		t.Fatalf("reason %q does not say %q", de.Reason, want)
	}
	current(t, h, a.ID, 1)
	current(t, h, d.ID, 1)
	if recs := h.Records(t, b.ID); len(recs) != 0 {
		t.Fatalf("the refused order has records: %+v", recs)
	}
}

func testFullBatch(t *testing.T, h Harness) {
	c := h.NewConnector(t)
	n := min(c.MaxBatch(), 60)
	ds := make([]core.Delivery, n)
	for i := range ds {
		ds[i] = core.Delivery{Order: Order(fmt.Sprintf("CT-3%03d", i))}
	}
	res := deliver(t, h, c, ds...)
	seen := map[string]bool{}
	for i, r := range res {
		ok(t, ds[i].Order.ID, r)
		if seen[r.ExternalID] {
			t.Fatalf("external id %s reported twice", r.ExternalID)
		}
		seen[r.ExternalID] = true
		if rec := current(t, h, ds[i].Order.ID, 1); rec.ExternalID != r.ExternalID {
			t.Fatalf("result %d is %s but the order's record is %s: results out of order", i, r.ExternalID, rec.ExternalID)
		}
	}
}

// testMixedBatch interleaves stage moves of linked orders with new orders in
// one batch, larger than one CRM request for connectors that batch: every
// result must be its own order's record, updates must stay on their record.
func testMixedBatch(t *testing.T, h Harness) {
	c := h.NewConnector(t)
	n := min(c.MaxBatch(), 120)
	if n < 4 {
		t.Skipf("MaxBatch %d < 4", c.MaxBatch())
	}
	old := make([]core.Delivery, n/2)
	for i := range old {
		old[i] = core.Delivery{Order: Order(fmt.Sprintf("CT-4%03d", i))}
	}
	first := deliver(t, h, c, old...)
	for i, r := range first {
		ok(t, old[i].Order.ID, r)
	}
	var ds []core.Delivery
	for i := range old {
		paid, tr := next(old[i].Order, core.StatusPaid)
		ds = append(ds, core.Delivery{Order: paid, Link: link(c, old[i].Order, first[i]), Transitions: tr},
			core.Delivery{Order: Order(fmt.Sprintf("CT-5%03d", i))})
	}
	for i, r := range deliver(t, h, c, ds...) {
		o := ds[i].Order
		ok(t, o.ID, r)
		rec := current(t, h, o.ID, 2-i%2) // a paid order has its link and its paid message
		if rec.ExternalID != r.ExternalID {
			t.Fatalf("result %d (%s) is %s but the order's record is %s: results out of order", i, o.ID, r.ExternalID, rec.ExternalID)
		}
		if i%2 == 0 && r.ExternalID != first[i/2].ExternalID && !featuresOf(h).Messages {
			t.Fatalf("the update of %s moved it from record %s to %s", o.ID, first[i/2].ExternalID, r.ExternalID)
		}
		if rec.Stage != h.StageFor(o.Status) {
			t.Fatalf("%s (%s) is in stage %s, want %s", o.ID, o.Status, rec.Stage, h.StageFor(o.Status))
		}
	}
}

func testRateLimit(t *testing.T, h Harness) {
	c := h.NewConnector(t)
	o := Order("CT-1007")
	h.ExhaustRateLimit(t)
	r := deliver(t, h, c, core.Delivery{Order: o})[0]
	de := errClass(t, "rate limited", r.Err, core.Retryable)
	if !de.SlowDown {
		t.Fatalf("a rate-limit answer must ask the whole connector to slow down: %v", r.Err)
	}
	h.WaitRateLimit(t)
	r2 := deliver(t, h, c, core.Delivery{Order: o})[0]
	ok(t, "after waiting", r2)
	current(t, h, o.ID, 1)
}

func testWrongCredentials(t *testing.T, h Harness) {
	c := h.NewConnector(t)
	h.BreakCredentials(t)
	r := deliver(t, h, c, core.Delivery{Order: Order("CT-1008")})[0]
	de := errClass(t, "wrong credentials", r.Err, core.NeedsReauth)
	if len(de.Reason) < 20 || de.Reason == "delivery failed" || !strings.ContainsAny(de.Reason, ":") {
		t.Fatalf("the reason must say what is wrong and how to fix it: %q", de.Reason)
	}
}

// testRebuiltAccount: the account was rebuilt (ids count from the start
// again), so the link stored for A names the record that now belongs to B.
// A link is never trusted alone: A gets its own new record, B's record is
// left exactly as it was, and the result's Notice tells the operator.
func testRebuiltAccount(t *testing.T, h Harness) {
	c := h.NewConnector(t)
	a, b := Order("CT-6001"), Order("CT-6002")
	ra := deliver(t, h, c, core.Delivery{Order: a})[0]
	ok(t, "A before the rebuild", ra)
	h.RebuildAccount(t)
	if recs := h.Records(t, a.ID); len(recs) != 0 {
		t.Fatalf("RebuildAccount left A's records: %+v", recs)
	}
	paidB, trB := next(b, core.StatusPaid)
	rb := deliver(t, h, c, core.Delivery{Order: paidB, Transitions: trB})[0]
	ok(t, "B after the rebuild", rb)
	if rb.ExternalID != ra.ExternalID {
		t.Fatalf("after RebuildAccount B got id %s, want A's old id %s: the double must count ids from the start again", rb.ExternalID, ra.ExternalID)
	}
	recB := one(t, h, b.ID)

	// A is redelivered with its old link (a resync, or its next payment
	// event) and a new amount.
	a2 := a
	a2.Version++
	a2.AmountMinor, a2.Items[0].PriceMinor = 1800000, 1800000
	r := deliver(t, h, c, core.Delivery{Order: a2, Link: link(c, a, ra)})[0]
	ok(t, "A with a link to B's record", r)
	if r.ExternalID == rb.ExternalID {
		t.Fatalf("A was written to record %s, which is B's", r.ExternalID)
	}
	recA := one(t, h, a.ID)
	if recA.ExternalID != r.ExternalID || recA.AmountMinor != 1800000 || recA.Stage != h.StageFor(core.StatusPending) {
		t.Fatalf("A's record %+v, reported %s: want its own, at amount 1800000 and stage %s", recA, r.ExternalID, h.StageFor(core.StatusPending))
	}
	if got := one(t, h, b.ID); got != recB {
		t.Fatalf("B's record changed when A was delivered:\nbefore %+v\nafter  %+v", recB, got)
	}
	if r.Notice == "" || !strings.Contains(r.Notice, ra.ExternalID) || !strings.Contains(r.Notice, r.ExternalID) {
		t.Fatalf("notice %q must name the linked record %s and the record written, %s", r.Notice, ra.ExternalID, r.ExternalID)
	}
	// Once relinked, the next delivery of A has nothing to tell.
	paidA, trA := next(a2, core.StatusPaid)
	r2 := deliver(t, h, c, core.Delivery{Order: paidA, Link: link(c, a2, r), Transitions: trA})[0]
	ok(t, "A after relinking", r2)
	if r2.ExternalID != r.ExternalID || r2.Notice != "" {
		t.Fatalf("A's next delivery: record %s notice %q, want record %s and no notice", r2.ExternalID, r2.Notice, r.ExternalID)
	}
	if got := one(t, h, b.ID); got != recB {
		t.Fatalf("B's record changed: %+v, was %+v", got, recB)
	}
}
