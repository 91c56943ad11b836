// Package storagetest is the conformance suite every storage driver passes.
// Drivers run it from their tests against a real database, never a mock.
package storagetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/paysync/paysync/core"
)

// Factory opens a fresh, migrated, empty store. hook, when non-nil, is called
// after each statement of Apply and aborts it by returning an error.
type Factory func(t *testing.T, hook func(step string) error) core.Store

// Run runs the whole suite.
func Run(t *testing.T, open Factory) {
	cases := []struct {
		name string
		fn   func(t *testing.T, open Factory)
	}{
		{"OrderCRUD", testOrderCRUD},
		{"OrderSearch", testOrderSearch},
		{"Uniqueness", testUniqueness},
		{"Atomicity", testAtomicity},
		{"ConcurrentTransitions", testConcurrentTransitions},
		{"ConcurrentChangesStayApart", testConcurrentChangesStayApart},
		{"ClaimersNeverShare", testClaimersNeverShare},
		{"ClaimCoalescesPerOrder", testClaimCoalesces},
		{"LeaseExpiryAndLateAck", testLeaseExpiry},
		{"CompleteOutcomes", testCompleteOutcomes},
		{"ExpediteWaitingRecords", testExpedite},
		{"CompletionJournal", testCompletionJournal},
		{"DeadLettersAndRetry", testDeadLetters},
		{"LinksNeverRegress", testLinks},
		{"ConnectorStateCAS", testState},
		{"LeaderLease", testLeaderLease},
		{"FencedLeases", testFencedLeases},
		{"DueOrders", testDueOrders},
		{"PaymentHistory", testPaymentHistory},
		{"AnyBytesStored", testAnyBytesStored},
		{"RefusalsCounted", testRefusalsCounted},
		{"RefusalsBoundedPerWindow", testRefusalsBoundedPerWindow},
		{"Conversations", testConversations},
		{"People", testPeople},
		{"Catalog", testCatalog},
		{"ReconcileStore", testReconcileStore},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { c.fn(t, open) })
	}
}

var ctx = context.Background()

// NewOrder returns a valid pending order for tests.
func NewOrder(id string) *core.Order {
	exp := time.Now().Add(24 * time.Hour).UTC().Truncate(time.Microsecond)
	return &core.Order{
		ID: id, Status: core.StatusPending, AmountMinor: 1500000, Currency: "AMD",
		Customer: core.Customer{Handle: "anna.shop", Name: "Anna <b>O'Neil</b>", Phone: "+37491000001", Email: "anna@example.com"},
		Items:    []core.Item{{SKU: "DRESS-1", Name: "Dress", Quantity: 1, PriceMinor: 1500000}},
		Shipping: map[string]any{"city": "Yerevan"},
		Provider: "vpos", ExpiresAt: &exp,
	}
}

func create(t *testing.T, s core.Store, o *core.Order, connectors ...string) {
	t.Helper()
	o.RequestHash = o.Hash()
	err := s.Apply(ctx, core.Change{
		Journal: &core.JournalEntry{Source: core.SourceAPI, Verdict: core.VerdictCreated, StatusAfter: o.Status},
		Order:   o, Outbox: connectors,
	})
	if err != nil {
		t.Fatalf("create %s: %v", o.ID, err)
	}
}

func wantCode(t *testing.T, err error, code string) {
	t.Helper()
	if core.ErrorCode(err) != code {
		t.Fatalf("error = %v (code %q), want code %q", err, core.ErrorCode(err), code)
	}
}

func count(t *testing.T, s core.Store, orderID string) (journal, outbox int) {
	t.Helper()
	j, err := s.ListJournal(ctx, orderID)
	if err != nil {
		t.Fatal(err)
	}
	o, err := s.OrderDeliveries(ctx, orderID)
	if err != nil {
		t.Fatal(err)
	}
	return len(j), len(o)
}

func testOrderCRUD(t *testing.T, open Factory) {
	s := open(t, nil)
	o := NewOrder("A-1")
	create(t, s, o, "bitrix24", "sheets")
	if o.Version != 1 {
		t.Fatalf("version after create = %d, want 1", o.Version)
	}
	got, err := s.GetOrder(ctx, "A-1")
	if err != nil {
		t.Fatal(err)
	}
	if got.Customer != o.Customer || got.AmountMinor != 1500000 || got.Currency != "AMD" || got.Status != core.StatusPending ||
		len(got.Items) != 1 || got.Items[0] != o.Items[0] || got.Shipping["city"] != "Yerevan" || got.RequestHash != o.Hash() {
		t.Fatalf("round trip lost data:\n got %+v\nwant %+v", got, *o)
	}
	if got.ExpiresAt == nil || !got.ExpiresAt.Equal(*o.ExpiresAt) || got.CreatedAt.IsZero() || got.PaidAt != nil {
		t.Fatalf("times: expires %v created %v paid %v", got.ExpiresAt, got.CreatedAt, got.PaidAt)
	}
	if _, err := s.GetOrder(ctx, "nope"); core.ErrorCode(err) != core.ENOTFOUND {
		t.Fatalf("missing order: %v", err)
	}
	// Update with the right version.
	got.Status = core.StatusPaid
	now := time.Now().UTC().Truncate(time.Microsecond)
	got.PaidAt = &now
	if err := s.Apply(ctx, core.Change{Order: &got, ExpectedVersion: 1, Outbox: []string{"bitrix24"},
		Journal: &core.JournalEntry{Provider: "vpos", EventID: "ev-1", Source: core.SourceWebhook, Verdict: core.VerdictAccepted,
			StatusBefore: core.StatusPending, StatusAfter: core.StatusPaid, AmountMinor: 1500000, Currency: "AMD", Payload: []byte(`{"x":1}`)}}); err != nil {
		t.Fatal(err)
	}
	again, _ := s.GetOrder(ctx, "A-1")
	if again.Version != 2 || again.Status != core.StatusPaid || again.PaidAt == nil || !again.PaidAt.Equal(now) {
		t.Fatalf("after update: %+v", again)
	}
	j, outbox := count(t, s, "A-1")
	if j != 2 || outbox != 3 {
		t.Fatalf("journal %d outbox %d, want 2 and 3", j, outbox)
	}
	entries, _ := s.ListJournal(ctx, "A-1")
	if e := entries[1]; e.EventID != "ev-1" || e.OrderVersion != 2 || e.StatusAfter != core.StatusPaid || string(e.Payload) != `{"x":1}` || e.ID <= entries[0].ID {
		t.Fatalf("journal entry: %+v", e)
	}
	// A stale version is refused and changes nothing.
	got.Reason = "late writer"
	err = s.Apply(ctx, core.Change{Order: &got, ExpectedVersion: 1, Journal: &core.JournalEntry{Source: core.SourceManual, Verdict: core.VerdictManual}})
	wantCode(t, err, core.ESTALE)
	if j2, _ := count(t, s, "A-1"); j2 != 2 {
		t.Fatalf("stale update left a journal entry behind")
	}
}

