package sheets_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/paysync/paysync/connectors"
	"github.com/paysync/paysync/connectors/connectortest"
	"github.com/paysync/paysync/connectors/sheets"
	"github.com/paysync/paysync/core"
	"github.com/paysync/paysync/internal/testutil"
	sandbox "github.com/paysync/paysync/sandbox/sheets"
)

func errOf(t *testing.T, r core.DeliveryResult, class core.ErrorClass, reason string) {
	t.Helper()
	de := core.ClassifyDelivery(r.Err)
	if r.Err == nil || de.Class != class || !strings.Contains(de.Reason, reason) {
		t.Fatalf("got %v (class %s, reason %q), want a %s error saying %q", r.Err, de.Class, de.Reason, class, reason)
	}
}

func TestNotSharedSaysShareWithTheAccount(t *testing.T) {
	t.Parallel()
	d := newDouble(t, sandbox.Options{})
	c := d.connector(t, shipped(t))
	d.Share(sandbox.RoleNone)
	r := deliver(t, c, core.Delivery{Order: connectortest.Order("S-1")})[0]
	errOf(t, r, core.Paused, "share the spreadsheet with "+sandbox.DefaultClientEmail+" as an editor")
	// Shared read-only: the read passes, the write does not.
	d.Share(sandbox.RoleViewer)
	r = deliver(t, c, core.Delivery{Order: connectortest.Order("S-1")})[0]
	errOf(t, r, core.Paused, "share the spreadsheet with "+sandbox.DefaultClientEmail+" as an editor")
	d.Share(sandbox.RoleEditor)
	mustDeliver(t, c, core.Delivery{Order: connectortest.Order("S-1")})
	d.row(t, "S-1")
}

