package storage_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/paysync/paysync/core"
	"github.com/paysync/paysync/internal/testutil"
	"github.com/paysync/paysync/storage"
	"github.com/paysync/paysync/storage/storagetest"
	"github.com/paysync/paysync/storage/testdb"
)

// TestWALStaysWithinItsBound is issue 22's disk that cannot fill: under a
// steady stream of orders, payments and refused requests from thousands of
// sources, with readers reading all along, the SQLite WAL never grows past
// its configured bound (before, this run left 174 MB of WAL that never
// shrank), and once the writes stop it is truncated to nothing. Both
// databases report their size for /metrics.
func TestWALStaysWithinItsBound(t *testing.T) {
	testdb.Each(t, func(t *testing.T, dialect string) {
		ctx := context.Background()
		o := testdb.Options(t, dialect)
		o.SQLiteWALLimit = storage.MinWALLimit
		db := testdb.OpenWith(t, o)
		if dialect == storage.Postgres {
			u, err := db.DiskUsage(ctx)
			if err != nil || u.Database <= 0 || u.WAL != -1 || u.WALLimit != -1 {
				t.Fatalf("PostgreSQL disk usage %+v %v, want its size and no WAL of paysync's", u, err)
			}
			return
		}
		wal := filepath.Join(o.DataDir, "paysync.db-wal")
		var maxWAL atomic.Int64
		stop := make(chan struct{})
		var bg sync.WaitGroup
		bg.Add(1)
		go func() { // the WAL's size, every millisecond
			defer bg.Done()
			for {
				if st, err := os.Stat(wal); err == nil && st.Size() > maxWAL.Load() {
					maxWAL.Store(st.Size())
				}
				select {
				case <-stop:
					return
				case <-time.After(time.Millisecond):
				}
			}
		}()
		for r := 0; r < 2; r++ { // readers all along
			bg.Add(1)
			go func() {
				defer bg.Done()
				for {
					select {
					case <-stop:
						return
					default:
					}
					if _, err := db.ListOrders(ctx, core.OrderQuery{Limit: 50}); err != nil {
						t.Error(err)
						return
					}
				}
			}()
		}
		const orders, writers = 2000, 8
		var next atomic.Int64
		var wg sync.WaitGroup
		for w := 0; w < writers; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					i := next.Add(1)
					if i > orders {
						return
					}
					o := storagetest.NewOrder(fmt.Sprintf("WAL-%d", i))
					o.RequestHash = o.Hash()
					if err := db.Apply(ctx, core.Change{Journal: &core.JournalEntry{Source: core.SourceAPI, Verdict: core.VerdictCreated},
						Order: o, Outbox: []string{"crm_a", "crm_b"}}); err != nil {
						t.Error(err)
						return
					}
					paid := *o
					paid.Status = core.StatusPaid
					if err := db.Apply(ctx, core.Change{Journal: &core.JournalEntry{Provider: "generic", EventID: fmt.Sprintf("evt-%d", i),
						Source: core.SourceWebhook, Verdict: core.VerdictAccepted, Payload: make([]byte, 2048)},
						Order: &paid, ExpectedVersion: o.Version, Outbox: []string{"crm_a", "crm_b"}}); err != nil {
						t.Error(err)
						return
					}
					src := fmt.Sprintf("198.%d.%d.%d", i%200, i%250, i%240)
					r := core.NewRefusal("generic", src, core.VerdictRejected, "bad signature", core.SampleOf(make([]byte, 600)), time.Now())
					if err := db.RecordRefusal(ctx, r); err != nil {
						t.Error(err)
						return
					}
				}
			}()
		}
		wg.Wait()
		u, err := db.DiskUsage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("WAL at most %d bytes (bound %d); disk usage %+v", maxWAL.Load(), o.SQLiteWALLimit, u)
		if got := maxWAL.Load(); got == 0 || got > o.SQLiteWALLimit {
			t.Errorf("the WAL grew to %d bytes; its bound is %d", got, o.SQLiteWALLimit)
		}
		if u.WALLimit != o.SQLiteWALLimit || u.WALMax == 0 || u.WALMax > o.SQLiteWALLimit || u.Database == 0 {
			t.Errorf("disk usage %+v: want the bound %d and a largest WAL within it", u, o.SQLiteWALLimit)
		}
		testutil.Eventually(t, "the WAL to be truncated once nothing is written", func() bool {
			st, err := os.Stat(wal)
			return err == nil && st.Size() == 0
		})
		close(stop)
		bg.Wait()
	})
}