func testOrderSearch(t *testing.T, open Factory) {
	s := open(t, nil)
	for i, h := range []string{"anna.shop", "Bob_Store", "carol"} {
		o := NewOrder(fmt.Sprintf("S-%d", i))
		o.Customer.Handle = h
		o.Customer.Phone = fmt.Sprintf("+3749100000%d", i)
		create(t, s, o)
	}
	named := NewOrder("S-9")
	named.Customer = core.Customer{Name: "Анна Морозова", Phone: "091 000 102"}
	create(t, s, named)
	hy := NewOrder("S-10")
	hy.Customer = core.Customer{Name: "Աննա Պետրոսյան", Handle: "anna_hy"}
	create(t, s, hy)
	// Issue 20: one surname in three scripts, found in any case; SQLite's
	// own LIKE folds only ASCII, so the search text is lowercased in Go.
	for id, c := range map[string]core.Customer{"S-11": {Name: "Aram Petrosyan", Handle: "@Aram_Style"}, "S-12": {Name: "Игорь Петросян"}, "S-13": {Name: "Олег Морозов"}} {
		o := NewOrder(id)
		o.Customer = c
		create(t, s, o)
	}
	newest := func(ids ...string) []string { // S-11 to S-13 were created in no set order
		got, err := s.ListOrders(ctx, core.OrderQuery{})
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, o := range got {
			if slices.Contains(ids, o.ID) {
				out = append(out, o.ID)
			}
		}
		return out
	}
	cases := map[string][]string{"bob_": {"S-1"}, "@carol": {"S-2"}, "s-0": {"S-0"}, "+37491000002": {"S-2"}, "%": nil,
		"":       newest("S-13", "S-12", "S-11", "S-10", "S-9", "S-2", "S-1", "S-0"),
		"000102": {"S-9"}, "+374 91 000 102": {"S-9"}, "+374 91 000102": {"S-9"}, "+37491000102": {"S-9"}, "91000102": {"S-9"}, "091000102": {"S-9"},
		"МОРОЗОВА": {"S-9"}, "морозова": {"S-9"}, "морозов": newest("S-13", "S-9"), "Морозов": newest("S-13", "S-9"),
		"PETROSYAN": {"S-11"}, "petrosyan": {"S-11"}, "Петросян": {"S-12"}, "ПЕТРОСЯН": {"S-12"}, "Պետրոսյան": {"S-10"},
		"@aram_style": {"S-11"}, "Aram_Style": {"S-11"}, "S-12": {"S-12"},
		"ՊԵՏՐՈՍՅԱՆ": {"S-10"}, "պետրոս": {"S-10"}, "@ANNA_HY": {"S-10"}, "Աննա": {"S-10"}, "9-": nil}
	for q, want := range cases {
		got, err := s.ListOrders(ctx, core.OrderQuery{Q: q})
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, o := range got {
			ids = append(ids, o.ID)
		}
		if fmt.Sprint(ids) != fmt.Sprint(want) {
			t.Errorf("q=%q: got %v want %v", q, ids, want)
		}
	}
	// A page that the newest orders fill is the same as the index finds.
	all, _ := s.ListOrders(ctx, core.OrderQuery{Q: "anna"})
	if got, err := s.ListOrders(ctx, core.OrderQuery{Q: "anna", Limit: 2}); err != nil || len(all) < 3 || len(got) != 2 || got[0].ID != all[0].ID || got[1].ID != all[1].ID {
		t.Errorf("a full page of anna: %d orders (%v), want the first 2 of %d", len(got), err, len(all))
	}
	paid, _ := s.ListOrders(ctx, core.OrderQuery{Status: core.StatusPaid})
	if len(paid) != 0 {
		t.Fatalf("status filter returned %d paid orders", len(paid))
	}
}

func testUniqueness(t *testing.T, open Factory) {
	s := open(t, nil)
	create(t, s, NewOrder("U-1"))
	dup := NewOrder("U-1")
	wantCode(t, s.Apply(ctx, core.Change{Order: dup}), core.ECONFLICT)

	o, _ := s.GetOrder(ctx, "U-1")
	ev := func() *core.JournalEntry {
		return &core.JournalEntry{Provider: "vpos", EventID: "evt-9", Source: core.SourceWebhook, Verdict: core.VerdictAccepted}
	}
	o.Status = core.StatusPaid
	if err := s.Apply(ctx, core.Change{Journal: ev(), Order: &o, ExpectedVersion: 1, Outbox: []string{"x"}}); err != nil {
		t.Fatal(err)
	}
	o2, _ := s.GetOrder(ctx, "U-1")
	o2.Status = core.StatusRefunded
	wantCode(t, s.Apply(ctx, core.Change{Journal: ev(), Order: &o2, ExpectedVersion: 2, Outbox: []string{"x"}}), core.EDUPLICATE)
	if o3, _ := s.GetOrder(ctx, "U-1"); o3.Status != core.StatusPaid || o3.Version != 2 {
		t.Fatalf("a duplicate event moved the order: %+v", o3)
	}
	// The same event id from another provider is a different event; entries
	// without an event id (rejected requests) never collide.
	if err := s.Apply(ctx, core.Change{Journal: &core.JournalEntry{Provider: "arca", EventID: "evt-9", Source: core.SourceWebhook, Verdict: core.VerdictIgnored}}); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ {
		if err := s.Apply(ctx, core.Change{Journal: &core.JournalEntry{Provider: "vpos", Source: core.SourceWebhook, Verdict: core.VerdictRejected}}); err != nil {
			t.Fatal(err)
		}
	}
}

func testAtomicity(t *testing.T, open Factory) {
	for _, step := range []string{"journal", "order", "outbox"} {
		t.Run("fail after "+step, func(t *testing.T) {
			var armed bool
			var mu sync.Mutex
			s := open(t, func(s string) error {
				mu.Lock()
				defer mu.Unlock()
				if armed && s == step {
					return errors.New("injected failure after " + s)
				}
				return nil
			})
			create(t, s, NewOrder("T-1"), "bitrix24")
			mu.Lock()
			armed = true
			mu.Unlock()
			o, _ := s.GetOrder(ctx, "T-1")
			o.Status = core.StatusPaid
			err := s.Apply(ctx, core.Change{Order: &o, ExpectedVersion: 1, Outbox: []string{"bitrix24", "amocrm"},
				Journal: &core.JournalEntry{Provider: "vpos", EventID: "e1", Source: core.SourceWebhook, Verdict: core.VerdictAccepted}})
			if err == nil {
				t.Fatal("injected failure was not reported")
			}
			if got, _ := s.GetOrder(ctx, "T-1"); got.Status != core.StatusPending || got.Version != 1 {
				t.Fatalf("order changed: %+v", got)
			}
			if j, ob := count(t, s, "T-1"); j != 1 || ob != 1 {
				t.Fatalf("left behind: journal %d (want 1) outbox %d (want 1)", j, ob)
			}
			// And the event is not burnt: it applies once the fault is gone.
			mu.Lock()
			armed = false
			mu.Unlock()
			if err := s.Apply(ctx, core.Change{Order: &o, ExpectedVersion: 1, Outbox: []string{"bitrix24"},
				Journal: &core.JournalEntry{Provider: "vpos", EventID: "e1", Source: core.SourceWebhook, Verdict: core.VerdictAccepted}}); err != nil {
				t.Fatalf("retry after fault: %v", err)
			}
		})
	}
}

