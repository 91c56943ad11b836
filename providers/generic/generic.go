// Package generic accepts normalized payment events from any trusted backend,
// signed the Standard Webhooks way, at POST /webhooks/generic.
//
// The body is
//
//	{"event_id","order_id","status","amount_minor","currency","provider_ref","occurred_at"}
//
// with an optional "refunded_minor" for refunds: the total refunded so far;
// without it, a refund's amount_minor is the amount of that one refund. The sender creates orders
// and payment links itself, so Lookup and CreateLink are unsupported.
package generic

import (
	"context"
	"encoding/json"
	"strings"
	"time"

	"github.com/paysync/paysync/core"
	"github.com/paysync/paysync/internal/standardwebhooks"
)

// Name is the provider name in orders, journal entries and the webhook path.
const Name = "generic"

// Options configure the adapter.
type Options struct {
	// Secret is the current whsec_ secret; PreviousSecret, when set, is
	// accepted too while senders move to the new one.
	Secret         string
	PreviousSecret string
	// Tolerance bounds the webhook-timestamp skew (default 5 minutes).
	Tolerance time.Duration
	// Title names these payments for people ("Bank transfer"); default "Generic".
	Title string
}

// Provider is the generic adapter; it implements core.Provider.
type Provider struct {
	std   *standardwebhooks.Verifier
	title string
}

var _ core.Provider = (*Provider)(nil)

// New checks the secrets and returns the adapter.
func New(o Options) (*Provider, error) {
	std, err := standardwebhooks.New(o.Secret, o.PreviousSecret)
	if err != nil {
		return nil, core.FieldErrorf("webhook_secret", "generic webhooks: %s: set PAYSYNC_GENERIC_WEBHOOK_SECRET to a whsec_ secret", core.ErrorMessage(err))
	}
	if o.Tolerance > 0 {
		std.Tolerance = o.Tolerance
	}
	title := o.Title
	if title == "" {
		title = "Generic"
	}
	return &Provider{std: std, title: title}, nil
}

// Name returns "generic".
func (p *Provider) Name() string { return Name }

// Capabilities: the generic adapter only receives events; it cannot create
// links or look payments up.
func (p *Provider) Capabilities() core.Capabilities { return core.Capabilities{Title: p.title} }

// Event is the body of a generic webhook.
type Event struct {
	EventID       string `json:"event_id"`
	OrderID       string `json:"order_id"`
	Status        string `json:"status"`
	AmountMinor   *int64 `json:"amount_minor"`
	Currency      string `json:"currency"`
	RefundedMinor *int64 `json:"refunded_minor,omitempty"`
	ProviderRef   string `json:"provider_ref,omitempty"`
	OccurredAt    string `json:"occurred_at,omitempty"`
}

// statuses maps the statuses a sender may send onto paysync's. Anything
// else is an event type that does not move a payment: journaled as ignored.
var statuses = map[string]core.Status{
	"paid":     core.StatusPaid,
	"failed":   core.StatusFailed,
	"refunded": core.StatusRefunded,
	"expired":  core.StatusExpired,
	"pending":  core.StatusPending,
}

var _ core.HeaderVerifier = (*Provider)(nil)

// VerifyHeaders refuses a request whose Standard Webhooks headers are
// missing or stale, whatever its body.
func (p *Provider) VerifyHeaders(req core.InboundRequest) error {
	now := req.ReceivedAt
	if now.IsZero() {
		now = time.Now()
	}
	_, err := p.std.CheckHeaders(req.Header.Get(standardwebhooks.HeaderID), req.Header.Get(standardwebhooks.HeaderTimestamp), req.Header.Get(standardwebhooks.HeaderSignature), now)
	return err
}

