package bitrix24

import (
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"
)

// callResult is what one method produced.
type callResult struct {
	result any
	total  *int
	next   *int
	// created marks a crm.deal.add that stored a deal; a lost-response fault
	// drops the answer of such a call.
	created bool
	// counted is the rows a list method counted for its "total", charged
	// to its operating time (Options.CountCost).
	counted int
}

type methodFunc func(p *Portal, params *omap) (callResult, *apiError)

var methods map[string]methodFunc

func init() {
	methods = map[string]methodFunc{
		"crm.deal.add":               (*Portal).dealAdd,
		"crm.deal.update":            (*Portal).dealUpdate,
		"crm.deal.get":               (*Portal).dealGet,
		"crm.deal.list":              (*Portal).dealList,
		"crm.deal.delete":            (*Portal).dealDelete,
		"crm.deal.fields":            (*Portal).dealFields,
		"crm.contact.add":            (*Portal).contactAdd,
		"crm.contact.update":         (*Portal).contactUpdate,
		"crm.contact.get":            (*Portal).contactGet,
		"crm.contact.list":           (*Portal).contactList,
		"crm.contact.fields":         (*Portal).contactFields,
		"crm.duplicate.findbycomm":   (*Portal).findByComm,
		"crm.status.list":            (*Portal).statusList,
		"crm.currency.list":          (*Portal).currencyList,
		"crm.deal.contact.items.get": (*Portal).dealContactItems,
		"crm.timeline.comment.add":   (*Portal).commentAdd,
	}
}

// call runs one method under the operating-time accounting. Caller holds mu.
func (p *Portal) call(method string, params *omap) (callResult, *apiError) {
	h, ok := methods[method]
	if !ok {
		return callResult{}, &apiError{status: http.StatusNotFound, code: "ERROR_METHOD_NOT_FOUND", descr: "Method not found!"}
	}
	if e := p.checkOperating(method); e != nil {
		return callResult{}, e
	}
	before := p.now()
	out, e := h(p, params)
	p.chargeOperating(method, p.now().Sub(before)+time.Duration(out.counted)*p.opts.CountCost)
	p.stats.Calls[method]++
	if e == nil && (strings.HasSuffix(method, ".add") || strings.HasSuffix(method, ".update") || strings.HasSuffix(method, ".delete")) {
		p.writes++
	}
	return out, e
}

// Stage is one stage of a deal pipeline.
type Stage struct {
	ID        string // STATUS_ID: NEW, WON, C1:NEW, …
	Name      string
	Sort      int
	Semantics string // "P" in progress, "S" success, "F" failure
}

func defaultCategories() map[int][]Stage {
	return map[int][]Stage{
		0: {
			{"NEW", "New", 10, "P"},
			{"PREPARATION", "Document preparation", 20, "P"},
			{"PREPAYMENT_INVOICE", "Invoice", 30, "P"},
			{"EXECUTING", "In progress", 40, "P"},
			{"FINAL_INVOICE", "Final invoice", 50, "P"},
			{"WON", "Deal won", 60, "S"},
			{"LOSE", "Deal lost", 70, "F"},
			{"APOLOGY", "Analyze failure", 80, "F"},
		},
		1: {
			{"C1:NEW", "New order", 10, "P"},
			{"C1:PREPARATION", "Awaiting payment", 20, "P"},
			{"C1:EXECUTING", "Paid", 30, "P"},
			{"C1:FINAL_INVOICE", "Shipped", 40, "P"},
			{"C1:WON", "Delivered", 50, "S"},
			{"C1:LOSE", "Cancelled", 60, "F"},
		},
	}
}

func (p *Portal) stage(category int, id string) (Stage, bool) {
	for _, s := range p.categories[category] {
		if s.ID == id {
			return s, true
		}
	}
	return Stage{}, false
}

func (e *entity) clone() *entity {
	c := &entity{id: e.id, fields: make(map[string]any, len(e.fields))}
	for k, v := range e.fields {
		switch t := v.(type) {
		case []comm:
			c.fields[k] = append([]comm(nil), t...)
		case []int:
			c.fields[k] = append([]int(nil), t...)
		default:
			c.fields[k] = v
		}
	}
	return c
}

