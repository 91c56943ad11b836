// Package arca is the ArCa vPOS adapter (the BPC "RBS" gateway most Armenian
// banks run): register.do creates the payment page, getOrderStatusExtended.do
// says where a payment stands, and callbacks (GET or POST, signed with an
// HMAC-SHA256 checksum when the bank enabled it) tell paysync to look.
//
// A callback never moves an order by itself: paysync confirms it with
// getOrderStatusExtended.do (ConfirmsByLookup), because checksums are a
// per-merchant option and the browser return carries no proof at all.
//
// orderStatus mapping (getOrderStatusExtended.do):
//
//	0 registered, not paid        -> pending
//	1 pre-authorised (held)       -> pending: the money is only held, not taken
//	2 deposited                   -> paid (depositedAmount, else amount)
//	3 reversed                    -> failed: the authorisation was cancelled and
//	                                 no money was taken; if paysync had already
//	                                 recorded the order paid (a same-day reversal
//	                                 of a deposit), refunded in full
//	4 refunded                    -> refunded (paymentAmountInfo.refundedAmount)
//	5 3-D Secure in progress      -> pending
//	6 declined                    -> failed
package arca

import (
	"net/http"
	"net/url"
	"time"

	"github.com/go-resty/resty/v2"

	"github.com/paysync/paysync/core"
	"github.com/paysync/paysync/internal/restclient"
)

// Name is the provider name in orders, journal entries and the webhook path.
const Name = "arca"

// Gateway hosts.
const (
	TestBaseURL = "https://ipaytest.arca.am:8445/payment/rest"
	LiveBaseURL = "https://ipay.arca.am/payment/rest"

	DefaultSessionTimeout = 20 * time.Minute
	DefaultTimeout        = 20 * time.Second
)

// Options configure the adapter. Field names follow config.ArCa.
type Options struct {
	BaseURL  string // .../payment/rest
	Username string
	Password string
	// CallbackKey verifies callback checksums; CallbackKeyPrevious is accepted
	// too during a rotation. With no key, callbacks are accepted unsigned, as
	// a prompt to look the order up: they never move an order by themselves.
	CallbackKey         string
	CallbackKeyPrevious string
	Language            string // en, ru or hy
	SessionTimeout      time.Duration
	// ReturnURL and FailURL are where ArCa sends the buyer; "{order_id}" is
	// replaced by the escaped order id. FailURL defaults to ReturnURL.
	ReturnURL string
	FailURL   string
	// CallbackURL, when set, is sent as dynamicCallbackUrl.
	CallbackURL string
	// Timeout bounds each API call (default 20s).
	Timeout    time.Duration
	HTTPClient *http.Client
}

// Provider is the ArCa adapter; it implements core.Provider.
type Provider struct {
	o      Options
	keys   [][]byte
	client *resty.Client
}

var _ core.Provider = (*Provider)(nil)

// New checks the options and returns the adapter.
func New(o Options) (*Provider, error) {
	if o.BaseURL == "" {
		o.BaseURL = TestBaseURL
	}
	if u, err := url.Parse(o.BaseURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, core.FieldErrorf("base_url", "providers.arca.base_url %q is not an http(s) URL (e.g. %s)", o.BaseURL, TestBaseURL)
	}
	if o.Username == "" || o.Password == "" {
		return nil, core.FieldErrorf("username", "ArCa needs PAYSYNC_ARCA_USERNAME and PAYSYNC_ARCA_PASSWORD (the API user the bank issued, usually ending in -api)")
	}
	switch o.Language {
	case "":
		o.Language = "en"
	case "en", "ru", "hy":
	default:
		return nil, core.FieldErrorf("language", "providers.arca.language %q must be en, ru or hy", o.Language)
	}
	if o.SessionTimeout <= 0 {
		o.SessionTimeout = DefaultSessionTimeout
	}
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	if o.FailURL == "" {
		o.FailURL = o.ReturnURL
	}
	p := &Provider{o: o}
	for _, k := range []string{o.CallbackKey, o.CallbackKeyPrevious} {
		if k != "" {
			p.keys = append(p.keys, []byte(k))
		}
	}
	p.client = restclient.New(o.BaseURL, o.Timeout, o.HTTPClient)
	return p, nil
}

// Name returns "arca".
func (p *Provider) Name() string { return Name }

// Capabilities: ArCa creates payment pages, answers status lookups, and
// every callback is confirmed with getOrderStatusExtended.do (a checksum
// proves who sent it, not that the money arrived).
func (p *Provider) Capabilities() core.Capabilities {
	return core.Capabilities{Title: "ArCa", WebhookMethods: []string{http.MethodGet, http.MethodPost}, CreatesLinks: true, LooksUp: true, ConfirmsByLookup: true}
}
