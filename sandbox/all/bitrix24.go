package all

import (
	"fmt"
	"strconv"
	"sync"

	"github.com/paysync/paysync/connectors/bitrix24"
	"github.com/paysync/paysync/core"
	"github.com/paysync/paysync/mapping"
	"github.com/paysync/paysync/sandbox"
	b24double "github.com/paysync/paysync/sandbox/bitrix24"
)

func init() {
	sandbox.Register(sandbox.Spec{Name: bitrix24.Name, Title: "Bitrix24", New: newBitrix24Double})
}

// double is the sandbox portal as `paysync sandbox` serves it.
type bitrix24Double struct {
	*b24double.Portal
	base string
}

func newBitrix24Double(o sandbox.DoubleOptions) sandbox.Double {
	return bitrix24Double{Portal: b24double.New(b24double.Options{PublicURL: o.PublicURL}), base: o.PublicURL}
}

func (d bitrix24Double) Env() map[string]string {
	return map[string]string{"PAYSYNC_BITRIX24_WEBHOOK_URL": d.WebhookURL(d.base)}
}

func (d bitrix24Double) Describe(orderID string) string {
	ds := d.DealsByOrigin(bitrix24.DefaultOriginatorID, orderID)
	switch len(ds) {
	case 0:
		return ""
	case 1:
		return fmt.Sprintf("deal %d at %s", ds[0].ID, ds[0].StageID)
	}
	return fmt.Sprintf("%d deals (a duplicate!)", len(ds))
}

// bitrix24StatusField is the deal field the shipped mapping writes the
// payment status to.
const bitrix24StatusField = "UF_CRM_PAYMENT_STATUS"

// bitrix24Statuses maps each UF_CRM_PAYMENT_STATUS value of the shipped
// mapping to its payment status.
var bitrix24Statuses = sync.OnceValue(func() map[string]core.Status {
	ms, err := mapping.LoadDir("", []string{bitrix24.Name})
	if err != nil {
		return nil
	}
	return sandbox.StatusValues(ms[bitrix24.Name], func(p mapping.Payload) string {
		if v, ok := p.Entity[bitrix24StatusField]; ok {
			return fmt.Sprint(v)
		}
		return ""
	})
})

// Records lists paysync's deals (ORIGINATOR_ID paysync), oldest first.
func (d bitrix24Double) Records() []sandbox.Record {
	statuses := bitrix24Statuses()
	var out []sandbox.Record
	for _, deal := range d.Deals() {
		if deal.OriginatorID != bitrix24.DefaultOriginatorID {
			continue
		}
		out = append(out, sandbox.Record{OrderID: deal.OriginID, ID: strconv.Itoa(deal.ID), Stage: deal.StageID,
			Status: statuses[deal.Fields[bitrix24StatusField]], Stages: d.StageHistory(deal.ID)})
	}
	return out
}