func (p *Portal) stamp() string { return p.now().Format(phpDate) }

// placeDeal checks the pipeline and stage of e and derives the stage fields.
func (p *Portal) placeDeal(e *entity) *apiError {
	cat, _ := toInt(e.fields["CATEGORY_ID"])
	stages, ok := p.categories[cat]
	if !ok {
		return methodError(`Invalid value for the "Pipeline" field`)
	}
	id, _ := e.fields["STAGE_ID"].(string)
	if id == "" {
		id = stages[0].ID
	}
	// Stricter than the portal, which may silently fall back to the first
	// stage: an unknown stage is a mapping mistake worth seeing.
	st, ok := p.stage(cat, id)
	if !ok {
		return methodError(`Invalid value for the "Deal stage" field`)
	}
	e.fields["CATEGORY_ID"] = strconv.Itoa(cat)
	e.fields["STAGE_ID"] = st.ID
	e.fields["STAGE_SEMANTIC_ID"] = st.Semantics
	e.fields["CLOSED"] = yn(st.Semantics != "P")
	return nil
}

func yn(b bool) string {
	if b {
		return "Y"
	}
	return "N"
}

func fieldsParam(params *omap) *omap {
	v, _ := params.Get("fields")
	return object(v)
}

func idParam(params *omap) (int, bool) {
	v, _ := params.Get("id")
	if v == nil {
		v, _ = params.Get("ID")
	}
	n, ok := toInt(v)
	return n, ok && n > 0
}

func (p *Portal) dealAdd(params *omap) (callResult, *apiError) {
	fields := fieldsParam(params)
	if fields == nil {
		return callResult{}, errFieldsMissing
	}
	e := &entity{id: p.nextDeal, fields: map[string]any{
		"TYPE_ID": "SALE", "CATEGORY_ID": "0", "CURRENCY_ID": p.opts.BaseCurrency,
		"OPPORTUNITY": "0.00", "IS_MANUAL_OPPORTUNITY": "N", "OPENED": "Y",
		"ASSIGNED_BY_ID": p.opts.UserID, "IS_NEW": "Y",
	}}
	if err := p.writeFields("deal", e, fields, false); err != nil {
		return callResult{}, err
	}
	if err := p.placeDeal(e); err != nil {
		return callResult{}, err
	}
	if t, _ := e.fields["TITLE"].(string); t == "" {
		e.fields["TITLE"] = "Deal #" + strconv.Itoa(e.id)
	}
	now := p.stamp()
	e.fields["CREATED_BY_ID"], e.fields["MODIFY_BY_ID"] = p.opts.UserID, p.opts.UserID
	e.fields["DATE_CREATE"], e.fields["DATE_MODIFY"] = now, now
	e.fields["BEGINDATE"] = now
	p.nextDeal++
	p.deals[e.id] = e
	p.dealIDs = append(p.dealIDs, e.id)
	p.stageSet(e)
	return callResult{result: e.id, created: true}, nil
}

// byID finds the entity an `id` parameter names, with the portal's errors
// for a missing or malformed id and an unknown entity.
func byID(m map[int]*entity, params *omap) (int, *entity, *apiError) {
	id, ok := idParam(params)
	if !ok {
		return 0, nil, errIDInvalid
	}
	e, ok := m[id]
	if !ok {
		return id, nil, errNotFound
	}
	return id, e, nil
}

func (p *Portal) dealUpdate(params *omap) (callResult, *apiError) {
	id, cur, aerr := byID(p.deals, params)
	if aerr != nil {
		return callResult{}, aerr
	}
	fields := fieldsParam(params)
	if fields == nil {
		return callResult{}, errFieldsMissing
	}
	e := cur.clone()
	if err := p.writeFields("deal", e, fields, true); err != nil {
		return callResult{}, err
	}
	if err := p.placeDeal(e); err != nil {
		return callResult{}, err
	}
	moved := e.fields["STAGE_ID"] != cur.fields["STAGE_ID"]
	if moved {
		e.fields["IS_NEW"] = "N"
	}
	e.fields["DATE_MODIFY"] = p.stamp()
	e.fields["MODIFY_BY_ID"] = p.opts.UserID
	p.deals[id] = e
	if moved {
		p.stageSet(e)
	}
	return callResult{result: true}, nil
}

