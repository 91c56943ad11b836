package amocrm

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

type env struct {
	t     *testing.T
	a     *Account
	srv   *httptest.Server
	clock *ManualClock
}

func newEnv(t *testing.T, opts Options) *env {
	t.Helper()
	clock := NewManualClock(time.Date(2025, 3, 1, 10, 0, 0, 0, time.UTC))
	if opts.Now == nil {
		opts.Now = clock.Now
	}
	a := New(opts)
	srv := httptest.NewServer(a)
	t.Cleanup(func() { a.Close(); srv.Close() })
	return &env{t: t, a: a, srv: srv, clock: clock}
}

// call sends a request with the long-lived token and returns the status,
// the headers and the raw body. Each call moves the clock by 200 ms, so
// that tests stay under the limit unless they mean not to.
func (e *env) call(method, path string, body any) (int, http.Header, string) {
	e.t.Helper()
	return e.callAs(DefaultAccessToken, method, path, body)
}

func (e *env) callAs(token, method, path string, body any) (int, http.Header, string) {
	e.t.Helper()
	e.clock.Advance(200 * time.Millisecond)
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, e.srv.URL+path, rd)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b)
}

func (e *env) json(method, path string, body any, want int) map[string]any {
	e.t.Helper()
	status, _, raw := e.call(method, path, body)
	if status != want {
		e.t.Fatalf("%s %s: HTTP %d, want %d: %s", method, path, status, want, raw)
	}
	var out map[string]any
	if err := json.Unmarshal([]byte(raw), &out); err != nil {
		e.t.Fatalf("%s %s: not a JSON object: %s", method, path, raw)
	}
	return out
}

// newLeadBody is a valid lead of the shop pipeline for order id.
func newLeadBody(id string) map[string]any {
	return map[string]any{
		"name": "Order " + id, "price": 15000, "pipeline_id": PipelineID, "status_id": StatusAwaiting,
		"custom_fields_values": []any{
			map[string]any{"field_id": FieldOrderID, "values": []any{map[string]any{"value": id}}},
			map[string]any{"field_id": FieldPayStatus, "values": []any{map[string]any{"enum_id": 845571}}},
		},
		"_embedded": map[string]any{"tags": []any{map[string]any{"name": "paysync"}}},
	}
}

func withContact(l map[string]any, phone string) map[string]any {
	l["_embedded"].(map[string]any)["contacts"] = []any{map[string]any{
		"name": "Ani", "custom_fields_values": []any{map[string]any{"field_code": "PHONE",
			"values": []any{map[string]any{"value": phone, "enum_code": "MOB"}}}}}}
	return l
}

func TestLimitIsASlidingSecond(t *testing.T) {
	e := newEnv(t, Options{})
	send := func() (int, http.Header, string) {
		req, _ := http.NewRequest("GET", e.srv.URL+"/api/v4/account", nil)
		req.Header.Set("Authorization", "Bearer "+DefaultAccessToken)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, resp.Header, string(b)
	}
	// 4 requests, then 3 more 600 ms later: 7 in the second, all served.
	for i := range 7 {
		if i == 4 {
			e.clock.Advance(600 * time.Millisecond)
		}
		if status, _, raw := send(); status != 200 {
			t.Fatalf("request %d: %d %s", i+1, status, raw)
		}
	}
	// An 8th 300 ms later is within a second of the first four: refused.
	e.clock.Advance(300 * time.Millisecond)
	status, hdr, raw := send()
	if status != 429 || hdr.Get("Retry-After") != "1" || !strings.Contains(raw, `"retry_after":1`) || !strings.Contains(raw, `"title":"Too Many Requests"`) {
		t.Fatalf("8th request in a second: %d %v %s", status, hdr, raw)
	}
	// 50 ms later the first four have not aged out yet.
	e.clock.Advance(50 * time.Millisecond)
	if status, _, _ := send(); status != 429 {
		t.Fatalf("still in the window: %d", status)
	}
	// A second later the window has moved past all of them.
	e.clock.Advance(time.Second)
	if status, _, raw := send(); status != 200 {
		t.Fatalf("after the window moved on: %d %s", status, raw)
	}
	st := e.a.Stats()
	if st.Rejected != 2 || st.MaxPerWindow != 9 {
		t.Fatalf("stats %+v: want 2 rejected and 9 arrivals in the busiest second", st)
	}
}

