package outbound

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/paysync/paysync/internal/testutil"
)

// receiver records the paths it is sent and answers status (200 by default).
type receiver struct {
	mu     sync.Mutex
	paths  []string
	status int
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.paths = append(rc.paths, r.URL.Path)
	if rc.status != 0 {
		w.WriteHeader(rc.status)
	}
}

func (rc *receiver) got() string {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return strings.Join(rc.paths, ",")
}

func post(ctx context.Context, u string) (*http.Request, error) {
	return http.NewRequestWithContext(ctx, http.MethodPost, u, nil)
}

func setup(t *testing.T, late bool) (*Deliverer, *receiver, string) {
	rc := &receiver{}
	srv := httptest.NewServer(rc)
	t.Cleanup(srv.Close)
	d := New(Config{Client: srv.Client(), Retries: 2, RetryDelay: time.Millisecond, Now: time.Now, Noun: "webhook", LateURL: late})
	t.Cleanup(d.Close)
	return d, rc, srv.URL
}

func TestFaults(t *testing.T) {
	d, rc, base := setup(t, false)
	d.Enqueue(Message{ID: "0", Type: "t", Request: post})
	if ds := d.Deliveries(); len(ds) != 1 || !ds[0].Dropped || ds[0].Error != "no webhook URL configured" {
		t.Fatalf("without a URL: %+v", ds)
	}
	d.SetURL(base + "/configured")
	d.Inject(Faults{Drop: 1, Duplicate: 1, Copies: 0})
	d.Enqueue(Message{ID: "1", Request: post})                     // dropped
	d.Enqueue(Message{ID: "2", URL: base + "/own", Request: post}) // twice
	d.Wait()
	if got := rc.got(); got != "/own,/own" {
		t.Fatalf("drop and duplicate: %s", got)
	}
	rc.mu.Lock()
	rc.paths = nil
	rc.mu.Unlock()
	d.Hold()
	d.Enqueue(Message{ID: "3", URL: base + "/a", Request: post})
	d.Enqueue(Message{ID: "4", Request: post})
	d.SetURL(base + "/moved") // bound at enqueue: 4 still goes to /configured
	d.Wait()
	if got := rc.got(); got != "" {
		t.Fatalf("held messages were sent: %s", got)
	}
	d.Release(true)
	d.Wait()
	if got := rc.got(); got != "/configured,/a" {
		t.Fatalf("release in reverse: %s", got)
	}
}

func TestLateURL(t *testing.T) {
	d, rc, base := setup(t, true)
	d.SetURL(base + "/first")
	d.Hold()
	d.Enqueue(Message{ID: "1", Request: post})
	d.SetURL(base + "/second")
	d.Release(false)
	d.Wait()
	if got := rc.got(); got != "/second" {
		t.Fatalf("late URL: %s", got)
	}
}

func TestRetries(t *testing.T) {
	for _, c := range []struct {
		status, attempts int
	}{{http.StatusServiceUnavailable, 3}, {http.StatusTooManyRequests, 3}, {http.StatusBadRequest, 1}} {
		d, rc, base := setup(t, false)
		rc.mu.Lock()
		rc.status = c.status
		rc.mu.Unlock()
		d.SetURL(base)
		d.Enqueue(Message{ID: "1", Request: post})
		d.Wait()
		if ds := d.Deliveries(); len(ds) != c.attempts || ds[0].Status != c.status {
			t.Fatalf("status %d: %+v", c.status, ds)
		}
	}
}

// TestFailedDeliveriesAreLogged: a sandbox pointed at a paysync that is not
// there, or that refuses, says so instead of failing silently.
func TestFailedDeliveriesAreLogged(t *testing.T) {
	var logs testutil.SyncBuffer
	rc := &receiver{status: http.StatusNotFound}
	srv := httptest.NewServer(rc)
	defer srv.Close()
	d := New(Config{Client: srv.Client(), Retries: 1, RetryDelay: time.Millisecond, Now: time.Now, Noun: "webhook",
		Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	defer d.Close()
	d.Enqueue(Message{ID: "evt-404", URL: srv.URL + "/webhooks/vpos", Request: post})
	d.Enqueue(Message{ID: "evt-down", URL: "http://127.0.0.1:1/webhooks/vpos", Request: post})
	d.Wait()
	out := logs.String()
	for _, want := range []string{"sandbox webhook delivery failed", "event_id=evt-404", "status=404", "event_id=evt-down", "err="} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %q:\n%s", want, out)
		}
	}
}
