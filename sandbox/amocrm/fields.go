package amocrm

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Pipelines and their statuses.

type pipeline struct {
	id       int
	name     string
	sort     int
	main     bool
	statuses []Status
}

// Status is one status of a pipeline.
type Status struct {
	ID   int    `json:"id"`
	Name string `json:"name"`
	Sort int    `json:"sort"`
	// Type is 1 for the "incoming leads" status, 0 otherwise.
	Type int `json:"type"`
}

func defaultPipelines() []*pipeline {
	return []*pipeline{{id: PipelineID, name: "Instagram shop", sort: 1, main: true, statuses: []Status{
		{StatusUnsorted, "Incoming leads", 10, 1},
		{StatusNew, "New inquiry", 20, 0},
		{StatusAwaiting, "Awaiting payment", 30, 0},
		{StatusPaid, "Paid", 40, 0},
		{StatusShipped, "Shipped", 50, 0},
		{StatusWon, "Closed - won", 10000, 0},
		{StatusLost, "Closed - lost", 11000, 0},
	}}}
}

func (a *Account) pipeline(id int) *pipeline {
	for _, p := range a.pipelines {
		if p.id == id {
			return p
		}
	}
	return nil
}

func (a *Account) mainPipeline() *pipeline {
	for _, p := range a.pipelines {
		if p.main {
			return p
		}
	}
	return a.pipelines[0]
}

func (p *pipeline) status(id int) (Status, bool) {
	for _, s := range p.statuses {
		if s.ID == id {
			return s, true
		}
	}
	return Status{}, false
}

// AddPipeline adds a pipeline with its statuses; 142 and 143 are added as
// every amoCRM pipeline has them.
func (a *Account) AddPipeline(id int, name string, statuses []Status) {
	a.mu.Lock()
	defer a.mu.Unlock()
	st := append([]Status(nil), statuses...)
	st = append(st, Status{StatusWon, "Closed - won", 10000, 0}, Status{StatusLost, "Closed - lost", 11000, 0})
	a.pipelines = append(a.pipelines, &pipeline{id: id, name: name, sort: len(a.pipelines) + 1, statuses: st})
}

type pipelineJSON struct {
	ID           int    `json:"id"`
	Name         string `json:"name"`
	Sort         int    `json:"sort"`
	IsMain       bool   `json:"is_main"`
	IsUnsortedOn bool   `json:"is_unsorted_on"`
	IsArchive    bool   `json:"is_archive"`
	AccountID    int    `json:"account_id"`
	Links        links  `json:"_links"`
	Embedded     struct {
		Statuses []statusJSON `json:"statuses"`
	} `json:"_embedded"`
}

type statusJSON struct {
	ID         int    `json:"id"`
	Name       string `json:"name"`
	Sort       int    `json:"sort"`
	IsEditable bool   `json:"is_editable"`
	PipelineID int    `json:"pipeline_id"`
	Color      string `json:"color"`
	Type       int    `json:"type"`
	AccountID  int    `json:"account_id"`
	Links      links  `json:"_links"`
}

func (p *pipeline) json() pipelineJSON {
	out := pipelineJSON{ID: p.id, Name: p.name, Sort: p.sort, IsMain: p.main, IsUnsortedOn: true, AccountID: AccountID,
		Links: links{Self: link{"/api/v4/leads/pipelines/" + strconv.Itoa(p.id)}}}
	out.Embedded.Statuses = p.statusesJSON()
	return out
}

func (p *pipeline) statusesJSON() []statusJSON {
	out := make([]statusJSON, len(p.statuses))
	for i, s := range p.statuses {
		out[i] = statusJSON{ID: s.ID, Name: s.Name, Sort: s.Sort, IsEditable: s.ID != StatusWon && s.ID != StatusLost,
			PipelineID: p.id, Color: "#99ccff", Type: s.Type, AccountID: AccountID,
			Links: links{Self: link{"/api/v4/leads/pipelines/" + strconv.Itoa(p.id) + "/statuses/" + strconv.Itoa(s.ID)}}}
	}
	return out
}

func (a *Account) listPipelines() result {
	var ps []pipelineJSON
	for _, p := range a.pipelines {
		ps = append(ps, p.json())
	}
	return result{status: 200, body: map[string]any{
		"_total_items": len(ps), "_links": links{Self: link{"/api/v4/leads/pipelines"}},
		"_embedded": map[string]any{"pipelines": ps},
	}}
}

