package bitrix24

import (
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"
)

// entity is a stored deal or contact. Scalars are stored as the strings the
// portal returns; CONTACT_IDS as ints; PHONE, EMAIL, WEB and IM as comms.
type entity struct {
	id     int
	fields map[string]any
}

type comm struct {
	ID        int
	Type      string // PHONE, EMAIL, WEB, IM
	Value     string
	ValueType string // WORK, MOBILE, TELEGRAM, OTHER, …
}

type fieldDef struct {
	name       string
	typ        string
	title      string
	readOnly   bool
	immutable  bool
	multiple   bool
	statusType string
}

var dealFieldDefs = []fieldDef{
	{name: "ID", typ: "integer", title: "ID", readOnly: true},
	{name: "TITLE", typ: "string", title: "Name"},
	{name: "TYPE_ID", typ: "crm_status", title: "Type", statusType: "DEAL_TYPE"},
	{name: "CATEGORY_ID", typ: "crm_category", title: "Pipeline", immutable: true},
	{name: "STAGE_ID", typ: "crm_status", title: "Deal stage", statusType: "DEAL_STAGE"},
	{name: "STAGE_SEMANTIC_ID", typ: "string", title: "Stage group", readOnly: true},
	{name: "IS_NEW", typ: "char", title: "New deal", readOnly: true},
	{name: "PROBABILITY", typ: "integer", title: "Probability"},
	{name: "CURRENCY_ID", typ: "crm_currency", title: "Currency"},
	{name: "OPPORTUNITY", typ: "double", title: "Amount"},
	{name: "IS_MANUAL_OPPORTUNITY", typ: "char", title: "IS_MANUAL_OPPORTUNITY"},
	{name: "TAX_VALUE", typ: "double", title: "Tax rate"},
	{name: "COMPANY_ID", typ: "crm_company", title: "Company"},
	{name: "CONTACT_ID", typ: "crm_contact", title: "Contact"},
	{name: "CONTACT_IDS", typ: "crm_contact", title: "Contacts", multiple: true},
	{name: "BEGINDATE", typ: "date", title: "Start date"},
	{name: "CLOSEDATE", typ: "date", title: "End date"},
	{name: "OPENED", typ: "char", title: "Available to everyone"},
	{name: "CLOSED", typ: "char", title: "Closed"},
	{name: "COMMENTS", typ: "string", title: "Comment"},
	{name: "ASSIGNED_BY_ID", typ: "user", title: "Responsible person"},
	{name: "CREATED_BY_ID", typ: "user", title: "Created by", readOnly: true},
	{name: "MODIFY_BY_ID", typ: "user", title: "Modified by", readOnly: true},
	{name: "DATE_CREATE", typ: "datetime", title: "Created on", readOnly: true},
	{name: "DATE_MODIFY", typ: "datetime", title: "Modified on", readOnly: true},
	{name: "SOURCE_ID", typ: "crm_status", title: "Source", statusType: "SOURCE"},
	{name: "SOURCE_DESCRIPTION", typ: "string", title: "Source information"},
	{name: "ADDITIONAL_INFO", typ: "string", title: "Additional information"},
	{name: "ORIGINATOR_ID", typ: "string", title: "External source"},
	{name: "ORIGIN_ID", typ: "string", title: "Item ID in data source"},
	{name: "UTM_SOURCE", typ: "string", title: "Ad system"},
	{name: "UTM_MEDIUM", typ: "string", title: "Traffic type"},
	{name: "UTM_CAMPAIGN", typ: "string", title: "Ad campaign UTM"},
	{name: "UTM_CONTENT", typ: "string", title: "Campaign contents"},
	{name: "UTM_TERM", typ: "string", title: "Campaign search term"},
}

