// Package idram is the Idram adapter (the "Payment System merchant
// interface"). Idram has no API to call: the buyer's browser posts a form to
// Idram (paysync serves that form at GET /pay/{order_id}), and Idram calls
// paysync's RESULT_URL (/webhooks/idram) twice, form-encoded:
//
//  1. a precheck (EDP_PRECHECK=YES, EDP_BILL_NO, EDP_REC_ACCOUNT,
//     EDP_AMOUNT) before the buyer pays: the answer "OK" lets the buyer pay,
//     anything else blocks the payment;
//  2. a confirmation (EDP_BILL_NO, EDP_REC_ACCOUNT, EDP_PAYER_ACCOUNT,
//     EDP_AMOUNT, EDP_TRANS_ID, EDP_TRANS_DATE, EDP_CHECKSUM) once the buyer
//     paid, signed with an MD5 of those fields and the shared SECRET_KEY.
//
// Idram waits for paysync's answer to the confirmation and, under its
// 16.10.2025 rules, cancels the payment when the answer is HTTP 200 with any
// body but "OK" (the buyer is not charged), while a non-2xx answer leaves the
// payment standing. So paysync always answers 200, and "OK" only when the
// payment is the order's (Capabilities.ApprovesPayments): a payment that
// cannot settle its order cleanly, a forgery, or one paysync could not
// record is cancelled rather than taken.
//
// Idram has no refund or status API (refunds are made in the Idram merchant
// cabinet, and paysync hears nothing of them), and no currency field: 1
// Idram is 1 AMD, so orders must be in AMD.
package idram

import (
	"context"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/paysync/paysync/core"
)

// Name is the provider name in orders, journal entries and the webhook path.
const Name = "idram"

// DefaultPaymentURL is where the checkout form posts: one URL for test and
// live merchants alike; the account and key decide which.
const DefaultPaymentURL = "https://banking.idram.am/Payment/GetPayment"

// Currency is the only currency Idram takes.
const Currency = "AMD"

// Options configure the adapter.
type Options struct {
	// Account is the merchant's IdramID (EDP_REC_ACCOUNT), digits.
	Account string
	// SecretKey is the SECRET_KEY Idram staff configured for the merchant;
	// it signs confirmations.
	SecretKey string
	// PaymentURL is the checkout form's action (default DefaultPaymentURL).
	PaymentURL string
	// Language is the Idram page language (AM, RU or EN) for a buyer whose
	// browser asks for none of Armenian, Russian and English (default EN).
	Language string
	// PublicURL is where buyers reach paysync, without a trailing slash:
	// payment links are PublicURL/pay/{order_id}.
	PublicURL string
	// Store reads orders: a confirmation is checked against the order's own
	// amount, and the payment page shows where the order stands. It may be
	// nil to build the adapter (`config check`), not to serve it.
	Store  core.Store
	Logger *slog.Logger
	// Now is the clock of the payment page's expiry check (default time.Now).
	Now func() time.Time
}

// Provider is the Idram adapter; it implements core.Provider,
// core.Answerer, core.PageServer, core.OrderValidator and core.ReturnReader.
type Provider struct {
	o          Options
	formOrigin string // scheme://host of PaymentURL, for the page's CSP
	log        *slog.Logger
	now        func() time.Time
}

var (
	_ core.Provider       = (*Provider)(nil)
	_ core.Answerer       = (*Provider)(nil)
	_ core.PageServer     = (*Provider)(nil)
	_ core.OrderValidator = (*Provider)(nil)
	_ core.ReturnReader   = (*Provider)(nil)
)

// accountRe is an IdramID: digits only (the vendor's example is 100000114).
var accountRe = regexp.MustCompile(`^[0-9]{1,20}$`)