// Verify authenticates the request with Standard Webhooks and parses its one
// event. Bad or missing signatures and stale timestamps are EUNAUTHORIZED;
// a body that is not a valid event is EINVALID.
func (p *Provider) Verify(ctx context.Context, req core.InboundRequest) ([]core.PaymentEvent, error) {
	now := req.ReceivedAt
	if now.IsZero() {
		now = time.Now()
	}
	ts, err := p.std.Verify(req.Header.Get(standardwebhooks.HeaderID), req.Header.Get(standardwebhooks.HeaderTimestamp), req.Header.Get(standardwebhooks.HeaderSignature), req.Body, now)
	if err != nil {
		return nil, err
	}
	ev, err := Parse(req.Body)
	if err != nil {
		return nil, err
	}
	ev.Verified = true
	if ev.EventID == "" {
		ev.EventID = req.Header.Get(standardwebhooks.HeaderID) // webhook-id is the sender's idempotency key
	}
	if ev.OccurredAt.IsZero() {
		ev.OccurredAt, ev.Precision = ts, time.Second // webhook-timestamp is unix seconds
	}
	return []core.PaymentEvent{ev}, nil
}

// Parse reads a generic event body. It checks money and ids but not the
// signature: call it only on authenticated bodies (Verify does).
func Parse(body []byte) (core.PaymentEvent, error) {
	var in Event
	if err := json.Unmarshal(body, &in); err != nil {
		return core.PaymentEvent{}, core.Errorf(core.EINVALID, "body is not a generic payment event: %v", err)
	}
	ev := core.PaymentEvent{Provider: Name, Source: core.SourceWebhook, EventID: in.EventID, OrderID: in.OrderID,
		ProviderRef: in.ProviderRef, Type: in.Status, Payload: body}
	if err := core.ValidateOrderID(in.OrderID); err != nil {
		return ev, err
	}
	ev.Status = statuses[strings.ToLower(strings.TrimSpace(in.Status))]
	if in.Status == "" {
		return ev, core.Errorf(core.EINVALID, "status is required (paid, failed, refunded, expired or pending)")
	}
	if in.AmountMinor == nil || in.Currency == "" {
		if ev.Status == core.StatusPaid || ev.Status == core.StatusRefunded {
			return ev, core.Errorf(core.EINVALID, "amount_minor and currency are required for a %s event", ev.Status)
		}
	}
	if in.AmountMinor != nil {
		ev.AmountMinor = *in.AmountMinor
	}
	if in.Currency != "" || in.AmountMinor != nil {
		ev.Currency = strings.ToUpper(in.Currency)
		if err := core.ValidateMoney(ev.AmountMinor, ev.Currency); err != nil {
			return ev, err
		}
	}
	if ev.Status == core.StatusRefunded {
		// refunded_minor is the running total refunded so far; without it,
		// amount_minor is the amount of this one refund.
		if in.RefundedMinor != nil {
			ev.RefundedMinor = *in.RefundedMinor
			if err := core.ValidateMoney(ev.RefundedMinor, ev.Currency); err != nil {
				return ev, core.Errorf(core.EINVALID, "refunded_minor: %s", core.ErrorMessage(err))
			}
			if ev.RefundedMinor == 0 {
				return ev, core.Errorf(core.EINVALID, "refunded_minor must be greater than zero for a refund (the total refunded so far)")
			}
		} else {
			ev.RefundMinor = ev.AmountMinor
			if ev.RefundMinor == 0 {
				return ev, core.Errorf(core.EINVALID, "amount_minor must be greater than zero for a refund without refunded_minor (the amount of this refund)")
			}
		}
	}
	if in.OccurredAt != "" {
		t, err := core.ParseEventTime(in.OccurredAt)
		if err != nil {
			return ev, core.Errorf(core.EINVALID, "occurred_at %q is not an RFC 3339 time such as 2024-05-01T12:00:00Z", truncate(in.OccurredAt, 40))
		}
		ev.OccurredAt, ev.Precision = t.At, t.Precision
	}
	return ev, nil
}

// ErrUnsupported is returned by Lookup and CreateLink.
var ErrUnsupported = core.Errorf(core.EINVALID, "the generic provider only receives signed events: it cannot create payment links or look payments up; create the link in the sending system")

// Lookup is not supported: the sender is the source of truth.
func (p *Provider) Lookup(ctx context.Context, o core.Order) (core.PaymentEvent, error) {
	return core.PaymentEvent{}, ErrUnsupported
}

// CreateLink is not supported: the sender creates its own links.
func (p *Provider) CreateLink(ctx context.Context, o core.Order) (core.PaymentLink, error) {
	return core.PaymentLink{}, ErrUnsupported
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}
