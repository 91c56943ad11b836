package sheets

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"unicode/utf16"
)

// formula is a cell a USER_ENTERED value starting with "=" became. The
// double does not evaluate formulas; it shows them as #NAME?.
type formula string

// tab is one sheet of the spreadsheet. rows[i] is row i+1; a nil cell is
// empty; values are string, float64, bool or formula.
type tab struct {
	id                 int
	title              string
	rows               [][]any
	rowCount, colCount int
	frozen             int
}

func (t *tab) get(r, c int) any {
	if r < 1 || r > len(t.rows) || c < 1 || c > len(t.rows[r-1]) {
		return nil
	}
	return t.rows[r-1][c-1]
}

// set stores v, growing the grid as a write beyond it does.
func (t *tab) set(r, c int, v any) {
	for len(t.rows) < r {
		t.rows = append(t.rows, nil)
	}
	row := t.rows[r-1]
	for len(row) < c {
		row = append(row, nil)
	}
	row[c-1] = v
	t.rows[r-1] = row
	t.rowCount, t.colCount = max(t.rowCount, r), max(t.colCount, c)
}

// insertRows inserts n empty rows so that the first of them is row at.
func (t *tab) insertRows(at, n int) {
	if at <= len(t.rows) {
		tail := append([][]any(nil), t.rows[at-1:]...)
		t.rows = append(append(t.rows[:at-1], make([][]any, n)...), tail...)
	}
	t.rowCount += n
}

// lastRow is the last row with a value, 0 for an empty tab.
func (t *tab) lastRow() int {
	for r := len(t.rows); r > 0; r-- {
		if !t.rowEmpty(r, 1, len(t.rows[r-1])) {
			return r
		}
	}
	return 0
}

func (t *tab) rowEmpty(r, c1, c2 int) bool {
	for c := c1; c <= c2; c++ {
		if t.get(r, c) != nil {
			return false
		}
	}
	return true
}

// tabNamed finds a tab by title, as Google does, ignoring case. Caller holds mu.
func (s *Spreadsheet) tabNamed(title string) *tab {
	for _, t := range s.tabs {
		if strings.EqualFold(t.title, title) {
			return t
		}
	}
	return nil
}

// area is a resolved range: a tab and closed bounds.
type area struct {
	t              *tab
	r1, c1, r2, c2 int
	openRows       bool // the range set no last row ("A:A", "A5:B")
	openCols       bool
}

func (a area) String() string { return a1(a.t.title, a.r1, a.c1, a.r2, a.c2) }

// resolve parses rng and bounds it by the tab's grid. A read beyond the
// grid is an error; a write grows the grid instead.
func (s *Spreadsheet) resolve(rng string, write bool) (area, *apiError) {
	g, err := parseA1(rng)
	if err != nil {
		return area{}, invalid("Unable to parse range: " + rng)
	}
	var t *tab
	switch {
	case !g.hasSheet && len(s.tabs) > 0:
		t = s.tabs[0]
	case g.hasSheet:
		t = s.tabNamed(g.sheet)
	}
	if t == nil {
		return area{}, invalid("Unable to parse range: " + rng)
	}
	a := area{t: t, r1: max(g.r1, 1), c1: max(g.c1, 1), r2: g.r2, c2: g.c2, openRows: g.r2 == 0, openCols: g.c2 == 0}
	if a.openRows {
		a.r2 = max(t.rowCount, a.r1)
	}
	if a.openCols {
		a.c2 = max(t.colCount, a.c1)
	}
	if !write && (a.r2 > t.rowCount || a.c2 > t.colCount) {
		return area{}, invalid("Range (" + a.String() + ") exceeds grid limits. Max rows: " + itoa(t.rowCount) + ", max columns: " + itoa(t.colCount))
	}
	return a, nil
}

// valueRange is the API's ValueRange.
type valueRange struct {
	Range          string  `json:"range,omitempty"`
	MajorDimension string  `json:"majorDimension,omitempty"`
	Values         [][]any `json:"values,omitempty"`
}

type updateResponse struct {
	SpreadsheetID  string `json:"spreadsheetId"`
	UpdatedRange   string `json:"updatedRange"`
	UpdatedRows    int    `json:"updatedRows"`
	UpdatedColumns int    `json:"updatedColumns"`
	UpdatedCells   int    `json:"updatedCells"`
}

