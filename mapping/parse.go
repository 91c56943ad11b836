package mapping

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"text/template"
	"time"
	_ "time/tzdata" // Asia/Yerevan must resolve on hosts without a zoneinfo database

	"gopkg.in/yaml.v3"

	"github.com/paysync/paysync/core"
)

// Defaults of the settings section.
const (
	DefaultTimeZone   = "Asia/Yerevan"
	DefaultCountry    = "374" // Armenia
	DefaultDateFormat = "2006-01-02 15:04"
)

// parser walks the YAML node tree, so that every problem carries its position.
type parser struct {
	file    string
	errs    Errors
	m       *Mapping
	profile Profile // of the declared connector; zero when it is unknown
	funcs   template.FuncMap
}

type entry struct{ key, val *yaml.Node }

// Parse validates a mapping file's contents; filename is used in error positions.
func Parse(filename string, data []byte) (*Mapping, error) {
	p := &parser{file: filename, m: &Mapping{file: filename}}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, Errors{p.yamlError(err)}
	}
	if len(doc.Content) == 0 {
		return nil, Errors{{File: filename, Line: 1, Col: 1, Reason: "empty mapping file: it needs connector, entity, stages and statuses"}}
	}
	root := doc.Content[0]
	top, order := p.mapping(root, "the file") // keys checked once the connector is known
	if top == nil {
		return nil, p.errs.errOrNil()
	}
	if e, ok := top["version"]; ok {
		if v := deref(e.val); v.Kind != yaml.ScalarNode || v.Value != "1" {
			p.errAt(e.val, "version must be 1")
		}
	}
	p.connector(top, root)
	known := recordKeys
	if p.profile.Messages {
		known = messageKeys
	}
	for _, e := range order {
		if !slices.Contains(known, e.key.Value) && !(p.profile.Messages && slices.Contains(recordKeys, e.key.Value)) {
			p.errAt(e.key, "unknown key %s in the file (known: %s)", e.key.Value, strings.Join(known, ", "))
			delete(top, e.key.Value)
		}
	}
	p.settings(top["settings"].val)
	p.funcs = funcMap(p.m.loc, p.m.dateLayout, p.m.country)
	if p.profile.Messages {
		p.messageFile(top, root)
		if len(p.errs) > 0 {
			return nil, p.errs.errOrNil()
		}
		return p.m, nil
	}
	p.stages(top, root)
	p.statuses(top, root)
	if e, ok := top["tags"]; ok {
		p.m.tags = p.templates(e.val, "tags", rootSchema)
	}
	if e, ok := top["entity"]; ok {
		p.m.entity = p.fieldsOf(e.val, "entity", rootSchema)
	} else {
		p.errAt(root, "entity is missing: list the fields of the %s record", p.recordWord())
	}
	if e, ok := top["contact"]; ok {
		if why := p.profile.NoContact; why != "" {
			p.errAt(e.key, "contact does not apply to %s: %s", p.m.connector, why)
		} else {
			p.m.contact = p.fieldsOf(e.val, "contact", rootSchema)
			if p.m.contact == nil {
				p.m.contact = []*field{}
			}
		}
	}
	if sf := p.m.stageField; sf != "" && p.m.entity != nil && !slices.ContainsFunc(p.m.entity, func(f *field) bool { return f.name == sf }) {
		e := deref(top["stages"].val)
		for i := 0; i+1 < len(e.Content); i += 2 {
			if e.Content[i].Value == "field" {
				p.errAt(e.Content[i+1], "stages.field %s is not a field of entity", sf)
			}
		}
	}
	if len(p.errs) > 0 {
		return nil, p.errs.errOrNil()
	}
	return p.m, nil
}

// recordKeys are the top-level keys of a CRM connector's file; messageKeys
// those of a messaging connector's (Profile.Messages).
var (
	recordKeys  = []string{"version", "connector", "settings", "tags", "entity", "contact", "stages", "statuses"}
	messageKeys = []string{"version", "connector", "settings", "languages", "statuses"}
)