func TestRepeated429sBlockWithHTML403(t *testing.T) {
	e := newEnv(t, Options{Limit: 1, BlockAfter: 3})
	e.a.PlainTooManyRequests(true)
	get := func() (int, http.Header, string) {
		req, _ := http.NewRequest("GET", e.srv.URL+"/api/v4/leads/pipelines", nil)
		req.Header.Set("Authorization", "Bearer "+DefaultAccessToken)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, resp.Header, string(b)
	}
	if s, _, _ := get(); s != 200 {
		t.Fatalf("first: %d", s)
	}
	status, hdr, raw := get()
	if status != 429 || !strings.HasPrefix(hdr.Get("Content-Type"), "text/html") || hdr.Get("Retry-After") == "" || !strings.Contains(raw, "nginx") {
		t.Fatalf("plain 429: %d %v %q", status, hdr, raw)
	}
	get()
	get() // the third refusal blocks the account
	for range 2 {
		e.clock.Advance(time.Hour)
		status, hdr, raw = get()
		if status != 403 || !strings.HasPrefix(hdr.Get("Content-Type"), "text/html") || !strings.Contains(raw, "403 Forbidden") {
			t.Fatalf("blocked: %d %v %q", status, hdr, raw)
		}
	}
	e.a.Unblock()
	if s, _, _ := get(); s != 200 {
		t.Fatalf("after unblock: %d", s)
	}
}

func TestAuth(t *testing.T) {
	e := newEnv(t, Options{})
	if s, _, raw := e.callAs("", "GET", "/api/v4/account", nil); s != 401 || !strings.Contains(raw, `"status":401`) {
		t.Fatalf("no token: %d %s", s, raw)
	}
	if s, _, _ := e.callAs("nope", "GET", "/api/v4/account", nil); s != 401 {
		t.Fatalf("wrong token: %d", s)
	}
	acc := e.json("GET", "/api/v4/account", nil, 200)
	if acc["currency"] != "AMD" || acc["subdomain"] != DefaultSubdomain {
		t.Fatalf("account: %v", acc)
	}

	// OAuth: a refresh token works once.
	access, refresh := e.a.IssueTokens()
	if s, _, _ := e.callAs(access, "GET", "/api/v4/account", nil); s != 200 {
		t.Fatalf("oauth access token: %d", s)
	}
	grant := map[string]any{"client_id": DefaultClientID, "client_secret": DefaultClientSecret, "grant_type": "refresh_token",
		"refresh_token": refresh, "redirect_uri": DefaultRedirectURI}
	s, _, raw := e.callAs("", "POST", "/oauth2/access_token", grant)
	var pair struct {
		TokenType    string `json:"token_type"`
		ExpiresIn    int    `json:"expires_in"`
		AccessToken  string `json:"access_token"`
		RefreshToken string `json:"refresh_token"`
	}
	if s != 200 || json.Unmarshal([]byte(raw), &pair) != nil || pair.TokenType != "Bearer" || pair.ExpiresIn != 86400 ||
		pair.AccessToken == "" || pair.RefreshToken == "" || pair.RefreshToken == refresh {
		t.Fatalf("refresh: %d %s", s, raw)
	}
	if s, _, raw := e.callAs("", "POST", "/oauth2/access_token", grant); s != 401 || !strings.Contains(raw, `"hint":"Token has been revoked"`) {
		t.Fatalf("spent refresh token: %d %s", s, raw)
	}
	bad := map[string]any{}
	for k, v := range grant {
		bad[k] = v
	}
	bad["refresh_token"], bad["client_secret"] = pair.RefreshToken, "wrong"
	if s, _, raw := e.callAs("", "POST", "/oauth2/access_token", bad); s != 401 || !strings.Contains(raw, "Client authentication failed") {
		t.Fatalf("wrong secret: %d %s", s, raw)
	}
	e.clock.Advance(AccessTokenTTL)
	if s, _, _ := e.callAs(pair.AccessToken, "GET", "/api/v4/account", nil); s != 401 {
		t.Fatalf("expired access token: %d", s)
	}
	// The refresh token the wrong secret could not use still works.
	grant["refresh_token"] = pair.RefreshToken
	if s, _, raw := e.callAs("", "POST", "/oauth2/access_token", grant); s != 200 {
		t.Fatalf("second refresh: %d %s", s, raw)
	}
	if got := e.a.Stats().Refreshes; got != 2 {
		t.Fatalf("refreshes %d, want 2", got)
	}
	// An authorization code, as docs/amocrm.md exchanges it, works once.
	code := map[string]any{"client_id": DefaultClientID, "client_secret": DefaultClientSecret, "grant_type": "authorization_code",
		"code": e.a.IssueCode(), "redirect_uri": DefaultRedirectURI}
	if s, _, raw := e.callAs("", "POST", "/oauth2/access_token", code); s != 200 || !strings.Contains(raw, `"refresh_token":"rt-`) {
		t.Fatalf("code exchange: %d %s", s, raw)
	}
	if s, _, raw := e.callAs("", "POST", "/oauth2/access_token", code); s != 400 || !strings.Contains(raw, "Authorization code has been revoked") {
		t.Fatalf("second code exchange: %d %s", s, raw)
	}
}

