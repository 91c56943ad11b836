package core

import (
	"context"
	"time"
)

// Change is one atomic write: a journal entry, an order insert or update, and
// the outbox records it causes. All of it lands, or none of it does.
type Change struct {
	// Journal, when set, is appended. A verified event's (Provider, EventID)
	// is unique: a repeat fails the whole change with EDUPLICATE.
	Journal *JournalEntry
	// Order, when set, is inserted (ExpectedVersion 0; an existing id fails
	// with ECONFLICT) or updated only if its stored version is ExpectedVersion
	// (else ESTALE). The stored version becomes ExpectedVersion+1 and is
	// written back into Order.Version.
	Order           *Order
	ExpectedVersion int64
	// Outbox lists the connectors to enqueue for Order at its new version.
	Outbox []string
	// HistoryOnly marks an order write that changes only what the order
	// remembers of its payment events (Order.History): its version moves, for
	// the optimistic check, but no CRM is told. Outbox must be empty, and the
	// journal entry is not a transition (its OrderVersion stays 0).
	HistoryOnly bool
}

// BatchStore is what a store offers beyond Store for the dispatcher to
// settle a batch in a few statements (storage.DB has it). Without it the
// dispatcher makes the same reads and writes one order and one record at a time.
type BatchStore interface {
	// LoadDeliveries returns the deliveries of the known orders among
	// orderIDs: order, link in connector, journal entries past the link.
	LoadDeliveries(ctx context.Context, connector string, orderIDs []string) ([]Delivery, error)
	// CompleteOutboxBatch settles records in one transaction; each one is
	// guarded by its own token (ELEASELOST in its slot), a non-nil error means
	// nothing applied.
	CompleteOutboxBatch(ctx context.Context, cs []Completion) ([]error, error)
}

// Store is what a storage driver provides. Both drivers (PostgreSQL and
// SQLite) pass the same conformance suite in storage/storagetest.
type Store interface {
	Dialect() string
	Ping(ctx context.Context) error
	Close() error

	Apply(ctx context.Context, c Change) error
	GetOrder(ctx context.Context, id string) (Order, error)
	ListOrders(ctx context.Context, q OrderQuery) ([]Order, error)
	// DueOrders lists orders in one of statuses whose status last changed in
	// [changedAfter, changedBefore), oldest first; a zero changedAfter has no lower bound.
	DueOrders(ctx context.Context, statuses []Status, changedAfter, changedBefore time.Time, limit int) ([]Order, error)
	// ExpiredOrders lists orders in one of statuses whose expiry is at or before now, soonest expired first.
	ExpiredOrders(ctx context.Context, statuses []Status, now time.Time, limit int) ([]Order, error)
	ListJournal(ctx context.Context, orderID string) ([]JournalEntry, error)

	// RecordRefusal adds r's counts to the record of r's provider, source,
	// verdict and window, creating it with r's reason and sample when r is
	// the first.
	RecordRefusal(ctx context.Context, r Refusal) error
	// ListRefusals lists refusal records, the latest first.
	ListRefusals(ctx context.Context, limit int) ([]Refusal, error)
	// PurgeRefusals deletes refusal records whose last request came before olderThan.
	PurgeRefusals(ctx context.Context, olderThan time.Time) (int64, error)

	ClaimOutbox(ctx context.Context, r ClaimRequest) ([]OutboxRecord, error)
	CompleteOutbox(ctx context.Context, c Completion) error
	ListOutbox(ctx context.Context, connector string, state DeliveryState, limit int) ([]OutboxRecord, error)
	OrderDeliveries(ctx context.Context, orderID string) ([]OutboxRecord, error)
	OutboxStats(ctx context.Context) ([]OutboxStat, error)
	// RetryOutbox makes a dead record pending again, due now, with its attempt count kept.
	RetryOutbox(ctx context.Context, id int64, now time.Time) error
	RetryAllDead(ctx context.Context, connector string, now time.Time) (int64, error)
	// ExpediteOutbox makes the connector's pending records that wait for a
	// retry due at now, as when the CRM is answering again after an outage;
	// leased records (being delivered) and dead ones are left alone, and no
	// attempt is counted. It returns how many records it moved.
	ExpediteOutbox(ctx context.Context, connector string, now time.Time) (int64, error)
	Enqueue(ctx context.Context, orderID string, connectors []string, now time.Time) error
	PurgeDelivered(ctx context.Context, olderThan time.Time) (int64, error)

	GetLink(ctx context.Context, connector, orderID string) (*CRMLink, error)
	ListLinks(ctx context.Context, orderID string) ([]CRMLink, error)

	// GetState and PutState hold connector state such as OAuth tokens.
	// PutState with expectedVersion 0 creates; otherwise it is a compare-and-swap
	// failing with ESTALE.
	GetState(ctx context.Context, connector, key string) (value string, version int64, err error)
	PutState(ctx context.Context, connector, key, value string, expectedVersion int64) error

	// AcquireLease takes or renews the named lease for holder; false when
	// another holder has it and it has not expired.
	AcquireLease(ctx context.Context, name, holder string, ttl time.Duration, now time.Time) (bool, error)
	ReleaseLease(ctx context.Context, name, holder string) error

	// Conversations keeps the Instagram Direct threads paysync hears of.
	Conversations
}

// FencedLeaser is a Store whose leases carry a generation (storage.DB has
// it): the dispatcher passes the generation with its claims and
// completions as a Fence, so that a replica which lost its lease cannot
// settle what another replica now delivers.
type FencedLeaser interface {
	// AcquireFencedLease is AcquireLease that also returns the lease's
	// generation while holder has it (0 when it does not). The generation
	// grows each time the lease changes hands, never on a renewal.
	AcquireFencedLease(ctx context.Context, name, holder string, ttl time.Duration, now time.Time) (generation int64, err error)
}

// DiskUsage is how much disk a store takes, for /metrics.
type DiskUsage struct {
	// Database is the database's size in bytes: SQLite's file, or
	// PostgreSQL's pg_database_size.
	Database int64
	// WAL is the SQLite write-ahead log's size now, WALMax the largest it
	// was seen since the database was opened (sampled four times a
	// second), WALLimit its bound. All three are -1 on PostgreSQL, whose
	// WAL is the server's to bound (max_wal_size).
	WAL, WALMax, WALLimit int64
}
