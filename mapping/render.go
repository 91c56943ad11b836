package mapping

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/paysync/paysync/core"
)

// ftype is the type a field's value takes in the CRM payload.
type ftype int

const (
	tString  ftype = iota // JSON string
	tInteger              // JSON integer (int64)
	tDecimal              // minor units formatted by the currency exponent (json.Number, no float)
	tBoolean              // JSON true/false
	tEnum                 // an id looked up from the value (select/list fields)
	tList                 // JSON array
	tObject               // JSON object
)

var typeNames = map[string]ftype{
	"string": tString, "integer": tInteger, "decimal": tDecimal, "boolean": tBoolean,
	"enum": tEnum, "list": tList, "object": tObject,
}

func (t ftype) String() string {
	for k, v := range typeNames {
		if v == t {
			return k
		}
	}
	return "?"
}

// field is one compiled field spec. Exactly one of source, tmpl and value
// produces a scalar; lists and objects are built from their children.
type field struct {
	pos
	name string // key in the parent object; "" for list elements
	path string // entity.PHONE[0].VALUE, for error messages
	typ  ftype

	source   []string
	tmpl     *tmpl
	value    any
	hasValue bool
	def      any
	hasDef   bool
	when     *tmpl

	omitEmpty bool
	maxLen    int64
	major     bool     // integer: floor minor units to major units
	currency  []string // decimal/major: source path of the currency code

	enum        map[string]any
	enumAny     any // the "*" id, for any value not listed
	hasEnumAny  bool
	enumNumeric bool

	items   []*field
	forEach []string
	item    *field
	fields  []*field
}

// renderer holds one render's data and the errors met so far.
type renderer struct {
	m    *Mapping
	data map[string]any
	errs Errors
}

func (r *renderer) failAt(p pos, format string, args ...any) {
	r.errs = append(r.errs, &Error{File: r.m.file, Line: p.line, Col: p.col, Reason: fmt.Sprintf(format, args...)})
}

func (r *renderer) fail(f *field, format string, args ...any) {
	r.failAt(f.pos, f.path+": "+format, args...)
}

// tags renders the file's tags then the status's, without blanks or repeats.
func (r *renderer) tags(rule *statusRule) []string {
	var out []string
	add := func(ts []*tmpl) {
		for _, t := range ts {
			s, err := t.exec(r.data)
			if err != nil {
				r.failAt(rule.pos, "tag %q: %v", t.src, err)
				continue
			}
			if s = strings.TrimSpace(s); s != "" && !contains(out, s) {
				out = append(out, s)
			}
		}
	}
	add(r.m.tags)
	add(rule.tags)
	return out
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func (r *renderer) object(fields []*field) map[string]any {
	out := make(map[string]any, len(fields))
	for _, f := range fields {
		if v, ok := r.eval(f); ok {
			out[f.name] = v
		}
	}
	return out
}

// eval returns a field's value, and false when the field is left out.
func (r *renderer) eval(f *field) (any, bool) {
	if f.when != nil {
		s, err := f.when.exec(r.data)
		if err != nil {
			r.fail(f, "when: %v", err)
			return nil, false
		}
		if !truthy(s) {
			return nil, false
		}
	}
	switch f.typ {
	case tObject:
		o := r.object(f.fields)
		if len(o) == 0 && f.omitEmpty {
			return nil, false
		}
		return o, true
	case tList:
		list := r.list(f)
		if len(list) == 0 && f.omitEmpty {
			return nil, false
		}
		return list, true
	}
	var raw any
	switch {
	case f.hasValue:
		raw = f.value
	case f.source != nil:
		raw = lookup(r.data, f.source)
	case f.tmpl != nil:
		s, err := f.tmpl.exec(r.data)
		if err != nil {
			r.fail(f, "%v", err)
			return nil, false
		}
		raw = s
	}
	if f.hasDef && (raw == nil || raw == "") {
		raw = f.def
	}
	v, ok, err := r.convert(f, raw)
	if err != nil {
		r.fail(f, "%v", err)
		return nil, false
	}
	return v, ok
}

func (r *renderer) list(f *field) []any {
	out := make([]any, 0, max(len(f.items), 1))
	if f.forEach == nil {
		for _, it := range f.items {
			if v, ok := r.eval(it); ok {
				out = append(out, v)
			}
		}
		return out
	}
	oldItem, hadItem := r.data["item"]
	oldIndex, hadIndex := r.data["index"]
	each := func(i int, x any) {
		r.data["item"], r.data["index"] = x, int64(i)
		if v, ok := r.eval(f.item); ok {
			out = append(out, v)
		}
	}
	switch src := lookup(r.data, f.forEach).(type) {
	case []any:
		for i, x := range src {
			each(i, x)
		}
	case []string:
		for i, x := range src {
			each(i, x)
		}
	}
	restore(r.data, "item", oldItem, hadItem)
	restore(r.data, "index", oldIndex, hadIndex)
	return out
}

func restore(m map[string]any, k string, v any, had bool) {
	if had {
		m[k] = v
	} else {
		delete(m, k)
	}
}

// convert turns a raw value into the field's type. Scalars other than
// strings are left out when there is no value: a CRM has no "empty number".
func (r *renderer) convert(f *field, raw any) (any, bool, error) {
	switch f.typ {
	case tString:
		s := toText(raw, r.m.loc, r.m.dateLayout)
		if f.maxLen > 0 {
			s = truncateRunes(s, f.maxLen)
		}
		if s == "" && f.omitEmpty {
			return nil, false, nil
		}
		return s, true, nil
	case tInteger, tDecimal:
		if blank(raw) {
			return nil, false, nil
		}
		n, ok := asInt(raw)
		if !ok {
			return nil, false, fmt.Errorf("%s is not an integer", printable(raw))
		}
		if f.typ == tInteger && !f.major {
			return n, true, nil
		}
		cur, _ := lookup(r.data, f.currency).(string)
		if f.typ == tInteger {
			return majorUnits(n, cur), true, nil
		}
		return json.Number(core.FormatDecimal(n, cur)), true, nil
	case tBoolean:
		if blank(raw) {
			return nil, false, nil
		}
		switch b := raw.(type) {
		case bool:
			return b, true, nil
		case int64:
			return b != 0, true, nil
		}
		b, err := strconv.ParseBool(strings.TrimSpace(toText(raw, r.m.loc, r.m.dateLayout)))
		if err != nil {
			return nil, false, fmt.Errorf("%s is not true or false", printable(raw))
		}
		return b, true, nil
	case tEnum:
		key := strings.TrimSpace(toText(raw, r.m.loc, r.m.dateLayout))
		if key == "" {
			return nil, false, nil
		}
		if id, ok := f.enum[key]; ok {
			return id, true, nil
		}
		if f.hasEnumAny {
			return f.enumAny, true, nil
		}
		return nil, false, fmt.Errorf("%s has no id under values: add it, or a \"*\" entry for any other value", printable(key))
	}
	return nil, false, fmt.Errorf("unsupported type %s", f.typ)
}

func blank(v any) bool {
	s, ok := v.(string)
	return v == nil || ok && strings.TrimSpace(s) == ""
}

// truthy decides `when`: a template that prints nothing, "false" or "0" leaves the field out.
func truthy(s string) bool {
	switch strings.TrimSpace(s) {
	case "", "false", "0":
		return false
	}
	return true
}

func lookup(data map[string]any, path []string) any {
	var v any = data
	for _, p := range path {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[p]
	}
	return v
}
