package instagram

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/paysync/paysync/connectors"
	"github.com/paysync/paysync/core"
	"github.com/paysync/paysync/mapping"
)

// Config configures a Connector.
type Config struct {
	Client *Client
	// Store keeps the conversations (core.Conversations) and the send log
	// (connector state); required by serve. Nil only under `config check`.
	Store    core.Store
	Mappings connectors.Mappings
	// DefaultLanguage is the language of a customer whose messages told
	// none (default the mapping's first).
	DefaultLanguage string
	// HumanAgent: the account has Meta's Human Agent feature, so a person's
	// "Send link in Direct" may go up to 7 days after the customer's last
	// message, tagged HUMAN_AGENT. Automatic messages never use it.
	HumanAgent bool
	// UncertainWait: see DefaultUncertainWait.
	UncertainWait time.Duration
	// Webhooks: the secrets a signature may be made with (the app secret,
	// and another where Meta signs with it), and the verify token.
	AppSecrets  []string
	VerifyToken string
	// Retention is how long conversations and message ids are kept.
	Retention time.Duration
	Logger    *slog.Logger
	Now       func() time.Time
	tokens    *tokenSource // renewed by the token job; nil: the token is fixed
}

// Connector sends each order change's message into the customer's Direct
// thread, and hears the thread through Instagram's webhooks.
type Connector struct {
	cfg     Config
	client  *Client
	store   core.Store
	log     *slog.Logger
	sends   sendLog
	now     func() time.Time
	lookups chan string // IGSIDs whose username to ask for
}

var (
	_ core.Connector       = (*Connector)(nil)
	_ connectors.Receiver  = (*Connector)(nil)
	_ connectors.Scheduled = (*Connector)(nil)
	_ connectors.Runner    = (*Connector)(nil)
)

