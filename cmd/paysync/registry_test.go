package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/paysync/paysync/connectors"
	"github.com/paysync/paysync/core"
	"github.com/paysync/paysync/internal/testutil"
	"github.com/paysync/paysync/mapping"
)

// testCRMSettings is the config section of a connector that exists only in
// this test: PAYSYNC_TESTCRM_ACCOUNT turns it on.
type testCRMSettings struct {
	Account string `yaml:"account" env:"PAYSYNC_TESTCRM_ACCOUNT, overwrite"`
}

func (s *testCRMSettings) Enabled() bool { return s.Account != "" }

// testCRM records what the dispatcher delivers to it.
type testCRM struct {
	mu     sync.Mutex
	status map[string]core.Status // by order id
	calls  int
}

func (c *testCRM) Name() string  { return "testcrm" }
func (c *testCRM) MaxBatch() int { return 10 }
func (c *testCRM) Deliver(_ context.Context, batch []core.Delivery) []core.DeliveryResult {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.calls++
	out := make([]core.DeliveryResult, len(batch))
	for i, d := range batch {
		c.status[d.Order.ID] = d.Order.Status
		out[i].ExternalID = "rec-" + d.Order.ID
	}
	return out
}

func (c *testCRM) statusOf(id string) core.Status {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.status[id]
}

// TestRegisteredConnectorIsServed: a connector registered from outside the
// release (here, this test) is configured, built and delivered to by serve,
// with no other file knowing its name.
func TestRegisteredConnectorIsServed(t *testing.T) {
	crm := &testCRM{status: map[string]core.Status{}}
	var gotAccount string
	connectors.Register(connectors.Spec{
		Name:      "testcrm",
		Settings:  func() connectors.Settings { return &testCRMSettings{} },
		NoMapping: true,
		New: func(_ context.Context, d connectors.Deps) (core.Connector, error) {
			gotAccount = d.Settings.(*testCRMSettings).Account
			return crm, nil
		},
	})
	t.Cleanup(func() { connectors.Unregister("testcrm") })
	e := startE2E(t, "sqlite", map[string]string{
		"PAYSYNC_TESTCRM_ACCOUNT":        "acct-42",
		"PAYSYNC_GENERIC_WEBHOOK_SECRET": e2eSecret,
		"PAYSYNC_BITRIX24_WEBHOOK_URL":   "", // only the test's connector
	})
	if gotAccount != "acct-42" {
		t.Fatalf("the connector was built with account %q, want the environment's acct-42", gotAccount)
	}
	if code, body := e.api("POST", "/v1/orders", map[string]any{"order_id": "REG-1", "amount_minor": 150000, "currency": "AMD"}); code != 201 {
		t.Fatalf("create: %d %v", code, body)
	}
	e.eventually("testcrm holds REG-1 as pending", func() bool { return crm.statusOf("REG-1") == core.StatusPending })
	body := `{"event_id":"reg-evt-1","order_id":"REG-1","status":"paid","amount_minor":150000,"currency":"AMD"}`
	if code := e.webhook([]byte(body)); code != 200 {
		t.Fatalf("webhook: %d", code)
	}
	e.eventually("testcrm holds REG-1 as paid", func() bool { return crm.statusOf("REG-1") == core.StatusPaid })
	_, got := e.api("GET", "/v1/orders/REG-1", nil)
	deliveries, _ := got["deliveries"].([]any)
	if len(deliveries) != 1 || deliveries[0].(map[string]any)["connector"] != "testcrm" || deliveries[0].(map[string]any)["external_id"] != "rec-REG-1" {
		t.Fatalf("deliveries: %v", got["deliveries"])
	}
}

// ticketCRMName is a connector that exists only in these tests and, unlike
// testcrm, reads a mapping file of its own: nothing in mapping/ knows it.
const ticketCRMName = "testcrm2"

type ticketCRMSettings struct {
	Account string `yaml:"account" env:"PAYSYNC_TESTCRM2_ACCOUNT, overwrite"`
}

func (s *ticketCRMSettings) Enabled() bool { return s.Account != "" }

