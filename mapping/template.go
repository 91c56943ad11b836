package mapping

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/bits"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"text/template"
	"text/template/parse"
	"time"
	"unicode/utf8"

	"github.com/paysync/paysync/core"
)

// MaxTemplateOutput bounds what one template may write, so that a mapping
// cannot build a runaway payload (a Sheets cell holds 50,000 characters).
const MaxTemplateOutput = 64 << 10

// tmpl is one compiled template. Text without actions skips text/template entirely.
type tmpl struct {
	src     string
	literal bool
	field   []string // set when the template is exactly {{.a.b}}: read it without text/template
	t       *template.Template
}

// compile parses src and checks it statically: known functions (text/template
// does that), known source fields, and no construct that could run unbounded
// (define/template/block, range over anything but a known list or map, nested range).
func compile(name, src string, funcs template.FuncMap, scope *schema) (*tmpl, error) {
	if !strings.Contains(src, "{{") {
		return &tmpl{src: src, literal: true}, nil
	}
	t, err := template.New(name).Option("missingkey=zero").Funcs(funcs).Parse(src)
	if err != nil {
		return nil, errors.New(cleanTemplateError(name, src, err))
	}
	if len(t.Templates()) > 1 {
		return nil, errors.New("define and block are not supported in mapping templates")
	}
	c := checker{root: scope, vars: map[string]*schema{"$": scope}}
	c.list(t.Tree.Root, scope, 0)
	if len(c.problems) > 0 {
		return nil, errors.New(strings.Join(c.problems, "; "))
	}
	return &tmpl{src: src, t: t, field: soleField(t.Tree.Root)}, nil
}

// soleField returns the path of a template that is one plain field
// reference, the commonest form (`when: '{{.customer.phone}}'`).
func soleField(root *parse.ListNode) []string {
	if len(root.Nodes) != 1 {
		return nil
	}
	a, ok := root.Nodes[0].(*parse.ActionNode)
	if !ok || len(a.Pipe.Decl) > 0 || len(a.Pipe.Cmds) != 1 || len(a.Pipe.Cmds[0].Args) != 1 {
		return nil
	}
	switch f := a.Pipe.Cmds[0].Args[0].(type) {
	case *parse.FieldNode:
		return f.Ident
	case *parse.VariableNode:
		if len(f.Ident) > 1 && f.Ident[0] == "$" {
			return f.Ident[1:]
		}
	}
	return nil
}

// fieldText prints a field as text/template would (fmt.Sprint, nothing for a
// missing value); ok is false when the path crosses something other than a
// map, where text/template's own error is wanted.
func fieldText(data map[string]any, path []string) (string, bool) {
	var v any = data
	for _, p := range path {
		m, ok := v.(map[string]any)
		if !ok {
			return "", false
		}
		v = m[p]
	}
	switch x := v.(type) {
	case nil:
		return "", true
	case string:
		return x, true
	case int64:
		return strconv.FormatInt(x, 10), true
	}
	return fmt.Sprint(v), true
}

var templatePos = regexp.MustCompile(`^(\d+)(?::\d+)?: `)

// cleanTemplateError drops text/template's name prefix; the line inside the
// template is kept only when the template has several lines.
func cleanTemplateError(name, src string, err error) string {
	s := strings.TrimPrefix(err.Error(), "template: ")
	s = strings.TrimPrefix(s, name+":")
	if m := templatePos.FindStringSubmatch(s); m != nil {
		s = s[len(m[0]):]
		if strings.Contains(src, "\n") {
			s = "line " + m[1] + ": " + s
		}
	}
	return s
}

type checker struct {
	root     *schema
	vars     map[string]*schema
	problems []string
}

func (c *checker) problem(format string, args ...any) {
	c.problems = append(c.problems, fmt.Sprintf(format, args...))
}

