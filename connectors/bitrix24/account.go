package bitrix24

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/paysync/paysync/core"
	"github.com/paysync/paysync/mapping"
)

// Account is what `paysync connectors check` learns from a portal: what a
// mapping is checked against (Check), and the ids a person needs to fill one
// in.
type Account struct {
	CategoryID string
	// Fields are the deal's fields by name (crm.deal.fields).
	Fields map[string]DealField
	// StageIDs are the pipeline's stage ids in portal order (crm.status.list).
	StageIDs []string
	// Currencies are the enabled currency codes (crm.currency.list).
	Currencies []string
	// Stages are the pipeline's stages, "ID (name)" in portal order.
	Stages []string
	// UserFields are the deal's UF_CRM_* fields, "NAME (title, type)".
	UserFields []string
}

// DealField is a deal field as crm.deal.fields describes it.
type DealField struct {
	Name     string // how a problem names the field; its key when empty
	Type     string
	Required bool
	ReadOnly bool
	// Items are a list field's items (type "enumeration"): a deal holds
	// one of their ids.
	Items []ListItem
}

// ListItem is one item of a list field.
type ListItem struct {
	ID    string `json:"ID"`
	Value string `json:"VALUE"`
}

// Check compares a mapping with the portal and returns one problem per
// mismatch, each at its place in the file and with its fix in the portal's
// terms. A nil Fields, StageIDs or Currencies skips its check.
func (a *Account) Check(m *mapping.Mapping) []string {
	var out []string
	if a.Fields != nil {
		mapped := map[string]bool{}
		for _, f := range m.EntityFieldsAt() {
			mapped[f.Value] = true
			info, ok := a.Fields[f.Value]
			switch {
			case !ok:
				out = append(out, m.Problem(f.Pos, "deal field %s does not exist on the portal: create it in CRM > Settings > Custom fields (user fields are named UF_CRM_…), or remove it from entity", f.Value))
			case info.ReadOnly:
				out = append(out, m.Problem(f.Pos, "deal field %s is read-only on the portal: remove it from entity", f.Value))
			}
		}
		names := make([]string, 0, len(a.Fields))
		for name := range a.Fields {
			names = append(names, name)
		}
		sort.Strings(names)
		for _, name := range names {
			if info := a.Fields[name]; info.Required && !info.ReadOnly && !mapped[name] {
				label := info.Name
				if label == "" {
					label = name
				}
				out = append(out, m.Problem(mapping.Pos{Line: 1, Col: 1}, "the portal requires deal field %s (%s): add it to entity", name, label))
			}
		}
	}
	if a.Fields != nil {
		out = append(out, a.checkListItems(m)...)
	}
	if a.StageIDs != nil {
		for _, s := range m.StagesAt() {
			if !slices.Contains(a.StageIDs, s.Value) {
				out = append(out, m.Problem(s.Pos, "stage %s is not in the deal pipeline: create it in CRM > Deals > Pipelines and stages, or fix stages.order (crm.status.list shows the ids)", s.Value))
			}
		}
	}
	if a.Currencies != nil {
		for _, c := range m.CurrenciesAt() {
			if !slices.Contains(a.Currencies, c.Value) {
				out = append(out, m.Problem(c.Pos, "currency %s is not enabled: enable %s in CRM > Settings > Currencies", c.Value, c.Value))
			}
		}
	}
	return out
}

