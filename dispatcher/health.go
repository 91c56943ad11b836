package dispatcher

import (
	"sort"
	"time"
)

// ConnectorHealth is what one connector's worker is doing on this replica:
// the state the operator sees in the console and `paysync outbox stats`.
type ConnectorHealth struct {
	Connector string `json:"connector"`
	// State is one of the State* constants.
	State string `json:"state"`
	// Reason says why the connector is not simply running: the CRM's answer,
	// which says how to fix it when a person must act. Empty when running.
	Reason string `json:"reason,omitempty"`
	// Until is when a pause, a back-off or an open breaker ends and the CRM
	// is tried again; zero when that is not known in advance.
	Until time.Time `json:"until,omitzero"`
}

// Health reports every configured connector's state on this replica,
// sorted by name. It reads memory only: no database, no CRM.
func (d *Dispatcher) Health() []ConnectorHealth {
	now := d.clock.Now()
	running := d.running.Load()
	out := make([]ConnectorHealth, 0, len(d.names))
	for _, name := range d.names {
		h := ConnectorHealth{Connector: name}
		h.State, h.Until, h.Reason = d.workers[name].state(now, running)
		out = append(out, h)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Connector < out[j].Connector })
	return out
}
