package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strings"

	"github.com/paysync/paysync/core"
	"github.com/paysync/paysync/dispatcher"
	"github.com/paysync/paysync/httpapi"
	"github.com/paysync/paysync/mapping"
	"github.com/paysync/paysync/sandbox"
)

// findings is what the checks found, counted, with the first examples.
type findings struct {
	// paysync's side
	wrongStatus  int // final status (or refunds' total) differs from what the events imply
	lostEvents   int // an event answered 2xx that is not in the journal
	dupEvents    int // an event journaled twice as new
	regressed    int // a journaled status change the state machine does not allow, or a broken chain
	notDelivered int // an order's delivery not in state delivered after the drain
	crm          map[string]*crmFindings
	examples     []string
}

// crmFindings is one CRM double's part.
type crmFindings struct {
	records    int
	lost       int // orders without a record
	duplicated int // records beyond the first for an order, or records of no order of the test
	regressed  int // a record's stage moved against the forward-only policy
	stale      int // a record not showing the order's final status or stage
}

func (f *findings) note(format string, args ...any) {
	if len(f.examples) < 25 {
		f.examples = append(f.examples, fmt.Sprintf(format, args...))
	}
}

func (f *findings) total() int {
	n := f.wrongStatus + f.lostEvents + f.dupEvents + f.regressed + f.notDelivered
	for _, c := range f.crm {
		n += c.lost + c.duplicated + c.regressed + c.stale
	}
	return n
}

// orderView reads GET /v1/orders/{id}.
func (s *sender) orderView(ctx context.Context, id string) (httpapi.OrderView, error) {
	var v httpapi.OrderView
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.base+"/v1/orders/"+id, nil)
	req.Header.Set("Authorization", "Bearer "+s.adminToken)
	resp, err := s.client.Do(req)
	if err != nil {
		return v, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return v, fmt.Errorf("GET /v1/orders/%s: %d", id, resp.StatusCode)
	}
	return v, json.NewDecoder(resp.Body).Decode(&v)
}

// outboxStats reads GET /v1/outbox/stats.
func (s *sender) outboxStats(ctx context.Context) ([]dispatcher.ConnectorStats, error) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.base+"/v1/outbox/stats", nil)
	req.Header.Set("Authorization", "Bearer "+s.adminToken)
	resp, err := s.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET /v1/outbox/stats: %d", resp.StatusCode)
	}
	var out struct {
		Connectors []dispatcher.ConnectorStats `json:"connectors"`
	}
	err = json.NewDecoder(resp.Body).Decode(&out)
	return out.Connectors, err
}

// checkPaysync holds each order in paysync to its story: the final status
// the events imply, every event journaled once, every status change one the
// state machine allows, in an unbroken chain, every delivery delivered.
func checkPaysync(f *findings, st *story, v httpapi.OrderView, crms []string) {
	want, wantRefunded := st.implied()
	o := v.Order
	if o.Status != want || (want == core.StatusPartiallyRefunded || want == core.StatusRefunded) && o.RefundedMinor != wantRefunded {
		f.wrongStatus++
		f.note("%s (%s, %s): paysync says %s with %d refunded; its events imply %s with %d refunded\n%s",
			st.id, st.shape, st.history.Style(), o.Status, o.RefundedMinor, want, wantRefunded, st.history)
	}
	// A redelivery is journaled without the event id (verified events
	// are unique by it); a new event that changes nothing keeps it.
	seen := map[string]int{}
	for _, e := range v.Journal {
		if e.EventID != "" {
			seen[e.EventID]++
		}
	}
	for _, e := range st.history.Events {
		switch n := seen[eventID(st.id, e)]; {
		case n == 0:
			f.lostEvents++
			f.note("%s: event %s was answered 2xx but is not in the journal", st.id, eventID(st.id, e))
		case n > 1:
			f.dupEvents++
			f.note("%s: event %s is journaled %d times", st.id, eventID(st.id, e), n)
		}
	}
	// The status changes, in the order of the versions they made.
	var moves []core.JournalEntry
	for _, e := range v.Journal {
		if e.StatusBefore != "" && e.StatusAfter != "" && e.StatusBefore != e.StatusAfter {
			moves = append(moves, e)
		}
	}
	sort.SliceStable(moves, func(i, j int) bool { return moves[i].OrderVersion < moves[j].OrderVersion })
	cur := core.StatusPending
	for _, m := range moves {
		if m.StatusBefore != cur || !core.CanTransition(m.StatusBefore, m.StatusAfter) {
			f.regressed++
			f.note("%s: journal moves %s -> %s (version %d) while the order was %s", st.id, m.StatusBefore, m.StatusAfter, m.OrderVersion, cur)
		}
		cur = m.StatusAfter
	}
	if cur != o.Status {
		f.regressed++
		f.note("%s: the journal's status changes end at %s, the order is %s", st.id, cur, o.Status)
	}
	states := map[string]string{}
	for _, d := range v.Deliveries {
		states[d.Connector] = string(d.State)
	}
	for _, name := range crms {
		if states[name] != string(core.DeliveryDelivered) {
			f.notDelivered++
			f.note("%s: delivery to %s is %q after the drain", st.id, name, states[name])
		}
	}
}