func testConcurrentTransitions(t *testing.T, open Factory) {
	s := open(t, nil)
	o := NewOrder("C-1")
	o.Status = core.StatusFailed
	create(t, s, o)
	const workers = 20
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	var retries int64
	var mu sync.Mutex
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for attempt := 0; attempt < 1000; attempt++ {
				cur, err := s.GetOrder(ctx, "C-1")
				if err != nil {
					errs <- err
					return
				}
				// failed <-> manual_review is a cycle in the state machine.
				to := core.StatusManualReview
				if cur.Status == core.StatusManualReview {
					to = core.StatusFailed
				}
				if err := core.CheckTransition(cur.Status, to); err != nil {
					errs <- err
					return
				}
				from := cur.Status
				cur.Status = to
				cur.Reason = fmt.Sprintf("worker %d", w)
				err = s.Apply(ctx, core.Change{Order: &cur, ExpectedVersion: cur.Version, Outbox: []string{"bitrix24"},
					Journal: &core.JournalEntry{Source: core.SourceManual, Verdict: core.VerdictManual, StatusBefore: from, StatusAfter: to}})
				if core.ErrorCode(err) == core.ESTALE {
					mu.Lock()
					retries++
					mu.Unlock()
					continue
				}
				if err != nil {
					errs <- err
				}
				return
			}
			errs <- fmt.Errorf("worker %d never succeeded", w)
		}(w)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	final, _ := s.GetOrder(ctx, "C-1")
	if final.Version != 1+workers {
		t.Fatalf("final version %d, want %d (a lost update)", final.Version, 1+workers)
	}
	entries, _ := s.ListJournal(ctx, "C-1")
	if len(entries) != 1+workers {
		t.Fatalf("journal has %d entries, want %d", len(entries), 1+workers)
	}
	// Every transition starts where the previous one ended: no lost update.
	prev := core.StatusFailed
	for _, e := range entries[1:] {
		if e.StatusBefore != prev {
			t.Fatalf("entry %d starts at %s, previous ended at %s", e.ID, e.StatusBefore, prev)
		}
		prev = e.StatusAfter
	}
	if prev != final.Status {
		t.Fatalf("journal ends at %s, order is %s", prev, final.Status)
	}
	t.Logf("%d optimistic retries", retries)
}

