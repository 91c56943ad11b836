package sheets

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/google"
)

type env struct {
	t     *testing.T
	s     *Spreadsheet
	srv   *httptest.Server
	clock *ManualClock
	token string
}

func newEnv(t *testing.T, opts Options) *env {
	t.Helper()
	clock := NewManualClock(time.Now())
	opts.Now = clock.Now
	s := New(opts)
	srv := httptest.NewServer(s)
	t.Cleanup(func() { s.Close(); srv.Close() })
	e := &env{t: t, s: s, srv: srv, clock: clock}
	tok, err := e.tokenFor(s.KeyJSON(srv.URL))
	if err != nil {
		t.Fatalf("token: %v", err)
	}
	e.token = tok
	return e
}

// tokenFor runs the JWT bearer grant with golang.org/x/oauth2/google, as
// the connector does.
func (e *env) tokenFor(key []byte) (string, error) {
	conf, err := google.JWTConfigFromJSON(key, sheetsScope)
	if err != nil {
		return "", err
	}
	tok, err := conf.TokenSource(context.Background()).Token()
	if err != nil {
		return "", err
	}
	return tok.AccessToken, nil
}

// do sends one API request; path is after /v4/spreadsheets/{id}.
func (e *env) do(method, path string, body any) (int, map[string]any) {
	e.t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, e.srv.URL+"/v4/spreadsheets/"+e.s.ID()+path, rd)
	req.Header.Set("Authorization", "Bearer "+e.token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	var out map[string]any
	raw, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(raw, &out); err != nil {
		e.t.Fatalf("%s %s: answer is not JSON: %q", method, path, raw)
	}
	return resp.StatusCode, out
}

func (e *env) ok(method, path string, body any) map[string]any {
	e.t.Helper()
	status, out := e.do(method, path, body)
	if status != http.StatusOK {
		e.t.Fatalf("%s %s: %d %v", method, path, status, out)
	}
	return out
}

func errStatus(out map[string]any) string {
	e, _ := out["error"].(map[string]any)
	s, _ := e["status"].(string)
	return s
}

func errMessage(out map[string]any) string {
	e, _ := out["error"].(map[string]any)
	s, _ := e["message"].(string)
	return s
}

// enc percent-encodes a range the way Google's clients do.
func enc(r string) string {
	return strings.NewReplacer(":", "%3A", "!", "%21").Replace(url.PathEscape(r))
}

func TestTokenChecksTheAssertionSignature(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{})
	other, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	_, err = e.tokenFor(e.s.ForeignKeyJSON(e.srv.URL, other))
	var re *oauth2.RetrieveError
	if !errors.As(err, &re) || re.Response.StatusCode != 400 || string(re.Body) != `{"error":"invalid_grant","error_description":"Invalid JWT Signature."}` {
		t.Fatalf("a key the account does not have: %v", err)
	}
	// A request without a token, and one with a made-up token.
	e.token = ""
	if status, out := e.do("GET", "", nil); status != 401 || errStatus(out) != "UNAUTHENTICATED" {
		t.Fatalf("no token: %d %v", status, out)
	}
	e.token = "ya29.made-up"
	if status, _ := e.do("GET", "", nil); status != 401 {
		t.Fatalf("made-up token: %d", status)
	}
	// Revoking the key stops tokens already issued, and new ones.
	e.token, _ = e.tokenFor(e.s.KeyJSON(e.srv.URL))
	e.ok("GET", "", nil)
	e.s.RevokeKey()
	if status, _ := e.do("GET", "", nil); status != 401 {
		t.Fatalf("revoked key's token: %d", status)
	}
	if _, err := e.tokenFor(e.s.KeyJSON(e.srv.URL)); !errors.As(err, &re) || !strings.Contains(string(re.Body), "invalid_grant") {
		t.Fatalf("revoked key: %v", err)
	}
}

func TestTokenExpiresOnTheDoublesClock(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{})
	e.ok("GET", "", nil)
	e.clock.Advance(AccessTokenTTL)
	if status, out := e.do("GET", "", nil); status != 401 || errStatus(out) != "UNAUTHENTICATED" {
		t.Fatalf("expired token: %d %v", status, out)
	}
}