// messageFile reads the rest of a messaging connector's file: the languages
// and, for every status, its message in each of them or null.
func (p *parser) messageFile(top map[string]entry, root *yaml.Node) {
	m := p.m
	m.messages = true
	for _, k := range recordKeys {
		if e, ok := top[k]; ok && !slices.Contains(messageKeys, k) {
			p.errAt(e.key, "%s does not apply to %s, which sends a message per status rather than writing a record (keys: %s)",
				k, m.connector, strings.Join(messageKeys, ", "))
		}
	}
	if e, ok := top["languages"]; !ok {
		p.errAt(root, "languages is missing: list the languages the messages are written in, such as [hy, ru, en]")
	} else {
		for _, n := range p.sequence(e.val, "languages") {
			v, ok := p.scalar(n, "a language")
			if !ok {
				continue
			}
			if !languageCode.MatchString(v) {
				p.errAt(n, "language %q must be a two-letter code such as hy, ru or en", v)
				continue
			}
			if slices.Contains(m.languages, v) {
				p.errAt(n, "language %s is listed twice", v)
				continue
			}
			m.languages = append(m.languages, v)
		}
		if len(m.languages) == 0 && len(p.errs) == 0 {
			p.errAt(e.val, "languages is empty: list at least one, such as [en]")
		}
	}
	m.statuses = map[core.Status]*statusRule{}
	e, ok := top["statuses"]
	if !ok {
		p.errAt(root, "statuses is missing: give every payment status (%s) a message, or message: null to send none", statusList())
		return
	}
	_, order := p.mapping(e.val, "statuses")
	for _, se := range order {
		st := core.Status(se.key.Value)
		if !st.Valid() {
			p.errAt(se.key, "unknown status %s (statuses are %s)", st, statusList())
			continue
		}
		rule := &statusRule{pos: pos{se.key.Line, se.key.Column}}
		m.statuses[st] = rule
		body, _ := p.mapping(se.val, "status "+string(st), "message")
		if body == nil {
			continue
		}
		msg, ok := body["message"]
		if !ok {
			p.errAt(se.key, "status %s has no message: give its text in each language, or message: null to send none", st)
			continue
		}
		if n := deref(msg.val); n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
			continue
		}
		texts, _ := p.mapping(msg.val, "statuses."+string(st)+".message")
		if texts == nil {
			continue
		}
		rule.message = map[string]*tmpl{}
		for lang, te := range texts {
			if !slices.Contains(m.languages, lang) {
				p.errAt(te.key, "statuses.%s.message: language %s is not listed in languages (%s)", st, lang, strings.Join(m.languages, ", "))
				continue
			}
			src, ok := p.scalar(te.val, "a message")
			if !ok {
				continue
			}
			t, err := compile("statuses."+string(st)+".message."+lang, src, p.funcs, rootSchema)
			if err != nil {
				p.errAt(te.val, "statuses.%s.message.%s: %v", st, lang, err)
				continue
			}
			rule.message[lang] = t
		}
		for _, lang := range m.languages {
			if _, ok := texts[lang]; !ok {
				p.errAt(msg.key, "statuses.%s.message has no %s text: write one in every language of languages", st, lang)
			}
		}
	}
	for _, st := range core.Statuses {
		if _, ok := m.statuses[st]; !ok {
			p.errAt(e.key, "status %s has no message: add `%s: {message: …}` (message: null sends none)", st, st)
		}
	}
}

var languageCode = regexp.MustCompile(`^[a-z]{2}$`)

var yamlLine = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// yaml.v3 reports parser (not scanner) errors with a 0-based line, that of
// the construct being parsed; these are its parser messages.
var yamlParserProblems = []string{
	"did not find expected <stream-start>", "did not find expected <document start>",
	"did not find expected node content", "did not find expected '-' indicator",
	"did not find expected key", "did not find expected ',' or ']'", "did not find expected ',' or '}'",
	"found undefined tag handle", "found duplicate %YAML directive", "found incompatible YAML document",
	"found duplicate %TAG directive",
}

func (p *parser) yamlError(err error) *Error {
	msg := err.Error()
	if m := yamlLine.FindStringSubmatch(msg); m != nil {
		line, _ := strconv.Atoi(m[1])
		if slices.Contains(yamlParserProblems, m[2]) {
			line++
		}
		return &Error{File: p.file, Line: line, Col: 1, Reason: m[2]}
	}
	return &Error{File: p.file, Line: 1, Col: 1, Reason: strings.TrimPrefix(msg, "yaml: ")}
}

func (p *parser) errAt(n *yaml.Node, format string, args ...any) {
	p.errs = append(p.errs, &Error{File: p.file, Line: n.Line, Col: n.Column, Reason: fmt.Sprintf(format, args...)})
}

