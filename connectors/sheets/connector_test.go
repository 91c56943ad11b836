package sheets_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/paysync/paysync/connectors/connectortest"
	"github.com/paysync/paysync/connectors/sheets"
	"github.com/paysync/paysync/core"
	"github.com/paysync/paysync/internal/testutil"
	"github.com/paysync/paysync/mapping"
	sandbox "github.com/paysync/paysync/sandbox/sheets"
)

// double is a sandbox spreadsheet served on loopback with a clock that
// moves when told. It starts at the wall clock's time: the service
// account's JWT carries real iat/exp times that the double checks.
type double struct {
	*sandbox.Spreadsheet
	srv   *httptest.Server
	clock *sandbox.ManualClock
	key   []byte
}

func newDouble(t testing.TB, opts sandbox.Options) *double {
	t.Helper()
	clock := sandbox.NewManualClock(time.Now())
	opts.Now = clock.Now
	s := sandbox.New(opts)
	srv := httptest.NewServer(s)
	t.Cleanup(func() { s.Close(); srv.Close() })
	return &double{Spreadsheet: s, srv: srv, clock: clock, key: s.KeyJSON(srv.URL)}
}

// client returns a client of the double; budgets 0 are the defaults, -1 none.
func (d *double) client(t testing.TB, writes, reads int) *sheets.Client {
	t.Helper()
	c, err := sheets.New(sheets.Config{SpreadsheetID: d.ID(), Key: d.key, Endpoint: d.srv.URL + "/",
		WritesPerMinute: writes, ReadsPerMinute: reads, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func shipped(t testing.TB) *mapping.Mapping {
	t.Helper()
	m, err := mapping.Shipped(sheets.Name)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func (d *double) connector(t testing.TB, m sheets.Renderer) *sheets.Connector {
	t.Helper()
	c, err := sheets.NewConnector(sheets.ConnectorConfig{Client: d.client(t, 0, 0), Mapping: m, Logger: testutil.Logger(t)})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// row is the order's row in the Orders tab; it fails unless there is exactly one.
func (d *double) row(t testing.TB, orderID string) int {
	t.Helper()
	rows := d.RowsWhere(sheets.DefaultSheet, sheets.DefaultKeyColumn, orderID)
	if len(rows) != 1 {
		t.Fatalf("order %s is in rows %v, want exactly one row", orderID, rows)
	}
	return rows[0]
}

// harness runs the CRM conformance suite against the double with the
// shipped mapping/sheets.yaml. Each case gets a new spreadsheet with only
// "Sheet1": the connector creates the Orders tab and its header first.
type harness struct {
	m *mapping.Mapping
	d *double
}

func (h *harness) NewConnector(t *testing.T) core.Connector {
	h.d = newDouble(t, sandbox.Options{})
	return h.d.connector(t, h.m)
}

func (h *harness) Records(t *testing.T, orderID string) []connectortest.Record {
	var out []connectortest.Record
	for _, r := range h.d.RowsWhere(sheets.DefaultSheet, sheets.DefaultKeyColumn, orderID) {
		cur := h.d.Value(sheets.DefaultSheet, r, "Currency")
		minor, err := core.ParseDecimal(h.d.Value(sheets.DefaultSheet, r, "Amount"), cur)
		if err != nil {
			t.Fatalf("row %d Amount: %v", r, err)
		}
		out = append(out, connectortest.Record{ExternalID: strconv.Itoa(r), Stage: h.d.Value(sheets.DefaultSheet, r, "Status"), AmountMinor: minor,
			Title: h.d.Value(sheets.DefaultSheet, r, "Customer"), Contact: h.d.Value(sheets.DefaultSheet, r, "Phone")})
	}
	return out
}

func (h *harness) StageFor(s core.Status) string {
	o := connectortest.Order("STAGE-PROBE")
	o.Status = s
	p, err := h.m.Render(mapping.Input{Order: o})
	if err != nil {
		panic(err)
	}
	return p.Stage
}

func (h *harness) LaterStage() string {
	stages := h.m.Stages()
	return stages[slices.Index(stages, h.StageFor(core.StatusPaid))+1]
}

func (h *harness) SetStage(t *testing.T, orderID, stage string) {
	r := h.d.row(t, orderID)
	col := h.d.Column(sheets.DefaultSheet, "Status")
	if err := h.d.SetCell(sheets.DefaultSheet, sheets.ColumnName(col)+strconv.Itoa(r), stage); err != nil {
		t.Fatal(err)
	}
}

func (h *harness) LoseNextCreateResponse(*testing.T) { h.d.LoseNextAppend(1, sandbox.Lose503) }
func (h *harness) ExhaustRateLimit(*testing.T)       { h.d.ExhaustWriteQuota() }
func (h *harness) WaitRateLimit(*testing.T)          { h.d.clock.Advance(sandbox.QuotaWindow + time.Second) }

func (h *harness) MakeInvalid(t *testing.T, o *core.Order) string {
	// The mapping refuses a name too long for a cell before anything is sent.
	o.Customer.Name = strings.Repeat("Ani ", 20_000)
	return "longer than 65536 bytes"
}

func (h *harness) BreakCredentials(*testing.T) { h.d.RevokeKey() }

// RebuildAccount empties the tab, as a shop that starts its sheet over
// would: the next new order lands in row 2 again.
func (h *harness) RebuildAccount(*testing.T) { h.d.Rebuild(sheets.DefaultSheet, nil) }

func (h *harness) Secrets() []string {
	k := string(h.d.key)
	i := strings.Index(k, "MII")
	return []string{k, k[i : i+64]}
}

func TestConformance(t *testing.T) {
	connectortest.Run(t, &harness{m: shipped(t)})
}

// TestConformanceWithNullStages runs the suite with a mapping that keeps
// the Status cell for failed and manual_review (stage: null), as the
// shipped Bitrix24 and amoCRM files do: a new row for such an order must
// start at pending's label, not blank.
func TestConformanceWithNullStages(t *testing.T) {
	src, err := os.ReadFile("../../mapping/sheets.yaml")
	if err != nil {
		t.Fatal(err)
	}
	s := string(src)
	for _, st := range []string{"failed: {stage: Payment failed}", "manual_review: {stage: Needs review}"} {
		if !strings.Contains(s, st) {
			t.Fatalf("mapping/sheets.yaml no longer says %q", st)
		}
		s = strings.Replace(s, st, strings.SplitN(st, ":", 2)[0]+": {stage: null}", 1)
	}
	m, err := mapping.Parse("sheets.yaml", []byte(s))
	if err != nil {
		t.Fatal(err)
	}
	connectortest.Run(t, &harness{m: m})
}

func deliver(t testing.TB, c core.Connector, ds ...core.Delivery) []core.DeliveryResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res := c.Deliver(ctx, ds)
	if len(res) != len(ds) {
		t.Fatalf("%d results for %d deliveries", len(res), len(ds))
	}
	return res
}

func mustDeliver(t testing.TB, c core.Connector, ds ...core.Delivery) []core.DeliveryResult {
	t.Helper()
	res := deliver(t, c, ds...)
	for i, r := range res {
		if r.Err != nil {
			t.Fatalf("%s: %v", ds[i].Order.ID, r.Err)
		}
	}
	return res
}

// linked is the delivery of o with the link the dispatcher stored for r.
func linked(o core.Order, r core.DeliveryResult) core.Delivery {
	return core.Delivery{Order: o, Link: &core.CRMLink{Connector: sheets.Name, OrderID: o.ID, ExternalID: r.ExternalID,
		SyncedVersion: o.Version, SyncedStatus: o.Status, Data: r.LinkData}}
}

func moveTo(o core.Order, s core.Status) core.Order {
	o.Status, o.Version = s, o.Version+1
	o.UpdatedAt = o.UpdatedAt.Add(time.Minute)
	o.StatusChangedAt = o.UpdatedAt
	if s == core.StatusPaid {
		at := o.UpdatedAt
		o.PaidAt = &at
	}
	if s == core.StatusRefunded {
		o.RefundedMinor = o.AmountMinor
	}
	return o
}

func cellRef(d *double, header string, row int) string {
	return sheets.ColumnName(d.Column(sheets.DefaultSheet, header)) + strconv.Itoa(row)
}

// TestPersonEditsBetweenUpdates: between two deliveries a person adds a
// column of their own, sorts the rows, inserts a row and moves a column.
// The next delivery writes the right cells of the right rows and leaves the
// person's column as it is.
func TestPersonEditsBetweenUpdates(t *testing.T) {
	t.Parallel()
	d := newDouble(t, sandbox.Options{})
	c := d.connector(t, shipped(t))
	names := []string{"Ani", "Gor", "Lilit", "Mher", "Nare"}
	var orders []core.Order
	var ds []core.Delivery
	for i, n := range names {
		o := connectortest.Order(fmt.Sprintf("IG-%d", 2001+i))
		o.Customer.Name = n
		orders = append(orders, o)
		ds = append(ds, core.Delivery{Order: o})
	}
	first := mustDeliver(t, c, ds...)
	for i, r := range first {
		if want := strconv.Itoa(i + 2); r.ExternalID != want {
			t.Fatalf("%s landed in row %s, want %s", orders[i].ID, r.ExternalID, want)
		}
	}

	// The shop's own column between Amount and Currency, with a note per order.
	const tab = sheets.DefaultSheet
	own := d.Column(tab, "Currency")
	notes := []string{"packed Ani", "packed Gor", "packed Lilit", "packed Mher", "packed Nare"}
	if err := d.InsertColumn(tab, own, "Packed by", notes...); err != nil {
		t.Fatal(err)
	}
	if err := d.SortRows(tab, "Customer", true); err != nil { // Nare first
		t.Fatal(err)
	}
	if err := d.InsertRows(tab, 3, 1); err != nil {
		t.Fatal(err)
	}
	statusCol := d.Column(tab, "Status")
	if err := d.MoveColumn(tab, statusCol, len(d.Header(tab))); err != nil { // Status to the far right
		t.Fatal(err)
	}
	if d.Column(tab, "Status") == statusCol {
		t.Fatal("the Status column did not move")
	}
	before := d.Rows(tab)

	// Gor and Mher pay; their links still name their old rows 3 and 5.
	var again []core.Delivery
	for _, i := range []int{1, 3} {
		o := moveTo(orders[i], core.StatusPaid)
		o.AmountMinor += 100
		again = append(again, linked(o, first[i]))
	}
	res := mustDeliver(t, c, again...)

	if got := len(d.Rows(tab)); got != 7 { // header, 5 orders, the empty row
		t.Fatalf("%d rows after the update, want 7:\n%v", got, d.Rows(tab))
	}
	for k, i := range []int{1, 3} {
		o := orders[i]
		r := d.row(t, o.ID)
		if res[k].Notice != "" {
			t.Errorf("%s: a row that moved needs no notice, got %q", o.ID, res[k].Notice)
		}
		if res[k].ExternalID != strconv.Itoa(r) {
			t.Errorf("%s reported row %s, it is in row %d", o.ID, res[k].ExternalID, r)
		}
		if got := d.Value(tab, r, "Status"); got != "Paid" {
			t.Errorf("%s Status %q, want Paid", o.ID, got)
		}
		if got := d.Value(tab, r, "Amount"); got != "15001" {
			t.Errorf("%s Amount %q, want 15001", o.ID, got)
		}
		if got := d.Value(tab, r, "Customer"); got != names[i] {
			t.Errorf("row %d of %s has customer %q", r, o.ID, got)
		}
		if got := d.Value(tab, r, "Packed by"); got != notes[i] {
			t.Errorf("the shop's column of %s reads %q, want %q", o.ID, got, notes[i])
		}
	}
	// Nothing else changed: the other rows and the shop's column are as the person left them.
	after := d.Rows(tab)
	for r := range before {
		id := ""
		if keyCol := d.Column(tab, sheets.DefaultKeyColumn); keyCol <= len(before[r]) {
			id = before[r][keyCol-1]
		}
		if id == orders[1].ID || id == orders[3].ID {
			continue
		}
		if !slices.Equal(before[r], after[r]) {
			t.Errorf("row %d changed:\n before %q\n after  %q", r+1, before[r], after[r])
		}
	}
}

// TestThousandOrdersThreeChanges: 1,000 orders each go pending → failed →
// paid → refunded through deliveries of up to 500; some deliveries come
// without their link (a crash before it was stored). The tab ends with
// exactly 1,000 data rows, each with its order's final status.
func TestThousandOrdersThreeChanges(t *testing.T) {
	t.Parallel()
	d := newDouble(t, sandbox.Options{})
	c := d.connector(t, shipped(t))
	const n = 1000
	orders := make([]core.Order, n)
	links := make([]*core.DeliveryResult, n)
	for i := range orders {
		orders[i] = connectortest.Order(fmt.Sprintf("IG-%05d", i))
	}
	for round, to := range []core.Status{"", core.StatusFailed, core.StatusPaid, core.StatusRefunded} {
		var ds []core.Delivery
		for i := range orders {
			if to != "" {
				orders[i] = moveTo(orders[i], to)
			}
			dl := core.Delivery{Order: orders[i]}
			if links[i] != nil && (i+round)%7 != 0 {
				dl = linked(orders[i], *links[i])
			}
			ds = append(ds, dl)
		}
		for start := 0; start < n; start += 500 {
			part := ds[start:min(start+500, n)]
			for j, r := range mustDeliver(t, c, part...) {
				links[start+j] = &r
			}
		}
	}
	rows := d.Rows(sheets.DefaultSheet)
	if len(rows) != n+1 {
		t.Fatalf("%d data rows, want %d", len(rows)-1, n)
	}
	keyCol, statusCol := d.Column(sheets.DefaultSheet, sheets.DefaultKeyColumn), d.Column(sheets.DefaultSheet, "Status")
	seen := map[string]bool{}
	for r, row := range rows[1:] {
		id := row[keyCol-1]
		if seen[id] {
			t.Fatalf("order %s has two rows", id)
		}
		seen[id] = true
		if st := row[statusCol-1]; st != "Refunded" {
			t.Fatalf("row %d (%s) has status %q, want Refunded", r+2, id, st)
		}
	}
	if len(seen) != n {
		t.Fatalf("%d distinct orders in the tab, want %d", len(seen), n)
	}
	if st := d.Stats(); st.Rejected != 0 {
		t.Fatalf("the double refused %d requests over quota", st.Rejected)
	}
}

// TestFormulasAppearAsText: text an order carries reaches the sheet as
// text, never as a formula, and with a leading apostrophe so that an export
// to CSV or Excel does not run it either, whatever the mapping does.
func TestFormulasAppearAsText(t *testing.T) {
	t.Parallel()
	d := newDouble(t, sandbox.Options{})
	c := d.connector(t, shipped(t))
	o := connectortest.Order("=1+1")
	o.Customer.Name = `=IMPORTDATA("http://x")`
	o.Customer.Handle = "=evil"
	o.PaymentURL = `=HYPERLINK("http://x")` // not cellsafe in the mapping: the connector guards it
	o.ProviderRef = "+cmd|' /C calc'!A0"
	r := mustDeliver(t, c, core.Delivery{Order: o})[0]
	row, _ := strconv.Atoi(r.ExternalID)
	for header, want := range map[string]string{
		"Customer":     `'=IMPORTDATA("http://x")`,
		"Instagram":    "'=evil",
		"Payment link": `'=HYPERLINK("http://x")`,
		"Order ID":     "'=1+1",
	} {
		v, isFormula, err := d.Cell(sheets.DefaultSheet, cellRef(d, header, row))
		if err != nil {
			t.Fatal(err)
		}
		if isFormula || v != want {
			t.Errorf("%s cell holds %#v (formula %v), want the text %q", header, v, isFormula, want)
		}
	}
	// An id that reads like the guarded one is refused, not mixed up with it.
	twin := connectortest.Order("'=1+1")
	errOf(t, deliver(t, c, core.Delivery{Order: twin})[0], core.Permanent, "in the sheet it would read like order =1+1")
	// The guarded key still finds the row again.
	paid := moveTo(o, core.StatusPaid)
	mustDeliver(t, c, core.Delivery{Order: paid})
	if got := d.Value(sheets.DefaultSheet, d.row(t, "'=1+1"), "Status"); got != "Paid" {
		t.Fatalf("status %q after the update", got)
	}
}

// TestUncertainAppend: an append that happened but whose answer was lost
// (a 503 after the write, a timeout) is retried as a lookup, not as a
// second append.
func TestUncertainAppend(t *testing.T) {
	t.Parallel()
	for _, mode := range []sandbox.LoseMode{sandbox.Lose503, sandbox.LoseConnection, sandbox.LoseHang} {
		t.Run(strconv.Itoa(int(mode)), func(t *testing.T) {
			t.Parallel()
			d := newDouble(t, sandbox.Options{})
			c := d.connector(t, shipped(t))
			a, b := connectortest.Order("U-1"), connectortest.Order("U-2")
			d.LoseNextAppend(1, mode)
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			for _, r := range c.Deliver(ctx, []core.Delivery{{Order: a}, {Order: b}}) {
				de := core.ClassifyDelivery(r.Err)
				if r.Err == nil || de.Class != core.Retryable {
					t.Fatalf("a lost append answer: %v, want a retryable error", r.Err)
				}
			}
			res := mustDeliver(t, c, core.Delivery{Order: moveTo(a, core.StatusPaid)}, core.Delivery{Order: b})
			if res[0].ExternalID != strconv.Itoa(d.row(t, a.ID)) || res[1].ExternalID != strconv.Itoa(d.row(t, b.ID)) {
				t.Fatalf("results %+v do not name the rows", res)
			}
			if st := d.Stats(); st.Appends != 1 {
				t.Fatalf("%d appends, want 1: the retry must find the rows", st.Appends)
			}
			if got := d.Value(sheets.DefaultSheet, d.row(t, a.ID), "Status"); got != "Paid" {
				t.Fatalf("status %q", got)
			}
		})
	}
}

// TestSortBetweenReadAndWrite: a person sorts the sheet in the instant
// between the connector's read and its write, so the write lands on the
// other order's row. The read after the write sees the rows moved: the
// order is written again where it is, the other order's Status gets its
// old value back and keeps its id, and its own next delivery puts its other
// cells right.
func TestSortBetweenReadAndWrite(t *testing.T) {
	t.Parallel()
	d := newDouble(t, sandbox.Options{})
	c := d.connector(t, shipped(t))
	a, b := connectortest.Order("R-1"), connectortest.Order("R-2")
	a.Customer.Name, b.Customer.Name = "Ani", "Gor"
	first := mustDeliver(t, c, core.Delivery{Order: a}, core.Delivery{Order: b})

	d.BeforeNextWrite(func() {
		if err := d.SortRows(sheets.DefaultSheet, sheets.DefaultKeyColumn, true); err != nil { // R-2 first
			t.Error(err)
		}
	})
	paidA := moveTo(a, core.StatusPaid)
	r := mustDeliver(t, c, linked(paidA, first[0]))[0]
	ra, rb := d.row(t, a.ID), d.row(t, b.ID)
	if r.ExternalID != strconv.Itoa(ra) || ra != 3 || rb != 2 {
		t.Fatalf("R-1 reported row %s, rows: R-1 %d, R-2 %d", r.ExternalID, ra, rb)
	}
	if got := d.Value(sheets.DefaultSheet, ra, "Status"); got != "Paid" {
		t.Errorf("R-1 status %q, want Paid", got)
	}
	if got := d.Value(sheets.DefaultSheet, rb, "Status"); got != "Awaiting payment" {
		t.Errorf("R-2 status %q: the status the misplaced write gave it must be put back", got)
	}

	// R-2's next delivery puts its other cells right.
	res := mustDeliver(t, c, linked(b, first[1]))
	if res[0].ExternalID != "2" || d.Value(sheets.DefaultSheet, 2, "Customer") != "Gor" || d.Value(sheets.DefaultSheet, 3, "Customer") != "Ani" {
		t.Fatalf("after R-2's delivery: %+v %q", res, d.Rows(sheets.DefaultSheet))
	}
	if n := len(d.Rows(sheets.DefaultSheet)); n != 3 {
		t.Fatalf("%d rows, want the header and two orders", n)
	}
}
