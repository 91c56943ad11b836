package all

import (
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/paysync/paysync/connectors/sheets"
	"github.com/paysync/paysync/core"
	"github.com/paysync/paysync/mapping"
	"github.com/paysync/paysync/sandbox"
	sheetsdouble "github.com/paysync/paysync/sandbox/sheets"
)

func init() {
	sandbox.Register(sandbox.Spec{Name: sheets.Name, Title: "Google Sheets", New: newSheetsDouble})
}

// double is the sandbox spreadsheet as `paysync sandbox` serves it, with
// the service-account key file written where paysync can read it.
type sheetsDouble struct {
	*sheetsdouble.Spreadsheet
	base    string
	keyFile string
	tempDir string

	mu sync.Mutex
	// stages is, by order id, every Status label its row held after an
	// API write, oldest first.
	stages map[string][]string
}

func newSheetsDouble(o sandbox.DoubleOptions) sandbox.Double {
	d := &sheetsDouble{base: o.PublicURL, stages: map[string][]string{}}
	d.Spreadsheet = sheetsdouble.New(sheetsdouble.Options{PublicURL: o.PublicURL, AfterWrite: d.noteStages})
	dir := o.Dir
	if dir == "" {
		if tmp, err := os.MkdirTemp("", "paysync-sheets-"); err == nil {
			dir, d.tempDir = tmp, tmp
		}
	}
	if dir != "" {
		if p, err := d.WriteKeyFile(dir, o.PublicURL); err == nil {
			d.keyFile = p
		}
	}
	return d
}

// Env points paysync at the double; without a key file (the folder could
// not be written) the connector stays off.
func (d *sheetsDouble) Env() map[string]string {
	if d.keyFile == "" {
		return map[string]string{}
	}
	return map[string]string{
		"PAYSYNC_SHEETS_SPREADSHEET_ID":   d.ID(),
		"PAYSYNC_SHEETS_CREDENTIALS_FILE": d.keyFile,
		"PAYSYNC_SHEETS_ENDPOINT":         strings.TrimRight(d.base, "/") + "/",
	}
}

func (d *sheetsDouble) Describe(orderID string) string {
	rows := d.RowsWhere(sheets.DefaultSheet, sheets.DefaultKeyColumn, mapping.CellSafe(orderID))
	switch len(rows) {
	case 0:
		return ""
	case 1:
		return fmt.Sprintf("row %d: %s", rows[0], d.Value(sheets.DefaultSheet, rows[0], "Status"))
	}
	return fmt.Sprintf("%d rows (a duplicate!)", len(rows))
}

func (d *sheetsDouble) Close() {
	d.Spreadsheet.Close()
	if d.tempDir != "" {
		_ = os.RemoveAll(d.tempDir)
	}
}

// sheetsStatusColumn is the header of the column the shipped mapping writes each
// order's status label to (its stage field).
const sheetsStatusColumn = "Status"

// noteStages reads every order's Status label after an API write. The
// double's lock is held meanwhile, so the labels are noted in the order
// the writes happened.
func (d *sheetsDouble) noteStages() {
	d.mu.Lock()
	defer d.mu.Unlock()
	rows := d.Rows(sheets.DefaultSheet)
	if len(rows) == 0 {
		return
	}
	key, status := slices.Index(rows[0], sheets.DefaultKeyColumn), slices.Index(rows[0], sheetsStatusColumn)
	if key < 0 || status < 0 {
		return
	}
	for _, row := range rows[1:] {
		id, label := rowCell(row, key), rowCell(row, status)
		if id == "" {
			continue
		}
		if h := d.stages[id]; len(h) == 0 || h[len(h)-1] != label {
			d.stages[id] = append(h, label)
		}
	}
}

// sheetsStatuses maps each Status label of the shipped mapping to its
// payment status.
var sheetsStatuses = sync.OnceValue(func() map[string]core.Status {
	ms, err := mapping.LoadDir("", []string{sheets.Name})
	if err != nil {
		return nil
	}
	return sandbox.StatusValues(ms[sheets.Name], func(p mapping.Payload) string { return p.Stage })
})

// Records lists the rows that carry an order id, top to bottom.
func (d *sheetsDouble) Records() []sandbox.Record {
	statuses := sheetsStatuses()
	d.mu.Lock()
	defer d.mu.Unlock()
	rows := d.Rows(sheets.DefaultSheet)
	if len(rows) == 0 {
		return nil
	}
	key, status := slices.Index(rows[0], sheets.DefaultKeyColumn), slices.Index(rows[0], sheetsStatusColumn)
	if key < 0 {
		return nil
	}
	var out []sandbox.Record
	for i, row := range rows[1:] {
		id := rowCell(row, key)
		if id == "" {
			continue
		}
		label := rowCell(row, status)
		out = append(out, sandbox.Record{OrderID: id, ID: strconv.Itoa(i + 2), Stage: label, Status: statuses[label],
			Stages: append([]string(nil), d.stages[id]...)})
	}
	return out
}

func rowCell(row []string, i int) string {
	if i < 0 || i >= len(row) {
		return ""
	}
	return row[i]
}
