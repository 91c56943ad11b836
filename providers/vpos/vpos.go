// Package vpos is the VPOS.am adapter: it creates payment sessions
// (POST /v1/payment-sessions), looks their status up, and verifies webhooks.
//
// VPOS.am's public API excerpt documents only session creation and merchant
// auth. The session response fields, the status-lookup path, the webhook
// headers, signature scheme, event names and status values are UNCONFIRMED,
// so each is configurable (Options.Fields, Statuses, LookupPath, *Header) with
// defaults that follow common practice: Standard Webhooks signatures and
// camelCase fields. Because of that, and because VPOS.am states that the
// browser return is not proof of payment, paysync confirms every webhook with
// a status lookup before the order moves (ConfirmsByLookup) unless the
// operator turns it off.
package vpos

import (
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/go-resty/resty/v2"

	"github.com/paysync/paysync/core"
	"github.com/paysync/paysync/internal/restclient"
	"github.com/paysync/paysync/internal/standardwebhooks"
)

// Name is the provider name in orders, journal entries and the webhook path.
const Name = "vpos"

// Defaults for the UNCONFIRMED parts of the API.
const (
	DefaultBaseURL    = "https://api.vpos.am"
	SessionsPath      = "/v1/payment-sessions"
	DefaultLookupPath = "/v1/payment-sessions/{id}"
	DefaultTimeout    = 15 * time.Second
)

// DefaultFields maps each event field to the JSON paths tried, in order, in a
// session response, a lookup answer or a webhook body. A configured value
// replaces the default list; it may itself list alternatives separated by
// commas ("data.status,status"). Paths are dot-separated object keys;
// a number selects an array element.
var DefaultFields = map[string]string{
	"session_id":     "id,sessionId,paymentSessionId,data.id",
	"checkout_url":   "checkoutUrl,paymentUrl,redirectUrl,url,data.checkoutUrl",
	"event_id":       "", // empty: the id header (webhook-id) is the event id
	"event_type":     "type,event,eventType",
	"order_id":       "data.merchantOrderId,merchantOrderId,data.metadata.order_id,metadata.order_id",
	"status":         "data.status,status",
	"amount_minor":   "data.amountMinor,amountMinor",
	"currency":       "data.currency,currency",
	"refunded_minor": "data.refundedAmountMinor,refundedAmountMinor,data.refundedMinor,refundedMinor",
	"provider_ref":   "data.id,data.sessionId,sessionId,paymentSessionId",
	"occurred_at":    "createdAt,occurredAt,timestamp",
	"message":        "message,error.message,error,detail,title",
}

// DefaultStatuses maps VPOS.am event types and statuses (compared
// case-insensitively) onto paysync statuses. A configured map adds to it and
// overrides it. Map a name to "" (or "ignore") to make it an ignored event,
// or an event type to "status" to let the body's status field decide.
// A webhook's event type decides when it has one; an unknown event type is
// journaled as ignored. Lookups (no event type) follow the status field.
var DefaultStatuses = map[string]string{
	"paid": "paid", "succeeded": "paid", "success": "paid", "successful": "paid", "completed": "paid",
	"captured": "paid", "deposited": "paid",
	"payment.succeeded": "paid", "payment.paid": "paid", "payment.completed": "paid", "payment_session.paid": "paid",
	"failed": "failed", "declined": "failed", "rejected": "failed", "canceled": "failed", "cancelled": "failed",
	"payment.failed": "failed", "payment.declined": "failed", "payment.canceled": "failed", "payment.cancelled": "failed",
	"expired": "expired", "payment.expired": "expired", "payment_session.expired": "expired",
	"refunded": "refunded", "partially_refunded": "refunded", "partial_refund": "refunded",
	"payment.refunded": "refunded", "refund.succeeded": "refunded",
	"pending": "pending", "created": "pending", "new": "pending", "processing": "pending",
	"requires_action": "pending", "in_progress": "pending", "authorized": "pending",
}

// useStatus maps an event type to "read the status field".
const useStatus core.Status = "status"

// Options configure the adapter. Field names follow config.VPOS.
type Options struct {
	BaseURL  string
	APIToken string
	// WebhookSecret verifies webhooks; PreviousWebhookSecret is accepted too
	// during a rotation. With neither, webhooks are refused (401).
	WebhookSecret         string
	PreviousWebhookSecret string
	// ConfirmWithLookup (default true) makes paysync confirm every webhook
	// with a status lookup before applying it.
	ConfirmWithLookup *bool
	// ProviderName is the `provider` field of a payment session (which
	// acquirer VPOS.am routes to); empty leaves it out.
	ProviderName string
	// ReturnURL is where VPOS.am sends the buyer afterwards; "{order_id}" is
	// replaced by the escaped order id.
	ReturnURL string
	// LookupPath is the status lookup, relative to BaseURL; "{id}" is the
	// session id (the order's provider_ref) and "{order_id}" the order id.
	LookupPath      string
	SignatureHeader string
	IDHeader        string
	TimestampHeader string
	Fields          map[string]string
	Statuses        map[string]string
	// Timeout bounds each API call (default 15s).
	Timeout time.Duration
	// Tolerance bounds the webhook timestamp skew (default 5 minutes).
	Tolerance time.Duration
	// HTTPClient replaces the default transport (tests).
	HTTPClient *http.Client
}