func TestRangesArePercentDecodedAndTabNamesQuoted(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{Sheets: []string{"Orders 2026", "CRM26", "Bob's"}})
	for _, tab := range []string{"'Orders 2026'", "'CRM26'", "'Bob''s'"} {
		rng := tab + "!B2:C3"
		out := e.ok("PUT", "/values/"+enc(rng)+"?valueInputOption=RAW", map[string]any{"values": [][]any{{"x", 1}, {nil, true}}})
		if out["updatedRange"] != rng || out["updatedCells"] != float64(3) {
			t.Fatalf("%s: %v", rng, out)
		}
		got := e.ok("GET", "/values/"+enc(tab+"!A1:C3"), nil)
		vals, _ := json.Marshal(got["values"])
		if string(vals) != `[[],["","x","1"],["","","TRUE"]]` {
			t.Fatalf("%s read back %s", tab, vals)
		}
	}
	// Ranges come back bounded by the grid, quoted where Google quotes.
	out := e.ok("GET", "/values:batchGet?ranges="+url.QueryEscape("'CRM26'!A:A")+"&ranges="+url.QueryEscape("'Orders 2026'!1:1"), nil)
	vrs := out["valueRanges"].([]any)
	if r := vrs[0].(map[string]any)["range"]; r != "'CRM26'!A1:A1000" {
		t.Fatalf("range %v", r)
	}
	if r := vrs[1].(map[string]any)["range"]; r != "'Orders 2026'!A1:Z1" {
		t.Fatalf("range %v", r)
	}
	status, bad := e.do("GET", "/values/"+enc("Missing!A1"), nil)
	if status != 400 || errMessage(bad) != "Unable to parse range: Missing!A1" || errStatus(bad) != "INVALID_ARGUMENT" {
		t.Fatalf("missing tab: %d %v", status, bad)
	}
	status, bad = e.do("GET", "/values/"+enc("'Bob''s'!A1:A2000"), nil)
	if status != 400 || !strings.Contains(errMessage(bad), "exceeds grid limits") {
		t.Fatalf("beyond the grid: %d %v", status, bad)
	}
}

func TestRawKeepsTextUserEnteredMakesFormulas(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{})
	e.ok("PUT", "/values/"+enc("Sheet1!A1:B1")+"?valueInputOption=RAW", map[string]any{"values": [][]any{{`=IMPORTDATA("http://x")`, "'=1"}}})
	e.ok("PUT", "/values/"+enc("Sheet1!A2:B2")+"?valueInputOption=USER_ENTERED", map[string]any{"values": [][]any{{`=IMPORTDATA("http://x")`, "'=1"}}})
	for ref, want := range map[string]struct {
		v       any
		formula bool
	}{"A1": {`=IMPORTDATA("http://x")`, false}, "B1": {"'=1", false}, "A2": {`=IMPORTDATA("http://x")`, true}, "B2": {"=1", false}} {
		v, f, _ := e.s.Cell("Sheet1", ref)
		if v != want.v || f != want.formula {
			t.Errorf("%s: %#v formula=%v, want %#v formula=%v", ref, v, f, want.v, want.formula)
		}
	}
	if status, out := e.do("PUT", "/values/"+enc("Sheet1!A1"), map[string]any{"values": [][]any{{"x"}}}); status != 400 || !strings.Contains(errMessage(out), "valueInputOption") {
		t.Fatalf("no valueInputOption: %d %v", status, out)
	}
}

func TestBatchUpdateSkipsNullsAndIsAllOrNothing(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{})
	e.ok("PUT", "/values/"+enc("Sheet1!A1:C1")+"?valueInputOption=RAW", map[string]any{"values": [][]any{{"a", "b", "c"}}})
	e.ok("POST", "/values:batchUpdate", map[string]any{"valueInputOption": "RAW", "data": []any{
		map[string]any{"range": "Sheet1!A1:C1", "values": [][]any{{"A", nil, ""}}},
	}})
	if got := e.s.Rows("Sheet1"); len(got) != 1 || strings.Join(got[0], ",") != "A,b" {
		t.Fatalf("after null and empty string: %q", got)
	}
	status, out := e.do("POST", "/values:batchUpdate", map[string]any{"valueInputOption": "RAW", "data": []any{
		map[string]any{"range": "Sheet1!A1", "values": [][]any{{"changed"}}},
		map[string]any{"range": "Nope!A1", "values": [][]any{{"x"}}},
	}})
	if status != 400 || e.s.Rows("Sheet1")[0][0] != "A" {
		t.Fatalf("a bad range must fail the whole batch: %d %v %q", status, out, e.s.Rows("Sheet1"))
	}
	status, out = e.do("PUT", "/values/"+enc("Sheet1!A1:B1")+"?valueInputOption=RAW", map[string]any{"values": [][]any{{1, 2, 3}}})
	if status != 400 || !strings.Contains(errMessage(out), "tried writing to column [C]") {
		t.Fatalf("values wider than the range: %d %v", status, out)
	}
}