// recordWord is what entity describes, as the connector's profile calls it.
func (p *parser) recordWord() string {
	if p.profile.Record != "" {
		return p.profile.Record
	}
	return "CRM"
}

func deref(n *yaml.Node) *yaml.Node {
	for n != nil && n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	return n
}

// mapping reads a YAML mapping and reports what is not one, duplicate keys,
// and, when known is given, unknown keys. It also returns the keys in order.
func (p *parser) mapping(n *yaml.Node, what string, known ...string) (map[string]entry, []entry) {
	n = deref(n)
	if n.Kind != yaml.MappingNode {
		p.errAt(n, "%s must be a mapping of key: value", what)
		return nil, nil
	}
	out := make(map[string]entry, len(n.Content)/2)
	order := make([]entry, 0, len(n.Content)/2)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := deref(n.Content[i]), n.Content[i+1]
		if k.Kind != yaml.ScalarNode || k.Value == "" {
			p.errAt(k, "keys in %s must be non-empty names", what)
			continue
		}
		if _, dup := out[k.Value]; dup {
			p.errAt(k, "%s is defined twice in %s", k.Value, what)
			continue
		}
		if known != nil && !slices.Contains(known, k.Value) {
			p.errAt(k, "unknown key %s in %s (known: %s)", k.Value, what, strings.Join(known, ", "))
			continue
		}
		e := entry{k, v}
		out[k.Value] = e
		order = append(order, e)
	}
	return out, order
}

// scalar returns the node's text, reporting anything that is not a scalar.
func (p *parser) scalar(n *yaml.Node, what string) (string, bool) {
	n = deref(n)
	if n.Kind != yaml.ScalarNode || n.Tag == "!!null" {
		p.errAt(n, "%s must be a single value", what)
		return "", false
	}
	return n.Value, true
}

func (p *parser) sequence(n *yaml.Node, what string) []*yaml.Node {
	n = deref(n)
	if n.Kind != yaml.SequenceNode {
		p.errAt(n, "%s must be a list", what)
		return nil
	}
	out := make([]*yaml.Node, len(n.Content))
	for i, c := range n.Content {
		out[i] = deref(c)
	}
	return out
}

func (p *parser) boolean(n *yaml.Node, what string) bool {
	n = deref(n)
	if n.Kind != yaml.ScalarNode || n.Tag != "!!bool" {
		p.errAt(n, "%s must be true or false", what)
		return false
	}
	b, _ := strconv.ParseBool(n.Value)
	return b
}

func (p *parser) connector(top map[string]entry, root *yaml.Node) {
	e, ok := top["connector"]
	if !ok {
		p.errAt(root, "connector is missing: set it to one of %s", knownConnectors())
		return
	}
	s, ok := p.scalar(e.val, "connector")
	if !ok {
		return
	}
	profile, ok := LookupProfile(s)
	if !ok {
		p.errAt(e.val, "unknown connector %s (known: %s)", s, knownConnectors())
		return
	}
	p.m.connector, p.profile = s, profile
}

func (p *parser) settings(n *yaml.Node) {
	m := p.m
	m.loc, _ = time.LoadLocation(DefaultTimeZone)
	m.dateLayout, m.country = DefaultDateFormat, DefaultCountry
	if n == nil {
		return
	}
	s, _ := p.mapping(n, "settings", "time_zone", "phone_country", "date_format", "currencies")
	if e, ok := s["time_zone"]; ok {
		if v, ok := p.scalar(e.val, "time_zone"); ok {
			loc, err := time.LoadLocation(v)
			if err != nil || v == "" || v == "Local" {
				p.errAt(e.val, "unknown time zone %q: use an IANA name such as Asia/Yerevan or UTC", v)
			} else {
				m.loc = loc
			}
		}
	}
	if e, ok := s["phone_country"]; ok {
		if v, ok := p.scalar(e.val, "phone_country"); ok {
			v = strings.TrimPrefix(v, "+")
			if _, err := strconv.Atoi(v); err != nil || len(v) < 1 || len(v) > 3 || v[0] == '0' {
				p.errAt(e.val, "phone_country must be a country calling code such as 374 (got %q)", v)
			} else {
				m.country = v
			}
		}
	}
	if e, ok := s["date_format"]; ok {
		if v, ok := p.scalar(e.val, "date_format"); ok {
			if v == "" || time.Date(2001, 2, 3, 4, 5, 6, 0, time.UTC).Format(v) == v {
				p.errAt(e.val, "date_format %q holds no date or time: write it as a Go layout such as 02.01.2006 15:04", v)
			} else {
				m.dateLayout = v
			}
		}
	}
	if e, ok := s["currencies"]; ok {
		for _, c := range p.sequence(e.val, "currencies") {
			v, ok := p.scalar(c, "a currency")
			if !ok {
				continue
			}
			if cur, known := core.LookupCurrency(v); !known || cur.Code != v {
				p.errAt(c, "unknown currency %q: use an ISO 4217 code such as AMD", v)
				continue
			}
			m.currencies = append(m.currencies, v)
			m.currPos = append(m.currPos, pos{c.Line, c.Column})
		}
	}
}

