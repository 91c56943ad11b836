package present

import (
	"time"

	"github.com/paysync/paysync/core"
)

// word looks up prefix+value, falling back to the raw value for one that
// has no words yet (a status added by a later release, say).
func (p Printer) word(prefix, value string) string {
	if value == "" {
		return ""
	}
	if Has(prefix + value) {
		return p.T(prefix + value)
	}
	return value
}

// Status names an order status in words: "Awaiting payment", "Paid".
func (p Printer) Status(s core.Status) string { return p.word("status.", string(s)) }

// Verdict names a journal verdict in words: "Accepted", "Amount does not match".
func (p Printer) Verdict(v core.Verdict) string { return p.word("verdict.", string(v)) }

// VerdictWhy explains a verdict in a sentence, "" when there is nothing to add.
func (p Printer) VerdictWhy(v core.Verdict) string {
	if Has("why." + string(v)) {
		return p.T("why." + string(v))
	}
	return ""
}

// DeliveryState names where an order stands with one CRM: "In the CRM".
func (p Printer) DeliveryState(s core.DeliveryState) string { return p.word("delivery.", string(s)) }

// ConnectorState names a connector's state (the dispatcher's State*
// constants) in words: "Active", "Backing off", "Circuit open", "Paused".
// "" is a connector with records that is not configured here.
func (p Printer) ConnectorState(state string) string {
	if state == "" {
		return p.T("state.unconfigured")
	}
	return p.word("state.", state)
}

// ConnectorAdvice says what a connector's state means and what to do,
// naming the time of the next try when it is known.
func (p Printer) ConnectorAdvice(state string, until time.Time) string {
	if state == "" {
		state = "unconfigured"
	}
	if !until.IsZero() && Has("advice."+state+".until") {
		return p.T("advice."+state+".until", p.Time(until))
	}
	if Has("advice." + state) {
		return p.T("advice." + state)
	}
	return ""
}

// ConnectorTone is how alarming a connector state is: good, info, warn or bad.
func ConnectorTone(state string) string {
	switch state {
	case "running":
		return "good"
	case "backing_off", "half_open", "standby":
		return "warn"
	case "open", "paused", "":
		return "bad"
	}
	return "info"
}

// StatusTone is how an order status should look: good, info, warn or bad.
func StatusTone(s core.Status) string {
	switch s {
	case core.StatusPaid:
		return "good"
	case core.StatusManualReview:
		return "warn"
	case core.StatusFailed, core.StatusExpired:
		return "bad"
	}
	return "info"
}

// DeliveryTone is how a delivery state should look.
func DeliveryTone(s core.DeliveryState) string {
	switch s {
	case core.DeliveryDelivered:
		return "good"
	case core.DeliveryDead:
		return "bad"
	}
	return "warn"
}

// Attempts counts delivery attempts in words: "1 attempt", "3 попытки".
func (p Printer) Attempts(n int) string { return p.N(int64(n), "attempts") }

// FailedTries counts the tries that did not go through: "2 failed tries";
// "" for none, so a delivery that went through at once says nothing.
func (p Printer) FailedTries(n int) string {
	if n <= 0 {
		return ""
	}
	return p.N(int64(n), "failed_tries")
}
