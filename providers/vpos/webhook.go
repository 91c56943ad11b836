package vpos

import (
	"context"
	"strconv"
	"strings"
	"time"

	"github.com/paysync/paysync/core"
)

// Verify authenticates a VPOS.am webhook (Standard Webhooks by default, with
// the configured header names) and parses the event it carries. The event is
// Verified but, unless ConfirmsByLookup is off, paysync only applies what a
// status lookup then says.
func (p *Provider) Verify(ctx context.Context, req core.InboundRequest) ([]core.PaymentEvent, error) {
	if p.std == nil {
		return nil, core.Errorf(core.EUNAUTHORIZED, "VPOS.am webhooks are refused: no webhook secret is configured; set PAYSYNC_VPOS_WEBHOOK_SECRET")
	}
	now := req.ReceivedAt
	if now.IsZero() {
		now = time.Now()
	}
	id := req.Header.Get(p.o.IDHeader)
	ts, err := p.std.Verify(id, req.Header.Get(p.o.TimestampHeader), req.Header.Get(p.o.SignatureHeader), req.Body, now)
	if err != nil {
		return nil, err
	}
	doc, err := decodeDoc(req.Body)
	if err != nil {
		return nil, core.Errorf(core.EINVALID, "VPOS.am webhook body is not JSON: %v", err)
	}
	if _, ok := doc.(map[string]any); !ok {
		return nil, core.Errorf(core.EINVALID, "VPOS.am webhook body is not a JSON object")
	}
	ev, err := p.event(doc, req.Body)
	if err != nil {
		return nil, err
	}
	ev.Source = core.SourceWebhook
	ev.Verified = true
	ev.EventID = id
	if len(p.fields["event_id"]) > 0 {
		ev.EventID = p.str(doc, "event_id")
		if ev.EventID == "" {
			return nil, core.Errorf(core.EINVALID, "VPOS.am webhook has no event id at %s (providers.vpos.fields.event_id)", strings.Join(p.fields["event_id"], " or "))
		}
	}
	if ev.OccurredAt.IsZero() {
		ev.OccurredAt, ev.Precision = ts, time.Second // the id header's timestamp is unix seconds
	}
	return []core.PaymentEvent{ev}, nil
}

var _ core.HeaderVerifier = (*Provider)(nil)

// VerifyHeaders refuses a webhook whose signature headers are missing or
// stale (or that no secret could verify), whatever its body.
func (p *Provider) VerifyHeaders(req core.InboundRequest) error {
	if p.std == nil {
		return core.Errorf(core.EUNAUTHORIZED, "VPOS.am webhooks are refused: no webhook secret is configured; set PAYSYNC_VPOS_WEBHOOK_SECRET")
	}
	now := req.ReceivedAt
	if now.IsZero() {
		now = time.Now()
	}
	_, err := p.std.CheckHeaders(req.Header.Get(p.o.IDHeader), req.Header.Get(p.o.TimestampHeader), req.Header.Get(p.o.SignatureHeader), now)
	return err
}

// status maps a VPOS.am status or event name; known is false for values
// the map does not name.
func (p *Provider) status(s string) (st core.Status, known bool) {
	st, known = p.statuses[strings.ToLower(strings.TrimSpace(s))]
	return st, known
}

// event reads the fields every answer and webhook share.
func (p *Provider) event(doc any, raw []byte) (core.PaymentEvent, error) {
	ev := core.PaymentEvent{Provider: Name, Payload: raw}
	// An event names what happened; a status says where the session stands.
	// A known event type decides; an unknown one is ignored (journaled, no
	// move), unless mapped to "status", which defers to the status field.
	// Without an event type (status lookups), the status field decides.
	ev.Type = p.str(doc, "event_type")
	rawStatus := p.str(doc, "status")
	if ev.Type == "" {
		ev.Type = rawStatus
		ev.Status, _ = p.status(rawStatus)
	} else if st, known := p.status(ev.Type); known && st != useStatus {
		ev.Status = st
	} else if known {
		ev.Status, _ = p.status(rawStatus)
	}
	if ev.Status == useStatus {
		ev.Status = "" // "status" only makes sense for event types
	}
	ev.OrderID = p.str(doc, "order_id")
	ev.ProviderRef = p.str(doc, "provider_ref")
	amount, hasAmount, err := p.int(doc, "amount_minor")
	if err != nil {
		return ev, err
	}
	refunded, hasRefunded, err := p.int(doc, "refunded_minor")
	if err != nil {
		return ev, err
	}
	ev.AmountMinor = amount
	ev.Currency = strings.ToUpper(p.str(doc, "currency"))
	if hasAmount || ev.Currency != "" {
		if err := core.ValidateMoney(ev.AmountMinor, ev.Currency); err != nil {
			return ev, err
		}
	}
	// VPOS.am reports the session's refunded total (refundedAmountMinor), so a
	// refund repeated under a new event id cannot count twice; without it the
	// session's amount is taken as refunded.
	if ev.Status == core.StatusRefunded {
		ev.RefundedMinor = amount
		if hasRefunded {
			if refunded < 0 || refunded > core.MaxAmountMinor {
				return ev, core.Errorf(core.EINVALID, "refunded amount %d is out of range", refunded)
			}
			ev.RefundedMinor = refunded
		}
	}
	ev.OccurredAt, ev.Precision = parseTime(p.str(doc, "occurred_at"))
	if ev.Status != "" && ev.Status != core.StatusPending {
		if err := core.ValidateOrderID(ev.OrderID); err != nil {
			return ev, core.Errorf(core.EINVALID, "VPOS.am event %q names no usable order at %s: %s (set providers.vpos.fields.order_id)",
				ev.Type, strings.Join(p.fields["order_id"], " or "), core.ErrorMessage(err))
		}
	}
	return ev, nil
}

// parseTime reads RFC 3339 or unix seconds/milliseconds, with the precision
// it was stated in (see core.EventTime); zero when neither.
func parseTime(s string) (time.Time, time.Duration) {
	if s == "" {
		return time.Time{}, 0
	}
	if t, err := core.ParseEventTime(s); err == nil {
		return t.At, t.Precision
	}
	if n, err := strconv.ParseInt(s, 10, 64); err == nil && n > 0 {
		if n > 1e12 {
			return time.UnixMilli(n).UTC(), time.Millisecond
		}
		return time.Unix(n, 0).UTC(), time.Second
	}
	return time.Time{}, 0
}
