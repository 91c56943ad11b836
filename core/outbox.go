package core

import "time"

// DeliveryState is where one outbox record stands.
type DeliveryState string

const (
	DeliveryPending   DeliveryState = "pending"
	DeliveryDelivered DeliveryState = "delivered"
	DeliveryDead      DeliveryState = "dead"
)

// OutboxRecord asks one connector to bring the CRM in step with one order at
// (at least) one version. It is written in the same transaction as the change.
type OutboxRecord struct {
	ID             int64         `json:"id" db:"id"`
	Connector      string        `json:"connector" db:"connector"`
	OrderID        string        `json:"order_id" db:"order_id"`
	OrderVersion   int64         `json:"order_version" db:"order_version"`
	State          DeliveryState `json:"state" db:"state"`
	Attempts       int           `json:"attempts" db:"attempts"`
	AvailableAt    time.Time     `json:"available_at"`
	LeaseOwner     string        `json:"lease_owner,omitempty" db:"lease_owner"`
	LeaseToken     string        `json:"-" db:"lease_token"`
	LeaseExpiresAt *time.Time    `json:"lease_expires_at,omitempty"`
	LastError      string        `json:"last_error,omitempty" db:"last_error"`
	ExternalID     string        `json:"external_id,omitempty" db:"external_id"`
	CreatedAt      time.Time     `json:"created_at"`
	UpdatedAt      time.Time     `json:"updated_at"`
	DeliveredAt    *time.Time    `json:"delivered_at,omitempty"`
}

// ClaimRequest asks for a batch of due records of one connector, leased to Owner.
type ClaimRequest struct {
	Connector string
	Owner     string
	Token     string // unique per claim; every later state change must present it
	Limit     int
	Lease     time.Duration
	Now       time.Time
	// Fence, when set, is the leadership the claim is made under: the
	// claim takes nothing unless the lease still has that holder and
	// generation (see Fence).
	Fence *Fence
}

// Fence is a leadership lease at one generation. A lease's generation grows
// each time it changes hands, so a replica that lost its lease (it was
// paused, or cut off from the database, and another took over) holds an
// older generation: its claims take nothing and its acknowledgements are
// refused with ELEASELOST, whatever its clock says.
type Fence struct {
	Lease      string
	Holder     string
	Generation int64
}

// Outcome is what happened to a claimed record.
type Outcome string

const (
	OutcomeDelivered Outcome = "delivered"
	OutcomeRetry     Outcome = "retry"
	OutcomeDead      Outcome = "dead"
	OutcomeRelease   Outcome = "release" // give the lease back without counting an attempt failure
)

// Completion settles one claimed record, guarded by its lease token.
type Completion struct {
	ID          int64
	Token       string
	Outcome     Outcome
	Error       string    // reason, for retry and dead
	AvailableAt time.Time // for retry and release
	Now         time.Time
	// Link, when set with OutcomeDelivered, is stored in the same transaction.
	Link *CRMLink
	// Journal, when set, is appended in the same transaction if the record
	// is settled (not when its lease was lost): what the connector wants the
	// operator to know about the delivery.
	Journal *JournalEntry
	// Fence, when set, is the leadership the record was claimed under: the
	// completion is refused (ELEASELOST) once another holder has taken the
	// lease, even if the record's own lease token still matches.
	Fence *Fence
}

// OutboxStat is the backlog of one connector.
type OutboxStat struct {
	Connector     string    `json:"connector"`
	Pending       int64     `json:"pending"`
	Dead          int64     `json:"dead"`
	Delivered     int64     `json:"delivered"` // orders with a delivered record, not records
	OldestPending time.Time `json:"oldest_pending,omitzero"`
}

// CRMLink ties an order to the record a connector made for it.
type CRMLink struct {
	Connector     string    `json:"connector" db:"connector"`
	OrderID       string    `json:"order_id" db:"order_id"`
	ExternalID    string    `json:"external_id" db:"external_id"`
	SyncedVersion int64     `json:"synced_version" db:"synced_version"`
	SyncedStatus  Status    `json:"synced_status" db:"synced_status"`
	Data          string    `json:"data,omitempty" db:"data"` // connector-private JSON (contact id, row key, …)
	UpdatedAt     time.Time `json:"updated_at"`
}
