package amocrm

import "time"

// admit applies the integration's limit: at most limit requests in any
// sliding window. Every arrival counts, refused ones too, as on the real
// front: a client that keeps knocking stays refused. Repeated refusals block
// the account. It returns how long until a request would be admitted.
// Caller holds mu.
func (a *Account) admit() (wait time.Duration, ok bool) {
	now := a.now()
	from := now.Add(-a.opts.Window)
	keep := a.arrivals[:0]
	for _, t := range a.arrivals {
		if t.After(from) {
			keep = append(keep, t)
		}
	}
	a.arrivals = append(keep, now)
	a.stats.MaxPerWindow = max(a.stats.MaxPerWindow, len(a.arrivals))
	if len(a.arrivals) <= a.limit && !a.throttled {
		return 0, true
	}
	a.stats.Rejected++
	cut := now.Add(-BlockWindow)
	rk := a.rejected[:0]
	for _, t := range a.rejected {
		if t.After(cut) {
			rk = append(rk, t)
		}
	}
	a.rejected = append(rk, now)
	if len(a.rejected) >= a.opts.BlockAfter {
		a.blocked = true
	}
	wait = a.opts.Window
	if !a.throttled {
		// The next request is admitted once all but limit-1 of the
		// arrivals in the window have aged out of it.
		wait = a.arrivals[len(a.arrivals)-a.limit].Add(a.opts.Window).Sub(now)
	}
	return max(wait, time.Millisecond), false
}
