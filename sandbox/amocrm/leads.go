package amocrm

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
)

type lead struct {
	id          int
	created     time.Time // when it was stored, for Options.SearchDelay
	name        string
	price       int64
	statusID    int
	pipelineID  int
	responsible int
	createdAt   int64
	updatedAt   int64
	closedAt    int64
	fields      map[int][]value
	tags        []string
	contacts    []int
}

func (l *lead) clone() *lead {
	c := *l
	c.fields = make(map[int][]value, len(l.fields))
	for k, v := range l.fields {
		c.fields[k] = slices.Clone(v)
	}
	c.tags, c.contacts = slices.Clone(l.tags), slices.Clone(l.contacts)
	return &c
}

type contact struct {
	id        int
	name      string
	firstName string
	lastName  string
	fields    map[int][]value
	createdAt int64
}

// Lead is a stored lead, for tests and the demo.
type Lead struct {
	ID         int
	Name       string
	Price      int64
	StatusID   int
	PipelineID int
	// OrderID is the value of the "Order ID" field (FieldOrderID).
	OrderID string
	// Fields holds each custom field's values as text (a select's choice text).
	Fields     map[int][]string
	EnumIDs    map[int][]int // a select field's chosen enum ids
	Tags       []string
	ContactIDs []int
	UpdatedAt  int64
}

// Contact is a stored contact, for tests.
type Contact struct {
	ID     int
	Name   string
	Phones []string
	Emails []string
	Fields map[int][]string
}

// Note is a note on a lead.
type Note struct {
	ID     int
	LeadID int
	Type   string
	Text   string
}

func (l *lead) view() Lead {
	v := Lead{ID: l.id, Name: l.name, Price: l.price, StatusID: l.statusID, PipelineID: l.pipelineID,
		Fields: map[int][]string{}, EnumIDs: map[int][]int{}, Tags: slices.Clone(l.tags),
		ContactIDs: slices.Clone(l.contacts), UpdatedAt: l.updatedAt}
	for id, vals := range l.fields {
		for _, x := range vals {
			v.Fields[id] = append(v.Fields[id], x.text())
			if x.EnumID != 0 {
				v.EnumIDs[id] = append(v.EnumIDs[id], x.EnumID)
			}
		}
	}
	if vals := l.fields[FieldOrderID]; len(vals) > 0 {
		v.OrderID = vals[0].Text
	}
	return v
}

func (x value) text() string {
	switch {
	case x.Number != "":
		return x.Number.String()
	case x.Time != 0:
		return strconv.FormatInt(x.Time, 10)
	case x.Bool != nil:
		return strconv.FormatBool(*x.Bool)
	}
	return x.Text
}

func (c *contact) view() Contact {
	v := Contact{ID: c.id, Name: c.name, Fields: map[int][]string{}}
	for id, vals := range c.fields {
		for _, x := range vals {
			v.Fields[id] = append(v.Fields[id], x.Text)
			switch id {
			case FieldPhone:
				v.Phones = append(v.Phones, x.Text)
			case FieldEmail:
				v.Emails = append(v.Emails, x.Text)
			}
		}
	}
	return v
}

