// Package console is the operator console at /ui/: server-rendered pages
// (html/template, assets embedded in the binary, no JavaScript needed) where
// a manager finds an order by id, Instagram handle or phone and reads its
// payment story, the owner settles payments that need a person, and anyone
// sees whether a CRM is behind and why. It opens only with the admin token;
// a login gives a signed session cookie, every form carries a CSRF token.
// Words, money and times come from package present, in English, Russian or
// Armenian and in the shop's time zone.
package console

import (
	"bytes"
	"context"
	"embed"
	"encoding/json"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/paysync/paysync/connectors"
	"github.com/paysync/paysync/core"
	"github.com/paysync/paysync/dispatcher"
	"github.com/paysync/paysync/internal/throttle"
	"github.com/paysync/paysync/people"
	"github.com/paysync/paysync/present"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// Reviewer settles orders in manual review; core.Ledger and the payments
// service have it.
type Reviewer interface {
	Review(ctx context.Context, id string, decision core.Status, note, who string) (core.Order, error)
}

// Outbox is the dispatcher's side of the console: backlog and connector
// state, and requeueing dead letters (which wakes the workers at once).
type Outbox interface {
	Stats(ctx context.Context) ([]dispatcher.ConnectorStats, error)
	RetryDead(ctx context.Context, id int64) error
	RetryAllDead(ctx context.Context, connector string) (int64, error)
}

// CRM is how the console names a connector and links to its records.
type CRM struct {
	Title string
	// RecordURL is the web address of the CRM record behind a link (the
	// Bitrix24 deal, the amoCRM lead, the Sheets row); "" when unknown.
	RecordURL func(core.CRMLink) string
}

// Options configure the console. Store, Reviews and Outbox are required.
type Options struct {
	Store   core.Store
	Reviews Reviewer
	Outbox  Outbox
	// People checks logins and keeps sessions (in the database); without it
	// every page says the console is closed.
	People *people.Service
	// Proxies are the reverse proxies whose X-Forwarded-For names the
	// client address the login throttle counts.
	Proxies throttle.Proxies
	// PublicURL is where people reach paysync (for invite links); default
	// the request's own host.
	PublicURL string
	// Catalog, when set, keeps the items New order offers and the Direct
	// message templates.
	Catalog core.Catalog
	// FixedLinks are the config's reusable links (fixed_links), shown with
	// the catalog.
	FixedLinks []core.FixedLink
	// Relinks, when set, journals a "New link" on the order it replaces.
	Relinks Relinker
	// Zone is the shop's time zone (config time_zone); default UTC.
	Zone *time.Location
	// CRMs by connector name; Providers names payment providers ("vpos" ->
	// "VPOS.am"). Names without an entry print as they are.
	CRMs      map[string]CRM
	Providers map[string]string
	// Secrets are values that must never appear on a page (the config's
	// tokens, keys, passwords and webhook URLs); every page is scrubbed of them.
	Secrets []string
	// Orders, when set, lets the console create orders (the New order form).
	Orders OrderCreator
	// Direct, when set (the instagram connector is on), shows the Direct
	// page and an order's "Send link in Direct".
	Direct Direct
	// Movements, when set, gives owners the accountant's export (the
	// Export page and its download).
	Movements Movements
	Logger    *slog.Logger
	Now       func() time.Time
}

// Console serves /ui/.
type Console struct {
	opt   Options
	log   *slog.Logger
	mux   *http.ServeMux
	pages map[string]*template.Template
	scrub *strings.Replacer
}

// New builds the console. Mount the result at /ui/.
func New(o Options) *Console {
	if o.Zone == nil {
		o.Zone = time.UTC
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	c := &Console{opt: o, log: o.Logger, pages: parsePages(), scrub: scrubber(o.Secrets)}
	m := http.NewServeMux()
	static, _ := fs.Sub(staticFS, "static")
	m.Handle("GET /ui/static/", http.StripPrefix("/ui/static/", staticFiles(http.FileServerFS(static))))
	m.HandleFunc("GET /ui/login", c.loginPage)
	m.HandleFunc("POST /ui/login", c.login)
	m.HandleFunc("GET /ui/lang", c.switchLang)
	m.Handle("POST /ui/logout", c.authed(c.logout))
	m.Handle("GET /ui/{$}", c.authed(func(w http.ResponseWriter, r *http.Request, s *session) {
		http.Redirect(w, r, "/ui/orders", http.StatusSeeOther)
	}))
	m.Handle("GET /ui/orders", c.authed(c.ordersPage))
	m.Handle("GET /ui/orders/new", c.allowed("create", c.newOrderPage))
	m.Handle("POST /ui/orders/new", c.allowed("create", c.createOrder))
	m.Handle("GET /ui/orders/{id}", c.authed(c.orderPage))
	m.Handle("GET /ui/orders/{id}/status", c.authed(c.orderStatus))
	m.Handle("GET /ui/orders/{id}/qr.png", c.authed(c.orderQR))
	m.Handle("POST /ui/orders/{id}/relink", c.allowed("create", c.relink))
	m.Handle("POST /ui/orders/{id}/direct", c.allowed("create", c.sendLink))
	m.Handle("GET /ui/direct", c.authed(c.directPage))
	m.Handle("GET /ui/orders/{id}/journal/{entry}", c.authed(c.payloadPage))
	m.Handle("POST /ui/orders/{id}/review", c.allowed("settle", c.settle))
	m.Handle("GET /ui/review", c.authed(c.reviewPage))
	m.Handle("GET /ui/outbox", c.authed(c.outboxPage))
	m.Handle("POST /ui/outbox/{id}/retry", c.allowed("retry", c.retry))
	m.Handle("POST /ui/outbox/retry-dead", c.allowed("retry", c.retryAll))
	m.Handle("GET /ui/catalog", c.authed(c.catalogPage))
	m.Handle("POST /ui/catalog", c.allowed("catalog", c.saveItem))
	m.Handle("POST /ui/catalog/{sku}/delete", c.allowed("catalog", c.deleteItem))
	m.Handle("POST /ui/catalog/templates", c.allowed("catalog", c.saveTemplates))
	m.Handle("GET /ui/catalog/fixed/{slug}/qr.png", c.authed(c.fixedQR))
	m.Handle("GET /ui/people", c.allowed("people", c.peoplePage))
	m.Handle("POST /ui/people", c.allowed("people", c.invite))
	m.Handle("POST /ui/people/{name}/disable", c.allowed("people", c.disablePerson))
	m.Handle("GET /ui/tokens", c.authed(c.tokensPage))
	m.Handle("POST /ui/tokens", c.authed(c.addToken))
	m.Handle("POST /ui/tokens/{id}/revoke", c.authed(c.revokeToken))
	m.Handle("GET /ui/password", c.authed(c.passwordPage))
	m.Handle("POST /ui/password", c.authed(c.changePassword))
	m.HandleFunc("GET /ui/invite/{token}", c.invitePage)
	m.HandleFunc("POST /ui/invite/{token}", c.acceptInvite)
	m.Handle("GET /ui/export", c.allowed("export", c.exportPage))
	m.Handle("GET /ui/export/download", c.allowed("export", c.exportDownload))
	m.Handle("GET /ui/reconciliation", c.allowed("reconcile", c.reconcilePage))
	m.HandleFunc("/ui/", func(w http.ResponseWriter, r *http.Request) {
		c.fail(w, r, http.StatusNotFound, "error.not_found")
	})
	c.mux = m
	return c
}

func (c *Console) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	// Only the console's own small script runs (copy buttons, an order's
	// live status), nothing is framed, forms post only to the console, and
	// no console address leaks to a CRM through the Referer.
	h.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; connect-src 'self'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	h.Set("X-Frame-Options", "DENY")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	if c.opt.People == nil {
		// Never open without a way to check who logs in.
		c.fail(w, r, http.StatusServiceUnavailable, "error.closed")
		return
	}
	if r.Method == http.MethodPost && crossSite(r) {
		c.fail(w, r, http.StatusForbidden, "error.csrf")
		return
	}
	c.mux.ServeHTTP(w, r)
}

// crossSite reports a request that a browser says comes from another site:
// by its fetch metadata where it sends them (every current browser does),
// else by an Origin that is neither this host nor the one a reverse proxy
// names in X-Forwarded-Host. The CSRF token is checked on top of this.
func crossSite(r *http.Request) bool {
	if s := r.Header.Get("Sec-Fetch-Site"); s != "" {
		return s == "cross-site" || s == "same-site"
	}
	if o := r.Header.Get("Origin"); o != "" && o != "null" {
		host := strings.TrimPrefix(strings.TrimPrefix(o, "https://"), "http://")
		fwd := r.Header.Get("X-Forwarded-Host")
		return !strings.EqualFold(host, r.Host) && (fwd == "" || !strings.EqualFold(host, fwd))
	}
	return false
}

func staticFiles(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=3600")
		h.ServeHTTP(w, r)
	})
}

