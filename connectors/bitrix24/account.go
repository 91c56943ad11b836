package bitrix24

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	"github.com/paysync/paysync/mapping"
)

// Account is what `paysync connectors check` learns from a portal: the
// mapping.AccountInfo to check a mapping against, and the ids a person needs
// to fill one in.
type Account struct {
	Info       mapping.AccountInfo
	CategoryID string
	// Stages are the pipeline's stages, "ID (name)" in portal order.
	Stages []string
	// UserFields are the deal's UF_CRM_* fields, "NAME (title, type)".
	UserFields []string
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
	a := &Account{CategoryID: categoryID, Info: mapping.AccountInfo{Fields: map[string]mapping.FieldInfo{}, Stages: []string{}, Currencies: []string{}}}
	for name, f := range fields {
		a.Info.Fields[name] = mapping.FieldInfo{Name: name, Type: f.Type, Required: f.IsRequired, ReadOnly: f.IsReadOnly}
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
		a.Info.Stages = append(a.Info.Stages, s.StatusID)
		a.Stages = append(a.Stages, fmt.Sprintf("%s (%s)", s.StatusID, s.Name))
	}
	for _, cur := range currencies {
		a.Info.Currencies = append(a.Info.Currencies, cur.Currency)
	}
	return a, nil
}