// Provider is the VPOS.am adapter; it implements core.Provider.
type Provider struct {
	o        Options
	client   *resty.Client
	std      *standardwebhooks.Verifier // nil: no webhook secret configured
	fields   map[string][]string
	statuses map[string]core.Status
	confirm  bool
}

var _ core.Provider = (*Provider)(nil)

// New checks the options and returns the adapter.
func New(o Options) (*Provider, error) {
	if o.BaseURL == "" {
		o.BaseURL = DefaultBaseURL
	}
	if u, err := url.Parse(o.BaseURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, core.FieldErrorf("base_url", "providers.vpos.base_url %q is not an http(s) URL", o.BaseURL)
	}
	if o.LookupPath == "" {
		o.LookupPath = DefaultLookupPath
	}
	if !strings.HasPrefix(o.LookupPath, "/") {
		return nil, core.FieldErrorf("lookup_path", "providers.vpos.lookup_path %q must start with / (e.g. %s)", o.LookupPath, DefaultLookupPath)
	}
	if o.SignatureHeader == "" {
		o.SignatureHeader = standardwebhooks.HeaderSignature
	}
	if o.IDHeader == "" {
		o.IDHeader = standardwebhooks.HeaderID
	}
	if o.TimestampHeader == "" {
		o.TimestampHeader = standardwebhooks.HeaderTimestamp
	}
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	p := &Provider{o: o, fields: map[string][]string{}, statuses: map[string]core.Status{}, confirm: true}
	if o.ConfirmWithLookup != nil {
		p.confirm = *o.ConfirmWithLookup
	}
	if p.confirm && o.APIToken == "" && o.WebhookSecret != "" {
		return nil, core.FieldErrorf("confirm_with_lookup", "VPOS.am webhooks are confirmed by a status lookup, which needs PAYSYNC_VPOS_API_TOKEN: set it, or set providers.vpos.confirm_with_lookup: false")
	}
	for k, v := range DefaultFields {
		p.fields[k] = splitPaths(v)
	}
	for k, v := range o.Fields {
		if _, ok := DefaultFields[k]; !ok {
			return nil, core.FieldErrorf("fields."+k, "providers.vpos.fields: unknown field %q (known: %s)", k, strings.Join(sortedKeys(DefaultFields), ", "))
		}
		p.fields[k] = splitPaths(v)
	}
	for k, v := range DefaultStatuses {
		p.statuses[k] = core.Status(v)
	}
	for k, v := range o.Statuses {
		st := core.Status(strings.ToLower(strings.TrimSpace(v)))
		if st != "" && st != "ignore" && st != useStatus && (!st.Valid() || st == core.StatusManualReview) {
			return nil, core.FieldErrorf("statuses."+k, "providers.vpos.statuses: %q maps to %q, which is not pending, paid, failed, expired or refunded (or \"ignore\", or \"status\" to follow the status field)", k, v)
		}
		if st == "ignore" {
			st = ""
		}
		if st == core.StatusPartiallyRefunded {
			st = core.StatusRefunded // the refunded amount says partial or whole
		}
		p.statuses[strings.ToLower(strings.TrimSpace(k))] = st
	}
	if o.WebhookSecret != "" || o.PreviousWebhookSecret != "" {
		std, err := standardwebhooks.New(o.WebhookSecret, o.PreviousWebhookSecret)
		if err != nil {
			return nil, core.FieldErrorf("webhook_secret", "the VPOS.am webhook secret: %s", core.ErrorMessage(err))
		}
		if o.Tolerance > 0 {
			std.Tolerance = o.Tolerance
		}
		p.std = std
	}
	p.client = restclient.New(o.BaseURL, o.Timeout, o.HTTPClient)
	if o.APIToken != "" {
		// Set as a plain header: resty's SetAuthToken warns in logs over
		// http://, and the sandbox is http.
		p.client.SetHeader("Authorization", "Bearer "+o.APIToken)
	}
	return p, nil
}

// Name returns "vpos".
func (p *Provider) Name() string { return Name }

// Capabilities: sessions and lookups need an API token; webhooks are
// confirmed by a lookup unless that is turned off.
func (p *Provider) Capabilities() core.Capabilities {
	api := p.o.APIToken != ""
	return core.Capabilities{Title: "VPOS.am", CreatesLinks: api, LooksUp: api, ConfirmsByLookup: api && p.confirm}
}

// IdempotencyKey is the Idempotency-Key of an order's payment session. It is
// stable, so a retried create (after a lost answer) returns the same session.
func IdempotencyKey(o core.Order) string { return "order-" + o.ID + "-pay-attempt-1" }

func splitPaths(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}
