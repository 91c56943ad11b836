package main

import (
	"context"
	"net/url"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/paysync/paysync/internal/browsertest"
	"github.com/paysync/paysync/storage"
)

// phoneWidth is a common phone's CSS width (iPhone 12 to 15).
const phoneWidth = 390

// TestConsoleFitsAPhone opens every console page at 390 px wide, in English
// and Armenian (the longer words), and checks that none scrolls sideways,
// that order ids never break across lines, and that the menu counts the
// orders that need a person.
func TestConsoleFitsAPhone(t *testing.T) {
	browsertest.Chromium(t)
	s := startConsoleScenario(t, storage.SQLite)
	b := browsertest.New(t, 20*time.Second)
	css := func(sel string) chromedp.CSS { return chromedp.CSS(sel) }
	ui := s.base + "/ui"
	ctx := context.Background()
	j, err := s.d.app.store.ListJournal(ctx, s.review)
	if err != nil {
		t.Fatal(err)
	}
	var entry string
	for _, e := range j {
		if len(e.Payload) > 0 {
			entry = strconv.FormatInt(e.ID, 10)
		}
	}
	_, invite, err := s.d.app.people.AddAccount(ctx, "phone-manager", "manager", true)
	if err != nil {
		t.Fatal(err)
	}
	pages := map[string]string{ // console route -> an address of it
		"/ui/login": "/login", "/ui/{$}": "/", "/ui/orders": "/orders?q=" + url.QueryEscape("@anna.knits"),
		"/ui/orders/new": "/orders/new", "/ui/orders/{id}": "/orders/" + s.review,
		"/ui/orders/{id}/journal/{entry}": "/orders/" + s.review + "/journal/" + entry,
		"/ui/review":                      "/review", "/ui/outbox": "/outbox", "/ui/catalog": "/catalog", "/ui/people": "/people",
		"/ui/tokens": "/tokens", "/ui/password": "/password", "/ui/invite/{token}": "/invite/" + url.PathEscape(invite),
		"/ui/": "/no-such-page", "/ui/direct": "/direct", "/ui/export": "/export", "/ui/reconciliation": "/reconciliation",
	}
	src, err := os.ReadFile("../../console/console.go")
	if err != nil {
		t.Fatal(err)
	}
	notPages := map[string]bool{"/ui/static/": true, "/ui/orders/{id}/status": true, "/ui/orders/{id}/qr.png": true,
		"/ui/catalog/fixed/{slug}/qr.png": true, "/ui/lang": true, "/ui/export/download": true}
	for _, m := range regexp.MustCompile(`m\.Handle(?:Func)?\("(?:GET )?(/ui/[^" ]*)"`).FindAllStringSubmatch(string(src), -1) {
		if _, ok := pages[m[1]]; !ok && !notPages[m[1]] {
			t.Errorf("console route %s is not checked at phone width: add it here", m[1])
		}
	}
	extra := []string{"/orders", "/orders/" + s.paid, "/orders/" + s.dead}

	b.Do("a phone-sized window", chromedp.EmulateViewport(phoneWidth, 844, chromedp.EmulateScale(3)))
	check := func(lang, path string) {
		t.Helper()
		b.Do("open "+path, chromedp.Navigate(ui+path), chromedp.WaitReady(css("body")))
		w := browsertest.Get(b, "width of "+path, chromedp.Evaluate[int64](`document.scrollingElement.scrollWidth`))
		if w > phoneWidth {
			wide := browsertest.Get(b, "what is too wide on "+path, chromedp.Evaluate[string](
				`[...document.querySelectorAll('body *')].filter(e => e.getBoundingClientRect().right > `+strconv.Itoa(phoneWidth)+`+1).slice(-3).map(e => e.tagName + '.' + e.className + '#' + e.id).join(', ')`))
			t.Errorf("%s %s is %d px wide at %d px: scrolls sideways (%s)", lang, path, w, phoneWidth, wide)
		}
		broken := browsertest.Get(b, "order ids on "+path, chromedp.Evaluate[string](
			`[...document.querySelectorAll('a.order-link, .order-id')].filter(e => e.getClientRects().length > 1).map(e => e.textContent).join(', ')`))
		if broken != "" {
			t.Errorf("%s %s breaks order ids across lines: %s", lang, path, broken)
		}
	}
	check("en", pages["/ui/login"])
	check("en", pages["/ui/invite/{token}"])
	b.Do("log in",
		chromedp.Navigate(ui+"/login"), chromedp.WaitVisible(css("#password")),
		chromedp.SendKeys(css("#password"), "e2e-token"),
		chromedp.Click(css("#login")),
		chromedp.WaitVisible(css("#q")))
	if got := strings.TrimSpace(b.Text("#review-count")); got != "1" {
		t.Errorf("the menu counts %q orders needing review, want 1", got)
	}
	for _, lang := range []string{"en", "hy"} {
		if lang != "en" {
			b.Do("switch to "+lang, chromedp.Click(css("#lang-"+lang)), chromedp.WaitVisible(css(`html[lang="`+lang+`"]`)))
		}
		for route, path := range pages {
			if route == "/ui/login" || route == "/ui/invite/{token}" {
				continue
			}
			check(lang, path)
		}
		for _, path := range extra {
			check(lang, path)
		}
	}
}