// stageSet reports a deal stored at a new stage and keeps it in the deal's
// stage history. Caller holds mu.
func (p *Portal) stageSet(e *entity) {
	st, _ := e.fields["STAGE_ID"].(string)
	if h := p.stageLog[e.id]; len(h) == 0 || h[len(h)-1] != st {
		p.stageLog[e.id] = append(h, st)
	}
	if p.opts.OnDealStage != nil {
		p.opts.OnDealStage(e.id, st)
	}
}

func (p *Portal) dealGet(params *omap) (callResult, *apiError) {
	_, e, aerr := byID(p.deals, params)
	if aerr != nil {
		return callResult{}, aerr
	}
	return callResult{result: p.output("deal", e, nil)}, nil
}

func (p *Portal) dealDelete(params *omap) (callResult, *apiError) {
	id, ok := idParam(params)
	if !ok {
		return callResult{}, errIDInvalid
	}
	if !p.deleteDeal(id) {
		return callResult{}, errNotFound
	}
	return callResult{result: true}, nil
}

func (p *Portal) deleteDeal(id int) bool {
	if _, ok := p.deals[id]; !ok {
		return false
	}
	delete(p.deals, id)
	for i, d := range p.dealIDs {
		if d == id {
			p.dealIDs = append(p.dealIDs[:i:i], p.dealIDs[i+1:]...)
			break
		}
	}
	return true
}

func (p *Portal) dealList(params *omap) (callResult, *apiError) {
	return p.listEntities("deal", params)
}

func (p *Portal) dealContactItems(params *omap) (callResult, *apiError) {
	id, ok := idParam(params)
	if !ok {
		return callResult{}, errIDInvalid
	}
	e, ok := p.deals[id]
	if !ok {
		return callResult{}, errNotFound
	}
	out := []any{}
	ids, _ := e.fields["CONTACT_IDS"].([]int)
	for i, c := range ids {
		m := newOmap()
		m.Set("CONTACT_ID", c)
		m.Set("SORT", (i+1)*10)
		m.Set("ROLE_ID", 0)
		m.Set("IS_PRIMARY", yn(i == 0))
		out = append(out, m)
	}
	return callResult{result: out}, nil
}

func (p *Portal) fieldsOf(kind string) *omap {
	out := newOmap()
	for _, d := range p.defs(kind) {
		m := newOmap()
		m.Set("type", d.typ)
		if items, ok := p.listFields[d.name]; ok && d.typ == "enumeration" {
			list := make([]any, len(items))
			for i, it := range items {
				o := newOmap()
				o.Set("ID", it.ID)
				o.Set("VALUE", it.Value)
				list[i] = o
			}
			m.Set("items", list)
		}
		m.Set("isRequired", false)
		m.Set("isReadOnly", d.readOnly)
		m.Set("isImmutable", d.immutable)
		m.Set("isMultiple", d.multiple)
		m.Set("isDynamic", strings.HasPrefix(d.name, "UF_"))
		m.Set("title", d.title)
		if d.statusType != "" {
			m.Set("statusType", d.statusType)
		}
		if strings.HasPrefix(d.name, "UF_") {
			m.Set("listLabel", d.title)
			m.Set("formLabel", d.title)
			m.Set("filterLabel", d.title)
		}
		out.Set(d.name, m)
	}
	return out
}

func (p *Portal) dealFields(*omap) (callResult, *apiError) {
	return callResult{result: p.fieldsOf("deal")}, nil
}

func (p *Portal) contactFields(*omap) (callResult, *apiError) {
	return callResult{result: p.fieldsOf("contact")}, nil
}

