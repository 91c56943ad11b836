// Package ameria is the Ameriabank vPOS 3.1 adapter. InitPayment registers a
// payment and gives the payment page; GetPaymentDetails says where it
// stands. The bank never calls paysync: the buyer's browser comes back to
// the BackURL (GET /webhooks/ameria/return) with parameters nobody signs,
// so the visit only prompts a lookup, and the reconcile job looks up
// pending orders and, because refunds made in the bank's back office are
// told to nobody, paid ones too (RefundsByLookup).
//
// The bank's OrderID is an integer unique per merchant, within a range the
// bank assigns in test mode: paysync allocates it from
// PAYSYNC_AMERIA_ORDER_IDS before calling InitPayment, keeps it in its
// database (see numbers) and reuses it when the link is asked for again,
// so that a retry is byte for byte the same request (the bank overwrites an
// earlier InitPayment with the same OrderID).
//
// OrderStatus / PaymentState mapping (GetPaymentDetails, ResponseCode "00",
// which only means the query worked):
//
//	0 payment_started        -> pending
//	1 payment_approved       -> pending: pre-authorised, held, not taken; a
//	                            two-stage payment needs ConfirmPayment, which
//	                            paysync does not send
//	2 payment_deposited      -> paid (ApprovedAmount, Currency)
//	3 payment_void           -> failed; refunded in full when paysync had the
//	                            order paid (a cancelled deposit)
//	4 payment_refunded       -> refunded: RefundedAmount is the total so far,
//	                            so a partial refund makes partially_refunded
//	5 payment_autoauthorized -> pending: 3-D Secure at the issuer
//	6 payment_declined       -> failed
//
// A payment nobody has tried to pay yet makes GetPaymentDetails answer HTTP
// 500 {"Message":"An error has occurred."} or ResponseCode "550", and "550"
// is also what a wrong password gets: GetPaymentId tells the two apart.
package ameria

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	_ "time/tzdata" // Asia/Yerevan must resolve on hosts without a zoneinfo database

	"github.com/go-resty/resty/v2"

	"github.com/paysync/paysync/core"
	"github.com/paysync/paysync/internal/restclient"
)

// Name is the provider name in orders, journal entries and the return path.
const Name = "ameria"

// Title is how messages name the bank.
const Title = "Ameriabank vPOS"

// Hosts and defaults.
const (
	LiveBaseURL = "https://services.ameriabank.am/VPOS/"
	TestBaseURL = "https://servicestest.ameriabank.am/VPOS/"

	// DefaultSessionTimeout is how long the payment page takes a payment:
	// InitPayment's Timeout, at most 1200 seconds.
	DefaultSessionTimeout = 20 * time.Minute
	DefaultTimeout        = 20 * time.Second
)

// currencies are the ones the bank lists, by ISO code: only 051 was ever
// seen to work.
var currencies = map[string]string{"AMD": "051", "EUR": "978", "USD": "840", "RUB": "643"}

// Options configure the adapter.
type Options struct {
	BaseURL string // ends in /VPOS/ (default LiveBaseURL)
	// ReportingURL is the SOAP service of GetTransactionList (default
	// LiveReportingURL, TestReportingURL with the test base, else
	// BaseURL + Admin/webservice/TransactionsInformationService.svc).
	ReportingURL string
	ClientID     string
	Username     string
	Password     string
	// OrderIDs is the range the bank's OrderIDs are allocated from.
	OrderIDs Range
	Language string // am, ru or en (default en)
	// SessionTimeout is InitPayment's Timeout (default and most 20 minutes).
	SessionTimeout time.Duration
	// BackURL is where the bank sends the buyer back; it must have no
	// query: the bank appends its own, and how it joins them is not known.
	BackURL string
	// Store keeps the order numbers; nil (a configuration check) makes
	// CreateLink and Lookup fail.
	Store StateStore
	// Timeout bounds each API call (default 20s).
	Timeout    time.Duration
	HTTPClient *http.Client
}

// Provider is the Ameriabank adapter; it implements core.Provider,
// core.ReturnReader and core.OrderValidator.
type Provider struct {
	o       Options
	base    string // with its trailing slash
	numbers numbers
	client  *resty.Client
	// reporting is the SOAP service's address (Options.ReportingURL).
	reporting string
}

var (
	_ core.Provider       = (*Provider)(nil)
	_ core.ReturnReader   = (*Provider)(nil)
	_ core.OrderValidator = (*Provider)(nil)
)