// run carries out one authorised, admitted request. Caller holds mu.
func (s *Spreadsheet) run(rt route, r *http.Request, body []byte) (any, *apiError) {
	q := r.URL.Query()
	switch rt.op {
	case "get":
		return s.metadata(), nil
	case "batchUpdate":
		return s.batchUpdateSpreadsheet(body)
	case "values.get":
		a, e := s.resolve(rt.rng, false)
		if e != nil {
			return nil, e
		}
		return s.read(a, q), nil
	case "values.batchGet":
		ranges := q["ranges"]
		out := make([]valueRange, 0, len(ranges))
		for _, rng := range ranges {
			a, e := s.resolve(rng, false)
			if e != nil {
				return nil, e
			}
			out = append(out, s.read(a, q))
		}
		return map[string]any{"spreadsheetId": s.id, "valueRanges": out}, nil
	case "values.update":
		s.stats.Updates++
		input, e := inputOption(q.Get("valueInputOption"))
		if e != nil {
			return nil, e
		}
		var vr valueRange
		if e := decode(body, &vr); e != nil {
			return nil, e
		}
		w, e := s.prepareWrite(rt.rng, vr, input)
		if e != nil {
			return nil, e
		}
		return w.apply(s.id), nil
	case "values.batchUpdate":
		s.stats.BatchUpdates++
		var req struct {
			ValueInputOption string       `json:"valueInputOption"`
			Data             []valueRange `json:"data"`
		}
		if e := decode(body, &req); e != nil {
			return nil, e
		}
		input, e := inputOption(req.ValueInputOption)
		if e != nil {
			return nil, e
		}
		// All or nothing: every range is checked before any is written. A
		// bad range is named by its place in data, as Google's batch guide
		// shows ("Invalid data[0]: Unable to parse range: …").
		ws := make([]*pendingWrite, len(req.Data))
		for i, vr := range req.Data {
			if ws[i], e = s.prepareWrite(vr.Range, vr, input); e != nil {
				if strings.HasPrefix(e.message, "Unable to parse range") {
					e = invalid("Invalid data[" + itoa(i) + "]: " + e.message)
				}
				return nil, e
			}
		}
		out := map[string]any{"spreadsheetId": s.id}
		var resps []updateResponse
		rows, cols, cells := 0, 0, 0
		sheets := map[*tab]bool{}
		for _, w := range ws {
			u := w.apply(s.id)
			resps = append(resps, u)
			rows, cols, cells = rows+u.UpdatedRows, cols+u.UpdatedColumns, cells+u.UpdatedCells
			sheets[w.a.t] = true
		}
		out["totalUpdatedRows"], out["totalUpdatedColumns"], out["totalUpdatedCells"] = rows, cols, cells
		out["totalUpdatedSheets"], out["responses"] = len(sheets), resps
		return out, nil
	case "values.append":
		s.stats.Appends++
		return s.appendValues(rt.rng, q, body)
	}
	return nil, &apiError{code: http.StatusNotFound, status: "NOT_FOUND", message: "Method not found."}
}

// read renders an area as a ValueRange: trailing empty cells and rows are
// left out, as Google does.
func (s *Spreadsheet) read(a area, q url.Values) valueRange {
	render := q.Get("valueRenderOption")
	cols := q.Get("majorDimension") == "COLUMNS"
	vr := valueRange{Range: a.String(), MajorDimension: "ROWS"}
	outer, inner := [2]int{a.r1, a.r2}, [2]int{a.c1, a.c2}
	cell := func(i, j int) any { return a.t.get(i, j) }
	if cols {
		vr.MajorDimension = "COLUMNS"
		outer, inner = inner, outer
		cell = func(i, j int) any { return a.t.get(j, i) }
	}
	var out [][]any
	for i := outer[0]; i <= outer[1] && (cols || i <= len(a.t.rows)); i++ {
		var line []any
		last := -1
		for j := inner[0]; j <= inner[1]; j++ {
			v := cell(i, j)
			line = append(line, rendered(v, render))
			if v != nil {
				last = len(line) - 1
			}
			if !cols && j >= len(a.t.rows[i-1]) {
				break
			}
			if cols && j >= len(a.t.rows) {
				break
			}
		}
		out = append(out, line[:last+1])
	}
	for len(out) > 0 && len(out[len(out)-1]) == 0 {
		out = out[:len(out)-1]
	}
	for i := range out {
		if out[i] == nil {
			out[i] = []any{}
		}
	}
	vr.Values = out
	return vr
}

