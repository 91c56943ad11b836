package main

import (
	"context"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/paysync/paysync/core"
	"github.com/paysync/paysync/internal/browsertest"
	"github.com/paysync/paysync/storage"
)

// consoleScenario is a shop after a morning of orders, served as `paysync
// serve` serves it, with a sandbox Bitrix24: one order paid and in the CRM,
// one paid the wrong amount (in manual review), one that the CRM refused
// (a dead letter, EUR being disabled on the portal, enabled again since).
type consoleScenario struct {
	*e2e
	paid, review, dead string
}

func startConsoleScenario(t *testing.T, dialect string) *consoleScenario {
	e := startE2E(t, dialect, map[string]string{"PAYSYNC_GENERIC_WEBHOOK_SECRET": e2eSecret})
	s := &consoleScenario{e2e: e, paid: "IG-2001", review: "IG-2002", dead: "IG-2003"}
	order := func(id, handle, name, phone, item string, amount int64, currency string) {
		t.Helper()
		code, out := e.api("POST", "/v1/orders", map[string]any{"order_id": id, "amount_minor": amount, "currency": currency,
			"customer": map[string]any{"handle": handle, "name": name, "phone": phone},
			"items":    []map[string]any{{"sku": strings.ToUpper(handle[:3]) + "-1", "name": item, "quantity": 1, "price_minor": amount}}})
		if code != 201 {
			t.Fatalf("create %s: %d %v", id, code, out)
		}
	}
	pay := func(event, id string, amount int64, currency string) {
		t.Helper()
		body := fmt.Sprintf(`{"event_id":%q,"order_id":%q,"status":"paid","amount_minor":%d,"currency":%q,"provider_ref":"pay_%s","occurred_at":%q}`,
			event, id, amount, currency, event, time.Now().UTC().Format(time.RFC3339))
		if code := e.webhook([]byte(body)); code/100 != 2 {
			t.Fatalf("webhook %s: %d", event, code)
		}
	}
	order("IG-1998", "lilit.home", "Lilit Sargsyan", "+37477000103", "Soy candle", 450000, "AMD")
	order("IG-1999", "davit.m", "Davit Grigoryan", "+37493000104", "Ceramic mug", 600000, "AMD")
	order(s.paid, "anna.knits", "Anna Petrosyan", "+37491000101", "Silk scarf, red", 1500000, "AMD")
	order(s.review, "aram_style", "Aram Hakobyan", "+37491000102", "Leather bag", 3200000, "AMD")
	pay("evt_2001", s.paid, 1500000, "AMD")
	pay("evt_2002", s.review, 3000000, "AMD") // 2,000 ֏ short: a person decides
	e.eventually("IG-2001 in Bitrix24 at the paid stage", func() bool {
		d := e.portal.DealsByOrigin("paysync", s.paid)
		return len(d) == 1 && d[0].StageID == "EXECUTING"
	})

	e.portal.DisableCurrency("EUR")
	order(s.dead, "mane.art", "Mane Avetisyan", "+37455000105", "Art print A3", 9000, "EUR")
	store := e.d.app.store
	e.eventually("IG-2003 dead-lettered", func() bool {
		recs, _ := store.ListOutbox(context.Background(), "bitrix24", core.DeliveryDead, 10)
		return len(recs) == 1 && recs[0].OrderID == s.dead
	})
	e.portal.EnableCurrency("EUR") // the owner fixed the portal; the console retries
	return s
}

