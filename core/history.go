package core

import (
	"slices"
	"sort"
	"strings"
	"time"
)

// MinPrecision is the finest event time paysync keeps: both databases store
// microseconds, and a decision must come out the same after a reload.
const MinPrecision = time.Microsecond

// EventTime is when a payment event happened, as precisely as its sender
// said: "2026-03-01T15:07:20Z" stands for the whole second [15:07:20,
// 15:07:21), so it is not older than anything else in that second.
type EventTime struct {
	At        time.Time     // start of the interval; zero when the sender gave no time
	Precision time.Duration // the unit At was stated in; at least MinPrecision
}

// NewEventTime makes the interval an instant stands for. precision is the
// unit the sender stated it in (time.Second for "…:20Z"); zero infers it from
// the instant's trailing zeros, which can only make the interval wider.
func NewEventTime(at time.Time, precision time.Duration) EventTime {
	if at.IsZero() {
		return EventTime{}
	}
	if precision <= 0 {
		precision = PrecisionOf(at)
	}
	if precision < MinPrecision {
		precision = MinPrecision
	}
	return EventTime{At: at.UTC().Truncate(precision), Precision: precision}
}

// PrecisionOf infers the unit an instant was stated in from its fraction of a
// second: none is a whole second, three digits a millisecond, and so on.
func PrecisionOf(at time.Time) time.Duration {
	switch ns := at.Nanosecond(); {
	case ns == 0:
		return time.Second
	case ns%int(time.Millisecond) == 0:
		return time.Millisecond
	case ns%int(time.Microsecond) == 0:
		return time.Microsecond
	default:
		return time.Nanosecond
	}
}

// ParseEventTime reads an RFC 3339 time and the precision its fraction
// digits state ("…:20Z" is a second, "…:20.483Z" a millisecond).
func ParseEventTime(s string) (EventTime, error) {
	at, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return EventTime{}, err
	}
	p := time.Second
	if i := strings.IndexByte(s, '.'); i >= 0 {
		digits := 0
		for _, r := range s[i+1:] {
			if r < '0' || r > '9' {
				break
			}
			digits++
		}
		for ; digits > 0 && p > time.Nanosecond; digits-- {
			p /= 10
		}
	}
	return NewEventTime(at, p), nil
}

// Known reports whether the sender gave a time.
func (t EventTime) Known() bool { return !t.At.IsZero() }

// End is the first instant after the interval.
func (t EventTime) End() time.Time { return t.At.Add(t.Precision) }

// Before reports whether t certainly happened before u: t's interval ends
// where u's begins or earlier. An unknown time is before nothing, and
// nothing is before it.
func (t EventTime) Before(u EventTime) bool {
	return t.Known() && u.Known() && !t.End().After(u.At)
}

// endsAfter reports whether t's interval reaches past u's (an unknown time
// reaches everywhere). It picks the event that ended last.
func (t EventTime) endsAfter(u EventTime) bool {
	if !t.Known() || !u.Known() {
		return !t.Known() && u.Known()
	}
	return t.End().After(u.End())
}

// startsBefore reports whether t's interval begins before u's (an unknown
// time begins before everything). It picks the event that began first.
func (t EventTime) startsBefore(u EventTime) bool {
	if !t.Known() || !u.Known() {
		return !t.Known() && u.Known()
	}
	return t.At.Before(u.At)
}

// String prints the time at its own precision.
func (t EventTime) String() string {
	if !t.Known() {
		return "an unknown time"
	}
	layout := "2006-01-02T15:04:05"
	switch {
	case t.Precision >= time.Second:
	case t.Precision >= time.Millisecond:
		layout += ".000"
	default:
		layout += ".000000"
	}
	return t.At.UTC().Format(layout + "Z07:00")
}

// EventMark names one payment event of an order's history and when it happened.
type EventMark struct {
	EventID string // "" for the order's own expiry (expires_at), which is no provider event
	Status  Status // "" when there is no such event
	Time    EventTime
}

