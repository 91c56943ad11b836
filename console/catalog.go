package console

import (
	"context"
	"net/http"
	"strings"
	"time"

	"github.com/paysync/paysync/core"
	"github.com/paysync/paysync/internal/qrpng"
	"github.com/paysync/paysync/present"
)

type catalogData struct {
	Items     []catalogRow
	Fixed     []fixedRow
	Templates []templateRow
	Form      core.CatalogItem
	Price     string
	Error     string
}

type catalogRow struct {
	SKU, Name, Names, Price, FixedLink string
}

type fixedRow struct {
	Slug, Product, Price, URL, QR string
}

type templateRow struct {
	Lang, Name, Body string
	Edited           bool
}

// catalogPage lists what the shop sells, its fixed links (copyable, with a
// QR code) and the Direct message templates; the owner edits them.
func (c *Console) catalogPage(w http.ResponseWriter, r *http.Request, s *session) {
	c.showCatalog(w, r, s, http.StatusOK, catalogData{Form: core.CatalogItem{Currency: "AMD"}})
}

func (c *Console) showCatalog(w http.ResponseWriter, r *http.Request, s *session, status int, d catalogData) {
	p := c.printer(r)
	if c.opt.Catalog != nil {
		items, err := c.opt.Catalog.ListCatalog(r.Context())
		if err != nil {
			c.failErr(w, r, err)
			return
		}
		for _, it := range items {
			d.Items = append(d.Items, catalogRow{SKU: it.SKU, Name: it.Name(string(p.Lang)), Names: strings.Join(nonEmpty(it.NameHY, it.NameRU, it.NameEN), " · "),
				Price: p.Money(it.PriceMinor, it.Currency), FixedLink: it.FixedLink})
		}
		edited, err := c.opt.Catalog.MessageTemplates(r.Context())
		if err != nil {
			c.failErr(w, r, err)
			return
		}
		for _, l := range present.Langs {
			body, ok := edited[string(l)]
			if !ok {
				body = defaultTemplates[string(l)]
			}
			d.Templates = append(d.Templates, templateRow{Lang: string(l), Name: l.Name(), Body: body, Edited: ok})
		}
	}
	for _, fl := range c.opt.FixedLinks {
		d.Fixed = append(d.Fixed, fixedRow{Slug: fl.Slug, Product: fl.Product, Price: p.Money(fl.AmountMinor, fl.Currency), URL: fl.URL,
			QR: "/ui/catalog/fixed/" + urlPathEscape(fl.Slug) + "/qr.png"})
	}
	c.render(w, status, "catalog", c.view(r, s, "catalog", p.T("catalog.title"), d))
}

func nonEmpty(ss ...string) []string {
	var out []string
	for _, s := range ss {
		if s != "" {
			out = append(out, s)
		}
	}
	return out
}

// saveItem adds or replaces an item.
func (c *Console) saveItem(w http.ResponseWriter, r *http.Request, s *session) {
	if c.opt.Catalog == nil {
		c.fail(w, r, http.StatusNotFound, "error.not_found")
		return
	}
	p := c.printer(r)
	field := func(k string) string { return strings.TrimSpace(r.PostFormValue(k)) }
	it := core.CatalogItem{SKU: field("sku"), NameEN: field("name_en"), NameRU: field("name_ru"), NameHY: field("name_hy"),
		Currency: strings.ToUpper(field("currency")), FixedLink: field("fixed_link"), UpdatedAt: c.opt.Now()}
	d := catalogData{Form: it, Price: field("price")}
	amount, err := parseAmount(d.Price, it.Currency)
	if err != nil {
		d.Error = p.T("neworder.bad_amount", d.Price)
		c.showCatalog(w, r, s, http.StatusBadRequest, d)
		return
	}
	it.PriceMinor = amount
	if err := it.Validate(); err != nil {
		key := "catalog.bad." + core.ErrorField(err)
		if !present.Has(key) {
			key = "catalog.bad.item"
		}
		d.Error = p.T(key)
		c.showCatalog(w, r, s, http.StatusBadRequest, d)
		return
	}
	if it.FixedLink != "" && !c.hasFixedLink(it.FixedLink) {
		d.Error = p.T("catalog.bad.fixed_link", it.FixedLink)
		c.showCatalog(w, r, s, http.StatusBadRequest, d)
		return
	}
	if err := c.opt.Catalog.PutCatalogItem(r.Context(), it); err != nil {
		c.failErr(w, r, err)
		return
	}
	c.log.Info("catalog item saved", "sku", it.SKU, "who", s.who())
	http.Redirect(w, r, withDone("/ui/catalog", "saved"), http.StatusSeeOther)
}

