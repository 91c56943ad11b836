package amocrm

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/paysync/paysync/core"
	"github.com/paysync/paysync/mapping"
)

// Account is what `paysync connectors check` reads from amoCRM: the
// account's currency, its lead pipelines with their statuses, and the lead
// custom fields with their choices.
type Account struct {
	Subdomain string
	Currency  string
	Pipelines []Pipeline
	Fields    []Field
}

// Pipeline is a lead pipeline and its statuses in order.
type Pipeline struct {
	ID       int64    `json:"id"`
	Name     string   `json:"name"`
	IsMain   bool     `json:"is_main"`
	Statuses []Status `json:"-"`
}

// Status is a status of a pipeline.
type Status struct {
	ID   int64  `json:"id"`
	Name string `json:"name"`
	Sort int    `json:"sort"`
}

// Field is a lead custom field.
type Field struct {
	ID    int64  `json:"id"`
	Name  string `json:"name"`
	Type  string `json:"type"`
	Code  string `json:"code"`
	Enums []struct {
		ID    int64  `json:"id"`
		Value string `json:"value"`
	} `json:"enums"`
}

// Pipeline returns the pipeline with id, or the main one for id 0.
func (a *Account) Pipeline(id int64) (Pipeline, bool) {
	for _, p := range a.Pipelines {
		if (id == 0 && p.IsMain) || (id != 0 && p.ID == id) {
			return p, true
		}
	}
	return Pipeline{}, false
}

// hasField reports whether the account has the lead custom field id.
func (a *Account) hasField(id int64) bool {
	_, ok := a.Field(id)
	return ok
}

// Field returns the lead custom field with id.
func (a *Account) Field(id int64) (Field, bool) {
	for _, f := range a.Fields {
		if f.ID == id {
			return f, true
		}
	}
	return Field{}, false
}

// ReadAccount reads the account, its pipelines and its lead custom fields.
func (c *Client) ReadAccount(ctx context.Context) (*Account, error) {
	a := &Account{}
	_, body, err := c.do(ctx, request{method: http.MethodGet, path: "/api/v4/account"})
	if err != nil {
		return nil, err
	}
	var acc struct {
		Subdomain string `json:"subdomain"`
		Currency  string `json:"currency"`
	}
	if err := decodeAnswer("GET /api/v4/account", body, &acc); err != nil {
		return nil, err
	}
	a.Subdomain, a.Currency = acc.Subdomain, acc.Currency

	_, body, err = c.do(ctx, request{method: http.MethodGet, path: "/api/v4/leads/pipelines"})
	if err != nil {
		return nil, err
	}
	var ps struct {
		Embedded struct {
			Pipelines []struct {
				Pipeline
				Embedded struct {
					Statuses []Status `json:"statuses"`
				} `json:"_embedded"`
			} `json:"pipelines"`
		} `json:"_embedded"`
	}
	if err := decodeAnswer("GET /api/v4/leads/pipelines", body, &ps); err != nil {
		return nil, err
	}
	for _, p := range ps.Embedded.Pipelines {
		pl := p.Pipeline
		pl.Statuses = p.Embedded.Statuses
		sort.SliceStable(pl.Statuses, func(i, j int) bool { return pl.Statuses[i].Sort < pl.Statuses[j].Sort })
		a.Pipelines = append(a.Pipelines, pl)
	}

	for page := 1; page <= 20; page++ {
		q := "limit=" + strconv.Itoa(MaxEntities) + "&page=" + strconv.Itoa(page)
		status, body, err := c.do(ctx, request{method: http.MethodGet, path: "/api/v4/leads/custom_fields", query: q})
		if err != nil {
			return nil, err
		}
		if status == http.StatusNoContent {
			break
		}
		var fs struct {
			Links struct {
				Next *struct{} `json:"next"`
			} `json:"_links"`
			Embedded struct {
				Fields []Field `json:"custom_fields"`
			} `json:"_embedded"`
		}
		if err := decodeAnswer("GET /api/v4/leads/custom_fields", body, &fs); err != nil {
			return nil, err
		}
		a.Fields = append(a.Fields, fs.Embedded.Fields...)
		if fs.Links.Next == nil {
			break
		}
	}
	return a, nil
}

// textTypes are the field types that hold an order id as it is.
var textTypes = []string{"text", "textarea", "url"}

