package payments_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/paysync/paysync/core"
	"github.com/paysync/paysync/payments"
	"github.com/paysync/paysync/storage"
	"github.com/paysync/paysync/storage/testdb"
)

// TestFloodOfUnsignedRequests: 4,000 unsigned 250 KiB posts from one
// source grow the database by at most 4 MB: they are answered 401 until the
// source's allowance of failing requests is spent, then 429 with
// Retry-After, and all of them are counted in a few refusal records. A
// signed payment sent from the same source during the flood is recorded.
//
// The flood goes straight to the webhook handler (from the loopback address,
// as the signed payment comes over real HTTP): what a flood costs paysync is
// what its handler reads and writes, and a gigabyte through loopback TCP
// under the race detector would only time the kernel and the detector.
func TestFloodOfUnsignedRequests(t *testing.T) {
	const posts, workers, maxGrowth = 4000, 8, 4 << 20
	// Random text, so that no database can compress what it keeps.
	raw := make([]byte, 250<<10*3/4)
	rand.Read(raw)
	body := []byte(base64.StdEncoding.EncodeToString(raw))
	testdb.Each(t, func(t *testing.T, dialect string) {
		h := newHarness(t, dialect, harnessOptions{})
		h.order("FLOOD-1", 1500000, "")
		ctx := context.Background()
		before := dbSize(t, h.db)
		handler := h.svc.Webhooks()

		var sent, unauthorized, limited, other atomic.Int64
		var noRetryAfter atomic.Bool
		var wg sync.WaitGroup
		half := make(chan struct{})
		var halfOnce sync.Once
		for w := 0; w < workers; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for sent.Add(1) <= posts {
					if sent.Load() >= posts/2 {
						halfOnce.Do(func() { close(half) })
					}
					req := httptest.NewRequest(http.MethodPost, "/webhooks/generic", bytes.NewReader(body))
					req.RemoteAddr = "127.0.0.1:40000"
					req.Header.Set("Content-Type", "application/json")
					rec := httptest.NewRecorder()
					handler.ServeHTTP(rec, req)
					resp := rec.Result()
					switch resp.StatusCode {
					case http.StatusUnauthorized:
						unauthorized.Add(1)
					case http.StatusTooManyRequests:
						limited.Add(1)
						if resp.Header.Get("Retry-After") == "" {
							noRetryAfter.Store(true)
						}
					default:
						other.Add(1)
					}
				}
			}()
		}
		<-half
		paid := h.sendGeneric(genericEvent{EventID: "flood-pay", OrderID: "FLOOD-1", Status: "paid", AmountMinor: 1500000, Currency: "AMD"})
		wg.Wait()
		expect(t, paid, 200, core.VerdictAccepted)
		checkPaidOnce(t, h, "FLOOD-1")

		if err := h.svc.FlushRefusals(ctx); err != nil {
			t.Fatal(err)
		}
		if got := unauthorized.Load() + limited.Load(); got != posts || other.Load() != 0 {
			t.Fatalf("answers: %d 401, %d 429, %d other; want %d refusals", unauthorized.Load(), limited.Load(), other.Load(), posts)
		}
		if limited.Load() == 0 || unauthorized.Load() < 20 || noRetryAfter.Load() {
			t.Fatalf("%d answered 401, %d answered 429 (Retry-After missing: %v): the source was not limited after its allowance",
				unauthorized.Load(), limited.Load(), noRetryAfter.Load())
		}
		refusals, err := h.db.ListRefusals(ctx, 100)
		if err != nil {
			t.Fatal(err)
		}
		var counted, throttled int64
		for _, r := range refusals {
			counted += r.Requests
			throttled += r.Throttled
		}
		// One record per hour window; the flood may straddle the hour.
		if counted != posts || throttled != limited.Load() || len(refusals) > 2 {
			t.Fatalf("%d records counting %d requests (%d throttled), want ≤2 records counting %d (%d throttled)",
				len(refusals), counted, throttled, posts, limited.Load())
		}
		after := dbSize(t, h.db)
		t.Logf("%s: %d answered 401, %d answered 429; database %d -> %d bytes", dialect, unauthorized.Load(), limited.Load(), before, after)
		if after-before > maxGrowth {
			t.Fatalf("the flood grew the database by %d bytes, more than %d", after-before, maxGrowth)
		}
	})
}