// ReadAccount reads deal fields, the stages of one pipeline (categoryID ""
// or "0" is the default pipeline) and the enabled currencies, in one batch.
func (c *Client) ReadAccount(ctx context.Context, categoryID string) (*Account, error) {
	entity := "DEAL_STAGE"
	if categoryID != "" && categoryID != "0" {
		entity += "_" + categoryID
	}
	res, err := c.Batch(ctx, []Command{
		{Key: "fields", Method: "crm.deal.fields"},
		{Key: "stages", Method: "crm.status.list", Params: map[string]any{"filter": map[string]any{"ENTITY_ID": entity}, "order": map[string]any{"SORT": "ASC"}}},
		{Key: "currencies", Method: "crm.currency.list"},
	}, true)
	if err != nil {
		return nil, err
	}
	for _, r := range res {
		if r.Err != nil {
			return nil, r.Err
		}
	}
	var fields map[string]struct {
		Type       string     `json:"type"`
		IsRequired bool       `json:"isRequired"`
		IsReadOnly bool       `json:"isReadOnly"`
		Title      string     `json:"title"`
		FormLabel  string     `json:"formLabel"`
		Items      []ListItem `json:"items"`
	}
	var stages []struct {
		StatusID string `json:"STATUS_ID"`
		Name     string `json:"NAME"`
	}
	var currencies []struct {
		Currency string `json:"CURRENCY"`
	}
	for _, dec := range []struct {
		i int
		v any
	}{{0, &fields}, {1, &stages}, {2, &currencies}} {
		if err := json.Unmarshal(res[dec.i].Result, dec.v); err != nil {
			return nil, fmt.Errorf("bitrix24 %s: unexpected answer: %w", res[dec.i].Key, err)
		}
	}
	a := &Account{CategoryID: categoryID, Fields: map[string]DealField{}, StageIDs: []string{}, Currencies: []string{}}
	for name, f := range fields {
		a.Fields[name] = DealField{Name: name, Type: f.Type, Required: f.IsRequired, ReadOnly: f.IsReadOnly, Items: f.Items}
		if strings.HasPrefix(name, "UF_CRM_") {
			title := f.FormLabel
			if title == "" {
				title = f.Title
			}
			kind := f.Type
			if f.Type == "enumeration" {
				// A list: the mapping sends its item ids, which every
				// portal numbers its own way.
				kind = "list: " + itemList(f.Items)
			}
			a.UserFields = append(a.UserFields, fmt.Sprintf("%s (%s, %s)", name, title, kind))
		}
	}
	sort.Strings(a.UserFields)
	for _, s := range stages {
		a.StageIDs = append(a.StageIDs, s.StatusID)
		a.Stages = append(a.Stages, fmt.Sprintf("%s (%s)", s.StatusID, s.Name))
	}
	for _, cur := range currencies {
		a.Currencies = append(a.Currencies, cur.Currency)
	}
	return a, nil
}

// itemList is a list field's items as a person reads them: "101 Pending,
// 103 Paid".
func itemList(items []ListItem) string {
	parts := make([]string, len(items))
	for i, it := range items {
		parts[i] = it.ID + " " + it.Value
	}
	if len(parts) == 0 {
		return "no items"
	}
	return strings.Join(parts, ", ")
}

// checkListItems renders a sample order in each payment status and flags,
// at the field, each value the mapping sends to a list field that is not
// one of the field's item ids.
func (a *Account) checkListItems(m *mapping.Mapping) []string {
	at := map[string]mapping.Pos{}
	for _, f := range m.EntityFieldsAt() {
		at[f.Value] = f.Pos
	}
	var out []string
	seen := map[string]bool{}
	for _, st := range core.Statuses {
		o := core.Order{ID: "CHECK-1", Status: st, AmountMinor: 100, Currency: "AMD", PaymentURL: "https://pay.example/x",
			Customer: core.Customer{Handle: "check", Phone: "+37491000000", Email: "check@example.com"},
			Items:    []core.Item{{Name: "x", Quantity: 1, PriceMinor: 100}}, Shipping: map[string]any{"method": "courier"}}
		p, err := m.Render(mapping.Input{Order: o})
		if err != nil {
			continue
		}
		names := make([]string, 0, len(p.Entity))
		for name := range p.Entity {
			names = append(names, name)
		}
		sort.Strings(names)
		for _, name := range names {
			f, ok := a.Fields[name]
			v := strings.TrimSpace(fmt.Sprint(p.Entity[name]))
			if !ok || f.Type != "enumeration" || v == "" || seen[name+"\x00"+v] {
				continue
			}
			seen[name+"\x00"+v] = true
			if !slices.ContainsFunc(f.Items, func(it ListItem) bool { return it.ID == v }) {
				out = append(out, m.Problem(at[name], "deal field %s is a list without item %s (sent for status %s): use its item ids, %s "+
					"(docs/bitrix24.md, \"Fill the mapping with your portal's ids\")", name, v, st, itemList(f.Items)))
			}
		}
	}
	return out
}
