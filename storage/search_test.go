package storage_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/paysync/paysync/core"
	"github.com/paysync/paysync/storage"
	"github.com/paysync/paysync/storage/testdb"
)

// TestSearchBeyondTheWindow: a search reads the newest orders first (on
// SQLite) and turns to the index when they do not fill the page; the
// answer is the same as if it had read every order. Not parallel: it
// narrows the window for the whole package.
func TestSearchBeyondTheWindow(t *testing.T) {
	defer storage.SetSearchWindow(3)()
	testdb.Each(t, func(t *testing.T, dialect string) {
		ctx := context.Background()
		db := testdb.Open(t, dialect)
		for i, name := range []string{"Zara Old", "Anna A", "Anna B", "Anna C", "Anna D", "Anna E"} {
			o := core.Order{ID: fmt.Sprintf("W-%d", i+1), Status: core.StatusPending, AmountMinor: 100, Currency: "AMD", Customer: core.Customer{Name: name}}
			o.RequestHash = o.Hash()
			if err := db.Apply(ctx, core.Change{Order: &o, Journal: &core.JournalEntry{Source: core.SourceAPI, Verdict: core.VerdictCreated}}); err != nil {
				t.Fatal(err)
			}
		}
		for _, c := range []struct {
			q     string
			limit int
			want  string
		}{
			{"zara", 10, "[W-1]"},                 // older than the window: from the index
			{"anna", 2, "[W-6 W-5]"},              // the window fills the page
			{"anna", 10, "[W-6 W-5 W-4 W-3 W-2]"}, // the window does not: the index
			{"ANNA", 4, "[W-6 W-5 W-4 W-3]"},      // one more than the window holds
			{"nobody", 10, "[]"},
		} {
			got, err := db.ListOrders(ctx, core.OrderQuery{Q: c.q, Limit: c.limit})
			if err != nil {
				t.Fatal(err)
			}
			ids := []string{}
			for _, o := range got {
				ids = append(ids, o.ID)
			}
			if fmt.Sprint(ids) != c.want {
				t.Errorf("%q (page of %d) found %v, want %s", c.q, c.limit, ids, c.want)
			}
		}
	})
}
