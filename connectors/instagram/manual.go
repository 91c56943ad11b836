package instagram

import (
	"context"
	"fmt"
	"strings"

	"github.com/paysync/paysync/core"
	"github.com/paysync/paysync/mapping"
)

// SendLink sends the order's payment message (its link, or for a failed
// payment the offer of a new one) to the customer now, for a person: the
// console's "Send link in Direct". Inside the 24-hour window it is an
// ordinary reply; after it, up to 7 days after the customer's last message,
// it goes with the HUMAN_AGENT tag when the account has Meta's Human Agent
// feature (connectors.instagram.human_agent); otherwise it is refused with
// the reason. form is the form's one-time token: submitting one form twice
// sends one message. What happened is journaled with who did it.
func (c *Connector) SendLink(ctx context.Context, orderID, who, form string) (core.DirectSend, error) {
	o, err := c.store.GetOrder(ctx, orderID)
	if err != nil {
		return core.DirectSend{}, err
	}
	if o.Status != core.StatusPending && o.Status != core.StatusFailed {
		return core.DirectSend{}, core.Errorf(core.ECONFLICT, "order %s is %s: there is no payment link to send", o.ID, o.Status)
	}
	if o.PaymentURL == "" {
		return core.DirectSend{}, core.Errorf(core.ECONFLICT, "order %s has no payment link yet", o.ID)
	}
	igsid := strings.TrimSpace(o.Customer.ID)
	if igsid == "" {
		return core.DirectSend{}, core.Errorf(core.EINVALID, "order %s has no customer.id (the customer's Instagram-scoped id): create the order from the customer's Direct conversation", o.ID)
	}
	conv, err := c.store.GetConversation(ctx, igsid)
	if core.ErrorCode(err) == core.ENOTFOUND {
		return core.DirectSend{}, core.Errorf(core.ECONFLICT, "paysync has had no Direct message from customer %s: Instagram lets a shop write only to someone who wrote first", igsid)
	}
	if err != nil {
		return core.DirectSend{}, err
	}
	now := c.now()
	tagged := false
	if !conv.WindowOpen(now) {
		switch {
		case conv.LastCustomerAt.IsZero() || now.After(conv.LastCustomerAt.Add(core.HumanAgentWindow)):
			return core.DirectSend{}, core.Errorf(core.ECONFLICT, "the customer last wrote more than 7 days ago: Instagram allows no message until they write again")
		case !c.cfg.HumanAgent:
			return core.DirectSend{}, core.Errorf(core.ECONFLICT, "the customer last wrote %s ago, outside Instagram's 24-hour window: a person may reply up to 7 days with the HUMAN_AGENT tag, "+
				"which needs Meta's Human Agent feature on the app and connectors.instagram.human_agent: true", since(now.Sub(conv.LastCustomerAt)))
		}
		tagged = true
	}
	m := c.cfg.Mappings.Get(Name)
	if m == nil {
		return core.DirectSend{}, core.Errorf(core.EUNAVAILABLE, "no instagram mapping is loaded: check mapping/instagram.yaml with `paysync config check`")
	}
	p, err := m.Render(mapping.Input{Order: o})
	if err != nil {
		return core.DirectSend{}, core.Errorf(core.EINVALID, "the instagram mapping cannot render order %s: %s", o.ID, err.Error())
	}
	lang := pickLanguage(conv.Language, c.cfg.DefaultLanguage, m.Languages())
	text := p.Messages[lang]
	if text == "" || len(text) > MaxText {
		return core.DirectSend{}, core.Errorf(core.EINVALID, "mapping/instagram.yaml gives %s orders no %s message of at most %d bytes", o.Status, lang, MaxText)
	}
	key := "manual-" + form
	if form == "" || len(form) > 64 {
		key = fmt.Sprintf("manual-%d", now.UnixNano())
	}
	rec, ver, err := c.sends.get(ctx, o.ID, key)
	if err != nil {
		return core.DirectSend{}, err
	}
	out := core.DirectSend{Language: lang, HumanAgent: tagged}
	switch rec.State {
	case stateSent:
		out.MID, out.Again = rec.MID, true
		return out, nil
	case stateSending:
		if mid, err := c.findSent(ctx, rec); err == nil && mid != "" {
			rec.State, rec.MID = stateSent, mid
			c.record(ctx, o.ID, key, rec, ver)
			out.MID, out.Again = mid, true
			return out, nil
		}
		return core.DirectSend{}, core.Errorf(core.EUNAVAILABLE, "the answer to this send was lost and the message is not in the thread yet: look at the conversation in Instagram before sending again (reload the page for a new form)")
	}
	rec = sendRecord{State: stateSending, IGSID: igsid, Digest: core.TextDigest(text), Started: now, Who: who}
	if tagged {
		rec.Tag = "HUMAN_AGENT"
	}
	mid, err := c.send(ctx, o.ID, key, rec, ver, text, tagged)
	entry := core.JournalEntry{OrderID: o.ID, Source: core.SourceManual, EventType: Name, StatusBefore: o.Status, StatusAfter: o.Status}
	if err != nil {
		entry.Verdict, entry.Reason = core.VerdictNotSent, "not sent in Direct by "+who+": "+err.Error()
		c.journal(ctx, entry)
		if s, ok := err.(skipErr); ok {
			return core.DirectSend{}, core.Errorf(core.ECONFLICT, "Instagram did not take it: %s", string(s))
		}
		return core.DirectSend{}, core.Errorf(core.EUNAVAILABLE, "%s", core.ClassifyDelivery(err).Reason)
	}
	entry.Verdict = core.VerdictMessageSent
	entry.Reason = fmt.Sprintf("payment link sent in Direct by %s (message %s, %s)", who, mid, lang)
	if tagged {
		entry.Reason += ", tagged HUMAN_AGENT"
	}
	c.journal(ctx, entry)
	out.MID = mid
	return out, nil
}

func (c *Connector) journal(ctx context.Context, e core.JournalEntry) {
	e.CreatedAt = c.now()
	if err := c.store.Apply(context.WithoutCancel(ctx), core.Change{Journal: &e}); err != nil {
		c.log.Error("could not journal a Direct message sent by hand", "order_id", e.OrderID, "err", err)
	}
}