func TestWrongSpreadsheetID(t *testing.T) {
	t.Parallel()
	d := newDouble(t, sandbox.Options{})
	cl, err := sheets.New(sheets.Config{SpreadsheetID: "not-the-id", Key: d.key, Endpoint: d.srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	c, err := sheets.NewConnector(sheets.ConnectorConfig{Client: cl, Mapping: shipped(t), Logger: testutil.Logger(t)})
	if err != nil {
		t.Fatal(err)
	}
	r := deliver(t, c, core.Delivery{Order: connectortest.Order("S-1")})[0]
	errOf(t, r, core.Paused, "check PAYSYNC_SHEETS_SPREADSHEET_ID")
}

// TestExistingTabAndShopColumns: a shop's own tab with its own columns and
// the mapped headers in another order; paysync writes under its headers
// only, and appends after the shop's rows.
func TestExistingTabAndShopColumns(t *testing.T) {
	t.Parallel()
	d := newDouble(t, sandbox.Options{Sheets: []string{"Orders"}})
	d.Rebuild("Orders", [][]string{
		{"Notes", "Status", "Order ID", "Customer", "Amount", "Currency"},
		{"call back", "Shipped", "OLD-1", "Someone", "1", "AMD"},
	})
	c := d.connector(t, shipped(t))
	o := connectortest.Order("S-2")
	r := mustDeliver(t, c, core.Delivery{Order: o})[0]
	if r.ExternalID != "3" {
		t.Fatalf("new order in row %s, want 3", r.ExternalID)
	}
	rows := d.Rows("Orders")
	if len(rows[0]) != 6 {
		t.Fatalf("the header row changed: %q", rows[0])
	}
	if got := rows[2]; got[0] != "" || got[1] != "Awaiting payment" || got[2] != "S-2" || got[3] != "Ani Petrosyan" || got[4] != "15000" {
		t.Fatalf("row 3 = %q", got)
	}
	if rows[1][0] != "call back" || rows[1][2] != "OLD-1" {
		t.Fatalf("the shop's row changed: %q", rows[1])
	}
}

func TestMissingKeyColumnPauses(t *testing.T) {
	t.Parallel()
	d := newDouble(t, sandbox.Options{Sheets: []string{"Orders"}})
	d.Rebuild("Orders", [][]string{{"Order", "Status"}, {"X-1", "Paid"}})
	c := d.connector(t, shipped(t))
	r := deliver(t, c, core.Delivery{Order: connectortest.Order("S-3")})[0]
	errOf(t, r, core.Paused, `has no "Order ID" column`)
	if rows := d.Rows("Orders"); len(rows) != 2 {
		t.Fatalf("paysync wrote to a sheet it cannot key: %q", rows)
	}
}

func TestHeaderlessTabWithDataPauses(t *testing.T) {
	t.Parallel()
	d := newDouble(t, sandbox.Options{Sheets: []string{"Orders"}})
	d.Rebuild("Orders", [][]string{{}, {"X-1", "Paid"}, {"X-2", "Paid"}})
	c := d.connector(t, shipped(t))
	r := deliver(t, c, core.Delivery{Order: connectortest.Order("S-4")})[0]
	errOf(t, r, core.Paused, "put the header row back")
}

// TestTabDeletedIsCreatedAgain: a person deletes the tab between two
// deliveries; the next one creates it with its header again.
func TestTabDeletedIsCreatedAgain(t *testing.T) {
	t.Parallel()
	d := newDouble(t, sandbox.Options{})
	c := d.connector(t, shipped(t))
	a := connectortest.Order("S-5")
	r := mustDeliver(t, c, core.Delivery{Order: a})[0]
	d.DeleteTab("Orders")
	paid := moveTo(a, core.StatusPaid)
	r2 := mustDeliver(t, c, linked(paid, r))[0]
	if r2.ExternalID != "2" || d.Value("Orders", 2, "Status") != "Paid" || d.Frozen("Orders") != 1 {
		t.Fatalf("after the tab was deleted: %+v %q", r2, d.Rows("Orders"))
	}
	if want := "linked row 2 is empty and order S-5 was nowhere else in the sheet (rebuilt, or its row deleted): wrote row 2"; r2.Notice != want {
		t.Fatalf("notice %q, want %q", r2.Notice, want)
	}
}

// TestRenamedHeader: a person renames a mapped header. The delivery still
// writes the other columns and leaves the renamed one alone, and
// `connectors check` says what to fix.
func TestRenamedHeaderAndCheck(t *testing.T) {
	t.Parallel()
	d := newDouble(t, sandbox.Options{})
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "key.json")
	if err := os.WriteFile(keyFile, d.key, 0o600); err != nil {
		t.Fatal(err)
	}
	st := sheets.DefaultSettings()
	st.SpreadsheetID, st.CredentialsFile, st.Endpoint = d.ID(), keyFile, d.srv.URL+"/"
	spec, _ := connectors.Lookup(sheets.Name)
	check := func() (string, []string) {
		t.Helper()
		var out bytes.Buffer
		probs, err := spec.Check(context.Background(), connectors.Deps{Settings: st}, shipped(t), &out)
		if err != nil {
			t.Fatalf("check: %v", err)
		}
		return out.String(), probs
	}
	out, probs := check()
	if len(probs) != 0 || !strings.Contains(out, `tab "Orders" does not exist yet: paysync creates it`) || !strings.Contains(out, "can write") {
		t.Fatalf("fresh spreadsheet: %v\n%s", probs, out)
	}

	c := d.connector(t, shipped(t))
	a := connectortest.Order("S-6")
	r := mustDeliver(t, c, core.Delivery{Order: a})[0]
	if out, probs = check(); len(probs) != 0 || !strings.Contains(out, "header row: A Order ID, B Status") {
		t.Fatalf("after a delivery: %v\n%s", probs, out)
	}

	col := d.Column("Orders", "Status")
	if err := d.SetCell("Orders", sheets.ColumnName(col)+"1", "State"); err != nil {
		t.Fatal(err)
	}
	paid := moveTo(a, core.StatusPaid)
	paid.AmountMinor = 1600000
	mustDeliver(t, c, linked(paid, r))
	if d.Value("Orders", 2, "State") != "Awaiting payment" || d.Value("Orders", 2, "Amount") != "16000" {
		t.Fatalf("after the rename: %q", d.Rows("Orders"))
	}
	out, probs = check()
	if len(probs) != 1 || !strings.Contains(probs[0], `column "Status" is not in the sheet's header row: add it to row 1`) ||
		!strings.Contains(out, "renamed (to State?)") {
		t.Fatalf("renamed Status: %q\n%s", probs, out)
	}

	d.Share(sandbox.RoleViewer)
	if _, probs = check(); len(probs) != 2 || !strings.Contains(probs[0], "share it with "+sandbox.DefaultClientEmail+" as an editor") {
		t.Fatalf("viewer: %q", probs)
	}
	d.Share(sandbox.RoleNone)
	_, err := spec.Check(context.Background(), connectors.Deps{Settings: st}, shipped(t), &bytes.Buffer{})
	if de := sheets.Classify(err); err == nil || !strings.Contains(de.Reason, "share the spreadsheet with "+sandbox.DefaultClientEmail) {
		t.Fatalf("not shared: %v", err)
	}
}

// TestCheckWording: each mapped column missing from row 1 is one problem in
// the sheet's terms, at the column's place in the file.
func TestCheckWording(t *testing.T) {
	t.Parallel()
	d := newDouble(t, sandbox.Options{Sheets: []string{sheets.DefaultSheet}})
	keyFile := filepath.Join(t.TempDir(), "key.json")
	if err := os.WriteFile(keyFile, d.key, 0o600); err != nil {
		t.Fatal(err)
	}
	st := sheets.DefaultSettings()
	st.SpreadsheetID, st.CredentialsFile, st.Endpoint = d.ID(), keyFile, d.srv.URL+"/"
	spec, _ := connectors.Lookup(sheets.Name)
	m := shipped(t)
	d.Rebuild(sheets.DefaultSheet, [][]string{{sheets.DefaultKeyColumn}})
	probs, err := spec.Check(context.Background(), connectors.Deps{Settings: st}, m, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, f := range m.Fields() {
		if f != sheets.DefaultKeyColumn {
			want = append(want, m.File()+":"+testutil.Place(t, "../../mapping/sheets.yaml", "  "+f+":", f)+": "+
				`column "`+f+`" is not in the sheet's header row: add it to row 1, or remove it from entity`)
		}
	}
	if len(want) == 0 || len(probs) != len(want) {
		t.Fatalf("got %d problems, want %d:\n%s", len(probs), len(want), strings.Join(probs, "\n"))
	}
	for i := range want {
		if probs[i] != want[i] {
			t.Errorf("problem %d:\n got  %s\n want %s", i, probs[i], want[i])
		}
	}
}

func TestValidate(t *testing.T) {
	t.Parallel()
	d := newDouble(t, sandbox.Options{})
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := write("good.json", string(d.key))
	user := write("user.json", `{"type":"authorized_user","client_id":"x","client_secret":"y","refresh_token":"z"}`)
	broken := write("broken.json", strings.Replace(string(d.key), "MII", "XXX", 1))
	for name, tc := range map[string]struct {
		edit func(s *sheets.Settings)
		want string // "" for no problem
	}{
		"ok":           {func(s *sheets.Settings) {}, ""},
		"url as id":    {func(s *sheets.Settings) { s.SpreadsheetID = "https://docs.google.com/spreadsheets/d/abc/edit" }, "spreadsheet_id: the spreadsheet id is the part of the sheet's address between /d/ and /edit"},
		"no file":      {func(s *sheets.Settings) { s.CredentialsFile = filepath.Join(dir, "none.json") }, "no such file or directory"},
		"user creds":   {func(s *sheets.Settings) { s.CredentialsFile = user }, `of type "authorized_user", not a service-account key`},
		"broken key":   {func(s *sheets.Settings) { s.CredentialsFile = broken }, "private key in the service-account key file cannot be read"},
		"only id":      {func(s *sheets.Settings) { s.CredentialsFile = "" }, "needs both spreadsheet_id"},
		"bad endpoint": {func(s *sheets.Settings) { s.Endpoint = "sheets.googleapis.com" }, "endpoint: connectors.sheets.endpoint \"sheets.googleapis.com\" is not an http(s) URL"},
		"zero writes":  {func(s *sheets.Settings) { s.WritesPerMinute = 0 }, "writes_per_minute must be at least 1"},
		"empty tab":    {func(s *sheets.Settings) { s.Sheet = " " }, "sheet: connectors.sheets.sheet is the tab's name"},
	} {
		s := sheets.DefaultSettings()
		s.SpreadsheetID, s.CredentialsFile = d.ID(), good
		tc.edit(s)
		var got []string
		s.Validate(func(key, reason string) { got = append(got, key+": "+reason) })
		joined := strings.Join(got, "\n")
		if tc.want == "" && len(got) != 0 || tc.want != "" && !strings.Contains(joined, tc.want) {
			t.Errorf("%s: %q, want %q", name, got, tc.want)
		}
		if strings.Contains(joined, "PRIVATE KEY") || strings.Contains(joined, "MII") {
			t.Errorf("%s: the key reached the message: %s", name, joined)
		}
	}
}

func TestRecordURLAndDouble(t *testing.T) {
	t.Parallel()
	spec, _ := connectors.Lookup(sheets.Name)
	st := sheets.DefaultSettings()
	st.SpreadsheetID = "1AbC-d_e"
	got := spec.RecordURL(st, core.CRMLink{ExternalID: "7", Data: `{"gid":123}`})
	if got != "https://docs.google.com/spreadsheets/d/1AbC-d_e/edit#gid=123&range=A7" {
		t.Fatalf("RecordURL = %q", got)
	}
	if spec.RecordURL(st, core.CRMLink{ExternalID: ""}) != "" {
		t.Fatal("a link without a row has no URL")
	}
	// The sandbox: the same path on the double, which serves the page.
	d := newDouble(t, sandbox.Options{Sheets: []string{"Orders"}})
	d.Rebuild("Orders", [][]string{{"Order ID", "Customer"}, {"IG-1", "<b>Ani</b>"}})
	st.SpreadsheetID, st.Endpoint = d.ID(), d.srv.URL+"/"
	page := spec.RecordURL(st, core.CRMLink{ExternalID: "2", Data: `{"gid":0}`})
	if page != d.srv.URL+"/spreadsheets/d/"+d.ID()+"/edit#gid=0&range=A2" {
		t.Fatalf("sandbox RecordURL = %q", page)
	}
	resp, err := http.Get(page)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), "<td>IG-1</td>") || !strings.Contains(string(body), "&lt;b&gt;Ani&lt;/b&gt;") {
		t.Fatalf("sandbox page: %d %s", resp.StatusCode, body)
	}

}
