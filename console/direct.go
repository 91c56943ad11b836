package console

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/paysync/paysync/core"
)

// Direct is the Instagram Direct side of the console: sending an order's
// payment link into the customer's thread now, by hand. The instagram
// connector has it.
type Direct interface {
	SendLink(ctx context.Context, orderID, who, form string) (core.DirectSend, error)
}

// OrderCreator creates orders and their payment links; the payments
// service has it.
type OrderCreator interface {
	CreateOrder(ctx context.Context, o core.Order) (core.Order, bool, error)
}

// maxConversationsShown bounds the Direct page; GET /v1/conversations lists more.
const maxConversationsShown = 100

type directData struct {
	Conversations []conversationRow
}

type conversationRow struct {
	IGSID, Who, Username, LastText, Last, Window, Tone, NewOrder string
	Open                                                         bool
}

// directPage lists the recent Direct conversations with the time left in
// each one's 24-hour window, and a "New order" for each.
func (c *Console) directPage(w http.ResponseWriter, r *http.Request, s *session) {
	p := c.printer(r)
	cs, err := c.opt.Store.ListConversations(r.Context(), maxConversationsShown)
	if err != nil {
		c.failErr(w, r, err)
		return
	}
	now := c.opt.Now()
	var d directData
	for _, conv := range cs {
		row := conversationRow{IGSID: conv.IGSID, Username: conv.Username, LastText: conv.LastText, Last: p.Time(conv.LastMessageAt)}
		row.Who = conv.IGSID
		if conv.Username != "" {
			row.Who = "@" + conv.Username
		}
		q := url.Values{"igsid": {conv.IGSID}}
		if conv.Username != "" {
			q.Set("handle", conv.Username)
		}
		row.NewOrder = "/ui/orders/new?" + q.Encode()
		switch ends := conv.WindowEndsAt(); {
		case conv.LastCustomerAt.IsZero():
			row.Window, row.Tone = p.T("direct.window.never"), "bad"
		case conv.WindowOpen(now):
			row.Window, row.Tone, row.Open = p.T("direct.window.left", p.Age(ends.Sub(now).Round(time.Minute))), "good", true
			if ends.Sub(now) < 2*time.Hour {
				row.Tone = "warn"
			}
		default:
			row.Window, row.Tone = p.T("direct.window.closed", p.Age(now.Sub(ends).Round(time.Minute))), "bad"
		}
		d.Conversations = append(d.Conversations, row)
	}
	c.render(w, http.StatusOK, "direct", c.view(r, s, "direct", p.T("direct.title"), d))
}

type newOrderData struct {
	Form      newOrderForm
	Providers []providerOption
	Error     string
	Said      string // paysync's English words behind Error, quoted on other pages
	// Catalog offers the shop's items; Lines are the rows to pick them in.
	Catalog []catalogOption
	Lines   []lineForm
}

type catalogOption struct {
	SKU, Label string
}

type lineForm struct {
	SKU, Qty string
	N        int
}

// catalogLines is how many catalog rows the form offers.
const catalogLines = 3

type newOrderForm struct {
	OrderID, Amount, Currency, Item, Handle, CustomerID, Name, Phone, Provider, ExpiresIn, Address string
	Lines                                                                                          []lineForm
}

type providerOption struct {
	Value, Label string
	Selected     bool
}

// newOrderPage is the minimal form to create an order, pre-filled from a
// Direct conversation (?igsid=&handle=).
func (c *Console) newOrderPage(w http.ResponseWriter, r *http.Request, s *session) {
	q := r.URL.Query()
	f := newOrderForm{CustomerID: strings.TrimSpace(q.Get("igsid")), Handle: strings.TrimPrefix(strings.TrimSpace(q.Get("handle")), "@"),
		Currency: "AMD", OrderID: "IG-" + c.opt.Now().In(c.opt.Zone).Format("060102-1504")}
	if names := c.providerNames(); len(names) > 0 {
		f.Provider = names[0]
	}
	c.showNewOrder(w, r, s, http.StatusOK, f, "")
}

