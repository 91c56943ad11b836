package mapping_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/paysync/paysync/core"
	"github.com/paysync/paysync/mapping"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden from the current output")

// readInput reads a GET /v1/orders/{id} answer: the order and its journal,
// whose entries with a status_after become the transitions.
func readInput(t testing.TB, path string) mapping.Input {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Order   json.RawMessage     `json:"order"`
		Journal []core.JournalEntry `json:"journal"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	var in mapping.Input
	dec := json.NewDecoder(bytes.NewReader(doc.Order))
	dec.UseNumber()
	if err := dec.Decode(&in.Order); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	for _, e := range doc.Journal {
		if e.StatusAfter != "" {
			in.Transitions = append(in.Transitions, e)
		}
	}
	return in
}

func load(t testing.TB, connector string) *mapping.Mapping {
	t.Helper()
	m, err := mapping.LoadFile(connector + ".yaml")
	if err != nil {
		t.Fatalf("shipped %s.yaml does not load:\n%v", connector, err)
	}
	return m
}

// TestGolden renders every sample order with every shipped file and compares
// with testdata/<connector>.golden. Run with -update after a deliberate change.
func TestGolden(t *testing.T) {
	orders, _ := filepath.Glob("testdata/orders/*.json")
	if len(orders) == 0 {
		t.Fatal("no sample orders")
	}
	for _, c := range mapping.ShippedConnectors() {
		t.Run(c, func(t *testing.T) {
			m := load(t, c)
			got := map[string]mapping.Payload{}
			for _, path := range orders {
				p, err := m.Render(readInput(t, path))
				if err != nil {
					t.Fatalf("%s: %v", path, err)
				}
				got[strings.TrimSuffix(filepath.Base(path), ".json")] = p
			}
			out, err := json.MarshalIndent(got, "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, '\n')
			golden := filepath.Join("testdata", c+".golden")
			if *update {
				if err := os.WriteFile(golden, out, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test ./mapping -update to create it)", err)
			}
			if !bytes.Equal(out, want) {
				t.Errorf("%s differs from the render; diff it with -update and git diff:\n%s", golden, firstDiff(string(want), string(out)))
			}
		})
	}
}

func firstDiff(want, got string) string {
	wl, gl := strings.Split(want, "\n"), strings.Split(got, "\n")
	for i := 0; i < len(wl) || i < len(gl); i++ {
		var w, g string
		if i < len(wl) {
			w = wl[i]
		}
		if i < len(gl) {
			g = gl[i]
		}
		if w != g {
			return "line " + itoa(i+1) + ":\n  want " + w + "\n  got  " + g
		}
	}
	return ""
}

func itoa(i int) string { b, _ := json.Marshal(i); return string(b) }

// TestRenderFacts pins the CRM-facing facts that the golden files could
// silently change: field types the CRMs insist on.
func TestRenderFacts(t *testing.T) {
	in := readInput(t, "testdata/orders/paid_full.json")

	b := render(t, load(t, "bitrix24"), in)
	if got := b.Entity["OPPORTUNITY"]; got != json.Number("15000.50") {
		t.Errorf("bitrix24 OPPORTUNITY = %#v, want json.Number 15000.50", got)
	}
	if b.Entity["ORIGINATOR_ID"] != "paysync" || b.Entity["ORIGIN_ID"] != "IG-1001" || b.Entity["CATEGORY_ID"] != int64(0) {
		t.Errorf("bitrix24 origin/category wrong: %v %v %#v", b.Entity["ORIGINATOR_ID"], b.Entity["ORIGIN_ID"], b.Entity["CATEGORY_ID"])
	}
	if b.Stage != "EXECUTING" || b.Entity["STAGE_ID"] != "EXECUTING" {
		t.Errorf("bitrix24 stage = %q / %v", b.Stage, b.Entity["STAGE_ID"])
	}
	phone := b.Contact["PHONE"].([]any)[0].(map[string]any)
	if phone["VALUE"] != "+37491234567" || phone["VALUE_TYPE"] != "MOBILE" {
		t.Errorf("bitrix24 PHONE = %v", phone)
	}
	if len(b.Notes) != 3 || !strings.Contains(b.Notes[1], "insufficient funds") {
		t.Errorf("bitrix24 notes = %q, want one per transition with the failure reason", b.Notes)
	}

	a := render(t, load(t, "amocrm"), in)
	if a.Entity["price"] != int64(15000) {
		t.Errorf("amocrm price = %#v, want int64 15000 (floor of 15000.50)", a.Entity["price"])
	}
	if a.Entity["status_id"] != int64(61234563) || a.Entity["pipeline_id"] != int64(7412345) {
		t.Errorf("amocrm status/pipeline = %#v %#v", a.Entity["status_id"], a.Entity["pipeline_id"])
	}
	tags := a.Entity["_embedded"].(map[string]any)["tags"].([]any)
	if len(tags) != 3 || tags[2].(map[string]any)["name"] != "paid" {
		t.Errorf("amocrm _embedded.tags = %v", tags)
	}

	s := render(t, load(t, "sheets"), in)
	if s.Entity["Order ID"] != "IG-1001" || s.Entity["Status"] != "Paid" || s.Entity["Amount"] != json.Number("15000.50") {
		t.Errorf("sheets row = %v", s.Entity)
	}
	if s.Entity["Created"] != "2026-01-15 12:00" {
		t.Errorf("sheets Created = %v, want Asia/Yerevan time 2026-01-15 12:00", s.Entity["Created"])
	}

	evil := readInput(t, "testdata/orders/manual_review.json")
	e := render(t, load(t, "sheets"), evil)
	for _, col := range []string{"Customer", "Instagram", "Items"} {
		v := e.Entity[col].(string)
		if strings.HasPrefix(v, "=") || strings.HasPrefix(v, "+") || strings.HasPrefix(v, "@") {
			t.Errorf("sheets %s = %q: a formula got through", col, v)
		}
	}
}

func render(t testing.TB, m *mapping.Mapping, in mapping.Input) mapping.Payload {
	t.Helper()
	p, err := m.Render(in)
	if err != nil {
		t.Fatalf("%s: %v", m.Connector(), err)
	}
	return p
}

// TestRenderDeterministic: the same input gives the same bytes, run after run.
func TestRenderDeterministic(t *testing.T) {
	in := readInput(t, "testdata/orders/paid_full.json")
	for _, c := range mapping.ShippedConnectors() {
		m := load(t, c)
		first, _ := json.Marshal(render(t, m, in))
		for range 20 {
			again, _ := json.Marshal(render(t, m, in))
			if !bytes.Equal(first, again) {
				t.Fatalf("%s: render is not deterministic", c)
			}
		}
	}
}

// TestEveryStatusRenders: each shipped file renders every payment status, and
// the stage it gives is one of its stage order (or none).
func TestEveryStatusRenders(t *testing.T) {
	in := readInput(t, "testdata/orders/paid_full.json")
	for _, c := range mapping.ShippedConnectors() {
		m := load(t, c)
		for _, st := range core.Statuses {
			in.Order.Status = st
			p := render(t, m, in)
			if p.Stage != "" && !contains(m.Stages(), p.Stage) {
				t.Errorf("%s: status %s renders stage %q, not in %v", c, st, p.Stage, m.Stages())
			}
		}
	}
	in.Order.Status = "lost"
	if _, err := load(t, "sheets").Render(in); err == nil || core.ErrorCode(err) != core.EINVALID {
		t.Errorf("unknown status: err = %v, want EINVALID", err)
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func TestRenderErrorHasPosition(t *testing.T) {
	src := strings.Replace(minimal, "  Order ID: {source: order_id}", `  Order ID: {source: order_id}
  Method:
    type: enum
    source: delivery.method
    values: {courier: 1}`, 1)
	m, err := mapping.Parse("t.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	in := mapping.Input{Order: core.Order{ID: "A", Status: core.StatusPaid, Currency: "AMD", Shipping: map[string]any{"method": "drone"}}}
	_, err = m.Render(in)
	want := `t.yaml:4:3: entity.Method: "drone" has no id under values: add it, or a "*" entry for any other value`
	if err == nil || err.Error() != want {
		t.Errorf("err = %v\nwant  %s", err, want)
	}
	in.Order.Shipping["method"] = "courier"
	if p, err := m.Render(in); err != nil || p.Entity["Method"] != int64(1) {
		t.Errorf("mapped enum: %v, %v", p.Entity["Method"], err)
	}
}

func TestTemplateOutputIsBounded(t *testing.T) {
	src := strings.Replace(minimal, "{source: order_id}", `{template: '{{range .items}}{{printf "%0999999d" 1}}{{end}}'}`, 1)
	m, err := mapping.Parse("t.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	in := mapping.Input{Order: core.Order{ID: "A", Status: core.StatusPaid, Items: []core.Item{{Name: "x", Quantity: 1}}}}
	_, err = m.Render(in)
	if err == nil || !strings.Contains(err.Error(), "longer than 65536 bytes") {
		t.Errorf("err = %v, want the output bound", err)
	}
}

func TestLoadDir(t *testing.T) {
	shipped := mapping.ShippedConnectors()
	all, err := mapping.LoadDir(".", shipped)
	if err != nil || len(all) != len(shipped) || all["amocrm"].Connector() != "amocrm" {
		t.Fatalf("LoadDir(.) = %v, %v", all, err)
	}
	embedded, err := mapping.LoadDir("", nil)
	if err != nil || len(embedded) != len(shipped) {
		t.Fatalf("built-in mappings: %v, %v", embedded, err)
	}

	dir := t.TempDir()
	write(t, filepath.Join(dir, "amocrm.yaml"), minimal) // declares sheets
	write(t, filepath.Join(dir, "bitrix24.yaml"), "connector: bitrix24\ncolour: red\n")
	_, err = mapping.LoadDir(dir, []string{"amocrm", "bitrix24"})
	if err == nil {
		t.Fatal("mismatched and broken files loaded")
	}
	got := err.Error()
	for _, want := range []string{
		filepath.Join(dir, "amocrm.yaml") + ":1:1: file is named for connector amocrm but declares connector: sheets",
		filepath.Join(dir, "bitrix24.yaml") + ":2:1: unknown key colour in the file",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("LoadDir error lacks %q:\n%s", want, got)
		}
	}
	if _, err := mapping.LoadDir(dir, []string{"sheets"}); err == nil || !strings.Contains(err.Error(), "sheets.yaml") {
		t.Errorf("missing file: %v", err)
	}
}

func TestSetReloadKeepsOldOnError(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "sheets.yaml")
	write(t, path, minimal)
	s, err := mapping.NewSet(dir, []string{"sheets"})
	if err != nil {
		t.Fatal(err)
	}
	old := s.Get("sheets")
	if old == nil || s.Get("amocrm") != nil {
		t.Fatal("Get: wrong mappings")
	}
	write(t, path, strings.Replace(minimal, "source: order_id", "source: order_idd", 1))
	if err := s.Reload(); err == nil || !strings.Contains(err.Error(), "sheets.yaml:3:22: entity.Order ID: unknown source field order_idd") {
		t.Fatalf("Reload of a broken file: %v", err)
	}
	if s.Get("sheets") != old {
		t.Fatal("a failed reload replaced the mapping")
	}
	write(t, path, strings.Replace(minimal, "Order ID", "Order", 1))
	if err := s.Reload(); err != nil {
		t.Fatal(err)
	}
	if got := s.Get("sheets").Fields(); len(got) != 1 || got[0] != "Order" {
		t.Fatalf("reload did not take the new file: %v", got)
	}
}

func write(t *testing.T, path, data string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestRenderConcurrent: one Mapping serves every dispatcher worker at once (run with -race).
func TestRenderConcurrent(t *testing.T) {
	in := readInput(t, "testdata/orders/paid_full.json")
	m := load(t, "amocrm")
	want, _ := json.Marshal(render(t, m, in))
	done := make(chan []byte)
	for range 8 {
		go func() {
			var last []byte
			for range 50 {
				p, err := m.Render(in)
				if err != nil {
					break
				}
				last, _ = json.Marshal(p)
			}
			done <- last
		}()
	}
	for range 8 {
		if got := <-done; !bytes.Equal(got, want) {
			t.Fatal("concurrent renders differ")
		}
	}
}

// TestOneNotePerRealChange: entries that leave the status as it was (a link
// attached, a webhook waiting for its lookup, a duplicate) get no note; a
// new status, or money moving within one, does.
func TestOneNotePerRealChange(t *testing.T) {
	o := core.Order{ID: "IG-7", Status: core.StatusPaid, AmountMinor: 900000, Currency: "AMD", PaymentURL: "https://pay.example/x",
		Items: []core.Item{{Name: "Scarf", Quantity: 1, PriceMinor: 900000}}}
	tr := []core.JournalEntry{
		{Verdict: core.VerdictCreated, StatusAfter: core.StatusPending},
		{Verdict: core.VerdictLinkCreated, StatusBefore: core.StatusPending, StatusAfter: core.StatusPending},
		{Verdict: core.VerdictUnconfirmed, StatusBefore: core.StatusPending, StatusAfter: core.StatusPending},
		{Verdict: core.VerdictDuplicate, StatusBefore: core.StatusPending, StatusAfter: core.StatusPending},
		{Verdict: core.VerdictAccepted, StatusBefore: core.StatusPending, StatusAfter: core.StatusPaid},
		{Verdict: core.VerdictDuplicate, StatusBefore: core.StatusPaid, StatusAfter: core.StatusPaid},
	}
	for _, c := range mapping.ShippedConnectors() {
		p := render(t, load(t, c), mapping.Input{Order: o, Transitions: tr})
		links := 0
		for _, n := range p.Notes {
			if strings.Contains(n, "Payment link sent") || strings.Contains(n, "awaiting payment") {
				links++
			}
		}
		if links > 1 {
			t.Errorf("%s: %d notes for one pending change: %q", c, links, p.Notes)
		}
		if len(p.Notes) > 2 {
			t.Errorf("%s: %d notes for two changes: %q", c, len(p.Notes), p.Notes)
		}
	}
}
