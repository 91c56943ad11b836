package mapping_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"regexp"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/paysync/paysync/core"
	"github.com/paysync/paysync/mapping"
)

var errLine = regexp.MustCompile(`^t\.yaml:\d+:\d+: `)

// fuzzDocs puts one template in each place a template can go, one file per
// place, so that a template valid in only one of them is still exercised there.
func fuzzDocs(tmpl string) []map[string]any {
	statuses := func(note string) map[string]any {
		s := map[string]any{}
		for i, st := range core.Statuses {
			r := map[string]any{"stage": []string{"A", "B"}[i%2]}
			if note != "" {
				r["note"], r["tags"] = note, []string{note, "fixed"}
			}
			s[string(st)] = r
		}
		return s
	}
	base := func(entity map[string]any, note string) map[string]any {
		return map[string]any{
			"connector": "amocrm",
			"entity":    entity,
			"stages":    map[string]any{"order": []string{"A", "B"}},
			"statuses":  statuses(note),
		}
	}
	return []map[string]any{
		base(map[string]any{
			"s": map[string]any{"template": tmpl},
			"i": map[string]any{"type": "integer", "template": tmpl},
			"d": map[string]any{"type": "decimal", "template": tmpl},
			"b": map[string]any{"type": "boolean", "template": tmpl},
			"e": map[string]any{"type": "enum", "template": tmpl, "values": map[string]any{"x": 1, "*": 2}},
			"w": map[string]any{"when": tmpl, "value": "on"},
		}, ""),
		base(map[string]any{"s": map[string]any{"source": "order_id"}}, tmpl),
		base(map[string]any{"l": map[string]any{"type": "list", "for_each": "items",
			"item": map[string]any{"type": "object", "fields": map[string]any{"v": map[string]any{"template": tmpl}}}}}, ""),
	}
}

// FuzzRender: any order and any template either fail to load with
// positioned errors, or render without panicking to deterministic JSON.
func FuzzRender(f *testing.F) {
	f.Add([]byte(`{"order_id":"A-1","status":"paid","amount_minor":1500000,"currency":"AMD","customer":{"handle":"x","phone":"091234567"},"items":[{"name":"n","quantity":2,"price_minor":5}],"delivery":{"a":{"b":[1,2]}}}`),
		`{{money .amount_minor .currency}} {{range .items}}{{.name}}{{end}} {{date .paid_at}}`)
	f.Add([]byte(`{"order_id":"B","status":"refunded","amount_minor":-9223372036854775808,"currency":"BHD","refunded_minor":9223372036854775807}`),
		`{{major .amount_minor .currency}}{{mul .amount_minor .refunded_minor}}`)
	f.Add([]byte(`{}`), `{{range .delivery}}{{.}}{{end}}{{.paid_at.Unix}}`)
	shipped := make([]*mapping.Mapping, 0, len(mapping.ShippedConnectors()))
	for _, c := range mapping.ShippedConnectors() {
		m, err := mapping.LoadFile(c + ".yaml")
		if err != nil {
			f.Fatal(err)
		}
		shipped = append(shipped, m)
	}
	f.Fuzz(func(t *testing.T, orderJSON []byte, tmpl string) {
		var in mapping.Input
		dec := json.NewDecoder(bytes.NewReader(orderJSON))
		dec.UseNumber()
		_ = dec.Decode(&in.Order) // a partial order is still an order to render
		if !in.Order.Status.Valid() {
			in.Order.Status = core.Statuses[len(tmpl)%len(core.Statuses)]
		}
		in.Transitions = []core.JournalEntry{{StatusAfter: in.Order.Status, Reason: tmpl}, {StatusAfter: "bogus"}}
		for _, m := range shipped {
			renderChecked(t, m, in)
		}
		for _, doc := range fuzzDocs(tmpl) {
			src, err := yaml.Marshal(doc)
			if err != nil {
				return // not representable in YAML (invalid UTF-8)
			}
			m, err := mapping.Parse("t.yaml", src)
			if err != nil {
				var es mapping.Errors
				if !errors.As(err, &es) || len(es) == 0 {
					t.Fatalf("load error is not positioned: %v", err)
				}
				for _, e := range es {
					if !errLine.MatchString(e.Error()) {
						t.Fatalf("load error %q lacks file:line:col", e.Error())
					}
				}
				continue
			}
			renderChecked(t, m, in)
		}
	})
}

func renderChecked(t *testing.T, m *mapping.Mapping, in mapping.Input) {
	p, err := m.Render(in)
	if err != nil {
		return
	}
	a, err := json.Marshal(p)
	if err != nil {
		t.Fatalf("%s: payload does not marshal: %v", m.Connector(), err)
	}
	p2, err := m.Render(in)
	if err != nil {
		t.Fatalf("%s: second render failed: %v", m.Connector(), err)
	}
	if b, _ := json.Marshal(p2); !bytes.Equal(a, b) {
		t.Fatalf("%s: render is not deterministic", m.Connector())
	}
}
