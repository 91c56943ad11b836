package amocrm_test

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/paysync/paysync/connectors/amocrm"
	"github.com/paysync/paysync/connectors/connectortest"
	"github.com/paysync/paysync/core"
	sandbox "github.com/paysync/paysync/sandbox/amocrm"
)

func newOrders(prefix string, n int) []core.Delivery {
	ds := make([]core.Delivery, n)
	for i := range ds {
		ds[i] = core.Delivery{Order: connectortest.Order(fmt.Sprintf("%s-%03d", prefix, i))}
	}
	return ds
}

// paidNew returns n new orders already paid: each lead gets a note.
func paidNew(prefix string, n int) []core.Delivery {
	ds := newOrders(prefix, n)
	for i := range ds {
		p, tr := paid(ds[i].Order)
		ds[i] = core.Delivery{Order: p, Transitions: tr}
	}
	return ds
}

// A failed request fails only the orders it carried (issue 24): the second
// of three /leads/complex requests answers 502, and the orders of the
// first and the third are written, notes and all.
func TestFailedChunkFailsOnlyItsOrders(t *testing.T) {
	t.Parallel()
	a := newAccount(t, sandbox.Options{})
	c := newConnector(t, a, shippedMapping(t))
	ds := paidNew("CHUNK", 120) // creates of 50, 50 and 20, then their notes
	a.FailOnce("POST /api/v4/leads/complex", 1, 502)
	res := deliverAll(t, c, ds...)
	for i, r := range res {
		inFailed := i >= 50 && i < 100
		switch {
		case inFailed && r.Err == nil:
			t.Fatalf("order %d of the failed request reported written", i)
		case inFailed && amocrm.Classify(r.Err).Class != core.Retryable:
			t.Fatalf("order %d: %v, want a retryable error", i, r.Err)
		case !inFailed && r.Err != nil:
			t.Fatalf("order %d was not carried by the failed request, yet failed: %v", i, r.Err)
		}
		if !inFailed {
			ls := a.LeadsByOrder(ds[i].Order.ID)
			if len(ls) != 1 || len(a.Notes(ls[0].ID)) != 1 {
				t.Fatalf("order %d: leads %+v", i, ls)
			}
		}
	}
}

// Orders whose create may have happened unseen are found in bulk, by the
// leads created since, not by one ?query= each (issue 24): amoCRM's search
// index lags behind new leads, so a query right after a lost answer finds
// nothing and the retry would create a second lead.
func TestUncertainCreatesFoundInBulk(t *testing.T) {
	t.Parallel()
	a := newAccount(t, sandbox.Options{SearchDelay: time.Minute})
	c := newConnector(t, a, shippedMapping(t))
	ds := newOrders("LOST", 80) // two /leads/complex requests, both answers lost
	a.LoseResponseAfterCreate(2, sandbox.LoseWith502)
	for i, r := range deliverAll(t, c, ds...) {
		if r.Err == nil {
			t.Fatalf("order %d reported written although its answer was lost", i)
		}
	}
	before := a.Stats()
	res := mustDeliver(t, c, ds...)
	for i, d := range ds {
		ls := a.LeadsByOrder(d.Order.ID)
		if len(ls) != 1 || strconv.Itoa(ls[0].ID) != res[i].ExternalID {
			t.Fatalf("%s: %d leads (result %s): the retry did not find the lead its lost create made", d.Order.ID, len(ls), res[i].ExternalID)
		}
	}
	if n := calls(a, before)["GET /api/v4/leads"]; n > 2 {
		t.Fatalf("%d GET /api/v4/leads for 80 unconfirmed orders: they are not found in bulk", n)
	}
}

// With duplicate control on, /leads/complex may merge a new order's lead
// into another order's: the order never takes that lead, gets one of its
// own with the customer's contact, and the merge is told (issue 24).
func TestMergedLeadGetsALeadOfItsOwn(t *testing.T) {
	t.Parallel()
	a := newAccount(t, sandbox.Options{DuplicateControl: true})
	c := newConnector(t, a, shippedMapping(t))
	first := connectortest.Order("MERGE-1")
	r1 := mustDeliver(t, c, core.Delivery{Order: first})[0]
	second := connectortest.Order("MERGE-2")
	second.Customer = first.Customer // a repeat customer: the same phone and e-mail
	second, tr := paid(second)       // paid at once: its lead gets a note
	r2 := mustDeliver(t, c, core.Delivery{Order: second, Transitions: tr})[0]
	if a.Stats().Merged != 1 {
		t.Fatalf("the account merged %d leads; the test needs one merge", a.Stats().Merged)
	}
	if r2.ExternalID == r1.ExternalID {
		t.Fatalf("order MERGE-2 was linked to MERGE-1's lead %s", r1.ExternalID)
	}
	own := a.LeadsByOrder(second.ID)
	lead1, _ := strconv.Atoi(r1.ExternalID)
	l1, _ := a.Lead(lead1)
	if len(own) != 1 || strconv.Itoa(own[0].ID) != r2.ExternalID || len(own[0].ContactIDs) != 1 || own[0].ContactIDs[0] != l1.ContactIDs[0] {
		t.Fatalf("MERGE-2's leads %+v (result %s); want one, with MERGE-1's contact %v", own, r2.ExternalID, l1.ContactIDs)
	}
	if l1.OrderID != first.ID || len(a.Notes(lead1)) != 0 {
		t.Fatalf("MERGE-1's lead changed: order %s, %d notes", l1.OrderID, len(a.Notes(lead1)))
	}
	if len(a.Notes(own[0].ID)) != 1 {
		t.Fatalf("MERGE-2's note is not on its own lead")
	}
	if !strings.Contains(r2.Notice, "duplicate control") || !strings.Contains(r2.Notice, r1.ExternalID) || !strings.Contains(r2.Notice, first.ID) {
		t.Fatalf("notice %q does not tell the merge into MERGE-1's lead", r2.Notice)
	}
}

// Every request is reported to the dispatcher's breaker with its outcome.
func TestRequestsAreReported(t *testing.T) {
	t.Parallel()
	a := newAccount(t, sandbox.Options{})
	c := newConnector(t, a, shippedMapping(t))
	var mu sync.Mutex
	var got []core.RequestOutcome
	ctx := core.WithRequestObserver(context.Background(), func(o core.RequestOutcome) {
		mu.Lock()
		defer mu.Unlock()
		got = append(got, o)
	})
	a.FailOnce("POST /api/v4/leads/complex", 0, 502)
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	c.Deliver(ctx, newOrders("OBS", 60))
	mu.Lock()
	defer mu.Unlock()
	want := []core.RequestOutcome{core.RequestFailed, core.RequestAnswered} // complex (502), complex
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("reported %v, want %v", got, want)
	}
}
