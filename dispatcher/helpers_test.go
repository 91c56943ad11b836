package dispatcher_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/paysync/paysync/core"
	"github.com/paysync/paysync/dispatcher"
	"github.com/paysync/paysync/storage"
	"github.com/paysync/paysync/storage/storagetest"
)

var bg = context.Background()

// slogTo logs everything to w.
func slogTo(w io.Writer) *slog.Logger {
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// logBuffer collects log lines for assertions.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// create inserts a pending order with outbox records for connectors.
func create(t testing.TB, s core.Store, id string, connectors ...string) *core.Order {
	t.Helper()
	o := storagetest.NewOrder(id)
	o.RequestHash = o.Hash()
	err := s.Apply(bg, core.Change{
		Journal: &core.JournalEntry{Source: core.SourceAPI, Verdict: core.VerdictCreated, StatusAfter: o.Status},
		Order:   o, Outbox: connectors,
	})
	if err != nil {
		t.Fatalf("create %s: %v", id, err)
	}
	return o
}

// move applies a status change the state machine allows, as the core would.
func move(s core.Store, o *core.Order, to core.Status, connectors ...string) error {
	if err := core.CheckTransition(o.Status, to); err != nil {
		return err
	}
	next := *o
	next.Status = to
	next.StatusChangedAt = time.Now()
	err := s.Apply(bg, core.Change{
		Journal: &core.JournalEntry{Source: core.SourceManual, Verdict: core.VerdictAccepted,
			StatusBefore: o.Status, StatusAfter: to},
		Order: &next, ExpectedVersion: o.Version, Outbox: connectors,
	})
	if err != nil {
		return err
	}
	*o = next
	return nil
}

// running is a dispatcher started in the background.
type running struct {
	cancel context.CancelFunc
	done   chan error
	once   sync.Once
}

// start runs d until stop or the end of the test.
func start(t testing.TB, d *dispatcher.Dispatcher) *running {
	t.Helper()
	ctx, cancel := context.WithCancel(bg)
	r := &running{cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- d.Run(ctx) }()
	t.Cleanup(func() { r.stop(t) })
	return r
}

// stop cancels the run and waits for the graceful stop to end.
func (r *running) stop(t testing.TB) {
	t.Helper()
	r.once.Do(func() {
		r.cancel()
		select {
		case err := <-r.done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(60 * time.Second):
			t.Errorf("dispatcher did not stop")
		}
	})
}

// records lists a connector's records in a state ("" for all).
func records(t testing.TB, s core.Store, connector string, state core.DeliveryState) []core.OutboxRecord {
	t.Helper()
	rs, err := s.ListOutbox(bg, connector, state, 1000)
	if err != nil {
		t.Fatal(err)
	}
	return rs
}

func countState(t testing.TB, s core.Store, connector string, state core.DeliveryState) int {
	return len(records(t, s, connector, state))
}

func onlyRecord(t testing.TB, s core.Store, orderID string) core.OutboxRecord {
	t.Helper()
	rs, err := s.OrderDeliveries(bg, orderID)
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) != 1 {
		t.Fatalf("order %s has %d outbox records, want 1", orderID, len(rs))
	}
	return rs[0]
}

func stateOf(t testing.TB, d *dispatcher.Dispatcher, connector string) dispatcher.ConnectorStats {
	t.Helper()
	st, err := d.Stats(bg)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range st {
		if s.Connector == connector {
			return s
		}
	}
	t.Fatalf("no stats for %s", connector)
	return dispatcher.ConnectorStats{}
}

var errKilled = errors.New("process killed")

// killable stands for a process that can die: once killed, every store call
// fails, so nothing it had claimed is acked or released. It also counts
// leadership attempts.
type killable struct {
	*storage.DB
	killed atomic.Bool
	leases atomic.Int64
}

func (k *killable) err() error {
	if k.killed.Load() {
		return errKilled
	}
	return nil
}

func (k *killable) ClaimOutbox(ctx context.Context, r core.ClaimRequest) ([]core.OutboxRecord, error) {
	if err := k.err(); err != nil {
		return nil, err
	}
	return k.DB.ClaimOutbox(ctx, r)
}

func (k *killable) CompleteOutbox(ctx context.Context, c core.Completion) error {
	if err := k.err(); err != nil {
		return err
	}
	return k.DB.CompleteOutbox(ctx, c)
}

func (k *killable) CompleteOutboxBatch(ctx context.Context, cs []core.Completion) ([]error, error) {
	if err := k.err(); err != nil {
		return nil, err
	}
	return k.DB.CompleteOutboxBatch(ctx, cs)
}

func (k *killable) LoadDeliveries(ctx context.Context, connector string, ids []string) ([]core.Delivery, error) {
	if err := k.err(); err != nil {
		return nil, err
	}
	return k.DB.LoadDeliveries(ctx, connector, ids)
}

func (k *killable) AcquireLease(ctx context.Context, name, holder string, ttl time.Duration, now time.Time) (bool, error) {
	k.leases.Add(1)
	if err := k.err(); err != nil {
		return false, err
	}
	return k.DB.AcquireLease(ctx, name, holder, ttl, now)
}

func (k *killable) AcquireFencedLease(ctx context.Context, name, holder string, ttl time.Duration, now time.Time) (int64, error) {
	k.leases.Add(1)
	if err := k.err(); err != nil {
		return 0, err
	}
	return k.DB.AcquireFencedLease(ctx, name, holder, ttl, now)
}

func (k *killable) ReleaseLease(ctx context.Context, name, holder string) error {
	if err := k.err(); err != nil {
		return err
	}
	return k.DB.ReleaseLease(ctx, name, holder)
}

// perRecord hides the store's batch methods, so the dispatcher takes the
// one-record-at-a-time path of a plain core.Store.
type perRecord struct{ core.Store }