func (p *parser) stages(top map[string]entry, root *yaml.Node) {
	m := p.m
	m.rank, m.reopen = map[string]int{}, map[string]bool{}
	e, ok := top["stages"]
	if !ok {
		p.errAt(root, "stages is missing: list the pipeline's stage ids in order under stages.order")
		return
	}
	s, _ := p.mapping(e.val, "stages", "field", "order", "reopen", "unknown")
	if s == nil {
		return
	}
	if f, ok := s["field"]; ok {
		m.stageField, _ = p.scalar(f.val, "stages.field")
	}
	o, ok := s["order"]
	if !ok {
		p.errAt(e.key, "stages.order is missing: list the stage ids, earliest first")
	} else {
		nodes := p.sequence(o.val, "stages.order")
		if nodes != nil && len(nodes) == 0 {
			p.errAt(o.val, "stages.order is empty: list the stage ids, earliest first")
		}
		for _, n := range nodes {
			id, ok := p.scalar(n, "a stage id")
			if !ok {
				continue
			}
			if id == "" {
				p.errAt(n, "a stage id must not be empty")
				continue
			}
			if _, dup := m.rank[id]; dup {
				p.errAt(n, "stage %s is listed twice in stages.order", id)
				continue
			}
			m.rank[id] = len(m.stages)
			m.stages = append(m.stages, id)
			m.stagePos = append(m.stagePos, pos{n.Line, n.Column})
		}
	}
	if r, ok := s["reopen"]; ok {
		for _, n := range p.sequence(r.val, "stages.reopen") {
			if id, ok := p.scalar(n, "a stage id"); ok {
				if _, known := m.rank[id]; !known && o.val != nil {
					p.errAt(n, "unknown stage %s in stages.reopen: list it in stages.order first", id)
				}
				m.reopen[id] = true
			}
		}
	}
	if u, ok := s["unknown"]; ok {
		switch v, _ := p.scalar(u.val, "stages.unknown"); v {
		case "keep":
		case "move":
			m.unknownMove = true
		default:
			p.errAt(u.val, "stages.unknown must be keep or move (got %q)", v)
		}
	}
}

func (p *parser) statuses(top map[string]entry, root *yaml.Node) {
	m := p.m
	m.statuses = map[core.Status]*statusRule{}
	e, ok := top["statuses"]
	if !ok {
		p.errAt(root, "statuses is missing: map every payment status (%s) to a stage", statusList())
		return
	}
	_, order := p.mapping(e.val, "statuses")
	noteScope := rootSchema.with(map[string]*schema{"transition": transitionSchema})
	for _, se := range order {
		st := core.Status(se.key.Value)
		if !st.Valid() {
			p.errAt(se.key, "unknown status %s (statuses are %s)", st, statusList())
			continue
		}
		rule := &statusRule{pos: pos{se.key.Line, se.key.Column}}
		m.statuses[st] = rule
		body, _ := p.mapping(se.val, "status "+string(st), "stage", "note", "tags")
		if body == nil {
			continue
		}
		stage, ok := body["stage"]
		switch {
		case !ok:
			p.errAt(se.key, "status %s has no stage: set stage to one of stages.order, or to null to keep the current stage", st)
		case deref(stage.val).Kind == yaml.ScalarNode && deref(stage.val).Tag == "!!null":
		default:
			if id, ok := p.scalar(stage.val, "stage"); ok {
				if _, known := m.rank[id]; !known && len(m.rank) > 0 {
					p.errAt(stage.val, "unknown stage %s for status %s: list it in stages.order", id, st)
				}
				rule.stage = id
			}
		}
		if n, ok := body["note"]; ok {
			if src, ok := p.scalar(n.val, "note"); ok {
				t, err := compile("statuses."+string(st)+".note", src, p.funcs, noteScope)
				if err != nil {
					p.errAt(n.val, "statuses.%s.note: %v", st, err)
				}
				rule.note = t
			}
		}
		if t, ok := body["tags"]; ok {
			rule.tags = p.templates(t.val, "statuses."+string(st)+".tags", rootSchema)
		}
	}
	for _, st := range core.Statuses {
		if _, ok := m.statuses[st]; !ok {
			p.errAt(e.key, "status %s is not mapped: add `%s: {stage: …}` (stage: null keeps the current stage)", st, st)
		}
	}
}