// TestConsoleInBrowser drives the console in headless Chromium the way a
// manager would: log in, find an order by handle, read its story, follow the
// link to the CRM, settle a manual review, retry a dead letter, switch to
// Armenian. With PAYSYNC_SCREENSHOTS=DIR it keeps its screenshots there
// (docs/img holds the ones the README shows).
func TestConsoleInBrowser(t *testing.T) {
	browsertest.Chromium(t) // before the scenario: skip early on a laptop without it
	s := startConsoleScenario(t, storage.SQLite)
	b := browsertest.New(t, 20*time.Second)
	css := func(sel string) chromedp.CSS { return chromedp.CSS(sel) }
	ui := s.base + "/ui/"

	b.Do("open the console", chromedp.Navigate(ui), chromedp.WaitVisible(css("#password")))
	b.Screenshot("console-login")
	b.Do("log in with the admin token, as the bootstrap owner",
		chromedp.SendKeys(css("#name"), "Aram"),
		chromedp.SendKeys(css("#password"), "e2e-token"),
		chromedp.Click(css("#login")),
		chromedp.WaitVisible(css("#q")))

	// Find the order by the customer's Instagram handle.
	b.Do("search by handle",
		chromedp.SendKeys(css("#q"), "@anna.knits"),
		chromedp.Click(css("#find")))
	b.WaitURL("q=%40anna.knits") // the list before the search has order links too
	b.Do("the search's results", chromedp.WaitVisible(css("#orders a.order-link")))
	if got := b.Text("#orders tbody"); !strings.Contains(got, s.paid) || strings.Contains(got, s.review) {
		t.Fatalf("search by handle found:\n%s", got)
	}
	b.Do("open the order", chromedp.Click(css("#orders a.order-link")), chromedp.WaitVisible(css("#timeline")))
	timeline := b.Text("#timeline")
	for _, want := range []string{"Order created", "Webhook from", "Accepted", "Awaiting payment → Paid", "15,000\u00a0֏"} {
		if !strings.Contains(timeline, want) {
			t.Errorf("timeline lacks %q:\n%s", want, timeline)
		}
	}
	if got := b.Text("#order-status"); got != "Paid" {
		t.Errorf("status shows %q", got)
	}
	b.Do("wait for the CRM link", chromedp.WaitVisible(css("#deliveries a.crm-link")))
	b.Screenshot("console-order")

	// Follow the link to the deal in the (sandbox) CRM.
	href := browsertest.Get(b, "read the CRM link", chromedp.AttributeValue(css("#deliveries a.crm-link"), "href"))
	deal := s.portal.DealsByOrigin("paysync", s.paid)[0]
	if !href.Exists || !strings.HasSuffix(href.Value, fmt.Sprintf("/crm/deal/details/%d/", deal.ID)) || strings.Contains(href.Value, "sandboxwebhookcode") {
		t.Fatalf("CRM link %+v, want deal %d without the webhook code", href, deal.ID)
	}
	b.Do("follow the CRM link", chromedp.Navigate(href.Value), chromedp.WaitVisible(css("#deal-stage")))
	if got := b.Text("#deal-stage"); got != "EXECUTING" {
		t.Fatalf("the deal page shows stage %q", got)
	}

	// Settle the payment that came in short.
	b.Do("open the review queue", chromedp.Navigate(ui+"orders"), chromedp.Click(css("#nav-review")),
		chromedp.WaitVisible(css("#note-"+s.review)))
	b.Screenshot("console-review")
	b.Do("settle as paid",
		chromedp.SendKeys(css("#note-"+s.review), "2,000 ֏ paid in cash at pickup"),
		chromedp.Click(css("#paid-"+s.review)),
		chromedp.WaitVisible(css("#review-empty")))
	if got := b.Text("#flash"); !strings.Contains(got, "Marked as paid") {
		t.Errorf("after settling the page says %q", got)
	}
	o, err := s.d.app.store.GetOrder(context.Background(), s.review)
	if err != nil || o.Status != core.StatusPaid {
		t.Fatalf("order after settling: %v %v", o.Status, err)
	}
	j, _ := s.d.app.store.ListJournal(context.Background(), s.review)
	if last := j[len(j)-1]; last.Reason != "console (admin token): 2,000 ֏ paid in cash at pickup" || last.Verdict != core.VerdictManual {
		t.Fatalf("journal after settling: %+v", last)
	}

	// Retry the dead letter once the CRM is fixed.
	b.Do("open the outbox", chromedp.Click(css("#nav-outbox")), chromedp.WaitVisible(css("#dead button.retry")))
	if got := b.Text("#dead"); !strings.Contains(got, "enable EUR in CRM > Settings > Currencies") || !strings.Contains(got, s.dead) {
		t.Fatalf("dead letters:\n%s", got)
	}
	if got := b.Text("#connectors"); !strings.Contains(got, "Bitrix24") || !strings.Contains(got, "Active") {
		t.Errorf("connector health:\n%s", got)
	}
	b.Screenshot("console-outbox")
	b.Do("retry the dead letter", chromedp.Click(css("#dead button.retry")), chromedp.WaitVisible(css("#no-dead")))
	s.eventually("IG-2003 in Bitrix24 after the retry", func() bool { return len(s.portal.DealsByOrigin("paysync", s.dead)) == 1 })

	// Switch to Armenian.
	b.Do("switch to Armenian", chromedp.Navigate(ui+"orders/"+s.review), chromedp.WaitVisible(css("#timeline")),
		chromedp.Click(css(`.langs a[hreflang="hy"]`)), chromedp.WaitVisible(css(`html[lang="hy"]`)))
	if got := b.Text("h1"); !strings.Contains(got, "Պատվեր "+s.review) || !strings.Contains(got, "Վճարված է") {
		t.Fatalf("Armenian heading %q", got)
	}
	if got := b.Text("#timeline"); !strings.Contains(got, "Որոշել է մարդը") || !strings.Contains(got, "Ստուգման է → Վճարված է") {
		t.Fatalf("Armenian timeline:\n%s", got)
	}
	b.Screenshot("console-order-hy")
	b.Do("the choice sticks", chromedp.Click(css("#nav-orders")), chromedp.WaitVisible(css("#orders")))
	if got := b.Text("h1"); got != "Պատվերներ" {
		t.Fatalf("after the switch the orders page says %q", got)
	}
}

