package statement_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"strings"
	"testing"
	"time"

	"github.com/xuri/excelize/v2"

	"github.com/paysync/paysync/core"
	"github.com/paysync/paysync/statement"
	"github.com/paysync/paysync/storage"
	"github.com/paysync/paysync/storage/testdb"
)

// clockStore journals every change at the test's clock, so that the
// movements fall on the days the test means.
type clockStore struct {
	*storage.DB
	now *time.Time
}

func (s clockStore) Apply(ctx context.Context, c core.Change) error {
	if c.Journal != nil && c.Journal.CreatedAt.IsZero() {
		c.Journal.CreatedAt = *s.now
	}
	return s.DB.Apply(ctx, c)
}

var yerevan = mustZone("Asia/Yerevan")

func mustZone(name string) *time.Location {
	z, err := time.LoadLocation(name)
	if err != nil {
		panic(err)
	}
	return z
}

// shopTime is a wall-clock time in the shop's zone (UTC+4).
func shopTime(s string) time.Time {
	t, err := time.ParseInLocation("2006-01-02 15:04:05", s, yerevan)
	if err != nil {
		panic(err)
	}
	return t.UTC()
}

// The statement of 1–2 March 2026 in Asia/Yerevan: payments on either side
// of the shop's midnight (one on 2 March in the shop's zone is still 1 March
// in UTC), a partial refund, an orphan payment a person settled as paid, a
// review settled as failed, and payments just outside the period.
const wantCSV = `date,time (Asia/Yerevan),kind,order_id,customer,provider,provider_ref,amount,currency
2026-03-01,09:15:00,payment,IG-1,Anna Petrosyan,vpos,vp-1,15000.00,AMD
2026-03-01,23:59:59,payment,IG-2,anna.shop,vpos,vp-2,8000.00,AMD
2026-03-02,00:30:00,payment,IG-3,'=1+2,arca,ar-3,2500.50,AMD
2026-03-02,11:00:00,review,IG-4,,arca,ar-4,1200.00,AMD
2026-03-02,12:00:00,refund,IG-1,Anna Petrosyan,vpos,vp-1,-5000.00,AMD

totals per provider and day
date,provider,currency,payments,refunds,net,movements
2026-03-01,vpos,AMD,23000.00,0.00,23000.00,2
2026-03-02,arca,AMD,3700.50,0.00,3700.50,2
2026-03-02,vpos,AMD,0.00,-5000.00,-5000.00,1
2026-03-01/2026-03-02,arca,AMD,3700.50,0.00,3700.50,2
2026-03-01/2026-03-02,vpos,AMD,23000.00,-5000.00,18000.00,3
`