// readItems decodes a request body that must be a JSON array of objects.
func readItems(r *http.Request, maxItems int) ([]map[string]any, *problem) {
	b, err := io.ReadAll(io.LimitReader(r.Body, 8<<20))
	if err != nil {
		return nil, newProblem(http.StatusBadRequest, "The request body could not be read")
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var raw []any
	if err := dec.Decode(&raw); err != nil {
		return nil, newProblem(http.StatusBadRequest, "The request body must be a JSON array")
	}
	if len(raw) == 0 {
		return nil, newProblem(http.StatusBadRequest, "The request body must not be empty")
	}
	if len(raw) > maxItems {
		return nil, newProblem(http.StatusUnprocessableEntity,
			"Too many entities in one request: at most "+strconv.Itoa(maxItems))
	}
	out := make([]map[string]any, len(raw))
	for i, v := range raw {
		m, ok := v.(map[string]any)
		if !ok {
			return nil, newProblem(http.StatusBadRequest, "Every element of the request body must be an object")
		}
		out[i] = m
	}
	return out, nil
}

// requestID is what an item's errors and answer are keyed by: its
// request_id, or its index when it has none.
func requestID(m map[string]any, i int) string {
	if s := stringOf(m["request_id"]); s != "" {
		return s
	}
	return strconv.Itoa(i)
}

// validationProblem is the 400 answer for items that failed.
func validationProblem(items []validationItem) *problem {
	p := newProblem(http.StatusBadRequest, "Request validation failed")
	p.Validation = items
	return p
}

// applyLead validates the lead fields of m into l, a copy that is stored
// only if the whole request is valid. Caller holds mu.
func (a *Account) applyLead(c *checker, m map[string]any, l *lead, creating bool, prefix string) {
	if v, ok := m["name"]; ok {
		s, ok := v.(string)
		if !ok {
			c.add("InvalidType", join(prefix, "name"), msgType("string"))
		} else {
			l.name = s
		}
	}
	if v, ok := m["price"]; ok && v != nil {
		n, ok := asInt(v)
		switch {
		case !ok:
			c.add("InvalidType", join(prefix, "price"), msgType("int"))
		case n < 0:
			c.add("GreaterThanOrEqual", join(prefix, "price"), "This value should be greater than or equal to 0.")
		default:
			l.price = n
		}
	}
	if v, ok := m["responsible_user_id"]; ok {
		if n, ok := asInt(v); ok {
			l.responsible = int(n)
		} else {
			c.add("InvalidType", join(prefix, "responsible_user_id"), msgType("int"))
		}
	}
	p := a.pipeline(l.pipelineID)
	if creating {
		p = a.mainPipeline()
	}
	pipelineGiven := false
	if v, ok := m["pipeline_id"]; ok {
		n, ok := asInt(v)
		switch {
		case !ok:
			c.add("InvalidType", join(prefix, "pipeline_id"), msgType("int"))
		case a.pipeline(int(n)) == nil:
			c.add("NotSupportedChoice", join(prefix, "pipeline_id"), msgChoice)
		default:
			pipelineGiven = p == nil || p.id != int(n)
			p = a.pipeline(int(n))
		}
	}
	if p == nil {
		p = a.mainPipeline()
	}
	status := l.statusID
	if pipelineGiven || creating {
		status = firstStatus(p)
	}
	if v, ok := m["status_id"]; ok {
		n, ok := asInt(v)
		switch {
		case !ok:
			c.add("InvalidType", join(prefix, "status_id"), msgType("int"))
		default:
			if _, ok := p.status(int(n)); !ok {
				c.add("NotSupportedChoice", join(prefix, "status_id"), msgChoice)
			} else {
				status = int(n)
			}
		}
	}
	if status != l.statusID || p.id != l.pipelineID {
		l.statusID, l.pipelineID = status, p.id
		l.closedAt = 0
		if status == StatusWon || status == StatusLost {
			l.closedAt = a.now().Unix()
		}
	}
	if v, ok := m["custom_fields_values"]; ok {
		for id, vals := range c.customValues(a.leadFields, v, join(prefix, "custom_fields_values")) {
			l.fields[id] = vals
		}
	}
	emb, _ := m["_embedded"].(map[string]any)
	if v, ok := emb["tags"]; ok {
		l.tags = a.tagList(c, v, join(prefix, "_embedded.tags"))
	}
	for _, op := range []string{"tags_to_add", "tags_to_delete"} {
		v, ok := m[op]
		if !ok {
			continue
		}
		names := a.tagList(c, v, join(prefix, op))
		for _, n := range names {
			i := slices.Index(l.tags, n)
			switch {
			case op == "tags_to_add" && i < 0:
				l.tags = append(l.tags, n)
			case op == "tags_to_delete" && i >= 0:
				l.tags = slices.Delete(l.tags, i, i+1)
			}
		}
	}
}

func firstStatus(p *pipeline) int {
	for _, s := range p.statuses {
		if s.Type == 0 {
			return s.ID
		}
	}
	return p.statuses[0].ID
}

// tagList reads [{"name":…}|{"id":…}] into tag names.
func (a *Account) tagList(c *checker, raw any, prefix string) []string {
	list, ok := raw.([]any)
	if !ok {
		c.add("InvalidType", prefix, msgType("array"))
		return nil
	}
	names := []string{}
	for i, item := range list {
		p := join(prefix, strconv.Itoa(i))
		m, _ := item.(map[string]any)
		if name, ok := m["name"].(string); ok && strings.TrimSpace(name) != "" {
			if !slices.Contains(names, name) {
				names = append(names, name)
			}
			continue
		}
		if id, ok := asInt(m["id"]); ok {
			if name, ok := a.tagNames[int(id)]; ok {
				names = append(names, name)
				continue
			}
			c.add("NotSupportedChoice", join(p, "id"), msgChoice)
			continue
		}
		c.add("NotBlank", join(p, "name"), msgBlank)
	}
	return names
}

func (a *Account) tagID(name string) int {
	if id, ok := a.tags[name]; ok {
		return id
	}
	id := a.nextTag
	a.nextTag++
	a.tags[name], a.tagNames[id] = id, name
	return id
}

// newLead builds a lead to create from m; it is stored by commitLead.
func (a *Account) newLead(c *checker, m map[string]any) *lead {
	l := &lead{fields: map[int][]value{}, responsible: DefaultUserID}
	a.applyLead(c, m, l, true, "")
	return l
}

// linkContacts reads POST /leads' _embedded.contacts: existing contacts by id.
func (a *Account) linkContacts(c *checker, m map[string]any, l *lead) {
	emb, _ := m["_embedded"].(map[string]any)
	list, _ := emb["contacts"].([]any)
	for i, item := range list {
		cm, _ := item.(map[string]any)
		id, ok := asInt(cm["id"])
		if !ok || a.contacts[int(id)] == nil {
			c.add("NotFound", "_embedded.contacts."+strconv.Itoa(i)+".id", msgNotFound)
			continue
		}
		l.contacts = append(l.contacts, int(id))
	}
}

func (a *Account) commitLead(l *lead) {
	now := a.now().Unix()
	if l.id == 0 {
		l.id = a.nextLead
		a.nextLead++
		l.createdAt, l.created = now, a.now()
		a.leadIDs = append(a.leadIDs, l.id)
		a.stats.Entities["leads"]++
	}
	l.updatedAt = now
	if h := a.statusLog[l.id]; len(h) == 0 || h[len(h)-1] != l.statusID {
		a.statusLog[l.id] = append(h, l.statusID)
	}
	for _, t := range l.tags {
		a.tagID(t)
	}
	a.leads[l.id] = l
}

func (a *Account) addLeads(r *http.Request) result {
	items, p := readItems(r, MaxEntities)
	if p != nil {
		return fail(p)
	}
	var bad []validationItem
	built := make([]*lead, len(items))
	for i, m := range items {
		var c checker
		built[i] = a.newLead(&c, m)
		a.linkContacts(&c, m, built[i])
		if len(c.errs) > 0 {
			bad = append(bad, validationItem{RequestID: requestID(m, i), Errors: c.errs})
		}
	}
	if len(bad) > 0 {
		return fail(validationProblem(bad))
	}
	type answer struct {
		ID        int    `json:"id"`
		RequestID string `json:"request_id"`
		Links     links  `json:"_links"`
	}
	out := make([]answer, len(items))
	res := result{status: 200, created: true}
	for i, l := range built {
		a.commitLead(l)
		out[i] = answer{ID: l.id, RequestID: requestID(items[i], i), Links: links{Self: link{a.base(r) + "/api/v4/leads/" + strconv.Itoa(l.id)}}}
		res.changed = append(res.changed, l.view())
	}
	res.body = map[string]any{"_links": links{Self: link{a.base(r) + "/api/v4/leads"}}, "_embedded": map[string]any{"leads": out}}
	return res
}

func (a *Account) updateLeads(r *http.Request) result {
	items, p := readItems(r, MaxEntities)
	if p != nil {
		return fail(p)
	}
	var bad []validationItem
	built := make([]*lead, len(items))
	for i, m := range items {
		var c checker
		id, ok := asInt(m["id"])
		switch {
		case !ok:
			c.add("NotBlank", "id", msgBlank)
		case a.leads[int(id)] == nil:
			c.add("NotFound", "id", msgNotFound)
		default:
			l := a.leads[int(id)].clone()
			a.applyLead(&c, m, l, false, "")
			built[i] = l
		}
		if len(c.errs) > 0 {
			bad = append(bad, validationItem{RequestID: requestID(m, i), Errors: c.errs})
		}
	}
	if len(bad) > 0 {
		return fail(validationProblem(bad))
	}
	type answer struct {
		ID        int    `json:"id"`
		UpdatedAt int64  `json:"updated_at"`
		RequestID string `json:"request_id,omitempty"`
		Links     links  `json:"_links"`
	}
	out := make([]answer, len(items))
	res := result{status: 200}
	for i, l := range built {
		a.commitLead(l)
		out[i] = answer{ID: l.id, UpdatedAt: l.updatedAt, RequestID: stringOf(items[i]["request_id"]),
			Links: links{Self: link{a.base(r) + "/api/v4/leads/" + strconv.Itoa(l.id)}}}
		res.changed = append(res.changed, l.view())
	}
	res.body = map[string]any{"_links": links{Self: link{a.base(r) + "/api/v4/leads"}}, "_embedded": map[string]any{"leads": out}}
	return res
}

// addComplex creates leads, each with at most one embedded contact, and
// answers a bare array.
func (a *Account) addComplex(r *http.Request) result {
	items, p := readItems(r, MaxComplex)
	if p != nil {
		return fail(p)
	}
	var bad []validationItem
	type pair struct {
		l *lead
		c *contact
	}
	built := make([]pair, len(items))
	for i, m := range items {
		var c checker
		built[i].l = a.newLead(&c, m)
		emb, _ := m["_embedded"].(map[string]any)
		if list, ok := emb["contacts"].([]any); ok {
			switch {
			case len(list) > 1:
				c.add("Count", "_embedded.contacts", "This collection should contain 1 element or less.")
			case len(list) == 1:
				built[i].c = a.newContact(&c, list[0], "_embedded.contacts.0")
			}
		}
		if len(c.errs) > 0 {
			bad = append(bad, validationItem{RequestID: requestID(m, i), Errors: c.errs})
		}
	}
	if len(bad) > 0 {
		return fail(validationProblem(bad))
	}
	type answer struct {
		ID        int      `json:"id"`
		ContactID *int     `json:"contact_id"`
		CompanyID *int     `json:"company_id"`
		RequestID []string `json:"request_id"`
		Merged    bool     `json:"merged"`
	}
	out := make([]answer, len(items))
	res := result{status: 200, created: true}
	// Duplicate control checks each new lead against the leads that exist,
	// never against the others of the same request (Kommo's reference).
	dups := a.duplicateIndex()
	for i, b := range built {
		if target, cid := a.duplicateOf(dups, b.l, b.c); target != nil {
			target.updatedAt = a.now().Unix()
			a.stats.Merged++
			out[i] = answer{ID: target.id, ContactID: &cid, RequestID: []string{requestID(items[i], i)}, Merged: true}
			continue
		}
		if b.c != nil {
			b.c.id = a.nextContact
			a.nextContact++
			b.c.createdAt = a.now().Unix()
			a.contacts[b.c.id] = b.c
			a.stats.Entities["contacts"]++
			b.l.contacts = append(b.l.contacts, b.c.id)
		}
		a.commitLead(b.l)
		out[i] = answer{ID: b.l.id, RequestID: []string{requestID(items[i], i)}}
		if b.c != nil {
			id := b.c.id
			out[i].ContactID = &id
		}
		res.changed = append(res.changed, b.l.view())
	}
	res.body = out
	return res
}

// duplicateIndex maps each phone (its digits) and e-mail (lower case) of
// the stored contacts to their ids, ascending; nil when duplicate control
// is off. Caller holds mu.
func (a *Account) duplicateIndex() map[string][]int {
	if !a.dupControl {
		return nil
	}
	idx := map[string][]int{}
	ids := make([]int, 0, len(a.contacts))
	for id := range a.contacts {
		ids = append(ids, id)
	}
	sort.Ints(ids)
	for _, id := range ids {
		for _, k := range contactKeys(a.contacts[id]) {
			idx[k] = append(idx[k], id)
		}
	}
	return idx
}

// contactKeys are what duplicate control compares a contact by.
func contactKeys(c *contact) []string {
	if c == nil {
		return nil
	}
	var out []string
	for _, v := range c.fields[FieldPhone] {
		var d strings.Builder
		for _, r := range v.Text {
			if r >= '0' && r <= '9' {
				d.WriteRune(r)
			}
		}
		if d.Len() > 0 {
			out = append(out, "phone:"+d.String())
		}
	}
	for _, v := range c.fields[FieldEmail] {
		if e := strings.ToLower(strings.TrimSpace(v.Text)); e != "" {
			out = append(out, "email:"+e)
		}
	}
	return out
}

// duplicateOf is the open lead of the new lead's pipeline that duplicate
// control merges l (with its contact c) into, and that lead's contact; nil
// when there is none. Caller holds mu.
func (a *Account) duplicateOf(idx map[string][]int, l *lead, c *contact) (*lead, int) {
	if idx == nil || c == nil {
		return nil, 0
	}
	for _, k := range contactKeys(c) {
		for _, cid := range idx[k] {
			for _, lid := range a.leadIDs {
				old := a.leads[lid]
				if old != nil && old.pipelineID == l.pipelineID && old.statusID != StatusWon && old.statusID != StatusLost &&
					slices.Contains(old.contacts, cid) {
					return old, cid
				}
			}
		}
	}
	return nil, 0
}

func (a *Account) newContact(c *checker, raw any, prefix string) *contact {
	m, ok := raw.(map[string]any)
	if !ok {
		c.add("InvalidType", prefix, msgType("object"))
		return nil
	}
	ct := &contact{fields: map[int][]value{}}
	for _, k := range []string{"name", "first_name", "last_name"} {
		v, ok := m[k]
		if !ok {
			continue
		}
		s, ok := v.(string)
		if !ok {
			c.add("InvalidType", join(prefix, k), msgType("string"))
			continue
		}
		switch k {
		case "name":
			ct.name = s
		case "first_name":
			ct.firstName = s
		default:
			ct.lastName = s
		}
	}
	if ct.name == "" {
		ct.name = strings.TrimSpace(ct.firstName + " " + ct.lastName)
	}
	if v, ok := m["custom_fields_values"]; ok {
		ct.fields = c.customValues(a.contactFields, v, join(prefix, "custom_fields_values"))
		if ct.fields == nil {
			ct.fields = map[int][]value{}
		}
	}
	return ct
}

var noteTypes = []string{"common", "service_message", "extended_service_message", "message_cashier", "invoice_paid", "geolocation", "sms_in", "sms_out", "call_in", "call_out", "attachment"}

func (a *Account) addNotes(r *http.Request) result {
	items, p := readItems(r, MaxEntities)
	if p != nil {
		return fail(p)
	}
	var bad []validationItem
	notes := make([]Note, len(items))
	for i, m := range items {
		var c checker
		id, ok := asInt(m["entity_id"])
		switch {
		case !ok:
			c.add("NotBlank", "entity_id", msgBlank)
		case a.leads[int(id)] == nil:
			c.add("NotFound", "entity_id", msgNotFound)
		}
		typ, _ := m["note_type"].(string)
		if !slices.Contains(noteTypes, typ) {
			c.add("NotSupportedChoice", "note_type", msgChoice)
		}
		params, _ := m["params"].(map[string]any)
		text, _ := params["text"].(string)
		if (typ == "common" || typ == "service_message") && strings.TrimSpace(text) == "" {
			c.add("NotBlank", "params.text", msgBlank)
		}
		if len(c.errs) > 0 {
			bad = append(bad, validationItem{RequestID: requestID(m, i), Errors: c.errs})
			continue
		}
		notes[i] = Note{LeadID: int(id), Type: typ, Text: text}
	}
	if len(bad) > 0 {
		return fail(validationProblem(bad))
	}
	type answer struct {
		ID        int    `json:"id"`
		EntityID  int    `json:"entity_id"`
		RequestID string `json:"request_id"`
		Links     links  `json:"_links"`
	}
	out := make([]answer, len(notes))
	for i, n := range notes {
		n.ID = a.nextNote
		a.nextNote++
		a.notes[n.LeadID] = append(a.notes[n.LeadID], n)
		a.stats.Entities["notes"]++
		out[i] = answer{ID: n.ID, EntityID: n.LeadID, RequestID: requestID(items[i], i),
			Links: links{Self: link{a.base(r) + "/api/v4/leads/" + strconv.Itoa(n.LeadID) + "/notes/" + strconv.Itoa(n.ID)}}}
	}
	return result{status: 200, body: map[string]any{"_links": links{Self: link{a.base(r) + "/api/v4/leads/notes"}},
		"_embedded": map[string]any{"notes": out}}}
}

// Reading leads.

type tagJSON struct {
	ID    int    `json:"id"`
	Name  string `json:"name"`
	Color any    `json:"color"`
}

type contactRef struct {
	ID     int   `json:"id"`
	IsMain bool  `json:"is_main"`
	Links  links `json:"_links"`
}

type leadJSON struct {
	ID                 int       `json:"id"`
	Name               string    `json:"name"`
	Price              int64     `json:"price"`
	ResponsibleUserID  int       `json:"responsible_user_id"`
	GroupID            int       `json:"group_id"`
	StatusID           int       `json:"status_id"`
	PipelineID         int       `json:"pipeline_id"`
	LossReasonID       any       `json:"loss_reason_id"`
	CreatedBy          int       `json:"created_by"`
	UpdatedBy          int       `json:"updated_by"`
	CreatedAt          int64     `json:"created_at"`
	UpdatedAt          int64     `json:"updated_at"`
	ClosedAt           any       `json:"closed_at"`
	ClosestTaskAt      any       `json:"closest_task_at"`
	IsDeleted          bool      `json:"is_deleted"`
	CustomFieldsValues []cfvJSON `json:"custom_fields_values"`
	Score              any       `json:"score"`
	AccountID          int       `json:"account_id"`
	LaborCost          any       `json:"labor_cost"`
	Links              links     `json:"_links"`
	Embedded           struct {
		Tags      []tagJSON    `json:"tags"`
		Companies []any        `json:"companies"`
		Contacts  []contactRef `json:"contacts,omitempty"`
	} `json:"_embedded"`
}

func (a *Account) leadJSON(base string, l *lead, withContacts bool) leadJSON {
	out := leadJSON{ID: l.id, Name: l.name, Price: l.price, ResponsibleUserID: l.responsible, StatusID: l.statusID,
		PipelineID: l.pipelineID, CreatedBy: DefaultUserID, UpdatedBy: DefaultUserID, CreatedAt: l.createdAt,
		UpdatedAt: l.updatedAt, AccountID: AccountID, CustomFieldsValues: valuesJSON(a.leadFields, l.fields),
		Links: links{Self: link{base + "/api/v4/leads/" + strconv.Itoa(l.id)}}}
	if l.closedAt != 0 {
		out.ClosedAt = l.closedAt
	}
	out.Embedded.Tags = []tagJSON{}
	out.Embedded.Companies = []any{}
	for _, t := range l.tags {
		out.Embedded.Tags = append(out.Embedded.Tags, tagJSON{ID: a.tagID(t), Name: t})
	}
	if withContacts {
		for i, c := range l.contacts {
			out.Embedded.Contacts = append(out.Embedded.Contacts, contactRef{ID: c, IsMain: i == 0,
				Links: links{Self: link{base + "/api/v4/contacts/" + strconv.Itoa(c)}}})
		}
	}
	return out
}

// idFilter reads filter[id], filter[id][] and filter[id][N] (comma lists too).
func idFilter(q url.Values) (ids []int, given bool, p *problem) {
	for k, vs := range q {
		if k != "filter[id]" && k != "filter[id][]" && !(strings.HasPrefix(k, "filter[id][") && strings.HasSuffix(k, "]")) {
			continue
		}
		given = true
		for _, v := range vs {
			for _, s := range strings.Split(v, ",") {
				n, err := strconv.Atoi(strings.TrimSpace(s))
				if err != nil {
					return nil, true, badQuery("filter.id", msgType("int"))
				}
				ids = append(ids, n)
			}
		}
	}
	return ids, given, nil
}

// listLeads answers GET /api/v4/leads: query searches names, text custom
// fields and the leads' contacts; no match answers 204 with no body.
func (a *Account) listLeads(r *http.Request) result {
	q := r.URL.Query()
	limit, page, p := paging(r)
	if p != nil {
		return fail(p)
	}
	ids, byID, p := idFilter(q)
	if p != nil {
		return fail(p)
	}
	if byID && len(ids) > MaxEntities {
		return fail(newProblem(http.StatusUnprocessableEntity, "Too many entities in one request: at most 250"))
	}
	ranges, p := timeFilters(q)
	if p != nil {
		return fail(p)
	}
	less, p := listOrder(q)
	if p != nil {
		return fail(p)
	}
	needle := strings.ToLower(strings.TrimSpace(q.Get("query")))
	withContacts := slices.Contains(strings.Split(q.Get("with"), ","), "contacts")
	var match []*lead
	for _, id := range a.leadIDs {
		l := a.leads[id]
		if l == nil || (byID && !slices.Contains(ids, id)) || !ranges.match(l) {
			continue
		}
		if needle != "" && (a.now().Sub(l.created) < a.searchDelay || !a.matches(l, needle)) {
			// The search index has not caught up with a new lead yet.
			continue
		}
		match = append(match, l)
	}
	sort.SliceStable(match, func(i, j int) bool { return less(match[i], match[j]) })
	from := (page - 1) * limit
	if from >= len(match) {
		return result{status: http.StatusNoContent}
	}
	to := min(from+limit, len(match))
	base := a.base(r)
	out := make([]leadJSON, 0, to-from)
	for _, l := range match[from:to] {
		out = append(out, a.leadJSON(base, l, withContacts))
	}
	self := *r.URL
	ls := links{Self: link{base + self.RequestURI()}}
	if to < len(match) {
		nq := r.URL.Query()
		nq.Set("page", strconv.Itoa(page+1))
		self.RawQuery = nq.Encode()
		ls.Next = &link{base + self.RequestURI()}
	}
	return result{status: 200, body: map[string]any{"_page": page, "_links": ls, "_embedded": map[string]any{"leads": out}}}
}

func (a *Account) matches(l *lead, needle string) bool {
	has := func(s string) bool { return s != "" && strings.Contains(strings.ToLower(s), needle) }
	if has(l.name) {
		return true
	}
	for _, vals := range l.fields {
		for _, v := range vals {
			if has(v.Text) {
				return true
			}
		}
	}
	for _, cid := range l.contacts {
		c := a.contacts[cid]
		if c == nil {
			continue
		}
		if has(c.name) {
			return true
		}
		for _, vals := range c.fields {
			for _, v := range vals {
				if has(v.Text) {
					return true
				}
			}
		}
	}
	return false
}

// getLead answers GET /api/v4/leads/{id}; an unknown id answers 204.
func (a *Account) getLead(r *http.Request, s string) result {
	id, err := strconv.Atoi(s)
	if err != nil {
		return fail(newProblem(http.StatusNotFound, "Not found"))
	}
	l := a.leads[id]
	if l == nil {
		return result{status: http.StatusNoContent}
	}
	with := slices.Contains(strings.Split(r.URL.Query().Get("with"), ","), "contacts")
	return result{status: 200, body: a.leadJSON(a.base(r), l, with)}
}

// timeRanges are filter[created_at] and filter[updated_at], each {from, to}
// in unix seconds, both ends included.
type timeRanges struct {
	created, updated [2]int64 // 0: open end
}

func (t timeRanges) match(l *lead) bool {
	in := func(v int64, r [2]int64) bool { return (r[0] == 0 || v >= r[0]) && (r[1] == 0 || v <= r[1]) }
	return in(l.createdAt, t.created) && in(l.updatedAt, t.updated)
}

// timeFilters reads filter[created_at][from|to] and filter[updated_at][from|to].
func timeFilters(q url.Values) (timeRanges, *problem) {
	var t timeRanges
	for _, f := range []struct {
		name string
		to   *[2]int64
	}{{"created_at", &t.created}, {"updated_at", &t.updated}} {
		for i, end := range []string{"from", "to"} {
			s := q.Get("filter[" + f.name + "][" + end + "]")
			if s == "" {
				continue
			}
			n, err := strconv.ParseInt(s, 10, 64)
			if err != nil || n <= 0 {
				return t, badQuery("filter."+f.name+"."+end, msgType("int"))
			}
			f.to[i] = n
		}
	}
	return t, nil
}

// listOrder reads order[id|created_at|updated_at]=asc|desc; by id
// ascending when none is given.
func listOrder(q url.Values) (func(a, b *lead) bool, *problem) {
	for _, field := range []string{"id", "created_at", "updated_at"} {
		dir := q.Get("order[" + field + "]")
		if dir == "" {
			continue
		}
		if dir != "asc" && dir != "desc" {
			return nil, badQuery("order."+field, msgChoice)
		}
		key := func(l *lead) int64 {
			switch field {
			case "created_at":
				return l.createdAt
			case "updated_at":
				return l.updatedAt
			}
			return int64(l.id)
		}
		return func(a, b *lead) bool {
			ka, kb := key(a), key(b)
			if ka == kb {
				return a.id < b.id
			}
			return (ka < kb) == (dir == "asc")
		}, nil
	}
	return func(a, b *lead) bool { return a.id < b.id }, nil
}