func claimAll(t *testing.T, s core.Store, connector, owner string, limit int, now time.Time) []core.OutboxRecord {
	t.Helper()
	recs, err := s.ClaimOutbox(ctx, core.ClaimRequest{Connector: connector, Owner: owner, Token: owner + fmt.Sprint(time.Now().UnixNano()),
		Limit: limit, Lease: time.Minute, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	return recs
}

func testClaimersNeverShare(t *testing.T, open Factory) {
	s := open(t, nil)
	const orders = 120
	for i := 0; i < orders; i++ {
		create(t, s, NewOrder(fmt.Sprintf("Q-%03d", i)), "bitrix24", "amocrm")
	}
	var mu sync.Mutex
	seen := map[int64]string{}
	var wg sync.WaitGroup
	var failed error
	for c := 0; c < 4; c++ {
		wg.Add(1)
		go func(c int) {
			defer wg.Done()
			owner := fmt.Sprintf("claimer-%d", c)
			for round := 0; ; round++ {
				recs, err := s.ClaimOutbox(ctx, core.ClaimRequest{Connector: "bitrix24", Owner: owner,
					Token: fmt.Sprintf("%s-%d", owner, round), Limit: 7, Lease: time.Minute, Now: time.Now()})
				mu.Lock()
				if err != nil && failed == nil {
					failed = err
				}
				for _, r := range recs {
					if prev, ok := seen[r.ID]; ok && failed == nil {
						failed = fmt.Errorf("record %d claimed by %s and %s", r.ID, prev, owner)
					}
					seen[r.ID] = owner
					if r.Connector != "bitrix24" || r.LeaseOwner != owner || r.Attempts != 1 {
						failed = fmt.Errorf("claimed record %+v", r)
					}
				}
				mu.Unlock()
				if err != nil || len(recs) == 0 {
					return
				}
			}
		}(c)
	}
	wg.Wait()
	if failed != nil {
		t.Fatal(failed)
	}
	if len(seen) != orders {
		t.Fatalf("claimed %d records, want %d", len(seen), orders)
	}
}

func testClaimCoalesces(t *testing.T, open Factory) {
	s := open(t, nil)
	o := NewOrder("K-1")
	create(t, s, o, "bitrix24")
	for _, st := range []core.Status{core.StatusFailed, core.StatusPaid} {
		cur, _ := s.GetOrder(ctx, "K-1")
		cur.Status = st
		if err := s.Apply(ctx, core.Change{Order: &cur, ExpectedVersion: cur.Version, Outbox: []string{"bitrix24"}}); err != nil {
			t.Fatal(err)
		}
	}
	create(t, s, NewOrder("K-2"), "bitrix24")
	now := time.Now()
	recs := claimAll(t, s, "bitrix24", "a", 1, now)
	var versions []int64
	for _, r := range recs {
		if r.OrderID != "K-1" {
			t.Fatalf("limit 1 claimed another order's record: %+v", r)
		}
		versions = append(versions, r.OrderVersion)
	}
	sort.Slice(versions, func(i, j int) bool { return versions[i] < versions[j] })
	if fmt.Sprint(versions) != "[1 2 3]" {
		t.Fatalf("claimed versions %v, want every pending version of K-1", versions)
	}
	// While K-1 is leased, a new record for it is not handed to anyone else.
	cur, _ := s.GetOrder(ctx, "K-1")
	cur.Status = core.StatusRefunded
	if err := s.Apply(ctx, core.Change{Order: &cur, ExpectedVersion: cur.Version, Outbox: []string{"bitrix24"}}); err != nil {
		t.Fatal(err)
	}
	other := claimAll(t, s, "bitrix24", "b", 10, now)
	if len(other) != 1 || other[0].OrderID != "K-2" {
		t.Fatalf("second claimer got %+v, want only K-2", other)
	}
}

func testLeaseExpiry(t *testing.T, open Factory) {
	s := open(t, nil)
	create(t, s, NewOrder("L-1"), "sheets")
	now := time.Now()
	old, err := s.ClaimOutbox(ctx, core.ClaimRequest{Connector: "sheets", Owner: "old", Token: "tok-old", Limit: 10, Lease: 30 * time.Second, Now: now})
	if err != nil || len(old) != 1 {
		t.Fatalf("claim: %v %v", old, err)
	}
	if again := claimAll(t, s, "sheets", "early", 10, now.Add(10*time.Second)); len(again) != 0 {
		t.Fatalf("a live lease was reclaimed: %+v", again)
	}
	later := now.Add(31 * time.Second)
	re, err := s.ClaimOutbox(ctx, core.ClaimRequest{Connector: "sheets", Owner: "new", Token: "tok-new", Limit: 10, Lease: 30 * time.Second, Now: later})
	if err != nil || len(re) != 1 || re[0].ID != old[0].ID || re[0].Attempts != 2 {
		t.Fatalf("expired lease not reclaimed with the attempt counted: %+v %v", re, err)
	}
	err = s.CompleteOutbox(ctx, core.Completion{ID: old[0].ID, Token: "tok-old", Outcome: core.OutcomeDelivered, Now: later})
	wantCode(t, err, core.ELEASELOST)
	if err := s.CompleteOutbox(ctx, core.Completion{ID: re[0].ID, Token: "tok-new", Outcome: core.OutcomeDelivered, Now: later,
		Link: &core.CRMLink{Connector: "sheets", OrderID: "L-1", ExternalID: "row-7", SyncedVersion: 1, SyncedStatus: core.StatusPending}}); err != nil {
		t.Fatal(err)
	}
	wantCode(t, s.CompleteOutbox(ctx, core.Completion{ID: re[0].ID, Token: "tok-new", Outcome: core.OutcomeDelivered, Now: later}), core.ELEASELOST)
	d, _ := s.OrderDeliveries(ctx, "L-1")
	if d[0].State != core.DeliveryDelivered || d[0].ExternalID != "row-7" || d[0].DeliveredAt == nil {
		t.Fatalf("after ack: %+v", d[0])
	}
	if l, _ := s.GetLink(ctx, "sheets", "L-1"); l == nil || l.ExternalID != "row-7" {
		t.Fatalf("link not stored with the ack: %+v", l)
	}
}

func testCompleteOutcomes(t *testing.T, open Factory) {
	s := open(t, nil)
	create(t, s, NewOrder("R-1"), "amocrm")
	now := time.Now()
	recs := claimAll(t, s, "amocrm", "w", 10, now)
	retryAt := now.Add(5 * time.Minute)
	if err := s.CompleteOutbox(ctx, core.Completion{ID: recs[0].ID, Token: recs[0].LeaseToken, Outcome: core.OutcomeRetry, Error: "503 from amoCRM", AvailableAt: retryAt, Now: now}); err != nil {
		t.Fatal(err)
	}
	if got := claimAll(t, s, "amocrm", "w", 10, now.Add(time.Minute)); len(got) != 0 {
		t.Fatalf("record claimed before its backoff ended")
	}
	got := claimAll(t, s, "amocrm", "w", 10, retryAt)
	if len(got) != 1 || got[0].Attempts != 2 || got[0].LastError != "503 from amoCRM" {
		t.Fatalf("after backoff: %+v", got)
	}
	// A release gives the attempt back.
	if err := s.CompleteOutbox(ctx, core.Completion{ID: got[0].ID, Token: got[0].LeaseToken, Outcome: core.OutcomeRelease, AvailableAt: retryAt, Now: retryAt}); err != nil {
		t.Fatal(err)
	}
	got = claimAll(t, s, "amocrm", "w", 10, retryAt)
	if len(got) != 1 || got[0].Attempts != 2 {
		t.Fatalf("release counted an attempt: %+v", got)
	}
	wantCode(t, s.CompleteOutbox(ctx, core.Completion{ID: got[0].ID, Token: got[0].LeaseToken, Outcome: "bogus"}), core.EINVALID)
}

// ExpediteOutbox makes due now the records of one connector that wait
// for a retry: not another connector's, not a leased one, not a dead one,
// and without counting an attempt.
func testExpedite(t *testing.T, open Factory) {
	s := open(t, nil)
	for _, id := range []string{"X-1", "X-2", "X-3", "X-4"} {
		create(t, s, NewOrder(id), "amocrm", "sheets")
	}
	now := time.Now()
	later := now.Add(time.Hour)
	recs := claimAll(t, s, "amocrm", "w", 3, now) // X-4 stays due and unclaimed
	if len(recs) != 3 {
		t.Fatalf("claimed %d", len(recs))
	}
	settle := func(r core.OutboxRecord, o core.Outcome) {
		t.Helper()
		if err := s.CompleteOutbox(ctx, core.Completion{ID: r.ID, Token: r.LeaseToken, Outcome: o, Error: "502 from amoCRM", AvailableAt: later, Now: now}); err != nil {
			t.Fatal(err)
		}
	}
	settle(recs[0], core.OutcomeRetry) // waits an hour
	settle(recs[1], core.OutcomeDead)
	// recs[2] stays leased.
	for _, r := range claimAll(t, s, "sheets", "w", 10, now) {
		if err := s.CompleteOutbox(ctx, core.Completion{ID: r.ID, Token: r.LeaseToken, Outcome: core.OutcomeRetry, AvailableAt: later, Now: now}); err != nil {
			t.Fatal(err)
		}
	}
	at := now.Add(time.Second)
	n, err := s.ExpediteOutbox(ctx, "amocrm", at)
	if err != nil || n != 1 {
		t.Fatalf("expedite: %d records, %v; want the one waiting", n, err)
	}
	got := claimAll(t, s, "amocrm", "w2", 10, at)
	ids := map[string]int{}
	for _, r := range got {
		ids[r.OrderID] = r.Attempts
	}
	if len(got) != 2 || ids[recs[0].OrderID] != 2 || ids["X-4"] != 1 {
		t.Fatalf("claimed after expedite: %v, want %s (attempt 2) and X-4", ids, recs[0].OrderID)
	}
	if other := claimAll(t, s, "sheets", "w", 10, at); len(other) != 0 {
		t.Fatalf("another connector's records were expedited: %d", len(other))
	}
	if dead, _ := s.ListOutbox(ctx, "amocrm", core.DeliveryDead, 0); len(dead) != 1 {
		t.Fatalf("dead letters after expedite: %d, want 1", len(dead))
	}
	if n, err := s.ExpediteOutbox(ctx, "amocrm", at); err != nil || n != 0 {
		t.Fatalf("second expedite moved %d, %v", n, err)
	}
}

// A completion may carry a journal entry (a connector's notice): it is
// written with the settlement, and not at all when the lease was lost.
func testCompletionJournal(t *testing.T, open Factory) {
	s := open(t, nil)
	create(t, s, NewOrder("J-1"), "bitrix24")
	now := time.Now()
	recs := claimAll(t, s, "bitrix24", "w", 10, now)
	notice := func(reason string) *core.JournalEntry {
		return &core.JournalEntry{OrderID: "J-1", Source: core.SourceConnector, EventType: "bitrix24",
			Verdict: core.VerdictRelinked, Reason: reason}
	}
	link := &core.CRMLink{Connector: "bitrix24", OrderID: "J-1", ExternalID: "7", SyncedVersion: 1, SyncedStatus: core.StatusPending}
	wantCode(t, s.CompleteOutbox(ctx, core.Completion{ID: recs[0].ID, Token: "not-the-lease", Outcome: core.OutcomeDelivered, Now: now,
		Link: link, Journal: notice("from a lost lease")}), core.ELEASELOST)
	if err := s.CompleteOutbox(ctx, core.Completion{ID: recs[0].ID, Token: recs[0].LeaseToken, Outcome: core.OutcomeDelivered, Now: now,
		Link: link, Journal: notice("linked deal 1 belongs to order J-2; wrote deal 7 instead")}); err != nil {
		t.Fatal(err)
	}
	entries, err := s.ListJournal(ctx, "J-1")
	if err != nil {
		t.Fatal(err)
	}
	var relinked []core.JournalEntry
	for _, e := range entries {
		if e.Verdict == core.VerdictRelinked {
			relinked = append(relinked, e)
		}
	}
	if len(relinked) != 1 {
		t.Fatalf("relinked entries: %+v", relinked)
	}
	e := relinked[0]
	if e.Source != core.SourceConnector || e.EventType != "bitrix24" || e.Reason != "linked deal 1 belongs to order J-2; wrote deal 7 instead" ||
		e.OrderVersion != 0 || e.CreatedAt.IsZero() || e.ID <= entries[0].ID {
		t.Fatalf("relinked entry: %+v", e)
	}
	if l, _ := s.GetLink(ctx, "bitrix24", "J-1"); l == nil || l.ExternalID != "7" {
		t.Fatalf("link: %+v", l)
	}
}

func testDeadLetters(t *testing.T, open Factory) {
	s := open(t, nil)
	for i := 0; i < 3; i++ {
		create(t, s, NewOrder(fmt.Sprintf("D-%d", i)), "bitrix24")
	}
	create(t, s, NewOrder("D-9"), "sheets")
	now := time.Now()
	recs := claimAll(t, s, "bitrix24", "w", 10, now)
	if len(recs) != 3 {
		t.Fatalf("claimed %d", len(recs))
	}
	for _, r := range recs {
		if err := s.CompleteOutbox(ctx, core.Completion{ID: r.ID, Token: r.LeaseToken, Outcome: core.OutcomeDead, Error: "Bitrix24 rejected CURRENCY_ID AMD", Now: now}); err != nil {
			t.Fatal(err)
		}
	}
	dead, err := s.ListOutbox(ctx, "bitrix24", core.DeliveryDead, 0)
	if err != nil || len(dead) != 3 || dead[0].LastError != "Bitrix24 rejected CURRENCY_ID AMD" {
		t.Fatalf("dead letters: %+v %v", dead, err)
	}
	stats, _ := s.OutboxStats(ctx)
	byName := map[string]core.OutboxStat{}
	for _, st := range stats {
		byName[st.Connector] = st
	}
	if b := byName["bitrix24"]; b.Dead != 3 || b.Pending != 0 {
		t.Fatalf("bitrix24 stats %+v", b)
	}
	if sh := byName["sheets"]; sh.Pending != 1 || sh.OldestPending.IsZero() {
		t.Fatalf("sheets stats %+v", sh)
	}
	if err := s.RetryOutbox(ctx, dead[0].ID, now); err != nil {
		t.Fatal(err)
	}
	wantCode(t, s.RetryOutbox(ctx, dead[0].ID, now), core.ENOTFOUND)
	n, err := s.RetryAllDead(ctx, "bitrix24", now)
	if err != nil || n != 2 {
		t.Fatalf("retry all dead: %d %v", n, err)
	}
	again := claimAll(t, s, "bitrix24", "w", 10, now)
	if len(again) != 3 || again[0].Attempts != 2 {
		t.Fatalf("requeued records: %+v", again)
	}
	for _, r := range again {
		if err := s.CompleteOutbox(ctx, core.Completion{ID: r.ID, Token: r.LeaseToken, Outcome: core.OutcomeDelivered, Now: now}); err != nil {
			t.Fatal(err)
		}
	}
	// D-0 changes again and is delivered again: still three orders delivered.
	if err := s.Enqueue(ctx, "D-0", []string{"bitrix24"}, now); err != nil {
		t.Fatal(err)
	}
	for _, r := range claimAll(t, s, "bitrix24", "w", 10, now) {
		if err := s.CompleteOutbox(ctx, core.Completion{ID: r.ID, Token: r.LeaseToken, Outcome: core.OutcomeDelivered, Now: now}); err != nil {
			t.Fatal(err)
		}
	}
	stats, _ = s.OutboxStats(ctx)
	for _, st := range stats {
		if st.Connector == "bitrix24" && st.Delivered != 3 {
			t.Fatalf("bitrix24 delivered %d, want 3 orders (4 records)", st.Delivered)
		}
	}
	purged, err := s.PurgeDelivered(ctx, now.Add(time.Second))
	if err != nil || purged != 4 {
		t.Fatalf("purged %d %v", purged, err)
	}
	if j, _ := s.ListJournal(ctx, "D-0"); len(j) != 1 {
		t.Fatalf("purge touched the journal")
	}
	if err := s.Enqueue(ctx, "D-0", []string{"bitrix24"}, now); err != nil {
		t.Fatal(err)
	}
	if re := claimAll(t, s, "bitrix24", "w", 10, now); len(re) != 1 || re[0].OrderVersion != 1 {
		t.Fatalf("enqueue: %+v", re)
	}
	wantCode(t, s.Enqueue(ctx, "missing", []string{"bitrix24"}, now), core.ENOTFOUND)
}

func testLinks(t *testing.T, open Factory) {
	s := open(t, nil)
	create(t, s, NewOrder("N-1"), "bitrix24", "bitrix24")
	now := time.Now()
	recs := claimAll(t, s, "bitrix24", "w", 10, now)
	if len(recs) != 2 {
		t.Fatalf("claimed %d", len(recs))
	}
	ack := func(r core.OutboxRecord, v int64, ext string) {
		if err := s.CompleteOutbox(ctx, core.Completion{ID: r.ID, Token: r.LeaseToken, Outcome: core.OutcomeDelivered, Now: now,
			Link: &core.CRMLink{Connector: "bitrix24", OrderID: "N-1", ExternalID: ext, SyncedVersion: v, SyncedStatus: core.StatusPaid}}); err != nil {
			t.Fatal(err)
		}
	}
	ack(recs[0], 5, "deal-5")
	ack(recs[1], 3, "deal-3") // older: must not win
	l, err := s.GetLink(ctx, "bitrix24", "N-1")
	if err != nil || l == nil || l.SyncedVersion != 5 || l.ExternalID != "deal-5" {
		t.Fatalf("link regressed: %+v %v", l, err)
	}
	if none, err := s.GetLink(ctx, "amocrm", "N-1"); none != nil || err != nil {
		t.Fatalf("absent link: %+v %v", none, err)
	}
	if all, _ := s.ListLinks(ctx, "N-1"); len(all) != 1 {
		t.Fatalf("links: %+v", all)
	}
}

func testState(t *testing.T, open Factory) {
	s := open(t, nil)
	if _, _, err := s.GetState(ctx, "amocrm", "token"); core.ErrorCode(err) != core.ENOTFOUND {
		t.Fatalf("absent state: %v", err)
	}
	if err := s.PutState(ctx, "amocrm", "token", "v1", 0); err != nil {
		t.Fatal(err)
	}
	wantCode(t, s.PutState(ctx, "amocrm", "token", "again", 0), core.ESTALE)
	if err := s.PutState(ctx, "amocrm", "token", "v2", 1); err != nil {
		t.Fatal(err)
	}
	wantCode(t, s.PutState(ctx, "amocrm", "token", "stale", 1), core.ESTALE)
	v, ver, err := s.GetState(ctx, "amocrm", "token")
	if v != "v2" || ver != 2 || err != nil {
		t.Fatalf("state %q v%d %v", v, ver, err)
	}
	// Concurrent swaps from one version: exactly one wins (a refresh token is single-use).
	var wg sync.WaitGroup
	var wins int
	var mu sync.Mutex
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			if s.PutState(ctx, "amocrm", "token", fmt.Sprint("w", i), 2) == nil {
				mu.Lock()
				wins++
				mu.Unlock()
			}
		}(i)
	}
	wg.Wait()
	if wins != 1 {
		t.Fatalf("%d concurrent swaps won, want 1", wins)
	}
}