func (c *Console) hasFixedLink(slug string) bool {
	for _, fl := range c.opt.FixedLinks {
		if fl.Slug == slug {
			return true
		}
	}
	return false
}

func (c *Console) deleteItem(w http.ResponseWriter, r *http.Request, s *session) {
	if c.opt.Catalog == nil {
		c.fail(w, r, http.StatusNotFound, "error.not_found")
		return
	}
	if err := c.opt.Catalog.DeleteCatalogItem(r.Context(), r.PathValue("sku")); err != nil {
		c.failErr(w, r, err)
		return
	}
	http.Redirect(w, r, withDone("/ui/catalog", "saved"), http.StatusSeeOther)
}

// saveTemplates stores the Direct message templates; one left as the
// built-in text (or emptied) stays the built-in one.
func (c *Console) saveTemplates(w http.ResponseWriter, r *http.Request, s *session) {
	if c.opt.Catalog == nil {
		c.fail(w, r, http.StatusNotFound, "error.not_found")
		return
	}
	for _, l := range present.Langs {
		body := strings.TrimSpace(strings.ReplaceAll(r.PostFormValue("template_"+string(l)), "\r\n", "\n"))
		if body == strings.TrimSpace(defaultTemplates[string(l)]) {
			body = ""
		}
		if err := core.CheckText("template", body); err != nil || len(body) > 2000 {
			c.fail(w, r, http.StatusBadRequest, "catalog.bad.template")
			return
		}
		if err := c.opt.Catalog.PutMessageTemplate(r.Context(), string(l), body, c.opt.Now()); err != nil {
			c.failErr(w, r, err)
			return
		}
	}
	http.Redirect(w, r, withDone("/ui/catalog", "saved"), http.StatusSeeOther)
}

func (c *Console) fixedQR(w http.ResponseWriter, r *http.Request, s *session) {
	for _, fl := range c.opt.FixedLinks {
		if fl.Slug == r.PathValue("slug") && fl.URL != "" {
			c.writeQR(w, r, fl.URL)
			return
		}
	}
	c.fail(w, r, http.StatusNotFound, "error.not_found")
}

func (c *Console) writeQR(w http.ResponseWriter, r *http.Request, link string) {
	png, err := qrpng.PNG(link)
	if err != nil {
		c.failErr(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "image/png")
	w.Header().Set("Cache-Control", "private, max-age=300")
	w.Write(png)
}

// defaultTemplates are the built-in Direct messages, per language. The
// placeholders: {name} (or the handle), {order}, {items}, {amount},
// {link}, {expires}.
var defaultTemplates = map[string]string{
	"en": "Hello, {name}! Here is the payment link for your order {order} ({items}), {amount}:\n{link}\nThe link works until {expires}.",
	"ru": "Здравствуйте, {name}! Ссылка на оплату заказа {order} ({items}), {amount}:\n{link}\nСсылка действует до {expires}.",
	"hy": "Բարև, {name}։ Ձեր {order} պատվերի ({items}) վճարման հղումը՝ {amount}.\n{link}\nՀղումը գործում է մինչև {expires}։",
}

// message fills lang's template for o.
func (c *Console) message(ctx context.Context, o core.Order, lang present.Lang) string {
	body := defaultTemplates[string(lang)]
	if c.opt.Catalog != nil {
		if edited, err := c.opt.Catalog.MessageTemplates(ctx); err == nil && edited[string(lang)] != "" {
			body = edited[string(lang)]
		}
	}
	p := present.New(lang, c.opt.Zone)
	name := o.Customer.Name
	if name == "" && o.Customer.Handle != "" {
		name = handle(o.Customer.Handle)
	}
	var items []string
	for _, it := range o.Items {
		if it.Quantity > 1 {
			items = append(items, it.Name+" × "+itoa(int(it.Quantity)))
		} else {
			items = append(items, it.Name)
		}
	}
	expires := "—"
	if o.ExpiresAt != nil {
		expires = p.Time(*o.ExpiresAt)
	}
	msg := strings.NewReplacer("{name}", name, "{order}", o.ID, "{items}", strings.Join(items, ", "), "{amount}", p.Money(o.AmountMinor, o.Currency),
		"{link}", o.PaymentURL, "{expires}", expires).Replace(body)
	return strings.ReplaceAll(strings.ReplaceAll(msg, ", !", "!"), ", ։", "։")
}

// parseAmount reads an amount as shops write it ("15 000", "15,000.50").
func parseAmount(s, currency string) (int64, error) {
	amount, err := core.ParseDecimal(strings.NewReplacer(",", "", " ", "", "\u00a0", "").Replace(s), currency)
	if err != nil || amount <= 0 {
		return 0, core.Errorf(core.EINVALID, "not an amount")
	}
	return amount, nil
}

var _ = time.Now
