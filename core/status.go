package core

// Status is where an order stands in its payment life.
type Status string

const (
	StatusPending      Status = "pending"
	StatusPaid         Status = "paid"
	StatusFailed       Status = "failed"
	StatusExpired      Status = "expired"
	StatusManualReview Status = "manual_review"
	StatusRefunded     Status = "refunded"
)

// Statuses lists every status in lifecycle order.
var Statuses = []Status{StatusPending, StatusPaid, StatusFailed, StatusExpired, StatusManualReview, StatusRefunded}

// transitions is the whole state machine; anything not listed is refused.
var transitions = map[Status][]Status{
	StatusPending:      {StatusPaid, StatusFailed, StatusExpired, StatusManualReview},
	StatusFailed:       {StatusPaid, StatusExpired, StatusManualReview},
	StatusExpired:      {StatusManualReview},
	StatusManualReview: {StatusPaid, StatusFailed},
	StatusPaid:         {StatusRefunded},
}

// Valid reports whether s is a known status.
func (s Status) Valid() bool {
	for _, k := range Statuses {
		if k == s {
			return true
		}
	}
	return false
}

// CanTransition reports whether the state machine allows from -> to.
func CanTransition(from, to Status) bool {
	for _, t := range transitions[from] {
		if t == to {
			return true
		}
	}
	return false
}

// CheckTransition returns a typed error when from -> to is not allowed.
func CheckTransition(from, to Status) error {
	if CanTransition(from, to) {
		return nil
	}
	return Errorf(ECONFLICT, "order cannot move from %s to %s", from, to)
}

// Terminal reports whether no transition leaves s.
func (s Status) Terminal() bool { return len(transitions[s]) == 0 }
