package mapping

import (
	"fmt"
	"slices"
	"strconv"
)

// FieldInfo describes one field as the CRM account reports it.
type FieldInfo struct {
	Name     string
	Type     string
	Required bool
	ReadOnly bool
}

// AccountInfo is what `paysync connectors check` learned from the account.
// Fields is keyed by what the mapping names: for bitrix24 the deal field name
// (crm.deal.fields); for amocrm the lead custom field id as a decimal string
// (GET /api/v4/leads/custom_fields); for sheets the header text of row 1.
// Stages are the pipeline's stage or status ids (crm.status.list, the
// pipeline's statuses); Currencies the enabled currency codes. A nil member
// skips its check.
type AccountInfo struct {
	Fields     map[string]FieldInfo
	Stages     []string
	Currencies []string
}

// CheckAccount compares the mapping with the account and returns one
// human-readable problem per mismatch, each with where it is and how to fix it.
func (m *Mapping) CheckAccount(a AccountInfo) []string {
	var out []string
	add := func(p pos, format string, args ...any) {
		out = append(out, fmt.Sprintf("%s:%d:%d: ", m.file, p.line, p.col)+fmt.Sprintf(format, args...))
	}
	if a.Fields != nil {
		switch m.connector {
		case "bitrix24":
			mapped := map[string]bool{}
			for _, f := range m.entity {
				mapped[f.name] = true
				info, ok := a.Fields[f.name]
				switch {
				case !ok:
					add(f.pos, "deal field %s does not exist on the portal: create it in CRM > Settings > Custom fields (user fields are named UF_CRM_…), or remove it from entity", f.name)
				case info.ReadOnly:
					add(f.pos, "deal field %s is read-only on the portal: remove it from entity", f.name)
				}
			}
			for _, name := range sortedKeys(a.Fields) {
				if info := a.Fields[name]; info.Required && !info.ReadOnly && !mapped[name] {
					add(pos{1, 1}, "the portal requires deal field %s (%s): add it to entity", name, label(info, name))
				}
			}
		case "amocrm":
			ids := map[string]pos{}
			collectFieldIDs(m.entity, ids)
			for _, id := range sortedKeys(ids) {
				if _, ok := a.Fields[id]; !ok {
					add(ids[id], "lead custom field %s does not exist in the account: create it in Settings > Leads > Fields, or fix field_id (GET /api/v4/leads/custom_fields lists the ids)", id)
				}
			}
			for _, id := range sortedKeys(a.Fields) {
				if info := a.Fields[id]; info.Required && !info.ReadOnly {
					if _, ok := ids[id]; !ok {
						add(pos{1, 1}, "the account requires lead custom field %s (%s): add it to entity.custom_fields_values", id, label(info, id))
					}
				}
			}
		case "sheets":
			for _, f := range m.entity {
				if _, ok := a.Fields[f.name]; !ok {
					add(f.pos, "column %q is not in the sheet's header row: add it to row 1, or remove it from entity", f.name)
				}
			}
		}
	}
	if a.Stages != nil {
		for i, s := range m.stages {
			if slices.Contains(a.Stages, s) {
				continue
			}
			switch m.connector {
			case "bitrix24":
				add(m.stagePos[i], "stage %s is not in the deal pipeline: create it in CRM > Deals > Pipelines and stages, or fix stages.order (crm.status.list shows the ids)", s)
			case "amocrm":
				add(m.stagePos[i], "status %s is not in the lead pipeline: fix stages.order with the ids from GET /api/v4/leads/pipelines/{id}/statuses", s)
			default:
				add(m.stagePos[i], "stage %q is not one of the sheet's status values: add it to the column's drop-down, or fix stages.order", s)
			}
		}
	}
	if a.Currencies != nil {
		for i, c := range m.currencies {
			if slices.Contains(a.Currencies, c) {
				continue
			}
			switch m.connector {
			case "amocrm":
				add(m.currPos[i], "currency %s is not the account's currency: set it in Settings > General settings", c)
			default:
				add(m.currPos[i], "currency %s is not enabled: enable %s in CRM > Settings > Currencies", c, c)
			}
		}
	}
	return out
}

func label(info FieldInfo, key string) string {
	if info.Name != "" {
		return info.Name
	}
	return key
}

// collectFieldIDs finds the constant field_id values of amoCRM custom fields.
func collectFieldIDs(fields []*field, ids map[string]pos) {
	for _, f := range fields {
		if f.name == "field_id" && f.hasValue {
			if n, ok := f.value.(int64); ok {
				ids[strconv.FormatInt(n, 10)] = f.pos
			}
		}
		collectFieldIDs(f.fields, ids)
		collectFieldIDs(f.items, ids)
		if f.item != nil {
			collectFieldIDs([]*field{f.item}, ids)
		}
	}
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