// list checks nodes with dot typed as dot (nil: unknown, fields are not checked).
func (c *checker) list(l *parse.ListNode, dot *schema, ranges int) {
	if l == nil {
		return
	}
	for _, n := range l.Nodes {
		c.node(n, dot, ranges)
	}
}

func (c *checker) node(n parse.Node, dot *schema, ranges int) {
	switch n := n.(type) {
	case *parse.ActionNode:
		s := c.pipe(n.Pipe, dot)
		for _, v := range n.Pipe.Decl {
			c.vars[v.Ident[0]] = s
		}
	case *parse.IfNode:
		c.pipe(n.Pipe, dot)
		c.list(n.List, dot, ranges)
		c.list(n.ElseList, dot, ranges)
	case *parse.WithNode:
		s := c.pipe(n.Pipe, dot)
		for _, v := range n.Pipe.Decl {
			c.vars[v.Ident[0]] = s
		}
		c.list(n.List, s, ranges)
		c.list(n.ElseList, dot, ranges)
	case *parse.RangeNode:
		s := c.pipe(n.Pipe, dot)
		// Only data bounded by the order may drive a loop: no `range 1e12`.
		if ranges > 0 {
			c.problem("range inside range is not supported")
		}
		var elem *schema
		switch {
		case s == nil || s.kind == kAny || s.kind == kString || s.kind == kInt || s.kind == kBool || s.kind == kTime:
			c.problem("range works only over a list or object of the order (items, tags, delivery, customer)")
		case s.kind == kList:
			elem = s.elem
		case s.kind == kMap:
			elem = sAny
		case s.kind == kObject:
			elem = sString
		}
		switch len(n.Pipe.Decl) {
		case 1:
			c.vars[n.Pipe.Decl[0].Ident[0]] = elem
		case 2:
			c.vars[n.Pipe.Decl[0].Ident[0]] = nil
			c.vars[n.Pipe.Decl[1].Ident[0]] = elem
		}
		c.list(n.List, elem, ranges+1)
		c.list(n.ElseList, dot, ranges)
	case *parse.TemplateNode:
		c.problem("template calls are not supported in mapping templates")
	}
}

// pipe checks a pipeline and returns the schema of its value when it is a plain field reference.
func (c *checker) pipe(p *parse.PipeNode, dot *schema) *schema {
	if p == nil {
		return nil
	}
	var last *schema
	for _, cmd := range p.Cmds {
		last = nil
		for _, a := range cmd.Args {
			s := c.arg(a, dot)
			if len(cmd.Args) == 1 {
				last = s
			}
		}
	}
	if len(p.Cmds) != 1 {
		return nil
	}
	return last
}

func (c *checker) arg(a parse.Node, dot *schema) *schema {
	switch a := a.(type) {
	case *parse.DotNode:
		return dot
	case *parse.FieldNode:
		return c.field(dot, a.Ident, a.String())
	case *parse.VariableNode:
		base, ok := c.vars[a.Ident[0]]
		if !ok {
			return nil
		}
		return c.field(base, a.Ident[1:], a.String())
	case *parse.PipeNode:
		c.pipe(a, dot)
	case *parse.ChainNode:
		if p, ok := a.Node.(*parse.PipeNode); ok {
			c.pipe(p, dot)
		}
	}
	return nil
}

func (c *checker) field(base *schema, path []string, text string) *schema {
	if base == nil {
		return nil
	}
	if len(path) == 0 {
		return base
	}
	s, why := base.resolve(path)
	if why != "" {
		c.problem("%s: %s", text, why)
	}
	return s
}