var contactFieldDefs = []fieldDef{
	{name: "ID", typ: "integer", title: "ID", readOnly: true},
	{name: "HONORIFIC", typ: "crm_status", title: "Salutation", statusType: "HONORIFIC"},
	{name: "NAME", typ: "string", title: "First name"},
	{name: "SECOND_NAME", typ: "string", title: "Second name"},
	{name: "LAST_NAME", typ: "string", title: "Last name"},
	{name: "BIRTHDATE", typ: "date", title: "Date of birth"},
	{name: "TYPE_ID", typ: "crm_status", title: "Contact type", statusType: "CONTACT_TYPE"},
	{name: "SOURCE_ID", typ: "crm_status", title: "Source", statusType: "SOURCE"},
	{name: "SOURCE_DESCRIPTION", typ: "string", title: "Source information"},
	{name: "POST", typ: "string", title: "Position"},
	{name: "COMMENTS", typ: "string", title: "Comment"},
	{name: "OPENED", typ: "char", title: "Available to everyone"},
	{name: "EXPORT", typ: "char", title: "Included in export"},
	{name: "HAS_PHONE", typ: "char", title: "Has phone", readOnly: true},
	{name: "HAS_EMAIL", typ: "char", title: "Has email", readOnly: true},
	{name: "HAS_IMOL", typ: "char", title: "Has Open Channel", readOnly: true},
	{name: "ASSIGNED_BY_ID", typ: "user", title: "Responsible person"},
	{name: "CREATED_BY_ID", typ: "user", title: "Created by", readOnly: true},
	{name: "MODIFY_BY_ID", typ: "user", title: "Modified by", readOnly: true},
	{name: "DATE_CREATE", typ: "datetime", title: "Created on", readOnly: true},
	{name: "DATE_MODIFY", typ: "datetime", title: "Modified on", readOnly: true},
	{name: "COMPANY_ID", typ: "crm_company", title: "Company"},
	{name: "ORIGINATOR_ID", typ: "string", title: "External source"},
	{name: "ORIGIN_ID", typ: "string", title: "Item ID in data source"},
	{name: "UTM_SOURCE", typ: "string", title: "Ad system"},
	{name: "UTM_MEDIUM", typ: "string", title: "Traffic type"},
	{name: "UTM_CAMPAIGN", typ: "string", title: "Ad campaign UTM"},
	{name: "UTM_CONTENT", typ: "string", title: "Campaign contents"},
	{name: "UTM_TERM", typ: "string", title: "Campaign search term"},
	{name: "PHONE", typ: "crm_multifield", title: "Phone", multiple: true},
	{name: "EMAIL", typ: "crm_multifield", title: "E-mail", multiple: true},
	{name: "WEB", typ: "crm_multifield", title: "Website", multiple: true},
	{name: "IM", typ: "crm_multifield", title: "Messenger", multiple: true},
}

var commTypes = map[string][]string{
	"PHONE": {"WORK", "MOBILE", "FAX", "HOME", "PAGER", "MAILING", "OTHER"},
	"EMAIL": {"WORK", "HOME", "MAILING", "OTHER"},
	"WEB":   {"WORK", "HOME", "FACEBOOK", "VK", "LIVEJOURNAL", "TWITTER", "OTHER"},
	// Bitrix24 has no Instagram IM type: keep handles under OTHER or a UF_CRM_* field.
	"IM": {"FACEBOOK", "TELEGRAM", "VK", "SKYPE", "VIBER", "ICQ", "MSN", "JABBER", "OPENLINE", "IMOL", "OTHER"},
}

func (p *Portal) defs(kind string) []fieldDef {
	base := dealFieldDefs
	if kind == "contact" {
		base = contactFieldDefs
	}
	out := append([]fieldDef(nil), base...)
	for _, uf := range p.userFields {
		typ := "string"
		if _, isList := p.listFields[uf]; isList {
			typ = "enumeration"
		}
		out = append(out, fieldDef{name: uf, typ: typ, title: uf})
	}
	return out
}

func (p *Portal) def(kind, name string) (fieldDef, bool) {
	for _, d := range p.defs(kind) {
		if d.name == name {
			return d, true
		}
	}
	return fieldDef{}, false
}

