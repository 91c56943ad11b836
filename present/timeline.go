package present

import (
	"strings"
	"time"

	"github.com/paysync/paysync/core"
)

// Step is one journal entry told in plain words.
type Step struct {
	EntryID int64
	At      time.Time
	When    string
	// What arrived or happened: "Webhook from VPOS.am (payment.succeeded)".
	What string
	// Verdict is how paysync judged it, in words; Why explains the verdict.
	Verdict string
	Why     string
	// Detail is the journal's own reason, as recorded (the system's words,
	// and for a person's decision who decided and their note).
	Detail string
	// Change is "Awaiting payment → Paid", or the status the order kept.
	Change  string
	Moved   bool
	Amount  string
	Refund  string // "Refunded 5,000 ֏; 10,000 ֏ of 15,000 ֏ left"
	Tone    string // good, info, warn or bad
	Payload bool   // the entry kept the raw request
}

// Timeline tells an order's journal entries, oldest first. providerTitle
// names a provider ("vpos" -> "VPOS.am"); nil prints names as they are.
func (p Printer) Timeline(o core.Order, entries []core.JournalEntry, providerTitle func(string) string) []Step {
	title := func(name string) string {
		if providerTitle != nil {
			if t := providerTitle(name); t != "" {
				return t
			}
		}
		if name == "" {
			return p.T("what.unknown_provider")
		}
		return name
	}
	var refunded int64
	out := make([]Step, 0, len(entries))
	for _, e := range entries {
		s := Step{EntryID: e.ID, At: e.CreatedAt, When: p.TimeExact(e.CreatedAt), Verdict: p.Verdict(e.Verdict),
			Payload: len(e.Payload) > 0, Tone: verdictTone(e.Verdict)}
		if e.Source == core.SourceManual {
			// Who decided, told in the page's language, and their note as
			// they wrote it; the system's reasons are told by Why instead.
			s.Detail = p.manualDetail(e)
		}
		switch {
		case e.Verdict == core.VerdictCreated:
			s.What = p.T("what.created")
		case e.Verdict == core.VerdictLinkCreated:
			s.What = p.T("what.link", title(e.Provider))
		case e.Source == core.SourceWebhook:
			s.What = p.T("what.webhook", title(e.Provider))
		case e.Source == core.SourceLookup:
			s.What = p.T("what.lookup", title(e.Provider))
		case e.Verdict == core.VerdictNewLink:
			s.What = p.T("what.new_link")
		case e.Source == core.SourceManual:
			s.What = p.T("what.manual")
		case e.Source == core.SourceScheduler:
			s.What = p.T("what.scheduler")
		case e.Verdict == core.VerdictNotSent || e.Verdict == core.VerdictMessageSent:
			s.What = p.T("what.not_sent", title(e.EventType)) // a channel, not a CRM: Instagram
		case e.Source == core.SourceConnector:
			s.What = p.T("what.connector", title(e.EventType)) // EventType names the connector
		default:
			s.What = p.T("what.api")
		}

		refund := (e.StatusAfter == core.StatusRefunded || e.StatusAfter == core.StatusPartiallyRefunded) &&
			(e.Verdict == core.VerdictAccepted || e.Verdict == core.VerdictOrphan) && e.AmountMinor > 0
		switch {
		case refund:
			this := e.AmountMinor - refunded
			refunded = e.AmountMinor
			if left := o.AmountMinor - refunded; left > 0 {
				s.Refund = p.T("refund.left", p.Money(this, o.Currency), p.Money(left, o.Currency), p.Money(o.AmountMinor, o.Currency))
			} else {
				s.Refund = p.T("refund.all", p.Money(this, o.Currency))
			}
		case e.AmountMinor != 0 && e.Currency != "":
			s.Amount = p.Money(e.AmountMinor, e.Currency)
		}

		switch {
		case e.Verdict == core.VerdictAccepted && e.StatusAfter == core.StatusPaid && e.AmountMinor != 0:
			s.Why = p.T("why.paid", p.Money(e.AmountMinor, e.Currency))
		case e.Verdict == core.VerdictAmountMismatch && e.AmountMinor != 0 && e.StatusAfter != core.StatusRefunded && o.Currency != "":
			s.Why = p.T("why.amount_mismatch.amounts", p.Money(e.AmountMinor, e.Currency), p.Money(o.AmountMinor, o.Currency))
		default:
			s.Why = p.VerdictWhy(e.Verdict)
		}

		switch {
		case e.StatusBefore != "" && e.StatusAfter != "" && e.StatusBefore != e.StatusAfter:
			s.Change, s.Moved = p.Status(e.StatusBefore)+" → "+p.Status(e.StatusAfter), true
		case e.StatusBefore == "" && e.StatusAfter != "":
			s.Change, s.Moved = p.Status(e.StatusAfter), true
		case e.StatusAfter != "":
			s.Change = p.T("change.stays", p.Status(e.StatusAfter))
		}
		out = append(out, s)
	}
	return out
}