func testLeaderLease(t *testing.T, open Factory) {
	s := open(t, nil)
	now := time.Now()
	ok, err := s.AcquireLease(ctx, "dispatcher:bitrix24", "a", 10*time.Second, now)
	if !ok || err != nil {
		t.Fatalf("a: %v %v", ok, err)
	}
	if ok, _ := s.AcquireLease(ctx, "dispatcher:bitrix24", "b", 10*time.Second, now.Add(time.Second)); ok {
		t.Fatal("b took a live lease")
	}
	if ok, _ := s.AcquireLease(ctx, "dispatcher:bitrix24", "a", 10*time.Second, now.Add(5*time.Second)); !ok {
		t.Fatal("a could not renew")
	}
	if ok, _ := s.AcquireLease(ctx, "dispatcher:amocrm", "b", 10*time.Second, now); !ok {
		t.Fatal("leases are per name")
	}
	if ok, _ := s.AcquireLease(ctx, "dispatcher:bitrix24", "b", 10*time.Second, now.Add(16*time.Second)); !ok {
		t.Fatal("b could not take an expired lease")
	}
	if ok, _ := s.AcquireLease(ctx, "dispatcher:bitrix24", "a", 10*time.Second, now.Add(17*time.Second)); ok {
		t.Fatal("a took the lease back from b")
	}
	if err := s.ReleaseLease(ctx, "dispatcher:bitrix24", "b"); err != nil {
		t.Fatal(err)
	}
	if ok, _ := s.AcquireLease(ctx, "dispatcher:bitrix24", "a", 10*time.Second, now.Add(18*time.Second)); !ok {
		t.Fatal("a could not take a released lease")
	}
}