// ticketCRM renders every delivery through its live mapping, as a real
// connector does, and keeps the rendered entity of each order.
type ticketCRM struct {
	mappings connectors.Mappings
	mu       sync.Mutex
	tickets  map[string]map[string]any // entity by order id
}

func (c *ticketCRM) Name() string  { return ticketCRMName }
func (c *ticketCRM) MaxBatch() int { return 10 }
func (c *ticketCRM) Deliver(_ context.Context, batch []core.Delivery) []core.DeliveryResult {
	m := c.mappings.Get(ticketCRMName)
	if m == nil {
		return connectors.Refuse(len(batch), connectors.ErrNoMapping(ticketCRMName))
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]core.DeliveryResult, len(batch))
	for i, d := range batch {
		p, err := m.Render(mapping.Input{Order: d.Order, Transitions: d.Transitions})
		if err != nil {
			out[i].Err = connectors.ErrRender(ticketCRMName, d.Order.ID, err)
			continue
		}
		c.tickets[d.Order.ID] = p.Entity
		out[i].ExternalID = "ticket-" + d.Order.ID
	}
	return out
}

// cell returns a field of the ticket rendered for an order, "" when none.
func (c *ticketCRM) cell(orderID, field string) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if v, ok := c.tickets[orderID][field]; ok {
		return fmt.Sprint(v)
	}
	return ""
}

// registerTicketCRM registers testcrm2, its mapping profile included, for
// the test's length; account is what its settings were built with.
func registerTicketCRM(t *testing.T) (crm *ticketCRM, account *string) {
	t.Helper()
	crm, account = &ticketCRM{tickets: map[string]map[string]any{}}, new(string)
	connectors.Register(connectors.Spec{
		Name:     ticketCRMName,
		Settings: func() connectors.Settings { return &ticketCRMSettings{} },
		Mapping:  mapping.Profile{Record: "ticket"},
		New: func(_ context.Context, d connectors.Deps) (core.Connector, error) {
			*account = d.Settings.(*ticketCRMSettings).Account
			crm.mappings = d.Mappings
			return crm, nil
		},
	})
	t.Cleanup(func() { connectors.Unregister(ticketCRMName) })
	return crm, account
}

// relabelled is the shipped Sheets mapping declaring connector instead.
func relabelled(t *testing.T, connector string) string {
	t.Helper()
	src, err := os.ReadFile("../../mapping/sheets.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Count(string(src), "\nconnector: sheets\n") != 1 {
		t.Fatal("mapping/sheets.yaml no longer declares `connector: sheets` once")
	}
	return strings.Replace(string(src), "\nconnector: sheets\n", "\nconnector: "+connector+"\n", 1)
}