func rendered(v any, option string) any {
	switch x := v.(type) {
	case nil:
		return ""
	case formula:
		if option == "FORMULA" {
			return string(x)
		}
		return "#NAME?"
	case float64:
		if option == "UNFORMATTED_VALUE" || option == "FORMULA" {
			return x
		}
		return strconv.FormatFloat(x, 'f', -1, 64)
	case bool:
		if option == "UNFORMATTED_VALUE" || option == "FORMULA" {
			return x
		}
		if x {
			return "TRUE"
		}
		return "FALSE"
	}
	return v
}

func inputOption(v string) (bool, *apiError) {
	switch v {
	case "RAW":
		return false, nil
	case "USER_ENTERED":
		return true, nil
	case "":
		return false, invalid("'valueInputOption' is required but not specified")
	}
	return false, invalid("Invalid value at 'value_input_option' (type.googleapis.com/google.apps.sheets.v4.ValueInputOption), \"" + v + "\"")
}

func decode(body []byte, v any) *apiError {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if err := dec.Decode(v); err != nil {
		return invalid("Invalid JSON payload received. " + err.Error())
	}
	return nil
}

// cellInput converts one input value. A null leaves the cell as it is; an
// empty string clears it.
func cellInput(v any, userEntered bool, where string) (val any, skip bool, e *apiError) {
	switch x := v.(type) {
	case nil:
		return nil, true, nil
	case json.Number:
		f, err := x.Float64()
		if err != nil {
			return nil, false, invalid("Invalid " + where + ": " + x.String())
		}
		return f, false, nil
	case bool:
		return x, false, nil
	case string:
		if x == "" {
			return nil, false, nil
		}
		if len(utf16.Encode([]rune(x))) > MaxCellChars {
			// The whole request fails, whichever cell it was.
			return nil, false, invalid("Your input contains more than the maximum of 50000 characters in a single cell.")
		}
		if !userEntered {
			return x, false, nil
		}
		switch {
		case strings.HasPrefix(x, "'"):
			return x[1:], false, nil
		case strings.HasPrefix(x, "="):
			return formula(x), false, nil
		case strings.EqualFold(x, "TRUE"), strings.EqualFold(x, "FALSE"):
			return strings.EqualFold(x, "TRUE"), false, nil
		}
		if f, err := strconv.ParseFloat(strings.TrimSpace(x), 64); err == nil {
			return f, false, nil
		}
		return x, false, nil
	}
	return nil, false, invalid("Invalid " + where + ": struct_value or list_value is not a cell value")
}

// pendingWrite is a checked write, applied later (batchUpdate is all or
// nothing).
type pendingWrite struct {
	a     area
	cells [][]any // converted; skip marks a null
}

var skipCell = struct{}{}

func (s *Spreadsheet) prepareWrite(rng string, vr valueRange, userEntered bool) (*pendingWrite, *apiError) {
	if rng == "" {
		return nil, invalid("Invalid data[].range: a range is required")
	}
	a, e := s.resolve(rng, true)
	if e != nil {
		return nil, e
	}
	values := vr.Values
	if vr.MajorDimension == "COLUMNS" {
		values = transpose(values)
	}
	w := &pendingWrite{a: a}
	for i, row := range values {
		r := a.r1 + i
		if !a.openRows && r > a.r2 {
			return nil, invalid("Requested writing within range [" + rng + "], but tried writing to row [" + itoa(r) + "]")
		}
		line := make([]any, len(row))
		for j, v := range row {
			c := a.c1 + j
			if !a.openCols && c > a.c2 {
				return nil, invalid("Requested writing within range [" + rng + "], but tried writing to column [" + colName(c) + "]")
			}
			if e := s.refused(v, i, j); e != nil {
				return nil, e
			}
			val, skip, e := cellInput(v, userEntered, "values["+itoa(i)+"]["+itoa(j)+"]")
			if e != nil {
				return nil, e
			}
			if skip {
				line[j] = skipCell
			} else {
				line[j] = val
			}
		}
		w.cells = append(w.cells, line)
	}
	return w, nil
}

func (w *pendingWrite) apply(id string) updateResponse {
	rows, cols, cells := 0, 0, 0
	for i, line := range w.cells {
		for j, v := range line {
			if v == skipCell {
				continue
			}
			w.a.t.set(w.a.r1+i, w.a.c1+j, v)
			cells++
		}
		rows++
		cols = max(cols, len(line))
	}
	u := updateResponse{SpreadsheetID: id, UpdatedRows: rows, UpdatedColumns: cols, UpdatedCells: cells}
	u.UpdatedRange = a1(w.a.t.title, w.a.r1, w.a.c1, w.a.r1+max(rows, 1)-1, w.a.c1+max(cols, 1)-1)
	return u
}