// testFencedLeases is issue 23's fencing: a lease's generation grows when it
// changes hands; a replica that lost its lease (it was paused, or cut off
// from the database) claims nothing and settles nothing, and the new
// leader takes over the records it had claimed at once.
func testFencedLeases(t *testing.T, open Factory) {
	s := open(t, nil)
	f, ok := s.(core.FencedLeaser)
	if !ok {
		t.Skip("the store keeps no lease generations")
	}
	const lease = "dispatcher:bitrix24"
	create(t, s, NewOrder("F-1"), "bitrix24")
	create(t, s, NewOrder("F-2"), "bitrix24")
	now := time.Now()
	genA, err := f.AcquireFencedLease(ctx, lease, "a", 6*time.Second, now)
	if err != nil || genA < 1 {
		t.Fatalf("a: generation %d, %v", genA, err)
	}
	if g, _ := f.AcquireFencedLease(ctx, lease, "a", 6*time.Second, now.Add(time.Second)); g != genA {
		t.Fatalf("a renewal moved the generation from %d to %d", genA, g)
	}
	if g, _ := f.AcquireFencedLease(ctx, lease, "b", 6*time.Second, now.Add(2*time.Second)); g != 0 {
		t.Fatalf("b got generation %d of a live lease", g)
	}
	fenceA := &core.Fence{Lease: lease, Holder: "a", Generation: genA}
	recs, err := s.ClaimOutbox(ctx, core.ClaimRequest{Connector: "bitrix24", Owner: "a", Token: "tok-a", Limit: 1, Lease: time.Minute, Now: now.Add(2 * time.Second), Fence: fenceA})
	if err != nil || len(recs) != 1 {
		t.Fatalf("a's fenced claim: %+v %v", recs, err)
	}

	// a is paused past its lease; b takes over.
	later := now.Add(9 * time.Second)
	genB, err := f.AcquireFencedLease(ctx, lease, "b", 6*time.Second, later)
	if err != nil || genB <= genA {
		t.Fatalf("b took an expired lease at generation %d (a had %d): %v", genB, genA, err)
	}
	if g, _ := f.AcquireFencedLease(ctx, lease, "a", 6*time.Second, later.Add(time.Second)); g != 0 {
		t.Fatalf("a got generation %d of b's live lease", g)
	}
	if stale, err := s.ClaimOutbox(ctx, core.ClaimRequest{Connector: "bitrix24", Owner: "a", Token: "tok-a2", Limit: 10, Lease: time.Minute, Now: later, Fence: fenceA}); err != nil || len(stale) != 0 {
		t.Fatalf("a claimed %d records under a stale fence (%v)", len(stale), err)
	}
	fenceB := &core.Fence{Lease: lease, Holder: "b", Generation: genB}
	took, err := s.ClaimOutbox(ctx, core.ClaimRequest{Connector: "bitrix24", Owner: "b", Token: "tok-b", Limit: 10, Lease: time.Minute, Now: later, Fence: fenceB})
	if err != nil || len(took) != 2 {
		t.Fatalf("b's fenced claim took %d records, want both (a's claim included, its minute not over): %v", len(took), err)
	}
	// a wakes up and acknowledges what it had claimed: refused, however the
	// record's own token reads.
	err = s.CompleteOutbox(ctx, core.Completion{ID: recs[0].ID, Token: "tok-b", Outcome: core.OutcomeDelivered, Now: later, Fence: fenceA})
	wantCode(t, err, core.ELEASELOST)
	if b, ok := s.(core.BatchStore); ok {
		errs, err := b.CompleteOutboxBatch(ctx, []core.Completion{{ID: recs[0].ID, Token: "tok-b", Outcome: core.OutcomeDelivered, Now: later, Fence: fenceA}})
		if err != nil || len(errs) != 1 {
			t.Fatalf("stale batch: %v %v", errs, err)
		}
		wantCode(t, errs[0], core.ELEASELOST)
	}
	d, _ := s.OrderDeliveries(ctx, recs[0].OrderID)
	if d[0].State != core.DeliveryPending {
		t.Fatalf("a stale holder settled a record: %+v", d[0])
	}
	for _, r := range took {
		if err := s.CompleteOutbox(ctx, core.Completion{ID: r.ID, Token: "tok-b", Outcome: core.OutcomeDelivered, Now: later, Fence: fenceB}); err != nil {
			t.Fatalf("b's ack: %v", err)
		}
	}
	// A release keeps the generation growing.
	if err := s.ReleaseLease(ctx, lease, "b"); err != nil {
		t.Fatal(err)
	}
	if g, _ := f.AcquireFencedLease(ctx, lease, "a", 6*time.Second, later.Add(2*time.Second)); g <= genB {
		t.Fatalf("a took the released lease at generation %d, want more than b's %d", g, genB)
	}
}