// Set reports whether the mark names an event.
func (m EventMark) Set() bool { return m.Status != "" }

// String names the event for a journal reason.
func (m EventMark) String() string {
	if m.Status == StatusExpired && m.EventID == "" {
		return "the order's expiry at " + m.Time.String()
	}
	s := string(m.Status) + " event"
	if m.EventID != "" {
		s += " " + m.EventID
	}
	if !m.Time.Known() {
		return s + " (no time given)"
	}
	return s + " at " + m.Time.String()
}

// PaymentHistory is what an order remembers of the payment events applied to
// it, so that a later event is judged against what happened to the payment,
// never against when paysync created or wrote the order.
type PaymentHistory struct {
	// Latest is the newest timed event that changed the order. A failed or
	// expired event that certainly happened before it is stale, and the stale
	// verdict names it.
	Latest EventMark
	// Payment is, of the payment events seen, the one that ended last.
	Payment EventMark
	// Expiry is, of the expiries seen (a provider's expired event, or the
	// order's own expires_at when the scheduler expired it), the one that
	// began first. A payment not certainly made before it needs a person.
	Expiry EventMark
	// PaymentRefs are the provider references of the payments seen (those
	// that named one), sorted, at most MaxPaymentRefs: a payment under
	// another reference is the buyer paying twice.
	PaymentRefs []string
}

// MaxPaymentRefs bounds the payment references an order remembers.
const MaxPaymentRefs = 8

// Equal reports whether two histories name the same events at the same times.
func (h PaymentHistory) Equal(o PaymentHistory) bool {
	return h.Latest.equal(o.Latest) && h.Payment.equal(o.Payment) && h.Expiry.equal(o.Expiry) && slices.Equal(h.PaymentRefs, o.PaymentRefs)
}

// paidTwice reports whether a payment under ref is another payment than
// the ones seen: both name their reference, and the references differ.
func (h *PaymentHistory) paidTwice(ref string) bool {
	return ref != "" && len(h.PaymentRefs) > 0 && !slices.Contains(h.PaymentRefs, ref)
}

// notePaymentRef remembers the reference of a payment seen.
func (h *PaymentHistory) notePaymentRef(ref string) {
	if ref == "" || slices.Contains(h.PaymentRefs, ref) || len(h.PaymentRefs) >= MaxPaymentRefs {
		return
	}
	// A copy: the order this history came from keeps its own.
	h.PaymentRefs = slices.Insert(slices.Clone(h.PaymentRefs), sort.SearchStrings(h.PaymentRefs, ref), ref)
}

// bothRefs names the references of a payment made twice, for its reason.
func bothRefs(seen []string, ref string) string {
	all := append(slices.Clone(seen), ref)
	if len(all) == 2 {
		return all[0] + " and " + all[1]
	}
	return strings.Join(all[:len(all)-1], ", ") + " and " + all[len(all)-1]
}

func (m EventMark) equal(o EventMark) bool {
	return m.EventID == o.EventID && m.Status == o.Status && m.Time.At.Equal(o.Time.At) && m.Time.Precision == o.Time.Precision
}

// noteApplied records m as applied when it is newer than Latest.
func (h *PaymentHistory) noteApplied(m EventMark) {
	if m.Time.Known() && (!h.Latest.Set() || h.Latest.Time.At.Before(m.Time.At)) {
		h.Latest = m
	}
}

// notePayment remembers m when it ended after every payment seen so far.
func (h *PaymentHistory) notePayment(m EventMark) {
	if !h.Payment.Set() || m.Time.endsAfter(h.Payment.Time) {
		h.Payment = m
	}
}

// noteExpiry remembers m when it began before every expiry seen so far.
func (h *PaymentHistory) noteExpiry(m EventMark) {
	if !h.Expiry.Set() || m.Time.startsBefore(h.Expiry.Time) {
		h.Expiry = m
	}
}