func transpose(v [][]any) [][]any {
	var out [][]any
	for j, col := range v {
		for i, x := range col {
			for len(out) <= i {
				out = append(out, nil)
			}
			for len(out[i]) < j {
				out[i] = append(out[i], nil)
			}
			out[i] = append(out[i], x)
		}
	}
	return out
}

// appendValues finds the table in the range (the first non-empty row at or
// below the range's first row and the rows below it up to the first empty
// one, within the range's columns) and writes after it, starting at the
// table's first column. INSERT_ROWS inserts new rows there; OVERWRITE (the
// default) writes over whatever is below the table.
func (s *Spreadsheet) appendValues(rng string, q url.Values, body []byte) (any, *apiError) {
	userEntered, e := inputOption(q.Get("valueInputOption"))
	if e != nil {
		return nil, e
	}
	insert := false
	switch q.Get("insertDataOption") {
	case "", "OVERWRITE":
	case "INSERT_ROWS":
		insert = true
	default:
		return nil, invalid("Invalid value at 'insert_data_option', \"" + q.Get("insertDataOption") + "\"")
	}
	var vr valueRange
	if e := decode(body, &vr); e != nil {
		return nil, e
	}
	a, e := s.resolve(rng, true)
	if e != nil {
		return nil, e
	}
	t := a.t
	last := t.lastRow()
	start, end := 0, 0
	for r := a.r1; r <= last; r++ {
		if !t.rowEmpty(r, a.c1, a.c2) {
			start = r
			break
		}
	}
	out := map[string]any{"spreadsheetId": s.id}
	at, firstCol := a.r1, a.c1
	if start > 0 {
		end = start
		for end+1 <= last && !t.rowEmpty(end+1, a.c1, a.c2) {
			end++
		}
		firstCol = a.c2
		lastCol := a.c1
		for r := start; r <= end; r++ {
			for c := a.c1; c <= a.c2; c++ {
				if t.get(r, c) != nil {
					firstCol, lastCol = min(firstCol, c), max(lastCol, c)
				}
			}
		}
		out["tableRange"] = a1(t.title, start, firstCol, end, lastCol)
		at = end + 1
	}
	values := vr.Values
	if vr.MajorDimension == "COLUMNS" {
		values = transpose(values)
	}
	w := &pendingWrite{a: area{t: t, r1: at, c1: firstCol, r2: at + len(values) - 1, c2: firstCol, openCols: true}}
	for i, row := range values {
		line := make([]any, len(row))
		for j, v := range row {
			if e := s.refused(v, i, j); e != nil {
				return nil, e
			}
			val, skip, e := cellInput(v, userEntered, "values["+itoa(i)+"]["+itoa(j)+"]")
			if e != nil {
				return nil, e
			}
			if skip {
				line[j] = skipCell
			} else {
				line[j] = val
			}
		}
		w.cells = append(w.cells, line)
	}
	if insert && len(values) > 0 {
		t.insertRows(at, len(values))
	}
	out["updates"] = w.apply(s.id)
	return out, nil
}

type sheetProps struct {
	SheetID        int    `json:"sheetId"`
	Title          string `json:"title"`
	Index          int    `json:"index"`
	SheetType      string `json:"sheetType"`
	GridProperties struct {
		RowCount       int `json:"rowCount"`
		ColumnCount    int `json:"columnCount"`
		FrozenRowCount int `json:"frozenRowCount,omitempty"`
	} `json:"gridProperties"`
}

func (s *Spreadsheet) props(i int, t *tab) sheetProps {
	p := sheetProps{SheetID: t.id, Title: t.title, Index: i, SheetType: "GRID"}
	p.GridProperties.RowCount, p.GridProperties.ColumnCount, p.GridProperties.FrozenRowCount = t.rowCount, t.colCount, t.frozen
	return p
}

func (s *Spreadsheet) metadata() any {
	sheets := make([]any, len(s.tabs))
	for i, t := range s.tabs {
		sheets[i] = map[string]any{"properties": s.props(i, t)}
	}
	return map[string]any{
		"spreadsheetId":  s.id,
		"properties":     map[string]any{"title": s.title, "locale": "en_US", "timeZone": "Asia/Yerevan"},
		"sheets":         sheets,
		"spreadsheetUrl": "https://docs.google.com/spreadsheets/d/" + s.id + "/edit",
	}
}