func TestAppendFindsTheTableAndInsertsRows(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{})
	e.ok("PUT", "/values/"+enc("Sheet1!B1:C3")+"?valueInputOption=RAW", map[string]any{"values": [][]any{{"Key", "Val"}, {"k1", "v1"}, {"k2", "v2"}}})
	e.ok("PUT", "/values/"+enc("Sheet1!B5")+"?valueInputOption=RAW", map[string]any{"values": [][]any{{"below a gap"}}})
	out := e.ok("POST", "/values/"+enc("Sheet1!B:C")+":append?valueInputOption=RAW&insertDataOption=INSERT_ROWS", map[string]any{"values": [][]any{{"k3", "v3"}, {"k4", nil}}})
	upd := out["updates"].(map[string]any)
	if out["tableRange"] != "Sheet1!B1:C3" || upd["updatedRange"] != "Sheet1!B4:C5" {
		t.Fatalf("append: %v", out)
	}
	rows := e.s.Rows("Sheet1")
	if len(rows) != 7 || rows[3][1] != "k3" || rows[4][1] != "k4" || rows[6][1] != "below a gap" {
		t.Fatalf("after INSERT_ROWS: %q", rows)
	}
	// OVERWRITE (the default) writes over what is below the table.
	e.ok("POST", "/values/"+enc("Sheet1!B:C")+":append?valueInputOption=RAW", map[string]any{"values": [][]any{{"k5", "v5"}}})
	if rows := e.s.Rows("Sheet1"); len(rows) != 7 || rows[5][1] != "k5" {
		t.Fatalf("after OVERWRITE: %q", rows)
	}
}

func TestQuotaAnswers429WithGooglesBody(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{WritesPerMinute: 2})
	w := func() (int, map[string]any) {
		return e.do("PUT", "/values/"+enc("Sheet1!A1")+"?valueInputOption=RAW", map[string]any{"values": [][]any{{"x"}}})
	}
	w()
	w()
	status, out := w()
	if status != 429 || errStatus(out) != "RESOURCE_EXHAUSTED" || !strings.HasPrefix(errMessage(out), "Quota exceeded for quota metric 'Write requests'") {
		t.Fatalf("third write in a minute: %d %v", status, out)
	}
	details, _ := out["error"].(map[string]any)["details"].([]any)
	if len(details) == 0 || details[0].(map[string]any)["reason"] != "RATE_LIMIT_EXCEEDED" {
		t.Fatalf("details: %v", details)
	}
	e.ok("GET", "/values/"+enc("Sheet1!A1"), nil) // reads have their own quota
	e.clock.Advance(QuotaWindow)
	if status, _ := w(); status != 200 {
		t.Fatalf("after a minute: %d", status)
	}
	if st := e.s.Stats(); st.Rejected != 1 || st.Writes != 3 {
		t.Fatalf("stats %+v", st)
	}
}

func TestLostAnswerAfterTheWrite(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{})
	e.s.LoseNextWrite(1, Lose503)
	status, out := e.do("PUT", "/values/"+enc("Sheet1!A1")+"?valueInputOption=RAW", map[string]any{"values": [][]any{{"landed"}}})
	if status != 503 || errStatus(out) != "UNAVAILABLE" {
		t.Fatalf("lost answer: %d %v", status, out)
	}
	if rows := e.s.Rows("Sheet1"); len(rows) != 1 || rows[0][0] != "landed" {
		t.Fatalf("the write must have happened: %q", rows)
	}
}

