package console_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/paysync/paysync/console"
	"github.com/paysync/paysync/core"
	"github.com/paysync/paysync/present"
	"github.com/paysync/paysync/storage"
	"github.com/paysync/paysync/storage/testdb"
)

const nb = "\u00a0"

// Without a way to check logins the console is closed: not even the login page.
func TestClosedWithoutAdminToken(t *testing.T) {
	t.Parallel()
	r := newRig(t, storage.SQLite, func(o *console.Options) { o.People = nil })
	b := r.browser()
	for _, path := range []string{"/ui/login", "/ui/orders", "/ui/"} {
		code, page := b.get(path)
		if code != http.StatusServiceUnavailable || !strings.Contains(page, "PAYSYNC_ADMIN_TOKEN") {
			t.Fatalf("%s without a token: %d\n%s", path, code, page)
		}
	}
	code, _, _ := b.post("/ui/login", url.Values{"password": {""}})
	if code != http.StatusServiceUnavailable {
		t.Fatalf("login without a token configured: %d", code)
	}
}

func TestLoginSessionAndCSRF(t *testing.T) {
	t.Parallel()
	r := newRig(t, storage.SQLite, nil)
	b := r.browser()

	// No session: pages send to the login, posts are refused.
	req, _ := http.NewRequest("GET", r.srv.URL+"/ui/orders?q=anna", nil)
	resp, err := b.c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/ui/login?next=%2Fui%2Forders%3Fq%3Danna" {
		t.Fatalf("anonymous page: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	if code, _, _ := b.post("/ui/outbox/retry-dead", url.Values{}); code != http.StatusUnauthorized {
		t.Fatalf("anonymous post: %d", code)
	}

	// The login form needs its own CSRF token, and the right admin token.
	_, page := b.get("/ui/login")
	loginCSRF := csrfOf(t, page)
	if code, _, _ := b.post("/ui/login", url.Values{"password": {token}}); code != http.StatusForbidden {
		t.Fatalf("login without the form's token: %d", code)
	}
	if code, _, _ := b.post("/ui/login", url.Values{"csrf": {loginCSRF + "x"}, "password": {token}}); code != http.StatusForbidden {
		t.Fatalf("login with another form's token: %d", code)
	}
	_, page = b.get("/ui/login")
	loginCSRF = csrfOf(t, page)
	code, _, body := b.post("/ui/login", url.Values{"csrf": {loginCSRF}, "password": {"wrong"}, "name": {"Anna"}})
	if code != http.StatusUnauthorized || !strings.Contains(body, "Wrong name or password") || strings.Contains(body, token) {
		t.Fatalf("wrong token: %d\n%s", code, body)
	}
	_, page = b.get("/ui/login")
	code, loc, _ := b.post("/ui/login", url.Values{"csrf": {csrfOf(t, page)}, "password": {token}, "name": {"Anna"}, "next": {"https://evil.example/"}})
	if code != http.StatusSeeOther || loc != "/ui/orders" {
		t.Fatalf("login with a foreign next: %d %q, want /ui/orders", code, loc)
	}
	u, _ := url.Parse(r.srv.URL + "/ui/")
	var sess *http.Cookie
	for _, c := range b.c.Jar.Cookies(u) {
		if c.Name == "paysync_session" {
			sess = c
		}
	}
	if sess == nil {
		t.Fatal("no session cookie")
	}
	if strings.Contains(sess.Value, token) {
		t.Fatal("the session cookie holds the admin token")
	}

	// The cookie's attributes, as the server sets them.
	_, page = b.get("/ui/login?next=/ui/orders") // logged in: redirected to the orders
	if !strings.Contains(page, "Signed in as owner (admin token)") {
		t.Fatalf("not signed in:\n%s", page)
	}
	fresh := r.browser()
	_, page = fresh.get("/ui/login")
	req, _ = http.NewRequest("POST", r.srv.URL+"/ui/login", strings.NewReader(url.Values{"csrf": {csrfOf(t, page)}, "password": {token}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-Forwarded-Proto", "https")
	resp, err = fresh.c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	var set string
	for _, h := range resp.Header.Values("Set-Cookie") {
		if strings.HasPrefix(h, "paysync_session=") {
			set = h
		}
	}
	for _, attr := range []string{"HttpOnly", "SameSite=Strict", "Secure", "Path=/ui/", "Max-Age=43200"} {
		if !strings.Contains(set, attr) {
			t.Errorf("session cookie %q lacks %s", set, attr)
		}
	}

	// Every post needs the session's CSRF token and a same-site origin.
	_, page = b.get("/ui/outbox")
	csrf := csrfOf(t, page)
	if code, _, _ := b.post("/ui/outbox/retry-dead", url.Values{"csrf": {"forged"}}); code != http.StatusForbidden {
		t.Fatalf("forged csrf: %d", code)
	}
	if code, _, _ := b.post("/ui/outbox/retry-dead", url.Values{"csrf": {csrf}}, "Origin", "https://evil.example"); code != http.StatusForbidden {
		t.Fatalf("cross-site post: %d", code)
	}
	if code, _, _ := b.post("/ui/outbox/retry-dead", url.Values{"csrf": {csrf}}, "Sec-Fetch-Site", "cross-site"); code != http.StatusForbidden {
		t.Fatalf("cross-site post (fetch metadata): %d", code)
	}
	if code, loc, _ := b.post("/ui/outbox/retry-dead", url.Values{"csrf": {csrf}}, "Origin", r.srv.URL); code != http.StatusSeeOther || !strings.HasPrefix(loc, "/ui/outbox") {
		t.Fatalf("good post: %d %s", code, loc)
	}
	// Behind a reverse proxy that names the public host.
	if code, _, _ := b.post("/ui/outbox/retry-dead", url.Values{"csrf": {csrf}}, "Origin", "https://pay.shop.am", "X-Forwarded-Host", "pay.shop.am"); code != http.StatusSeeOther {
		t.Fatalf("post through a proxy: %d", code)
	}
	if code, _, _ := b.post("/ui/outbox/retry-dead", url.Values{"csrf": {csrf}}, "Origin", r.srv.URL, "Sec-Fetch-Site", "same-origin"); code != http.StatusSeeOther {
		t.Fatalf("same-origin post: %d", code)
	}

	// A tampered cookie is no session.
	tampered := r.browser()
	tampered.c.Jar.SetCookies(u, []*http.Cookie{{Name: "paysync_session", Value: sess.Value[:len(sess.Value)-1] + "x", Path: "/ui/"}})
	if _, page := tampered.get("/ui/orders"); !strings.Contains(page, `name="password"`) {
		t.Fatal("a tampered cookie was accepted")
	}

	// The server ends a session at its expiry, whatever the browser keeps.
	r.now.Add(12*time.Hour + time.Second)
	if _, page := b.get("/ui/orders"); !strings.Contains(page, `name="password"`) {
		t.Fatal("an expired session was accepted")
	}
	r.now.Add(-(12*time.Hour + time.Second))

	// Log out ends the session even if the cookie is replayed.
	if _, page = b.get("/ui/orders"); !strings.Contains(page, "Signed in as owner (admin token)") {
		t.Fatal("session lost before logout")
	}
	replay := r.browser()
	replay.c.Jar.SetCookies(u, []*http.Cookie{{Name: "paysync_session", Value: sess.Value, Path: "/ui/"}})
	if code, loc, _ := b.post("/ui/logout", url.Values{"csrf": {csrfOf(t, page)}}); code != http.StatusSeeOther || loc != "/ui/login" {
		t.Fatalf("logout: %d %s", code, loc)
	}
	if _, page := replay.get("/ui/orders"); !strings.Contains(page, `name="password"`) {
		t.Fatal("the session outlived its logout")
	}
}

// The whole console on both databases: search, order page with the
// timeline, the raw payload with secrets stripped, settling a review, the
// outbox with a dead letter and its retry.
func TestConsoleFlow(t *testing.T) {
	testdb.Each(t, func(t *testing.T, dialect string) {
		r := newRig(t, dialect, nil)
		ctx := context.Background()
		r.order(core.Order{ID: "IG-1", AmountMinor: 1500000, Currency: "AMD", Provider: "vpos",
			Customer: core.Customer{Handle: "anna.knits", Name: "Anna Petrosyan", Phone: "+37491000101"},
			Items:    []core.Item{{SKU: "SCARF", Name: "Silk scarf", Quantity: 2, PriceMinor: 750000}}})
		r.order(core.Order{ID: "IG-2", AmountMinor: 900000, Currency: "AMD", Customer: core.Customer{Handle: "mane.art", Name: "Mane"}})
		r.pay("IG-1", 1400000, "evt-1") // the wrong amount: manual review
		b := r.browser()
		b.login("Aram")

		// Search by handle, with or without @, by phone digits and by id.
		for _, q := range []string{"anna.knits", "@ANNA", "91000101", "IG-1"} {
			_, page := b.get("/ui/orders?q=" + url.QueryEscape(q))
			if !strings.Contains(page, `href="/ui/orders/IG-1"`) || strings.Contains(page, `href="/ui/orders/IG-2"`) {
				t.Fatalf("search %q:\n%s", q, page)
			}
		}
		_, page := b.get("/ui/orders?status=manual_review")
		if !strings.Contains(page, "IG-1") || strings.Contains(page, "IG-2") || !strings.Contains(page, "Needs review") {
			t.Fatalf("status filter:\n%s", page)
		}
		_, page = b.get("/ui/orders")
		if i1, i2 := strings.Index(page, "/ui/orders/IG-1"), strings.Index(page, "/ui/orders/IG-2"); i2 < 0 || i1 < i2 {
			t.Fatalf("not newest first:\n%s", page)
		}

		// The order page: customer, items, amount in words, and the story.
		_, page = b.get("/ui/orders/IG-1")
		for _, want := range []string{"Anna Petrosyan", "@anna.knits", "Silk scarf", "15,000" + nb + "֏", "7,500" + nb + "֏",
			"Webhook from VPOS.am", "Amount does not match", "Awaiting payment → Needs review",
			"14,000" + nb + "֏ was paid, but the order is for 15,000" + nb + "֏", "Order created", "UTC&#43;4", "Asia/Yerevan",
			"Bitrix24", "In queue", "Mark as paid"} {
			if !strings.Contains(page, want) {
				t.Errorf("order page lacks %q", want)
			}
		}
		if t.Failed() {
			t.Fatalf("order page:\n%s", page)
		}

		// The raw payload on demand, pretty, with its secrets stripped.
		entries, _ := r.db.ListJournal(ctx, "IG-1")
		var withPayload int64
		for _, e := range entries {
			if len(e.Payload) > 0 {
				withPayload = e.ID
			}
		}
		if !strings.Contains(page, "/ui/orders/IG-1/journal/"+itoa(withPayload)) {
			t.Fatalf("no payload link for entry %d", withPayload)
		}
		_, page = b.get("/ui/orders/IG-1/journal/" + itoa(withPayload))
		if !strings.Contains(page, `&#34;amount&#34;: 1400000`) || strings.Contains(page, "sig-value-123") || strings.Contains(page, "tok-abc") ||
			!strings.Contains(page, "[redacted]") {
			t.Fatalf("payload page:\n%s", page)
		}
		if code, _ := b.get("/ui/orders/IG-2/journal/" + itoa(withPayload)); code != http.StatusNotFound {
			t.Fatalf("another order's entry: %d", code)
		}

		// The review queue settles it; the journal says who, when and why.
		_, page = b.get("/ui/review")
		if !strings.Contains(page, "IG-1") || strings.Contains(page, ">IG-2<") || strings.Contains(page, "14000.00 AMD") ||
			!strings.Contains(page, "Amount does not match</strong>: 14,000"+nb+"֏ was paid, but the order is for 15,000"+nb+"֏") {
			t.Fatalf("review queue:\n%s", page)
		}
		csrf := csrfOf(t, page)
		if code, _, _ := b.post("/ui/orders/IG-1/review", url.Values{"csrf": {csrf}, "decision": {"paid"}, "note": {"  "}}); code != http.StatusBadRequest {
			t.Fatalf("settle without a note: %d", code)
		}
		code, loc, _ := b.post("/ui/orders/IG-1/review", url.Values{"csrf": {csrf}, "decision": {"paid"}, "note": {"the rest came in cash"}, "back": {"/ui/review"}})
		if code != http.StatusSeeOther || loc != "/ui/review?done=settled_paid" {
			t.Fatalf("settle: %d %s", code, loc)
		}
		_, page = b.get(loc)
		if !strings.Contains(page, "Marked as paid") || !strings.Contains(page, "Nothing needs a person") {
			t.Fatalf("after settling:\n%s", page)
		}
		entries, _ = r.db.ListJournal(ctx, "IG-1")
		last := entries[len(entries)-1]
		if last.Verdict != core.VerdictManual || last.StatusAfter != core.StatusPaid || last.Reason != "console (Aram): the rest came in cash" {
			t.Fatalf("journal after settling: %+v", last)
		}
		if code, _, _ := b.post("/ui/orders/IG-1/review", url.Values{"csrf": {csrf}, "decision": {"failed"}, "note": {"again"}}); code != http.StatusConflict {
			t.Fatalf("settling twice: %d", code)
		}
		_, page = b.get("/ui/orders/IG-1")
		if !strings.Contains(page, "Needs review → Paid") || !strings.Contains(page, "Aram (console): the rest came in cash") {
			t.Fatalf("timeline after settling:\n%s", page)
		}

		// A dead letter: listed with its reason, retried from the outbox page.
		recs, err := r.db.ClaimOutbox(ctx, core.ClaimRequest{Connector: "bitrix24", Owner: "t", Token: "tok", Limit: 10, Lease: time.Minute, Now: time.Now()})
		if err != nil || len(recs) == 0 {
			t.Fatalf("claim: %v %d", err, len(recs))
		}
		for _, rec := range recs {
			out := core.OutcomeRelease
			if rec.OrderID == "IG-2" {
				out = core.OutcomeDead
			}
			if err := r.db.CompleteOutbox(ctx, core.Completion{ID: rec.ID, Token: "tok", Outcome: out, Now: time.Now(), AvailableAt: time.Now(),
				Error: "Bitrix24 rejected CURRENCY_ID AMD: enable AMD in CRM > Settings > Currencies"}); err != nil {
				t.Fatal(err)
			}
		}
		dead, _ := r.db.ListOutbox(ctx, "bitrix24", core.DeliveryDead, 10)
		if len(dead) != 1 {
			t.Fatalf("%d dead letters", len(dead))
		}
		_, page = b.get("/ui/outbox")
		for _, want := range []string{"Bitrix24", "Stopped", "The dispatcher is not running in this process", "enable AMD in CRM &gt; Settings &gt; Currencies",
			`href="/ui/orders/IG-2"`, "/ui/outbox/" + itoa(dead[0].ID) + "/retry"} {
			if !strings.Contains(page, want) {
				t.Errorf("outbox page lacks %q", want)
			}
		}
		if t.Failed() {
			t.Fatalf("outbox page:\n%s", page)
		}
		code, loc, _ = b.post("/ui/outbox/"+itoa(dead[0].ID)+"/retry", url.Values{"csrf": {csrfOf(t, page)}})
		if code != http.StatusSeeOther || loc != "/ui/outbox?done=retried" {
			t.Fatalf("retry: %d %s", code, loc)
		}
		if dead, _ := r.db.ListOutbox(ctx, "bitrix24", core.DeliveryDead, 10); len(dead) != 0 {
			t.Fatalf("still dead after retry: %+v", dead)
		}
		_, page = b.get(loc)
		if !strings.Contains(page, "Requeued") || !strings.Contains(page, "No stopped deliveries") {
			t.Fatalf("after retry:\n%s", page)
		}
		if code, _, _ := b.post("/ui/outbox/999999/retry", url.Values{"csrf": {csrfOf(t, page)}}); code != http.StatusNotFound {
			t.Fatalf("retry of no record: %d", code)
		}
	})
}

// Every page escapes what customers typed: a name, a handle, an item and a
// note with <script> in them show as text, never as markup.
func TestEveryPageEscapesCustomerText(t *testing.T) {
	t.Parallel()
	r := newRig(t, storage.SQLite, nil)
	evil := `<script>alert("x")</script>`
	r.order(core.Order{ID: "IG-X", AmountMinor: 500000, Currency: "AMD",
		Customer: core.Customer{Name: evil + "Anna", Handle: evil + "anna", Phone: "<b>1</b>", Email: `"><img src=x onerror=alert(1)>`},
		Items:    []core.Item{{Name: evil, SKU: "<i>sku</i>", Quantity: 1, PriceMinor: 500000}}})
	if _, err := r.ledger.ApplyEvent(context.Background(), core.PaymentEvent{Provider: "vpos<script>", EventID: "e<script>", Type: "<script>type",
		OrderID: "IG-X", Status: core.StatusPaid, AmountMinor: 1, Currency: "AMD", Verified: true, Source: core.SourceWebhook,
		Payload: []byte(`{"note":"` + strings.ReplaceAll(evil, `"`, `\"`) + `"}`)}); err != nil {
		t.Fatal(err)
	}
	b := r.browser()
	b.login(evil)
	entries, _ := r.db.ListJournal(context.Background(), "IG-X")
	pages := []string{"/ui/orders", "/ui/orders?q=" + url.QueryEscape("<script>"), "/ui/orders/IG-X", "/ui/review", "/ui/outbox",
		"/ui/orders/IG-X/journal/" + itoa(entries[len(entries)-1].ID)}
	for _, p := range pages {
		code, page := b.get(p)
		if code != http.StatusOK {
			t.Fatalf("%s: %d", p, code)
		}
		own := strings.Replace(page, `<script src="/ui/static/console.js" defer></script>`, "", 1) // the console's own script
		if strings.Contains(strings.ToLower(own), "<script") || strings.Contains(own, "<img") || strings.Contains(own, "<b>1") {
			t.Errorf("%s lets customer text through as markup:\n%s", p, page)
		}
		if p != "/ui/outbox" && !strings.Contains(page, "&lt;script&gt;") {
			t.Errorf("%s does not show the escaped text", p)
		}
	}
	_, page := b.get("/ui/orders/IG-X")
	if !strings.Contains(page, "Signed in as &lt;script&gt;") {
		t.Errorf("the operator's name is not escaped")
	}
}

func TestLanguages(t *testing.T) {
	t.Parallel()
	r := newRig(t, storage.SQLite, nil)
	r.order(core.Order{ID: "IG-7", AmountMinor: 1500000, Currency: "AMD", Customer: core.Customer{Name: "Lilit"}})
	b := r.browser()
	b.login("")
	b.lang = "hy-AM,hy;q=0.9,en;q=0.5"
	_, page := b.get("/ui/orders")
	if !strings.Contains(page, `<html lang="hy">`) || !strings.Contains(page, "Պատվերներ") || !strings.Contains(page, "Սպասում է վճարման") ||
		!strings.Contains(page, "15"+nb+"000"+nb+"֏") {
		t.Fatalf("Armenian from Accept-Language:\n%s", page)
	}
	// The switch wins over the browser, and comes back to the same page.
	req, _ := http.NewRequest("GET", r.srv.URL+"/ui/lang?to=ru&back=%2Fui%2Forders%2FIG-7", nil)
	resp, err := b.c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/ui/orders/IG-7" {
		t.Fatalf("switch: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	_, page = b.get("/ui/orders/IG-7")
	if !strings.Contains(page, `<html lang="ru">`) || !strings.Contains(page, "Заказ IG-7") || !strings.Contains(page, "Ожидает оплаты") ||
		!strings.Contains(page, "марта") && !strings.Contains(page, "Заказ создан") {
		t.Fatalf("Russian after the switch:\n%s", page)
	}
	// A switch cannot send anyone off the console.
	req, _ = http.NewRequest("GET", r.srv.URL+"/ui/lang?to=en&back=//evil.example/", nil)
	resp, _ = b.c.Do(req)
	resp.Body.Close()
	if resp.Header.Get("Location") != "/ui/orders" {
		t.Fatalf("open redirect: %s", resp.Header.Get("Location"))
	}
	// The login page speaks the browser's language too.
	anon := r.browser()
	anon.lang = "ru"
	if _, page := anon.get("/ui/login"); !strings.Contains(page, "Вход в paysync") {
		t.Fatalf("Russian login:\n%s", page)
	}
}

// Configured secrets never reach a page, even when they turn up in data.
func TestPagesAreScrubbedOfSecrets(t *testing.T) {
	t.Parallel()
	secret := "whsec_SuperSecretValue42"
	r := newRig(t, storage.SQLite, func(o *console.Options) { o.Secrets = []string{secret, token} })
	r.order(core.Order{ID: "IG-S", AmountMinor: 100, Currency: "AMD", Customer: core.Customer{Name: "leaked " + secret}})
	b := r.browser()
	b.login(token) // even typed as a name
	for _, p := range []string{"/ui/orders", "/ui/orders/IG-S", "/ui/orders?q=" + url.QueryEscape(secret)} {
		_, page := b.get(p)
		if strings.Contains(page, secret) || strings.Contains(page, token) || strings.Contains(page, url.QueryEscape(secret)) {
			t.Fatalf("%s shows a secret:\n%s", p, page)
		}
		if !strings.Contains(page, "[redacted]") {
			t.Fatalf("%s: nothing redacted", p)
		}
	}
}

func TestRedactPayload(t *testing.T) {
	t.Parallel()
	cases := map[string][]string{ // input -> must contain; "!x" must not contain x
		`{"id":"e1","signature":"abc","nested":{"api_token":"t1","ok":1},"list":[{"Password":"p"}],"amount":15000}`: {
			`"signature": "[redacted]"`, `"api_token": "[redacted]"`, `"Password": "[redacted]"`, `"amount": 15000`, "!abc", "!t1", `!"p"`},
		`mdOrder=abc-1&orderNumber=IG-1&checksum=DEADBEEF&operation=deposited`: {"checksum = [redacted]", "orderNumber = IG-1", "!DEADBEEF"},
		`{"id":"e1","webhook-signature":"v1,xyz","amount":1…[truncated]`:       {`"webhook-signature":"[redacted]"`, "!v1,xyz", `"amount":1`},
		`status=ok secret_key=k123 other=1`:                                    {"secret_key=[redacted]", "!k123", "other=1"},
		``:                                                                     {},
	}
	for in, wants := range cases {
		got := console.RedactPayload(in)
		for _, w := range wants {
			if strings.HasPrefix(w, "!") {
				if strings.Contains(got, w[1:]) {
					t.Errorf("RedactPayload(%q) = %q keeps %q", in, got, w[1:])
				}
			} else if !strings.Contains(got, w) {
				t.Errorf("RedactPayload(%q) = %q lacks %q", in, got, w)
			}
		}
	}
}

// Every message a template asks for exists (in all three languages:
// present.Register refuses a key that one of them lacks).
func TestTemplatesUseKnownMessages(t *testing.T) {
	t.Parallel()
	files, err := filepath.Glob("templates/*.html")
	if err != nil || len(files) == 0 {
		t.Fatal("no templates", err)
	}
	key := regexp.MustCompile(`\.T "([^"]+)"`)
	n := 0
	for _, f := range files {
		b, _ := os.ReadFile(f)
		for _, m := range key.FindAllStringSubmatch(string(b), -1) {
			n++
			if !present.Has(m[1]) {
				t.Errorf("%s uses message %q, which does not exist", f, m[1])
			}
		}
	}
	if n < 50 {
		t.Fatalf("only %d messages found in the templates: the pattern is wrong", n)
	}
}

// A client that is not a browser gets the API's JSON error shape.
func TestErrorsForNonBrowsersAreJSON(t *testing.T) {
	t.Parallel()
	r := newRig(t, storage.SQLite, func(o *console.Options) { o.People = nil })
	resp, err := http.Get(r.srv.URL + "/ui/orders")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct {
		Error struct{ Code, Message string }
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || resp.StatusCode != 503 || body.Error.Code != "unavailable" ||
		!strings.Contains(body.Error.Message, "PAYSYNC_ADMIN_TOKEN") {
		t.Fatalf("%d %+v %v", resp.StatusCode, body, err)
	}
}

// Every page a signed-in person sees has the logout form (a POST with the
// session's CSRF token), whatever their role; a manager and a viewer see
// no way to settle a review, and a post to settle one is refused.
func TestEveryPageHasLogoutAndRolesHideSettling(t *testing.T) {
	t.Parallel()
	r := newRig(t, storage.SQLite, nil)
	r.order(core.Order{ID: "IG-1", AmountMinor: 1500000, Currency: "AMD", Provider: "vpos", Customer: core.Customer{Name: "Anna"}})
	r.pay("IG-1", 1400000, "evt-1") // manual review
	entries, _ := r.db.ListJournal(context.Background(), "IG-1")
	logout := regexp.MustCompile(`<form class="logout" method="post" action="/ui/logout">\s*(<a [^>]*>[^<]*</a>)?\s*<input type="hidden" name="csrf" value="[^"]+">\s*<button type="submit" id="logout">`)
	settleForm := `action="/ui/orders/IG-1/review"`
	for _, role := range core.Roles {
		t.Run(string(role), func(t *testing.T) {
			b := r.browser()
			b.loginAs("Person-"+string(role), role)
			pages := []string{"/ui/orders", "/ui/orders?q=anna", "/ui/orders/IG-1", "/ui/orders/IG-1/journal/" + itoa(entries[len(entries)-1].ID),
				"/ui/review", "/ui/outbox", "/ui/catalog", "/ui/tokens", "/ui/password", "/ui/no-such-page", "/ui/orders/NOPE"}
			if role != core.RoleViewer {
				pages = append(pages, "/ui/orders/new")
			}
			if role == core.RoleOwner {
				pages = append(pages, "/ui/people")
			}
			for _, p := range pages {
				code, page := b.get(p)
				if code >= 500 {
					t.Fatalf("%s: %d", p, code)
				}
				if !logout.MatchString(page) {
					t.Errorf("%s (%d) has no logout form:\n%s", p, code, page)
				}
			}
			_, page := b.get("/ui/orders/IG-1")
			_, queue := b.get("/ui/review")
			if owner := role == core.RoleOwner; strings.Contains(page, settleForm) != owner || strings.Contains(queue, settleForm) != owner {
				t.Fatalf("a %s sees the settle form on the order page: %v, in the queue: %v", role, strings.Contains(page, settleForm), strings.Contains(queue, settleForm))
			}
			if role == core.RoleOwner {
				return
			}
			code, _, body := b.post("/ui/orders/IG-1/review", url.Values{"csrf": {csrfOf(t, page)}, "decision": {"paid"}, "note": {"cash"}})
			if code != http.StatusForbidden {
				t.Fatalf("a %s settling a review: %d\n%s", role, code, body)
			}
			if o, _ := r.db.GetOrder(context.Background(), "IG-1"); o.Status != core.StatusManualReview {
				t.Fatalf("a %s's post settled the order: %s", role, o.Status)
			}
		})
	}
}