func (p *Portal) finishContact(e *entity) {
	for _, t := range []struct{ field, flag string }{{"PHONE", "HAS_PHONE"}, {"EMAIL", "HAS_EMAIL"}, {"IM", "HAS_IMOL"}} {
		cs, _ := e.fields[t.field].([]comm)
		e.fields[t.flag] = yn(len(cs) > 0)
	}
	e.fields["DATE_MODIFY"] = p.stamp()
	e.fields["MODIFY_BY_ID"] = p.opts.UserID
}

func (p *Portal) contactAdd(params *omap) (callResult, *apiError) {
	fields := fieldsParam(params)
	if fields == nil {
		return callResult{}, errFieldsMissing
	}
	e := &entity{id: p.nextCont, fields: map[string]any{
		"TYPE_ID": "CLIENT", "OPENED": "Y", "EXPORT": "Y", "ASSIGNED_BY_ID": p.opts.UserID,
	}}
	if err := p.writeFields("contact", e, fields, false); err != nil {
		return callResult{}, err
	}
	e.fields["CREATED_BY_ID"] = p.opts.UserID
	e.fields["DATE_CREATE"] = p.stamp()
	p.finishContact(e)
	p.nextCont++
	p.contacts[e.id] = e
	p.contactIDs = append(p.contactIDs, e.id)
	return callResult{result: e.id}, nil
}

func (p *Portal) contactUpdate(params *omap) (callResult, *apiError) {
	id, cur, aerr := byID(p.contacts, params)
	if aerr != nil {
		return callResult{}, aerr
	}
	fields := fieldsParam(params)
	if fields == nil {
		return callResult{}, errFieldsMissing
	}
	e := cur.clone()
	if err := p.writeFields("contact", e, fields, true); err != nil {
		return callResult{}, err
	}
	p.finishContact(e)
	p.contacts[id] = e
	return callResult{result: true}, nil
}

func (p *Portal) contactGet(params *omap) (callResult, *apiError) {
	_, e, aerr := byID(p.contacts, params)
	if aerr != nil {
		return callResult{}, aerr
	}
	return callResult{result: p.output("contact", e, nil)}, nil
}

func (p *Portal) contactList(params *omap) (callResult, *apiError) {
	return p.listEntities("contact", params)
}

// findByComm is crm.duplicate.findbycomm: {entity_type?, type, values[≤20]}.
func (p *Portal) findByComm(params *omap) (callResult, *apiError) {
	tv, _ := params.Get("type")
	typ := strings.ToUpper(str(tv))
	if typ != "PHONE" && typ != "EMAIL" {
		return callResult{}, methodError("Communication type is not defined or invalid.")
	}
	vv, _ := params.Get("values")
	values := list(vv)
	if len(values) == 0 {
		return callResult{}, methodError("Communication values are not defined.")
	}
	if len(values) > 20 {
		return callResult{}, methodError("Too many communication values. Maximum is 20.")
	}
	ev, _ := params.Get("entity_type")
	et := strings.ToUpper(str(ev))
	out := newOmap()
	if et != "" && et != "CONTACT" {
		return callResult{result: out}, nil
	}
	norm := func(s string) string {
		if typ == "PHONE" {
			return digits(s)
		}
		return strings.ToLower(strings.TrimSpace(s))
	}
	want := map[string]bool{}
	for _, v := range values {
		if n := norm(str(v)); n != "" {
			want[n] = true
		}
	}
	var found []any
	for _, id := range p.contactIDs {
		cs, _ := p.contacts[id].fields[typ].([]comm)
		for _, c := range cs {
			if want[norm(c.Value)] {
				found = append(found, id)
				break
			}
		}
		if len(found) == FindByCommCap {
			// At most 20 ids per entity type, the oldest: the rest are cut
			// off without a word (which 20 is not documented).
			break
		}
	}
	if len(found) > 0 {
		out.Set("CONTACT", found)
	}
	return callResult{result: out}, nil
}