func (c *Console) providerNames() []string {
	names := make([]string, 0, len(c.opt.Providers))
	for n := range c.opt.Providers {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

func (c *Console) showNewOrder(w http.ResponseWriter, r *http.Request, s *session, status int, f newOrderForm, msg string, said ...string) {
	p := c.printer(r)
	d := newOrderData{Form: f, Error: msg}
	if len(said) > 0 {
		d.Said = said[0]
	}
	if c.opt.Catalog != nil {
		items, err := c.opt.Catalog.ListCatalog(r.Context())
		if err != nil {
			c.failErr(w, r, err)
			return
		}
		for _, it := range items {
			d.Catalog = append(d.Catalog, catalogOption{SKU: it.SKU, Label: it.Name(string(p.Lang)) + " — " + p.Money(it.PriceMinor, it.Currency)})
		}
	}
	for i := range catalogLines {
		l := lineForm{Qty: "1", N: i + 1}
		if i < len(f.Lines) {
			l.SKU, l.Qty = f.Lines[i].SKU, f.Lines[i].Qty
		}
		d.Lines = append(d.Lines, l)
	}
	d.Providers = append(d.Providers, providerOption{Value: "", Label: p.T("neworder.no_provider"), Selected: f.Provider == ""})
	for _, n := range c.providerNames() {
		d.Providers = append(d.Providers, providerOption{Value: n, Label: c.providerTitle(n), Selected: n == f.Provider})
	}
	c.render(w, status, "neworder", c.view(r, s, "orders", p.T("neworder.title"), d))
}

// createOrder creates the order of the form, with its payment link, and
// shows it.
func (c *Console) createOrder(w http.ResponseWriter, r *http.Request, s *session) {
	if c.opt.Orders == nil {
		c.fail(w, r, http.StatusNotFound, "error.not_found")
		return
	}
	field := func(k string) string { return strings.TrimSpace(r.PostFormValue(k)) }
	f := newOrderForm{OrderID: field("order_id"), Amount: field("amount"), Currency: strings.ToUpper(field("currency")), Item: field("item"),
		Handle: strings.TrimPrefix(field("handle"), "@"), CustomerID: field("customer_id"), Name: field("name"), Phone: field("phone"),
		Provider: field("provider"), ExpiresIn: field("expires_in"), Address: field("address")}
	p := c.printer(r)
	r.ParseForm()
	var items []core.Item
	var total int64
	catalog := map[string]core.CatalogItem{}
	if c.opt.Catalog != nil {
		all, err := c.opt.Catalog.ListCatalog(r.Context())
		if err != nil {
			c.failErr(w, r, err)
			return
		}
		for _, it := range all {
			catalog[it.SKU] = it
		}
	}
	skus, qtys := r.PostForm["sku"], r.PostForm["qty"]
	for i, sku := range skus {
		qty := "1"
		if i < len(qtys) && strings.TrimSpace(qtys[i]) != "" {
			qty = strings.TrimSpace(qtys[i])
		}
		f.Lines = append(f.Lines, lineForm{SKU: sku, Qty: qty})
		if sku == "" {
			continue
		}
		it, ok := catalog[sku]
		n, err := strconv.ParseInt(qty, 10, 64)
		if !ok || err != nil || n < 1 || n > core.MaxItemQuantity {
			c.showNewOrder(w, r, s, http.StatusBadRequest, f, p.T("neworder.bad_line", qty))
			return
		}
		if f.Currency != "" && len(items) == 0 {
			f.Currency = it.Currency
		}
		if it.Currency != f.Currency {
			c.showNewOrder(w, r, s, http.StatusBadRequest, f, p.T("neworder.mixed_currency"))
			return
		}
		items = append(items, core.Item{SKU: it.SKU, Name: it.Name(string(p.Lang)), Quantity: n, PriceMinor: it.PriceMinor})
		total += n * it.PriceMinor
	}
	if f.Amount != "" || len(items) == 0 {
		amount, err := parseAmount(f.Amount, f.Currency)
		if err != nil {
			c.showNewOrder(w, r, s, http.StatusBadRequest, f, p.T("neworder.bad_amount", f.Amount))
			return
		}
		item := f.Item
		if item == "" {
			item = f.OrderID
		}
		items = append(items, core.Item{Name: item, Quantity: 1, PriceMinor: amount})
		total += amount
	}
	o := core.Order{ID: f.OrderID, AmountMinor: total, Currency: f.Currency, Provider: f.Provider,
		Customer: core.Customer{Handle: f.Handle, ID: f.CustomerID, Name: f.Name, Phone: f.Phone}, Items: items}
	if f.Address != "" {
		o.Shipping = map[string]any{"address": f.Address}
	}
	if f.ExpiresIn != "" {
		d, err := time.ParseDuration(f.ExpiresIn)
		if err != nil || d <= 0 {
			c.showNewOrder(w, r, s, http.StatusBadRequest, f, p.T("neworder.bad_expiry", f.ExpiresIn))
			return
		}
		exp := c.opt.Now().Add(d).UTC().Truncate(time.Microsecond)
		o.ExpiresAt = &exp
	}
	for _, t := range []struct{ what, v string }{{"order_id", o.ID}, {"customer.handle", o.Customer.Handle}, {"customer.id", o.Customer.ID},
		{"customer.name", o.Customer.Name}, {"customer.phone", o.Customer.Phone}, {"delivery", f.Address}} {
		if err := core.CheckText(t.what, t.v); err != nil {
			msg, said := c.errWords(p, err)
			c.showNewOrder(w, r, s, http.StatusBadRequest, f, msg, said)
			return
		}
	}
	created, fresh, err := c.opt.Orders.CreateOrder(r.Context(), o)
	if err != nil {
		code := core.ErrorCode(err)
		if code == core.EINVALID || code == core.ECONFLICT {
			msg, said := c.errWords(p, err)
			c.showNewOrder(w, r, s, http.StatusBadRequest, f, msg, said)
			return
		}
		if code == core.EUNAVAILABLE && created.ID != "" {
			// Saved, but the provider made no link: the order page says so.
			http.Redirect(w, r, withDone(orderHref(created.ID), "no_link"), http.StatusSeeOther)
			return
		}
		c.failErr(w, r, err)
		return
	}
	c.log.Info("order created from the console", "order_id", created.ID, "who", s.who(), "new", fresh)
	http.Redirect(w, r, withDone(orderHref(created.ID), "created"), http.StatusSeeOther)
}

// sendLink sends the order's payment link into the customer's Direct
// thread now (the order page's "Send link in Direct").
func (c *Console) sendLink(w http.ResponseWriter, r *http.Request, s *session) {
	if c.opt.Direct == nil {
		c.fail(w, r, http.StatusNotFound, "error.not_found")
		return
	}
	id := r.PathValue("id")
	res, err := c.opt.Direct.SendLink(r.Context(), id, s.who(), r.PostFormValue("form"))
	if err != nil {
		c.failErr(w, r, err)
		return
	}
	c.log.Info("payment link sent in Direct from the console", "order_id", id, "who", s.who(), "mid", res.MID, "human_agent", res.HumanAgent)
	key := "direct_sent"
	if res.Again {
		key = "direct_again"
	}
	http.Redirect(w, r, withDone(orderHref(id), key), http.StatusSeeOther)
}

// formToken is a one-time token for a form that must act once however
// often it is submitted.
func formToken() string {
	b := make([]byte, 12)
	rand.Read(b)
	return hex.EncodeToString(b)
}