func statusList() string {
	names := make([]string, len(core.Statuses))
	for i, s := range core.Statuses {
		names[i] = string(s)
	}
	return strings.Join(names, ", ")
}

func (p *parser) templates(n *yaml.Node, what string, scope *schema) []*tmpl {
	var out []*tmpl
	for i, c := range p.sequence(n, what) {
		src, ok := p.scalar(c, "a tag")
		if !ok {
			continue
		}
		t, err := compile(fmt.Sprintf("%s[%d]", what, i), src, p.funcs, scope)
		if err != nil {
			p.errAt(c, "%v", err)
			continue
		}
		out = append(out, t)
	}
	return out
}

// fieldsOf compiles an object's fields in file order.
func (p *parser) fieldsOf(n *yaml.Node, path string, scope *schema) []*field {
	_, order := p.mapping(n, path)
	if order != nil && len(order) == 0 {
		p.errAt(n, "%s has no fields", path)
	}
	out := make([]*field, 0, len(order))
	for _, e := range order {
		if f := p.field(e.key, e.val, path+"."+e.key.Value, scope); f != nil {
			f.name = e.key.Value
			out = append(out, f)
		}
	}
	return out
}

var fieldKeys = []string{"type", "source", "template", "value", "default", "when", "omit_empty",
	"max_length", "units", "currency", "values", "items", "for_each", "item", "fields"}

// typeKeys lists the keys each type accepts besides type, when and omit_empty.
var typeKeys = map[ftype][]string{
	tString:  {"source", "template", "value", "default", "max_length"},
	tInteger: {"source", "template", "value", "default", "units", "currency"},
	tDecimal: {"source", "template", "value", "default", "currency"},
	tBoolean: {"source", "template", "value", "default"},
	tEnum:    {"source", "template", "value", "default", "values"},
	tList:    {"items", "for_each", "item"},
	tObject:  {"fields"},
}

// field compiles one field spec. at is where errors about the field as a whole point.
func (p *parser) field(at, n *yaml.Node, path string, scope *schema) *field {
	spec, _ := p.mapping(n, path, fieldKeys...)
	if spec == nil {
		return nil
	}
	f := &field{pos: pos{at.Line, at.Column}, path: path, currency: []string{"currency"}}
	if e, ok := spec["type"]; ok {
		name, _ := p.scalar(e.val, "type")
		t, known := typeNames[name]
		if !known {
			p.errAt(e.val, "%s: unknown type %q (types: string, integer, decimal, boolean, enum, list, object)", path, name)
			return nil
		}
		f.typ = t
	}
	for k, e := range spec {
		if k != "type" && k != "when" && k != "omit_empty" && !slices.Contains(typeKeys[f.typ], k) {
			p.errAt(e.key, "%s: %s does not apply to a %s field", path, k, f.typ)
		}
	}
	if e, ok := spec["omit_empty"]; ok {
		f.omitEmpty = p.boolean(e.val, "omit_empty")
	}
	if e, ok := spec["when"]; ok {
		f.when = p.template(e.val, path+".when", scope)
	}
	switch f.typ {
	case tObject:
		e, ok := spec["fields"]
		if !ok {
			p.errAt(at, "%s: an object needs fields", path)
			return f
		}
		f.fields = p.fieldsOf(e.val, path, scope)
		return f
	case tList:
		p.listSpec(f, at, spec, scope)
		return f
	}
	p.scalarSpec(f, at, spec, scope)
	return f
}