// writeFields applies submitted fields to e. Unknown, read-only and (on
// update) immutable fields are silently ignored, as the portal does.
func (p *Portal) writeFields(kind string, e *entity, in *omap, update bool) *apiError {
	for _, k := range in.Keys() {
		v := in.vals[k]
		d, ok := p.def(kind, k)
		if !ok || d.readOnly || (update && d.immutable) {
			continue
		}
		switch {
		case d.typ == "crm_multifield":
			p.writeComms(e, k, v)
		case k == "CONTACT_IDS":
			var ids []int
			for _, x := range list(v) {
				if n, ok := toInt(x); ok && n > 0 {
					ids = append(ids, n)
				}
			}
			e.fields["CONTACT_IDS"] = ids
		case k == "CONTACT_ID":
			if n, ok := toInt(v); ok && n > 0 {
				e.fields["CONTACT_IDS"] = []int{n}
			} else {
				delete(e.fields, "CONTACT_IDS")
			}
		case k == "CURRENCY_ID":
			c := strings.ToUpper(strings.TrimSpace(str(v)))
			if c != "" && !p.currencies[c] {
				return errCurrency
			}
			if c == "" {
				c = p.opts.BaseCurrency
			}
			e.fields[k] = c
		case d.typ == "enumeration":
			// Stricter than a portal, which is said to drop an item id it
			// does not know: a mapping with another portal's ids is caught
			// here (connectors check lists the items).
			s := strings.TrimSpace(str(v))
			if s != "" && !slices.ContainsFunc(p.listFields[k], func(it ListItem) bool { return it.ID == s }) {
				return methodError(`Invalid value for the "` + d.title + `" field: ` + s + ` is not one of its list items`)
			}
			e.fields[k] = s
		case d.typ == "double":
			s := strings.TrimSpace(str(v))
			if s == "" {
				e.fields[k] = "0.00"
				continue
			}
			f, err := strconv.ParseFloat(s, 64)
			if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
				return methodError(`Invalid value for the "` + d.title + `" field`)
			}
			e.fields[k] = strconv.FormatFloat(f, 'f', 2, 64)
		case d.typ == "integer" || d.typ == "user" || d.typ == "crm_category" || d.typ == "crm_company":
			s := strings.TrimSpace(str(v))
			if s == "" {
				delete(e.fields, k)
				continue
			}
			n, ok := toInt(s)
			if !ok {
				return methodError(`Invalid value for the "` + d.title + `" field`)
			}
			e.fields[k] = strconv.Itoa(n)
		default:
			if _, isList := v.([]any); isList {
				continue
			}
			if object(v) != nil {
				continue
			}
			e.fields[k] = str(v)
		}
	}
	return nil
}

// writeComms replaces or extends a multi-field. Items with an ID update that
// item (an empty VALUE deletes it); items without one are added.
func (p *Portal) writeComms(e *entity, typ string, v any) {
	cur, _ := e.fields[typ].([]comm)
	for _, item := range list(v) {
		m := object(item)
		if m == nil {
			// A bare string is accepted as a value of type WORK.
			if s := str(item); s != "" {
				cur = append(cur, comm{ID: p.nextComm, Type: typ, Value: s, ValueType: "WORK"})
				p.nextComm++
			}
			continue
		}
		val, _ := m.Get("VALUE")
		vt, _ := m.Get("VALUE_TYPE")
		valueType := strings.ToUpper(str(vt))
		if !validCommType(typ, valueType) {
			valueType = "OTHER"
			if typ == "PHONE" || typ == "EMAIL" {
				valueType = "WORK"
			}
		}
		if idv, ok := m.Get("ID"); ok {
			id, _ := toInt(idv)
			for i := range cur {
				if cur[i].ID == id {
					if str(val) == "" {
						cur = append(cur[:i], cur[i+1:]...)
					} else {
						cur[i].Value, cur[i].ValueType = str(val), valueType
					}
					break
				}
			}
			continue
		}
		if str(val) == "" {
			continue
		}
		cur = append(cur, comm{ID: p.nextComm, Type: typ, Value: str(val), ValueType: valueType})
		p.nextComm++
	}
	e.fields[typ] = cur
}

func validCommType(typ, vt string) bool {
	for _, t := range commTypes[typ] {
		if t == vt {
			return true
		}
	}
	return false
}