// exec runs t on data. Panics become errors and output is bounded, so a bad
// template or odd order data can fail one delivery but never the process.
func (t *tmpl) exec(data map[string]any) (out string, err error) {
	if t.literal {
		return t.src, nil
	}
	if t.field != nil {
		if s, ok := fieldText(data, t.field); ok && len(s) <= MaxTemplateOutput {
			return s, nil
		}
	}
	w := bufPool.Get().(*limitWriter)
	w.buf.Reset()
	defer bufPool.Put(w)
	defer func() {
		if r := recover(); r != nil {
			out, err = "", fmt.Errorf("template failed: %v", r)
		}
	}()
	if err := t.t.Execute(w, data); err != nil {
		return "", errors.New(cleanExecError(err))
	}
	out = w.buf.String()
	// text/template prints a missing map key as "<no value>" whatever the
	// missingkey option (golang/go#24963); Helm strips it the same way.
	if strings.Contains(out, "<no value>") {
		out = strings.ReplaceAll(out, "<no value>", "")
	}
	return out, nil
}

// cleanExecError keeps "at <.x>: reason" and drops the template name and offsets.
func cleanExecError(err error) string {
	s := err.Error()
	if i := strings.Index(s, " at <"); i >= 0 && strings.HasPrefix(s, "template: ") {
		return s[i+1:]
	}
	return strings.TrimPrefix(s, "template: ")
}

var bufPool = sync.Pool{New: func() any { return new(limitWriter) }}

type limitWriter struct{ buf bytes.Buffer }

var errTooLong = fmt.Errorf("template output is longer than %d bytes", MaxTemplateOutput)

func (w *limitWriter) Write(p []byte) (int, error) {
	if w.buf.Len()+len(p) > MaxTemplateOutput {
		return 0, errTooLong
	}
	return w.buf.Write(p)
}

// funcMap is the template function set. date and e164 close over the
// mapping's settings; the rest are pure. None may panic on any input.
func funcMap(loc *time.Location, dateLayout, country string) template.FuncMap {
	return template.FuncMap{
		"money":    fnMoney,
		"decimal":  fnDecimal,
		"major":    fnMajor,
		"mul":      fnMul,
		"default":  fnDefault,
		"upper":    func(v any) string { return strings.ToUpper(toText(v, loc, dateLayout)) },
		"lower":    func(v any) string { return strings.ToLower(toText(v, loc, dateLayout)) },
		"trim":     func(v any) string { return strings.TrimSpace(toText(v, loc, dateLayout)) },
		"replace":  func(old, new string, v any) string { return strings.ReplaceAll(toText(v, loc, dateLayout), old, new) },
		"join":     func(sep string, v any) string { return joinText(sep, v, loc, dateLayout) },
		"truncate": fnTruncate,
		"cellsafe": func(v any) string { return cellSafe(toText(v, loc, dateLayout)) },
		"date": func(args ...any) (string, error) {
			layout, v := dateLayout, any(nil)
			switch len(args) {
			case 1:
				v = args[0]
			case 2:
				l, ok := args[0].(string)
				if !ok {
					return "", fmt.Errorf("date: layout must be a string, got %T", args[0])
				}
				layout, v = l, args[1]
			default:
				return "", errors.New("date takes a time, or a layout and a time")
			}
			return formatTime(v, layout, loc)
		},
		"e164": func(args ...any) (string, error) {
			cc := country
			switch len(args) {
			case 1:
			case 2:
				cc = toText(args[0], loc, dateLayout)
			default:
				return "", errors.New("e164 takes a phone, or a country code and a phone")
			}
			return E164(toText(args[len(args)-1], loc, dateLayout), cc), nil
		},
	}
}

// moneyArgs accepts its two arguments in either order, so that both
// `money .amount_minor .currency` and `.amount_minor | money .currency` work.
func moneyArgs(name string, a, b any) (int64, string, error) {
	if _, ok := a.(string); ok {
		if _, isNum := asInt(a); !isNum {
			a, b = b, a
		}
	}
	n, ok := asInt(a)
	if !ok {
		return 0, "", fmt.Errorf("%s: %v is not an amount in minor units", name, printable(a))
	}
	cur, ok := b.(string)
	if !ok {
		return 0, "", fmt.Errorf("%s: %v is not a currency code", name, printable(b))
	}
	return n, strings.ToUpper(cur), nil
}

