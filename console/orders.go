package console

import (
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/paysync/paysync/core"
	"github.com/paysync/paysync/httpapi"
	"github.com/paysync/paysync/present"
)

// pageSize is how many orders a list shows at once.
const pageSize = 50

type statusOption struct {
	Value, Label string
	Selected     bool
}

type ordersData struct {
	Q        string
	Status   string
	Statuses []statusOption
	Orders   []orderRow
	Next     string // the next page's address, "" on the last page
	Searched bool
}

type orderRow struct {
	ID, Href, Customer, Handle, Phone, Amount, Status, Tone, Created string
}

func (c *Console) ordersPage(w http.ResponseWriter, r *http.Request, s *session) {
	p := c.printer(r)
	q := r.URL.Query()
	d := ordersData{Q: strings.TrimSpace(q.Get("q")), Status: q.Get("status")}
	st := core.Status(d.Status)
	if st != "" && !st.Valid() {
		st, d.Status = "", ""
	}
	d.Searched = d.Q != "" || st != ""
	d.Statuses = append(d.Statuses, statusOption{Value: "", Label: p.T("orders.any_status"), Selected: st == ""})
	for _, v := range core.Statuses {
		d.Statuses = append(d.Statuses, statusOption{Value: string(v), Label: p.Status(v), Selected: v == st})
	}
	orders, err := c.opt.Store.ListOrders(r.Context(), core.OrderQuery{Status: st, Q: d.Q, Limit: pageSize + 1, Before: q.Get("before")})
	if err != nil {
		c.failErr(w, r, err)
		return
	}
	if len(orders) > pageSize {
		orders = orders[:pageSize]
		next := url.Values{"before": {orders[pageSize-1].ID}}
		if d.Q != "" {
			next.Set("q", d.Q)
		}
		if st != "" {
			next.Set("status", string(st))
		}
		d.Next = "/ui/orders?" + next.Encode()
	}
	for _, o := range orders {
		d.Orders = append(d.Orders, c.row(p, o))
	}
	c.render(w, http.StatusOK, "orders", c.view(r, s, "orders", p.T("orders.title"), d))
}

func (c *Console) row(p present.Printer, o core.Order) orderRow {
	return orderRow{ID: o.ID, Href: orderHref(o.ID), Customer: o.Customer.Name, Handle: handle(o.Customer.Handle),
		Phone: o.Customer.Phone, Amount: p.Money(o.AmountMinor, o.Currency), Status: p.Status(o.Status),
		Tone: present.StatusTone(o.Status), Created: p.Time(o.CreatedAt)}
}

func orderHref(id string) string { return "/ui/orders/" + url.PathEscape(id) }

func handle(h string) string {
	h = strings.TrimPrefix(strings.TrimSpace(h), "@")
	if h == "" {
		return ""
	}
	return "@" + h
}

type orderData struct {
	Order      core.Order
	Customer   string
	Handle     string
	Amount     string
	Refunded   string
	Status     string
	Tone       string
	Created    string
	Paid       string
	Expires    string
	Provider   string
	LinkBy     string // the provider that made the link, when the money came through another
	Items      []itemRow
	Steps      []present.Step
	Deliveries []deliveryRow
	Review     bool // settle form shown
	Href       string
	// SendLink: the "Send link in Direct" form is shown, with its one-time token.
	SendLink bool
	FormID   string
	// Why the order waits for a person, in words.
	Why string
	// The payment link block: the message to paste in Direct (in MsgLang,
	// with links to the others), the QR code; Live: the page follows the
	// status while the order awaits payment; Relink: "New link" is offered.
	Message, MsgLang, QR string
	MsgLangs             []langLink
	Live, Relink         bool
}

type itemRow struct{ Name, SKU, Qty, Price, Total string }

type deliveryRow struct {
	Connector, Title, State, Tone, Attempts, LastError, ExternalID, RecordURL, Synced string
	Dead                                                                              bool
}

