package connectortest_test

import (
	"context"
	"strconv"
	"sync"
	"testing"

	"github.com/paysync/paysync/connectors/connectortest"
	"github.com/paysync/paysync/core"
)

// The suite's messaging cases checked against a minimal in-memory chat that
// does what a messaging connector must: one message per order status,
// never twice (a send whose answer was lost is found in the thread).

type memMessage struct {
	id, orderID string
	status      core.Status
	amount      int64
}

type memChat struct {
	mu       sync.Mutex
	messages []memMessage
	loseNext bool
	limited  bool
	badToken bool
	tooLong  map[string]bool
}

type chatConnector struct{ chat *memChat }

func (c *chatConnector) Name() string  { return "chat" }
func (c *chatConnector) MaxBatch() int { return 10 }

func (c *chatConnector) Deliver(_ context.Context, batch []core.Delivery) []core.DeliveryResult {
	chat := c.chat
	chat.mu.Lock()
	defer chat.mu.Unlock()
	out := make([]core.DeliveryResult, len(batch))
	for i, d := range batch {
		switch {
		case chat.badToken:
			out[i].Err = &core.DeliveryError{Class: core.NeedsReauth, Reason: "the chat refused the token: log in again"}
			continue
		case chat.limited:
			out[i].Err = &core.DeliveryError{Class: core.Retryable, SlowDown: true, Reason: "rate limited"}
			continue
		case chat.tooLong[d.Order.ID]:
			out[i].Err = &core.DeliveryError{Class: core.Permanent, Reason: "the message is longer than 1000 bytes: shorten it"}
			continue
		}
		// Sent before? (the thread is the truth: no idempotency key)
		found := ""
		for _, m := range chat.messages {
			if m.orderID == d.Order.ID && m.status == d.Order.Status {
				found = m.id
			}
		}
		if found == "" {
			found = "mid-" + strconv.Itoa(len(chat.messages)+1)
			chat.messages = append(chat.messages, memMessage{id: found, orderID: d.Order.ID, status: d.Order.Status, amount: d.Order.AmountMinor})
			if chat.loseNext {
				chat.loseNext = false
				out[i].Err = &core.DeliveryError{Class: core.Retryable, Reason: "answer lost"}
				continue
			}
		}
		out[i].ExternalID = found
	}
	return out
}

type chatHarness struct{ chat *memChat }

func (h *chatHarness) Features() connectortest.Features {
	return connectortest.Features{Messages: true}
}

func (h *chatHarness) NewConnector(*testing.T) core.Connector {
	h.chat = &memChat{tooLong: map[string]bool{}}
	return &chatConnector{chat: h.chat}
}

func (h *chatHarness) Records(_ *testing.T, orderID string) []connectortest.Record {
	h.chat.mu.Lock()
	defer h.chat.mu.Unlock()
	var out []connectortest.Record
	for _, m := range h.chat.messages {
		if m.orderID == orderID {
			out = append(out, connectortest.Record{ExternalID: m.id, Stage: string(m.status), AmountMinor: m.amount})
		}
	}
	return out
}

func (h *chatHarness) StageFor(s core.Status) string { return string(s) }
func (h *chatHarness) LaterStage() string            { return "" }
func (h *chatHarness) SetStage(t *testing.T, _, _ string) {
	t.Fatal("a messaging connector's suite never moves a record")
}
func (h *chatHarness) LoseNextCreateResponse(*testing.T) {
	h.set(func(c *memChat) { c.loseNext = true })
}
func (h *chatHarness) ExhaustRateLimit(*testing.T) { h.set(func(c *memChat) { c.limited = true }) }
func (h *chatHarness) WaitRateLimit(*testing.T)    { h.set(func(c *memChat) { c.limited = false }) }
func (h *chatHarness) BreakCredentials(*testing.T) { h.set(func(c *memChat) { c.badToken = true }) }
func (h *chatHarness) Secrets() []string           { return []string{"chat-secret-token"} }
func (h *chatHarness) RebuildAccount(t *testing.T) {
	t.Fatal("a messaging connector's suite never rebuilds the account")
}
func (h *chatHarness) MakeInvalid(_ *testing.T, o *core.Order) string {
	h.set(func(c *memChat) { c.tooLong[o.ID] = true })
	return "1000 bytes"
}

func (h *chatHarness) set(f func(*memChat)) {
	h.chat.mu.Lock()
	defer h.chat.mu.Unlock()
	f(h.chat)
}

func TestSuiteOnMemoryChat(t *testing.T) {
	connectortest.Run(t, &chatHarness{})
}