func TestLeadsRoundTrip(t *testing.T) {
	e := newEnv(t, Options{})
	// Query before anything exists: 204 and an empty body.
	if s, _, raw := e.call("GET", "/api/v4/leads?query=IG-1", nil); s != 204 || raw != "" {
		t.Fatalf("empty query: %d %q", s, raw)
	}
	s, _, raw := e.call("POST", "/api/v4/leads/complex", []any{
		withContact(newLeadBody("IG-1"), "+37491000001"), withContact(newLeadBody("IG-10"), "+37491000010")})
	var created []struct {
		ID        int      `json:"id"`
		ContactID int      `json:"contact_id"`
		RequestID []string `json:"request_id"`
		Merged    bool     `json:"merged"`
	}
	if s != 200 || json.Unmarshal([]byte(raw), &created) != nil || len(created) != 2 || created[0].ID != firstLeadID ||
		created[1].ContactID != firstContactID+1 || strings.Join(created[1].RequestID, ",") != "1" {
		t.Fatalf("complex: %d %s", s, raw)
	}
	// The query matches text: IG-1 finds both leads, by id it finds one.
	page := e.json("GET", "/api/v4/leads?query=IG-1&with=contacts", nil, 200)
	leads := page["_embedded"].(map[string]any)["leads"].([]any)
	if len(leads) != 2 {
		t.Fatalf("query IG-1: %d leads", len(leads))
	}
	first := leads[0].(map[string]any)
	cf := first["custom_fields_values"].([]any)[0].(map[string]any)
	contacts := first["_embedded"].(map[string]any)["contacts"].([]any)
	if cf["field_name"] != "Order ID" || cf["values"].([]any)[0].(map[string]any)["value"] != "IG-1" || len(contacts) != 1 {
		t.Fatalf("lead as read: %v", first)
	}
	if _, _, raw := e.call("GET", "/api/v4/leads?query=37491000010", nil); !strings.Contains(raw, `"IG-10"`) || strings.Contains(raw, `"IG-1"`) {
		t.Fatalf("query by the contact's phone: %s", raw)
	}
	page = e.json("GET", "/api/v4/leads?filter[id][]=10185152&filter[id][]=999", nil, 200)
	if got := page["_embedded"].(map[string]any)["leads"].([]any); len(got) != 1 || got[0].(map[string]any)["name"] != "Order IG-10" {
		t.Fatalf("filter by id: %v", got)
	}

	// PATCH moves a status and replaces the tags.
	out := e.json("PATCH", "/api/v4/leads", []any{map[string]any{"id": firstLeadID, "status_id": StatusPaid, "pipeline_id": PipelineID,
		"_embedded": map[string]any{"tags": []any{map[string]any{"name": "paid"}}}}}, 200)
	if got := out["_embedded"].(map[string]any)["leads"].([]any); len(got) != 1 || got[0].(map[string]any)["id"] != float64(firstLeadID) {
		t.Fatalf("patch answer: %v", out)
	}
	l, _ := e.a.Lead(firstLeadID)
	if l.StatusID != StatusPaid || strings.Join(l.Tags, ",") != "paid" || l.OrderID != "IG-1" || l.Price != 15000 {
		t.Fatalf("after patch: %+v", l)
	}

	// Notes in bulk.
	out = e.json("POST", "/api/v4/leads/notes", []any{
		map[string]any{"entity_id": firstLeadID, "note_type": "common", "params": map[string]any{"text": "Paid 15,000.00 AMD"}, "request_id": "n1"}}, 200)
	if n := e.a.Notes(firstLeadID); len(n) != 1 || n[0].Text != "Paid 15,000.00 AMD" ||
		out["_embedded"].(map[string]any)["notes"].([]any)[0].(map[string]any)["request_id"] != "n1" {
		t.Fatalf("notes: %+v %v", n, out)
	}
	if c, ok := e.a.Contact(firstContactID); !ok || c.Name != "Ani" || strings.Join(c.Phones, ",") != "+37491000001" {
		t.Fatalf("contact: %+v", c)
	}
}