func (c *Console) orderPage(w http.ResponseWriter, r *http.Request, s *session) {
	p := c.printer(r)
	id := r.PathValue("id")
	v, err := httpapi.LoadOrderView(r, c.opt.Store, id)
	if err != nil {
		c.failErr(w, r, err)
		return
	}
	links, err := c.opt.Store.ListLinks(r.Context(), id)
	if err != nil {
		c.failErr(w, r, err)
		return
	}
	o := v.Order
	d := orderData{Order: o, Customer: o.Customer.Name, Handle: handle(o.Customer.Handle), Amount: p.Money(o.AmountMinor, o.Currency),
		Status: p.Status(o.Status), Tone: present.StatusTone(o.Status), Created: p.Time(o.CreatedAt),
		Provider: c.providerTitle(o.Provider), Review: o.Status == core.StatusManualReview, Href: orderHref(o.ID)}
	if o.RefundedMinor > 0 {
		d.Refunded = p.Money(o.RefundedMinor, o.Currency)
	}
	if o.PaymentURL != "" && o.Status == core.StatusPending {
		lang := c.customerLang(r, o)
		d.Message, d.MsgLang, d.QR, d.Live = c.message(r.Context(), o, lang), string(lang), d.Href+"/qr.png", true
		for _, l := range present.Langs {
			d.MsgLangs = append(d.MsgLangs, langLink{Code: string(l), Name: l.Name(), Href: d.Href + "?msg=" + string(l) + "#link", Current: l == lang})
		}
	}
	d.Relink = (o.Status == core.StatusExpired || o.Status == core.StatusFailed) && c.opt.Orders != nil && s.can("create")
	d.Review = d.Review && s.can("settle")
	if c.opt.Direct != nil && s.can("create") && o.Customer.ID != "" && o.PaymentURL != "" && (o.Status == core.StatusPending || o.Status == core.StatusFailed) {
		d.SendLink, d.FormID = true, formToken()
	}
	if o.PaidAt != nil {
		d.Paid = p.Time(*o.PaidAt)
	}
	if o.ExpiresAt != nil && o.Status == core.StatusPending {
		d.Expires = p.Time(*o.ExpiresAt)
	}
	for _, it := range o.Items {
		d.Items = append(d.Items, itemRow{Name: it.Name, SKU: it.SKU, Qty: strconv.FormatInt(it.Quantity, 10),
			Price: p.Money(it.PriceMinor, o.Currency), Total: p.Money(it.PriceMinor*it.Quantity, o.Currency)})
	}
	if via := present.PaidThrough(v.Journal); via != "" && via != o.Provider {
		d.Provider = c.providerTitle(via)
		if o.Provider != "" {
			d.LinkBy = c.providerTitle(o.Provider)
		}
	}
	d.Steps = p.Timeline(o, v.Journal, c.sourceTitle)
	if o.Status == core.StatusManualReview {
		d.Why = reviewWhy(v.Journal, d.Steps)
	}
	slices.Reverse(d.Steps) // newest first: the latest news is what a manager asks about
	for _, dv := range v.Deliveries {
		row := deliveryRow{Connector: dv.Connector, Title: c.crmTitle(dv.Connector), State: p.DeliveryState(dv.State),
			Tone: present.DeliveryTone(dv.State), Attempts: p.FailedTries(dv.Failed), LastError: dv.LastError, ExternalID: dv.ExternalID, Dead: dv.State == core.DeliveryDead}
		if dv.State == core.DeliveryDelivered {
			row.LastError = "" // an error of an earlier attempt no longer matters
		}
		for _, l := range links {
			if l.Connector != dv.Connector {
				continue
			}
			row.ExternalID = l.ExternalID
			row.Synced = p.Status(l.SyncedStatus)
			if crm, ok := c.opt.CRMs[l.Connector]; ok && crm.RecordURL != nil {
				row.RecordURL = crm.RecordURL(l)
			}
		}
		d.Deliveries = append(d.Deliveries, row)
	}
	c.render(w, http.StatusOK, "order", c.view(r, s, "orders", p.T("order.title", o.ID), d))
}

type payloadData struct {
	OrderID, Href, When, What, Payload string
}

// payloadPage shows one journal entry's raw request, with secrets stripped.
func (c *Console) payloadPage(w http.ResponseWriter, r *http.Request, s *session) {
	p := c.printer(r)
	id := r.PathValue("id")
	entryID, err := strconv.ParseInt(r.PathValue("entry"), 10, 64)
	if err != nil {
		c.fail(w, r, http.StatusNotFound, "error.not_found")
		return
	}
	o, err := c.opt.Store.GetOrder(r.Context(), id)
	if err != nil {
		c.failErr(w, r, err)
		return
	}
	entries, err := c.opt.Store.ListJournal(r.Context(), id)
	if err != nil {
		c.failErr(w, r, err)
		return
	}
	for i, e := range entries {
		if e.ID != entryID {
			continue
		}
		step := p.Timeline(o, entries[:i+1], c.providerTitle)[i]
		d := payloadData{OrderID: id, Href: orderHref(id), When: step.When, What: step.What, Payload: RedactPayload(core.CleanText(string(e.Payload)))}
		c.render(w, http.StatusOK, "payload", c.view(r, s, "orders", p.T("payload.title", id), d))
		return
	}
	c.fail(w, r, http.StatusNotFound, "error.not_found")
}

