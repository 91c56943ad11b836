package console_test

import (
	"context"
	"html"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/paysync/paysync/console"
	"github.com/paysync/paysync/core"
	"github.com/paysync/paysync/storage"
)

// shop is a console with a realistic day behind it: an order in every
// status, a payment of the wrong amount waiting for a person, ArCa, Idram
// and Ameriabank entries, a bank transfer, and CRM deliveries that failed
// before they went through (or stopped). pages lists a concrete address for
// every page the console serves.
type shop struct {
	r     *rig
	pages map[string]string // route pattern -> address
}

func newShop(t *testing.T) *shop {
	t.Helper()
	direct := &fakeDirect{sends: map[string]string{}}
	var r *rig
	r = newRig(t, storage.SQLite, func(o *console.Options) {
		o.Direct = direct
		o.Orders = ordersWithLinks{r: &r}
		o.Providers = map[string]string{"vpos": "VPOS.am", "arca": "ArCa", "idram": "Idram", "ameria": "Ameriabank", "generic": "Банковский перевод"}
	})
	ctx := context.Background()
	now := r.now.Now()
	mk := func(id, provider string, amount int64) {
		exp := now.Add(24 * time.Hour)
		r.order(core.Order{ID: id, AmountMinor: amount, Currency: "AMD", Provider: provider, PaymentURL: "https://pay.example.am/" + id,
			ExpiresAt: &exp, Customer: core.Customer{Name: "Լիլիթ Պետրոսյան", Handle: "lilit.knits", Phone: "+374 91 000102"},
			Items: []core.Item{{Name: "Շարֆ", SKU: "SCARF-1", Quantity: 2, PriceMinor: amount / 2}}})
	}
	apply := func(ev core.PaymentEvent) {
		t.Helper()
		ev.Verified, ev.Currency = true, "AMD"
		if ev.Source == "" {
			ev.Source = core.SourceWebhook
		}
		if _, err := r.ledger.ApplyEvent(ctx, ev); err != nil {
			t.Fatal(err)
		}
	}
	mk("IG-1001", "vpos", 1500000) // pending
	mk("IG-1002", "vpos", 1500000)
	r.pay("IG-1002", 1500000, "vp-1002")
	mk("IG-1003", "arca", 2000000) // declined at ArCa
	apply(core.PaymentEvent{Provider: "arca", OrderID: "IG-1003", Type: "orderStatus=6", Status: core.StatusFailed, Source: core.SourceLookup, ProviderRef: "md-1003"})
	mk("IG-1004", "vpos", 900000) // expired
	r.now.Add(25 * time.Hour)
	r.ledger.Now = r.now.Now
	if _, err := r.ledger.Expire(ctx, "IG-1004"); err != nil {
		t.Fatal(err)
	}
	mk("IG-1005", "vpos", 1800000) // paid 15,000 for an order of 18,000
	r.pay("IG-1005", 1500000, "vp-1005")
	mk("IG-1006", "arca", 3000000) // paid at ArCa, then refunded without an amount: a person decides
	apply(core.PaymentEvent{Provider: "arca", OrderID: "IG-1006", Type: "orderStatus=2", Status: core.StatusPaid, AmountMinor: 3000000, Source: core.SourceLookup, ProviderRef: "md-1006"})
	apply(core.PaymentEvent{Provider: "arca", OrderID: "IG-1006", Type: "orderStatus=4", Status: core.StatusManualReview, Source: core.SourceLookup, ProviderRef: "md-1006",
		ReviewReason: "ArCa reports order IG-1006 refunded (orderStatus 4) but its answer does not say how much: the ErrorCode field is empty"})
	mk("IG-1007", "idram", 1200000) // paid by Idram, then refunded in part
	apply(core.PaymentEvent{Provider: "idram", EventID: "idr-1007", OrderID: "IG-1007", Type: "confirmation", Status: core.StatusPaid, AmountMinor: 1200000})
	apply(core.PaymentEvent{Provider: "idram", EventID: "idr-1007-r", OrderID: "IG-1007", Type: "refund", Status: core.StatusRefunded, RefundMinor: 200000})
	mk("IG-1008", "ameria", 700000) // paid at Ameriabank, refunded in full
	apply(core.PaymentEvent{Provider: "ameria", OrderID: "IG-1008", Type: "payment_deposited", Status: core.StatusPaid, AmountMinor: 700000, Source: core.SourceLookup})
	apply(core.PaymentEvent{Provider: "ameria", OrderID: "IG-1008", Type: "OrderStatus=4", Status: core.StatusRefunded, RefundedMinor: 700000, Source: core.SourceLookup})
	mk("IG-1009", "generic", 2500000) // a bank transfer
	apply(core.PaymentEvent{Provider: "generic", EventID: "bt-1009", OrderID: "IG-1009", Type: "paid", Status: core.StatusPaid, AmountMinor: 2500000})
	mk("IG-1010", "vpos", 1800000) // a VPOS.am link, paid short by bank transfer
	apply(core.PaymentEvent{Provider: "generic", EventID: "bt-1010", OrderID: "IG-1010", Type: "paid", Status: core.StatusPaid, AmountMinor: 1700000, ProviderRef: "transfer-IG-1010"})
	mk("IG-1011", "arca", 1000000) // refunded at ArCa by an unknown amount, waiting for a person
	apply(core.PaymentEvent{Provider: "arca", OrderID: "IG-1011", Type: "orderStatus=2", Status: core.StatusPaid, AmountMinor: 1000000, Source: core.SourceLookup})
	apply(core.PaymentEvent{Provider: "arca", OrderID: "IG-1011", Type: "orderStatus=4", Status: core.StatusManualReview, Source: core.SourceLookup,
		ReviewReason: "ArCa reports order IG-1011 refunded (orderStatus 4) but its answer does not say how much"})
	exp := now.Add(24 * time.Hour)
	r.order(core.Order{ID: "IG-1012", AmountMinor: 9050, Currency: "EUR", Provider: "vpos", ExpiresAt: &exp, // a tourist pays in euros
		Customer: core.Customer{Name: "Мария Морозова", Handle: "maria.m"}, Items: []core.Item{{Name: "Принт A3", Quantity: 1, PriceMinor: 9050}}})
	apply(core.PaymentEvent{Provider: "vpos", EventID: "vp-orphan", OrderID: "IG-LOST", Type: "payment.succeeded", Status: core.StatusPaid, AmountMinor: 500000})
	if err := r.ledger.RecordNewLink(ctx, "IG-1004", "IG-1004-2", "console (Анна)"); err != nil {
		t.Fatal(err)
	}
	if _, err := r.ledger.Review(ctx, "IG-1006", core.StatusFailed, "Возврат подтверждён банком", "api (admin token)"); err != nil {
		t.Fatal(err)
	}

	// Deliveries: IG-1002 went through at once, IG-1005 after two failed
	// tries, IG-1003 stopped; every order changed several times.
	failures := map[string][]core.Outcome{
		"IG-1005": {core.OutcomeRetry, core.OutcomeRetry},
		"IG-1003": {core.OutcomeRetry, core.OutcomeDead},
		"IG-1001": {core.OutcomeRetry},
	}
	tries := map[string]int{}
	for round := 0; round < 10; round++ {
		at := r.now.Now().Add(time.Duration(round+1) * time.Hour)
		recs, err := r.db.ClaimOutbox(ctx, core.ClaimRequest{Connector: "bitrix24", Owner: "test", Token: "tok-" + itoa(int64(round)), Limit: 100, Lease: time.Minute, Now: at})
		if err != nil {
			t.Fatal(err)
		}
		if len(recs) == 0 {
			break
		}
		for _, rec := range recs {
			c := core.Completion{ID: rec.ID, Token: "tok-" + itoa(int64(round)), Outcome: core.OutcomeDelivered, Now: at, AvailableAt: at,
				Link: &core.CRMLink{Connector: "bitrix24", OrderID: rec.OrderID, ExternalID: "D" + rec.OrderID[3:], SyncedVersion: rec.OrderVersion, SyncedStatus: core.StatusPaid}}
			if plan := failures[rec.OrderID]; tries[rec.OrderID] < len(plan) {
				c.Outcome, c.Link = plan[tries[rec.OrderID]], nil
				c.Error = "Bitrix24 rejected CURRENCY_ID AMD: enable AMD in CRM > Settings > Currencies"
				tries[rec.OrderID]++
			}
			if err := r.db.CompleteOutbox(ctx, c); err != nil {
				t.Fatal(err)
			}
		}
	}
	if _, _, err := r.db.RecordDirect(ctx, core.DirectMessage{MID: "m1", IGSID: "1784001", Text: "Բարև, շարֆը կա՞", At: r.now.Now().Add(-time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if err := r.db.PutCatalogItem(ctx, core.CatalogItem{SKU: "SCARF-1", NameHY: "Շարֆ", NameRU: "Шарф", NameEN: "Scarf", PriceMinor: 750000, Currency: "AMD"}); err != nil {
		t.Fatal(err)
	}
	_, invite, err := r.people.AddAccount(ctx, "Արմեն", core.RoleManager, true)
	if err != nil {
		t.Fatal(err)
	}
	entries, _ := r.db.ListJournal(ctx, "IG-1005")
	s := &shop{r: r, pages: map[string]string{
		"/ui/login":                       "/ui/login",
		"/ui/{$}":                         "/ui/",
		"/ui/orders":                      "/ui/orders",
		"/ui/orders/new":                  "/ui/orders/new",
		"/ui/direct":                      "/ui/direct",
		"/ui/review":                      "/ui/review",
		"/ui/outbox":                      "/ui/outbox",
		"/ui/catalog":                     "/ui/catalog",
		"/ui/people":                      "/ui/people",
		"/ui/tokens":                      "/ui/tokens",
		"/ui/export":                      "/ui/export",
		"/ui/reconciliation":              "/ui/reconciliation",
		"/ui/password":                    "/ui/password",
		"/ui/invite/{token}":              "/ui/invite/" + url.PathEscape(invite),
		"/ui/orders/{id}/journal/{entry}": "/ui/orders/IG-1005/journal/" + itoa(entries[len(entries)-1].ID),
		"/ui/":                            "/ui/no-such-page",
	}}
	for _, id := range []string{"IG-1001", "IG-1002", "IG-1003", "IG-1004", "IG-1005", "IG-1006", "IG-1007", "IG-1008", "IG-1009", "IG-1010", "IG-1011", "IG-1012", "IG-LOST"} {
		s.pages["/ui/orders/{id} "+id] = "/ui/orders/" + id
	}
	for _, st := range core.Statuses {
		s.pages["/ui/orders?status="+string(st)] = "/ui/orders?status=" + string(st)
	}
	return s
}

// wantWords are what some pages must say, in words and amounts as people
// write them.
var wantWords = map[string][]string{
	"en /ui/orders/IG-1005": {"15,000\u00a0֏ was paid, but the order is for 18,000\u00a0֏: a person must decide."},
	"ru /ui/orders/IG-1005": {"Оплачено 15\u00a0000\u00a0֏, а заказ на 18\u00a0000\u00a0֏: решает человек.", "На проверке"},
	"hy /ui/orders/IG-1005": {"Վճարվել է 15\u00a0000\u00a0֏, իսկ պատվերը 18\u00a0000\u00a0֏ է", "Ստուգման է"},
	"en /ui/orders/IG-1012": {"€90.50"},
	"ru /ui/orders/IG-1012": {"90,50\u00a0€"},
	"ru /ui/orders/IG-1004": {"Анна (консоль): новая ссылка на оплату, в заказе IG-1004-2"},
	"ru /ui/orders/IG-1006": {"владелец с токеном администратора (API): Возврат подтверждён банком"},
	"ru /ui/orders/IG-1003": {"CRM отказалась принять этот заказ", "2 неудачные попытки"},
	"hy /ui/review":         {"Վճարումն ինքնուրույն չի կարող կիրառվել", "Վճարում անհայտ պատվերի համար"},
	"ru /ui/orders/IG-1011": {"Запрос статуса в ArCa"},
	"hy /ui/orders/IG-1007": {"Idram"},
	"ru /ui/orders/IG-1008": {"Ameriabank", "Возвращён"},
}

// notPages are the console's GET routes that answer with something other
// than a page (assets, images, JSON, redirects).
var notPages = map[string]bool{"/ui/static/": true, "/ui/orders/{id}/status": true, "/ui/orders/{id}/qr.png": true,
	"/ui/catalog/fixed/{slug}/qr.png": true, "/ui/lang": true, "/ui/export/download": true}

// consoleRoutes reads the page routes from console.go, so that a page added
// later is either checked here or fails this test.
func consoleRoutes(t *testing.T) []string {
	src, err := os.ReadFile("console.go")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, m := range regexp.MustCompile(`m\.Handle(?:Func)?\("(?:GET )?(/ui/[^" ]*)"`).FindAllStringSubmatch(string(src), -1) {
		if !notPages[m[1]] {
			out = append(out, m[1])
		}
	}
	sort.Strings(out)
	return slices.Compact(out)
}

// What a person must never read, in any language.
var (
	rawMoney     = regexp.MustCompile(`\d[.,]\d\d\s*(AMD|RUB|USD|EUR)\b|\d{4,}\.\d\d`)
	goFieldName  = regexp.MustCompile(`\b(OrderID|ExpectedAmount|AmountMinor|PriceMinor|RefundedMinor|RefundMinor|ProviderRef|EventID|EventType|StatusBefore|StatusAfter|LastError|ReviewReason|ExternalID|PaymentURL|CreatedAt|UpdatedAt|PaidAt|ExpiresAt)\b`)
	providerCode = regexp.MustCompile(`(?i:orderStatus\s*[=:]?\s*\d|ErrorCode)|payment_deposited|payment\.succeeded|\((paid|confirmation|refund)\)`)
	goValue      = regexp.MustCompile(`%!|<nil>|map\[|\{\{|\bmanual_review\b|\bpartially_refunded\b`)
	// English left on a Russian or Armenian page: four Latin words in a row,
	// or the labels the console once printed in English.
	englishRun   = regexp.MustCompile(`[A-Za-z][A-Za-z'’]+(?:[ ,;:]+[A-Za-z][A-Za-z'’]*){3,}`)
	englishLabel = regexp.MustCompile(`\b(Why|Recorded|Reason|attempts?|Delivered)\b`)
	langsNav     = regexp.MustCompile(`(?s)<nav class="langs"[^>]*>(.*?)</nav>`)
	tags         = regexp.MustCompile(`(?s)<script.*?</script>|<style.*?</style>|<[^>]*>`)
	attrText     = regexp.MustCompile(`\b(?:placeholder|title|aria-label|alt)="([^"]*)"`)
	// A quote from an outside system in its own words is marked lang="en"
	// (a CRM's error, for the one who fixes it); it is not the console's.
	quoted = regexp.MustCompile(`(?s)<code lang="en"[^>]*>.*?</code>|<textarea[^>]* lang="(?:en|ru|hy)"[^>]*>.*?</textarea>`)
)

// visibleText is what a person reads on a page: its text and the
// attributes browsers show, without markup.
func visibleText(page string) string {
	page = quoted.ReplaceAllString(page, " ")
	var b strings.Builder
	for _, m := range attrText.FindAllStringSubmatch(page, -1) {
		b.WriteString(html.UnescapeString(m[1]) + "\n")
	}
	b.WriteString(html.UnescapeString(tags.ReplaceAllString(page, "\n")))
	return b.String()
}

// Every console page, in Armenian, Russian and English, tells reasons,
// amounts, statuses and providers in words: no raw reason text in English
// on a Russian or Armenian page, no 15000.00 AMD, no Go field name, no raw
// provider code.
func TestEveryPageSpeaksThePagesLanguage(t *testing.T) {
	t.Parallel()
	s := newShop(t)
	routes := consoleRoutes(t)
	for _, route := range routes {
		covered := false
		for k := range s.pages {
			if k == route || strings.HasPrefix(k, route+" ") {
				covered = true
			}
		}
		if !covered {
			t.Errorf("console route %s has no page in this test: add one to newShop", route)
		}
	}
	if len(routes) < 14 {
		t.Fatalf("only %d routes read from console.go: the pattern is wrong (%v)", len(routes), routes)
	}
	for _, lang := range []string{"hy", "ru", "en"} {
		b := s.r.browser()
		b.lang = lang
		anon := s.r.browser()
		anon.lang = lang
		b.login("Անի")
		// Pages that answer a form: paysync's own refusal, told in the
		// page's language.
		pages := map[string]string{}
		for k, v := range s.pages {
			pages[k] = v
		}
		_, page := b.get("/ui/orders/IG-1005")
		csrf := csrfOf(t, page)
		_, _, settled := b.post("/ui/orders/IG-1002/review", url.Values{"csrf": {csrf}, "decision": {"paid"}, "note": {"cash"}}, "Accept-Language", lang)
		_, _, badName := b.post("/ui/people", url.Values{"csrf": {csrf}, "name": {"Անի"}, "role": {"manager"}}, "Accept-Language", lang)
		forms := map[string]string{"POST /ui/orders/IG-1002/review (not in review)": settled, "POST /ui/people (name taken)": badName}
		for key, path := range pages {
			br := b
			if key == "/ui/login" || key == "/ui/invite/{token}" {
				br = anon
			}
			code, page := br.get(path)
			if code != http.StatusOK && key != "/ui/" {
				t.Errorf("%s %s: %d", lang, path, code)
				continue
			}
			checkWords(t, lang, path, page)
			for _, want := range wantWords[lang+" "+path] {
				if !strings.Contains(visibleText(page), want) {
					t.Errorf("%s %s does not say %q", lang, path, want)
				}
			}
		}
		for what, page := range forms {
			if !strings.Contains(page, `class="flash bad"`) {
				t.Errorf("%s %s: no error shown:\n%s", lang, what, page)
			}
			checkWords(t, lang, what, page)
		}
	}
}

func checkWords(t *testing.T, lang, path, page string) {
	t.Helper()
	if !strings.Contains(page, `<html lang="`+lang+`">`) {
		t.Errorf("%s %s is not in %s", lang, path, lang)
	}
	if dir := os.Getenv("PAYSYNC_DUMP_PAGES"); dir != "" {
		os.WriteFile(dir+"/"+lang+strings.NewReplacer("/", "_", "?", "_", " ", "_").Replace(path)+".html", []byte(page), 0o644)
	}
	// The language switch names languages by their codes, the same in
	// every script.
	if m := langsNav.FindStringSubmatch(page); m == nil || strings.Join(strings.Fields(visibleText(strings.ReplaceAll(m[1], `title="`, `data-t="`))), " ") != "en ru hy" {
		t.Errorf("%s %s: the language switch is not en ru hy: %v", lang, path, m)
	}
	text := visibleText(page)
	for _, check := range []struct {
		what string
		re   *regexp.Regexp
		only bool // on Russian and Armenian pages only
	}{
		{"an amount as the system writes it", rawMoney, false},
		{"a Go field name", goFieldName, false},
		{"a raw provider code", providerCode, false},
		{"a Go value or status code", goValue, false},
		{"English words", englishRun, true},
		{"an English label", englishLabel, true},
	} {
		if check.only && lang == "en" {
			continue
		}
		if m := check.re.FindString(text); m != "" {
			t.Errorf("%s %s shows %s: %q\n%s", lang, path, check.what, m, around(text, m))
		}
	}
}

func around(text, m string) string {
	i := strings.Index(text, m)
	lo, hi := max(0, i-120), min(len(text), i+len(m)+120)
	return strings.Join(strings.Fields(text[lo:hi]), " ")
}

var (
	deliveryRows  = regexp.MustCompile(`(?s)<table class="list" id="deliveries">.*?</table>`)
	deliveredCell = regexp.MustCompile(`(?s)<td class="num">(\d+)</td>\s*</tr>`)
)

// Deliveries count what a person means: the tries that failed (a delivery
// that went through at once shows none, however often the order changed),
// and the orders delivered (not the records, one per change).
func TestDeliveriesCountFailedTriesAndOrders(t *testing.T) {
	t.Parallel()
	s := newShop(t)
	b := s.r.browser()
	b.lang = "en"
	b.login("")
	_, page := b.get("/ui/orders/IG-1002")
	if table := deliveryRows.FindString(page); table == "" || strings.Contains(table, "tr") && regexp.MustCompile(`\d+ (failed )?(tries|try|attempts?)`).MatchString(table) {
		t.Errorf("IG-1002 went through at once, yet its deliveries count tries:\n%s", table)
	}
	// The money came by bank transfer: the order says so, by the title
	// configured for it, and names VPOS.am only as the link's maker.
	_, page = b.get("/ui/orders/IG-1010")
	if !strings.Contains(page, `<dd id="order-provider">Банковский перевод`) || !strings.Contains(page, `<dd id="order-link-by">VPOS.am</dd>`) {
		t.Errorf("IG-1010, a VPOS.am link paid by bank transfer:\n%s", page)
	}
	_, page = b.get("/ui/orders/IG-1005")
	if table := deliveryRows.FindString(page); !strings.Contains(table, "2 failed tries") {
		t.Errorf("IG-1005 failed twice before it went through:\n%s", table)
	}
	b.lang = "ru"
	b.get("/ui/lang?to=ru&back=%2Fui%2Forders")
	_, page = b.get("/ui/orders/IG-1005")
	if table := deliveryRows.FindString(page); !strings.Contains(table, "2 неудачные попытки") {
		t.Errorf("IG-1005 in Russian:\n%s", table)
	}
	recs, err := s.r.db.ListOutbox(context.Background(), "bitrix24", core.DeliveryDelivered, 0)
	if err != nil {
		t.Fatal(err)
	}
	orders := map[string]bool{}
	for _, rec := range recs {
		orders[rec.OrderID] = true
	}
	if len(recs) <= len(orders) {
		t.Fatalf("the shop has %d delivered records for %d orders: too few changes to tell them apart", len(recs), len(orders))
	}
	_, page = b.get("/ui/outbox")
	m := deliveredCell.FindStringSubmatch(page)
	if m == nil || m[1] != itoa(int64(len(orders))) {
		t.Errorf("outbox says %v delivered; %d orders were (%d records)", m, len(orders), len(recs))
	}
}