func TestValidationErrorsRefuseTheWholeRequest(t *testing.T) {
	e := newEnv(t, Options{})
	bad := newLeadBody("IG-2")
	bad["custom_fields_values"] = []any{
		map[string]any{"field_id": FieldOrderID, "values": []any{map[string]any{"value": "IG-2"}}},
		map[string]any{"field_id": FieldDelivery, "values": []any{map[string]any{"enum_id": 1}}},
		map[string]any{"field_id": 42, "values": []any{map[string]any{"value": "x"}}},
	}
	bad["request_id"] = "b"
	wrongStatus := newLeadBody("IG-3")
	wrongStatus["status_id"] = 777
	s, hdr, raw := e.call("POST", "/api/v4/leads", []any{newLeadBody("IG-1"), bad, wrongStatus})
	var p struct {
		Validation []struct {
			RequestID string `json:"request_id"`
			Errors    []struct {
				Code, Path, Detail string
			} `json:"errors"`
		} `json:"validation-errors"`
		Title  string `json:"title"`
		Status int    `json:"status"`
		Detail string `json:"detail"`
	}
	if s != 400 || hdr.Get("Content-Type") != "application/problem+json" || json.Unmarshal([]byte(raw), &p) != nil ||
		p.Title != "Bad Request" || p.Detail != "Request validation failed" || len(p.Validation) != 2 {
		t.Fatalf("validation: %d %s", s, raw)
	}
	got := map[string]string{}
	for _, v := range p.Validation {
		for _, e := range v.Errors {
			got[v.RequestID+" "+e.Path] = e.Code
		}
	}
	want := map[string]string{
		"b custom_fields_values.1.values.0.enum_id": "NotSupportedChoice",
		"b custom_fields_values.2.field_id":         "NotSupportedChoice",
		"2 status_id":                               "NotSupportedChoice",
	}
	for k, code := range want {
		if got[k] != code {
			t.Errorf("error %s: got %q, want %s (all: %v)", k, got[k], code, got)
		}
	}
	if n := len(e.a.Leads()); n != 0 {
		t.Fatalf("a refused request stored %d leads", n)
	}
	// More than 250 leads, or 50 in a complex request: 422.
	many := make([]any, 251)
	for i := range many {
		many[i] = newLeadBody("X")
	}
	if s, _, _ := e.call("POST", "/api/v4/leads", many); s != 422 {
		t.Fatalf("251 leads: %d", s)
	}
	if s, _, _ := e.call("POST", "/api/v4/leads/complex", many[:51]); s != 422 {
		t.Fatalf("51 complex leads: %d", s)
	}
	// PATCH of a lead that does not exist names it.
	_, _, raw = e.call("PATCH", "/api/v4/leads", []any{map[string]any{"id": 5, "price": 1}})
	if !strings.Contains(raw, `"code":"NotFound","path":"id"`) {
		t.Fatalf("patch unknown id: %s", raw)
	}
}