// printer is the request's language in the shop's zone.
func (c *Console) printer(r *http.Request) present.Printer {
	return present.New(langOf(r), c.opt.Zone)
}

func langOf(r *http.Request) present.Lang {
	if ck, err := r.Cookie(langCookie); err == nil {
		if l, ok := present.ParseLang(ck.Value); ok {
			return l
		}
	}
	return present.FromAcceptLanguage(r.Header.Get("Accept-Language"))
}

// view is what every page template gets.
type view struct {
	P     present.Printer
	Title string
	Nav   string // the menu entry to highlight
	User  string
	CSRF  string
	Langs []langLink
	Zone  string
	Flash string
	Tone  string // of the flash: good or bad
	Data  any
	// Direct: the instagram connector is on (the Direct page is in the menu);
	// NewOrder: the console may create orders and this person may;
	// Export: the accountant's export, for owners.
	Direct, NewOrder, Export bool
	// Owner, Settle: what the person's role allows; Review is how many
	// orders wait for a person (shown in the menu).
	Owner, Settle bool
	Review        int64
}

// langLink is a language switch: its code is what the link shows
// (short, the same in every script), its name the tooltip.
type langLink struct {
	Code, Name, Href string
	Current          bool
}

// reviewCounter counts the orders in a status (storage.DB has it).
type reviewCounter interface {
	CountStatus(ctx context.Context, status core.Status) (int64, error)
}

