package main

import (
	"context"
	"sync"
	"testing"

	"github.com/paysync/paysync/connectors"
	"github.com/paysync/paysync/core"
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
