package idram_test

import (
	"errors"
	"html"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/paysync/paysync/core"
	"github.com/paysync/paysync/providers/idram"
)

// page is a served payment page.
type page struct {
	status int
	header http.Header
	body   string
}

// get serves GET path through a ServeMux holding the provider's pages, as
// paysync mounts them.
func get(t *testing.T, p *idram.Provider, path, acceptLanguage string) page {
	t.Helper()
	mux := http.NewServeMux()
	for pattern, h := range p.Pages() {
		mux.Handle(pattern, h)
	}
	req := httptest.NewRequest(http.MethodGet, path, nil)
	if acceptLanguage != "" {
		req.Header.Set("Accept-Language", acceptLanguage)
	}
	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, req)
	b, _ := io.ReadAll(rec.Body)
	return page{rec.Code, rec.Header(), string(b)}
}

var inputRe = regexp.MustCompile(`<input type="hidden" name="([A-Z_]+)" value="([^"]*)">`)

// fields are the form's hidden fields, unescaped.
func (pg page) fields() map[string]string {
	out := map[string]string{}
	for _, m := range inputRe.FindAllStringSubmatch(pg.body, -1) {
		out[m[1]] = html.UnescapeString(m[2])
	}
	return out
}

func TestPayPageForm(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	later := now.Add(time.Hour)
	o := pending("IG-1", 190050)
	o.ExpiresAt = &later
	p := newProvider(t, newStore(o), func(op *idram.Options) { op.Now = func() time.Time { return now } })
	pg := get(t, p, "/pay/IG-1", "")
	if pg.status != 200 {
		t.Fatalf("pending order: %d %s", pg.status, pg.body)
	}
	want := map[string]string{"EDP_LANGUAGE": "EN", "EDP_REC_ACCOUNT": vecAccount, "EDP_DESCRIPTION": "Order IG-1", "EDP_AMOUNT": "1900.50", "EDP_BILL_NO": "IG-1"}
	got := pg.fields()
	if len(got) != len(want) {
		t.Errorf("fields %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %q, want %q", k, got[k], v)
		}
	}
	if !strings.Contains(pg.body, `<form id="idram-pay" method="post" action="https://banking.idram.am/Payment/GetPayment" accept-charset="UTF-8">`) ||
		!strings.Contains(pg.body, `<button type="submit">Pay with Idram</button>`) || !strings.Contains(pg.body, "<noscript>") {
		t.Errorf("no form posting to Idram with a button and a noscript note:\n%s", pg.body)
	}
	if !strings.Contains(pg.body, "1900.50 AMD") || !strings.Contains(pg.body, "IG-1") {
		t.Errorf("the page does not show the order and its amount:\n%s", pg.body)
	}
	// Only the script carrying the header's nonce may run, and the form
	// may post only to Idram's origin.
	csp := pg.header.Get("Content-Security-Policy")
	m := regexp.MustCompile(`script-src 'nonce-([A-Za-z0-9_-]{16,})'`).FindStringSubmatch(csp)
	if m == nil {
		t.Fatalf("CSP %q has no script nonce", csp)
	}
	if !strings.Contains(pg.body, `<script nonce="`+m[1]+`">document.getElementById("idram-pay").submit();</script>`) {
		t.Errorf("the submitting script does not carry the CSP nonce %s:\n%s", m[1], pg.body)
	}
	for _, d := range []string{"default-src 'none'", "form-action https://banking.idram.am;", "frame-ancestors 'none'", "base-uri 'none'"} {
		if !strings.Contains(csp, d) {
			t.Errorf("CSP %q lacks %q", csp, d)
		}
	}
	for k, v := range map[string]string{"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer",
		"X-Frame-Options": "DENY", "Content-Type": "text/html; charset=utf-8"} {
		if pg.header.Get(k) != v {
			t.Errorf("%s: %q, want %q", k, pg.header.Get(k), v)
		}
	}
	if again := get(t, p, "/pay/IG-1", ""); strings.Contains(again.header.Get("Content-Security-Policy"), m[1]) {
		t.Error("the nonce is the same on two pages")
	}
}

func TestPayPageLanguage(t *testing.T) {
	t.Parallel()
	store := newStore(pending("IG-1", 100))
	p := newProvider(t, store)
	ru := newProvider(t, store, func(o *idram.Options) { o.Language = "ru" })
	for _, c := range []struct {
		p      *idram.Provider
		accept string
		want   string
	}{
		{p, "hy-AM,hy;q=0.9,en;q=0.8", "AM"},
		{p, "ru-RU,ru;q=0.9", "RU"},
		{p, "en-US,en;q=0.5", "EN"},
		{p, "de-DE,de;q=0.9", "EN"},
		{p, "de,ru;q=0.3,hy;q=0.7", "AM"},
		{p, "en;q=0.2, ru;q=0.8", "RU"},
		{p, "hy;q=0, ru;q=0.1", "RU"},
		{p, "hy;q=bad, en;q=0.1", "EN"},
		{p, "", "EN"},
		{ru, "fr", "RU"},
		{ru, "", "RU"},
		{ru, "hy", "AM"},
	} {
		if got := get(t, c.p, "/pay/IG-1", c.accept).fields()["EDP_LANGUAGE"]; got != c.want {
			t.Errorf("Accept-Language %q: EDP_LANGUAGE %q, want %q", c.accept, got, c.want)
		}
	}
}