// output renders e the way get and list answer: every scalar as a string,
// empty ones as null, multi-fields as arrays of {ID,VALUE_TYPE,VALUE,TYPE_ID}.
// sel nil means every field.
func (p *Portal) output(kind string, e *entity, sel func(fieldDef) bool) *omap {
	out := newOmap()
	for _, d := range p.defs(kind) {
		if sel != nil && !sel(d) && d.name != "ID" {
			continue
		}
		switch {
		case d.name == "ID":
			out.Set("ID", strconv.Itoa(e.id))
		case d.name == "CONTACT_IDS":
			// Not returned by get/list; crm.deal.contact.items.get reads it.
		case d.name == "CONTACT_ID":
			if ids, _ := e.fields["CONTACT_IDS"].([]int); len(ids) > 0 {
				out.Set("CONTACT_ID", strconv.Itoa(ids[0]))
			} else {
				out.Set("CONTACT_ID", nil)
			}
		case d.typ == "crm_multifield":
			cs, _ := e.fields[d.name].([]comm)
			if len(cs) == 0 {
				continue
			}
			items := make([]any, 0, len(cs))
			for _, c := range cs {
				m := newOmap()
				m.Set("ID", strconv.Itoa(c.ID))
				m.Set("VALUE_TYPE", c.ValueType)
				m.Set("VALUE", c.Value)
				m.Set("TYPE_ID", c.Type)
				items = append(items, m)
			}
			out.Set(d.name, items)
		default:
			if s, ok := e.fields[d.name].(string); ok {
				out.Set(d.name, s)
			} else {
				out.Set(d.name, nil)
			}
		}
	}
	return out
}

// values returns what filters compare for one field of e.
func (e *entity) values(field string) []string {
	if field == "ID" {
		return []string{strconv.Itoa(e.id)}
	}
	switch v := e.fields[field].(type) {
	case string:
		return []string{v}
	case []int:
		out := make([]string, len(v))
		for i, n := range v {
			out[i] = strconv.Itoa(n)
		}
		return out
	case []comm:
		out := make([]string, len(v))
		for i, c := range v {
			out[i] = c.Value
		}
		return out
	}
	if field == "CONTACT_ID" {
		if ids, _ := e.fields["CONTACT_IDS"].([]int); len(ids) > 0 {
			return []string{strconv.Itoa(ids[0])}
		}
	}
	return []string{""}
}

var filterOps = []string{">=", "<=", "!=", "!@", "!%", "@", ">", "<", "=", "%", "!"}

// matches applies a list filter: every key must match. Keys carry an
// operator prefix (`>=ID`, `@ID`, `=ORIGIN_ID`, `%TITLE`, `!STAGE_ID`).
func matches(valuesOf func(string) []string, filter *omap) bool {
	for _, key := range filter.Keys() {
		op, field := "", key
		for _, o := range filterOps {
			if strings.HasPrefix(key, o) {
				op, field = o, key[len(o):]
				break
			}
		}
		have := valuesOf(strings.ToUpper(field))
		var want []string
		for _, w := range list(filter.vals[key]) {
			want = append(want, str(w))
		}
		if len(want) == 0 {
			want = []string{""}
		}
		phone := strings.ToUpper(field) == "PHONE"
		if !matchOp(op, have, want, phone) {
			return false
		}
	}
	return true
}

func matchOp(op string, have, want []string, phone bool) bool {
	anyPair := func(f func(h, w string) bool) bool {
		for _, h := range have {
			for _, w := range want {
				if f(h, w) {
					return true
				}
			}
		}
		return false
	}
	eq := func(h, w string) bool {
		if phone {
			return digits(h) != "" && digits(h) == digits(w)
		}
		return compare(h, w) == 0
	}
	switch op {
	case "", "=", "@":
		return anyPair(eq)
	case "!", "!=", "!@":
		return !anyPair(eq)
	case "%":
		return anyPair(func(h, w string) bool { return strings.Contains(strings.ToLower(h), strings.ToLower(w)) })
	case "!%":
		return !anyPair(func(h, w string) bool { return strings.Contains(strings.ToLower(h), strings.ToLower(w)) })
	case ">":
		return anyPair(func(h, w string) bool { return h != "" && compare(h, w) > 0 })
	case ">=":
		return anyPair(func(h, w string) bool { return h != "" && compare(h, w) >= 0 })
	case "<":
		return anyPair(func(h, w string) bool { return h != "" && compare(h, w) < 0 })
	case "<=":
		return anyPair(func(h, w string) bool { return h != "" && compare(h, w) <= 0 })
	}
	return false
}

