package sheets

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/paysync/paysync/sandbox/chaos"
)

// LoseMode says how the answer to a write that happened is lost.
type LoseMode = chaos.Loss

const (
	// Lose503 answers 503 UNAVAILABLE although the write happened.
	Lose503 = chaos.LostError
	// LoseConnection closes the connection without an answer.
	LoseConnection = chaos.LostClose
	// LoseHang never answers; the client times out.
	LoseHang = chaos.LostHang
)

func (s *Spreadsheet) loseAnswer(w http.ResponseWriter, r *http.Request, mode LoseMode) {
	chaos.Lose(w, r, mode, s.closed, func(w http.ResponseWriter) { failure(http.StatusServiceUnavailable).write(w) })
}

// SetChaos turns random faults on (a profile) or off (nil): every admitted
// API request may answer 500, hang, or get 429 RESOURCE_EXHAUSTED in a
// burst, and a write that happened may lose its answer.
func (s *Spreadsheet) SetChaos(profile *chaos.Profile) { s.chaos.Set(profile) }

// ChaosStats counts the faults the chaos profile injected.
func (s *Spreadsheet) ChaosStats() chaos.Stats { return s.chaos.Stats() }

// FailNext makes the next n admitted API requests answer status (500, 503,
// …) without doing anything.
func (s *Spreadsheet) FailNext(n, status int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for range n {
		s.failNext = append(s.failNext, status)
	}
}

type lose struct {
	op   string // "" for any write
	mode LoseMode
}

// LoseNextWrite makes the next n write requests (append, update,
// batchUpdate, addSheet) happen and then lose their answer.
func (s *Spreadsheet) LoseNextWrite(n int, mode LoseMode) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for range n {
		s.loseNext = append(s.loseNext, lose{mode: mode})
	}
}

// LoseNextAppend makes the next n appends happen and then lose their
// answer; other writes before them answer as usual.
func (s *Spreadsheet) LoseNextAppend(n int, mode LoseMode) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for range n {
		s.loseNext = append(s.loseNext, lose{op: "values.append", mode: mode})
	}
}

// HangNext makes the next n admitted requests hang without doing anything
// until the client gives up or the double is closed.
func (s *Spreadsheet) HangNext(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.hangNext += n
}

// BeforeNextWrite runs fn just before the next write request is carried
// out, as a person editing the sheet between a program's read and its
// write would. fn may call the double's methods.
func (s *Spreadsheet) BeforeNextWrite(fn func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.beforeWrite = append(s.beforeWrite, fn)
}

// RefuseCells makes every write carrying a cell that contains text answer
// 400 INVALID_ARGUMENT, naming no item of the batch, as any value Google
// will not take does; "" stops it. A test gives one order of a delivery
// such a value to see the others land.
func (s *Spreadsheet) RefuseCells(text string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.refuse = text
}

// ExhaustWriteQuota spends the minute's write quota at the current time, as
// another program using the same service account would.
func (s *Spreadsheet) ExhaustWriteQuota() {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	s.writes = s.writes[:0]
	for range max(s.writeLimit, 1) {
		s.writes = append(s.writes, now)
	}
}

// SetQuota changes the per-minute quota; negative disables one.
func (s *Spreadsheet) SetQuota(writesPerMinute, readsPerMinute int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.writeLimit, s.readLimit = writesPerMinute, readsPerMinute
}

// Share sets how the spreadsheet is shared with the service account.
func (s *Spreadsheet) Share(role Role) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.role = role
}

// Reset forgets every tab but the starting ones, the tokens, faults and counters.
func (s *Spreadsheet) Reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.reset()
}

// Stats returns the counters.
func (s *Spreadsheet) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stats
}

// Version counts the API writes the spreadsheet has taken, so that a test
// can wait for the next one cheaply.
func (s *Spreadsheet) Version() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.version
}

// withTab runs fn on a tab under the lock.
func (s *Spreadsheet) withTab(title string, fn func(t *tab) error) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.tabNamed(title)
	if t == nil {
		return fmt.Errorf("no tab %q", title)
	}
	return fn(t)
}

// Tabs lists the tabs' titles in order.
func (s *Spreadsheet) Tabs() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, t := range s.tabs {
		out = append(out, t.title)
	}
	return out
}

// SheetID is a tab's sheetId (the gid in its URL), -1 when there is no such tab.
func (s *Spreadsheet) SheetID(title string) int {
	id := -1
	_ = s.withTab(title, func(t *tab) error { id = t.id; return nil })
	return id
}

// Frozen is the number of frozen rows of a tab.
func (s *Spreadsheet) Frozen(title string) int {
	n := 0
	_ = s.withTab(title, func(t *tab) error { n = t.frozen; return nil })
	return n
}

// Rows returns a tab's values as Google formats them, up to its last
// non-empty row; each row runs to its last non-empty cell.
func (s *Spreadsheet) Rows(title string) [][]string {
	var out [][]string
	_ = s.withTab(title, func(t *tab) error {
		for r := 1; r <= t.lastRow(); r++ {
			row := t.rows[r-1]
			line := make([]string, 0, len(row))
			last := -1
			for c, v := range row {
				line = append(line, rendered(v, "").(string))
				if v != nil {
					last = c
				}
			}
			out = append(out, line[:last+1])
		}
		return nil
	})
	return out
}