// Check prints what a person needs to fill mapping/amocrm.yaml in (the
// pipelines with their statuses, the lead custom fields with their
// choices) and returns one problem per mismatch between the mapping and
// the account, each with its fix.
func (a *Account) Check(m *mapping.Mapping, orderFieldID int64, w io.Writer) []string {
	fmt.Fprintf(w, "  account %s, currency %s\n", a.Subdomain, a.Currency)
	fmt.Fprintln(w, "  pipelines and their statuses (pipeline_id, stages.order and statuses.*.stage take these ids):")
	for _, p := range a.Pipelines {
		main := ""
		if p.IsMain {
			main = ", main"
		}
		var st []string
		for _, s := range p.Statuses {
			st = append(st, fmt.Sprintf("%d %s", s.ID, s.Name))
		}
		fmt.Fprintf(w, "    %d %s%s: %s\n", p.ID, p.Name, main, strings.Join(st, ", "))
	}
	fmt.Fprintln(w, "  lead custom fields (field_id; select fields take enum_id):")
	for _, f := range a.Fields {
		var en []string
		for _, e := range f.Enums {
			en = append(en, fmt.Sprintf("%d %s", e.ID, e.Value))
		}
		line := fmt.Sprintf("    %d %s (%s)", f.ID, f.Name, f.Type)
		if len(en) > 0 {
			line += ": " + strings.Join(en, ", ")
		}
		fmt.Fprintln(w, line)
	}

	// What the mapping sends, over one sample order per status.
	var problems []string
	var pipelineID int64
	sentEnums := map[[2]int64]string{} // field, enum -> a status that sends it
	detected := int64(0)
	for _, st := range core.Statuses {
		o := core.Order{ID: "CHECK-1", Status: st, AmountMinor: 100, Currency: "AMD", PaymentURL: "https://pay.example/x",
			Customer: core.Customer{Handle: "check", Phone: "+37491000000", Email: "check@example.com"},
			Items:    []core.Item{{Name: "x", Quantity: 1, PriceMinor: 100}}, Shipping: map[string]any{"method": "courier"}}
		p, err := m.Render(mapping.Input{Order: o})
		if err != nil {
			continue
		}
		if id, ok := intOf(p.Entity["pipeline_id"]); ok {
			pipelineID = id
		}
		if detected == 0 {
			detected = OrderField(p.Entity, o.ID)
		}
		list, _ := p.Entity["custom_fields_values"].([]any)
		for _, f := range list {
			fm, _ := f.(map[string]any)
			fid, _ := intOf(fm["field_id"])
			vals, _ := fm["values"].([]any)
			for _, v := range vals {
				vm, _ := v.(map[string]any)
				if eid, ok := intOf(vm["enum_id"]); ok && fid != 0 {
					if _, seen := sentEnums[[2]int64{fid, eid}]; !seen {
						sentEnums[[2]int64{fid, eid}] = string(st)
					}
				}
			}
		}
	}
	pl, pipelineOK := a.Pipeline(pipelineID)
	if !pipelineOK {
		var ids []string
		for _, p := range a.Pipelines {
			ids = append(ids, fmt.Sprintf("%d (%s)", p.ID, p.Name))
		}
		problems = append(problems, fmt.Sprintf("%s: entity.pipeline_id %d is not a lead pipeline of the account: set it to one of %s",
			m.File(), pipelineID, strings.Join(ids, ", ")))
	}
	// Custom fields are written by id (field_id) and must exist.
	for _, id := range m.IntegerValuesOf("field_id") {
		if n, _ := strconv.ParseInt(id.Value, 10, 64); !a.hasField(n) {
			problems = append(problems, m.Problem(id.Pos, "lead custom field %s does not exist in the account: create it in Settings > Leads > Fields, or fix field_id (GET /api/v4/leads/custom_fields lists the ids)", id.Value))
		}
	}
	if pipelineOK {
		for _, s := range m.StagesAt() {
			if !slices.ContainsFunc(pl.Statuses, func(st Status) bool { return strconv.FormatInt(st.ID, 10) == s.Value }) {
				problems = append(problems, m.Problem(s.Pos, "status %s is not in the lead pipeline: fix stages.order with the ids from GET /api/v4/leads/pipelines/{id}/statuses", s.Value))
			}
		}
	}
	for _, c := range m.CurrenciesAt() {
		if c.Value != a.Currency {
			problems = append(problems, m.Problem(c.Pos, "currency %s is not the account's currency: set it in Settings > General settings", c.Value))
		}
	}
	keys := make([][2]int64, 0, len(sentEnums))
	for k := range sentEnums {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		return keys[i][0] < keys[j][0] || (keys[i][0] == keys[j][0] && keys[i][1] < keys[j][1])
	})
	for _, k := range keys {
		f, ok := a.Field(k[0])
		if !ok {
			continue // reported above: the field does not exist
		}
		found := false
		var choices []string
		for _, e := range f.Enums {
			found = found || e.ID == k[1]
			choices = append(choices, fmt.Sprintf("%d %s", e.ID, e.Value))
		}
		if !found {
			problems = append(problems, fmt.Sprintf("%s: lead field %d (%s) has no choice %d (sent for status %s): use one of %s",
				m.File(), k[0], f.Name, k[1], sentEnums[k], strings.Join(choices, ", ")))
		}
	}
	field := orderFieldID
	if field == 0 {
		field = detected
	}
	switch f, ok := a.Field(field); {
	case field == 0:
		problems = append(problems, m.File()+": no lead custom field gets the order id: add a text field \"Order ID\" in amoCRM > Settings > Leads > Fields "+
			"and map it under entity.custom_fields_values with `value: {source: order_id}` (paysync finds leads again by it)")
	case ok && !slices.Contains(textTypes, f.Type):
		problems = append(problems, fmt.Sprintf("%s: lead field %d (%s) holds the order id but is a %s field: use a text field", m.File(), f.ID, f.Name, f.Type))
	}
	return problems
}