func (p *parser) listSpec(f *field, at *yaml.Node, spec map[string]entry, scope *schema) {
	items, hasItems := spec["items"]
	each, hasEach := spec["for_each"]
	item, hasItem := spec["item"]
	switch {
	case hasItems && hasEach:
		p.errAt(each.key, "%s: use items or for_each, not both", f.path)
	case hasItems:
		for i, n := range p.sequence(items.val, f.path+".items") {
			if el := p.field(n, n, fmt.Sprintf("%s[%d]", f.path, i), scope); el != nil {
				f.items = append(f.items, el)
			}
		}
		if hasItem {
			p.errAt(item.key, "%s: item goes with for_each; with items, list each element", f.path)
		}
	case hasEach:
		src, ok := p.scalar(each.val, "for_each")
		if !ok {
			return
		}
		path := strings.Split(src, ".")
		s, why := scope.resolve(path)
		switch {
		case why != "":
			p.errAt(each.val, "%s: %s", f.path, why)
			return
		case s.kind != kList:
			p.errAt(each.val, "%s: for_each needs a list (items or tags); %s is %s", f.path, src, s.kind)
			return
		}
		f.forEach = path
		if !hasItem {
			p.errAt(each.key, "%s: for_each needs an item spec for each element", f.path)
			return
		}
		inner := scope.with(map[string]*schema{"item": s.elem, "index": sInt})
		f.item = p.field(item.key, item.val, f.path+"[]", inner)
	default:
		p.errAt(at, "%s: a list needs items (fixed elements) or for_each with item", f.path)
	}
}

func (p *parser) scalarSpec(f *field, at *yaml.Node, spec map[string]entry, scope *schema) {
	var producers []string
	for _, k := range []string{"source", "template", "value"} {
		if _, ok := spec[k]; ok {
			producers = append(producers, k)
		}
	}
	switch len(producers) {
	case 0:
		p.errAt(at, "%s has no value: set one of source, template or value", f.path)
	case 1:
	default:
		last := spec[producers[0]].key
		for _, k := range producers[1:] {
			if n := spec[k].key; n.Line > last.Line || n.Line == last.Line && n.Column > last.Column {
				last = n
			}
		}
		p.errAt(last, "%s: use only one of source, template and value (found %s)", f.path, strings.Join(producers, " and "))
	}
	if f.typ == tEnum {
		p.enumValues(f, at, spec)
	}
	if e, ok := spec["units"]; ok {
		switch v, _ := p.scalar(e.val, "units"); v {
		case "major":
			f.major = true
		case "minor":
		default:
			p.errAt(e.val, "%s: units must be minor or major (got %q)", f.path, v)
		}
	}
	if e, ok := spec["currency"]; ok {
		if src, ok := p.scalar(e.val, "currency"); ok {
			path := strings.Split(src, ".")
			if s, why := scope.resolve(path); why != "" {
				p.errAt(e.val, "%s: %s", f.path, why)
			} else if s.kind != kString && s.kind != kAny {
				p.errAt(e.val, "%s: currency must name a currency code source such as currency; %s is %s", f.path, src, s.kind)
			}
			f.currency = path
		}
	}
	if e, ok := spec["max_length"]; ok {
		v, _ := p.scalar(e.val, "max_length")
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n <= 0 {
			p.errAt(e.val, "%s: max_length must be a positive number of characters", f.path)
		}
		f.maxLen = n
	}
	if e, ok := spec["source"]; ok {
		if src, ok := p.scalar(e.val, "source"); ok {
			path := strings.Split(src, ".")
			s, why := scope.resolve(path)
			if why != "" {
				p.errAt(e.val, "%s: %s", f.path, why)
			} else if why := sourceFits(f.typ, s.kind, src); why != "" {
				p.errAt(e.val, "%s: %s", f.path, why)
			}
			f.source = path
		}
	}
	if f.typ == tEnum && f.enum != nil && !f.hasEnumAny && len(f.source) == 1 && f.source[0] == "status" {
		// Every status reaches every connector: one without an id would
		// fail each delivery of an order in it.
		for _, st := range core.Statuses {
			if _, ok := f.enum[string(st)]; !ok {
				p.errAt(spec["values"].val, "%s: status %s has no id under values: add it, or a \"*\" entry for any other status", f.path, st)
			}
		}
	}
	if e, ok := spec["template"]; ok {
		f.tmpl = p.template(e.val, f.path, scope)
	}
	if e, ok := spec["value"]; ok {
		f.value, f.hasValue = p.literal(f, e.val, "value")
	}
	if e, ok := spec["default"]; ok {
		f.def, f.hasDef = p.literal(f, e.val, "default")
	}
}