// Cell returns what a cell holds: nil, a string, a float64, a bool, or,
// for a formula, its text with IsFormula true.
func (s *Spreadsheet) Cell(title, ref string) (v any, isFormula bool, err error) {
	r, c, ok := parseCell(ref)
	if !ok || r == 0 || c == 0 {
		return nil, false, fmt.Errorf("bad cell %q", ref)
	}
	err = s.withTab(title, func(t *tab) error {
		v = t.get(r, c)
		if f, ok := v.(formula); ok {
			v, isFormula = string(f), true
		}
		return nil
	})
	return v, isFormula, err
}

// Header is row 1 of a tab.
func (s *Spreadsheet) Header(title string) []string {
	rows := s.Rows(title)
	if len(rows) == 0 {
		return nil
	}
	return rows[0]
}

// Column is the 1-based column whose header (row 1) is name, 0 for none.
func (s *Spreadsheet) Column(title, name string) int {
	return slices.Index(s.Header(title), name) + 1
}

// RowsWhere lists the rows (1-based, header excluded) whose cell under
// header equals value.
func (s *Spreadsheet) RowsWhere(title, header, value string) []int {
	rows := s.Rows(title)
	c := s.Column(title, header)
	var out []int
	for i := 1; c > 0 && i < len(rows); i++ {
		if c <= len(rows[i]) && rows[i][c-1] == value {
			out = append(out, i+1)
		}
	}
	return out
}

// Value is the cell under header in a 1-based row, formatted.
func (s *Spreadsheet) Value(title string, row int, header string) string {
	rows := s.Rows(title)
	c := s.Column(title, header)
	if c == 0 || row < 1 || row > len(rows) || c > len(rows[row-1]) {
		return ""
	}
	return rows[row-1][c-1]
}

// What a person does in the browser.

// SetCell types a value into a cell, as USER_ENTERED input would parse it.
func (s *Spreadsheet) SetCell(title, ref, text string) error {
	r, c, ok := parseCell(ref)
	if !ok || r == 0 || c == 0 {
		return fmt.Errorf("bad cell %q", ref)
	}
	return s.withTab(title, func(t *tab) error {
		v, _, _ := cellInput(text, true, ref)
		t.set(r, c, v)
		return nil
	})
}

// SortRows sorts the rows below the frozen header (Data > Sort range, "data
// has header row") by the column whose header is by, as text.
func (s *Spreadsheet) SortRows(title, by string, descending bool) error {
	c := s.Column(title, by)
	if c == 0 {
		return fmt.Errorf("no column %q", by)
	}
	return s.withTab(title, func(t *tab) error {
		last := t.lastRow()
		if last < 3 {
			return nil
		}
		data := t.rows[1:last]
		sort.SliceStable(data, func(i, j int) bool {
			a, b := rendered(cellAt(data[i], c), "").(string), rendered(cellAt(data[j], c), "").(string)
			if descending {
				return a > b
			}
			return a < b
		})
		return nil
	})
}

func cellAt(row []any, c int) any {
	if c > len(row) {
		return nil
	}
	return row[c-1]
}

// InsertRows inserts n empty rows above row at (right-click > Insert rows above).
func (s *Spreadsheet) InsertRows(title string, at, n int) error {
	return s.withTab(title, func(t *tab) error {
		if at < 1 {
			return fmt.Errorf("row %d", at)
		}
		for len(t.rows) < at-1 {
			t.rows = append(t.rows, nil)
		}
		t.insertRows(at, n)
		return nil
	})
}

// DeleteRows deletes n rows from row at on.
func (s *Spreadsheet) DeleteRows(title string, at, n int) error {
	return s.withTab(title, func(t *tab) error {
		if at < 1 || at > len(t.rows) {
			return nil
		}
		end := min(at-1+n, len(t.rows))
		t.rows = append(t.rows[:at-1], t.rows[end:]...)
		t.rowCount -= end - (at - 1)
		return nil
	})
}

// MoveColumn drags column from (1-based) so that it becomes column to.
func (s *Spreadsheet) MoveColumn(title string, from, to int) error {
	return s.withTab(title, func(t *tab) error {
		if from < 1 || to < 1 || from > t.colCount || to > t.colCount {
			return fmt.Errorf("columns %d -> %d outside the grid", from, to)
		}
		width := t.colCount
		for i, row := range t.rows {
			for len(row) < width {
				row = append(row, nil)
			}
			v := row[from-1]
			row = slices.Delete(row, from-1, from)
			row = slices.Insert(row, to-1, v)
			t.rows[i] = row
		}
		return nil
	})
}