// getPipeline serves /leads/pipelines/{id} and /leads/pipelines/{id}/statuses.
func (a *Account) getPipeline(seg []string) result {
	id, err := strconv.Atoi(seg[0])
	p := a.pipeline(id)
	if err != nil || p == nil {
		return fail(newProblem(http.StatusNotFound, "Pipeline not found"))
	}
	switch {
	case len(seg) == 1:
		return result{status: 200, body: p.json()}
	case len(seg) == 2 && seg[1] == "statuses":
		st := p.statusesJSON()
		return result{status: 200, body: map[string]any{"_total_items": len(st),
			"_links": links{Self: link{"/api/v4/leads/pipelines/" + seg[0] + "/statuses"}}, "_embedded": map[string]any{"statuses": st}}}
	}
	return fail(newProblem(http.StatusNotFound, "Not found"))
}

// Custom fields.

type field struct {
	id    int
	name  string
	typ   string // text, textarea, url, numeric, select, multiselect, date_time, date, checkbox, multitext
	code  string // PHONE, EMAIL for the system multitext fields
	enums []Enum
}

// Enum is one choice of a select field, or a kind (WORK, MOB) of a multitext one.
type Enum struct {
	ID    int    `json:"id"`
	Value string `json:"value"`
	Sort  int    `json:"sort"`
}

func defaultLeadFields() []*field {
	return []*field{
		{id: FieldOrderID, name: "Order ID", typ: "text"},
		{id: FieldInstagram, name: "Instagram", typ: "text"},
		{id: FieldPayStatus, name: "Payment status", typ: "select", enums: []Enum{
			{845571, "Pending", 1}, {845573, "Paid", 2}, {845575, "Failed", 3}, {845577, "Expired", 4},
			{845579, "Manual review", 5}, {845591, "Partially refunded", 6}, {845581, "Refunded", 7}}},
		{id: FieldPayURL, name: "Payment link", typ: "url"},
		{id: FieldPaidAt, name: "Paid at", typ: "date_time"},
		{id: FieldDelivery, name: "Delivery", typ: "select", enums: []Enum{
			{845583, "Courier", 1}, {845585, "Pickup", 2}, {845587, "Post", 3}, {EnumDeliveryAny, "Other", 4}}},
	}
}

func defaultContactFields() []*field {
	return []*field{
		{id: FieldPhone, name: "Phone", typ: "multitext", code: "PHONE", enums: []Enum{
			{845001, "WORK", 1}, {845002, "WORKDD", 2}, {845003, "MOB", 3}, {845004, "FAX", 4}, {845005, "HOME", 5}, {845006, "OTHER", 6}}},
		{id: FieldEmail, name: "Email", typ: "multitext", code: "EMAIL", enums: []Enum{
			{845011, "WORK", 1}, {845012, "PRIV", 2}, {845013, "OTHER", 3}}},
		{id: FieldContactIG, name: "Instagram", typ: "text"},
	}
}

// AddLeadField adds a lead custom field (type text, numeric, select, …).
func (a *Account) AddLeadField(id int, name, typ string, enums ...Enum) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.leadFields = append(a.leadFields, &field{id: id, name: name, typ: typ, enums: append([]Enum(nil), enums...)})
}

// DeleteEnum removes a choice from a select field, as a manager editing the
// field would: sending it afterwards fails with NotSupportedChoice.
func (a *Account) DeleteEnum(fieldID, enumID int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, f := range append(append([]*field(nil), a.leadFields...), a.contactFields...) {
		if f.id != fieldID {
			continue
		}
		keep := f.enums[:0]
		for _, e := range f.enums {
			if e.ID != enumID {
				keep = append(keep, e)
			}
		}
		f.enums = keep
	}
}

// DeleteLeadField removes a lead custom field and its values from every lead.
func (a *Account) DeleteLeadField(fieldID int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	keep := a.leadFields[:0]
	for _, f := range a.leadFields {
		if f.id != fieldID {
			keep = append(keep, f)
		}
	}
	a.leadFields = keep
	for _, l := range a.leads {
		delete(l.fields, fieldID)
	}
}

func findField(fs []*field, id int, code string) *field {
	for _, f := range fs {
		if (id != 0 && f.id == id) || (code != "" && f.code == code) {
			return f
		}
	}
	return nil
}

type fieldJSON struct {
	ID               int    `json:"id"`
	Name             string `json:"name"`
	Type             string `json:"type"`
	AccountID        int    `json:"account_id"`
	Code             any    `json:"code"`
	Sort             int    `json:"sort"`
	IsAPIOnly        bool   `json:"is_api_only"`
	Enums            []Enum `json:"enums"`
	GroupID          any    `json:"group_id"`
	RequiredStatus   []any  `json:"required_statuses"`
	IsDeletable      bool   `json:"is_deletable"`
	IsPredefined     bool   `json:"is_predefined"`
	EntityType       string `json:"entity_type"`
	Remind           any    `json:"remind"`
	TrackingCallback any    `json:"tracking_callback"`
	Links            links  `json:"_links"`
}

