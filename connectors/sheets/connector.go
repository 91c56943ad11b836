package sheets

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf16"

	"github.com/paysync/paysync/connectors"
	"github.com/paysync/paysync/core"
	"github.com/paysync/paysync/mapping"
)

// Renderer is what the connector needs of a mapping; *mapping.Mapping has it.
type Renderer interface {
	Render(mapping.Input) (mapping.Payload, error)
	AllowStageMove(current, next string) bool
	Fields() []string
	StageField() string
}

// Mappings hands out the live mapping of a connector; *mapping.Set has it.
type Mappings interface {
	Get(connector string) *mapping.Mapping
}

// Connector defaults.
const (
	DefaultSheet     = "Orders"
	DefaultKeyColumn = "Order ID"
	// DefaultMaxBatch is the most orders one delivery takes. A delivery
	// costs one read and one or two writes (a batchUpdate for the rows that
	// exist, an append for the new ones) whatever its size, split only to
	// keep requests under 2 MB, so large deliveries spend the 60 writes a
	// minute best: 500 rows are about 400 KB.
	DefaultMaxBatch = 500
)

// ConnectorConfig configures a Connector. Set Mapping, or Mappings for a
// mapping that reloads (read once per delivery).
type ConnectorConfig struct {
	Client    *Client
	Sheet     string // the tab (default "Orders"); created when missing
	KeyColumn string // the header of the order-id column (default "Order ID")
	Mapping   Renderer
	Mappings  Mappings
	MaxBatch  int // default 500
	Logger    *slog.Logger
}

// Connector keeps one row per order in a tab of a Google spreadsheet. Rows
// are found by the order id in the key column, never by a remembered row
// number alone: people sort, insert and delete rows, and move columns.
// Columns are found by their header; columns the mapping does not name are
// left alone.
type Connector struct {
	client   *Client
	sheet    string
	key      string
	mapping  Renderer
	mappings Mappings
	maxBatch int
	log      *slog.Logger

	// mu serializes deliveries: the row numbers of one read are only good
	// until paysync's own next write moves rows.
	mu       sync.Mutex
	sheetID  int
	hasSheet bool
	cols     map[string]int // header → column at the last read, to guess the next
	warned   string
}

var (
	_ core.Connector = (*Connector)(nil)
	_ core.Pacer     = (*Connector)(nil)
)

// NewConnector returns a Connector.
func NewConnector(cfg ConnectorConfig) (*Connector, error) {
	if cfg.Client == nil || (cfg.Mapping == nil && cfg.Mappings == nil) {
		return nil, core.Errorf(core.EINVALID, "sheets: the connector needs a client and a mapping")
	}
	c := &Connector{client: cfg.Client, sheet: cfg.Sheet, key: cfg.KeyColumn, mapping: cfg.Mapping,
		mappings: cfg.Mappings, maxBatch: cfg.MaxBatch, log: cfg.Logger}
	if c.sheet == "" {
		c.sheet = DefaultSheet
	}
	if c.key == "" {
		c.key = DefaultKeyColumn
	}
	if c.maxBatch <= 0 {
		c.maxBatch = DefaultMaxBatch
	}
	if c.log == nil {
		c.log = slog.Default()
	}
	if m := c.live(); m != nil && !slices.Contains(m.Fields(), c.key) {
		return nil, core.Errorf(core.EINVALID, "sheets: the key column %q is not in the entity of the sheets mapping: add it (source: order_id) or set connectors.sheets.key_column", c.key)
	}
	return c, nil
}

func (c *Connector) Name() string  { return Name }
func (c *Connector) MaxBatch() int { return c.maxBatch }

// Pace tells the dispatcher to let a stream of payments gather as the
// read or write burst is spent (see budget.pace).
func (c *Connector) Pace() time.Duration {
	var d time.Duration
	for _, b := range []*budget{c.client.reads, c.client.writes} {
		if b != nil {
			d = max(d, b.pace())
		}
	}
	return d
}

