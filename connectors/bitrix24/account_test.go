package bitrix24_test

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/paysync/paysync/connectors/bitrix24"
	"github.com/paysync/paysync/internal/testutil"
	sandbox "github.com/paysync/paysync/sandbox/bitrix24"
)

func TestReadAccountAndCheckMapping(t *testing.T) {
	p := newPortal(t, sandbox.Options{})
	c := p.webhookClient(t)
	m := shippedMapping(t)
	a, err := c.ReadAccount(context.Background(), "0")
	if err != nil {
		t.Fatal(err)
	}
	if len(a.Stages) == 0 || !strings.HasPrefix(a.Stages[0], "NEW") || len(a.Currencies) == 0 || len(a.StageIDs) != len(a.Stages) {
		t.Fatalf("account: %+v", a)
	}
	if probs := a.Check(m); len(probs) != 0 {
		t.Fatalf("the shipped mapping does not fit the sandbox portal:\n%s", strings.Join(probs, "\n"))
	}
	p.DisableCurrency("AMD")
	a, err = c.ReadAccount(context.Background(), "0")
	if err != nil {
		t.Fatal(err)
	}
	probs := strings.Join(a.Check(m), "\n")
	if !strings.Contains(probs, "enable AMD in CRM > Settings > Currencies") {
		t.Fatalf("disabled AMD not reported: %q", probs)
	}
}

// TestCheckWording: each mismatch between the mapping and a portal is one
// problem in Bitrix24's terms, at its place in the file.
func TestCheckWording(t *testing.T) {
	m := shippedMapping(t)
	const file = "../../mapping/bitrix24.yaml"
	at := func(lineWith, token string) string {
		return m.File() + ":" + testutil.Place(t, file, lineWith, token) + ": "
	}
	fields := map[string]bitrix24.DealField{}
	for _, f := range m.Fields() {
		fields[f] = bitrix24.DealField{Name: f}
	}
	delete(fields, "UF_CRM_INSTAGRAM")
	fields["BEGINDATE"] = bitrix24.DealField{Name: "Start date", ReadOnly: true}
	fields["UF_CRM_BRANCH"] = bitrix24.DealField{Name: "Branch", Required: true}
	fields["UF_CRM_NOTE"] = bitrix24.DealField{Required: true}
	a := &bitrix24.Account{
		Fields:     fields,
		StageIDs:   []string{"NEW", "PREPARATION", "PREPAYMENT_INVOICE", "EXECUTING", "FINAL_INVOICE", "WON", "LOSE"},
		Currencies: []string{"USD", "EUR"},
	}
	want := []string{
		at("  BEGINDATE:", "BEGINDATE") + "deal field BEGINDATE is read-only on the portal: remove it from entity",
		at("  UF_CRM_INSTAGRAM:", "UF_CRM_INSTAGRAM") + "deal field UF_CRM_INSTAGRAM does not exist on the portal: create it in CRM > Settings > Custom fields (user fields are named UF_CRM_…), or remove it from entity",
		m.File() + ":1:1: the portal requires deal field UF_CRM_BRANCH (Branch): add it to entity",
		m.File() + ":1:1: the portal requires deal field UF_CRM_NOTE (UF_CRM_NOTE): add it to entity",
		at("  order: [", "APOLOGY") + "stage APOLOGY is not in the deal pipeline: create it in CRM > Deals > Pipelines and stages, or fix stages.order (crm.status.list shows the ids)",
		at("  currencies: [", "AMD") + "currency AMD is not enabled: enable AMD in CRM > Settings > Currencies",
	}
	got := a.Check(m)
	if len(got) != len(want) {
		t.Fatalf("got %d problems, want %d:\n%s", len(got), len(want), strings.Join(got, "\n"))
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("problem %d:\n got  %s\n want %s", i, got[i], want[i])
		}
	}
	if p := (&bitrix24.Account{StageIDs: m.Stages(), Currencies: []string{"AMD"}}).Check(m); len(p) != 0 {
		t.Errorf("a matching portal (fields unread) has problems: %v", p)
	}
}

// `connectors check` reads a list field as a list, names its items, and
// flags an item id the mapping sends that the portal's field does not have
// (issue 24: the mapping sends item ids 101–113 to UF_CRM_PAYMENT_STATUS,
// and every portal numbers its items its own way).
func TestCheckListFieldItems(t *testing.T) {
	p := newPortal(t, sandbox.Options{})
	m := shippedMapping(t)
	a, err := p.webhookClient(t).ReadAccount(context.Background(), "0")
	if err != nil {
		t.Fatal(err)
	}
	f := a.Fields["UF_CRM_PAYMENT_STATUS"]
	if f.Type != "enumeration" || len(f.Items) != len(sandbox.DefaultPaymentStatusItems) || f.Items[1] != (bitrix24.ListItem{ID: "103", Value: "Paid"}) {
		t.Fatalf("UF_CRM_PAYMENT_STATUS read as %+v", f)
	}
	if !slices.ContainsFunc(a.UserFields, func(s string) bool {
		return strings.HasPrefix(s, "UF_CRM_PAYMENT_STATUS (UF_CRM_PAYMENT_STATUS, list: 101 Pending, 103 Paid,")
	}) {
		t.Fatalf("the list's items are not shown: %v", a.UserFields)
	}
	if probs := a.Check(m); len(probs) != 0 {
		t.Fatalf("the shipped mapping fits the sandbox portal, yet: %v", probs)
	}
	// Another portal numbers the items its own way.
	p.AddListField("UF_CRM_PAYMENT_STATUS", sandbox.ListItem{ID: "44", Value: "Pending"}, sandbox.ListItem{ID: "45", Value: "Paid"})
	if a, err = p.webhookClient(t).ReadAccount(context.Background(), "0"); err != nil {
		t.Fatal(err)
	}
	got := a.Check(m)
	const file = "../../mapping/bitrix24.yaml"
	where := m.File() + ":" + testutil.Place(t, file, "  UF_CRM_PAYMENT_STATUS:", "UF_CRM_PAYMENT_STATUS") + ": "
	want := where + "deal field UF_CRM_PAYMENT_STATUS is a list without item 101 (sent for status pending): use its item ids, 44 Pending, 45 Paid " +
		"(docs/bitrix24.md, \"Fill the mapping with your portal's ids\")"
	if len(got) != 7 || got[0] != want {
		t.Fatalf("%d problems, first:\n got  %s\n want %s", len(got), got[0], want)
	}
}