func TestPipelinesAndFields(t *testing.T) {
	e := newEnv(t, Options{})
	out := e.json("GET", "/api/v4/leads/pipelines", nil, 200)
	ps := out["_embedded"].(map[string]any)["pipelines"].([]any)
	st := ps[0].(map[string]any)["_embedded"].(map[string]any)["statuses"].([]any)
	var ids []float64
	for _, s := range st {
		ids = append(ids, s.(map[string]any)["id"].(float64))
	}
	if len(ps) != 1 || len(ids) != 7 || ids[5] != StatusWon || ids[6] != StatusLost {
		t.Fatalf("pipelines: %v", ids)
	}
	if s, _, raw := e.call("GET", "/api/v4/leads/pipelines/1/statuses", nil); s != 404 || !strings.Contains(raw, "Pipeline not found") {
		t.Fatalf("unknown pipeline: %d %s", s, raw)
	}
	out = e.json("GET", "/api/v4/leads/custom_fields?limit=4", nil, 200)
	fs := out["_embedded"].(map[string]any)["custom_fields"].([]any)
	if len(fs) != 4 || out["_links"].(map[string]any)["next"] == nil || fs[2].(map[string]any)["type"] != "select" {
		t.Fatalf("custom fields page 1: %v", out)
	}
	out = e.json("GET", "/api/v4/leads/custom_fields?limit=4&page=2", nil, 200)
	if fs := out["_embedded"].(map[string]any)["custom_fields"].([]any); len(fs) != 2 || out["_links"].(map[string]any)["next"] != nil {
		t.Fatalf("custom fields page 2: %v", out)
	}
}

func TestFaults(t *testing.T) {
	e := newEnv(t, Options{})
	e.a.FailNextHTML(1, 502)
	if s, hdr, raw := e.call("GET", "/api/v4/account", nil); s != 502 || !strings.HasPrefix(hdr.Get("Content-Type"), "text/html") || !strings.Contains(raw, "Bad Gateway") {
		t.Fatalf("html 502: %d %s", s, raw)
	}
	e.a.FailNext(1, 503)
	if s, _, raw := e.call("GET", "/api/v4/account", nil); s != 503 || !strings.Contains(raw, `"status":503`) {
		t.Fatalf("json 503: %d %s", s, raw)
	}
	// A lost answer: the lead exists, the client got a 502 page.
	e.a.LoseResponseAfterCreate(1, LoseWith502)
	if s, _, _ := e.call("POST", "/api/v4/leads/complex", []any{newLeadBody("IG-7")}); s != 502 {
		t.Fatalf("lost answer: %d", s)
	}
	if ls := e.a.LeadsByOrder("IG-7"); len(ls) != 1 {
		t.Fatalf("the lead of a lost answer: %+v", ls)
	}
	e.a.SetUnpaid(true)
	if s, _, raw := e.call("GET", "/api/v4/account", nil); s != 402 || !strings.Contains(raw, "Payment Required") {
		t.Fatalf("unpaid: %d %s", s, raw)
	}
	e.a.SetUnpaid(false)
	// A manager moves the lead on; the account is rebuilt and ids start over.
	id := e.a.LeadsByOrder("IG-7")[0].ID
	if err := e.a.SetLeadStatus(id, StatusShipped); err != nil {
		t.Fatal(err)
	}
	if err := e.a.SetLeadStatus(id, 9); err == nil {
		t.Fatal("a status of no pipeline was accepted")
	}
	e.a.Rebuild()
	if len(e.a.Leads()) != 0 {
		t.Fatal("rebuild kept leads")
	}
	_, _, raw := e.call("POST", "/api/v4/leads/complex", []any{newLeadBody("IG-8")})
	if !strings.Contains(raw, `"id":10185151`) {
		t.Fatalf("ids did not start over: %s", raw)
	}
	// The admin routes drive the same faults.
	resp, err := http.Post(e.srv.URL+"/_sandbox/lead-status", "application/json", strings.NewReader(`{"id":10185151,"status_id":61234564}`))
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("admin lead-status: %v %v", err, resp)
	}
	resp.Body.Close()
	if l, _ := e.a.Lead(10185151); l.StatusID != StatusShipped {
		t.Fatalf("admin move: %+v", l)
	}
	if got := e.a.Describe("IG-8"); got != "lead 10185151 at Shipped" {
		t.Fatalf("describe: %q", got)
	}
}

func TestLeadPage(t *testing.T) {
	e := newEnv(t, Options{})
	e.call("POST", "/api/v4/leads/complex", []any{newLeadBody("IG-<9>")})
	resp, err := http.Get(e.srv.URL + "/leads/detail/10185151")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	page := string(b)
	if resp.StatusCode != 200 || !strings.Contains(page, "Awaiting payment") || !strings.Contains(page, "IG-&lt;9&gt;") {
		t.Fatalf("lead page: %d %s", resp.StatusCode, page)
	}
	if resp, _ := http.Get(e.srv.URL + "/leads/detail/1"); resp.StatusCode != 404 {
		t.Fatalf("unknown lead page: %d", resp.StatusCode)
	}
}
