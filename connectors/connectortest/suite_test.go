package connectortest_test

import (
	"context"
	"strconv"
	"sync"
	"testing"

	"github.com/paysync/paysync/connectors/connectortest"
	"github.com/paysync/paysync/core"
)

// The suite checks itself against a minimal in-memory CRM that does what a
// connector must: look up before create, move stages forward only, classify.

type memRecord struct {
	id, orderID, stage, title string
	amount                    int64
}

type memCRM struct {
	mu          sync.Mutex
	records     []*memRecord
	loseNext    bool
	limited     bool
	badToken    bool
	badCurrency map[string]bool
}

var stageRank = map[string]int{"new": 1, "awaiting": 2, "paid": 3, "shipped": 4, "lost": 5}

func stageFor(s core.Status) string {
	switch s {
	case core.StatusPaid:
		return "paid"
	case core.StatusExpired, core.StatusFailed:
		return "lost"
	case core.StatusManualReview:
		return "" // keeps the record where it is
	}
	return "new"
}

type memConnector struct{ crm *memCRM }

func (c *memConnector) Name() string  { return "memory" }
func (c *memConnector) MaxBatch() int { return 10 }

func (c *memConnector) Deliver(_ context.Context, batch []core.Delivery) []core.DeliveryResult {
	crm := c.crm
	crm.mu.Lock()
	defer crm.mu.Unlock()
	out := make([]core.DeliveryResult, len(batch))
	for i, d := range batch {
		switch {
		case crm.badToken:
			out[i].Err = &core.DeliveryError{Class: core.NeedsReauth, Reason: "the memory CRM refused the token: issue a new one"}
			continue
		case crm.limited:
			out[i].Err = &core.DeliveryError{Class: core.Retryable, SlowDown: true, Reason: "rate limited"}
			continue
		}
		// The link is a hint: the record must be this order's.
		var rec *memRecord
		for _, r := range crm.records {
			if r.orderID == d.Order.ID {
				rec = r
				break
			}
		}
		next := stageFor(d.Order.Status)
		if rec == nil {
			if next == "" {
				next = stageFor(core.StatusPending)
			}
			if crm.badCurrency[d.Order.Currency] {
				out[i].Err = &core.DeliveryError{Class: core.Permanent, Reason: "the memory CRM rejected currency " + d.Order.Currency + ": enable it"}
				continue
			}
			rec = &memRecord{id: strconv.Itoa(len(crm.records) + 1), orderID: d.Order.ID, stage: next}
			crm.records = append(crm.records, rec)
		} else if next != "" && stageRank[next] > stageRank[rec.stage] {
			rec.stage = next
		}
		rec.amount, rec.title = d.Order.AmountMinor, "Order "+d.Order.ID
		if crm.loseNext {
			crm.loseNext = false
			out[i].Err = &core.DeliveryError{Class: core.Retryable, Reason: "answer lost"}
			continue
		}
		out[i].ExternalID = rec.id
		if d.Link != nil && d.Link.ExternalID != rec.id {
			out[i].Notice = "linked record " + d.Link.ExternalID + " is not this order's; wrote record " + rec.id + " instead"
		}
	}
	return out
}

type memHarness struct{ crm *memCRM }

func (h *memHarness) NewConnector(t *testing.T) core.Connector {
	h.crm = &memCRM{badCurrency: map[string]bool{}}
	return &memConnector{crm: h.crm}
}

func (h *memHarness) Records(t *testing.T, orderID string) []connectortest.Record {
	h.crm.mu.Lock()
	defer h.crm.mu.Unlock()
	var out []connectortest.Record
	for _, r := range h.crm.records {
		if r.orderID == orderID {
			out = append(out, connectortest.Record{ExternalID: r.id, Stage: r.stage, AmountMinor: r.amount, Title: r.title, Contact: r.orderID})
		}
	}
	return out
}

func (h *memHarness) StageFor(s core.Status) string { return stageFor(s) }
func (h *memHarness) LaterStage() string            { return "shipped" }

func (h *memHarness) SetStage(t *testing.T, orderID, stage string) {
	h.crm.mu.Lock()
	defer h.crm.mu.Unlock()
	for _, r := range h.crm.records {
		if r.orderID == orderID {
			r.stage = stage
		}
	}
}

func (h *memHarness) LoseNextCreateResponse(*testing.T) {
	h.crm.mu.Lock()
	h.crm.loseNext = true
	h.crm.mu.Unlock()
}
func (h *memHarness) ExhaustRateLimit(*testing.T) {
	h.crm.mu.Lock()
	h.crm.limited = true
	h.crm.mu.Unlock()
}
func (h *memHarness) WaitRateLimit(*testing.T) {
	h.crm.mu.Lock()
	h.crm.limited = false
	h.crm.mu.Unlock()
}
func (h *memHarness) BreakCredentials(*testing.T) {
	h.crm.mu.Lock()
	h.crm.badToken = true
	h.crm.mu.Unlock()
}
func (h *memHarness) Secrets() []string { return []string{"memory-secret-token"} }

func (h *memHarness) RebuildAccount(*testing.T) {
	h.crm.mu.Lock()
	h.crm.records = nil
	h.crm.mu.Unlock()
}

func (h *memHarness) MakeInvalid(t *testing.T, o *core.Order) string {
	h.crm.mu.Lock()
	defer h.crm.mu.Unlock()
	h.crm.badCurrency["GBP"] = true
	o.Currency = "GBP"
	return "currency GBP"
}

func TestSuiteOnMemoryCRM(t *testing.T) {
	connectortest.Run(t, &memHarness{})
}