// compare orders numerically when both sides are numbers, else as
// case-insensitive strings.
func compare(a, b string) int {
	fa, ea := strconv.ParseFloat(a, 64)
	fb, eb := strconv.ParseFloat(b, 64)
	if ea == nil && eb == nil {
		switch {
		case fa < fb:
			return -1
		case fa > fb:
			return 1
		}
		return 0
	}
	return strings.Compare(strings.ToLower(a), strings.ToLower(b))
}

func digits(s string) string {
	var b strings.Builder
	for _, r := range s {
		if r >= '0' && r <= '9' {
			b.WriteRune(r)
		}
	}
	return b.String()
}

// listEntities runs a list method over the stored entities of one kind.
func (p *Portal) listEntities(kind string, params *omap) (callResult, *apiError) {
	ids, store := p.dealIDs, p.deals
	if kind == "contact" {
		ids, store = p.contactIDs, p.contacts
	}
	for _, name := range []string{"filter", "order"} {
		// As the portal: a filter or an order that is not an array (a
		// JSON object or list) is refused, not ignored.
		if v, ok := params.Get(name); ok && v != nil && object(v) == nil {
			return callResult{}, methodError("Parameter '" + name + "' must be array.")
		}
	}
	fv, _ := params.Get("filter")
	filter := object(fv)
	var rows []*entity
	for _, id := range ids {
		e := store[id]
		if filter == nil || matches(e.values, filter) {
			rows = append(rows, e)
		}
	}
	ov, _ := params.Get("order")
	if order := object(ov); order.Len() > 0 {
		sort.SliceStable(rows, func(i, j int) bool {
			for _, k := range order.Keys() {
				c := compare(rows[i].values(strings.ToUpper(k))[0], rows[j].values(strings.ToUpper(k))[0])
				if strings.EqualFold(str(order.vals[k]), "DESC") {
					c = -c
				}
				if c != 0 {
					return c < 0
				}
			}
			return false
		})
	}
	sv, _ := params.Get("select")
	sel := selector(list(sv))
	startV, _ := params.Get("start")
	start, _ := toInt(startV)
	if start == -1 {
		// No count: the first page, without total or next (the caller
		// pages by filter, e.g. >ID the last one seen).
		out := []any{}
		for i := 0; i < len(rows) && i < PageSize; i++ {
			out = append(out, p.output(kind, rows[i], sel))
		}
		return callResult{result: out}, nil
	}
	if start < 0 {
		start = 0
	}
	total := len(rows)
	out := []any{}
	for i := start; i < len(rows) && i < start+PageSize; i++ {
		out = append(out, p.output(kind, rows[i], sel))
	}
	res := callResult{result: out, total: &total, counted: len(ids)} // counting scans the table
	if start+PageSize < total {
		n := start + PageSize
		res.next = &n
	}
	return res, nil
}

// selector turns a select list into a field predicate: none or "*" means the
// standard fields; "UF_*" adds user fields; multi-fields only when named.
func selector(sel []any) func(fieldDef) bool {
	names := map[string]bool{}
	for _, s := range sel {
		names[strings.ToUpper(str(s))] = true
	}
	if len(names) == 0 {
		names["*"] = true
	}
	return func(d fieldDef) bool {
		if names[d.name] {
			return true
		}
		if strings.HasPrefix(d.name, "UF_") {
			return names["UF_*"]
		}
		if d.typ == "crm_multifield" {
			return false
		}
		return names["*"]
	}
}
