package amocrm

import (
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/paysync/paysync/sandbox/chaos"
)

// Faults, manager actions and inspection. Each is a Go method and, for the
// demo and manual poking, a route under /_sandbox/ (no auth: the sandbox is local).

// SetChaos turns random faults on (a profile) or off (nil): every API
// request after the limits and auth may answer 502, hang, or get a 429 in a
// burst (not counted toward the block), and a write that went through may
// lose its answer.
func (a *Account) SetChaos(profile *chaos.Profile) { a.chaos.Set(profile) }

// ChaosStats counts the faults the chaos profile injected.
func (a *Account) ChaosStats() chaos.Stats { return a.chaos.Stats() }

// StatusHistory is every status the API stored a lead at, oldest first (a
// manager's SetLeadStatus is not in it).
func (a *Account) StatusHistory(id int) []int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]int(nil), a.statusLog[id]...)
}

// FailNext makes the next n API requests (after the limits and auth) answer
// status with a problem+json body, doing no work.
func (a *Account) FailNext(n, status int) { a.failWith(n, status, false, "") }

// FailNextHTML is FailNext with nginx's HTML page as the body (502, 504, …).
func (a *Account) FailNextHTML(n, status int) { a.failWith(n, status, true, "") }

// FailNextOn is FailNext for the next n requests of one kind only, named
// as Stats.Calls names them ("POST /api/v4/leads/notes").
func (a *Account) FailNextOn(call string, n, status int) { a.failWith(n, status, false, call) }

// FailOnce lets after requests of one kind through, then fails the next
// one with status, doing no work: the third of five chunks of a delivery,
// say.
func (a *Account) FailOnce(call string, after, status int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.failNext = append(a.failNext, failure{status: status, call: call, skip: after})
}

// SetSearchDelay changes Options.SearchDelay: how long a new lead stays
// invisible to GET /leads?query=.
func (a *Account) SetSearchDelay(d time.Duration) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.searchDelay = d
}

// SetDuplicateControl turns the integration's duplicate control on or off
// (Options.DuplicateControl).
func (a *Account) SetDuplicateControl(on bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.dupControl = on
}

func (a *Account) failWith(n, status int, html bool, call string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for range n {
		a.failNext = append(a.failNext, failure{status: status, html: html, call: call})
	}
}

// takeFailure removes and returns the first injected failure for call.
// Caller holds mu.
func (a *Account) takeFailure(call string) (failure, bool) {
	for i, f := range a.failNext {
		if f.call == "" || f.call == call {
			if f.skip > 0 {
				a.failNext[i].skip--
				return failure{}, false
			}
			a.failNext = append(a.failNext[:i:i], a.failNext[i+1:]...)
			return f, true
		}
	}
	return failure{}, false
}

// HangNext makes the next n API requests hang, doing nothing, until the
// client gives up or the account is closed.
func (a *Account) HangNext(n int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.hangNext += n
}

// LoseResponseAfterCreate makes the next n requests that create leads
// (POST /leads or /leads/complex) store them and then lose the answer.
func (a *Account) LoseResponseAfterCreate(n int, mode LoseMode) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for range n {
		a.loseNext = append(a.loseNext, mode)
	}
}

// SetUnpaid answers every API request 402, as for an account whose
// subscription ran out.
func (a *Account) SetUnpaid(on bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.unpaid = on
}

// Throttle answers every request 429, as when other integrations of the
// account use up its budget; refusals count toward the block as usual.
func (a *Account) Throttle(on bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.throttled = on
}

// PlainTooManyRequests makes 429 answers nginx's HTML page (with a
// Retry-After header) instead of problem+json.
func (a *Account) PlainTooManyRequests(on bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.plain429 = on
}

// SetLimit changes how many requests may start in any window.
func (a *Account) SetLimit(n int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if n > 0 {
		a.limit = n
	}
}

// Block answers every request with the HTML 403 page until Unblock, as
// after repeated 429s; Unblock is amoCRM support lifting it.
func (a *Account) Block() {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.blocked = true
}

func (a *Account) Unblock() {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.blocked, a.rejected, a.arrivals = false, nil, nil
}