// InsertColumn inserts a column at position at (1-based) with a header and
// values for the rows below it, as a shop adding its own column would.
func (s *Spreadsheet) InsertColumn(title string, at int, header string, values ...string) error {
	return s.withTab(title, func(t *tab) error {
		if at < 1 || at > t.colCount+1 {
			return fmt.Errorf("column %d outside the grid", at)
		}
		for i, row := range t.rows {
			for len(row) < at-1 {
				row = append(row, nil)
			}
			var v any
			switch {
			case i == 0:
				v = header
			case i-1 < len(values) && values[i-1] != "":
				v = values[i-1]
			}
			t.rows[i] = slices.Insert(row, at-1, v)
		}
		if len(t.rows) == 0 {
			t.set(1, at, header)
		}
		t.colCount++
		return nil
	})
}

// Rebuild replaces a tab's values with rows (header first), as a shop that
// rebuilt its sheet from an export would: row numbers now hold other rows.
// A missing tab is created.
func (s *Spreadsheet) Rebuild(title string, rows [][]string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.tabNamed(title)
	if t == nil {
		t = s.addTab(title, 1)
	}
	t.rows = nil
	for r, row := range rows {
		for c, v := range row {
			if v != "" {
				t.set(r+1, c+1, v)
			}
		}
	}
}

// DeleteTab deletes a tab.
func (s *Spreadsheet) DeleteTab(title string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tabs = slices.DeleteFunc(s.tabs, func(t *tab) bool { return strings.EqualFold(t.title, title) })
}

// ManualClock is a clock that moves only when told, for tests.
type ManualClock struct {
	mu sync.Mutex
	t  time.Time
}

func NewManualClock(t time.Time) *ManualClock { return &ManualClock{t: t} }

func (c *ManualClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *ManualClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// serveAdmin exposes inspection, faults and a person's edits under
// /_sandbox/, for the demo and manual poking. The sandbox is local; it has
// no auth.
func (s *Spreadsheet) serveAdmin(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Sheet      string `json:"sheet"`
		Count      int    `json:"count"`
		Status     int    `json:"status"`
		Mode       string `json:"mode"`
		Op         string `json:"op"`
		Column     string `json:"column"`
		Descending bool   `json:"descending"`
		Row        int    `json:"row"`
		From       int    `json:"from"`
		To         int    `json:"to"`
		Role       string `json:"role"`
		Cell       string `json:"cell"`
		Value      string `json:"value"`
	}
	if r.Method == http.MethodPost && r.Body != nil {
		if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20)).Decode(&in); err != nil && err.Error() != "EOF" {
			http.Error(w, "bad JSON: "+err.Error(), http.StatusBadRequest)
			return
		}
	}
	if in.Sheet == "" {
		in.Sheet = r.URL.Query().Get("sheet")
	}
	if in.Sheet == "" {
		in.Sheet = s.Tabs()[0]
	}
	reply := func(err error) {
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		writeJSON(w, http.StatusOK, map[string]bool{"ok": true})
	}
	switch route := r.Method + " " + strings.TrimPrefix(r.URL.Path, "/_sandbox"); route {
	case "GET /rows":
		writeJSON(w, http.StatusOK, map[string]any{"sheet": in.Sheet, "rows": s.Rows(in.Sheet)})
	case "GET /stats":
		writeJSON(w, http.StatusOK, s.Stats())
	case "POST /reset":
		s.Reset()
		reply(nil)
	case "POST /fail":
		s.FailNext(max(in.Count, 1), cmp(in.Status, http.StatusInternalServerError))
		reply(nil)
	case "POST /lose":
		mode := map[string]LoseMode{"": Lose503, "503": Lose503, "close": LoseConnection, "hang": LoseHang}[in.Mode]
		if mode == 0 {
			http.Error(w, "mode is one of 503, close, hang", http.StatusBadRequest)
			return
		}
		if in.Op == "append" {
			s.LoseNextAppend(max(in.Count, 1), mode)
		} else {
			s.LoseNextWrite(max(in.Count, 1), mode)
		}
		reply(nil)
	case "POST /exhaust-quota":
		s.ExhaustWriteQuota()
		reply(nil)
	case "POST /share":
		s.Share(Role(in.Role))
		reply(nil)
	case "POST /revoke-key":
		s.RevokeKey()
		reply(nil)
	case "POST /sort":
		reply(s.SortRows(in.Sheet, in.Column, in.Descending))
	case "POST /insert-rows":
		reply(s.InsertRows(in.Sheet, in.Row, max(in.Count, 1)))
	case "POST /move-column":
		reply(s.MoveColumn(in.Sheet, in.From, in.To))
	case "POST /cell":
		reply(s.SetCell(in.Sheet, in.Cell, in.Value))
	case "GET /":
		writeJSON(w, http.StatusOK, map[string][]string{"routes": {"GET /rows?sheet=", "GET /stats", "POST /reset", "POST /fail",
			"POST /lose", "POST /exhaust-quota", "POST /share", "POST /revoke-key", "POST /sort", "POST /insert-rows",
			"POST /move-column", "POST /cell"}})
	default:
		http.Error(w, "unknown sandbox route "+route, http.StatusNotFound)
	}
}

func cmp(v, def int) int {
	if v == 0 {
		return def
	}
	return v
}
