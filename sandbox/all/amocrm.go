package all

import (
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/paysync/paysync/connectors/amocrm"
	"github.com/paysync/paysync/core"
	"github.com/paysync/paysync/mapping"
	"github.com/paysync/paysync/sandbox"
	amodouble "github.com/paysync/paysync/sandbox/amocrm"
)

func init() {
	sandbox.Register(sandbox.Spec{Name: amocrm.Name, Title: "amoCRM", New: newAmoCRMDouble})
}

// double is the sandbox account as `paysync sandbox` serves it.
type amocrmDouble struct {
	*amodouble.Account
	base string
}

// amocrmSearchDelay is how long `paysync sandbox` keeps a new lead from
// ?query= results, as amoCRM's search index lags (the real lag is not
// documented): code that counts on finding a lead it just created there
// meets the problem here, not in production.
const amocrmSearchDelay = 5 * time.Second

func newAmoCRMDouble(o sandbox.DoubleOptions) sandbox.Double {
	return amocrmDouble{Account: amodouble.New(amodouble.Options{PublicURL: o.PublicURL, SearchDelay: amocrmSearchDelay}),
		base: strings.TrimRight(o.PublicURL, "/")}
}

func (d amocrmDouble) Env() map[string]string {
	return map[string]string{"PAYSYNC_AMOCRM_BASE_URL": d.base, "PAYSYNC_AMOCRM_ACCESS_TOKEN": d.AccessToken()}
}

func (d amocrmDouble) Describe(orderID string) string { return d.Account.Describe(orderID) }

// amocrmStatuses maps each enum id of the "Payment status" field in the
// shipped mapping to its payment status.
var amocrmStatuses = sync.OnceValue(func() map[string]core.Status {
	ms, err := mapping.LoadDir("", []string{amocrm.Name})
	if err != nil {
		return nil
	}
	return sandbox.StatusValues(ms[amocrm.Name], func(p mapping.Payload) string {
		cfs, _ := p.Entity["custom_fields_values"].([]any)
		for _, cf := range cfs {
			m, _ := cf.(map[string]any)
			if fmt.Sprint(m["field_id"]) != strconv.Itoa(amodouble.FieldPayStatus) {
				continue
			}
			vals, _ := m["values"].([]any)
			if len(vals) > 0 {
				if v, ok := vals[0].(map[string]any); ok && v["enum_id"] != nil {
					return fmt.Sprint(v["enum_id"])
				}
			}
		}
		return ""
	})
})

// Records lists the leads that carry an order id, oldest first.
func (d amocrmDouble) Records() []sandbox.Record {
	statuses := amocrmStatuses()
	var out []sandbox.Record
	for _, l := range d.Leads() {
		if l.OrderID == "" {
			continue
		}
		r := sandbox.Record{OrderID: l.OrderID, ID: strconv.Itoa(l.ID), Stage: strconv.Itoa(l.StatusID)}
		if ids := l.EnumIDs[amodouble.FieldPayStatus]; len(ids) > 0 {
			r.Status = statuses[strconv.Itoa(ids[0])]
		}
		for _, st := range d.StatusHistory(l.ID) {
			r.Stages = append(r.Stages, strconv.Itoa(st))
		}
		out = append(out, r)
	}
	return out
}