// crmRules is what the shipped mapping of one connector says: the stage of
// each status ("" keeps the record where it is) and the forward-only policy.
type crmRules struct {
	m      *mapping.Mapping
	stages map[core.Status]string
}

func loadRules(names []string) (map[string]crmRules, error) {
	ms, err := mapping.LoadDir("", names)
	if err != nil {
		return nil, err
	}
	out := map[string]crmRules{}
	for _, name := range names {
		r := crmRules{m: ms[name], stages: map[core.Status]string{}}
		for _, s := range core.Statuses {
			p, err := r.m.Render(mapping.Input{Order: core.Order{ID: "RULES-1", Status: s, AmountMinor: 100, Currency: "AMD",
				Items: []core.Item{{Name: "x", Quantity: 1, PriceMinor: 100}}}})
			if err != nil {
				return nil, fmt.Errorf("%s: render %s: %w", name, s, err)
			}
			r.stages[s] = p.Stage
		}
		out[name] = r
	}
	return out, nil
}

// checkCRM holds one CRM double to the orders: exactly one record per
// order, showing its final status at the stage the mapping gives it, and a
// stage history the forward-only policy allows.
func checkCRM(f *findings, name string, rules crmRules, recs []sandbox.Record, stories []*story, views map[string]httpapi.OrderView) {
	c := &crmFindings{records: len(recs)}
	f.crm[name] = c
	byOrder := map[string][]sandbox.Record{}
	for _, r := range recs {
		byOrder[r.OrderID] = append(byOrder[r.OrderID], r)
	}
	known := map[string]bool{}
	for _, st := range stories {
		known[st.id] = true
	}
	for id, rs := range byOrder {
		if !known[id] {
			c.duplicated += len(rs)
			f.note("%s: %d records of order %q, which the test never created", name, len(rs), id)
		}
	}
	for _, st := range stories {
		rs := byOrder[st.id]
		switch {
		case len(rs) == 0:
			c.lost++
			f.note("%s: no record of %s", name, st.id)
			continue
		case len(rs) > 1:
			c.duplicated += len(rs) - 1
			var ids []string
			for _, r := range rs {
				ids = append(ids, r.ID)
			}
			f.note("%s: %d records of %s: %s", name, len(rs), st.id, strings.Join(ids, ", "))
		}
		v := views[st.id]
		final := v.Order.Status
		held := map[string]bool{rules.stages[core.StatusPending]: true}
		for _, e := range v.Journal {
			for _, s := range []core.Status{e.StatusBefore, e.StatusAfter} {
				if s != "" && rules.stages[s] != "" {
					held[rules.stages[s]] = true
				}
			}
		}
		for _, r := range rs {
			if r.Status != final {
				c.stale++
				f.note("%s: record %s of %s shows status %q, the order is %s", name, r.ID, st.id, r.Status, final)
			}
			want := rules.stages[final]
			switch {
			case want != "" && r.Stage != want:
				c.stale++
				f.note("%s: record %s of %s is at stage %q; %s orders belong at %q", name, r.ID, st.id, r.Stage, final, want)
			case want == "" && !held[r.Stage] && (len(r.Stages) == 0 || r.Stage != r.Stages[0]):
				// A status without a stage keeps the record where an
				// earlier status put it, or where it was created.
				c.stale++
				f.note("%s: record %s of %s (%s) is at stage %q, which none of its statuses gives", name, r.ID, st.id, final, r.Stage)
			}
			for i := 1; i < len(r.Stages); i++ {
				if !rules.m.AllowStageMove(r.Stages[i-1], r.Stages[i]) {
					c.regressed++
					f.note("%s: record %s of %s moved %q -> %q against the forward-only policy (stages %v)", name, r.ID, st.id, r.Stages[i-1], r.Stages[i], r.Stages)
				}
			}
		}
	}
}