// Blocked reports whether the account is blocked.
func (a *Account) Blocked() bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.blocked
}

// SetLeadStatus moves a lead as a manager would in the pipeline.
func (a *Account) SetLeadStatus(id, statusID int) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	l := a.leads[id]
	if l == nil {
		return fmt.Errorf("lead %d not found", id)
	}
	p := a.pipeline(l.pipelineID)
	if _, ok := p.status(statusID); !ok {
		return fmt.Errorf("status %d is not in pipeline %d", statusID, p.id)
	}
	l.statusID = statusID
	l.updatedAt = a.now().Unix()
	return nil
}

// DeleteLead deletes a lead as a manager would.
func (a *Account) DeleteLead(id int) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.leads[id] == nil {
		return false
	}
	delete(a.leads, id)
	delete(a.notes, id)
	return true
}

// Rebuild empties the account, as when a shop moves from a test account
// to its real one: leads, contacts and notes are gone and ids count from the
// start again, so an id paysync linked may soon name another order's lead.
// Tokens, fields and pipelines stay.
func (a *Account) Rebuild() {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.forget()
}

// Reset forgets every lead, contact, token, fault and counter.
func (a *Account) Reset() {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.reset()
}

// Stats returns a copy of the counters.
func (a *Account) Stats() Stats {
	a.mu.Lock()
	defer a.mu.Unlock()
	s := a.stats
	s.Calls, s.Entities = maps.Clone(a.stats.Calls), maps.Clone(a.stats.Entities)
	return s
}

// ResetStats zeroes the counters, MaxPerWindow included.
func (a *Account) ResetStats() {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.stats = Stats{Calls: map[string]int{}, Entities: map[string]int{}}
}

// Leads returns every lead, oldest first.
func (a *Account) Leads() []Lead {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := make([]Lead, 0, len(a.leads))
	for _, id := range a.leadIDs {
		if l := a.leads[id]; l != nil {
			out = append(out, l.view())
		}
	}
	return out
}

// Lead returns one lead.
func (a *Account) Lead(id int) (Lead, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	l := a.leads[id]
	if l == nil {
		return Lead{}, false
	}
	return l.view(), true
}

// LeadsByOrder returns the leads whose Order ID field is orderID, oldest first.
func (a *Account) LeadsByOrder(orderID string) []Lead {
	var out []Lead
	for _, l := range a.Leads() {
		if l.OrderID == orderID {
			out = append(out, l)
		}
	}
	return out
}

// Contact returns one contact.
func (a *Account) Contact(id int) (Contact, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	c := a.contacts[id]
	if c == nil {
		return Contact{}, false
	}
	return c.view(), true
}

// Contacts returns every contact, oldest first.
func (a *Account) Contacts() []Contact {
	a.mu.Lock()
	defer a.mu.Unlock()
	ids := make([]int, 0, len(a.contacts))
	for id := range a.contacts {
		ids = append(ids, id)
	}
	sort.Ints(ids)
	out := make([]Contact, len(ids))
	for i, id := range ids {
		out[i] = a.contacts[id].view()
	}
	return out
}

// Notes returns a lead's notes, oldest first.
func (a *Account) Notes(leadID int) []Note {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]Note(nil), a.notes[leadID]...)
}

// StatusName is the name of a status of the account's pipelines.
func (a *Account) StatusName(pipelineID, statusID int) string {
	a.mu.Lock()
	defer a.mu.Unlock()
	if p := a.pipeline(pipelineID); p != nil {
		if s, ok := p.status(statusID); ok {
			return s.Name
		}
	}
	return strconv.Itoa(statusID)
}

// Describe says what the account holds for an order, for the demo.
func (a *Account) Describe(orderID string) string {
	ls := a.LeadsByOrder(orderID)
	switch len(ls) {
	case 0:
		return ""
	case 1:
		return fmt.Sprintf("lead %d at %s", ls[0].ID, a.StatusName(ls[0].PipelineID, ls[0].StatusID))
	}
	return fmt.Sprintf("%d leads (a duplicate!)", len(ls))
}

// ManualClock is a clock that moves only when told, for tests.
type ManualClock struct {
	mu sync.Mutex
	t  time.Time
}