// settle records a person's decision on an order in manual review.
func (c *Console) settle(w http.ResponseWriter, r *http.Request, s *session) {
	id := r.PathValue("id")
	decision := core.Status(r.PostFormValue("decision"))
	note := strings.TrimSpace(r.PostFormValue("note"))
	if decision != core.StatusPaid && decision != core.StatusFailed {
		c.fail(w, r, http.StatusBadRequest, "error.decision")
		return
	}
	if note == "" {
		c.fail(w, r, http.StatusBadRequest, "error.note")
		return
	}
	if _, err := c.opt.Reviews.Review(r.Context(), id, decision, note, s.who()); err != nil {
		if o, gerr := c.opt.Store.GetOrder(r.Context(), id); gerr == nil && core.ErrorCode(err) == core.ECONFLICT && o.Status != core.StatusManualReview {
			// Settled already (by someone else, or in another tab).
			c.fail(w, r, http.StatusConflict, "error.not_in_review", id, c.printer(r).Status(o.Status))
			return
		}
		c.failErr(w, r, err)
		return
	}
	c.log.Info("order settled from the console", "order", id, "decision", decision, "who", s.who())
	back := localPath(r.PostFormValue("back"))
	if back == "/ui/orders" {
		back = orderHref(id)
	}
	http.Redirect(w, r, withDone(back, "settled_"+string(decision)), http.StatusSeeOther)
}

type reviewData struct {
	Orders []reviewRow
}

type reviewRow struct {
	orderRow
	Verdict, Why string // how the payment was judged, in words
	Orphan       bool
	Settle       bool // this person may settle it
}

func (c *Console) reviewPage(w http.ResponseWriter, r *http.Request, s *session) {
	p := c.printer(r)
	orders, err := c.opt.Store.ListOrders(r.Context(), core.OrderQuery{Status: core.StatusManualReview, Limit: 500})
	if err != nil {
		c.failErr(w, r, err)
		return
	}
	var d reviewData
	for _, o := range orders {
		row := reviewRow{orderRow: c.row(p, o), Orphan: o.Orphan}
		// Why it needs a person, in words: the entry that sent it to review.
		entries, err := c.opt.Store.ListJournal(r.Context(), o.ID)
		if err != nil {
			c.failErr(w, r, err)
			return
		}
		steps := p.Timeline(o, entries, c.providerTitle)
		for i := len(entries) - 1; i >= 0; i-- {
			if entries[i].StatusAfter == core.StatusManualReview && entries[i].StatusBefore != core.StatusManualReview {
				row.Why, row.Verdict = steps[i].Why, steps[i].Verdict
				break
			}
		}
		row.Settle = s.can("settle")
		d.Orders = append(d.Orders, row)
	}
	c.render(w, http.StatusOK, "review", c.view(r, s, "review", p.T("review.title"), d))
}

func (c *Console) providerTitle(name string) string {
	if t := c.opt.Providers[name]; t != "" {
		return t
	}
	return name
}

// sourceTitle names who a journal entry is from: a provider, or a
// connector ("Instagram Direct").
func (c *Console) sourceTitle(name string) string {
	if t := c.opt.Providers[name]; t != "" {
		return t
	}
	return c.crmTitle(name)
}

func (c *Console) crmTitle(name string) string {
	if crm, ok := c.opt.CRMs[name]; ok && crm.Title != "" {
		return crm.Title
	}
	return name
}

// withDone adds the flash message key to a console address.
func withDone(path, key string) string {
	u, err := url.Parse(path)
	if err != nil {
		return path
	}
	q := u.Query()
	q.Set("done", key)
	u.RawQuery = q.Encode()
	return u.String()
}

// reviewWhy says in words why the order waits for a person: the reason of
// the journal entry that sent it to review.
func reviewWhy(entries []core.JournalEntry, steps []present.Step) string {
	for i := len(entries) - 1; i >= 0 && i < len(steps); i-- {
		if entries[i].StatusAfter == core.StatusManualReview && entries[i].StatusBefore != core.StatusManualReview {
			return steps[i].Why
		}
	}
	return ""
}

// customerLang is the language of the Direct message: ?msg=, else the one
// the customer writes in (their conversation), else the page's.
func (c *Console) customerLang(r *http.Request, o core.Order) present.Lang {
	if l, ok := present.ParseLang(r.URL.Query().Get("msg")); ok {
		return l
	}
	if o.Customer.ID != "" {
		if conv, err := c.opt.Store.GetConversation(r.Context(), o.Customer.ID); err == nil {
			if l, ok := present.ParseLang(conv.Language); ok {
				return l
			}
		}
	}
	return langOf(r)
}
