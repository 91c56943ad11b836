package amocrm_test

import (
	"context"
	"io"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/paysync/paysync/connectors/amocrm"
	"github.com/paysync/paysync/connectors/connectortest"
	"github.com/paysync/paysync/core"
	"github.com/paysync/paysync/internal/testutil"
	sandbox "github.com/paysync/paysync/sandbox/amocrm"
)

// TestCheckWording: each mismatch between the mapping and the account is
// one problem in amoCRM's terms, at its place in the file: a lead custom
// field the file names by id, a status of the pipeline, the currency.
func TestCheckWording(t *testing.T) {
	a := newAccount(t, sandbox.Options{})
	m := shippedMapping(t)
	acc, err := a.client(t).ReadAccount(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if probs := acc.Check(m, 0, io.Discard); len(probs) != 0 {
		t.Fatalf("the shipped mapping does not fit the sandbox account:\n%s", strings.Join(probs, "\n"))
	}

	delivery := strconv.Itoa(sandbox.FieldDelivery)
	acc.Fields = slices.DeleteFunc(acc.Fields, func(f amocrm.Field) bool { return f.ID == sandbox.FieldDelivery })
	main := slices.IndexFunc(acc.Pipelines, func(p amocrm.Pipeline) bool { return p.IsMain })
	if main < 0 {
		t.Fatal("the sandbox account has no main pipeline")
	}
	st := acc.Pipelines[main].Statuses
	gone := strconv.FormatInt(st[len(st)-1].ID, 10)
	acc.Pipelines[main].Statuses = st[:len(st)-1]
	acc.Currency = "USD"

	const file = "../../mapping/amocrm.yaml"
	at := func(lineWith, token string) string {
		return m.File() + ":" + testutil.Place(t, file, lineWith, token) + ": "
	}
	want := []string{
		at("value: "+delivery, "field_id") + "lead custom field " + delivery + " does not exist in the account: create it in Settings > Leads > Fields, or fix field_id (GET /api/v4/leads/custom_fields lists the ids)",
		at("  order: [", gone) + "status " + gone + " is not in the lead pipeline: fix stages.order with the ids from GET /api/v4/leads/pipelines/{id}/statuses",
		at("  currencies: [", "AMD") + "currency AMD is not the account's currency: set it in Settings > General settings",
	}
	got := acc.Check(m, 0, io.Discard)
	if len(got) != len(want) {
		t.Fatalf("got %d problems, want %d:\n%s", len(got), len(want), strings.Join(got, "\n"))
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("problem %d:\n got  %s\n want %s", i, got[i], want[i])
		}
	}
}

// `connectors check` warns that duplicate control is on once paysync has
// seen amoCRM merge one of its leads, and says what paysync does about it.
func TestCheckWarnsOfDuplicateControl(t *testing.T) {
	ctx := context.Background()
	var m amocrm.MemoryMerges
	var quiet strings.Builder
	if err := amocrm.WarnDuplicateControl(ctx, &m, &quiet); err != nil || quiet.Len() != 0 {
		t.Fatalf("no merge seen, yet: %q (%v)", quiet.String(), err)
	}
	a := newAccount(t, sandbox.Options{DuplicateControl: true})
	c, err := amocrm.NewConnector(amocrm.ConnectorConfig{Client: a.client(t), Mapping: shippedMapping(t), Merges: &m})
	if err != nil {
		t.Fatal(err)
	}
	first := connectortest.Order("DUPW-1")
	mustDeliver(t, c, core.Delivery{Order: first})
	second := connectortest.Order("DUPW-2")
	second.Customer = first.Customer
	mustDeliver(t, c, core.Delivery{Order: second})
	var out strings.Builder
	if err := amocrm.WarnDuplicateControl(ctx, &m, &out); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"duplicate control is on", "merged 1 of paysync's new leads", "a lead of its own", "turn duplicate\n    control off"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("warning lacks %q:\n%s", want, out.String())
		}
	}
}
