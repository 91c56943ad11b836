package console

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"

	"github.com/paysync/paysync/core"
	"github.com/paysync/paysync/present"
)

// Relinker journals a "New link" on the order it replaces; core.Ledger has it.
type Relinker interface {
	RecordNewLink(ctx context.Context, from, to, who string) error
}

func urlPathEscape(s string) string { return url.PathEscape(s) }

// orderStatus is what an order page's script polls while the order awaits
// payment: the status in the page's words, and the version, which moves
// with every change.
func (c *Console) orderStatus(w http.ResponseWriter, r *http.Request, s *session) {
	o, err := c.opt.Store.GetOrder(r.Context(), r.PathValue("id"))
	if err != nil {
		c.failErr(w, r, err)
		return
	}
	p := c.printer(r)
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	json.NewEncoder(w).Encode(map[string]any{"status": o.Status, "label": p.Status(o.Status), "tone": present.StatusTone(o.Status), "version": o.Version})
}

func (c *Console) orderQR(w http.ResponseWriter, r *http.Request, s *session) {
	o, err := c.opt.Store.GetOrder(r.Context(), r.PathValue("id"))
	if err != nil {
		c.failErr(w, r, err)
		return
	}
	c.writeQR(w, r, o.PaymentURL)
}

// relink gives an expired or failed order a fresh payment link: a new
// order (ID-2, ID-3, …) with the same customer, items and provider, and a
// journal entry on the old one that names it and who made it.
func (c *Console) relink(w http.ResponseWriter, r *http.Request, s *session) {
	if c.opt.Orders == nil {
		c.fail(w, r, http.StatusNotFound, "error.not_found")
		return
	}
	ctx := r.Context()
	old, err := c.opt.Store.GetOrder(ctx, r.PathValue("id"))
	if err != nil {
		c.failErr(w, r, err)
		return
	}
	if old.Status != core.StatusExpired && old.Status != core.StatusFailed {
		c.fail(w, r, http.StatusConflict, "error.relink")
		return
	}
	next := ""
	for n := 2; n < 100 && next == ""; n++ {
		id := fmt.Sprintf("%s-%d", old.ID, n)
		if len(id) > core.MaxOrderIDLen {
			id = fmt.Sprintf("%s-%d", old.ID[:core.MaxOrderIDLen-len(fmt.Sprint(n))-1], n)
		}
		if _, err := c.opt.Store.GetOrder(ctx, id); core.ErrorCode(err) == core.ENOTFOUND {
			next = id
		}
	}
	o := core.Order{ID: next, AmountMinor: old.AmountMinor, Currency: old.Currency, Customer: old.Customer, Items: old.Items,
		Shipping: old.Shipping, Provider: old.Provider}
	created, _, err := c.opt.Orders.CreateOrder(ctx, o)
	if err != nil && created.ID == "" {
		c.failErr(w, r, err)
		return
	}
	if c.opt.Relinks != nil {
		if err := c.opt.Relinks.RecordNewLink(ctx, old.ID, created.ID, s.who()); err != nil {
			c.failErr(w, r, err)
			return
		}
	}
	c.log.Info("new payment link from the console", "order_id", old.ID, "new_order_id", created.ID, "who", s.who())
	if err != nil {
		c.failErr(w, r, err)
		return
	}
	http.Redirect(w, r, withDone(orderHref(created.ID), "relinked"), http.StatusSeeOther)
}