// New checks the options and returns the adapter. It calls nobody.
func New(o Options) (*Provider, error) {
	if o.Account == "" || o.SecretKey == "" {
		return nil, core.FieldErrorf("account", "Idram needs PAYSYNC_IDRAM_ACCOUNT (the shop's IdramID) and PAYSYNC_IDRAM_SECRET_KEY (the SECRET_KEY Idram staff set for the shop)")
	}
	if !accountRe.MatchString(o.Account) {
		return nil, core.FieldErrorf("account", "providers.idram.account %q is not an IdramID: it is the digits of the shop's Idram account, such as 100000114", o.Account)
	}
	if o.PaymentURL == "" {
		o.PaymentURL = DefaultPaymentURL
	}
	origin, err := originOf(o.PaymentURL)
	if err != nil {
		return nil, core.FieldErrorf("payment_url", "providers.idram.payment_url %q is not an http(s) URL (Idram's is %s)", o.PaymentURL, DefaultPaymentURL)
	}
	lang, ok := pageLanguage(o.Language)
	if !ok {
		return nil, core.FieldErrorf("language", "providers.idram.language %q must be AM, RU or EN", o.Language)
	}
	o.Language = lang
	o.PublicURL = strings.TrimRight(o.PublicURL, "/")
	p := &Provider{o: o, formOrigin: origin, log: o.Logger, now: o.Now}
	if p.log == nil {
		p.log = slog.Default()
	}
	if p.now == nil {
		p.now = time.Now
	}
	return p, nil
}

// originOf is the scheme://host of an http(s) URL.
func originOf(raw string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", core.Errorf(core.EINVALID, "not an http(s) URL")
	}
	return u.Scheme + "://" + u.Host, nil
}

// pageLanguage normalises a configured language; "" is EN.
func pageLanguage(s string) (string, bool) {
	switch strings.ToUpper(s) {
	case "", "EN":
		return "EN", true
	case "AM", "HY":
		return "AM", true
	case "RU":
		return "RU", true
	}
	return "", false
}

// Name returns "idram".
func (p *Provider) Name() string { return Name }

// Capabilities: paysync makes the link (its own form page), Idram cannot be
// asked where a payment stands, and Idram waits for paysync's answer to each
// payment, cancelling what paysync declines.
func (p *Provider) Capabilities() core.Capabilities {
	return core.Capabilities{Title: "Idram", WebhookMethods: []string{http.MethodPost}, CreatesLinks: true, ApprovesPayments: true}
}

// ValidateOrder refuses orders Idram cannot take: the merchant interface
// has no currency field, and 1 Idram is 1 AMD.
func (p *Provider) ValidateOrder(o core.Order) error {
	if !strings.EqualFold(o.Currency, Currency) {
		return core.Errorf(core.EINVALID, "Idram takes payments in AMD only (1 Idram = 1 AMD, and its form has no currency field): order %s is in %s; use AMD or another provider", o.ID, core.CleanText(o.Currency))
	}
	return nil
}

// CreateLink returns paysync's own payment page for the order: Idram is
// not called, as it registers a payment only when the buyer's browser posts
// the form that page holds.
func (p *Provider) CreateLink(_ context.Context, o core.Order) (core.PaymentLink, error) {
	return core.PaymentLink{URL: p.o.PublicURL + "/pay/" + url.PathEscape(o.ID)}, nil
}

// ErrNoLookup is Lookup's answer.
var ErrNoLookup = core.Errorf(core.EINVALID, "Idram has no status API: only its confirmation to /webhooks/idram says a payment was made; check the Idram merchant cabinet for a payment paysync did not hear of")

// Lookup is not supported: Idram cannot be asked where a payment stands.
func (p *Provider) Lookup(context.Context, core.Order) (core.PaymentEvent, error) {
	return core.PaymentEvent{}, ErrNoLookup
}

// ReturnOrderID reads the order of a buyer sent back by Idram to
// SUCCESS_URL or FAIL_URL when they point at /webhooks/idram/return:
// EDP_BILL_NO, else order_id. The visit proves nothing.
func (p *Provider) ReturnOrderID(q url.Values) string {
	if id := q.Get("EDP_BILL_NO"); id != "" {
		return id
	}
	return q.Get("order_id")
}