func fnMoney(a, b any) (string, error) {
	n, cur, err := moneyArgs("money", a, b)
	if err != nil {
		return "", err
	}
	return core.Money{AmountMinor: n, Currency: cur}.String(), nil
}

func fnDecimal(a, b any) (string, error) {
	n, cur, err := moneyArgs("decimal", a, b)
	if err != nil {
		return "", err
	}
	return core.FormatDecimal(n, cur), nil
}

func fnMajor(a, b any) (int64, error) {
	n, cur, err := moneyArgs("major", a, b)
	if err != nil {
		return 0, err
	}
	return majorUnits(n, cur), nil
}

// majorUnits floors minor units to whole major units (amoCRM's integer price).
func majorUnits(n int64, currency string) int64 {
	exp := 2
	if c, ok := core.LookupCurrency(currency); ok {
		exp = c.Exponent
	}
	d := int64(1)
	for range exp {
		d *= 10
	}
	q := n / d
	if n%d < 0 {
		q-- // floor, not truncation, for negative amounts
	}
	return q
}

func fnMul(a, b any) (int64, error) {
	x, ok1 := asInt(a)
	y, ok2 := asInt(b)
	if !ok1 || !ok2 {
		return 0, fmt.Errorf("mul: %v and %v must be integers", printable(a), printable(b))
	}
	hi, lo := bits.Mul64(uint64(absInt(x)), uint64(absInt(y)))
	if hi != 0 || lo > math.MaxInt64 || x == math.MinInt64 || y == math.MinInt64 {
		return 0, fmt.Errorf("mul: %d × %d overflows", x, y)
	}
	return x * y, nil
}

func absInt(x int64) int64 {
	if x < 0 {
		return -x
	}
	return x
}

// fnDefault returns v, or def when v is empty (nil, "", empty list or map). Zero is a value, not empty.
func fnDefault(def, v any) any {
	if isEmpty(v) {
		return def
	}
	if s, ok := v.(string); ok && strings.TrimSpace(s) == "" {
		return def
	}
	return v
}

func fnTruncate(n, v any) (string, error) {
	max, ok := asInt(n)
	if !ok || max < 0 {
		return "", fmt.Errorf("truncate: length %v must be a non-negative integer", printable(n))
	}
	s, _ := v.(string)
	if _, isStr := v.(string); !isStr {
		s = toText(v, time.UTC, time.RFC3339)
	}
	return truncateRunes(s, max), nil
}

// truncateRunes cuts s to at most n characters without splitting one.
func truncateRunes(s string, n int64) string {
	if int64(len(s)) <= n {
		return s
	}
	i, count := 0, int64(0)
	for i < len(s) && count < n {
		_, size := utf8.DecodeRuneInString(s[i:])
		i += size
		count++
	}
	return s[:i]
}

// cellSafe neutralises text that a spreadsheet would run as a formula once
// exported to CSV or XLSX (OWASP "CSV injection"). A signed number or an
// E.164 phone (+37491234567) is left alone: it cannot call anything.
// CellSafe neutralises text that a spreadsheet would run as a formula once
// exported to CSV or Excel: a leading = @ tab or carriage return, or a
// leading + or - not followed by a plain number, gets an apostrophe in
// front. The template function cellsafe is this; the Sheets connector also
// applies it to every string cell it writes.
func CellSafe(s string) string { return cellSafe(s) }

func cellSafe(s string) string {
	if s == "" {
		return s
	}
	switch s[0] {
	case '=', '@', '\t', '\r':
		return "'" + s
	case '+', '-':
		if strings.Trim(s[1:], "0123456789 .,") != "" || len(s) == 1 {
			return "'" + s
		}
	}
	return s
}

