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

// HeaderVerifier is a Provider that can tell from a request's headers alone
// that it will not verify (unsigned, or with a stale timestamp). Such a
// request is refused without its body being read into memory: only its
// size, digest and first bytes are taken as it streams by.
type HeaderVerifier interface {
	// VerifyHeaders fails, with what Verify would say, when no body could
	// make the request verify; req carries no body.
	VerifyHeaders(req InboundRequest) error
}