// checkMessages holds a messaging double (Instagram Direct) to the orders:
// each message about an order the test created, none sent twice for one
// change (the same status twice in a row; partial refunds at most once
// each), in the order the order's statuses came, and the last one telling
// the order's final status when that status has a message (all of them
// but pending, which has no link in this test, and manual_review).
func checkMessages(f *findings, name string, recs []sandbox.Record, stories []*story, views map[string]httpapi.OrderView) {
	c := &crmFindings{records: len(recs)}
	f.crm[name] = c
	byOrder := map[string][]sandbox.Record{}
	for _, r := range recs {
		byOrder[r.OrderID] = append(byOrder[r.OrderID], r)
	}
	known := map[string]bool{}
	for _, st := range stories {
		known[st.id] = true
	}
	for id, rs := range byOrder {
		if !known[id] {
			c.duplicated += len(rs)
			f.note("%s: %d messages about order %q, which the test never created", name, len(rs), id)
		}
	}
	for _, st := range stories {
		rs := byOrder[st.id]
		v := views[st.id]
		var entered []core.Status // the statuses the order entered, in order
		partial := 0
		for _, e := range v.Journal {
			if e.StatusAfter == "" || e.OrderVersion == 0 {
				continue
			}
			if e.StatusAfter == core.StatusPartiallyRefunded && (e.Verdict == core.VerdictAccepted || e.Verdict == core.VerdictOrphan) {
				partial++
			}
			if len(entered) == 0 || entered[len(entered)-1] != e.StatusAfter {
				entered = append(entered, e.StatusAfter)
			}
		}
		at, told := 0, map[core.Status]int{}
		for i, r := range rs {
			told[r.Status]++
			if i > 0 && r.Status == rs[i-1].Status && r.Status != core.StatusPartiallyRefunded {
				c.duplicated++
				f.note("%s: %s was told %s twice (messages %s and %s)", name, st.id, r.Status, rs[i-1].ID, r.ID)
			}
			j := at
			for j < len(entered) && entered[j] != r.Status {
				j++
			}
			if j == len(entered) {
				c.regressed++
				f.note("%s: %s was told %s after %s, out of the order's statuses %v", name, st.id, r.Status, rs[max(i-1, 0)].Status, entered)
				continue
			}
			at = j
		}
		if n := told[core.StatusPartiallyRefunded]; n > max(partial, 1) {
			c.duplicated += n - max(partial, 1)
			f.note("%s: %s was told of %d partial refunds, it had %d", name, st.id, n, partial)
		}
		final := v.Order.Status
		if final == core.StatusPending || final == core.StatusManualReview {
			continue
		}
		switch {
		case len(rs) == 0:
			c.lost++
			f.note("%s: %s is %s and its customer was told nothing", name, st.id, final)
		case rs[len(rs)-1].Status != final:
			c.stale++
			f.note("%s: %s is %s but its customer was last told %s", name, st.id, final, rs[len(rs)-1].Status)
		}
	}
}