// NewConnector returns a Connector.
func NewConnector(cfg Config) (*Connector, error) {
	if cfg.Client == nil || cfg.Mappings == nil {
		return nil, core.Errorf(core.EINVALID, "instagram: a connector needs a client and the mappings")
	}
	if cfg.UncertainWait <= 0 {
		cfg.UncertainWait = DefaultUncertainWait
	}
	if cfg.Retention <= 0 {
		cfg.Retention = DefaultRetention
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	c := &Connector{cfg: cfg, client: cfg.Client, store: cfg.Store, log: cfg.Logger.With("connector", Name), now: cfg.Now,
		lookups: make(chan string, 256)}
	if cfg.Store != nil {
		c.sends = stateLog{s: cfg.Store}
	} else {
		c.sends = newMemoryLog()
	}
	return c, nil
}

func (c *Connector) Name() string { return Name }

// MaxBatch: one message is one request; a batch is sent in turn.
func (c *Connector) MaxBatch() int { return 20 }

// Deliver sends, for each order, the message of its current status, at
// most once per change. An error that is the account's (its token, its
// permissions, the rate limit) answers the rest of the batch without
// calling Instagram again.
func (c *Connector) Deliver(ctx context.Context, batch []core.Delivery) []core.DeliveryResult {
	out := make([]core.DeliveryResult, len(batch))
	m := c.cfg.Mappings.Get(Name)
	if m == nil {
		return connectors.Refuse(len(batch), connectors.ErrNoMapping(Name))
	}
	var stop error
	for i, d := range batch {
		if stop != nil {
			out[i].Err = stop
			continue
		}
		out[i] = c.deliver(ctx, m, d)
		if de := core.ClassifyDelivery(out[i].Err); out[i].Err != nil && (de.SlowDown || de.Class == core.NeedsReauth || de.Class == core.Paused) {
			stop = out[i].Err
		}
		if ctx.Err() != nil && i+1 < len(batch) {
			stop = &core.DeliveryError{Class: core.Retryable, Reason: "the delivery ran out of time before this order's turn"}
		}
	}
	return out
}

// changeKey names the change an order's message tells: its status as the
// order entered it (a status entered again, a payment settled by a person
// after a review, is a new change), the link of a pending order (a renewed
// link is a new change), the refunds so far of a partial refund (each
// further refund is one).
func changeKey(o core.Order) string {
	entered := strconv.FormatInt(o.StatusChangedAt.UnixMicro(), 10)
	switch o.Status {
	case core.StatusPending:
		h := sha256.Sum256([]byte(o.PaymentURL))
		return "pending-" + hex.EncodeToString(h[:6])
	case core.StatusPartiallyRefunded:
		return "partially_refunded-" + strconv.FormatInt(o.RefundedMinor, 10) + "-" + entered
	}
	return string(o.Status) + "-" + entered
}

// deliver is one order: render its status's message, then send it unless
// it went already, nothing may go (a skip), or a send of it is uncertain.
func (c *Connector) deliver(ctx context.Context, m *mapping.Mapping, d core.Delivery) core.DeliveryResult {
	o := d.Order
	prev := ""
	if d.Link != nil {
		prev = d.Link.ExternalID
	}
	done := func(mid string) core.DeliveryResult {
		if mid == "" {
			mid = prev
		}
		return core.DeliveryResult{ExternalID: mid}
	}
	p, err := m.Render(mapping.Input{Order: o, Transitions: d.Transitions})
	if err != nil {
		return core.DeliveryResult{Err: connectors.ErrRender(Name, o.ID, err)}
	}
	if p.Messages == nil || o.Status == core.StatusPending && o.PaymentURL == "" {
		// Nothing to tell (manual_review), or not yet: the link comes
		// with a later change of the order.
		return done("")
	}
	key := changeKey(o)
	rec, ver, err := c.sends.get(ctx, o.ID, key)
	if err != nil {
		return core.DeliveryResult{Err: &core.DeliveryError{Class: core.Retryable, Reason: "could not read the Direct send log; will retry", Err: err}}
	}
	if rec.State == stateSent {
		return done(rec.MID) // sent before: the acknowledgement was lost
	}
	igsid := strings.TrimSpace(o.Customer.ID)
	if igsid == "" {
		// Not a Direct order (a website's, say): said once per order, not
		// at every change.
		return c.skipOnce(ctx, o, "no-customer-id", prev, "the order has no customer.id, the customer's Instagram-scoped id (IGSID): "+
			"orders created from a Direct conversation (the console's Direct page, or a chatbot passing the sender's id) carry it")
	}
	conv, err := c.store.GetConversation(ctx, igsid)
	switch {
	case core.ErrorCode(err) == core.ENOTFOUND && rec.State != stateSending:
		return c.skipOnce(ctx, o, "no-conversation-"+igsid, prev, "paysync has had no Direct message from customer "+igsid+
			", and Instagram lets a shop write only to someone who wrote in the last 24 hours")
	case core.ErrorCode(err) == core.ENOTFOUND:
		// Purged while a send was uncertain: look in the thread anyway.
		conv = core.Conversation{IGSID: igsid}
	case err != nil:
		return core.DeliveryResult{Err: &core.DeliveryError{Class: core.Retryable, Reason: "could not read the customer's conversation; will retry", Err: err}}
	}
	now := c.now()
	if rec.State == stateSending {
		// A send began and its outcome is unknown: is it in the thread?
		mid, err := c.findSent(ctx, rec)
		if err != nil {
			return core.DeliveryResult{Err: readError("looking in the thread for a send whose answer was lost", err)}
		}
		if mid != "" {
			rec.State, rec.MID = stateSent, mid
			c.record(ctx, o.ID, key, rec, ver)
			c.log.Info("a send whose answer was lost is in the thread; not sending it again", "order_id", o.ID, "mid", mid)
			return done(mid)
		}
		if wait := rec.Started.Add(c.cfg.UncertainWait).Sub(now); wait > 0 {
			return core.DeliveryResult{Err: &core.DeliveryError{Class: core.Retryable, RetryAfter: wait,
				Reason: fmt.Sprintf("a send of this message at %s may have gone through; paysync looks for it in the thread again before it sends it",
					rec.Started.UTC().Format("15:04:05 UTC"))}}
		}
		c.log.Info("a send whose answer was lost is not in the thread; sending it again", "order_id", o.ID, "started", rec.Started)
		rec.State = "" // it did not go: from here on, a send like any other
	}
	if !conv.WindowOpen(now) {
		return c.skip(ctx, o, key, rec, ver, prev, c.windowReason(conv, now))
	}
	lang := pickLanguage(conv.Language, c.cfg.DefaultLanguage, m.Languages())
	text := p.Messages[lang]
	if text == "" {
		return done("")
	}
	if len(text) > MaxText {
		return core.DeliveryResult{Err: &core.DeliveryError{Class: core.Permanent, Reason: fmt.Sprintf(
			"the %s message for order %s is %d bytes; Instagram takes at most %d: shorten statuses.%s.message.%s in mapping/instagram.yaml",
			lang, o.ID, len(text), MaxText, o.Status, lang)}}
	}
	mid, err := c.send(ctx, o.ID, key, sendRecord{State: stateSending, IGSID: igsid, Digest: core.TextDigest(text), Started: now}, ver, text, false)
	if err == nil {
		return done(mid)
	}
	if s, ok := err.(skipErr); ok {
		return core.DeliveryResult{ExternalID: prev, Skipped: "not sent in Direct: " + string(s)}
	}
	return core.DeliveryResult{Err: err}
}

// skipErr is a send a rule refused: the reason, recorded and journaled.
type skipErr string

func (e skipErr) Error() string { return string(e) }

// send records the attempt, sends, and records what came of it. It returns
// the message id, a skipErr for a send a rule refused, or a classified
// error; a send whose outcome is unknown stays "sending", so that the next
// attempt looks for it in the thread first.
func (c *Connector) send(ctx context.Context, orderID, key string, rec sendRecord, ver int64, text string, humanAgent bool) (string, error) {
	ver, err := c.sends.put(ctx, orderID, key, rec, ver)
	if err != nil {
		if core.ErrorCode(err) == core.ESTALE {
			return "", &core.DeliveryError{Class: core.Retryable, Reason: "another send of this message is under way; paysync checks again shortly"}
		}
		return "", &core.DeliveryError{Class: core.Retryable, Reason: "could not record the send before making it; nothing was sent, will retry", Err: err}
	}
	mid, err := c.client.Send(ctx, rec.IGSID, text, humanAgent)
	if err == nil {
		rec.State, rec.MID = stateSent, mid
		c.record(ctx, orderID, key, rec, ver)
		return mid, nil
	}
	kind, de, why := judge(err)
	switch kind {
	case refused:
		rec.State, rec.Reason = stateSkipped, why
		c.record(ctx, orderID, key, rec, ver)
		return "", skipErr(why)
	case notSent:
		rec.State = "" // Instagram answered: nothing went out, nothing to look for
		c.record(ctx, orderID, key, rec, ver)
	}
	return "", de
}

// record writes what came of a send. A failure is logged, not returned:
// the message's fate does not change, and a record left "sending" only
// makes the next attempt look in the thread first.
func (c *Connector) record(ctx context.Context, orderID, key string, rec sendRecord, ver int64) {
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if _, err := c.sends.put(sctx, orderID, key, rec, ver); err != nil {
		c.log.Warn("could not record the outcome of a Direct send; the next delivery of the order looks in the thread first",
			"order_id", orderID, "state", rec.State, "err", err)
	}
}

// skip records that nothing is sent for this change, and why, for the
// journal. A change skipped before is skipped silently: its reason is in
// the journal already.
func (c *Connector) skip(ctx context.Context, o core.Order, key string, rec sendRecord, ver int64, prev, why string) core.DeliveryResult {
	if rec.State == stateSkipped {
		return core.DeliveryResult{ExternalID: prev}
	}
	if rec.State == stateSending {
		// A send that began may have gone through; the thread is not
		// readable now, so do not tell the journal nothing went.
		return core.DeliveryResult{Err: &core.DeliveryError{Class: core.Retryable, Reason: "a send of this message may have gone through; " + why}}
	}
	rec.State, rec.Reason = stateSkipped, why
	if _, err := c.sends.put(ctx, o.ID, key, rec, ver); err != nil {
		return core.DeliveryResult{Err: &core.DeliveryError{Class: core.Retryable, Reason: "could not record why nothing is sent; will retry", Err: err}}
	}
	return core.DeliveryResult{ExternalID: prev, Skipped: "not sent in Direct: " + why}
}

// skipOnce skips for a reason that is the order's, not the change's (no
// customer id, no conversation): journaled at the first change it stops,
// silent at the next ones.
func (c *Connector) skipOnce(ctx context.Context, o core.Order, key, prev, why string) core.DeliveryResult {
	rec, ver, err := c.sends.get(ctx, o.ID, key)
	if err != nil {
		return core.DeliveryResult{Err: &core.DeliveryError{Class: core.Retryable, Reason: "could not read the Direct send log; will retry", Err: err}}
	}
	return c.skip(ctx, o, key, rec, ver, prev, why)
}

// windowReason says why the window rule stops a message, and what a
// person can still do.
func (c *Connector) windowReason(conv core.Conversation, now time.Time) string {
	who := "the customer"
	if conv.Username != "" {
		who = "@" + conv.Username
	}
	if conv.LastCustomerAt.IsZero() {
		return who + " has not written to the shop, and Instagram lets a shop write only to someone who wrote in the last 24 hours"
	}
	why := fmt.Sprintf("%s last wrote %s ago (%s), outside Instagram's 24-hour messaging window, so nothing is sent automatically",
		who, since(now.Sub(conv.LastCustomerAt)), conv.LastCustomerAt.UTC().Format("2006-01-02 15:04 UTC"))
	if until := conv.LastCustomerAt.Add(core.HumanAgentWindow); c.cfg.HumanAgent && now.Before(until) {
		return why + fmt.Sprintf("; a manager can still send it from the order's page until %s (HUMAN_AGENT)", until.UTC().Format("2006-01-02 15:04 UTC"))
	}
	return why + "; once the customer writes again, a manager can send it from the order's page"
}

// findSent looks for the message of an uncertain send: among the echoes
// paysync recorded, then in the thread through the Conversations API.
func (c *Connector) findSent(ctx context.Context, rec sendRecord) (string, error) {
	since := rec.Started.Add(-2 * time.Minute) // clocks differ
	mid, err := c.store.FindEcho(ctx, rec.IGSID, rec.Digest, since)
	switch {
	case err == nil:
		return mid, nil
	case core.ErrorCode(err) != core.ENOTFOUND:
		return "", err
	}
	mid, err = c.client.FindSent(ctx, rec.IGSID, rec.Digest, since, core.TextDigest)
	var ae *APIError
	if errors.As(err, &ae) && !ae.uncertain() && !ae.rateLimited() && ae.Code != codeToken {
		// The token may not read the thread (no Conversations API for it):
		// the recorded echoes are all there is to go by, and the wait.
		c.log.Warn("cannot read the Direct thread to look for a send whose answer was lost; going by the echoes only",
			"reason", ae.Error())
		return "", nil
	}
	return mid, err
}

// since says how long ago, as people say it: 30h, 3 days.
func since(d time.Duration) string {
	if h := int(d.Round(time.Hour).Hours()); h < 72 {
		return strconv.Itoa(h) + "h"
	}
	return strconv.Itoa(int(d.Hours()/24)) + " days"
}
