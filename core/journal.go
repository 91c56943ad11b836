package core

import "time"

// MaxJournalPayload bounds the raw payload kept with a journal entry.
const MaxJournalPayload = 16 << 10

// JournalEntry is one line of the append-only payment journal: every inbound
// request, lookup, decision and transition, valid or not.
type JournalEntry struct {
	ID           int64     `json:"id" db:"id"`
	OrderID      string    `json:"order_id,omitempty" db:"order_id"`
	Provider     string    `json:"provider,omitempty" db:"provider"`
	EventID      string    `json:"event_id,omitempty" db:"event_id"` // set only for verified events: the dedup key
	Source       string    `json:"source" db:"source"`
	EventType    string    `json:"event_type,omitempty" db:"event_type"`
	Verdict      Verdict   `json:"verdict" db:"verdict"`
	StatusBefore Status    `json:"status_before,omitempty" db:"status_before"`
	StatusAfter  Status    `json:"status_after,omitempty" db:"status_after"`
	AmountMinor  int64     `json:"amount_minor,omitempty" db:"amount_minor"`
	Currency     string    `json:"currency,omitempty" db:"currency"`
	ProviderRef  string    `json:"provider_ref,omitempty" db:"provider_ref"`
	Reason       string    `json:"reason,omitempty" db:"reason"`
	Payload      string    `json:"payload,omitempty" db:"payload"`
	OrderVersion int64     `json:"order_version,omitempty" db:"order_version"` // the order version this entry produced
	CreatedAt    time.Time `json:"created_at"`
}

// TruncatePayload keeps at most MaxJournalPayload bytes of a raw payload.
func TruncatePayload(b []byte) string {
	if len(b) > MaxJournalPayload {
		return string(b[:MaxJournalPayload]) + "…[truncated]"
	}
	return string(b)
}
