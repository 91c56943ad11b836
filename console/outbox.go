package console

import (
	"net/http"
	"strconv"

	"github.com/paysync/paysync/core"
	"github.com/paysync/paysync/present"
)

type outboxData struct {
	Connectors []connectorRow
	Dead       []deadRow
}

type connectorRow struct {
	Name, Title, State, Tone, Reason, Advice, Oldest string
	Pending, Dead, Delivered                         int64
}

type deadRow struct {
	ID                                                    int64
	Connector, OrderID, OrderHref, Attempts, Reason, When string
}

// maxDeadShown bounds the dead letters listed; `paysync outbox dead` lists more.
const maxDeadShown = 200

func (c *Console) outboxPage(w http.ResponseWriter, r *http.Request, s *session) {
	p := c.printer(r)
	ctx := r.Context()
	stats, err := c.opt.Outbox.Stats(ctx)
	if err != nil {
		c.failErr(w, r, err)
		return
	}
	now := c.opt.Now()
	var d outboxData
	for _, st := range stats {
		row := connectorRow{Name: st.Connector, Title: c.crmTitle(st.Connector), State: p.ConnectorState(st.State),
			Tone: present.ConnectorTone(st.State), Reason: st.Reason, Advice: p.ConnectorAdvice(st.State, st.Until),
			Pending: st.Pending, Dead: st.Dead, Delivered: st.Delivered}
		if st.Pending > 0 && !st.OldestPending.IsZero() {
			row.Oldest = p.Age(now.Sub(st.OldestPending))
		}
		d.Connectors = append(d.Connectors, row)
	}
	dead, err := c.opt.Store.ListOutbox(ctx, "", core.DeliveryDead, maxDeadShown)
	if err != nil {
		c.failErr(w, r, err)
		return
	}
	for _, rec := range dead {
		d.Dead = append(d.Dead, deadRow{ID: rec.ID, Connector: c.crmTitle(rec.Connector), OrderID: rec.OrderID,
			OrderHref: orderHref(rec.OrderID), Attempts: p.FailedTries(rec.Attempts), Reason: rec.LastError, When: p.Time(rec.UpdatedAt)})
	}
	c.render(w, http.StatusOK, "outbox", c.view(r, s, "outbox", p.T("outbox.title"), d))
}

func (c *Console) retry(w http.ResponseWriter, r *http.Request, s *session) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		c.fail(w, r, http.StatusNotFound, "error.not_found")
		return
	}
	if err := c.opt.Outbox.RetryDead(r.Context(), id); err != nil {
		c.failErr(w, r, err)
		return
	}
	c.log.Info("dead letter requeued from the console", "outbox_id", id, "who", s.who())
	http.Redirect(w, r, withDone("/ui/outbox", "retried"), http.StatusSeeOther)
}

func (c *Console) retryAll(w http.ResponseWriter, r *http.Request, s *session) {
	n, err := c.opt.Outbox.RetryAllDead(r.Context(), "")
	if err != nil {
		c.failErr(w, r, err)
		return
	}
	c.log.Info("dead letters requeued from the console", "count", n, "who", s.who())
	http.Redirect(w, r, withDone("/ui/outbox", "retried_all"), http.StatusSeeOther)
}