func (c *Console) view(r *http.Request, s *session, nav, title string, data any) view {
	p := c.printer(r)
	v := view{P: p, Title: title, Nav: nav, Data: data, Zone: p.ZoneName(c.opt.Now()), Direct: c.opt.Direct != nil}
	if s != nil {
		v.User, v.CSRF = s.Name, s.csrf()
		if s.Admin() {
			v.User = p.T("nav.admin")
		}
		v.NewOrder = c.opt.Orders != nil && s.can("create")
		v.Owner, v.Settle = s.can("people"), s.can("settle")
		v.Export = c.opt.Movements != nil && s.can("export")
		if rc, ok := c.opt.Store.(reviewCounter); ok {
			v.Review, _ = rc.CountStatus(r.Context(), core.StatusManualReview)
		}
	}
	back := r.URL.RequestURI()
	for _, l := range present.Langs {
		v.Langs = append(v.Langs, langLink{Code: string(l), Name: l.Name(), Href: "/ui/lang?to=" + string(l) + "&back=" + urlQueryEscape(back), Current: l == p.Lang})
	}
	if key := r.URL.Query().Get("done"); key != "" && present.Has("done."+key) {
		v.Flash, v.Tone = p.T("done."+key), "good"
	}
	return v
}

// render writes a page, scrubbed of every configured secret.
func (c *Console) render(w http.ResponseWriter, status int, page string, v view) {
	var buf bytes.Buffer
	if err := c.pages[page].ExecuteTemplate(&buf, "layout", v); err != nil {
		c.log.Error("console page failed", "page", page, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Language", string(v.P.Lang))
	w.WriteHeader(status)
	w.Write([]byte(c.scrub.Replace(buf.String())))
}

// fail answers with an error page for browsers and the API's JSON error for
// everything else.
func (c *Console) fail(w http.ResponseWriter, r *http.Request, status int, key string, args ...any) {
	if !strings.Contains(r.Header.Get("Accept"), "text/html") {
		c.failJSON(w, status, c.scrub.Replace(present.Printer{}.T(key, args...)))
		return
	}
	c.failSaid(w, r, status, c.scrub.Replace(c.printer(r).T(key, args...)), "")
}

func (c *Console) failJSON(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]any{"error": map[string]string{"code": errorCode(status), "message": msg}})
}

// failSaid answers with the error page: msg in the page's language, said
// (paysync's English words, when msg is not them) quoted below it.
func (c *Console) failSaid(w http.ResponseWriter, r *http.Request, status int, msg, said string) {
	if !strings.Contains(r.Header.Get("Accept"), "text/html") {
		if said != "" {
			msg = said
		}
		c.failJSON(w, status, msg)
		return
	}
	p := c.printer(r)
	data := errorData{Msg: msg, Said: said}
	v := c.view(r, nil, "", p.T("error.title"), data)
	if s, ok := c.from(r); ok {
		v = c.view(r, s, "", p.T("error.title"), data)
	}
	v.Flash, v.Tone = "", ""
	c.render(w, status, "error", v)
}