func (c *Connector) live() Renderer {
	if c.mappings != nil {
		if m := c.mappings.Get(Name); m != nil {
			return m
		}
	}
	return c.mapping
}

// LinkData is what the connector keeps with a link (core.CRMLink.Data).
// The link's ExternalID is the row number where the order was last written;
// it is only a hint, checked against the key cell before every write.
type LinkData struct {
	SheetID int    `json:"gid"`
	Stage   string `json:"stage,omitempty"` // the Status paysync wrote or found
}

// item is one delivery on its way through Deliver.
type item struct {
	d      core.Delivery
	p      mapping.Payload
	key    string // the key cell's text, as written
	hint   int    // the row of the link, 0 when none
	err    error
	dupOf  *item
	row    int // where it is (or landed); 0 while unknown
	stage  string
	cells  []any // minCol..maxCol, nil where paysync writes nothing
	size   int   // JSON bytes of cells
	append bool
	// lostRow is the link's row when it held another order (or nothing)
	// and the order was nowhere else in the sheet; held is what it held.
	lostRow int
	held    string
}

// notice tells the operator that the linked row was not the order's and
// the order had to be written anew: the sheet was rebuilt, or its row
// deleted. A row that merely moved (a sort, rows inserted above) is found
// by order id without a notice: that is a sheet's normal life, and a
// journal entry per order after every sort would bury the ones that matter.
func (it *item) notice() string {
	if it.lostRow == 0 {
		return ""
	}
	held := "is empty"
	if it.held != "" {
		held = "holds order " + it.held
	}
	return fmt.Sprintf("linked row %d %s and order %s was nowhere else in the sheet (rebuilt, or its row deleted): wrote row %d",
		it.lostRow, held, it.d.Order.ID, it.row)
}