func (a *Account) listFields(r *http.Request) result {
	limit, page, p := paging(r)
	if p != nil {
		return fail(p)
	}
	all := make([]fieldJSON, len(a.leadFields))
	for i, f := range a.leadFields {
		var code any
		if f.code != "" {
			code = f.code
		}
		all[i] = fieldJSON{ID: f.id, Name: f.name, Type: f.typ, AccountID: AccountID, Code: code, Sort: 500 + i,
			Enums: f.enums, RequiredStatus: []any{}, IsDeletable: true, EntityType: "leads",
			Links: links{Self: link{"/api/v4/leads/custom_fields/" + strconv.Itoa(f.id)}}}
		if len(f.enums) == 0 {
			all[i].Enums = nil
		}
	}
	from := (page - 1) * limit
	if from >= len(all) {
		return result{status: http.StatusNoContent}
	}
	to := min(from+limit, len(all))
	ls := links{Self: link{a.base(r) + "/api/v4/leads/custom_fields?limit=" + strconv.Itoa(limit) + "&page=" + strconv.Itoa(page)}}
	if to < len(all) {
		ls.Next = &link{a.base(r) + "/api/v4/leads/custom_fields?limit=" + strconv.Itoa(limit) + "&page=" + strconv.Itoa(page+1)}
	}
	return result{status: 200, body: map[string]any{"_total_items": len(all), "_page": page, "_links": ls,
		"_embedded": map[string]any{"custom_fields": all[from:to]}}}
}

// paging reads limit (default 50, at most 250) and page (default 1).
func paging(r *http.Request) (limit, page int, p *problem) {
	q := r.URL.Query()
	limit, page = 50, 1
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > MaxEntities {
			return 0, 0, badQuery("limit", "This value should be between 1 and 250.")
		}
		limit = n
	}
	if s := q.Get("page"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			return 0, 0, badQuery("page", "This value should be greater than 0.")
		}
		page = n
	}
	return limit, page, nil
}

func badQuery(path, detail string) *problem {
	p := newProblem(http.StatusBadRequest, "Request validation failed")
	p.Validation = []validationItem{{RequestID: "0", Errors: []validationError{{Code: "InvalidType", Path: path, Detail: detail}}}}
	return p
}

// Validation of what clients send. Messages are Symfony's, as amoCRM's.

const (
	msgChoice   = "The value you selected is not a valid choice."
	msgBlank    = "This value should not be blank."
	msgNotFound = "Entity not found."
)

func msgType(t string) string { return "This value should be of type " + t + "." }

// checker collects the validation errors of one request item.
type checker struct {
	errs []validationError
}

func (c *checker) add(code, path, detail string) {
	c.errs = append(c.errs, validationError{Code: code, Path: path, Detail: detail})
}

func join(prefix, key string) string {
	if prefix == "" {
		return key
	}
	return prefix + "." + key
}

// asInt reads a JSON integer (a json.Number without a fraction).
func asInt(v any) (int64, bool) {
	n, ok := v.(json.Number)
	if !ok {
		return 0, false
	}
	i, err := n.Int64()
	return i, err == nil
}

// customValues validates custom_fields_values against fs and returns them
// by field id, as stored.
func (c *checker) customValues(fs []*field, raw any, prefix string) map[int][]value {
	list, ok := raw.([]any)
	if !ok {
		if raw != nil {
			c.add("InvalidType", prefix, msgType("array"))
		}
		return nil
	}
	out := map[int][]value{}
	for i, item := range list {
		p := join(prefix, strconv.Itoa(i))
		m, ok := item.(map[string]any)
		if !ok {
			c.add("InvalidType", p, msgType("object"))
			continue
		}
		id, hasID := asInt(m["field_id"])
		code, _ := m["field_code"].(string)
		var f *field
		switch {
		case hasID:
			if f = findField(fs, int(id), ""); f == nil {
				c.add("NotSupportedChoice", join(p, "field_id"), msgChoice)
				continue
			}
		case code != "":
			if f = findField(fs, 0, strings.ToUpper(code)); f == nil {
				c.add("NotSupportedChoice", join(p, "field_code"), msgChoice)
				continue
			}
		default:
			c.add("NotBlank", join(p, "field_id"), msgBlank)
			continue
		}
		vals, ok := m["values"].([]any)
		if !ok {
			c.add("InvalidType", join(p, "values"), msgType("array"))
			continue
		}
		var got []value
		for j, vr := range vals {
			if v, ok := c.value(f, vr, join(p, "values."+strconv.Itoa(j))); ok {
				got = append(got, v)
			}
		}
		out[f.id] = got
	}
	return out
}

