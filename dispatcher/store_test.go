package dispatcher_test

import (
	"testing"
	"time"

	"github.com/paysync/paysync/core"
	"github.com/paysync/paysync/storage"
	"github.com/paysync/paysync/storage/testdb"
)

// storage.DB.CompleteOutboxBatch settles exactly as CompleteOutbox does one
// record at a time: every outcome, the token guard per record, the link.
func TestCompleteOutboxBatchMatchesOneByOne(t *testing.T) {
	testdb.Each(t, func(t *testing.T, dialect string) {
		// An hour ahead: the orders created below are due however long creating them takes.
		now := time.Now().Add(time.Hour).UTC().Truncate(time.Microsecond)
		later := now.Add(time.Hour)
		link := func(id string, v int64) *core.CRMLink {
			return &core.CRMLink{Connector: "crm", OrderID: id, ExternalID: "deal-" + id, SyncedVersion: v,
				SyncedStatus: core.StatusPending, Data: `{"deal":1}`}
		}
		notice := func(id string) *core.JournalEntry {
			return &core.JournalEntry{OrderID: id, Source: core.SourceConnector, Verdict: core.VerdictRelinked, Reason: "deal 1 is another order's"}
		}
		// Two databases, the same story; one settles in a batch, the other one by one.
		var results [2]map[string][]core.OutboxRecord
		var links [2]map[string]*core.CRMLink
		var errs [2][]string
		var relinked [2]map[string]int
		for i := range 2 {
			db := testdb.Open(t, dialect)
			for _, id := range []string{"o-1", "o-2", "o-3", "o-4", "o-5", "o-6"} {
				create(t, db, id, "crm")
			}
			if err := db.Enqueue(bg, "o-6", []string{"crm"}, now); err != nil { // a second record of o-6
				t.Fatal(err)
			}
			recs, err := db.ClaimOutbox(bg, core.ClaimRequest{Connector: "crm", Owner: "me", Token: "tok", Limit: 10,
				Lease: time.Minute, Now: now})
			if err != nil || len(recs) != 7 {
				t.Fatalf("claimed %d: %v", len(recs), err)
			}
			id := map[string][]int64{}
			for _, r := range recs {
				id[r.OrderID] = append(id[r.OrderID], r.ID)
			}
			cs := []core.Completion{
				{ID: id["o-1"][0], Token: "tok", Outcome: core.OutcomeDelivered, Now: now, Link: link("o-1", 1), Journal: notice("o-1")},
				{ID: id["o-2"][0], Token: "tok", Outcome: core.OutcomeRetry, Error: "503", AvailableAt: later, Now: now},
				{ID: id["o-3"][0], Token: "tok", Outcome: core.OutcomeRelease, AvailableAt: later, Now: now},
				{ID: id["o-4"][0], Token: "tok", Outcome: core.OutcomeDead, Error: "refused", Now: now},
				{ID: id["o-5"][0], Token: "wrong", Outcome: core.OutcomeDelivered, Now: now, Link: link("o-5", 1), Journal: notice("o-5")},
				{ID: id["o-6"][0], Token: "tok", Outcome: core.OutcomeDelivered, Now: now, Link: link("o-6", 1)},
				{ID: id["o-6"][1], Token: "tok", Outcome: core.OutcomeDelivered, Now: now, Link: link("o-6", 1)},
				{ID: 999999, Token: "tok", Outcome: core.OutcomeDead, Error: "x", Now: now},
			}
			var got []error
			if i == 0 {
				got, err = db.CompleteOutboxBatch(bg, cs)
				if err != nil {
					t.Fatal(err)
				}
			} else {
				for _, c := range cs {
					got = append(got, db.CompleteOutbox(bg, c))
				}
			}
			for _, e := range got {
				errs[i] = append(errs[i], core.ErrorCode(e))
			}
			results[i], links[i] = snapshot(t, db)
			relinked[i] = map[string]int{}
			for _, id := range []string{"o-1", "o-5"} {
				entries, err := db.ListJournal(bg, id)
				if err != nil {
					t.Fatal(err)
				}
				for _, e := range entries {
					if e.Verdict == core.VerdictRelinked {
						relinked[i][id]++
					}
				}
			}
		}
		want := []string{"", "", "", "", core.ELEASELOST, "", "", core.ELEASELOST}
		for i := range 2 {
			for j := range want {
				if errs[i][j] != want[j] {
					t.Fatalf("path %d: error codes %q, want %q", i, errs[i], want)
				}
			}
		}
		for id, a := range results[0] {
			b := results[1][id]
			for k := range a {
				x, y := a[k], b[k]
				// Untouched due times differ: each database wrote its orders at its own time.
				movedX, movedY := x.AvailableAt.Equal(later), y.AvailableAt.Equal(later)
				if x.State != y.State || x.Attempts != y.Attempts || movedX != movedY ||
					x.LastError != y.LastError || x.ExternalID != y.ExternalID || x.LeaseToken != y.LeaseToken ||
					(x.DeliveredAt == nil) != (y.DeliveredAt == nil) || (x.LeaseExpiresAt == nil) != (y.LeaseExpiresAt == nil) {
					t.Errorf("%s: batch %+v\none by one %+v", id, x, y)
				}
			}
			la, lb := links[0][id], links[1][id]
			if (la == nil) != (lb == nil) || la != nil && (la.ExternalID != lb.ExternalID || la.SyncedVersion != lb.SyncedVersion || la.Data != lb.Data) {
				t.Errorf("%s: links %+v vs %+v", id, la, lb)
			}
		}
		if r := results[0]["o-3"][0]; r.Attempts != 0 || !r.AvailableAt.Equal(later) {
			t.Errorf("released record = %+v", r)
		}
		for i := range 2 {
			if relinked[i]["o-1"] != 1 || relinked[i]["o-5"] != 0 {
				t.Errorf("path %d: journal entries of the notices %v, want o-1 only", i, relinked[i])
			}
		}
		if links[0]["o-5"] != nil || links[0]["o-1"] == nil {
			t.Errorf("links: o-1 %v o-5 %v", links[0]["o-1"], links[0]["o-5"])
		}
	})
}

func snapshot(t *testing.T, db *storage.DB) (map[string][]core.OutboxRecord, map[string]*core.CRMLink) {
	t.Helper()
	recs := map[string][]core.OutboxRecord{}
	links := map[string]*core.CRMLink{}
	for _, id := range []string{"o-1", "o-2", "o-3", "o-4", "o-5", "o-6"} {
		rs, err := db.OrderDeliveries(bg, id)
		if err != nil {
			t.Fatal(err)
		}
		recs[id] = rs
		if links[id], err = db.GetLink(bg, "crm", id); err != nil {
			t.Fatal(err)
		}
	}
	return recs, links
}