// Deliver writes every order of the batch to its row: one read of the
// header row, the key column and the status column; one values:batchUpdate
// for every order that has a row; one append (INSERT_ROWS) for the rest.
// It returns one result per delivery, in order.
func (c *Connector) Deliver(ctx context.Context, batch []core.Delivery) []core.DeliveryResult {
	out := make([]core.DeliveryResult, len(batch))
	if len(batch) == 0 {
		return out
	}
	if len(batch) > c.maxBatch {
		return connectors.Refuse(len(batch), connectors.ErrBatchTooLarge("Google Sheets"))
	}
	m := c.live()
	if m == nil {
		return connectors.Refuse(len(batch), connectors.ErrNoMapping(Name))
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	items := c.prepare(m, batch)
	c.write(ctx, m, items)
	for i, it := range items {
		if it.dupOf != nil {
			it = it.dupOf
		}
		if it.err == nil && !it.done() {
			it.err = &core.DeliveryError{Class: core.Retryable, Reason: "the Google Sheets connector did not write this order (a bug in paysync); it is retried"}
		}
		if it.err != nil {
			out[i].Err = it.err
			continue
		}
		ld, _ := json.Marshal(LinkData{SheetID: c.sheetID, Stage: it.stage})
		out[i] = core.DeliveryResult{ExternalID: strconv.Itoa(it.row), LinkData: string(ld)}
		if it == items[i] { // once per order, not per duplicate in the batch
			out[i].Notice = it.notice()
		}
	}
	return out
}

// prepare renders every order; a later version of the same order does the work.
func (c *Connector) prepare(m Renderer, batch []core.Delivery) []*item {
	items := make([]*item, len(batch))
	for i, d := range batch {
		items[i] = &item{d: d}
	}
	for i, j := range connectors.Latest(batch) {
		if j != i {
			items[i].dupOf = items[j]
		}
	}
	for _, it := range items {
		if it.dupOf != nil {
			continue
		}
		p, err := m.Render(mapping.Input{Order: it.d.Order, Transitions: it.d.Transitions})
		if err != nil {
			it.err = connectors.ErrRender(Name, it.d.Order.ID, err)
			continue
		}
		it.p = p
		it.key = cellText(p.Entity[c.key])
		if it.key == "" {
			it.err = &core.DeliveryError{Class: core.Permanent, Reason: fmt.Sprintf("the sheets mapping renders an empty %q for order %s: the key column must hold the order id (source: order_id)", c.key, it.d.Order.ID)}
			continue
		}
		raw, _ := p.Entity[c.key].(string)
		if rest, ok := strings.CutPrefix(strings.TrimSpace(raw), "'"); ok && mapping.CellSafe(rest) != rest {
			// "=x" is written '=x, so an id that is '=x already could
			// not be told from it.
			it.err = &core.DeliveryError{Class: core.Permanent, Reason: fmt.Sprintf(
				"order id %s starts with an apostrophe before = + - or @: in the sheet it would read like order %s; create the order under another id", it.d.Order.ID, rest)}
			continue
		}
		if l := it.d.Link; l != nil {
			it.hint, _ = strconv.Atoi(l.ExternalID)
		}
	}
	return items
}

// cell is the value written for a rendered field. Every string goes
// through mapping.CellSafe, whatever the mapping did, so that no text an
// order carries (a customer's name, an order id, a provider's reference)
// starts with = + - @ and turns into a formula once the sheet is exported
// to CSV or Excel. Values are sent RAW, so Sheets itself never parses them.
func cell(v any) any {
	switch x := v.(type) {
	case nil:
		return nil
	case json.Number, bool, int64, int, float64:
		return x
	case string:
		return boundCell(mapping.CellSafe(x))
	}
	b, _ := json.Marshal(v)
	return boundCell(mapping.CellSafe(string(b)))
}

// Google refuses a cell over 50,000 characters, counted in UTF-16 units,
// and the whole request with it. The connector cuts a longer text to
// MaxCellChars (below the limit, so an edit by hand does not tip it over),
// with the cut shown at its end.
const (
	CellLimit    = 50_000
	MaxCellChars = 49_000
)

// boundCell cuts s to MaxCellChars UTF-16 units, ending it with how much
// was cut, and returns it unchanged when it fits.
func boundCell(s string) string {
	units := 0
	for _, r := range s {
		units += utf16.RuneLen(r)
	}
	if units <= MaxCellChars {
		return s
	}
	runes := []rune(s)
	for keep := len(runes); keep > 0; {
		marker := fmt.Sprintf(" … [cut by paysync: %d more characters; a cell holds %d]", len(runes)-keep, CellLimit)
		n := len(utf16.Encode(runes[:keep])) + len(utf16.Encode([]rune(marker)))
		if n <= MaxCellChars {
			return string(runes[:keep]) + marker
		}
		keep -= max(1, n-MaxCellChars)
	}
	return ""
}

// cellText is how the key cell reads back from the sheet.
func cellText(v any) string {
	switch x := cell(v).(type) {
	case nil:
		return ""
	case string:
		return strings.TrimSpace(x)
	default:
		return fmt.Sprint(x)
	}
}

func (c *Connector) fail(items []*item, err error) {
	de := Classify(err)
	for _, it := range items {
		if it.dupOf == nil && it.err == nil && !it.done() {
			it.err = de
		}
	}
}

func (it *item) done() bool { return it.row > 0 && it.cells == nil }

// work lists the items still to write.
func work(items []*item) []*item {
	var out []*item
	for _, it := range items {
		if it.dupOf == nil && it.err == nil && !it.done() {
			out = append(out, it)
		}
	}
	return out
}

func (c *Connector) write(ctx context.Context, m Renderer, items []*item) {
	todo := work(items)
	if len(todo) == 0 {
		return
	}
	if !slices.Contains(m.Fields(), c.key) {
		c.fail(todo, &core.DeliveryError{Class: core.Paused, Reason: fmt.Sprintf(
			"the key column %q is not in the entity of mapping/sheets.yaml: put it back (source: order_id) or set connectors.sheets.key_column, then send SIGHUP", c.key)})
		return
	}
	if err := c.ensureSheet(ctx); err != nil {
		c.fail(todo, err)
		return
	}
	s, err := c.read(ctx, m, true)
	if err != nil {
		c.fail(todo, err)
		return
	}
	c.place(m, s, todo)
	var updates, appends []*item
	for _, it := range todo {
		if it.err != nil {
			continue
		}
		if it.append {
			appends = append(appends, it)
		} else {
			updates = append(updates, it)
		}
	}
	// Updates first: an append with INSERT_ROWS may insert rows above
	// rows that are to be updated, and their numbers would be stale.
	if err := c.update(ctx, s, updates); err != nil {
		c.fail(appends, err)
		return
	}
	if len(updates) > 0 {
		s2, rest, err := c.recheck(ctx, m, s, updates, appends)
		if err != nil {
			c.fail(appends, err)
			return
		}
		s, appends = s2, rest
	}
	c.appendRows(ctx, s, appends, items)
}

// recheck reads the header, key and status columns again after the
// updates, and returns the snapshot and the orders to append that follow. Nothing moved (the common case): done. Rows or columns moved (a
// person sorted, inserted or deleted rows while the write was on its way),
// so the write may have landed on rows that hold other orders now: the
// orders of this delivery are placed again and written where they are,
// and an order whose Status cell took a value this delivery wrote gets its
// old status back. Its other cells may carry this delivery's values until
// its own next delivery; the log names it.
func (c *Connector) recheck(ctx context.Context, m Renderer, s *snapshot, updates, appends []*item) (*snapshot, []*item, error) {
	s2, err := c.read(ctx, m, false)
	if err != nil {
		return nil, nil, err
	}
	if slices.Equal(s.keys, s2.keys) && slices.Equal(s.header, s2.header) {
		return s, appends, nil
	}
	ours := map[string]bool{}
	wrote := map[string]bool{}
	for _, it := range updates {
		ours[it.key] = true
		wrote[it.stage] = true
	}
	var restore []ValueRange
	var maybe []string
	for _, it := range updates {
		other := s2.keyAt(it.row)
		if other == "" || ours[other] {
			continue
		}
		maybe = append(maybe, other)
		r1, r2 := s.row(other), s2.row(other)
		if was, now := s.stageAt(r1), s2.stageAt(r2); r1 > 0 && s2.stageCol > 0 && was != now && wrote[now] {
			restore = append(restore, ValueRange{Range: rowRange(c.sheet, r2, s2.stageCol, s2.stageCol), MajorDimension: "ROWS", Values: [][]any{{was}}})
		}
	}
	again := append(slices.Clone(updates), appends...)
	c.place(m, s2, again)
	updates, appends = nil, nil
	for _, it := range again {
		switch {
		case it.err != nil:
		case it.append:
			appends = append(appends, it)
		default:
			updates = append(updates, it)
		}
	}
	if len(maybe) > 0 {
		c.log.Warn("rows moved while paysync wrote to them; wrote its orders again where they are now. These orders' rows may show another order's values until their next delivery: resync them with `paysync outbox resync ORDER_ID`",
			"connector", Name, "tab", c.sheet, "orders", strings.Join(maybe, ", "), "statuses_restored", len(restore))
	}
	if err := c.update(ctx, s2, updates, restore...); err != nil {
		return nil, nil, err
	}
	return s2, appends, nil
}

// ensureSheet finds the tab's sheetId, creating the tab when it is missing.
func (c *Connector) ensureSheet(ctx context.Context) error {
	if c.hasSheet {
		return nil
	}
	ss, err := c.client.Spreadsheet(ctx)
	if err != nil {
		return err
	}
	p, ok := ss.Sheet(c.sheet)
	if !ok {
		if p, err = c.client.AddSheet(ctx, c.sheet); err != nil {
			return err
		}
		c.log.Info("created the tab in the spreadsheet", "connector", Name, "tab", c.sheet, "gid", p.SheetID)
	}
	c.sheet, c.sheetID, c.hasSheet = p.Title, p.SheetID, true
	return nil
}

// snapshot is what one read saw: the header and the key and status
// columns, indexed by row number.
type snapshot struct {
	header   []string
	col      map[string]int // header text → first column with it
	keyCol   int
	stageCol int      // 0 when the sheet or the mapping has no status column
	keys     []string // keys[r] is row r's key cell; [0] and [1] unused
	stages   []string
	byKey    map[string]int // key → first row holding it
	// lo and hi bound the columns a row write spans: the leftmost and the
	// rightmost mapped column the header has.
	lo, hi int
}

func (s *snapshot) row(key string) int { return s.byKey[key] }

func (s *snapshot) keyAt(r int) string {
	if r < 2 || r >= len(s.keys) {
		return ""
	}
	return s.keys[r]
}

func (s *snapshot) stageAt(r int) string {
	if r < 2 || r >= len(s.stages) {
		return ""
	}
	return s.stages[r]
}

// read reads the header row and the key and status columns in one
// batchGet, at the columns the last read found (or the mapping's order for
// a new sheet); if the header says they moved, it reads them again where
// they are. An empty tab gets the mapping's columns as its header row.
func (c *Connector) read(ctx context.Context, m Renderer, retryTab bool) (*snapshot, error) {
	fields := m.Fields()
	stageField := m.StageField()
	guess := func(name string) int {
		if n, ok := c.cols[name]; ok {
			return n
		}
		return slices.Index(fields, name) + 1
	}
	keyCol, stageCol := guess(c.key), 0
	if stageField != "" {
		stageCol = guess(stageField)
	}
	vrs, err := c.client.BatchGet(ctx, c.ranges(keyCol, stageCol))
	if err != nil {
		if retryTab && isRangeParse(err) {
			// A person deleted or renamed the tab since it was found.
			c.hasSheet = false
			if err := c.ensureSheet(ctx); err != nil {
				return nil, err
			}
			return c.read(ctx, m, false)
		}
		return nil, err
	}
	s := &snapshot{col: map[string]int{}}
	if len(vrs[0].Values) > 0 {
		for _, v := range vrs[0].Values[0] {
			s.header = append(s.header, strings.TrimSpace(fmt.Sprint(v)))
		}
	}
	for i, h := range s.header {
		if _, dup := s.col[h]; h != "" && !dup {
			s.col[h] = i + 1
		}
	}
	if len(s.col) == 0 {
		if keys := columnValues(vrs[1]); len(keys) > 2 {
			return nil, &core.DeliveryError{Class: core.Paused, Reason: fmt.Sprintf(
				"row 1 of tab %q is empty but the tab holds data: put the header row back (%s), or set connectors.sheets.sheet to an empty tab",
				c.sheet, strings.Join(fields, ", "))}
		}
		return c.writeHeader(ctx, fields, stageField)
	}
	c.cols = s.col
	s.keyCol = s.col[c.key]
	if s.keyCol == 0 {
		return nil, &core.DeliveryError{Class: core.Paused, Reason: fmt.Sprintf(
			"the header row of tab %q has no %q column, by which paysync finds each order's row: put it back in row 1 (paysync connectors check lists every column the mapping needs), then resume the connector",
			c.sheet, c.key)}
	}
	if stageField != "" {
		s.stageCol = s.col[stageField]
	}
	c.warnMissing(fields, s)
	keys, stages := vrs[1], ValueRange{}
	if len(vrs) > 2 {
		stages = vrs[2]
	}
	if s.keyCol != keyCol || (s.stageCol != 0 && s.stageCol != stageCol) {
		// The columns moved since the last read: read them where they are.
		again, err := c.client.BatchGet(ctx, c.ranges(s.keyCol, s.stageCol)[1:])
		if err != nil {
			return nil, err
		}
		keys = again[0]
		if s.stageCol != 0 {
			stages = again[1]
		}
	}
	s.keys = columnValues(keys)
	if s.stageCol != 0 {
		s.stages = columnValues(stages)
	}
	s.byKey = make(map[string]int, len(s.keys))
	for r := 2; r < len(s.keys); r++ {
		if k := s.keys[r]; k != "" {
			if _, seen := s.byKey[k]; !seen {
				s.byKey[k] = r
			}
		}
	}
	return s, nil
}

// ranges are the header row, the key column and, when there is one, the
// status column.
func (c *Connector) ranges(keyCol, stageCol int) []string {
	out := []string{QuoteSheet(c.sheet) + "!1:1", columnRange(c.sheet, max(keyCol, 1))}
	if stageCol > 0 {
		out = append(out, columnRange(c.sheet, stageCol))
	}
	return out
}

// columnValues turns a one-column ValueRange read from row 1 into texts
// indexed by row number.
func columnValues(vr ValueRange) []string {
	out := make([]string, len(vr.Values)+1)
	for i, row := range vr.Values {
		if len(row) > 0 {
			out[i+1] = strings.TrimSpace(fmt.Sprint(row[0]))
		}
	}
	return out
}

// writeHeader gives an empty tab the mapping's columns as its header row.
func (c *Connector) writeHeader(ctx context.Context, fields []string, stageField string) (*snapshot, error) {
	row := make([]any, len(fields))
	for i, f := range fields {
		row[i] = f
	}
	if _, err := c.client.Update(ctx, rowRange(c.sheet, 1, 1, len(fields)), [][]any{row}); err != nil {
		return nil, err
	}
	c.log.Info("wrote the header row of the tab", "connector", Name, "tab", c.sheet, "columns", len(fields))
	s := &snapshot{header: fields, col: map[string]int{}, byKey: map[string]int{}}
	for i, f := range fields {
		s.col[f] = i + 1
	}
	c.cols = s.col
	s.keyCol = s.col[c.key]
	if stageField != "" {
		s.stageCol = s.col[stageField]
	}
	return s, nil
}

// warnMissing logs, once per change, the mapped columns the header lacks:
// they are not written until someone puts them back or drops them from the
// mapping (`paysync connectors check` says the same).
func (c *Connector) warnMissing(fields []string, s *snapshot) {
	var missing []string
	for _, f := range fields {
		if s.col[f] == 0 {
			missing = append(missing, f)
		}
	}
	key := strings.Join(missing, "\x00")
	if key == c.warned {
		return
	}
	c.warned = key
	if len(missing) > 0 {
		c.log.Warn("columns of the sheets mapping are missing from the sheet's header row and are not written: add them to row 1 or remove them from mapping/sheets.yaml",
			"connector", Name, "tab", c.sheet, "columns", strings.Join(missing, ", "))
	}
}

// place finds each item's row: the link's row when its key cell still holds
// the order, else the first row holding the order id, else a new row. It
// lays out the cells to write between the leftmost and rightmost mapped
// column the header has; other columns stay nil and keep what they hold.
func (c *Connector) place(m Renderer, s *snapshot, items []*item) {
	fields := m.Fields()
	stageField := m.StageField()
	lo, hi := s.keyCol, s.keyCol
	for _, f := range fields {
		if col := s.col[f]; col > 0 {
			lo, hi = min(lo, col), max(hi, col)
		}
	}
	s.lo, s.hi = lo, hi
	moved := 0
	for _, it := range items {
		it.row, it.lostRow, it.held = 0, 0, ""
		if it.hint > 0 && s.keyAt(it.hint) == it.key {
			it.row = it.hint
		}
		if it.row == 0 {
			it.row = s.row(it.key)
			if it.hint > 0 && it.row > 0 {
				moved++
			}
		}
		it.append = it.row == 0
		if it.append && it.hint > 0 {
			it.lostRow, it.held = it.hint, s.keyAt(it.hint)
		}
		current := ""
		if !it.append {
			current = s.stageAt(it.row)
		}
		it.stage = current
		it.cells = make([]any, hi-lo+1)
		for _, f := range fields {
			col := s.col[f]
			v, ok := it.p.Entity[f]
			if col == 0 || !ok {
				continue
			}
			if f == stageField && stageField != "" {
				next := it.p.Stage
				if it.append {
					next = it.p.NewStage // a null stage starts a new row at pending's
				}
				if next == "" || !m.AllowStageMove(current, next) {
					continue // a person's later status stays
				}
				it.stage = next
			}
			it.cells[col-lo] = cell(v)
		}
		if it.append {
			it.cells[s.keyCol-lo] = it.key
		} else {
			// The key cell already says whose row this is. Leaving it out
			// means a write that lands on a row a person moved there an
			// instant after the read cannot take that row over: the
			// row keeps its order id, and both orders' next deliveries,
			// which find rows by that id, put their cells right.
			it.cells[s.keyCol-lo] = nil
		}
		b, _ := json.Marshal(it.cells)
		it.size = len(b) + 64
		if it.size > MaxRequestBytes-1024 {
			it.err = &core.DeliveryError{Class: core.Permanent, Reason: fmt.Sprintf(
				"the row of order %s is %d bytes, over the 2 MB a Google Sheets request may carry: shorten the long fields of mapping/sheets.yaml (max_length)", it.d.Order.ID, it.size)}
		}
	}
	if moved > 0 {
		// Someone sorted, inserted or deleted rows: expected, and harmless.
		c.log.Info("rows moved since paysync last wrote them; found by order id", "connector", Name, "tab", c.sheet, "orders", moved)
	}
}

// chunks splits items so that each request stays under MaxRequestBytes.
func chunks(items []*item) [][]*item {
	var out [][]*item
	var cur []*item
	size := 0
	for _, it := range items {
		if len(cur) > 0 && size+it.size > MaxRequestBytes-4096 {
			out = append(out, cur)
			cur, size = nil, 0
		}
		cur = append(cur, it)
		size += it.size
	}
	if len(cur) > 0 {
		out = append(out, cur)
	}
	return out
}

// update writes the rows of orders that have one, in values:batchUpdate
// requests of under 2 MB. It returns the error that stops the delivery.
func (c *Connector) update(ctx context.Context, s *snapshot, items []*item, extra ...ValueRange) error {
	lo, hi := s.lo, s.hi
	parts := chunks(items)
	if len(parts) == 0 && len(extra) > 0 {
		parts = [][]*item{nil}
	}
	for i, chunk := range parts {
		var ex []ValueRange
		if i == 0 {
			ex = extra // a few single cells
		}
		if err := c.updatePart(ctx, lo, hi, chunk, ex); err != nil {
			// An update is idempotent: whether or not it landed, the retry
			// writes the same cells to the row found again by key.
			for _, rest := range parts[i:] {
				c.fail(rest, err)
			}
			return err
		}
	}
	return nil
}

// updatePart writes chunk's rows (and extra cells) in one
// values:batchUpdate. Google applies all of it or none: a 400 for one row
// is narrowed down to the rows Google refuses (by the data[N] its message
// names, else by halves), which alone fail with its reason; the others are
// written. It returns the error that stops the delivery.
func (c *Connector) updatePart(ctx context.Context, lo, hi int, chunk []*item, extra []ValueRange) error {
	data := make([]ValueRange, len(chunk), len(chunk)+len(extra))
	for j, it := range chunk {
		data[j] = ValueRange{Range: rowRange(c.sheet, it.row, lo, hi), MajorDimension: "ROWS", Values: [][]any{it.cells}}
	}
	data = append(data, extra...)
	err := c.client.BatchUpdate(ctx, data)
	switch {
	case err == nil:
		for _, it := range chunk {
			it.cells = nil
		}
		return nil
	case !narrowable(err) || len(chunk) == 0:
		return err
	case len(chunk) == 1:
		chunk[0].err = Classify(err) // refused alone: that row's own fault
		if len(extra) > 0 {
			return c.updatePart(ctx, lo, hi, nil, extra)
		}
		return nil
	}
	if n, ok := dataIndex(err); ok && n < len(chunk) {
		chunk[n].err = Classify(err)
		return c.updatePart(ctx, lo, hi, slices.Delete(slices.Clone(chunk), n, n+1), extra)
	}
	half := (len(chunk) + 1) / 2
	if err := c.updatePart(ctx, lo, hi, chunk[:half], extra); err != nil {
		return err
	}
	return c.updatePart(ctx, lo, hi, chunk[half:], nil)
}

// narrowable reports whether err is Google refusing what a request carried
// (400 INVALID_ARGUMENT), which sending its parts apart can narrow down to
// the offending rows; not a tab that is gone, which every part would hit.
func narrowable(err error) bool {
	var ae *APIError
	return errors.As(err, &ae) && ae.Status == http.StatusBadRequest && !strings.Contains(ae.Message, "Unable to parse range")
}

// dataIndex reads N of "Invalid data[N]: …", the element of a
// values:batchUpdate Google names.
func dataIndex(err error) (int, bool) {
	var ae *APIError
	if !errors.As(err, &ae) {
		return 0, false
	}
	rest, ok := strings.CutPrefix(ae.Message, "Invalid data[")
	if !ok {
		return 0, false
	}
	digits, _, ok := strings.Cut(rest, "]")
	n, perr := strconv.Atoi(digits)
	return n, ok && perr == nil && n >= 0
}

// appendRows adds rows for the orders that have none, after the table, in
// inserted rows. An append whose answer is lost (a timeout, a 5xx) may have
// happened: it fails as retryable, and the retry reads the key column
// before it appends anything, so a row that did land is updated, not
// appended twice.
func (c *Connector) appendRows(ctx context.Context, s *snapshot, items, all []*item) {
	lo, hi := s.lo, s.hi
	rng := QuoteSheet(c.sheet) + "!" + ColumnName(lo) + ":" + ColumnName(hi)
	parts := chunks(items)
	for i, chunk := range parts {
		if err := c.appendPart(ctx, rng, chunk, all); err != nil {
			c.fail(chunk, err)
			for _, rest := range parts[i+1:] {
				c.fail(rest, &core.DeliveryError{Class: core.Retryable, Reason: "not sent to Google Sheets: an earlier append of this delivery failed; it is retried", Err: err})
			}
			return
		}
	}
}

// appendPart appends chunk's rows in one request. A 400 is narrowed down
// by halves to the rows Google refuses, which alone fail with its reason;
// the others are appended. It returns the error that stops the delivery.
func (c *Connector) appendPart(ctx context.Context, rng string, chunk, all []*item) error {
	rows := make([][]any, len(chunk))
	for j, it := range chunk {
		rows[j] = it.cells
	}
	res, err := c.client.Append(ctx, rng, rows)
	if err != nil {
		if !narrowable(err) {
			return err
		}
		if len(chunk) == 1 {
			chunk[0].err = Classify(err) // refused alone: that row's own fault
			return nil
		}
		half := (len(chunk) + 1) / 2
		if err := c.appendPart(ctx, rng, chunk[:half], all); err != nil {
			return err
		}
		return c.appendPart(ctx, rng, chunk[half:], all)
	}
	first, last, ok := parseUpdatedRange(res.Updates.UpdatedRange)
	if !ok || last-first+1 != len(chunk) {
		// The rows landed but paysync cannot tell where: the retry finds them by key.
		c.fail(chunk, &TransportError{Op: "values.append", Msg: "the answer's updatedRange " + strconv.Quote(res.Updates.UpdatedRange) + " does not match the rows sent"})
		return nil
	}
	// INSERT_ROWS moved every row at or below the insertion point down.
	for _, it := range all {
		if it.row >= first {
			it.row += len(chunk)
		}
	}
	for j, it := range chunk {
		it.row, it.cells = first+j, nil
	}
	return nil
}