// value is one stored value of a custom field.
type value struct {
	Text   string // text, url, multitext; the enum's text for select fields
	Number json.Number
	EnumID int
	Enum   string // multitext kind: WORK, MOB, …
	Time   int64  // date_time, date
	Bool   *bool
}

func (c *checker) value(f *field, raw any, p string) (value, bool) {
	m, ok := raw.(map[string]any)
	if !ok {
		c.add("InvalidType", p, msgType("object"))
		return value{}, false
	}
	v := m["value"]
	switch f.typ {
	case "text", "textarea", "url", "streetaddress":
		s, ok := v.(string)
		if !ok {
			c.add("InvalidType", join(p, "value"), msgType("string"))
			return value{}, false
		}
		return value{Text: s}, true
	case "numeric":
		switch n := v.(type) {
		case json.Number:
			return value{Number: n}, true
		case string:
			if _, err := strconv.ParseFloat(n, 64); err == nil {
				return value{Number: json.Number(n)}, true
			}
		}
		c.add("InvalidType", join(p, "value"), msgType("numeric"))
		return value{}, false
	case "select", "multiselect", "radiobutton":
		if id, ok := asInt(m["enum_id"]); ok {
			for _, e := range f.enums {
				if e.ID == int(id) {
					return value{Text: e.Value, EnumID: e.ID}, true
				}
			}
			c.add("NotSupportedChoice", join(p, "enum_id"), msgChoice)
			return value{}, false
		}
		if s, ok := v.(string); ok {
			for _, e := range f.enums {
				if e.Value == s {
					return value{Text: e.Value, EnumID: e.ID}, true
				}
			}
		}
		c.add("NotSupportedChoice", join(p, "value"), msgChoice)
		return value{}, false
	case "date_time", "date", "birthday":
		if n, ok := asInt(v); ok {
			return value{Time: n}, true
		}
		if s, ok := v.(string); ok {
			if t, err := time.Parse(time.RFC3339, s); err == nil {
				return value{Time: t.Unix()}, true
			}
		}
		c.add("InvalidType", join(p, "value"), msgType("int"))
		return value{}, false
	case "checkbox":
		b, ok := v.(bool)
		if !ok {
			c.add("InvalidType", join(p, "value"), msgType("bool"))
			return value{}, false
		}
		return value{Bool: &b}, true
	case "multitext":
		s, ok := v.(string)
		if !ok || s == "" {
			c.add("InvalidType", join(p, "value"), msgType("string"))
			return value{}, false
		}
		kind := "WORK"
		if ec, ok := m["enum_code"].(string); ok {
			kind = ec
		} else if id, ok := asInt(m["enum_id"]); ok {
			kind = ""
			for _, e := range f.enums {
				if e.ID == int(id) {
					kind = e.Value
				}
			}
		}
		for _, e := range f.enums {
			if e.Value == kind {
				return value{Text: s, Enum: kind, EnumID: e.ID}, true
			}
		}
		c.add("NotSupportedChoice", join(p, "enum_code"), msgChoice)
		return value{}, false
	}
	return value{Text: stringOf(v)}, true
}

func stringOf(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case json.Number:
		return x.String()
	case bool:
		return strconv.FormatBool(x)
	}
	return ""
}

// cfvJSON is a custom field value as the API returns it.
type cfvJSON struct {
	FieldID   int              `json:"field_id"`
	FieldName string           `json:"field_name"`
	FieldCode any              `json:"field_code"`
	FieldType string           `json:"field_type"`
	Values    []map[string]any `json:"values"`
}

func valuesJSON(fs []*field, stored map[int][]value) []cfvJSON {
	var out []cfvJSON
	for _, f := range fs {
		vals, ok := stored[f.id]
		if !ok || len(vals) == 0 {
			continue
		}
		var code any
		if f.code != "" {
			code = f.code
		}
		c := cfvJSON{FieldID: f.id, FieldName: f.name, FieldCode: code, FieldType: f.typ}
		for _, v := range vals {
			m := map[string]any{}
			switch f.typ {
			case "select", "multiselect", "radiobutton":
				m["value"], m["enum_id"], m["enum_code"] = v.Text, v.EnumID, nil
			case "multitext":
				m["value"], m["enum_id"], m["enum_code"] = v.Text, v.EnumID, v.Enum
			case "numeric":
				m["value"] = v.Number.String()
			case "date_time", "date", "birthday":
				m["value"] = v.Time
			case "checkbox":
				m["value"] = v.Bool != nil && *v.Bool
			default:
				m["value"] = v.Text
			}
			c.Values = append(c.Values, m)
		}
		out = append(out, c)
	}
	return out
}