func testDueOrders(t *testing.T, open Factory) {
	s := open(t, nil)
	create(t, s, NewOrder("E-1"))
	paid := NewOrder("E-2")
	paid.Status = core.StatusPaid
	create(t, s, paid)
	due, err := s.DueOrders(ctx, []core.Status{core.StatusPending, core.StatusFailed}, time.Time{}, time.Now().Add(time.Second), 10)
	if err != nil || len(due) != 1 || due[0].ID != "E-1" {
		t.Fatalf("due: %+v %v", due, err)
	}
	if none, _ := s.DueOrders(ctx, []core.Status{core.StatusPending}, time.Time{}, time.Now().Add(-time.Hour), 10); len(none) != 0 {
		t.Fatalf("cutoff ignored: %+v", none)
	}
	if none, _ := s.DueOrders(ctx, []core.Status{core.StatusPending}, time.Now().Add(time.Minute), time.Now().Add(time.Hour), 10); len(none) != 0 {
		t.Fatalf("lower bound ignored: %+v", none)
	}
	// Expiry: only orders whose expires_at has passed, soonest first,
	// however many older orders without an expiry there are.
	for i := 0; i < 5; i++ {
		o := NewOrder(fmt.Sprintf("E-noexp-%d", i))
		o.ExpiresAt = nil
		create(t, s, o)
	}
	now := time.Now()
	for i, ago := range []time.Duration{time.Minute, time.Hour} {
		o := NewOrder(fmt.Sprintf("E-exp-%d", i))
		exp := now.Add(-ago)
		o.ExpiresAt = &exp
		create(t, s, o)
	}
	exp, err := s.ExpiredOrders(ctx, []core.Status{core.StatusPending, core.StatusFailed}, now, 10)
	if err != nil || len(exp) != 2 || exp[0].ID != "E-exp-1" || exp[1].ID != "E-exp-0" {
		t.Fatalf("expired orders: %+v %v", exp, err)
	}
}

// testAnyBytesStored: a journal payload keeps any bytes exactly (invalid
// UTF-8, NUL, every byte value), and text fields holding invalid UTF-8 or
// NUL are stored cleaned (core.CleanText), the same on every driver, instead
// of failing the write. Lookups by ids no stored id can equal find nothing.
func testAnyBytesStored(t *testing.T, open Factory) {
	s := open(t, nil)
	o := NewOrder("T-1")
	create(t, s, o)
	every := make([]byte, 0, 512)
	for i := 0; i < 512; i++ {
		every = append(every, byte(i))
	}
	payload := append([]byte("{\"note\":\"Հայաստան \xd5\",\"ref\":\"\\u0000\"}\x00"), every...)
	dirty := func(s string) string { return s + "\x00\xff\xd5" }
	next := *o
	next.Status = core.StatusPaid
	next.ProviderRef, next.Reason = dirty("pi_"), dirty("Москва ")
	j := &core.JournalEntry{OrderID: "T-1", Provider: "generic", EventID: "ev-bytes", Source: core.SourceWebhook,
		EventType: dirty("payment."), Verdict: core.VerdictAccepted, StatusBefore: core.StatusPending, StatusAfter: core.StatusPaid,
		AmountMinor: o.AmountMinor, Currency: "AMD", ProviderRef: dirty("pi_"), Reason: dirty("Երևան ")}
	j.KeepPayload(payload)
	if err := s.Apply(ctx, core.Change{Journal: j, Order: &next, ExpectedVersion: 1}); err != nil {
		t.Fatalf("write with any bytes: %v", err)
	}
	entries, err := s.ListJournal(ctx, "T-1")
	if err != nil {
		t.Fatal(err)
	}
	e := entries[len(entries)-1]
	if string(e.Payload) != string(payload) || e.PayloadSize != int64(len(payload)) || e.PayloadSHA256 != j.PayloadSHA256 || e.PayloadSHA256 == "" {
		t.Fatalf("payload changed in the store: %d bytes back of %d (size %d, digest %q)", len(e.Payload), len(payload), e.PayloadSize, e.PayloadSHA256)
	}
	if e.EventType != core.CleanText(dirty("payment.")) || e.ProviderRef != core.CleanText(dirty("pi_")) || e.Reason != core.CleanText(dirty("Երևան ")) {
		t.Fatalf("text fields: %q %q %q", e.EventType, e.ProviderRef, e.Reason)
	}
	got, err := s.GetOrder(ctx, "T-1")
	if err != nil {
		t.Fatal(err)
	}
	if got.ProviderRef != core.CleanText(dirty("pi_")) || got.Reason != core.CleanText(dirty("Москва ")) || got.Status != core.StatusPaid {
		t.Fatalf("order text fields: %q %q %s", got.ProviderRef, got.Reason, got.Status)
	}
	// An entry without a payload reads back as an empty one.
	if err := s.Apply(ctx, core.Change{Journal: &core.JournalEntry{OrderID: "T-1", Source: core.SourceManual, Verdict: core.VerdictManual}}); err != nil {
		t.Fatal(err)
	}
	entries, _ = s.ListJournal(ctx, "T-1")
	if e := entries[len(entries)-1]; len(e.Payload) != 0 || e.PayloadSize != 0 {
		t.Fatalf("empty payload read back as %q (%d)", e.Payload, e.PayloadSize)
	}
	// A search with a NUL or invalid UTF-8 is refused, never "match all".
	for _, q := range []core.OrderQuery{{Q: "\x00"}, {Q: "T-\xff"}, {Before: "T\x00"}} {
		if got, err := s.ListOrders(ctx, q); core.ErrorCode(err) != core.EINVALID {
			t.Fatalf("ListOrders(%+v) = %d orders, %v; want EINVALID", q, len(got), err)
		}
	}
	for _, id := range []string{"T-1\x00", "\xff", "T\xd5"} {
		if _, err := s.GetOrder(ctx, id); core.ErrorCode(err) != core.ENOTFOUND {
			t.Fatalf("GetOrder(%q): %v, want not found", id, err)
		}
		if j, err := s.ListJournal(ctx, id); err != nil || len(j) != 0 {
			t.Fatalf("ListJournal(%q): %v %v", id, j, err)
		}
	}
}

