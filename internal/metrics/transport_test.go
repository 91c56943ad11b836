package metrics_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/paysync/paysync/core"
	"github.com/paysync/paysync/internal/metrics"
)

// TestNoRequestOnceTheLeaseIsLost: a connector's request under a context
// whose send check says no (the replica stopped trusting its lease) never
// reaches the CRM, and fails with ELEASELOST; with the check saying yes, or
// without one, it is sent.
func TestNoRequestOnceTheLeaseIsLost(t *testing.T) {
	var hits atomic.Int64
	crm := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits.Add(1) }))
	defer crm.Close()
	hc := metrics.New(prometheus.NewRegistry()).HTTPClient("bitrix24")
	send := func(ctx context.Context) error {
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, crm.URL, nil)
		resp, err := hc.Do(req)
		if err == nil {
			resp.Body.Close()
		}
		return err
	}

	lead := true
	ctx := core.WithSendCheck(context.Background(), func() bool { return lead })
	if err := send(ctx); err != nil || hits.Load() != 1 {
		t.Fatalf("while leading: err %v, CRM saw %d requests, want nil and 1", err, hits.Load())
	}
	lead = false
	if err := send(ctx); core.ErrorCode(err) != core.ELEASELOST || hits.Load() != 1 {
		t.Fatalf("after the lease was lost: err %v (code %q), CRM saw %d requests, want lease_lost and still 1", err, core.ErrorCode(err), hits.Load())
	}
	if err := send(context.Background()); err != nil || hits.Load() != 2 {
		t.Fatalf("without a check: err %v, CRM saw %d requests, want nil and 2", err, hits.Load())
	}
}