func errorCode(status int) string {
	switch status {
	case http.StatusNotFound:
		return core.ENOTFOUND
	case http.StatusUnauthorized:
		return core.EUNAUTHORIZED
	case http.StatusForbidden:
		return "forbidden"
	case http.StatusBadRequest:
		return core.EINVALID
	case http.StatusConflict:
		return core.ECONFLICT
	case http.StatusTooManyRequests:
		return core.ETOOMANY
	case http.StatusServiceUnavailable:
		return core.EUNAVAILABLE
	}
	return core.EINTERNAL
}

// failErr answers a failed store or ledger call: its user-safe message for
// what the user can fix, a generic one (and a log line) for the rest.
func (c *Console) failErr(w http.ResponseWriter, r *http.Request, err error) {
	code := core.ErrorCode(err)
	status := map[string]int{core.ENOTFOUND: 404, core.EINVALID: 400, core.ECONFLICT: 409, core.ESTALE: 409, core.EUNAVAILABLE: 503}[code]
	if status == 0 {
		c.log.Error("console request failed", "method", r.Method, "path", r.URL.Path, "err", err)
		c.fail(w, r, http.StatusInternalServerError, "error.internal")
		return
	}
	msg, said := c.errWords(c.printer(r), err)
	c.failSaid(w, r, status, msg, said)
}

// errWords tells a store or ledger error a person can act on: its message
// on an English page; on a Russian or Armenian one a sentence in that
// language for its kind, and the message, which exists in English only,
// to quote below it.
func (c *Console) errWords(p present.Printer, err error) (msg, said string) {
	text := c.scrub.Replace(core.ErrorMessage(err))
	if p.Lang == present.English || p.Lang == "" {
		return text, ""
	}
	key := "error.kind." + core.ErrorCode(err)
	if !present.Has(key) {
		key = "error.kind." + core.EINVALID
	}
	return p.T(key), text
}

// errorData is what the error page shows: the message in the page's
// language, and paysync's own (English) words quoted under it.
type errorData struct{ Msg, Said string }

// settleForm is what the shared "settle-form" template needs.
type settleForm struct {
	V              view
	ID, Href, Back string
}

// saidText is what the shared "crm-said" template needs: a reason in the
// words of a CRM or of paysync's log, which exist in English only. It is
// quoted as such (lang="en", folded away on Russian and Armenian pages)
// after the page's own sentence, for the one who fixes the CRM.
type saidText struct {
	V           view
	Text, Label string
}

var funcs = template.FuncMap{
	"settle": func(v view, id, href, back string) settleForm {
		return settleForm{V: v, ID: id, Href: href, Back: back}
	},
	"said": func(v view, text string, label ...string) saidText {
		l := "crm.said"
		if len(label) > 0 {
			l = label[0]
		}
		return saidText{V: v, Text: text, Label: l}
	},
}

func parsePages() map[string]*template.Template {
	layout := template.Must(template.New("layout").Funcs(funcs).ParseFS(templateFS, "templates/layout.html"))
	pages := map[string]*template.Template{}
	names, _ := fs.Glob(templateFS, "templates/*.html")
	for _, n := range names {
		name := strings.TrimSuffix(strings.TrimPrefix(n, "templates/"), ".html")
		if name == "layout" {
			continue
		}
		pages[name] = template.Must(template.Must(layout.Clone()).ParseFS(templateFS, n))
	}
	return pages
}

// scrubber replaces every secret, and its HTML-escaped form, with [redacted].
func scrubber(secrets []string) *strings.Replacer {
	var pairs []string
	seen := map[string]bool{}
	for _, s := range secrets {
		if len(s) < 4 { // too short to tell from ordinary text
			continue
		}
		for _, form := range []string{s, template.HTMLEscapeString(s), template.JSEscapeString(s), template.URLQueryEscaper(s)} {
			if !seen[form] {
				seen[form] = true
				pairs = append(pairs, form, "[redacted]")
			}
		}
	}
	return strings.NewReplacer(pairs...)
}

func urlQueryEscape(s string) string { return template.URLQueryEscaper(s) }

// CRMs names every registered connector and links to its records with the
// connector's settings (settings returns a connector's config section).
func CRMs(specs []connectors.Spec, settings func(name string) connectors.Settings) map[string]CRM {
	out := make(map[string]CRM, len(specs))
	for _, spec := range specs {
		crm := CRM{Title: spec.Title}
		if st := settings(spec.Name); spec.RecordURL != nil && st != nil {
			recordURL := spec.RecordURL
			crm.RecordURL = func(l core.CRMLink) string { return recordURL(st, l) }
		}
		out[spec.Name] = crm
	}
	return out
}