// testRefusalsCounted: refused requests of one provider, source, verdict and
// window are one record that counts them and keeps the first one's reason
// and sample (bytes exactly) and the latest reason; retention deletes whole
// records by their last request.
func testRefusalsCounted(t *testing.T, open Factory) {
	s := open(t, nil)
	base := time.Date(2025, 3, 1, 10, 0, 0, 0, time.UTC)
	first := []byte("\x00\xff{\"forged\":\"Հ\xd5\"}")
	add := func(source string, v core.Verdict, reason string, body []byte, at time.Time) {
		t.Helper()
		if err := s.RecordRefusal(ctx, core.NewRefusal("generic", source, v, reason, core.SampleOf(body), at)); err != nil {
			t.Fatalf("record refusal: %v", err)
		}
	}
	add("203.0.113.7", core.VerdictRejected, "missing webhook-id \xff\x00", first, base.Add(time.Minute))
	add("203.0.113.7", core.VerdictRejected, "webhook signature does not match", make([]byte, 1000), base.Add(2*time.Minute))
	throttled := core.NewRefusal("generic", "203.0.113.7", core.VerdictRejected, "over the limit", core.SampleOf(make([]byte, 10)), base.Add(3*time.Minute))
	throttled.Requests, throttled.Throttled, throttled.Bytes = 5, 5, 50
	if err := s.RecordRefusal(ctx, throttled); err != nil {
		t.Fatal(err)
	}
	add("203.0.113.7", core.VerdictMalformed, "not JSON", []byte("x"), base.Add(4*time.Minute))
	add("203.0.113.7", core.VerdictRejected, "next hour", []byte("y"), base.Add(70*time.Minute))
	add("198.51.100.1", core.VerdictRejected, "another source", []byte("z"), base.Add(5*time.Minute))

	got, err := s.ListRefusals(ctx, 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 4 {
		t.Fatalf("%d records, want 4 (one per source, verdict and hour): %+v", len(got), got)
	}
	if got[0].Reason != "next hour" {
		t.Fatalf("not latest first: %+v", got[0])
	}
	var r *core.Refusal
	for i := range got {
		if got[i].Source == "203.0.113.7" && got[i].Verdict == core.VerdictRejected && got[i].WindowStart.Equal(base) {
			r = &got[i]
		}
	}
	if r == nil {
		t.Fatalf("no record for the first window: %+v", got)
	}
	if r.Requests != 7 || r.Throttled != 5 || r.Bytes != int64(len(first))+1000+50 || !r.FirstAt.Equal(base.Add(time.Minute)) ||
		!r.LastAt.Equal(base.Add(3*time.Minute)) {
		t.Fatalf("counts: %+v", *r)
	}
	if r.Reason != core.CleanText("missing webhook-id \xff\x00") || r.LastReason != "over the limit" {
		t.Fatalf("reasons %q / %q", r.Reason, r.LastReason)
	}
	if string(r.Sample) != string(first) || r.SampleSize != int64(len(first)) || r.SampleSHA256 == "" {
		t.Fatalf("sample %q (%d bytes, digest %q), want the first request's bytes", r.Sample, r.SampleSize, r.SampleSHA256)
	}
	n, err := s.PurgeRefusals(ctx, base.Add(30*time.Minute))
	if err != nil || n != 3 {
		t.Fatalf("purge: %d %v, want the 3 records last seen before the cutoff", n, err)
	}
	if got, _ := s.ListRefusals(ctx, 100); len(got) != 1 || got[0].Reason != "next hour" {
		t.Fatalf("after purge: %+v", got)
	}
}

// testRefusalsBoundedPerWindow: refused requests from more sources than
// core.MaxRefusalSources in one window leave MaxRefusalSources records and
// one for the others, and every request is still counted.
func testRefusalsBoundedPerWindow(t *testing.T, open Factory) {
	s := open(t, nil)
	at := time.Date(2025, 3, 1, 10, 5, 0, 0, time.UTC)
	const sources = 3 * core.MaxRefusalSources
	for i := 0; i < sources; i++ {
		r := core.NewRefusal("generic", fmt.Sprintf("10.%d.%d.0/24", i/250, i%250), core.VerdictRejected, "bad signature", core.SampleOf([]byte("x")), at)
		if err := s.RecordRefusal(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	// The first sources go on being counted in their own records.
	if err := s.RecordRefusal(ctx, core.NewRefusal("generic", "10.0.0.0/24", core.VerdictRejected, "again", core.SampleOf([]byte("y")), at)); err != nil {
		t.Fatal(err)
	}
	// Another verdict, provider or window has its own places.
	if err := s.RecordRefusal(ctx, core.NewRefusal("generic", "10.9.9.0/24", core.VerdictMalformed, "not JSON", core.SampleOf([]byte("z")), at)); err != nil {
		t.Fatal(err)
	}
	got, err := s.ListRefusals(ctx, 500)
	if err != nil {
		t.Fatal(err)
	}
	var requests, others, malformed int64
	bySource := map[string]int64{}
	for _, r := range got {
		if r.Verdict == core.VerdictMalformed {
			malformed += r.Requests
			continue
		}
		requests += r.Requests
		bySource[r.Source] += r.Requests
		if r.Source == core.OtherSources {
			others += r.Requests
		}
	}
	if len(got) != core.MaxRefusalSources+2 || requests != sources+1 || others != sources-core.MaxRefusalSources || malformed != 1 {
		t.Fatalf("%d records counting %d requests (%d under %q, %d malformed); want %d records counting %d (%d others, 1 malformed)",
			len(got), requests, others, core.OtherSources, malformed, core.MaxRefusalSources+2, sources+1, sources-core.MaxRefusalSources)
	}
	if bySource["10.0.0.0/24"] != 2 {
		t.Fatalf("the first source counted %d requests, want 2 in its own record", bySource["10.0.0.0/24"])
	}
}