func NewManualClock(t time.Time) *ManualClock { return &ManualClock{t: t} }

func (c *ManualClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *ManualClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// serveAdmin exposes the faults and inspection over HTTP under /_sandbox/.
func (a *Account) serveAdmin(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Count    int     `json:"count"`
		Status   int     `json:"status"`
		HTML     bool    `json:"html"`
		Mode     string  `json:"mode"`
		ID       int     `json:"id"`
		StatusID int     `json:"status_id"`
		FieldID  int     `json:"field_id"`
		EnumID   int     `json:"enum_id"`
		Limit    int     `json:"limit"`
		On       bool    `json:"on"`
		Token    string  `json:"token"`
		Call     string  `json:"call"`
		Seconds  float64 `json:"seconds"`
	}
	if r.Method == http.MethodPost && r.Body != nil {
		if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20)).Decode(&in); err != nil && err.Error() != "EOF" {
			http.Error(w, "bad JSON: "+err.Error(), http.StatusBadRequest)
			return
		}
	}
	ok := func() { writeJSON(w, http.StatusOK, map[string]bool{"ok": true}) }
	route := r.Method + " " + strings.TrimSuffix(strings.TrimPrefix(r.URL.Path, "/_sandbox"), "/")
	switch route {
	case "GET /leads":
		writeJSON(w, http.StatusOK, a.Leads())
	case "GET /contacts":
		writeJSON(w, http.StatusOK, a.Contacts())
	case "GET /stats":
		writeJSON(w, http.StatusOK, a.Stats())
	case "POST /reset":
		a.Reset()
		ok()
	case "POST /fail":
		status := in.Status
		if status == 0 {
			status = http.StatusInternalServerError
		}
		a.failWith(max(in.Count, 1), status, in.HTML, in.Call)
		ok()
	case "POST /hang":
		a.HangNext(max(in.Count, 1))
		ok()
	case "POST /lose":
		mode := map[string]LoseMode{"": LoseWith502, "502": LoseWith502, "close": LoseConnection, "hang": LoseHang}[in.Mode]
		if mode == 0 {
			http.Error(w, "mode is one of 502, close, hang", http.StatusBadRequest)
			return
		}
		a.LoseResponseAfterCreate(max(in.Count, 1), mode)
		ok()
	case "POST /lead-status":
		if err := a.SetLeadStatus(in.ID, in.StatusID); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		ok()
	case "POST /delete-enum":
		a.DeleteEnum(in.FieldID, in.EnumID)
		ok()
	case "POST /unpaid":
		a.SetUnpaid(in.On)
		ok()
	case "POST /throttle":
		a.Throttle(in.On)
		ok()
	case "POST /limit":
		a.SetLimit(in.Limit)
		ok()
	case "POST /block":
		if in.On {
			a.Block()
		} else {
			a.Unblock()
		}
		ok()
	case "POST /rebuild":
		a.Rebuild()
		ok()
	case "POST /expire-tokens":
		a.ExpireAccessTokens()
		ok()
	case "POST /revoke-refresh":
		a.RevokeRefreshTokens()
		ok()
	case "POST /access-token":
		a.SetAccessToken(in.Token)
		ok()
	case "POST /code":
		writeJSON(w, http.StatusOK, map[string]string{"code": a.IssueCode()})
	case "POST /search-delay":
		a.SetSearchDelay(time.Duration(in.Seconds * float64(time.Second)))
		ok()
	case "POST /duplicate-control":
		a.SetDuplicateControl(in.On)
		ok()
	case "GET":
		routes := []string{"GET /leads", "GET /contacts", "GET /stats", "POST /reset", "POST /fail", "POST /hang", "POST /lose",
			"POST /lead-status", "POST /delete-enum", "POST /unpaid", "POST /throttle", "POST /limit", "POST /block",
			"POST /rebuild", "POST /expire-tokens", "POST /revoke-refresh", "POST /access-token", "POST /code",
			"POST /search-delay", "POST /duplicate-control"}
		sort.Strings(routes)
		writeJSON(w, http.StatusOK, map[string][]string{"routes": routes})
	default:
		http.Error(w, "unknown sandbox route "+route, http.StatusNotFound)
	}
}