// New checks the options and returns the adapter. It calls nobody.
func New(o Options) (*Provider, error) {
	if o.BaseURL == "" {
		o.BaseURL = LiveBaseURL
	}
	if u, err := url.Parse(o.BaseURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, core.FieldErrorf("base_url", "providers.ameria.base_url %q is not an http(s) URL (live: %s, test: %s)", o.BaseURL, LiveBaseURL, TestBaseURL)
	}
	for _, c := range []struct{ key, value string }{{"client_id", o.ClientID}, {"username", o.Username}, {"password", o.Password}} {
		if c.value == "" {
			return nil, core.FieldErrorf(c.key, "Ameriabank vPOS needs PAYSYNC_AMERIA_CLIENT_ID, PAYSYNC_AMERIA_USERNAME and PAYSYNC_AMERIA_PASSWORD (the vPOS API credentials the bank sent; test and live ones differ); %s is missing", c.key)
		}
	}
	if o.OrderIDs.From <= 0 || o.OrderIDs.From > o.OrderIDs.To {
		return nil, core.FieldErrorf("order_ids", "Ameriabank vPOS needs PAYSYNC_AMERIA_ORDER_IDS, the order-number range the bank assigned to you, as FROM-TO (e.g. %s)", ExampleRange)
	}
	switch o.Language {
	case "":
		o.Language = "en"
	case "am", "ru", "en":
	default:
		return nil, core.FieldErrorf("language", "providers.ameria.language %q must be am, ru or en (lower case; the bank's page takes no other)", o.Language)
	}
	if o.SessionTimeout <= 0 {
		o.SessionTimeout = DefaultSessionTimeout
	}
	if o.SessionTimeout > DefaultSessionTimeout || o.SessionTimeout < time.Minute {
		return nil, core.FieldErrorf("session_timeout", "providers.ameria.session_timeout %s must be between 1m and 20m (the bank's limit)", o.SessionTimeout)
	}
	if o.BackURL == "" || strings.Contains(o.BackURL, "?") {
		return nil, core.Errorf(core.EINVALID, "the Ameriabank BackURL %q must be an address without a query string: set PAYSYNC_PUBLIC_URL to paysync's address alone (e.g. https://pay.example.am)", o.BackURL)
	}
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	p := &Provider{o: o, base: strings.TrimRight(o.BaseURL, "/") + "/", numbers: numbers{store: o.Store, r: o.OrderIDs}}
	p.client = restclient.New(p.base, o.Timeout, o.HTTPClient)
	p.reporting = reportingURL(p.base, o.ReportingURL)
	return p, nil
}

// Name returns "ameria".
func (p *Provider) Name() string { return Name }

// Capabilities: links and lookups, no webhooks at all; refunds are found
// only by looking paid orders up.
func (p *Provider) Capabilities() core.Capabilities {
	return core.Capabilities{Title: Title, CreatesLinks: true, LooksUp: true, NoWebhooks: true, RefundsByLookup: true}
}

// Verify refuses everything: the bank sends no webhooks (payments answers
// /webhooks/ameria with 404 before it gets here).
func (p *Provider) Verify(context.Context, core.InboundRequest) ([]core.PaymentEvent, error) {
	return nil, core.Errorf(core.ENOTFOUND, "Ameriabank vPOS sends no webhooks; buyers return to /webhooks/ameria/return")
}

// ValidateOrder refuses currencies the bank does not list.
func (p *Provider) ValidateOrder(o core.Order) error {
	_, err := currencyCode(o.Currency)
	return err
}

func currencyCode(c string) (string, error) {
	if n, ok := currencies[strings.ToUpper(c)]; ok {
		return n, nil
	}
	return "", core.Errorf(core.EINVALID, "Ameriabank vPOS takes AMD, EUR, USD or RUB, not %q", c)
}

// ReturnOrderID names the order of a buyer's return to the BackURL: the
// opaque the bank echoes (paysync sends the order id), else the order
// holding the bank's orderID, else order_id. The visit proves nothing; it
// only prompts a lookup. Names are read in any case, and paymentID, which
// arrives in lower case, is not used at all.
func (p *Provider) ReturnOrderID(q url.Values) string {
	opaque := param(q, "opaque")
	if opaque != "" && printableASCII(opaque) && core.ValidateOrderID(opaque) == nil {
		return opaque
	}
	// The bank garbles letters outside ASCII (seen with Description), so
	// such an opaque is checked against the order number it came with.
	if n, err := strconv.ParseInt(param(q, "orderID"), 10, 64); err == nil && p.numbers.store != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second) // the page has no context of its own to pass
		id, ok, err := p.numbers.orderOf(ctx, n)
		cancel()
		if err == nil && ok {
			return id
		}
	}
	if opaque != "" {
		return opaque
	}
	return param(q, "order_id")
}

// param is a query parameter whatever the case of its name.
func param(q url.Values, name string) string {
	if v := q.Get(name); v != "" {
		return v
	}
	for k, vs := range q {
		if strings.EqualFold(k, name) && len(vs) > 0 {
			return vs[0]
		}
	}
	return ""
}

func printableASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x21 || s[i] > 0x7e {
			return false
		}
	}
	return true
}