func (p *parser) template(n *yaml.Node, path string, scope *schema) *tmpl {
	src, ok := p.scalar(n, path)
	if !ok {
		return nil
	}
	t, err := compile(path, src, p.funcs, scope)
	if err != nil {
		p.errAt(n, "%s: %v", path, err)
		return nil
	}
	return t
}

// sourceFits reports why a source of kind k cannot feed a field of type t.
func sourceFits(t ftype, k kind, src string) string {
	if k == kObject || k == kMap || k == kList {
		return fmt.Sprintf("source %s is %s: pick one of its fields, or use a template", src, k)
	}
	switch t {
	case tInteger:
		if k == kTime || k == kBool {
			return fmt.Sprintf("an integer field cannot take %s, which is %s", src, k)
		}
	case tDecimal:
		if k != kInt && k != kAny {
			return fmt.Sprintf("a decimal field takes an amount in minor units (amount_minor, refunded_minor); %s is %s", src, k)
		}
	case tBoolean:
		if k == kTime || k == kInt {
			return fmt.Sprintf("a boolean field cannot take %s, which is %s", src, k)
		}
	}
	return ""
}

// literal converts a value: or default: scalar to the field's type, at load,
// so that a type error is a load error. Strings keep the YAML text verbatim.
func (p *parser) literal(f *field, n *yaml.Node, what string) (any, bool) {
	n = deref(n)
	if n.Kind != yaml.ScalarNode {
		p.errAt(n, "%s: %s must be a single value", f.path, what)
		return nil, false
	}
	switch f.typ {
	case tString:
		if n.Tag == "!!null" {
			return "", true
		}
		return n.Value, true
	case tInteger, tDecimal:
		if n.Tag != "!!int" {
			if f.typ == tDecimal && n.Tag == "!!float" {
				p.errAt(n, "%s: write decimal %ss in minor units as an integer (1500000 for 15000.00)", f.path, what)
			} else {
				p.errAt(n, "%s: %s %q is not an integer", f.path, what, n.Value)
			}
			return nil, false
		}
		var v int64
		if err := n.Decode(&v); err != nil {
			p.errAt(n, "%s: %s %q is not a 64-bit integer", f.path, what, n.Value)
			return nil, false
		}
		return v, true
	case tBoolean:
		if n.Tag != "!!bool" {
			p.errAt(n, "%s: %s %q is not true or false", f.path, what, n.Value)
			return nil, false
		}
		var b bool
		_ = n.Decode(&b)
		return b, true
	case tEnum:
		// An enum's value/default is a key to look up, which must have an id.
		if _, ok := f.enum[n.Value]; !ok && !f.hasEnumAny && f.enum != nil {
			p.errAt(n, "%s: %s %q has no id under values", f.path, what, n.Value)
			return nil, false
		}
		return n.Value, true
	}
	return nil, false
}

func (p *parser) enumValues(f *field, at *yaml.Node, spec map[string]entry) {
	e, ok := spec["values"]
	if !ok {
		p.errAt(at, "%s: an enum needs values: the CRM's id for each value", f.path)
		return
	}
	_, order := p.mapping(e.val, f.path+".values")
	if len(order) == 0 {
		if order != nil {
			p.errAt(e.val, "%s: values is empty", f.path)
		}
		return
	}
	f.enum = make(map[string]any, len(order))
	for i, kv := range order {
		v := deref(kv.val)
		var id any
		switch {
		case v.Kind != yaml.ScalarNode || v.Tag == "!!null" || v.Value == "":
			p.errAt(kv.val, "%s: the id of %s must be a number or a string", f.path, kv.key.Value)
			continue
		case v.Tag == "!!int":
			var n int64
			if err := v.Decode(&n); err != nil {
				p.errAt(v, "%s: id %s is not a 64-bit integer", f.path, v.Value)
				continue
			}
			id = n
		case v.Tag == "!!str":
			id = v.Value
		default:
			p.errAt(v, "%s: id %s must be an integer or a quoted string", f.path, v.Value)
			continue
		}
		_, numeric := id.(int64)
		if i == 0 {
			f.enumNumeric = numeric
		} else if numeric != f.enumNumeric {
			p.errAt(v, "%s: ids must all be numbers or all be strings; %s differs", f.path, v.Value)
			continue
		}
		if kv.key.Value == "*" {
			f.enumAny, f.hasEnumAny = id, true
			continue
		}
		f.enum[kv.key.Value] = id
	}
}