// dbSize is the space the database's tables take: on PostgreSQL every
// table with its indexes and TOAST, on SQLite the pages of the file.
func dbSize(t *testing.T, db *storage.DB) int64 {
	t.Helper()
	w := db.Writer()
	var n int64
	var err error
	if db.Dialect() == storage.Postgres {
		err = w.Get(&n, `SELECT COALESCE(SUM(pg_total_relation_size(c.oid)), 0)::bigint FROM pg_class c
			JOIN pg_namespace ns ON ns.oid = c.relnamespace WHERE ns.nspname = current_schema() AND c.relkind = 'r'`)
	} else {
		var pages, size int64
		if err = w.Get(&pages, `PRAGMA page_count`); err == nil {
			err = w.Get(&size, `PRAGMA page_size`)
		}
		n = pages * size
	}
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestFailingRequestsLimitedPerSource: past its allowance a source's failing
// requests get 429 with Retry-After and a message naming why each failed;
// they are still counted, and its signed requests still go through.
func TestFailingRequestsLimitedPerSource(t *testing.T) {
	testdb.Each(t, func(t *testing.T, dialect string) {
		t.Parallel()
		h := newHarness(t, dialect, harnessOptions{svc: func(o *payments.Options) { o.FailingBurst, o.FailingEvery = 2, time.Hour }})
		h.order("LIM-1", 1000, "")
		forged := "mdOrder=m&orderNumber=LIM-1&operation=deposited&status=1&checksum=00"
		for i, want := range []int{401, 401, 429, 429} {
			resp, err := h.client.Do(h.form("/webhooks/arca", forged))
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != want {
				t.Fatalf("request %d: %d %s, want %d", i, resp.StatusCode, b, want)
			}
			if want == 429 && (resp.Header.Get("Retry-After") == "" || !strings.Contains(string(b), "checksum does not match") ||
				!strings.Contains(string(b), `"code":"rate_limited"`)) {
				t.Fatalf("429 without Retry-After or reason: %v %s", resp.Header, b)
			}
		}
		expect(t, h.sendGeneric(genericEvent{EventID: "lim-pay", OrderID: "LIM-1", Status: "paid", AmountMinor: 1000, Currency: "AMD"}), 200, core.VerdictAccepted)
		if err := h.svc.FlushRefusals(context.Background()); err != nil {
			t.Fatal(err)
		}
		rs, _ := h.db.ListRefusals(context.Background(), 10)
		if len(rs) != 1 || rs[0].Requests != 4 || rs[0].Throttled != 2 || rs[0].Provider != "arca" || string(rs[0].Sample) != forged {
			t.Fatalf("refusal records %+v", rs)
		}
	})
}

// TestRefusalsBoundedWhateverTheSources: forged requests from 2,000
// networks (before: one refusal record each, 9,961 rows for 10,000 sources)
// leave at most core.MaxRefusalSources records and one for the other
// networks per window, and every request is counted.
func TestRefusalsBoundedWhateverTheSources(t *testing.T) {
	const sources = 2000
	testdb.Each(t, func(t *testing.T, dialect string) {
		t.Parallel()
		h := newHarness(t, dialect, harnessOptions{})
		handler := h.svc.Webhooks()
		for i := 0; i < sources; i++ {
			req := httptest.NewRequest(http.MethodPost, "/webhooks/generic", strings.NewReader(`{"order_id":"X"}`))
			req.RemoteAddr = fmt.Sprintf("10.%d.%d.%d:40000", i/200, i%200, 1+i%250)
			rec := httptest.NewRecorder()
			handler.ServeHTTP(rec, req)
			if rec.Code != http.StatusUnauthorized {
				t.Fatalf("request %d: %d %s", i, rec.Code, rec.Body)
			}
		}
		if err := h.svc.FlushRefusals(context.Background()); err != nil {
			t.Fatal(err)
		}
		rs, err := h.db.ListRefusals(context.Background(), 500)
		if err != nil {
			t.Fatal(err)
		}
		var counted int64
		for _, r := range rs {
			counted += r.Requests
		}
		// The requests may straddle an hour: two windows at most.
		if bound := 2 * (core.MaxRefusalSources + 1); len(rs) > bound || counted != sources {
			t.Fatalf("%d refusal records counting %d requests; want at most %d records counting %d", len(rs), counted, bound, sources)
		}
		t.Logf("%s: %d sources, %d records", dialect, sources, len(rs))
	})
}