func TestStatement(t *testing.T) {
	testdb.Each(t, func(t *testing.T, dialect string) {
		t.Parallel()
		ctx := context.Background()
		db := testdb.Open(t, dialect)
		var now time.Time
		l := &core.Ledger{Store: clockStore{db, &now}, Now: func() time.Time { return now }}
		at := func(s string) { now = shopTime(s) }
		create := func(id string, minor int64, c core.Customer) {
			t.Helper()
			if _, _, err := l.CreateOrder(ctx, core.Order{ID: id, AmountMinor: minor, Currency: "AMD", Customer: c}); err != nil {
				t.Fatalf("create %s: %v", id, err)
			}
		}
		event := func(provider, id, ev string, st core.Status, minor, refunded int64, ref string) {
			t.Helper()
			out, err := l.ApplyEvent(ctx, core.PaymentEvent{Provider: provider, EventID: ev, Type: string(st), OrderID: id, Status: st,
				AmountMinor: minor, RefundedMinor: refunded, Currency: "AMD", ProviderRef: ref, Source: core.SourceWebhook, Verified: true})
			if err != nil {
				t.Fatalf("event %s on %s: %v", ev, id, err)
			}
			t.Logf("%s %s: %s %s", id, ev, out.Verdict, out.Reason)
		}
		review := func(id string, d core.Status) {
			t.Helper()
			if _, err := l.Review(ctx, id, d, "checked in the bank's back office", "owner"); err != nil {
				t.Fatalf("review %s: %v", id, err)
			}
		}

		at("2026-02-27 10:00:00")
		create("IG-1", 1500000, core.Customer{Name: "Anna Petrosyan", Phone: "+37491000001"})
		create("IG-2", 800000, core.Customer{Handle: "anna.shop"})
		create("IG-3", 250050, core.Customer{Name: "=1+2"})
		create("IG-5", 100000, core.Customer{Name: "Before"})
		create("IG-6", 300000, core.Customer{Name: "Wrong amount"})
		create("IG-7", 100000, core.Customer{Name: "After"})

		at("2026-02-28 23:59:59") // the shop's day before the period
		event("vpos", "IG-5", "e5", core.StatusPaid, 100000, 0, "vp-5")
		at("2026-03-01 09:15:00")
		event("vpos", "IG-1", "e1", core.StatusPaid, 1500000, 0, "vp-1")
		at("2026-03-01 10:00:00") // amount mismatch: review, then failed: no money
		event("vpos", "IG-6", "e6", core.StatusPaid, 200000, 0, "vp-6")
		at("2026-03-01 23:59:59")
		event("vpos", "IG-2", "e2", core.StatusPaid, 800000, 0, "vp-2")
		at("2026-03-02 00:30:00") // 1 March 20:30 UTC: the shop's 2 March
		event("arca", "IG-3", "e3", core.StatusPaid, 250050, 0, "ar-3")
		at("2026-03-02 09:00:00")
		review("IG-6", core.StatusFailed)
		at("2026-03-02 10:00:00") // money for an order paysync never made
		event("arca", "IG-4", "e4", core.StatusPaid, 120000, 0, "ar-4")
		at("2026-03-02 11:00:00")
		review("IG-4", core.StatusPaid)
		at("2026-03-02 12:00:00")
		event("vpos", "IG-1", "e1r", core.StatusPartiallyRefunded, 1500000, 500000, "vp-1")
		at("2026-03-02 13:00:00") // the same refund again, under a new id: no second refund
		event("vpos", "IG-1", "e1r2", core.StatusPartiallyRefunded, 1500000, 500000, "vp-1")
		at("2026-03-03 00:00:00") // the shop's next day: outside
		event("vpos", "IG-7", "e7", core.StatusPaid, 100000, 0, "vp-7")

		p, err := statement.ParsePeriod("2026-03-01", "2026-03-02", yerevan)
		if err != nil {
			t.Fatal(err)
		}
		orders, err := db.MoneyJournal(ctx, p.Start, p.End)
		if err != nil {
			t.Fatal(err)
		}
		st := statement.Build(p, orders)
		var buf bytes.Buffer
		if err := st.WriteCSV(&buf); err != nil {
			t.Fatal(err)
		}
		got := strings.ReplaceAll(buf.String(), "\r\n", "\n")
		if got != wantCSV {
			t.Fatalf("CSV:\n%s\nwant:\n%s", got, wantCSV)
		}

		// The workbook opens with excelize and holds the same cells; amounts
		// are numbers, not text.
		var xb bytes.Buffer
		if err := st.WriteXLSX(&xb); err != nil {
			t.Fatal(err)
		}
		f, err := excelize.OpenReader(&xb)
		if err != nil {
			t.Fatalf("the workbook does not open: %v", err)
		}
		defer f.Close()
		rows, err := f.GetRows(statement.SheetName)
		if err != nil {
			t.Fatal(err)
		}
		cr := csv.NewReader(strings.NewReader(buf.String()))
		cr.FieldsPerRecord = -1 // two tables, of 9 and 7 columns
		records, err := cr.ReadAll()
		if err != nil {
			t.Fatal(err)
		}
		var nonEmpty [][]string
		for _, r := range rows {
			if len(r) > 0 {
				nonEmpty = append(nonEmpty, r)
			}
		}
		if len(nonEmpty) != len(records) {
			t.Fatalf("workbook has %d rows, the CSV %d:\n%q", len(nonEmpty), len(records), rows)
		}
		for i := range records {
			if strings.Join(nonEmpty[i], "|") != strings.Join(records[i], "|") {
				t.Fatalf("row %d: workbook %q, CSV %q", i+1, nonEmpty[i], records[i])
			}
		}
		// A cell without a type is a number (ECMA-376 18.18.11); text is a string.
		isNumber := map[excelize.CellType]bool{excelize.CellTypeUnset: true, excelize.CellTypeNumber: true}
		for cell, number := range map[string]bool{"H2": true, "H6": true, "D10": true, "E2": false, "A10": false} {
			typ, err := f.GetCellType(statement.SheetName, cell)
			if err != nil || isNumber[typ] != number {
				t.Errorf("cell %s is of type %v (%v); a number: %v wanted", cell, typ, err, number)
			}
		}
		if raw, _ := f.GetCellValue(statement.SheetName, "H6", excelize.Options{RawCellValue: true}); raw != "-5000.00" {
			t.Errorf("H6 holds %q, want the decimal -5000.00 as written", raw)
		}
	})
}

func TestParsePeriod(t *testing.T) {
	p, err := statement.ParsePeriod("2026-03-01", "2026-03-31", yerevan)
	if err != nil || !p.Start.Equal(shopTime("2026-03-01 00:00:00")) || !p.End.Equal(shopTime("2026-04-01 00:00:00")) {
		t.Fatalf("period %+v %v", p, err)
	}
	for _, c := range [][2]string{{"2026-03-02", "2026-03-01"}, {"1.3.2026", "2026-03-02"}, {"2026-01-01", "2027-01-03"}} {
		if _, err := statement.ParsePeriod(c[0], c[1], yerevan); core.ErrorCode(err) != core.EINVALID {
			t.Errorf("%s..%s: %v, want EINVALID", c[0], c[1], err)
		}
	}
}
