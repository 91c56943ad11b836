package bitrix24

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strings"

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
		Type       string `json:"type"`
		IsRequired bool   `json:"isRequired"`
		IsReadOnly bool   `json:"isReadOnly"`
		Title      string `json:"title"`
		FormLabel  string `json:"formLabel"`
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
		a.Fields[name] = DealField{Name: name, Type: f.Type, Required: f.IsRequired, ReadOnly: f.IsReadOnly}
		if strings.HasPrefix(name, "UF_CRM_") {
			title := f.FormLabel
			if title == "" {
				title = f.Title
			}
			a.UserFields = append(a.UserFields, fmt.Sprintf("%s (%s, %s)", name, title, f.Type))
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
