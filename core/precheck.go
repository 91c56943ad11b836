package core

import "time"

// Precheck says whether o may be paid what a checkout asks about before it
// takes the money (an EventPrecheck event, at now): nil when the order is
// pending, is the asking provider's, has not expired, and costs exactly the
// amount and currency asked; otherwise an error that says why, for the
// provider's answer and the log. Nothing is journaled either way: no money
// has moved yet, and the confirmation that follows is judged on its own.
func Precheck(o *Order, ev PaymentEvent, now time.Time) error {
	switch {
	case o == nil:
		return Errorf(ENOTFOUND, "order %s is not known", ev.OrderID)
	case o.Provider != ev.Provider:
		return Errorf(ECONFLICT, "order %s is to be paid with %s, not %s", o.ID, nameOr(o.Provider, "no provider"), ev.Provider)
	case o.Status != StatusPending:
		return Errorf(ECONFLICT, "order %s is %s, not awaiting payment", o.ID, o.Status)
	case o.ExpiresAt != nil && !now.Before(*o.ExpiresAt):
		return Errorf(ECONFLICT, "order %s expired at %s", o.ID, o.ExpiresAt.UTC().Format(time.RFC3339))
	case ev.Currency != o.Currency || ev.AmountMinor != o.AmountMinor:
		return Errorf(ECONFLICT, "order %s costs %s, not %s", o.ID, o.Money(), Money{ev.AmountMinor, ev.Currency})
	}
	return nil
}

func nameOr(s, alt string) string {
	if s == "" {
		return alt
	}
	return s
}