func TestSharingAndAddSheet(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{})
	e.s.Share(RoleViewer)
	e.ok("GET", "/values/"+enc("Sheet1!A1"), nil)
	if status, out := e.do("PUT", "/values/"+enc("Sheet1!A1")+"?valueInputOption=RAW", map[string]any{"values": [][]any{{"x"}}}); status != 403 || errMessage(out) != "The caller does not have permission" {
		t.Fatalf("viewer writes: %d %v", status, out)
	}
	e.s.Share(RoleNone)
	if status, out := e.do("GET", "", nil); status != 403 || errStatus(out) != "PERMISSION_DENIED" {
		t.Fatalf("not shared: %d %v", status, out)
	}
	e.s.Share(RoleEditor)
	out := e.ok("POST", ":batchUpdate", map[string]any{"requests": []any{map[string]any{"addSheet": map[string]any{"properties": map[string]any{"title": "Orders", "gridProperties": map[string]any{"frozenRowCount": 1}}}}}})
	props := out["replies"].([]any)[0].(map[string]any)["addSheet"].(map[string]any)["properties"].(map[string]any)
	if props["title"] != "Orders" || props["sheetId"] == float64(0) || e.s.Frozen("Orders") != 1 {
		t.Fatalf("addSheet: %v", out)
	}
	if status, out := e.do("POST", ":batchUpdate", map[string]any{"requests": []any{map[string]any{"addSheet": map[string]any{"properties": map[string]any{"title": "orders"}}}}}); status != 400 || !strings.Contains(errMessage(out), "already exists") {
		t.Fatalf("second Orders: %d %v", status, out)
	}
	req, _ := http.NewRequest("GET", e.srv.URL+"/v4/spreadsheets/other-id", nil)
	req.Header.Set("Authorization", "Bearer "+e.token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != 404 {
		t.Fatalf("unknown spreadsheet: %v %v", resp, err)
	}
	resp.Body.Close()
}

func TestPersonEdits(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{Sheets: []string{"Orders"}})
	e.s.Rebuild("Orders", [][]string{{"Order ID", "Status"}, {"B", "Paid"}, {"A", "New"}, {"C", "Shipped"}})
	if err := e.s.SortRows("Orders", "Order ID", false); err != nil {
		t.Fatal(err)
	}
	if err := e.s.InsertRows("Orders", 3, 1); err != nil {
		t.Fatal(err)
	}
	if err := e.s.MoveColumn("Orders", 2, 1); err != nil {
		t.Fatal(err)
	}
	want := [][]string{{"Status", "Order ID"}, {"New", "A"}, {}, {"Paid", "B"}, {"Shipped", "C"}}
	got := e.s.Rows("Orders")
	b1, _ := json.Marshal(got)
	b2, _ := json.Marshal(want)
	if string(b1) != string(b2) {
		t.Fatalf("rows %s, want %s", b1, b2)
	}
	if r := e.s.RowsWhere("Orders", "Order ID", "B"); len(r) != 1 || r[0] != 4 {
		t.Fatalf("B in rows %v", r)
	}
}

func TestParseA1(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]gridRange{
		"Sheet1":             {sheet: "Sheet1", hasSheet: true},
		"Sheet1!A1":          {sheet: "Sheet1", hasSheet: true, r1: 1, c1: 1, r2: 1, c2: 1},
		"'My tab'!B:B":       {sheet: "My tab", hasSheet: true, c1: 2, c2: 2},
		"'It''s'!A5:C":       {sheet: "It's", hasSheet: true, r1: 5, c1: 1, c2: 3},
		"Orders!1:1":         {sheet: "Orders", hasSheet: true, r1: 1, r2: 1},
		"A1:AA10":            {r1: 1, c1: 1, r2: 10, c2: 27},
		"'Orders 2026'!A1:B": {sheet: "Orders 2026", hasSheet: true, r1: 1, c1: 1, c2: 2},
	} {
		got, err := parseA1(in)
		if err != nil || got != want {
			t.Errorf("parseA1(%q) = %+v, %v; want %+v", in, got, err, want)
		}
	}
	for _, bad := range []string{"My tab!A1", "'open!A1", "Sheet1!", "Sheet1!A:5", "Sheet1!?"} {
		if _, err := parseA1(bad); err == nil {
			t.Errorf("parseA1(%q) accepted", bad)
		}
	}
	if quoteSheet("CRM26") != "'CRM26'" || quoteSheet("Orders") != "Orders" || quoteSheet("Orders 2026") != "'Orders 2026'" {
		t.Fatal("quoteSheet")
	}
}
