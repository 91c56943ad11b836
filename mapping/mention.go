package mapping

import (
	"fmt"
	"slices"
	"strconv"
)

// Pos is a place in a mapping file: line and column, from 1.
type Pos struct{ Line, Col int }

// Mention is one thing the file names (a field, a stage, a currency, an id)
// and where it names it. A connector's account check (`paysync connectors
// check`) compares mentions with what the CRM account has and words each
// mismatch in its CRM's terms, pointing at the mention with Problem.
type Mention struct {
	Value string
	Pos
}

// Problem formats a problem found at p as `file:line:col: reason`, the shape
// of every load error, so that a person can go to the line and fix it.
func (m *Mapping) Problem(p Pos, format string, args ...any) string {
	return fmt.Sprintf("%s:%d:%d: ", m.file, p.Line, p.Col) + fmt.Sprintf(format, args...)
}

// EntityFieldsAt lists the entity's top-level fields in file order: the
// CRM's field names (deal fields, header texts) as the file gives them.
func (m *Mapping) EntityFieldsAt() []Mention {
	out := make([]Mention, len(m.entity))
	for i, f := range m.entity {
		out[i] = Mention{f.name, f.pos.exported()}
	}
	return out
}

// StagesAt lists stages.order, earliest first.
func (m *Mapping) StagesAt() []Mention {
	out := make([]Mention, len(m.stages))
	for i, s := range m.stages {
		out[i] = Mention{s, m.stagePos[i].exported()}
	}
	return out
}

// CurrenciesAt lists settings.currencies in file order.
func (m *Mapping) CurrenciesAt() []Mention {
	out := make([]Mention, len(m.currencies))
	for i, c := range m.currencies {
		out[i] = Mention{c, m.currPos[i].exported()}
	}
	return out
}

// IntegerValuesOf lists the constant integer values (`value:`) of every
// entity field named name, at any depth, once per value and sorted as text;
// of a value given twice, the later place counts. A CRM whose custom fields
// are written by id (`field_id: {type: integer, value: 1093765}`) finds
// here the ids the file needs.
func (m *Mapping) IntegerValuesOf(name string) []Mention {
	at := map[string]pos{}
	integerValues(m.entity, name, at)
	keys := make([]string, 0, len(at))
	for k := range at {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	out := make([]Mention, len(keys))
	for i, k := range keys {
		out[i] = Mention{k, at[k].exported()}
	}
	return out
}

func integerValues(fields []*field, name string, at map[string]pos) {
	for _, f := range fields {
		if f.name == name && f.hasValue {
			if n, ok := f.value.(int64); ok {
				at[strconv.FormatInt(n, 10)] = f.pos
			}
		}
		integerValues(f.fields, name, at)
		integerValues(f.items, name, at)
		if f.item != nil {
			integerValues([]*field{f.item}, name, at)
		}
	}
}

func (p pos) exported() Pos { return Pos{Line: p.line, Col: p.col} }
