package mapping_test

import (
	"strings"
	"testing"

	"github.com/paysync/paysync/mapping"
)

// minimal is the smallest valid file; the cases below break one thing each.
const minimal = `connector: sheets
entity:
  Order ID: {source: order_id}
stages:
  order: [A, B]
statuses:
  pending: {stage: A}
  paid: {stage: B}
  failed: {stage: null}
  expired: {stage: null}
  manual_review: {stage: null}
  partially_refunded: {stage: null}
  refunded: {stage: null}
`

func TestMinimalIsValid(t *testing.T) {
	if _, err := mapping.Parse("t.yaml", []byte(minimal)); err != nil {
		t.Fatal(err)
	}
}

// TestValidationErrors pins each load error's exact text and position.
func TestValidationErrors(t *testing.T) {
	cases := []struct {
		name, old, new string
		want           []string
	}{
		{"unknown top-level key", "entity:", "colour: red\nentity:",
			[]string{"t.yaml:2:1: unknown key colour in the file (known: version, connector, settings, tags, entity, contact, stages, statuses)"}},
		{"unknown field key", "{source: order_id}", "{source: order_id, sorce: x}",
			[]string{"t.yaml:3:32: unknown key sorce in entity.Order ID (known: type, source, template, value, default, when, omit_empty, max_length, units, currency, values, items, for_each, item, fields)"}},
		{"unknown source field", "source: order_id", "source: customer.phon",
			[]string{"t.yaml:3:22: entity.Order ID: unknown source field customer.phon (customer has email, handle, id, name, phone)"}},
		{"unknown top-level source", "source: order_id", "source: ammount_minor",
			[]string{"t.yaml:3:22: entity.Order ID: unknown source field ammount_minor (sources are amount_minor, created_at, currency, customer, delivery, expires_at, fixed_link, items, last_reason, order_id, orphan, paid_at, payment_url, provider, provider_ref, reason, refunded_minor, stage, status, status_changed_at, tags, updated_at, version)"}},
		{"transition outside notes", "source: order_id", "source: transition.reason",
			[]string{"t.yaml:3:22: entity.Order ID: unknown source field transition: it exists only in status notes"}},
		{"template parse error", "{source: order_id}", `{template: "{{.order_id"}`,
			[]string{`t.yaml:3:24: entity.Order ID: unclosed action`}},
		{"template unknown function", "{source: order_id}", `{template: "{{frob .order_id}}"}`,
			[]string{`t.yaml:3:24: entity.Order ID: function "frob" not defined`}},
		{"template unknown field", "{source: order_id}", `{template: "{{.customer.nam}}"}`,
			[]string{`t.yaml:3:24: entity.Order ID: .customer.nam: unknown source field customer.nam (customer has email, handle, id, name, phone)`}},
		{"template field of a string", "{source: order_id}", `{template: "{{.order_id.x}}"}`,
			[]string{`t.yaml:3:24: entity.Order ID: .order_id.x: order_id is a string and has no field x`}},
		{"template unbounded range", "{source: order_id}", `{template: "{{range 1000000000}}x{{end}}"}`,
			[]string{`t.yaml:3:24: entity.Order ID: range works only over a list or object of the order (items, tags, delivery, customer)`}},
		{"template nested range", "{source: order_id}", `{template: "{{range .items}}{{range $.items}}x{{end}}{{end}}"}`,
			[]string{`t.yaml:3:24: entity.Order ID: range inside range is not supported`}},
		{"template define", "{source: order_id}", `{template: '{{define "a"}}{{template "a"}}{{end}}{{template "a"}}'}`,
			[]string{`t.yaml:3:24: entity.Order ID: define and block are not supported in mapping templates`}},
		{"template item field inside range", "{source: order_id}", `{template: "{{range .items}}{{.nme}}{{end}}"}`,
			[]string{`t.yaml:3:24: entity.Order ID: .nme: unknown source field nme (an item has name, price_minor, quantity, sku)`}},
		{"integer value", "{source: order_id}", "{type: integer, value: abc}",
			[]string{`t.yaml:3:36: entity.Order ID: value "abc" is not an integer`}},
		{"decimal from a string source", "{source: order_id}", "{type: decimal, source: order_id}",
			[]string{`t.yaml:3:37: entity.Order ID: a decimal field takes an amount in minor units (amount_minor, refunded_minor); order_id is a string`}},
		{"decimal value as a float", "{source: order_id}", "{type: decimal, value: 150.5}",
			[]string{`t.yaml:3:36: entity.Order ID: write decimal values in minor units as an integer (1500000 for 15000.00)`}},
		{"string from an object", "source: order_id", "source: customer",
			[]string{`t.yaml:3:22: entity.Order ID: source customer is an object: pick one of its fields, or use a template`}},
		{"boolean value", "{source: order_id}", "{type: boolean, value: yes please}",
			[]string{`t.yaml:3:36: entity.Order ID: value "yes please" is not true or false`}},
		{"unknown type", "{source: order_id}", "{type: money, source: amount_minor}",
			[]string{`t.yaml:3:20: entity.Order ID: unknown type "money" (types: string, integer, decimal, boolean, enum, list, object)`}},
		{"key of another type", "{source: order_id}", "{source: order_id, units: major}",
			[]string{`t.yaml:3:32: entity.Order ID: units does not apply to a string field`}},
		{"no producer", "{source: order_id}", "{type: string}",
			[]string{`t.yaml:3:3: entity.Order ID has no value: set one of source, template or value`}},
		{"two producers", "{source: order_id}", "{source: order_id, value: x}",
			[]string{`t.yaml:3:32: entity.Order ID: use only one of source, template and value (found source and value)`}},
		{"enum without id", "{source: order_id}", "{type: enum, source: provider, values: {paid: [1]}}",
			[]string{`t.yaml:3:59: entity.Order ID: the id of paid must be a number or a string`}},
		{"enum mixed ids", "{source: order_id}", "{type: enum, source: provider, values: {paid: 1, failed: x}}",
			[]string{`t.yaml:3:70: entity.Order ID: ids must all be numbers or all be strings; x differs`}},
		{"status enum without partially_refunded", "{source: order_id}",
			"{type: enum, source: status, values: {pending: 1, paid: 2, failed: 3, expired: 4, manual_review: 5, refunded: 6}}",
			[]string{`t.yaml:3:50: entity.Order ID: status partially_refunded has no id under values: add it, or a "*" entry for any other status`}},
		{"for_each over a string", "{source: order_id}", "{type: list, for_each: order_id, item: {source: item}}",
			[]string{`t.yaml:3:36: entity.Order ID: for_each needs a list (items or tags); order_id is a string`}},
		{"status without a stage", "paid: {stage: B}", "paid: {note: hi}",
			[]string{`t.yaml:8:3: status paid has no stage: set stage to one of stages.order, or to null to keep the current stage`}},
		{"status not mapped", "  refunded: {stage: null}\n", "",
			[]string{"t.yaml:6:1: status refunded is not mapped: add `refunded: {stage: …}` (stage: null keeps the current stage)"}},
		{"partially_refunded not mapped", "  partially_refunded: {stage: null}\n", "",
			[]string{"t.yaml:6:1: status partially_refunded is not mapped: add `partially_refunded: {stage: …}` (stage: null keeps the current stage)"}},
		{"unknown status", "  refunded: {stage: null}\n", "  refunded: {stage: null}\n  cancelled: {stage: A}\n",
			[]string{`t.yaml:14:3: unknown status cancelled (statuses are pending, paid, failed, expired, manual_review, partially_refunded, refunded)`}},
		{"unknown stage for a status", "paid: {stage: B}", "paid: {stage: WON}",
			[]string{`t.yaml:8:17: unknown stage WON for status paid: list it in stages.order`}},
		{"unknown stage in reopen", "order: [A, B]", "order: [A, B]\n  reopen: [LOSE]",
			[]string{`t.yaml:6:12: unknown stage LOSE in stages.reopen: list it in stages.order first`}},
		{"stage listed twice", "order: [A, B]", "order: [A, B, A]",
			[]string{`t.yaml:5:17: stage A is listed twice in stages.order`}},
		{"stages.field not in entity", "order: [A, B]", "order: [A, B]\n  field: Status",
			[]string{`t.yaml:6:10: stages.field Status is not a field of entity`}},
		{"bad unknown policy", "order: [A, B]", "order: [A, B]\n  unknown: maybe",
			[]string{`t.yaml:6:12: stages.unknown must be keep or move (got "maybe")`}},
		{"bad time zone", "entity:", "settings: {time_zone: Mars/Olympus}\nentity:",
			[]string{`t.yaml:2:23: unknown time zone "Mars/Olympus": use an IANA name such as Asia/Yerevan or UTC`}},
		{"bad currency", "entity:", "settings: {currencies: [AMD, XYZ]}\nentity:",
			[]string{`t.yaml:2:30: unknown currency "XYZ": use an ISO 4217 code such as AMD`}},
		{"contact on sheets", "stages:", "contact:\n  NAME: {source: customer.name}\nstages:",
			[]string{`t.yaml:4:1: contact does not apply to sheets: a row holds the customer's columns itself`}},
		{"duplicate field", "  Order ID: {source: order_id}", "  Order ID: {source: order_id}\n  Order ID: {source: status}",
			[]string{`t.yaml:4:3: Order ID is defined twice in entity`}},
		{"unknown connector", "connector: sheets", "connector: hubspot",
			[]string{`t.yaml:1:12: unknown connector hubspot (known: ` + registered() + `)`}},
		{"empty entity", "entity:\n  Order ID: {source: order_id}", "entity: {}",
			[]string{`t.yaml:2:9: entity has no fields`}},
		{"empty enum values", "{source: order_id}", "{type: enum, source: status, values: {}}",
			[]string{`t.yaml:3:50: entity.Order ID: values is empty`}},
		{"yaml syntax", "entity:", "entity: [\nx",
			[]string{`t.yaml:2:1: did not find expected ',' or ']'`}},
		{"several at once", "{source: order_id}", `{type: integer, value: x, template: "{{.nope}}"}`,
			[]string{
				`t.yaml:3:36: entity.Order ID: value "x" is not an integer`,
				`t.yaml:3:39: entity.Order ID: use only one of source, template and value (found template and value)`,
				`t.yaml:3:49: entity.Order ID: .nope: unknown source field nope (sources are amount_minor, created_at, currency, customer, delivery, expires_at, fixed_link, items, last_reason, order_id, orphan, paid_at, payment_url, provider, provider_ref, reason, refunded_minor, stage, status, status_changed_at, tags, updated_at, version)`,
			}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			src := strings.Replace(minimal, tc.old, tc.new, 1)
			if src == minimal {
				t.Fatalf("case does not change the file: %q not found", tc.old)
			}
			m, err := mapping.Parse("t.yaml", []byte(src))
			if err == nil {
				t.Fatalf("loaded, want:\n%s", strings.Join(tc.want, "\n"))
			}
			if m != nil {
				t.Error("a mapping came back with the error")
			}
			if got, want := err.Error(), strings.Join(tc.want, "\n"); got != want {
				t.Errorf("got:\n%s\nwant:\n%s", got, want)
			}
		})
	}
}
