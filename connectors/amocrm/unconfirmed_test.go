package amocrm_test

import (
	"context"
	"testing"
	"time"

	"github.com/paysync/paysync/connectors/amocrm"
	"github.com/paysync/paysync/connectors/connectortest"
	"github.com/paysync/paysync/core"
	sandbox "github.com/paysync/paysync/sandbox/amocrm"
	"github.com/paysync/paysync/storage/testdb"
)

// TestLostCreateSurvivesARestart: a create whose answer was lost is
// searched for by the next process before it creates again, because the
// unconfirmed set lives in the database; once a delivery comes with a link
// that verifies, the order leaves the set.
func TestLostCreateSurvivesARestart(t *testing.T) {
	testdb.Each(t, func(t *testing.T, dialect string) {
		t.Parallel()
		store := testdb.Open(t, dialect)
		a := newAccount(t, sandbox.Options{})
		m := shippedMapping(t)
		process := func() *amocrm.Connector {
			c, err := amocrm.NewConnector(amocrm.ConnectorConfig{Client: a.client(t), Mapping: m,
				Unconfirmed: amocrm.StateUnconfirmed{Store: store}})
			if err != nil {
				t.Fatal(err)
			}
			return c
		}
		o := connectortest.Order("LOST-1")
		other := connectortest.Order("NEW-1")
		a.LoseResponseAfterCreate(1, sandbox.LoseConnection)
		first := deliverAll(t, process(), core.Delivery{Order: o})[0]
		if de := amocrm.Classify(first.Err); de == nil || de.Class != core.Retryable {
			t.Fatalf("lost answer: %v", first.Err)
		}

		// A new process: the order is searched once, an order never sent is not.
		before := a.Stats()
		res := mustDeliver(t, process(), core.Delivery{Order: o}, core.Delivery{Order: other})
		got := calls(a, before)
		if got["GET /api/v4/leads"] != 1 || got["POST /api/v4/leads/complex"] != 1 || got["PATCH /api/v4/leads"] != 1 {
			t.Fatalf("requests after the restart: %v", got)
		}
		if ls := a.LeadsByOrder(o.ID); len(ls) != 1 || res[0].ExternalID != itoa(ls[0].ID) {
			t.Fatalf("leads of %s: %+v, result %s", o.ID, ls, res[0].ExternalID)
		}
		set, err := amocrm.StateUnconfirmed{Store: store}.Load(context.Background())
		if err != nil || len(set) != 2 {
			t.Fatalf("unconfirmed before any link came back: %v %v", set, err)
		}
		// Both come back with their links: the set empties.
		p, tr := paid(o)
		mustDeliver(t, process(), core.Delivery{Order: p, Link: linkOf(o, res[0]), Transitions: tr},
			core.Delivery{Order: other, Link: linkOf(other, res[1])})
		if set, err := (amocrm.StateUnconfirmed{Store: store}).Load(context.Background()); err != nil || len(set) != 0 {
			t.Fatalf("unconfirmed after the links verified: %v %v", set, err)
		}
	})
}

// TestUnconfirmedPrunesOldEntries: entries older than the TTL go on the
// next change.
func TestUnconfirmedPrunesOldEntries(t *testing.T) {
	testdb.Each(t, func(t *testing.T, dialect string) {
		t.Parallel()
		store := testdb.Open(t, dialect)
		now := time.Date(2025, 3, 1, 10, 0, 0, 0, time.UTC)
		u := amocrm.StateUnconfirmed{Store: store, Now: func() time.Time { return now }}
		ctx := context.Background()
		if err := u.Add(ctx, []string{"OLD-1"}, now.Add(-amocrm.UnconfirmedTTL-time.Hour)); err != nil {
			t.Fatal(err)
		}
		if err := u.Add(ctx, []string{"NEW-1", "NEW-2"}, now); err != nil {
			t.Fatal(err)
		}
		if err := u.Remove(ctx, []string{"NEW-2"}); err != nil {
			t.Fatal(err)
		}
		set, err := u.Load(ctx)
		if _, ok := set["NEW-1"]; err != nil || len(set) != 1 || !ok {
			t.Fatalf("set %v %v, want only NEW-1", set, err)
		}
	})
}
