package httpapi_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/paysync/paysync/core"
	"github.com/paysync/paysync/dispatcher"
	"github.com/paysync/paysync/dispatcher/dispatchertest"
	"github.com/paysync/paysync/httpapi"
	"github.com/paysync/paysync/storage/testdb"
)

// GET /v1/outbox/stats reports each connector's state from the dispatcher,
// and the oldest pending time only while something is pending.
func TestOutboxStatsReportState(t *testing.T) {
	testdb.Each(t, func(t *testing.T, dialect string) {
		db := testdb.Open(t, dialect)
		l := &core.Ledger{Store: db, Connectors: func() []string { return []string{"crm"} }}
		d := dispatcher.New(db, []core.Connector{dispatchertest.NewCRM("crm", 1)},
			dispatcher.Options{Owner: "t", Logger: slog.New(slog.DiscardHandler)})
		ts := httptest.NewServer((&httpapi.Server{Store: db, Orders: l, AdminToken: token, Outbox: d}).Handler())
		t.Cleanup(ts.Close)
		raw := func() string {
			req, _ := http.NewRequest("GET", ts.URL+"/v1/outbox/stats", nil)
			req.Header.Set("Authorization", "Bearer "+token)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			return string(b)
		}
		if got := raw(); !strings.Contains(got, `"state": "stopped"`) || strings.Contains(got, "0001-01-01") || strings.Contains(got, "oldest_pending") {
			t.Fatalf("empty backlog: %s", got)
		}
		if _, _, err := l.CreateOrder(context.Background(), core.Order{ID: "o-1", AmountMinor: 100, Currency: "AMD"}); err != nil {
			t.Fatal(err)
		}
		if got := raw(); !strings.Contains(got, `"pending": 1`) || !strings.Contains(got, `"oldest_pending": "`) {
			t.Fatalf("one pending: %s", got)
		}
		recs, _ := db.ClaimOutbox(context.Background(), core.ClaimRequest{Connector: "crm", Owner: "t", Token: "k", Limit: 1, Lease: time.Minute, Now: time.Now().Add(time.Second)})
		if len(recs) != 1 {
			t.Fatalf("claimed %d", len(recs))
		}
		db.CompleteOutbox(context.Background(), core.Completion{ID: recs[0].ID, Token: "k", Outcome: core.OutcomeDelivered, Now: time.Now()})
		if got := raw(); !strings.Contains(got, `"delivered": 1`) || strings.Contains(got, "oldest_pending") || strings.Contains(got, "0001-01-01") {
			t.Fatalf("all delivered: %s", got)
		}
	})
}

// Without a dispatcher the store's counts are reported, without zero times.
func TestOutboxStatsFromTheStoreAlone(t *testing.T) {
	ts, l := newServer(t, "sqlite")
	if _, _, err := l.CreateOrder(context.Background(), core.Order{ID: "o-1", AmountMinor: 100, Currency: "AMD"}); err != nil {
		t.Fatal(err)
	}
	code, out := do(t, ts, "GET", "/v1/outbox/stats", "", true)
	cs, _ := out["connectors"].([]any)
	if code != 200 || len(cs) != 1 || cs[0].(map[string]any)["oldest_pending"] == nil || cs[0].(map[string]any)["state"] != nil {
		t.Fatalf("%d %v", code, out)
	}
}
