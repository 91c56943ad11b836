package amocrm

import (
	"encoding/json"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The search index lags: a new lead is invisible to ?query= for
// SearchDelay, while filter[created_at] sees it at once.
func TestSearchDelay(t *testing.T) {
	e := newEnv(t, Options{SearchDelay: 30 * time.Second})
	out := e.json("POST", "/api/v4/leads", []any{newLeadBody("SD-1")}, 200)
	leads := out["_embedded"].(map[string]any)["leads"].([]any)
	id := int(leads[0].(map[string]any)["id"].(float64))
	if s, _, raw := e.call("GET", "/api/v4/leads?query=SD-1", nil); s != 204 || raw != "" {
		t.Fatalf("a fresh lead found by query: %d %s", s, raw)
	}
	from := strconv.FormatInt(e.clock.Now().Add(-time.Minute).Unix(), 10)
	got := e.json("GET", "/api/v4/leads?filter[created_at][from]="+from+"&order[id]=desc", nil, 200)
	if l := got["_embedded"].(map[string]any)["leads"].([]any); len(l) != 1 || int(l[0].(map[string]any)["id"].(float64)) != id {
		t.Fatalf("filter[created_at] does not see the fresh lead: %v", got)
	}
	e.clock.Advance(30 * time.Second)
	if s, _, raw := e.call("GET", "/api/v4/leads?query=SD-1", nil); s != 200 || !strings.Contains(raw, `"id":`+strconv.Itoa(id)) {
		t.Fatalf("the index caught up, yet query finds nothing: %d %s", s, raw)
	}
}

// filter[created_at] bounds both ends, order[…] sorts, and a bad value is
// refused as amoCRM refuses one.
func TestCreatedAtFilterAndOrder(t *testing.T) {
	e := newEnv(t, Options{})
	var stamps []int64
	for i := range 3 {
		e.json("POST", "/api/v4/leads", []any{newLeadBody("CF-" + strconv.Itoa(i))}, 200)
		stamps = append(stamps, e.clock.Now().Unix())
		e.clock.Advance(10 * time.Second)
	}
	q := "/api/v4/leads?filter[created_at][from]=" + strconv.FormatInt(stamps[1], 10) + "&filter[created_at][to]=" +
		strconv.FormatInt(stamps[2], 10) + "&order[created_at]=desc"
	got := e.json("GET", q, nil, 200)["_embedded"].(map[string]any)["leads"].([]any)
	var names []string
	for _, l := range got {
		names = append(names, l.(map[string]any)["name"].(string))
	}
	if strings.Join(names, ",") != "Order CF-2,Order CF-1" {
		t.Fatalf("created since the second, newest first: %v", names)
	}
	if s, _, raw := e.call("GET", "/api/v4/leads?filter[created_at][from]=yesterday", nil); s != 400 || !strings.Contains(raw, "filter.created_at.from") {
		t.Fatalf("a bad filter: %d %s", s, raw)
	}
	if s, _, _ := e.call("GET", "/api/v4/leads?order[id]=sideways", nil); s != 400 {
		t.Fatalf("a bad order: %d", s)
	}
}

// With duplicate control on, /leads/complex merges a lead whose contact
// shares a phone with an existing contact into that contact's open lead:
// merged: true with the old lead's and contact's ids, nothing new stored.
// Leads of one request are not checked against each other.
func TestDuplicateControlMerges(t *testing.T) {
	e := newEnv(t, Options{DuplicateControl: true})
	var first []map[string]any
	s, _, raw := e.call("POST", "/api/v4/leads/complex", []any{withContact(newLeadBody("DC-1"), "+374 91 000001")})
	if s != 200 || json.Unmarshal([]byte(raw), &first) != nil || first[0]["merged"] != false {
		t.Fatalf("first lead: %d %s", s, raw)
	}
	var second []map[string]any
	s, _, raw = e.call("POST", "/api/v4/leads/complex", []any{
		withContact(newLeadBody("DC-2"), "37491000001"), // the same phone, written otherwise
		withContact(newLeadBody("DC-3"), "+374 91 000003"),
		withContact(newLeadBody("DC-4"), "+374 91 000003"), // shares DC-3's phone, in the same request
	})
	if s != 200 || json.Unmarshal([]byte(raw), &second) != nil || len(second) != 3 {
		t.Fatalf("second request: %d %s", s, raw)
	}
	if second[0]["merged"] != true || second[0]["id"] != first[0]["id"] || second[0]["contact_id"] != first[0]["contact_id"] {
		t.Fatalf("DC-2 was not merged into DC-1's lead: %v, first %v", second[0], first[0])
	}
	if second[1]["merged"] != false || second[2]["merged"] != false {
		t.Fatalf("leads of one request were checked against each other: %v", second[1:])
	}
	if n := len(e.a.LeadsByOrder("DC-2")); n != 0 {
		t.Fatalf("a merged lead was stored: %d", n)
	}
	if l := e.a.LeadsByOrder("DC-1"); len(l) != 1 || l[0].OrderID != "DC-1" {
		t.Fatalf("the old lead changed owner: %+v", l)
	}
	if st := e.a.Stats(); st.Merged != 1 {
		t.Fatalf("merged %d", st.Merged)
	}
	e.a.SetDuplicateControl(false)
	var third []map[string]any
	_, _, raw = e.call("POST", "/api/v4/leads/complex", []any{withContact(newLeadBody("DC-5"), "+374 91 000001")})
	if json.Unmarshal([]byte(raw), &third) != nil || third[0]["merged"] != false {
		t.Fatalf("with duplicate control off: %s", raw)
	}
}

// FailOnce lets requests of its kind through, then fails one.
func TestFailOnce(t *testing.T) {
	e := newEnv(t, Options{})
	e.a.FailOnce("POST /api/v4/leads", 2, 502)
	for i, want := range []int{200, 200, 502, 200} {
		if s, _, _ := e.call("GET", "/api/v4/account", nil); s != 200 {
			t.Fatalf("another kind of request failed: %d", s)
		}
		if s, _, _ := e.call("POST", "/api/v4/leads", []any{newLeadBody("FO-" + strconv.Itoa(i))}); s != want {
			t.Fatalf("create %d: %d, want %d", i+1, s, want)
		}
	}
}