func TestPayPageStates(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	earlier := now.Add(-time.Second)
	with := func(id string, st core.Status) core.Order {
		o := pending(id, 190000)
		o.Status = st
		return o
	}
	past := pending("PAST", 190000)
	past.ExpiresAt = &earlier
	other := pending("VPOS-1", 190000)
	other.Provider = "vpos"
	store := newStore(with("PAID", core.StatusPaid), with("PART", core.StatusPartiallyRefunded), with("REF", core.StatusRefunded),
		with("EXP", core.StatusExpired), past, with("REVIEW", core.StatusManualReview), with("FAILED", core.StatusFailed), other,
		pending(`<b>&"x'`, 190000))
	p := newProvider(t, store, func(o *idram.Options) { o.Now = func() time.Time { return now } })
	for _, c := range []struct {
		path   string
		status int
		says   string
	}{
		{"/pay/PAID", 200, "Already paid, thank you"},
		{"/pay/PART", 200, "Already paid, thank you"},
		{"/pay/REF", 200, "Already paid, thank you"},
		{"/pay/EXP", 410, "This payment link has expired"},
		{"/pay/PAST", 410, "Ask the shop for a new one"},
		{"/pay/REVIEW", 200, "being checked by the shop"},
		{"/pay/FAILED", 410, "can no longer be used"},
		{"/pay/NOPE", 404, "Payment link not found"},
		{"/pay/VPOS-1", 404, "Payment link not found"},
		{"/pay/a%20b", 404, "Payment link not found"},
	} {
		pg := get(t, p, c.path, "")
		if pg.status != c.status || !strings.Contains(pg.body, c.says) {
			t.Errorf("%s: %d, want %d saying %q:\n%s", c.path, pg.status, c.status, c.says, pg.body)
		}
		if strings.Contains(pg.body, "<form") || strings.Contains(pg.body, "EDP_") || strings.Contains(pg.body, "<script") {
			t.Errorf("%s offers a form or a script:\n%s", c.path, pg.body)
		}
		if csp := pg.header.Get("Content-Security-Policy"); !strings.Contains(csp, "form-action 'none'") || pg.header.Get("Cache-Control") != "no-store" {
			t.Errorf("%s: CSP %q, Cache-Control %q", c.path, csp, pg.header.Get("Cache-Control"))
		}
		if strings.Contains(pg.body, "vpos") || strings.Contains(pg.body, "190000") {
			t.Errorf("%s tells more than it should:\n%s", c.path, pg.body)
		}
	}
	// An order id is escaped wherever it appears.
	pg := get(t, p, "/pay/%3Cb%3E&%22x%27", "")
	if pg.status != 200 || strings.Contains(pg.body, `<b>&"x'`) || !strings.Contains(pg.body, "&lt;b&gt;&amp;&#34;x&#39;") || pg.fields()["EDP_BILL_NO"] != `<b>&"x'` {
		t.Errorf("order id not escaped: %d\n%s", pg.status, pg.body)
	}
	// A database that does not answer is said so, without details.
	down := newStore()
	down.err = errors.New("dial tcp 10.0.0.5:5432: connection refused")
	pg = get(t, newProvider(t, down), "/pay/PAID", "")
	if pg.status != 503 || strings.Contains(pg.body, "10.0.0.5") || !strings.Contains(pg.body, "try again") {
		t.Errorf("store down: %d\n%s", pg.status, pg.body)
	}
}

// TestPayLinkServed: the link CreateLink makes is the page's route, even
// for an order id that must be escaped in a path.
func TestPayLinkServed(t *testing.T) {
	t.Parallel()
	p := newProvider(t, newStore(pending("IG/7?x", 500000)))
	link, _ := p.CreateLink(t.Context(), core.Order{ID: "IG/7?x"})
	path := strings.TrimPrefix(link.URL, "https://pay.example.am")
	if pg := get(t, p, path, ""); pg.status != 200 || pg.fields()["EDP_BILL_NO"] != "IG/7?x" || pg.fields()["EDP_AMOUNT"] != "5000.00" {
		t.Fatalf("%s: %d %v", path, pg.status, pg.fields())
	}
}
