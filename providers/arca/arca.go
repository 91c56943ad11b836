// Package arca is the ArCa vPOS adapter (the BPC "RBS" gateway most Armenian
// banks run): register.do creates the payment page, getOrderStatusExtended.do
// says where a payment stands, and callbacks (GET or POST; unsigned,
// HMAC-signed or RSA-signed, as the bank set it for the merchant) tell
// paysync to look.
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
//	4 refunded                    -> refunded (paymentAmountInfo.refundedAmount);
//	                                 manual_review when the answer's version
//	                                 does not say how much: never inferred
//	5 3-D Secure in progress      -> pending
//	6 declined                    -> failed
package arca

import (
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strings"
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
	// CallbackPublicKey verifies asymmetric checksums (RSA with SHA-512,
	// signed with the gateway's key): the PEM certificate (or public key)
	// the gateway console gives, or the path of a file holding it. It works
	// beside the keys above: a merchant's callbacks are signed one way.
	CallbackPublicKey string
	// MaxOrderNumber is the longest order id the gateway takes as
	// orderNumber (default 32, as in the RBS manuals); longer ones are
	// refused when the order is created (ValidateOrder).
	MaxOrderNumber int
	Language       string // en, ru or hy
	SessionTimeout time.Duration
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

// Provider is the ArCa adapter; it implements core.Provider and
// core.OrderValidator.
type Provider struct {
	o      Options
	keys   [][]byte
	pub    *rsa.PublicKey // CallbackPublicKey
	client *resty.Client
}

var (
	_ core.Provider       = (*Provider)(nil)
	_ core.OrderValidator = (*Provider)(nil)
)

// DefaultMaxOrderNumber is the longest orderNumber in the RBS manuals
// (ANS..32); ArCa's own limit is not published.
const DefaultMaxOrderNumber = 32

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
	if o.MaxOrderNumber <= 0 {
		o.MaxOrderNumber = DefaultMaxOrderNumber
	}
	p := &Provider{o: o}
	for _, k := range []string{o.CallbackKey, o.CallbackKeyPrevious} {
		if k != "" {
			p.keys = append(p.keys, []byte(k))
		}
	}
	if o.CallbackPublicKey != "" {
		pub, err := parsePublicKey(o.CallbackPublicKey)
		if err != nil {
			return nil, core.FieldErrorf("callback_public_key", "providers.arca.callback_public_key (PAYSYNC_ARCA_CALLBACK_PUBLIC_KEY) is %s: "+
				"paste the certificate the ArCa merchant console gives for checking callbacks (-----BEGIN CERTIFICATE-----…), or the "+
				"path of a file holding it", err)
		}
		p.pub = pub
	}
	p.client = restclient.New(o.BaseURL, o.Timeout, o.HTTPClient)
	return p, nil
}

// parsePublicKey reads an RSA public key from a PEM certificate, a PKIX or
// PKCS #1 public key, or a file holding one; the error says what it is not.
func parsePublicKey(v string) (*rsa.PublicKey, error) {
	data := []byte(v)
	if !strings.Contains(v, "-----BEGIN") {
		b, err := os.ReadFile(strings.TrimSpace(v))
		if err != nil {
			return nil, fmt.Errorf("neither PEM nor a file paysync can read")
		}
		data = b
	}
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, fmt.Errorf("not PEM")
	}
	var key any
	var err error
	switch block.Type {
	case "CERTIFICATE":
		var cert *x509.Certificate
		if cert, err = x509.ParseCertificate(block.Bytes); err == nil {
			key = cert.PublicKey
		}
	case "PUBLIC KEY":
		key, err = x509.ParsePKIXPublicKey(block.Bytes)
	case "RSA PUBLIC KEY":
		key, err = x509.ParsePKCS1PublicKey(block.Bytes)
	default:
		return nil, fmt.Errorf("a PEM %q, not a certificate or a public key", block.Type)
	}
	if err != nil {
		return nil, fmt.Errorf("a PEM %s that does not parse", strings.ToLower(block.Type))
	}
	pub, ok := key.(*rsa.PublicKey)
	if !ok {
		return nil, fmt.Errorf("not an RSA key")
	}
	return pub, nil
}

// ValidateOrder refuses an order whose id the gateway would not take as
// orderNumber, when the order is created rather than when the buyer is
// sent to pay.
func (p *Provider) ValidateOrder(o core.Order) error {
	if n := len(o.ID); n > p.o.MaxOrderNumber {
		return core.FieldErrorf("order_id", "ArCa takes order numbers of at most %d characters (orderNumber of register.do); order id %q "+
			"is %d: use a shorter order id (providers.arca.max_order_number_length, if your bank's gateway takes longer ones)",
			p.o.MaxOrderNumber, o.ID, n)
	}
	return nil
}

// Name returns "arca".
func (p *Provider) Name() string { return Name }

// Capabilities: ArCa creates payment pages, answers status lookups, and
// every callback is confirmed with getOrderStatusExtended.do (a checksum
// proves who sent it, not that the money arrived).
func (p *Provider) Capabilities() core.Capabilities {
	return core.Capabilities{Title: "ArCa", WebhookMethods: []string{http.MethodGet, http.MethodPost}, CreatesLinks: true, LooksUp: true, ConfirmsByLookup: true}
}
