package idram

import (
	"crypto/rand"
	"encoding/base64"
	"html/template"
	"net/http"
	"strconv"
	"strings"

	"github.com/paysync/paysync/core"
)

// PayPattern is the payment page's route: the payment link of an Idram
// order. It needs no token; it shows only the order id and the amount.
const PayPattern = "GET /pay/{order_id}"

// Pages serves the payment page: a form that the buyer's browser posts to
// Idram, which is how Idram learns of a payment at all.
func (p *Provider) Pages() map[string]http.Handler {
	return map[string]http.Handler{PayPattern: http.HandlerFunc(p.servePay)}
}

// formView is the checkout form: the hidden EDP_ fields Idram reads.
type formView struct {
	Action, Language, Account, Description, Amount, BillNo string
}

// pageView is one page: a heading, a few lines, and the form when the
// order can be paid.
type pageView struct {
	Title, Heading string
	Lines          []string
	Nonce          string
	Form           *formView
}

// The page submits itself with a small script (allowed by its nonce), and
// keeps a visible button for browsers without script.
var pageTmpl = template.Must(template.New("pay").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex">
<title>{{.Title}}</title>
<style nonce="{{.Nonce}}">body{font-family:sans-serif;max-width:32em;margin:3em auto;padding:0 1em;line-height:1.4}button{font-size:1.1em;padding:.6em 1.4em;cursor:pointer}</style>
</head><body>
<h1>{{.Heading}}</h1>
{{range .Lines}}<p>{{.}}</p>
{{end}}{{with .Form}}<form id="idram-pay" method="post" action="{{.Action}}" accept-charset="UTF-8">
<input type="hidden" name="EDP_LANGUAGE" value="{{.Language}}">
<input type="hidden" name="EDP_REC_ACCOUNT" value="{{.Account}}">
<input type="hidden" name="EDP_DESCRIPTION" value="{{.Description}}">
<input type="hidden" name="EDP_AMOUNT" value="{{.Amount}}">
<input type="hidden" name="EDP_BILL_NO" value="{{.BillNo}}">
<button type="submit">Pay with Idram</button>
</form>
<noscript><p>Press “Pay with Idram” to continue to Idram.</p></noscript>
<script nonce="{{$.Nonce}}">document.getElementById("idram-pay").submit();</script>
{{end}}</body></html>
`))

// servePay is GET /pay/{order_id}. It offers the form only when Idram's
// precheck would be answered OK (core.Precheck), so that a buyer is never
// sent to Idram only to be blocked there.
func (p *Provider) servePay(w http.ResponseWriter, r *http.Request) {
	v := pageView{Nonce: newNonce()}
	id := r.PathValue("order_id")
	if core.ValidateOrderID(id) != nil || p.o.Store == nil {
		p.notFound(w, v)
		return
	}
	o, err := p.o.Store.GetOrder(r.Context(), id)
	switch {
	case core.ErrorCode(err) == core.ENOTFOUND:
		p.notFound(w, v)
		return
	case err != nil:
		p.log.ErrorContext(r.Context(), "Idram payment page: order not read", "order_id", id, "err", err)
		v.Title, v.Heading = "Please try again", "Please try again in a minute"
		v.Lines = []string{"This page could not be shown just now. Nothing was charged."}
		p.write(w, http.StatusServiceUnavailable, v)
		return
	case o.Provider != Name:
		// Another provider's order: say nothing about it.
		p.notFound(w, v)
		return
	}
	now := p.now()
	switch {
	case o.Status.HasPayment():
		v.Title, v.Heading = "Paid", "Already paid, thank you"
		v.Lines = []string{"Order " + o.ID + " is paid. There is nothing more to pay here."}
		p.write(w, http.StatusOK, v)
		return
	case o.Status == core.StatusManualReview:
		v.Title, v.Heading = "Being checked", "Your payment is being checked by the shop"
		v.Lines = []string{"The shop is checking the payment for order " + o.ID + ". Please do not pay again; the shop will message you."}
		p.write(w, http.StatusOK, v)
		return
	case o.Status == core.StatusExpired || o.ExpiresAt != nil && !now.Before(*o.ExpiresAt):
		v.Title, v.Heading = "Link expired", "This payment link has expired"
		v.Lines = []string{"Order " + o.ID + " can no longer be paid with this link. Ask the shop for a new one."}
		p.write(w, http.StatusGone, v)
		return
	}
	ask := core.PaymentEvent{Provider: Name, Type: core.EventPrecheck, OrderID: o.ID, AmountMinor: o.AmountMinor, Currency: o.Currency}
	if err := core.Precheck(&o, ask, now); err != nil {
		// A failed order (a person decided so in review): Idram's precheck
		// would refuse it, so the link is done.
		v.Title, v.Heading = "Link no longer valid", "This payment link can no longer be used"
		v.Lines = []string{"Order " + o.ID + " cannot be paid with this link. Ask the shop for a new one."}
		p.write(w, http.StatusGone, v)
		return
	}
	amount := FormatAmount(o.AmountMinor)
	v.Title, v.Heading = "Pay with Idram", "Pay with Idram"
	v.Lines = []string{"Order " + o.ID, "Amount: " + amount + " AMD", "Taking you to Idram…"}
	v.Form = &formView{Action: p.o.PaymentURL, Language: languageFor(r.Header.Get("Accept-Language"), p.o.Language),
		Account: p.o.Account, Description: "Order " + o.ID, Amount: amount, BillNo: o.ID}
	p.write(w, http.StatusOK, v)
}

func (p *Provider) notFound(w http.ResponseWriter, v pageView) {
	v.Title, v.Heading = "Not found", "Payment link not found"
	v.Lines = []string{"Check the link the shop sent you, or ask the shop for a new one."}
	p.write(w, http.StatusNotFound, v)
}

// write sends a page with headers that keep it out of caches and frames,
// and a Content-Security-Policy that lets only its own nonce run and its
// form post only to Idram.
func (p *Provider) write(w http.ResponseWriter, status int, v pageView) {
	formAction := "'none'"
	if v.Form != nil {
		formAction = p.formOrigin
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Content-Security-Policy", "default-src 'none'; script-src 'nonce-"+v.Nonce+"'; style-src 'nonce-"+v.Nonce+"'; form-action "+formAction+"; base-uri 'none'; frame-ancestors 'none'")
	w.WriteHeader(status)
	if err := pageTmpl.Execute(w, v); err != nil {
		p.log.Error("Idram payment page not written", "err", err)
	}
}

// newNonce is a fresh CSP nonce: 128 random bits, URL-safe base64.
func newNonce() string {
	b := make([]byte, 16)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// languageFor picks Idram's page language (AM, RU or EN) from the buyer's
// Accept-Language: the most preferred of Armenian, Russian and English,
// else def. Weights are read in thousandths, without floats.
func languageFor(accept, def string) string {
	best, bestQ := "", 0
	for _, part := range strings.Split(accept, ",") {
		tag, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		primary, _, _ := strings.Cut(strings.ToLower(strings.TrimSpace(tag)), "-")
		var lang string
		switch primary {
		case "hy":
			lang = "AM"
		case "ru":
			lang = "RU"
		case "en":
			lang = "EN"
		default:
			continue
		}
		q, ok := weight(params)
		if ok && q > bestQ {
			best, bestQ = lang, q
		}
	}
	if best == "" {
		return def
	}
	return best
}

// weight reads an Accept-Language entry's "q=0.8" in thousandths (1000
// without one); ok is false for a malformed weight.
func weight(params string) (int, bool) {
	for _, p := range strings.Split(params, ";") {
		k, v, found := strings.Cut(strings.TrimSpace(p), "=")
		if !found || strings.TrimSpace(k) != "q" {
			continue
		}
		v = strings.TrimSpace(v)
		whole, frac, _ := strings.Cut(v, ".")
		if (whole != "0" && whole != "1") || len(frac) > 3 {
			return 0, false
		}
		frac += strings.Repeat("0", 3-len(frac))
		n, err := strconv.Atoi(whole + frac)
		if err != nil || n > 1000 {
			return 0, false
		}
		return n, true
	}
	return 1000, true
}
