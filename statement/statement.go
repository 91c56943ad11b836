// Package statement is the accountant's export: one line per money movement
// (payment, refund, review settled as paid) of a period in the shop's time
// zone, with totals per provider and day, written as CSV or as an XLSX
// workbook (github.com/xuri/excelize/v2). Amounts are decimals in major
// units, formatted from integer minor units, never through a float.
package statement

import (
	"encoding/csv"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/paysync/paysync/core"
)

// MaxDays bounds a period: a year and a day.
const MaxDays = 366

// Formats are the formats a statement is written in.
var Formats = []string{"csv", "xlsx"}

// Period is a span of whole days in the shop's zone: [Start, End).
type Period struct {
	From, To   string // YYYY-MM-DD, both included
	Start, End time.Time
	Zone       *time.Location
}

// ParsePeriod reads two dates (YYYY-MM-DD, both included) as days in zone:
// a day is the shop's day, from its midnight to the next.
func ParsePeriod(from, to string, zone *time.Location) (Period, error) {
	f, err := time.ParseInLocation(time.DateOnly, from, zone)
	if err != nil {
		return Period{}, core.Errorf(core.EINVALID, "--from %q is not a date: write YYYY-MM-DD", from)
	}
	t, err := time.ParseInLocation(time.DateOnly, to, zone)
	if err != nil {
		return Period{}, core.Errorf(core.EINVALID, "--to %q is not a date: write YYYY-MM-DD", to)
	}
	if t.Before(f) {
		return Period{}, core.Errorf(core.EINVALID, "--to %s is before --from %s", to, from)
	}
	end := time.Date(t.Year(), t.Month(), t.Day()+1, 0, 0, 0, 0, zone)
	if end.Sub(f) > MaxDays*24*time.Hour+time.Hour {
		return Period{}, core.Errorf(core.EINVALID, "%s to %s is more than %d days: export a year at a time", from, to, MaxDays)
	}
	return Period{From: from, To: to, Start: f, End: end, Zone: zone}, nil
}

// Statement is the money movements of a period and their totals.
type Statement struct {
	Period Period
	Lines  []core.Movement
	Totals []Total
}

// Total sums one provider's movements in one currency on one day (Day is
// YYYY-MM-DD), or over the whole period (Day is "FROM/TO").
type Total struct {
	Day, Provider, Currency string
	PaymentsMinor           int64 // payments and reviews settled as paid
	RefundsMinor            int64 // negative
	Movements               int
}

// Net is what the provider's movements add up to.
func (t Total) Net() int64 { return t.PaymentsMinor + t.RefundsMinor }

// Build reads the movements of the orders' journals (core.Movements) that
// fall in the period, oldest first, and totals them per day, provider and
// currency, then per provider and currency over the period.
func Build(p Period, orders []core.OrderJournal) Statement {
	st := Statement{Period: p, Lines: []core.Movement{}}
	for _, oj := range orders {
		for _, m := range core.Movements(oj) {
			if !m.At.Before(p.Start) && m.At.Before(p.End) {
				st.Lines = append(st.Lines, m)
			}
		}
	}
	sort.SliceStable(st.Lines, func(i, j int) bool {
		a, b := st.Lines[i], st.Lines[j]
		if !a.At.Equal(b.At) {
			return a.At.Before(b.At)
		}
		return a.JournalID < b.JournalID
	})
	type key struct{ day, provider, currency string }
	sums := map[key]*Total{}
	add := func(k key, m core.Movement) {
		t := sums[k]
		if t == nil {
			t = &Total{Day: k.day, Provider: k.provider, Currency: k.currency}
			sums[k] = t
		}
		if m.AmountMinor < 0 {
			t.RefundsMinor += m.AmountMinor
		} else {
			t.PaymentsMinor += m.AmountMinor
		}
		t.Movements++
	}
	whole := p.From + "/" + p.To
	for _, m := range st.Lines {
		add(key{m.At.In(p.Zone).Format(time.DateOnly), m.Provider, m.Currency}, m)
		add(key{whole, m.Provider, m.Currency}, m)
	}
	for _, t := range sums {
		st.Totals = append(st.Totals, *t)
	}
	sort.Slice(st.Totals, func(i, j int) bool {
		a, b := st.Totals[i], st.Totals[j]
		if (a.Day == whole) != (b.Day == whole) {
			return b.Day == whole // the period's totals last
		}
		if a.Day != b.Day {
			return a.Day < b.Day
		}
		if a.Provider != b.Provider {
			return a.Provider < b.Provider
		}
		return a.Currency < b.Currency
	})
	return st
}

// Cell is one cell of the statement's sheet. An amount is a decimal string
// in major units with its currency's digits (Digits); it is a number in a
// workbook and text in a CSV file.
type Cell struct {
	Text   string
	Amount bool
	Digits int
}

// Rows are the statement's cells, the same in CSV and XLSX: a header and a
// line per movement, a blank row, then the totals under their own header.
func (st Statement) Rows() [][]Cell {
	text := func(vs ...string) []Cell {
		out := make([]Cell, len(vs))
		for i, v := range vs {
			out[i] = Cell{Text: safeText(v)}
		}
		return out
	}
	amount := func(minor int64, currency string) Cell {
		digits := 2
		if c, ok := core.LookupCurrency(currency); ok {
			digits = c.Exponent
		}
		return Cell{Text: core.FormatDecimal(minor, currency), Amount: true, Digits: digits}
	}
	zone := st.Period.Zone.String()
	rows := [][]Cell{text("date", "time ("+zone+")", "kind", "order_id", "customer", "provider", "provider_ref", "amount", "currency")}
	for _, m := range st.Lines {
		at := m.At.In(st.Period.Zone)
		r := text(at.Format(time.DateOnly), at.Format(time.TimeOnly), string(m.Kind), m.OrderID, m.Customer, m.Provider, m.ProviderRef)
		rows = append(rows, append(r, amount(m.AmountMinor, m.Currency), Cell{Text: m.Currency}))
	}
	rows = append(rows, nil, text("totals per provider and day"),
		text("date", "provider", "currency", "payments", "refunds", "net", "movements"))
	for _, t := range st.Totals {
		r := text(t.Day, t.Provider, t.Currency)
		rows = append(rows, append(r, amount(t.PaymentsMinor, t.Currency), amount(t.RefundsMinor, t.Currency),
			amount(t.Net(), t.Currency), Cell{Text: fmt.Sprint(t.Movements), Amount: true}))
	}
	return rows
}

// safeText keeps a spreadsheet from reading a text cell (a customer's name)
// as a formula: one that starts with = + - @ or a control character gets
// a leading apostrophe, as OWASP's CSV-injection advice says.
func safeText(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}

// WriteCSV writes the statement's rows as CSV (RFC 4180, CRLF line ends, as
// spreadsheets expect).
func (st Statement) WriteCSV(w io.Writer) error {
	cw := csv.NewWriter(w)
	cw.UseCRLF = true
	for _, r := range st.Rows() {
		rec := make([]string, len(r))
		for i, c := range r {
			rec[i] = c.Text
		}
		if err := cw.Write(rec); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

// FileName is the download's name: paysync-FROM-TO.csv.
func (st Statement) FileName(format string) string {
	return "paysync-" + st.Period.From + "-" + st.Period.To + "." + format
}
