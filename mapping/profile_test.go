package mapping_test

import (
	"slices"
	"strings"
	"testing"

	// The shipped files declare the connectors of this release; as in the
	// binary, importing them registers their mapping profiles.
	_ "github.com/paysync/paysync/connectors/all"
	"github.com/paysync/paysync/mapping"
)

// registered lists the registered connectors as load errors list them.
func registered() string {
	var names []string
	for _, p := range mapping.Profiles() {
		names = append(names, p.Connector)
	}
	return strings.Join(names, ", ")
}

// register adds a profile for the test's length.
func register(t *testing.T, p mapping.Profile) {
	t.Helper()
	mapping.RegisterProfile(p)
	t.Cleanup(func() { mapping.UnregisterProfile(p.Connector) })
}

// TestShippedFilesAreRegistered: every built-in file declares a registered
// connector, and every registered profile has a built-in file, so the
// tests that range over ShippedConnectors cover every connector.
func TestShippedFilesAreRegistered(t *testing.T) {
	shipped := mapping.ShippedConnectors()
	if len(shipped) == 0 {
		t.Fatal("no built-in mapping files")
	}
	for _, c := range shipped {
		if _, ok := mapping.LookupProfile(c); !ok {
			t.Errorf("%s.yaml is built in, but no connector registers a %s profile", c, c)
		}
	}
	for _, p := range mapping.Profiles() {
		if !slices.Contains(shipped, p.Connector) {
			t.Errorf("connector %s registers a profile but has no built-in %s.yaml", p.Connector, p.Connector)
		}
	}
}

// TestProfileOfAConnectorMappingDoesNotName: a connector this package has
// never heard of loads once its profile is registered, and its profile's
// words appear in load errors; unregistered, it is unknown again.
func TestProfileOfAConnectorMappingDoesNotName(t *testing.T) {
	ticket := strings.Replace(minimal, "connector: sheets", "connector: testcrm", 1)
	if _, err := mapping.Parse("t.yaml", []byte(ticket)); err == nil || !strings.Contains(err.Error(), "unknown connector testcrm") {
		t.Fatalf("before registration: %v", err)
	}
	register(t, mapping.Profile{Connector: "testcrm", Record: "ticket", NoContact: "a ticket holds the customer itself"})
	m, err := mapping.Parse("t.yaml", []byte(ticket))
	if err != nil || m.Connector() != "testcrm" {
		t.Fatalf("after registration: %v, %v", m, err)
	}
	cases := []struct{ old, new, want string }{
		{"entity:\n  Order ID: {source: order_id}\n", "", "t.yaml:1:1: entity is missing: list the fields of the ticket record"},
		{"stages:", "contact:\n  Name: {source: customer.name}\nstages:", "t.yaml:4:1: contact does not apply to testcrm: a ticket holds the customer itself"},
		{"connector: testcrm", "connector: nosuchcrm", "t.yaml:1:12: unknown connector nosuchcrm (known: " + registered() + ")"},
	}
	for _, c := range cases {
		_, err := mapping.Parse("t.yaml", []byte(strings.Replace(ticket, c.old, c.new, 1)))
		if err == nil || err.Error() != c.want {
			t.Errorf("got  %v\nwant %s", err, c.want)
		}
	}
	if !strings.Contains(registered(), "testcrm") {
		t.Fatalf("Profiles() lacks testcrm: %s", registered())
	}

	// A profile without a record word or a contact rule: a generic word, and a contact section loads.
	register(t, mapping.Profile{Connector: "plaincrm"})
	plain := strings.Replace(minimal, "connector: sheets", "connector: plaincrm", 1)
	if _, err := mapping.Parse("t.yaml", []byte(strings.Replace(plain, "entity:\n  Order ID: {source: order_id}\n", "", 1))); err == nil ||
		err.Error() != "t.yaml:1:1: entity is missing: list the fields of the CRM record" {
		t.Errorf("no record word: %v", err)
	}
	if _, err := mapping.Parse("t.yaml", []byte(strings.Replace(plain, "stages:", "contact:\n  Name: {source: customer.name}\nstages:", 1))); err != nil {
		t.Errorf("contact refused without NoContact: %v", err)
	}

	mapping.UnregisterProfile("testcrm")
	if _, err := mapping.Parse("t.yaml", []byte(ticket)); err == nil || err.Error() != "t.yaml:1:12: unknown connector testcrm (known: "+registered()+")" {
		t.Fatalf("after UnregisterProfile: %v", err)
	}
}

func TestRegisterProfileRefusesMistakes(t *testing.T) {
	mustPanic := func(what string, f func()) {
		t.Helper()
		defer func() {
			if recover() == nil {
				t.Errorf("%s did not panic", what)
			}
		}()
		f()
	}
	mustPanic("a profile without a connector", func() { mapping.RegisterProfile(mapping.Profile{Record: "deal"}) })
	register(t, mapping.Profile{Connector: "twice"})
	mustPanic("a second profile of one connector", func() { mapping.RegisterProfile(mapping.Profile{Connector: "twice"}) })
}

// TestMentions: what an account check compares with the CRM, each with its
// place in the file, and problems formatted as load errors are.
func TestMentions(t *testing.T) {
	register(t, mapping.Profile{Connector: "idcrm"})
	src := `connector: idcrm
settings: {currencies: [AMD, USD]}
entity:
  name: {source: order_id}
  fields:
    type: list
    items:
      - type: object
        fields:
          field_id: {type: integer, value: 30}
      - type: object
        fields:
          field_id: {type: integer, value: 4}
          other: {type: integer, value: 5}
      - type: object
        fields:
          field_id: {type: integer, value: 30}
      - type: object
        fields:
          field_id: {value: "77"}
  tags:
    type: list
    for_each: tags
    item: {type: object, fields: {field_id: {type: integer, value: 9}}}
contact:
  field_id: {type: integer, value: 8}
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
	m, err := mapping.Parse("t.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	at := func(value string, line, col int) mapping.Mention {
		return mapping.Mention{Value: value, Pos: mapping.Pos{Line: line, Col: col}}
	}
	for _, c := range []struct {
		what      string
		got, want []mapping.Mention
	}{
		{"EntityFieldsAt", m.EntityFieldsAt(), []mapping.Mention{at("name", 4, 3), at("fields", 5, 3), at("tags", 21, 3)}},
		{"StagesAt", m.StagesAt(), []mapping.Mention{at("A", 28, 11), at("B", 28, 14)}},
		{"CurrenciesAt", m.CurrenciesAt(), []mapping.Mention{at("AMD", 2, 25), at("USD", 2, 30)}},
		// Sorted as text, once each (the later 30 counts), integers only,
		// entity only (not contact's 8), item of for_each included.
		{"IntegerValuesOf", m.IntegerValuesOf("field_id"), []mapping.Mention{at("30", 17, 11), at("4", 13, 11), at("9", 24, 35)}},
	} {
		if !slices.Equal(c.got, c.want) {
			t.Errorf("%s = %v\nwant %v", c.what, c.got, c.want)
		}
	}
	if got, want := m.Problem(mapping.Pos{Line: 28, Col: 14}, "stage %s is missing", "B"), "t.yaml:28:14: stage B is missing"; got != want {
		t.Errorf("Problem = %q, want %q", got, want)
	}
}