var semanticsName = map[string]string{"P": "process", "S": "success", "F": "failure"}

func (p *Portal) statusList(params *omap) (callResult, *apiError) {
	cats := make([]int, 0, len(p.categories))
	for c := range p.categories {
		cats = append(cats, c)
	}
	sort.Ints(cats)
	fv, _ := params.Get("filter")
	filter := object(fv)
	out := []any{}
	n := 0
	for _, c := range cats {
		entityID := "DEAL_STAGE"
		if c != 0 {
			entityID += "_" + strconv.Itoa(c)
		}
		for _, s := range p.categories[c] {
			n++
			row := newOmap()
			row.Set("ID", strconv.Itoa(n))
			row.Set("ENTITY_ID", entityID)
			row.Set("STATUS_ID", s.ID)
			row.Set("NAME", s.Name)
			row.Set("NAME_INIT", s.Name)
			row.Set("SORT", strconv.Itoa(s.Sort))
			row.Set("SYSTEM", "Y")
			row.Set("CATEGORY_ID", strconv.Itoa(c))
			row.Set("COLOR", "#39A8EF")
			if s.Semantics == "P" {
				row.Set("SEMANTICS", nil)
			} else {
				row.Set("SEMANTICS", s.Semantics)
			}
			extra := newOmap()
			extra.Set("SEMANTICS", semanticsName[s.Semantics])
			extra.Set("COLOR", "#39A8EF")
			row.Set("EXTRA", extra)
			valuesOf := func(f string) []string { v, _ := row.Get(f); return []string{str(v)} }
			if filter == nil || matches(valuesOf, filter) {
				out = append(out, row)
			}
		}
	}
	return callResult{result: out}, nil
}

var currencyNames = map[string]string{
	"AMD": "Armenian Dram", "USD": "US Dollar", "EUR": "Euro", "RUB": "Russian Ruble",
	"GEL": "Georgian Lari", "KZT": "Tenge", "GBP": "British Pound Sterling", "JPY": "Japanese Yen",
}

func (p *Portal) currencyList(*omap) (callResult, *apiError) {
	codes := make([]string, 0, len(p.currencies))
	for c, on := range p.currencies {
		if on {
			codes = append(codes, c)
		}
	}
	sort.Strings(codes)
	out := []any{}
	for i, c := range codes {
		row := newOmap()
		row.Set("CURRENCY", c)
		row.Set("AMOUNT_CNT", "1")
		row.Set("AMOUNT", "1.0000")
		row.Set("SORT", strconv.Itoa((i+1)*100))
		row.Set("BASE", yn(c == strings.ToUpper(p.opts.BaseCurrency)))
		row.Set("FULL_NAME", currencyNames[c])
		row.Set("LID", "en")
		row.Set("FORMAT_STRING", "# "+c)
		row.Set("DEC_POINT", ".")
		row.Set("THOUSANDS_SEP", " ")
		row.Set("DECIMALS", "2")
		out = append(out, row)
	}
	return callResult{result: out}, nil
}

// commentAdd is crm.timeline.comment.add {fields:{ENTITY_ID, ENTITY_TYPE, COMMENT}}.
func (p *Portal) commentAdd(params *omap) (callResult, *apiError) {
	fields := fieldsParam(params)
	if fields == nil {
		return callResult{}, errFieldsMissing
	}
	get := func(k string) string { v, _ := fields.Get(k); return str(v) }
	if !strings.EqualFold(get("ENTITY_TYPE"), "deal") {
		return callResult{}, methodError("ENTITY_TYPE is not defined or invalid.")
	}
	id, ok := toInt(get("ENTITY_ID"))
	if !ok || p.deals[id] == nil {
		return callResult{}, methodError("ENTITY_ID is not defined or invalid.")
	}
	if strings.TrimSpace(get("COMMENT")) == "" {
		return callResult{}, methodError("COMMENT is not defined or invalid.")
	}
	p.comments[id] = append(p.comments[id], get("COMMENT"))
	p.nextComment++
	return callResult{result: p.nextComment}, nil
}
