package bitrix24

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"
)

type env struct {
	t     *testing.T
	p     *Portal
	srv   *httptest.Server
	clock *ManualClock
	hook  string
}

func newEnv(t *testing.T, opts Options) *env {
	t.Helper()
	clock := NewManualClock(time.Date(2025, 3, 1, 10, 0, 0, 0, time.UTC))
	if opts.Now == nil {
		opts.Now = clock.Now
	}
	p := New(opts)
	srv := httptest.NewServer(p)
	t.Cleanup(func() { p.Close(); srv.Close() })
	return &env{t: t, p: p, srv: srv, clock: clock, hook: p.WebhookURL(srv.URL)}
}

// post sends a JSON body to url and returns the status and the raw answer.
func (e *env) post(u string, body any) (int, string) {
	e.t.Helper()
	b, _ := json.Marshal(body)
	resp, err := http.Post(u, "application/json", bytes.NewReader(b))
	if err != nil {
		e.t.Fatalf("POST: %v", err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(raw)
}

func (e *env) call(method string, body any) (int, map[string]any) {
	e.t.Helper()
	status, raw := e.post(e.hook+method+".json", body)
	var out map[string]any
	if err := json.Unmarshal([]byte(raw), &out); err != nil {
		e.t.Fatalf("%s: answer is not JSON: %q", method, raw)
	}
	return status, out
}

func (e *env) mustCall(method string, body any) any {
	e.t.Helper()
	status, out := e.call(method, body)
	if status != http.StatusOK {
		e.t.Fatalf("%s: HTTP %d %v", method, status, out)
	}
	return out["result"]
}

func (e *env) addDeal(fields map[string]any) int {
	e.t.Helper()
	id := e.mustCall("crm.deal.add", map[string]any{"fields": fields})
	return int(id.(float64))
}

func TestWebhookAuth(t *testing.T) {
	e := newEnv(t, Options{})
	wrong := strings.Replace(e.hook, DefaultWebhookCode, "nope", 1)
	status, raw := e.post(wrong+"crm.deal.list", map[string]any{})
	if status != http.StatusUnauthorized || raw != `{"error":"INVALID_CREDENTIALS","error_description":"Invalid request credentials"}` {
		t.Fatalf("wrong code: %d %s", status, raw)
	}
	status, raw = e.post(e.srv.URL+"/rest/crm.deal.list", map[string]any{})
	if status != http.StatusUnauthorized || !strings.Contains(raw, `"error":"NO_AUTH_FOUND"`) {
		t.Fatalf("no auth: %d %s", status, raw)
	}
	e.p.SetScopes("user")
	status, out := e.call("crm.deal.list", nil)
	if status != http.StatusUnauthorized || out["error"] != "insufficient_scope" {
		t.Fatalf("scope: %d %v", status, out)
	}
	if st := e.p.Stats(); st.Served != 0 {
		t.Fatalf("refused requests must not run: %+v", st)
	}
}

func TestDealAddGetScalarsAsStrings(t *testing.T) {
	e := newEnv(t, Options{})
	status, out := e.call("crm.deal.add", map[string]any{"fields": map[string]any{
		"TITLE": "Order A-1", "CURRENCY_ID": "AMD", "OPPORTUNITY": 1000000,
		"ORIGINATOR_ID": "paysync", "ORIGIN_ID": "A-1", "CONTACT_IDS": []int{7}, "NO_SUCH_FIELD": "x",
	}})
	if status != 200 || out["result"] != float64(1) {
		t.Fatalf("add: %d %v", status, out)
	}
	tm, _ := out["time"].(map[string]any)
	for _, k := range []string{"start", "finish", "duration", "processing", "date_start", "date_finish", "operating_reset_at", "operating"} {
		if _, ok := tm[k]; !ok {
			t.Errorf("time lacks %s: %v", k, tm)
		}
	}
	deal := e.mustCall("crm.deal.get", map[string]any{"id": "1"}).(map[string]any)
	want := map[string]any{"ID": "1", "OPPORTUNITY": "1000000.00", "CURRENCY_ID": "AMD", "STAGE_ID": "NEW",
		"CATEGORY_ID": "0", "CONTACT_ID": "7", "ORIGIN_ID": "A-1", "COMMENTS": nil}
	for k, v := range want {
		if deal[k] != v {
			t.Errorf("%s = %#v, want %#v", k, deal[k], v)
		}
	}
	if _, ok := deal["NO_SUCH_FIELD"]; ok {
		t.Error("unknown fields must be ignored")
	}
}

func TestFormBody(t *testing.T) {
	e := newEnv(t, Options{})
	form := "fields[TITLE]=Form+deal&fields[OPPORTUNITY]=15000.5&fields[CONTACT_IDS][]=3&fields[CONTACT_IDS][]=4"
	resp, err := http.Post(e.hook+"crm.deal.add", "application/x-www-form-urlencoded", strings.NewReader(form))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	d, ok := e.p.Deal(1)
	if !ok || d.Title != "Form deal" || d.Opportunity != "15000.50" || fmt.Sprint(d.ContactIDs) != "[3 4]" {
		t.Fatalf("deal from form: %+v", d)
	}
}

func TestDealErrors(t *testing.T) {
	e := newEnv(t, Options{})
	e.p.DisableCurrency("AMD")
	status, raw := e.post(e.hook+"crm.deal.add", map[string]any{"fields": map[string]any{"CURRENCY_ID": "AMD"}})
	if status != 400 || raw != `{"error":"","error_description":"Invalid value for the \"Currency\" field"}` {
		t.Fatalf("disabled currency: %d %s", status, raw)
	}
	status, out := e.call("crm.deal.update", map[string]any{"id": 99, "fields": map[string]any{"TITLE": "x"}})
	if status != 400 || out["error_description"] != "Not found" {
		t.Fatalf("update unknown: %d %v", status, out)
	}
	status, out = e.call("crm.deal.add", map[string]any{"fields": map[string]any{"OPPORTUNITY": "lots"}})
	if status != 400 || out["error"] != "" {
		t.Fatalf("bad opportunity: %d %v", status, out)
	}
	// TITLE is not required.
	id := e.addDeal(map[string]any{"CURRENCY_ID": "USD"})
	if d, _ := e.p.Deal(id); d.Title == "" {
		t.Fatalf("untitled deal: %+v", d)
	}
	if len(e.p.Deals()) != 1 {
		t.Fatalf("refused adds must store nothing: %d deals", len(e.p.Deals()))
	}
}

func TestDealListPagingFilterSelect(t *testing.T) {
	e := newEnv(t, Options{BlockThreshold: 1000})
	for i := 1; i <= 120; i++ {
		e.addDeal(map[string]any{"TITLE": fmt.Sprint("D", i), "ORIGINATOR_ID": "paysync", "ORIGIN_ID": fmt.Sprint("O-", i)})
	}
	status, out := e.call("crm.deal.list", map[string]any{"select": []string{"ID"}})
	rows := out["result"].([]any)
	if status != 200 || len(rows) != PageSize || out["next"] != float64(50) || out["total"] != float64(120) {
		t.Fatalf("page 1: %d rows, next %v total %v", len(rows), out["next"], out["total"])
	}
	if r := rows[0].(map[string]any); len(r) != 1 || r["ID"] != "1" {
		t.Fatalf("select ID: %v", r)
	}
	_, out = e.call("crm.deal.list", map[string]any{"start": 100})
	if rows := out["result"].([]any); len(rows) != 20 || out["next"] != nil {
		t.Fatalf("last page: %d rows, next %v", len(rows), out["next"])
	}
	_, out = e.call("crm.deal.list", map[string]any{
		"filter": map[string]any{"=ORIGINATOR_ID": "paysync", "ORIGIN_ID": "O-77"},
		"select": []string{"ID", "STAGE_ID"},
	})
	rows = out["result"].([]any)
	if len(rows) != 1 || rows[0].(map[string]any)["ID"] != "77" || rows[0].(map[string]any)["STAGE_ID"] != "NEW" {
		t.Fatalf("origin filter: %v", rows)
	}
	_, out = e.call("crm.deal.list", map[string]any{"filter": map[string]any{"@ID": []int{3, 5}, ">=ID": 4}, "order": map[string]string{"ID": "DESC"}})
	rows = out["result"].([]any)
	if len(rows) != 1 || rows[0].(map[string]any)["ID"] != "5" {
		t.Fatalf("@ and >= filter: %v", rows)
	}
}

func TestLeakyBucket(t *testing.T) {
	e := newEnv(t, Options{})
	for i := 1; i <= DefaultBlockThreshold; i++ {
		if status, out := e.call("crm.deal.list", nil); status != 200 {
			t.Fatalf("request %d refused: %v", i, out)
		}
	}
	status, raw := e.post(e.hook+"crm.deal.list", nil)
	if status != http.StatusServiceUnavailable || raw != `{"error":"QUERY_LIMIT_EXCEEDED","error_description":"Too many requests"}` {
		t.Fatalf("51st request: %d %s", status, raw)
	}
	// One second drains two requests at the default rate.
	e.clock.Advance(time.Second)
	for i := 0; i < 2; i++ {
		if status, _ := e.call("crm.deal.list", nil); status != 200 {
			t.Fatalf("after draining, request %d refused", i)
		}
	}
	if status, _ := e.call("crm.deal.list", nil); status != http.StatusServiceUnavailable {
		t.Fatalf("third request after one second: %d", status)
	}
	st := e.p.Stats()
	if st.Served != 52 || st.Rejected != 2 {
		t.Fatalf("stats: %+v", st)
	}
}

func TestLeakyBucketEnterprise(t *testing.T) {
	e := newEnv(t, Options{BlockThreshold: EnterpriseBlockThreshold, DrainPerSecond: EnterpriseDrainPerSecond})
	for i := 1; i <= EnterpriseBlockThreshold; i++ {
		if status, out := e.call("crm.deal.list", nil); status != 200 {
			t.Fatalf("request %d refused: %v", i, out)
		}
	}
	if status, _ := e.call("crm.deal.list", nil); status != http.StatusServiceUnavailable {
		t.Fatalf("request %d: %d", EnterpriseBlockThreshold+1, status)
	}
	if lvl := e.p.BucketLevel(); lvl != EnterpriseBlockThreshold {
		t.Fatalf("level %v", lvl)
	}
	// One second drains five.
	e.clock.Advance(time.Second)
	if lvl := e.p.BucketLevel(); lvl != EnterpriseBlockThreshold-5 {
		t.Fatalf("level after a second: %v", lvl)
	}
	for i := 0; i < 5; i++ {
		if status, _ := e.call("crm.deal.list", nil); status != 200 {
			t.Fatalf("after draining, request %d refused", i)
		}
	}
	if status, _ := e.call("crm.deal.list", nil); status != http.StatusServiceUnavailable {
		t.Fatalf("sixth request after one second: %d", status)
	}
}

func TestOnDealStage(t *testing.T) {
	type move struct {
		id    int
		stage string
	}
	var moves []move
	e := newEnv(t, Options{OnDealStage: func(id int, stage string) { moves = append(moves, move{id, stage}) }})
	id := e.addDeal(map[string]any{"TITLE": "x"})
	e.mustCall("crm.deal.update", map[string]any{"id": id, "fields": map[string]any{"TITLE": "y"}})
	e.mustCall("batch", map[string]any{"cmd": map[string]string{
		"a": "crm.deal.update?id=" + fmt.Sprint(id) + "&fields[STAGE_ID]=EXECUTING"}})
	want := []move{{id, "NEW"}, {id, "EXECUTING"}}
	if fmt.Sprint(moves) != fmt.Sprint(want) {
		t.Fatalf("stage moves %v, want %v", moves, want)
	}
}

func TestBatch(t *testing.T) {
	e := newEnv(t, Options{})
	e.p.DisableCurrency("GBP")
	_, raw := e.post(e.hook+"batch", map[string]any{"halt": 0, "cmd": map[string]string{
		"a": "crm.contact.add?fields[NAME]=Ann&fields[PHONE][0][VALUE]=%2B37491000000&fields[PHONE][0][VALUE_TYPE]=MOBILE",
		"b": "crm.deal.add?fields[TITLE]=x&fields[CONTACT_IDS][0]=$result[a]",
		"c": "crm.deal.add?fields[CURRENCY_ID]=GBP",
		"d": "crm.deal.get?id=$result[b]",
	}})
	var out struct {
		Result struct {
			Result      map[string]json.RawMessage `json:"result"`
			ResultError map[string]struct {
				Error       string `json:"error"`
				Description string `json:"error_description"`
			} `json:"result_error"`
		} `json:"result"`
	}
	if err := json.Unmarshal([]byte(raw), &out); err != nil {
		t.Fatalf("%v: %s", err, raw)
	}
	if string(out.Result.Result["b"]) != "1" || out.Result.ResultError["c"].Description != `Invalid value for the "Currency" field` {
		t.Fatalf("batch: %s", raw)
	}
	if d, _ := e.p.Deal(1); fmt.Sprint(d.ContactIDs) != "[1]" {
		t.Fatalf("$result[a] not substituted: %+v", d)
	}
	if !strings.Contains(string(out.Result.Result["d"]), `"CONTACT_ID":"1"`) {
		t.Fatalf("get via $result: %s", out.Result.Result["d"])
	}

	// No errors: result_error is PHP's empty array [] (and so are the others).
	_, raw = e.post(e.hook+"batch", map[string]any{"cmd": map[string]string{"x": "crm.deal.fields"}})
	if !strings.Contains(raw, `"result_error":[]`) || !strings.Contains(raw, `"result_total":[]`) {
		t.Fatalf("empty result_error must be []: %s", raw)
	}

	// Form body, halt=1: the failing command stops the rest.
	form := url.Values{"halt": {"1"}, "cmd[k1]": {"crm.deal.update?id=999&fields[TITLE]=x"}, "cmd[k2]": {"crm.deal.add?fields[TITLE]=never"}}
	resp, err := http.PostForm(e.hook+"batch", form)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(b), `"result":[]`) || !strings.Contains(string(b), `"k1":{"error":"","error_description":"Not found"}`) {
		t.Fatalf("halt: %d %s", resp.StatusCode, b)
	}
	if n := len(e.p.Deals()); n != 1 {
		t.Fatalf("halted batch ran later commands: %d deals", n)
	}

	cmds := map[string]string{}
	for i := 0; i < 51; i++ {
		cmds[fmt.Sprint("k", i)] = "crm.deal.fields"
	}
	status, raw := e.post(e.hook+"batch", map[string]any{"cmd": cmds})
	if status != 400 || !strings.Contains(raw, "ERROR_BATCH_LENGTH_EXCEEDED") {
		t.Fatalf("51 commands: %d %s", status, raw)
	}
	_, raw = e.post(e.hook+"batch", map[string]any{"cmd": map[string]string{"n": "batch?cmd[x]=crm.deal.fields"}})
	if !strings.Contains(raw, "ERROR_BATCH_METHOD_NOT_ALLOWED") {
		t.Fatalf("nested batch: %s", raw)
	}
}

func TestBatchRunsCommandsInBodyOrder(t *testing.T) {
	e := newEnv(t, Options{})
	// k10 sorts before k2; the portal must still run k2 first.
	body := `{"cmd":{"k2":"crm.deal.add?fields[TITLE]=second","k10":"crm.deal.update?id=$result[k2]&fields[TITLE]=updated"}}`
	resp, err := http.Post(e.hook+"batch", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if d, _ := e.p.Deal(1); d.Title != "updated" {
		t.Fatalf("order not kept: %s; deal %+v", raw, d)
	}
	if i, j := strings.Index(string(raw), `"k2"`), strings.Index(string(raw), `"k10"`); i < 0 || j < i {
		t.Fatalf("answer keys out of order: %s", raw)
	}
}

func TestOperationTimeLimit(t *testing.T) {
	e := newEnv(t, Options{OperatingCost: 100 * time.Second})
	var last map[string]any
	for i := 0; i < 5; i++ {
		status, out := e.call("crm.deal.list", nil)
		if status != 200 {
			t.Fatalf("call %d refused", i)
		}
		last = out
	}
	status, out := e.call("crm.deal.list", nil)
	if status != http.StatusTooManyRequests || out["error"] != "OPERATION_TIME_LIMIT" || out["time"] != nil {
		t.Fatalf("over the limit: %d %v (an error answer carries no time)", status, out)
	}
	// When it resets is in the last successful answer, as the docs say.
	reset := last["time"].(map[string]any)["operating_reset_at"].(float64)
	if want := e.clock.Now().Add(OperatingWindow).Unix(); int64(reset) != want {
		t.Fatalf("operating_reset_at %v, want %d", reset, want)
	}
	if status, _ := e.call("crm.deal.fields", nil); status != 200 {
		t.Fatal("the limit is per method")
	}
	e.clock.Advance(OperatingWindow)
	if status, _ := e.call("crm.deal.list", nil); status != 200 {
		t.Fatal("the window did not reset")
	}
	e.p.ForceOperationTimeLimit("crm.deal.add", e.clock.Now().Add(time.Minute))
	_, raw := e.post(e.hook+"batch", map[string]any{"cmd": map[string]string{"a": "crm.deal.add?fields[TITLE]=x"}})
	if !strings.Contains(raw, `"a":{"error":"OPERATION_TIME_LIMIT"`) {
		t.Fatalf("forced limit inside batch: %s", raw)
	}
}

func TestFaults(t *testing.T) {
	e := newEnv(t, Options{})
	e.p.FailNext(1, http.StatusBadGateway)
	if status, _ := e.call("crm.deal.add", map[string]any{"fields": map[string]any{"TITLE": "x"}}); status != http.StatusBadGateway {
		t.Fatalf("FailNext: %d", status)
	}
	if len(e.p.Deals()) != 0 {
		t.Fatal("a failed request must not do work")
	}

	e.p.LoseResponseAfterCreate(1, LoseWith500)
	if status, _ := e.call("crm.deal.add", map[string]any{"fields": map[string]any{"TITLE": "lost"}}); status != 500 {
		t.Fatalf("lost answer: %d", status)
	}
	if d := e.p.Deals(); len(d) != 1 || d[0].Title != "lost" {
		t.Fatalf("the deal must exist after a lost answer: %+v", d)
	}

	e.p.LoseResponseAfterCreate(1, LoseConnection)
	b, _ := json.Marshal(map[string]any{"fields": map[string]any{"TITLE": "closed"}})
	if _, err := http.Post(e.hook+"crm.deal.add", "application/json", bytes.NewReader(b)); err == nil {
		t.Fatal("closed connection: want a client error")
	}
	if len(e.p.Deals()) != 2 {
		t.Fatal("the deal must exist after a closed connection")
	}

	e.p.HangNext(1)
	hc := &http.Client{Timeout: 50 * time.Millisecond}
	if _, err := hc.Post(e.hook+"crm.deal.add", "application/json", bytes.NewReader(b)); err == nil {
		t.Fatal("hang: want a timeout")
	}

	id := e.addDeal(map[string]any{"TITLE": "managed"})
	if err := e.p.SetDealStage(id, "EXECUTING"); err != nil {
		t.Fatal(err)
	}
	if err := e.p.SetDealStage(id, "NOPE"); err == nil {
		t.Fatal("unknown stage accepted")
	}
	if d, _ := e.p.Deal(id); d.StageID != "EXECUTING" || d.Fields["STAGE_SEMANTIC_ID"] != "P" {
		t.Fatalf("manager stage: %+v", d)
	}

	e.p.SetPlanBlocked(true)
	if status, out := e.call("crm.deal.list", nil); status != 403 || out["error"] != "ACCESS_DENIED" {
		t.Fatalf("plan: %d %v", status, out)
	}
	e.p.SetPlanBlocked(false)
	e.p.SetOverloaded(true)
	if status, out := e.call("crm.deal.list", nil); status != 503 || out["error"] != "OVERLOAD_LIMIT" {
		t.Fatalf("overload: %d %v", status, out)
	}
}

func TestReferenceMethods(t *testing.T) {
	e := newEnv(t, Options{})
	rows := e.mustCall("crm.status.list", map[string]any{"filter": map[string]any{"ENTITY_ID": "DEAL_STAGE_1"}}).([]any)
	if len(rows) == 0 || rows[0].(map[string]any)["STATUS_ID"] != "C1:NEW" {
		t.Fatalf("pipeline 1 stages: %v", rows)
	}
	rows = e.mustCall("crm.status.list", map[string]any{"filter": map[string]any{"ENTITY_ID": "DEAL_STAGE"}}).([]any)
	if len(rows) != 8 {
		t.Fatalf("pipeline 0 stages: %d", len(rows))
	}
	e.p.DisableCurrency("AMD")
	for _, r := range e.mustCall("crm.currency.list", nil).([]any) {
		if r.(map[string]any)["CURRENCY"] == "AMD" {
			t.Fatal("disabled AMD listed")
		}
	}
	fields := e.mustCall("crm.deal.fields", nil).(map[string]any)
	if f := fields["CATEGORY_ID"].(map[string]any); f["isImmutable"] != true || f["isRequired"] != false {
		t.Fatalf("CATEGORY_ID: %v", f)
	}
	if _, ok := fields["UF_CRM_INSTAGRAM"]; !ok {
		t.Fatal("user fields missing")
	}
	e.mustCall("crm.contact.add", map[string]any{"fields": map[string]any{"NAME": "Ann",
		"PHONE": []map[string]string{{"VALUE": "+374 91 000-000", "VALUE_TYPE": "MOBILE"}},
		"EMAIL": []map[string]string{{"VALUE": "Ann@Example.com", "VALUE_TYPE": "WORK"}}}})
	got := e.mustCall("crm.duplicate.findbycomm", map[string]any{"entity_type": "CONTACT", "type": "PHONE", "values": []string{"37491000000"}})
	if b, _ := json.Marshal(got); string(b) != `{"CONTACT":[1]}` {
		t.Fatalf("findbycomm: %s", b)
	}
	_, raw := e.post(e.hook+"crm.duplicate.findbycomm", map[string]any{"type": "EMAIL", "values": []string{"nobody@example.com"}})
	if !strings.HasPrefix(raw, `{"result":[]`) {
		t.Fatalf("no duplicates must be []: %s", raw)
	}
	rows = e.mustCall("crm.contact.list", map[string]any{"filter": map[string]any{"PHONE": "+37491000000"}, "select": []string{"ID", "PHONE"}}).([]any)
	if len(rows) != 1 {
		t.Fatalf("contact by phone: %v", rows)
	}
}

func TestOAuth(t *testing.T) {
	e := newEnv(t, Options{})
	access, refresh := e.p.IssueTokens()
	callWith := func(token string) (int, map[string]any) {
		st, raw := e.post(e.srv.URL+"/rest/crm.deal.list", map[string]any{"auth": token})
		var m map[string]any
		_ = json.Unmarshal([]byte(raw), &m)
		return st, m
	}
	if st, m := callWith(access); st != 200 {
		t.Fatalf("access token: %d %v", st, m)
	}
	e.clock.Advance(AccessTokenTTL)
	if st, m := callWith(access); st != 401 || m["error"] != "expired_token" {
		t.Fatalf("expired: %d %v", st, m)
	}
	q := url.Values{"grant_type": {"refresh_token"}, "client_id": {DefaultClientID}, "client_secret": {DefaultClientSecret}, "refresh_token": {refresh}}
	resp, err := http.Get(e.srv.URL + "/oauth/token/?" + q.Encode())
	if err != nil {
		t.Fatal(err)
	}
	var tok map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&tok)
	resp.Body.Close()
	if tok["refresh_token"] == refresh || tok["access_token"] == nil || !strings.HasSuffix(tok["client_endpoint"].(string), "/rest/") {
		t.Fatalf("refresh: %v", tok)
	}
	if st, m := callWith(tok["access_token"].(string)); st != 200 {
		t.Fatalf("new token: %d %v", st, m)
	}
	resp, _ = http.Get(e.srv.URL + "/oauth/token/?" + q.Encode())
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 400 || !strings.Contains(string(b), "invalid_grant") {
		t.Fatalf("spent refresh token: %d %s", resp.StatusCode, b)
	}
}

func TestAdminHTTP(t *testing.T) {
	e := newEnv(t, Options{})
	e.addDeal(map[string]any{"TITLE": "x"})
	if st, raw := e.post(e.srv.URL+"/_sandbox/currencies", map[string]any{"code": "AMD", "enabled": false}); st != 200 {
		t.Fatalf("admin currencies: %d %s", st, raw)
	}
	if st, _ := e.call("crm.deal.add", map[string]any{"fields": map[string]any{"CURRENCY_ID": "AMD"}}); st != 400 {
		t.Fatal("AMD still enabled")
	}
	if st, raw := e.post(e.srv.URL+"/_sandbox/deal-stage", map[string]any{"id": 1, "stage_id": "WON"}); st != 200 {
		t.Fatalf("admin stage: %d %s", st, raw)
	}
	resp, err := http.Get(e.srv.URL + "/_sandbox/deals")
	if err != nil {
		t.Fatal(err)
	}
	var deals []Deal
	_ = json.NewDecoder(resp.Body).Decode(&deals)
	resp.Body.Close()
	if len(deals) != 1 || deals[0].StageID != "WON" {
		t.Fatalf("admin deals: %+v", deals)
	}
}