// knownSecrets are the secret values the console scenario runs with.
func knownSecrets(s *consoleScenario) []string {
	return []string{"e2e-token", e2eSecret, strings.TrimPrefix(e2eSecret, "whsec_"), s.portal.WebhookURL(""), "sandboxwebhookcode1"}
}

// TestNoSecretReachesConsolePages runs the whole scenario with known secret
// values, goes through every console page (and acts on them), provokes API
// errors, and finds none of the secrets in any page, API answer or log line.
// Each place people read is a "surface".
func TestNoSecretReachesConsolePages(t *testing.T) {
	s := startConsoleScenario(t, storage.SQLite)
	surfaces := map[string]string{}
	c := consoleClient(t, s)
	get := func(path string) string {
		t.Helper()
		code, body := c.get(path)
		if code >= 500 {
			t.Fatalf("%s: %d", path, code)
		}
		surfaces["console "+path] = body
		return body
	}
	get("/ui/login")
	c.login("Aram", "e2e-token")
	get("/ui/orders")
	get("/ui/orders?q=anna")
	get("/ui/orders/new")
	get("/ui/catalog")
	get("/ui/people")
	get("/ui/tokens")
	get("/ui/password")
	get("/ui/review")
	outbox := get("/ui/outbox")
	get("/ui/orders/NOPE")
	get("/ui/nothing-here")
	for _, id := range []string{"IG-1998", "IG-1999", s.paid, s.review, s.dead} {
		page := get("/ui/orders/" + id)
		for _, m := range regexp.MustCompile(`href="(/ui/orders/[^"]+/journal/\d+)"`).FindAllStringSubmatch(page, -1) {
			get(m[1])
		}
	}
	// Act, and read the answers too.
	c.post("/ui/outbox/retry-dead", csrfIn(t, outbox), nil)
	page := get("/ui/review")
	c.post("/ui/orders/"+s.review+"/review", csrfIn(t, page), url.Values{"decision": {"failed"}, "note": {"customer asked to cancel"}})
	get("/ui/orders/" + s.review)
	get("/ui/outbox")
	c.postRaw("/ui/login", url.Values{"name": {"Aram"}, "password": {"e2e-token-wrong"}}) // a failed login's page
	surfaces["console failed login"] = c.last

	// API answers, errors included: wrong token, unknown ids, bad bodies,
	// a forged webhook, a re-sync to a disabled connector.
	api := func(method, path, token, body string) {
		t.Helper()
		req, _ := http.NewRequest(method, s.base+path, strings.NewReader(body))
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		surfaces[fmt.Sprintf("API %s %s (%d)", method, path, resp.StatusCode)] = string(b)
	}
	api("GET", "/v1/orders/"+s.paid, "e2e-token", "")
	api("GET", "/v1/orders", "e2e-token-wrong", "")
	api("GET", "/v1/orders/NOPE", "e2e-token", "")
	api("POST", "/v1/orders", "e2e-token", `{"order_id":"bad id","amount_minor":-1}`)
	api("POST", "/v1/orders/"+s.paid+"/resync?connector=amocrm", "e2e-token", "")
	api("GET", "/v1/outbox/stats", "e2e-token", "")
	api("GET", "/v1/outbox?state=dead", "e2e-token", "")
	api("GET", "/readyz", "", "")
	api("GET", "/metrics", "", "")
	api("POST", "/webhooks/generic", "", `{"event_id":"x","order_id":"IG-1"}`)
	api("POST", "/webhooks/nope", "", `{}`)
	surfaces["the daemon's log"] = s.logs.String()

	if len(surfaces) < 25 || len(s.logs.String()) < 200 {
		t.Fatalf("only %d surfaces checked", len(surfaces))
	}
	for name, text := range surfaces {
		for _, secret := range knownSecrets(s) {
			for _, form := range []string{secret, html.EscapeString(secret), url.QueryEscape(secret)} {
				if strings.Contains(text, form) {
					t.Errorf("%s shows the secret %q", name, secret)
				}
			}
		}
	}
}