// batchUpdateSpreadsheet runs spreadsheets.batchUpdate: addSheet,
// updateSpreadsheetProperties and updateSheetProperties, all or nothing.
func (s *Spreadsheet) batchUpdateSpreadsheet(body []byte) (any, *apiError) {
	var req struct {
		Requests []struct {
			AddSheet *struct {
				Properties sheetProps `json:"properties"`
			} `json:"addSheet"`
			UpdateSpreadsheetProperties *struct {
				Properties struct {
					Title string `json:"title"`
				} `json:"properties"`
				Fields string `json:"fields"`
			} `json:"updateSpreadsheetProperties"`
			UpdateSheetProperties *struct {
				Properties sheetProps `json:"properties"`
				Fields     string     `json:"fields"`
			} `json:"updateSheetProperties"`
		} `json:"requests"`
	}
	if e := decode(body, &req); e != nil {
		return nil, e
	}
	taken := map[string]bool{}
	for _, t := range s.tabs {
		taken[strings.ToLower(t.title)] = true
	}
	for i, r := range req.Requests {
		where := "Invalid requests[" + itoa(i) + "]"
		switch {
		case r.AddSheet != nil:
			title := r.AddSheet.Properties.Title
			if title == "" {
				title = "Sheet" + itoa(len(s.tabs)+1)
			}
			if taken[strings.ToLower(title)] {
				return nil, invalid(where + ".addSheet: A sheet with the name \"" + title + "\" already exists. Please enter another name.")
			}
			taken[strings.ToLower(title)] = true
		case r.UpdateSpreadsheetProperties != nil:
		case r.UpdateSheetProperties != nil:
			if s.tabByID(r.UpdateSheetProperties.Properties.SheetID) == nil {
				return nil, invalid(where + ".updateSheetProperties: No grid with id: " + itoa(r.UpdateSheetProperties.Properties.SheetID))
			}
		default:
			return nil, invalid(where + ": no request kind set (the double knows addSheet, updateSpreadsheetProperties, updateSheetProperties)")
		}
	}
	replies := make([]any, len(req.Requests))
	for i, r := range req.Requests {
		switch {
		case r.AddSheet != nil:
			p := r.AddSheet.Properties
			if p.Title == "" {
				p.Title = "Sheet" + itoa(len(s.tabs)+1)
			}
			t := s.addTab(p.Title, p.GridProperties.FrozenRowCount)
			if p.GridProperties.RowCount > 0 {
				t.rowCount = p.GridProperties.RowCount
			}
			if p.GridProperties.ColumnCount > 0 {
				t.colCount = p.GridProperties.ColumnCount
			}
			replies[i] = map[string]any{"addSheet": map[string]any{"properties": s.props(len(s.tabs)-1, t)}}
		case r.UpdateSpreadsheetProperties != nil:
			if strings.Contains(r.UpdateSpreadsheetProperties.Fields, "title") {
				s.title = r.UpdateSpreadsheetProperties.Properties.Title
			}
			replies[i] = map[string]any{}
		case r.UpdateSheetProperties != nil:
			p := r.UpdateSheetProperties.Properties
			t := s.tabByID(p.SheetID)
			f := r.UpdateSheetProperties.Fields
			if strings.Contains(f, "frozenRowCount") {
				t.frozen = p.GridProperties.FrozenRowCount
			}
			if strings.Contains(f, "title") && p.Title != "" {
				t.title = p.Title
			}
			replies[i] = map[string]any{}
		}
	}
	return map[string]any{"spreadsheetId": s.id, "replies": replies}, nil
}

func (s *Spreadsheet) tabByID(id int) *tab {
	for _, t := range s.tabs {
		if t.id == id {
			return t
		}
	}
	return nil
}

func readBody(r *http.Request) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r.Body, MaxRequestBytes+1))
	if err != nil {
		return nil, err
	}
	if len(b) > MaxRequestBytes {
		return nil, io.ErrShortBuffer
	}
	return b, nil
}

// pathUnescape decodes a percent-encoded range segment ("Orders%21A1%3AB2").
func pathUnescape(s string) (string, error) { return url.PathUnescape(s) }

func itoa(n int) string { return strconv.Itoa(n) }

// MaxCellChars is the most characters a cell takes; Google counts them, as
// JavaScript does, in UTF-16 units.
const MaxCellChars = 50_000

// refused is RefuseCells' fault for one input value. Caller holds mu.
func (s *Spreadsheet) refused(v any, i, j int) *apiError {
	if text, ok := v.(string); ok && s.refuse != "" && strings.Contains(text, s.refuse) {
		return invalid("Invalid values[" + itoa(i) + "][" + itoa(j) + "]: the sandbox refuses this value (RefuseCells)")
	}
	return nil
}