func joinText(sep string, v any, loc *time.Location, layout string) string {
	switch l := v.(type) {
	case []string:
		return strings.Join(l, sep)
	case []any:
		parts := make([]string, len(l))
		for i, x := range l {
			parts[i] = toText(x, loc, layout)
		}
		return strings.Join(parts, sep)
	}
	return toText(v, loc, layout)
}

func formatTime(v any, layout string, loc *time.Location) (string, error) {
	switch t := v.(type) {
	case nil:
		return "", nil
	case time.Time:
		if t.IsZero() {
			return "", nil
		}
		return t.In(loc).Format(layout), nil
	case *time.Time:
		if t == nil {
			return "", nil
		}
		return formatTime(*t, layout, loc)
	case string:
		if t == "" {
			return "", nil
		}
		p, err := time.Parse(time.RFC3339, t)
		if err != nil {
			return "", fmt.Errorf("date: %q is not an RFC 3339 time", t)
		}
		return p.In(loc).Format(layout), nil
	}
	return "", fmt.Errorf("date: %v is not a time", printable(v))
}

// E164 normalises a phone number to E.164 (+37491234567). A national number
// (leading trunk 0, or no country code) gets countryCode. Anything that does not
// look like a phone number comes back trimmed but unchanged, so that nothing is lost.
func E164(phone, countryCode string) string {
	phone = strings.TrimSpace(phone)
	countryCode = strings.TrimPrefix(strings.TrimSpace(countryCode), "+")
	var digits strings.Builder
	plus := false
	for i, r := range phone {
		switch {
		case r >= '0' && r <= '9':
			digits.WriteRune(r)
		case r == '+' && i == 0:
			plus = true
		case r == ' ' || r == '-' || r == '(' || r == ')' || r == '.' || r == '\u00a0':
		default:
			return phone
		}
	}
	d := digits.String()
	switch {
	case plus:
	case strings.HasPrefix(d, "00"):
		d = d[2:]
	case strings.HasPrefix(d, "0"):
		d = countryCode + d[1:]
	case countryCode != "" && strings.HasPrefix(d, countryCode) && len(d) >= 10:
	default:
		d = countryCode + d
	}
	if len(d) < 7 || len(d) > 15 || d[0] == '0' {
		return phone
	}
	return "+" + d
}

// asInt reads an integer from what sources and templates produce.
func asInt(v any) (int64, bool) {
	switch n := v.(type) {
	case int64:
		return n, true
	case int:
		return int64(n), true
	case int32:
		return int64(n), true
	case uint64:
		if n > math.MaxInt64 {
			return 0, false
		}
		return int64(n), true
	case json.Number:
		i, err := n.Int64()
		return i, err == nil
	case float64:
		if n == math.Trunc(n) && math.Abs(n) < 1<<53 {
			return int64(n), true
		}
	case string:
		i, err := strconv.ParseInt(strings.TrimSpace(n), 10, 64)
		return i, err == nil
	}
	return 0, false
}

// toText renders any source value as text: times in the mapping's zone and
// date layout, whole numbers without exponent, lists and objects as JSON.
func toText(v any, loc *time.Location, layout string) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case int64:
		return strconv.FormatInt(x, 10)
	case int:
		return strconv.Itoa(x)
	case bool:
		return strconv.FormatBool(x)
	case json.Number:
		return x.String()
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	case time.Time:
		if x.IsZero() {
			return ""
		}
		return x.In(loc).Format(layout)
	case *time.Time:
		if x == nil {
			return ""
		}
		return toText(*x, loc, layout)
	case fmt.Stringer:
		return x.String()
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}

func printable(v any) string {
	if v == nil {
		return "nothing"
	}
	return fmt.Sprintf("%q", truncateRunes(fmt.Sprint(v), 40))
}

func isEmpty(v any) bool {
	switch x := v.(type) {
	case nil:
		return true
	case string:
		return x == ""
	case []any:
		return len(x) == 0
	case []string:
		return len(x) == 0
	case map[string]any:
		return len(x) == 0
	}
	return false
}
