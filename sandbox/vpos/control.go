package vpos

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/paysync/paysync/sandbox/internal/outbound"
)

// Pay marks the order's latest session paid and sends payment.succeeded.
func (s *Server) Pay(orderID string) error { return s.orderTransition(orderID, StatusPaid, 0) }

// PayWith marks the order's latest session paid as if the buyer had paid
// amountMinor in currency (the session then reports that money), and sends
// payment.succeeded: a test of what paysync does with a payment that does
// not match its order.
func (s *Server) PayWith(orderID string, amountMinor int64, currency string) error {
	s.mu.Lock()
	id, ok := s.byOrder[orderID]
	if ok {
		ss := s.sessions[id]
		ss.AmountMinor, ss.Currency = amountMinor, currency
	}
	s.mu.Unlock()
	if !ok {
		return fmt.Errorf("no session for order %s", orderID)
	}
	return s.transition(id, StatusPaid, 0)
}

// Fail declines the order's latest session and sends payment.failed.
func (s *Server) Fail(orderID string) error { return s.orderTransition(orderID, StatusFailed, 0) }

// Expire expires the order's latest session and sends payment.expired.
func (s *Server) Expire(orderID string) error { return s.orderTransition(orderID, StatusExpired, 0) }

// Refund refunds amountMinor of a paid session (0: all that is left) and
// sends payment.refunded; the session is partially_refunded until all is back.
func (s *Server) Refund(orderID string, amountMinor int64) error {
	return s.orderTransition(orderID, StatusRefunded, amountMinor)
}

// SendEvent sends a webhook of any type about the order's latest session,
// without changing it (e.g. an event type paysync does not know).
func (s *Server) SendEvent(orderID, eventType string) error {
	s.mu.Lock()
	id, ok := s.byOrder[orderID]
	if !ok {
		s.mu.Unlock()
		return fmt.Errorf("no session for order %s", orderID)
	}
	snap := *s.sessions[id]
	s.mu.Unlock()
	s.emit(eventType, snap)
	return nil
}

func (s *Server) orderTransition(orderID, to string, amount int64) error {
	s.mu.Lock()
	id, ok := s.byOrder[orderID]
	s.mu.Unlock()
	if !ok {
		return fmt.Errorf("no session for order %s", orderID)
	}
	return s.transition(id, to, amount)
}

func (s *Server) transition(id, to string, amount int64) error {
	s.mu.Lock()
	ss, ok := s.sessions[id]
	if !ok {
		s.mu.Unlock()
		return fmt.Errorf("no session %s", id)
	}
	var typ string
	switch to {
	case StatusPaid:
		if ss.Status != StatusPending && ss.Status != StatusFailed {
			s.mu.Unlock()
			return fmt.Errorf("session %s is %s and cannot be paid", id, ss.Status)
		}
		typ = "payment.succeeded"
	case StatusFailed, StatusExpired:
		if ss.Status != StatusPending {
			s.mu.Unlock()
			return fmt.Errorf("session %s is %s, not pending", id, ss.Status)
		}
		typ = "payment." + to
	case StatusRefunded:
		if ss.Status != StatusPaid && ss.Status != StatusPartiallyRefunded {
			s.mu.Unlock()
			return fmt.Errorf("session %s is %s; only paid sessions can be refunded", id, ss.Status)
		}
		left := ss.AmountMinor - ss.RefundedAmountMinor
		if amount <= 0 {
			amount = left
		}
		if amount > left {
			s.mu.Unlock()
			return fmt.Errorf("refund of %d exceeds the %d left on session %s", amount, left, id)
		}
		ss.RefundedAmountMinor += amount
		if ss.RefundedAmountMinor < ss.AmountMinor {
			to = StatusPartiallyRefunded
		}
		typ = "payment.refunded"
	default:
		s.mu.Unlock()
		return fmt.Errorf("unknown status %s", to)
	}
	ss.Status = to
	ss.UpdatedAt = s.now().UTC()
	snap := *ss
	s.mu.Unlock()
	s.emit(typ, snap)
	return nil
}

// webhookEvent is the body of a sandbox webhook.
type webhookEvent struct {
	ID        string    `json:"id"`
	Type      string    `json:"type"`
	CreatedAt time.Time `json:"createdAt"`
	Data      Session   `json:"data"`
}

func (s *Server) emit(typ string, ss Session) {
	ev := webhookEvent{ID: newID("evt_"), Type: typ, CreatedAt: s.now().UTC(), Data: ss}
	body, _ := json.Marshal(ev)
	s.out.Enqueue(outbound.Message{ID: ev.ID, Type: typ, Request: s.webhookRequest(ev.ID, body)})
}

// FailNext makes the next n API requests (after auth) answer status without
// doing anything: 500/502/503 for outages, 403 for an untrusted origin, 429
// (with Retry-After: 1) for rate limiting.
func (s *Server) FailNext(n, status int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := 0; i < n; i++ {
		s.faults = append(s.faults, fault{status: status})
	}
}

// HangNext makes the next n API requests hang until the client gives up.
func (s *Server) HangNext(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := 0; i < n; i++ {
		s.faults = append(s.faults, fault{hang: true})
	}
}

// DropWebhooks silently drops the next n webhooks.
func (s *Server) DropWebhooks(n int) { s.out.Drop(n) }

// DuplicateWebhooks delivers each of the next n webhooks copies times, concurrently.
func (s *Server) DuplicateWebhooks(n, copies int) { s.out.Duplicate(n, copies) }

// HoldWebhooks keeps webhooks back until ReleaseWebhooks.
func (s *Server) HoldWebhooks() { s.out.Hold() }

// ReleaseWebhooks sends the held webhooks one after another, newest first
// when reverse is set (out-of-order delivery).
func (s *Server) ReleaseWebhooks(reverse bool) { s.out.Release(reverse) }