// consoleHTTP is a plain HTTP client with cookies for console pages.
type consoleHTTP struct {
	t    *testing.T
	base string
	c    *http.Client
	last string
}

func consoleClient(t *testing.T, s *consoleScenario) *consoleHTTP {
	jar, _ := cookiejar.New(nil)
	return &consoleHTTP{t: t, base: s.base, c: &http.Client{Jar: jar}}
}

func (h *consoleHTTP) get(path string) (int, string) {
	h.t.Helper()
	req, _ := http.NewRequest("GET", h.base+path, nil)
	req.Header.Set("Accept", "text/html")
	resp, err := h.c.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func (h *consoleHTTP) postRaw(path string, form url.Values) int {
	h.t.Helper()
	req, _ := http.NewRequest("POST", h.base+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "text/html")
	resp, err := h.c.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	h.last = string(b)
	return resp.StatusCode
}

func (h *consoleHTTP) post(path, csrf string, form url.Values) {
	h.t.Helper()
	if form == nil {
		form = url.Values{}
	}
	form.Set("csrf", csrf)
	if code := h.postRaw(path, form); code != http.StatusOK {
		h.t.Fatalf("POST %s: %d\n%s", path, code, h.last)
	}
}

// login signs in with a name and a password (or the admin token as the
// password: the bootstrap owner).
func (h *consoleHTTP) login(name, password string) {
	h.t.Helper()
	_, page := h.get("/ui/login")
	if code := h.postRaw("/ui/login", url.Values{"csrf": {csrfIn(h.t, page)}, "name": {name}, "password": {password}}); code != http.StatusOK || !strings.Contains(h.last, "Log out") {
		h.t.Fatalf("login: %d\n%s", code, h.last)
	}
}

func csrfIn(t *testing.T, page string) string {
	t.Helper()
	m := regexp.MustCompile(`name="csrf" value="([^"]+)"`).FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no form on the page:\n%s", page)
	}
	return html.UnescapeString(m[1])
}

// `paysync outbox stats` shows each connector's state, asked of the running
// serve, and says when it cannot know it.
func TestOutboxStatsShowsConnectorState(t *testing.T) {
	e := startE2E(t, storage.SQLite, nil)
	if code, out := e.api("POST", "/v1/orders", map[string]any{"order_id": "IG-7", "amount_minor": 1500000, "currency": "AMD"}); code != 201 {
		t.Fatalf("create: %d %v", code, out)
	}
	// Delivered means acknowledged in the outbox, not only written to the portal.
	e.eventually("IG-7 delivered", func() bool {
		_, view := e.api("GET", "/v1/orders/IG-7", nil)
		ds, _ := view["deliveries"].([]any)
		return len(ds) == 1 && ds[0].(map[string]any)["state"] == "delivered"
	})
	t.Setenv("PAYSYNC_HTTP_ADDR", strings.TrimPrefix(e.base, "http://"))
	code, out, errs := cli(t, "outbox", "stats")
	if code != 0 || !regexp.MustCompile(`bitrix24\s+Active\s+0\s+-\s+0\s+1`).MatchString(out) {
		t.Fatalf("stats with serve running: %d\n%s%s", code, out, errs)
	}
	code, out, _ = cli(t, "outbox", "stats", "--json")
	if code != 0 || !strings.Contains(out, `"state":"running"`) || strings.Contains(out, "0001-01-01") {
		t.Fatalf("stats --json: %d %s", code, out)
	}
	t.Setenv("PAYSYNC_HTTP_ADDR", "127.0.0.1:1") // nothing there
	code, out, _ = cli(t, "outbox", "stats")
	if code != 0 || !regexp.MustCompile(`bitrix24\s+\?\s`).MatchString(out) || !strings.Contains(out, "state unknown: serve does not answer at 127.0.0.1:1") {
		t.Fatalf("stats without serve: %d\n%s", code, out)
	}
}
