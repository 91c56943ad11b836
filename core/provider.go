package core

import (
	"context"
	"net/http"
	"net/url"
	"time"
)

// InboundRequest is a webhook or callback as received, before any trust.
type InboundRequest struct {
	Method     string
	Header     http.Header
	Query      url.Values
	Body       []byte
	ReceivedAt time.Time
}

// PaymentLink is what a provider hands back when asked to take a payment.
type PaymentLink struct {
	URL         string
	ProviderRef string
	// Note, when set, is added to the reason of the link's journal entry:
	// what the provider needed paysync to remember about the link and a
	// person may need to find the payment at the bank ("Ameriabank order
	// number 2350301").
	Note string
}

// Capabilities say what a provider can do beyond verifying inbound requests.
type Capabilities struct {
	// Title is how messages name the provider ("VPOS.am"); default its Name.
	Title string
	// WebhookMethods are the HTTP methods /webhooks/{name} accepts
	// (default POST).
	WebhookMethods []string
	// CreatesLinks: CreateLink registers orders and returns checkout URLs.
	CreatesLinks bool
	// LooksUp: Lookup answers where an order's payment stands.
	LooksUp bool
	// ConfirmsByLookup: a webhook moves an order only once a status lookup
	// confirms it (the webhook alone is journaled as unconfirmed).
	ConfirmsByLookup bool
	// NoWebhooks: the provider sends paysync no webhooks at all (Ameriabank
	// vPOS), so /webhooks/{name} answers 404 without reading the request;
	// only its return page, GET /webhooks/{name}/return, is served.
	NoWebhooks bool
	// ApprovesPayments: the provider waits for paysync's answer to each
	// payment and cancels the payment when paysync declines it (Idram). A
	// payment that would not settle its order cleanly (already paid,
	// expired, in review, another amount) is declined: journaled as
	// declined, the order unchanged, the buyer not charged.
	ApprovesPayments bool
	// RefundsByLookup: the provider never calls paysync (Ameriabank vPOS),
	// so refunds made in its back office are found only by asking: the
	// reconcile job also looks up paid and partly refunded orders.
	RefundsByLookup bool
}

// Provider is a payment provider adapter (providers/vpos, providers/arca, …).
type Provider interface {
	Name() string
	// Capabilities say which of Lookup and CreateLink work, and whether
	// webhooks are confirmed by a lookup before they move an order.
	Capabilities() Capabilities
	// Verify authenticates an inbound request and parses the events it carries.
	// A request that fails authentication returns an EUNAUTHORIZED error; one
	// that cannot be parsed returns EINVALID.
	Verify(ctx context.Context, req InboundRequest) ([]PaymentEvent, error)
	// Lookup asks the provider where an order's payment stands. The event it
	// returns is trusted (Verified) because paysync asked over an authenticated channel.
	Lookup(ctx context.Context, o Order) (PaymentEvent, error)
	// CreateLink registers the order with the provider and returns the checkout URL.
	CreateLink(ctx context.Context, o Order) (PaymentLink, error)
}

// EventPrecheck is the type of an event that asks, before any money moves,
// whether an order may be paid this amount (Idram's EDP_PRECHECK). Verify
// returns it with no Status; paysync answers it (see Precheck) and journals
// nothing, as nothing happened to the payment.
const EventPrecheck = "precheck"

// WebhookAnswer is what paysync made of one inbound request, for a provider
// that answers its sender in its own words (see Answerer).
type WebhookAnswer struct {
	// Taken: every event of the request is recorded, and every payment it
	// carried is accepted (or was, on an earlier delivery): the sender may
	// treat the request as delivered and the payment as complete.
	Taken bool
	// Verdicts are the verdicts of its events, in order.
	Verdicts []Verdict
	// Err is why the request was not taken: refused (EUNAUTHORIZED,
	// EINVALID, ETOOLARGE, ETOOMANY), declined, or not recorded
	// (EUNAVAILABLE); nil when Taken, or when an event was not taken for a
	// reason its verdict says.
	Err error
	// Reason says in a few words why not, when not Taken.
	Reason string
}

// Answerer is a Provider whose sender expects an answer of its own rather
// than paysync's JSON (Idram reads the body "OK"). Answer writes the whole
// answer, status included, for every request that reaches the provider's
// webhook: taken, refused, throttled or failed.
type Answerer interface {
	Answer(w http.ResponseWriter, a WebhookAnswer)
}

// ReturnReader is a Provider whose buyers come back to the return page
// with the order named in the provider's own parameters (Ameriabank adds
// orderID and opaque); without it the page reads order_id.
type ReturnReader interface {
	// ReturnOrderID names the order a return visit is about, "" when it
	// names none. The visit proves nothing: it only prompts a lookup.
	ReturnOrderID(q url.Values) string
}

// PageServer is a Provider that serves pages of its own to buyers (Idram's
// checkout form at /pay/{order_id}). Pages maps ServeMux patterns, method
// included ("GET /pay/{order_id}"), to their handlers; they are served
// without the admin token.
type PageServer interface {
	Pages() map[string]http.Handler
}

// OrderValidator is a Provider that cannot take some orders at all (Idram
// takes only AMD): ValidateOrder refuses such an order with an EINVALID
// error that says why, before anything is stored.
type OrderValidator interface {
	ValidateOrder(o Order) error
}

// HeaderVerifier is a Provider that can tell from a request's headers alone
// that it will not verify (unsigned, or with a stale timestamp). Such a
// request is refused without its body being read into memory: only its
// size, digest and first bytes are taken as it streams by.
type HeaderVerifier interface {
	// VerifyHeaders fails, with what Verify would say, when no body could
	// make the request verify; req carries no body.
	VerifyHeaders(req InboundRequest) error
}