// ticketMappingDir is a mapping directory holding only testcrm2.yaml.
func ticketMappingDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, ticketCRMName+".yaml"), []byte(relabelled(t, ticketCRMName)), 0o600); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestRegisteredConnectorWithMappingIsServed: a connector registered from
// outside the release with a mapping file of its own is configured, built
// and delivered to by serve, and gets what its file renders for the order,
// with no file in mapping/ knowing its name.
func TestRegisteredConnectorWithMappingIsServed(t *testing.T) {
	crm, account := registerTicketCRM(t)
	e := startE2E(t, "sqlite", map[string]string{
		"PAYSYNC_TESTCRM2_ACCOUNT":       "acct-7",
		"PAYSYNC_MAPPING_DIR":            ticketMappingDir(t),
		"PAYSYNC_GENERIC_WEBHOOK_SECRET": e2eSecret,
		"PAYSYNC_BITRIX24_WEBHOOK_URL":   "", // only the test's connector
	})
	if *account != "acct-7" {
		t.Fatalf("the connector was built with account %q, want the environment's acct-7", *account)
	}
	if code, body := e.api("POST", "/v1/orders", map[string]any{"order_id": "TKT-1", "amount_minor": 150050, "currency": "AMD",
		"customer": map[string]any{"name": "Anna Petrosyan"}}); code != 201 {
		t.Fatalf("create: %d %v", code, body)
	}
	e.eventually("testcrm2 holds TKT-1 awaiting payment", func() bool { return crm.cell("TKT-1", "Status") == "Awaiting payment" })
	for field, want := range map[string]string{"Order ID": "TKT-1", "Amount": "1500.50", "Currency": "AMD", "Customer": "Anna Petrosyan"} {
		if got := crm.cell("TKT-1", field); got != want {
			t.Errorf("ticket field %s = %q, want %q rendered from the order", field, got, want)
		}
	}
	body := `{"event_id":"tkt-evt-1","order_id":"TKT-1","status":"paid","amount_minor":150050,"currency":"AMD","provider_ref":"pay-77"}`
	if code := e.webhook([]byte(body)); code != 200 {
		t.Fatalf("webhook: %d", code)
	}
	e.eventually("testcrm2 holds TKT-1 as paid", func() bool { return crm.cell("TKT-1", "Status") == "Paid" })
	if got := crm.cell("TKT-1", "Provider"); !strings.HasSuffix(got, " pay-77") {
		t.Errorf("ticket field Provider = %q, want the payment's reference pay-77", got)
	}
	_, got := e.api("GET", "/v1/orders/TKT-1", nil)
	deliveries, _ := got["deliveries"].([]any)
	if len(deliveries) != 1 || deliveries[0].(map[string]any)["connector"] != ticketCRMName || deliveries[0].(map[string]any)["external_id"] != "ticket-TKT-1" {
		t.Fatalf("deliveries: %v", got["deliveries"])
	}
}

// TestConfigCheckKnowsRegisteredMappings: `config check` validates the
// mapping file of a connector it learned from the registry, in the
// connector's words, and refuses a file naming a connector nobody
// registered, listing those that are.
func TestConfigCheckKnowsRegisteredMappings(t *testing.T) {
	registerTicketCRM(t)
	dir := ticketMappingDir(t)
	t.Setenv("PAYSYNC_DATA_DIR", t.TempDir())
	t.Setenv("PAYSYNC_MAPPING_DIR", dir)
	t.Setenv("PAYSYNC_BITRIX24_WEBHOOK_URL", "")
	t.Setenv("PAYSYNC_TESTCRM2_ACCOUNT", "acct-7")
	if code, out, errs := cli(t, "config", "check"); code != 0 || strings.TrimSpace(out) != "ok" {
		t.Fatalf("testcrm2 with its mapping: %d %q %q", code, out, errs)
	}

	path := filepath.Join(dir, ticketCRMName+".yaml")
	broken := strings.Replace(relabelled(t, ticketCRMName), "\nentity:\n", "\nrecords:\n", 1)
	if err := os.WriteFile(path, []byte(broken), 0o600); err != nil {
		t.Fatal(err)
	}
	code, _, errs := cli(t, "config", "check")
	if code != 2 || !strings.Contains(errs, path+":") || !strings.Contains(errs, "entity is missing: list the fields of the ticket record") {
		t.Fatalf("testcrm2 mapping without entity: %d %q", code, errs)
	}
	if err := os.WriteFile(path, []byte(relabelled(t, ticketCRMName)), 0o600); err != nil {
		t.Fatal(err)
	}

	hubspot := filepath.Join(dir, "hubspot.yaml")
	if err := os.WriteFile(hubspot, []byte(relabelled(t, "hubspot")), 0o600); err != nil {
		t.Fatal(err)
	}
	known := connectors.WithMapping(connectors.Names())
	if !slices.Contains(known, ticketCRMName) {
		t.Fatalf("registered connectors with a mapping lack %s: %v", ticketCRMName, known)
	}
	want := hubspot + ":" + testutil.Place(t, hubspot, "connector: hubspot", "hubspot") +
		": unknown connector hubspot (known: " + strings.Join(known, ", ") + ")"
	code, _, errs = cli(t, "config", "check")
	if code != 2 || !strings.Contains(errs, want) {
		t.Fatalf("a mapping of an unregistered connector: %d, want %q in:\n%s", code, want, errs)
	}
}