func verdictTone(v core.Verdict) string {
	switch v {
	case core.VerdictAccepted, core.VerdictManual, core.VerdictMessageSent:
		return "good"
	case core.VerdictAmountMismatch, core.VerdictOrphan, core.VerdictNeedsReview, core.VerdictLookupFailed, core.VerdictRelinked, core.VerdictNotSent:
		return "warn"
	case core.VerdictRejected, core.VerdictMalformed, core.VerdictRefused, core.VerdictDeclined:
		return "bad"
	}
	return "info"
}

// manualDetail tells a person's journal entry: who, through what, and their
// note. The ledger records it as "WHO: NOTE", WHO being "console (NAME)",
// "api (NAME)" or "cli:USER", and a new link's note as "new payment link in
// order ID"; each part is put back in the page's language here.
func (p Printer) manualDetail(e core.JournalEntry) string {
	via, who, note := ParseManualReason(e.Reason)
	if e.Verdict == core.VerdictNewLink {
		if id, ok := strings.CutPrefix(note, "new payment link in order "); ok {
			note = p.T("detail.new_link", id)
		}
	}
	if who == "admin token" {
		who = p.T("detail.admin")
	}
	switch {
	case via != "" && who != "":
		return p.T("detail.by_via", who, p.T("detail.via."+via), note)
	case via != "":
		return p.T("detail.via_only", p.T("detail.via."+via), note)
	}
	return note
}

// ParseManualReason splits a person's journal reason into the way they
// acted ("console", "api", "cli"; "" when the reason names none), who
// they are, and their note.
func ParseManualReason(reason string) (via, who, note string) {
	for _, v := range []string{"console", "api"} {
		if rest, ok := strings.CutPrefix(reason, v+" ("); ok {
			if i := strings.Index(rest, "): "); i >= 0 {
				return v, rest[:i], rest[i+3:]
			}
		}
	}
	if rest, ok := strings.CutPrefix(reason, "cli"); ok {
		if n, ok := strings.CutPrefix(rest, ": "); ok {
			return "cli", "", n
		}
		if u, ok := strings.CutPrefix(rest, ":"); ok {
			if i := strings.Index(u, ": "); i >= 0 {
				return "cli", u[:i], u[i+2:]
			}
		}
	}
	return "", "", reason
}

// PaidThrough names the provider the order's money came through: that of
// the latest provider entry that carried a payment, which may differ from
// the provider that made the order's link (a VPOS.am link paid by bank
// transfer, reported through the generic provider). "" before any payment.
func PaidThrough(entries []core.JournalEntry) string {
	for i := len(entries) - 1; i >= 0; i-- {
		e := entries[i]
		if e.Provider == "" || e.AmountMinor <= 0 || (e.Source != core.SourceWebhook && e.Source != core.SourceLookup) {
			continue
		}
		switch e.Verdict {
		case core.VerdictAccepted, core.VerdictAmountMismatch, core.VerdictOrphan, core.VerdictNeedsReview:
			if e.StatusAfter.HasPayment() || e.StatusAfter == core.StatusManualReview {
				return e.Provider
			}
		}
	}
	return ""
}
