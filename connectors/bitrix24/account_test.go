package bitrix24_test

import (
	"context"
	"strings"
	"testing"

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
	if len(a.Stages) == 0 || !strings.HasPrefix(a.Stages[0], "NEW") || len(a.Info.Currencies) == 0 {
		t.Fatalf("account: %+v", a)
	}
	if probs := m.CheckAccount(a.Info); len(probs) != 0 {
		t.Fatalf("the shipped mapping does not fit the sandbox portal:\n%s", strings.Join(probs, "\n"))
	}
	p.DisableCurrency("AMD")
	a, err = c.ReadAccount(context.Background(), "0")
	if err != nil {
		t.Fatal(err)
	}
	probs := strings.Join(m.CheckAccount(a.Info), "\n")
	if !strings.Contains(probs, "enable AMD in CRM > Settings > Currencies") {
		t.Fatalf("disabled AMD not reported: %q", probs)
	}
}
