package amocrm_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/paysync/paysync/connectors/amocrm"
	"github.com/paysync/paysync/core"
	sandbox "github.com/paysync/paysync/sandbox/amocrm"
)

func classOf(t *testing.T, err error) *core.DeliveryError {
	t.Helper()
	if err == nil {
		t.Fatal("succeeded, want an error")
	}
	de := amocrm.Classify(err)
	if strings.Contains(de.Error(), sandbox.DefaultAccessToken) || strings.Contains(de.Reason, sandbox.DefaultAccessToken) {
		t.Fatalf("the error leaks the token: %v", de)
	}
	return de
}

// TestClientKeepsToSevenInAnySecond: requests from several goroutines, as
// fast as they can, never make the account see more than 7 in a second.
func TestClientKeepsToSevenInAnySecond(t *testing.T) {
	t.Parallel()
	a := newAccount(t, sandbox.Options{})
	c := a.client(t)
	var wg sync.WaitGroup
	for range 3 {
		wg.Go(func() {
			for range 6 {
				if _, err := c.LeadsByID(context.Background(), []int64{1}); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	st := a.Stats()
	if st.Requests != 18 || st.Rejected != 0 || st.MaxPerWindow > sandbox.DefaultLimit {
		t.Fatalf("the account saw %d requests, refused %d, at most %d in a second (limit %d)",
			st.Requests, st.Rejected, st.MaxPerWindow, sandbox.DefaultLimit)
	}
}

func TestClientErrors(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for _, tc := range []struct {
		name   string
		fault  func(a *account)
		class  core.ErrorClass
		slow   bool
		after  time.Duration
		reason string
	}{
		{"429 json", func(a *account) { a.Throttle(true) }, core.Retryable, true, time.Second, "rate limit"},
		{"429 html", func(a *account) { a.Throttle(true); a.PlainTooManyRequests(true) }, core.Retryable, true, time.Second, "rate limit"},
		{"403 html block", func(a *account) { a.Block() }, core.Paused, false, 0, "ask amoCRM support to lift the block"},
		{"402 unpaid", func(a *account) { a.SetUnpaid(true) }, core.Paused, false, 0, "Settings > Billing"},
		{"401 long-lived", func(a *account) { a.SetAccessToken("another") }, core.NeedsReauth, false, 0, "PAYSYNC_AMOCRM_ACCESS_TOKEN"},
		{"502 html", func(a *account) { a.FailNextHTML(1, 502) }, core.Retryable, false, 0, "HTTP 502"},
		{"500 json", func(a *account) { a.FailNext(1, 500) }, core.Retryable, false, 0, "HTTP 500"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			a := newAccount(t, sandbox.Options{})
			c := a.client(t)
			tc.fault(a)
			_, err := c.LeadsByID(ctx, []int64{1})
			de := classOf(t, err)
			if de.Class != tc.class || de.SlowDown != tc.slow || de.RetryAfter != tc.after || !strings.Contains(de.Reason, tc.reason) {
				t.Fatalf("got %s slowdown=%v retry_after=%v %q; want %s slowdown=%v retry_after=%v, reason with %q",
					de.Class, de.SlowDown, de.RetryAfter, de.Reason, tc.class, tc.slow, tc.after, tc.reason)
			}
		})
	}
}

// TestBlockedClientStopsKnocking: after a 403 block the client sends
// nothing more for a while, so it cannot prolong the block.
func TestBlockedClientStopsKnocking(t *testing.T) {
	t.Parallel()
	a := newAccount(t, sandbox.Options{})
	c := a.client(t)
	a.Block()
	for range 3 {
		if de := classOf(t, func() error { _, err := c.LeadsByID(context.Background(), []int64{1}); return err }()); de.Class != core.Paused {
			t.Fatalf("class %s", de.Class)
		}
	}
	if n := a.Stats().Requests; n != 1 {
		t.Fatalf("the blocked account got %d requests, want 1", n)
	}
}

// TestRetryAfterHoldsTheClient: a 429 with retry_after keeps every
// request of the client back that long.
func TestRetryAfterHoldsTheClient(t *testing.T) {
	t.Parallel()
	a := newAccount(t, sandbox.Options{})
	c := a.client(t)
	a.Throttle(true)
	if _, err := c.LeadsByID(context.Background(), []int64{1}); err == nil {
		t.Fatal("throttled request succeeded")
	}
	a.Throttle(false)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	_, err := c.LeadsByID(ctx, []int64{1})
	if de := classOf(t, err); de.Class != core.Retryable {
		t.Fatalf("a request inside retry_after: %v", err)
	}
	if n := a.Stats().Requests; n != 1 {
		t.Fatalf("the account got %d requests inside retry_after, want only the refused one", n)
	}
}

func TestValidationErrorsByRequestID(t *testing.T) {
	t.Parallel()
	a := newAccount(t, sandbox.Options{})
	c := a.client(t)
	good := map[string]any{"name": "ok", "request_id": "7"}
	bad := map[string]any{"name": "bad", "status_id": 5, "request_id": "9"}
	_, err := c.AddComplex(context.Background(), []map[string]any{good, bad})
	v := amocrm.Validation(err)
	if len(v) != 1 || len(v["9"]) != 1 || v["9"][0].Path != "status_id" || v["9"][0].Code != "NotSupportedChoice" {
		t.Fatalf("validation %v from %v", v, err)
	}
	var ae *amocrm.APIError
	if !errors.As(err, &ae) || ae.Status != http.StatusBadRequest {
		t.Fatalf("error %T %v", err, err)
	}
	if de := classOf(t, err); de.Class != core.Permanent || !strings.Contains(de.Reason, "status_id: NotSupportedChoice") {
		t.Fatalf("classified %s %q", de.Class, de.Reason)
	}
	if n := len(a.Leads()); n != 0 {
		t.Fatalf("a refused request stored %d leads", n)
	}
}

func TestSearchTreats204AsNone(t *testing.T) {
	t.Parallel()
	a := newAccount(t, sandbox.Options{})
	c := a.client(t)
	got, err := c.SearchLeads(context.Background(), "IG-404", nil)
	if err != nil || len(got) != 0 {
		t.Fatalf("search of nothing: %v %v", got, err)
	}
}

func TestHangingRequestTimesOut(t *testing.T) {
	t.Parallel()
	a := newAccount(t, sandbox.Options{})
	c, err := amocrm.New(amocrm.Config{BaseURL: a.srv.URL, Tokens: amocrm.LongLivedToken(a.AccessToken()), Timeout: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	a.HangNext(1)
	_, err = c.LeadsByID(context.Background(), []int64{1})
	var te *amocrm.TransportError
	if !errors.As(err, &te) || !te.Timeout {
		t.Fatalf("hang: %T %v", err, err)
	}
	if de := classOf(t, err); de.Class != core.Retryable || !strings.Contains(de.Reason, "looked up first") {
		t.Fatalf("classified %s %q", de.Class, de.Reason)
	}
}

func TestNewRefusesBadConfig(t *testing.T) {
	t.Parallel()
	for _, base := range []string{"", "amocrm.ru", "ftp://x.amocrm.ru", "https://user:pw@x.amocrm.ru"} {
		if _, err := amocrm.New(amocrm.Config{BaseURL: base, Tokens: amocrm.LongLivedToken("t")}); err == nil {
			t.Errorf("base URL %q accepted", base)
		}
	}
	if _, err := amocrm.New(amocrm.Config{BaseURL: "https://x.amocrm.ru"}); err == nil {
		t.Error("no credentials accepted")
	}
	c, err := amocrm.New(amocrm.Config{BaseURL: "https://x.amocrm.ru/", Tokens: amocrm.LongLivedToken("secret-token-1")})
	if err != nil || c.BaseURL() != "https://x.amocrm.ru" {
		t.Fatalf("base %v %v", c, err)
	}
}

// TestNoRequestStartsAtTheDeadline: a request that would start within 2 s
// of the deadline is not sent (it could be cut short after creating a lead).
func TestNoRequestStartsAtTheDeadline(t *testing.T) {
	t.Parallel()
	a := newAccount(t, sandbox.Options{})
	c := a.client(t)
	ctx, cancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
	defer cancel()
	_, err := c.LeadsByID(ctx, []int64{1})
	if de := classOf(t, err); de.Class != core.Retryable || de.SlowDown || !strings.Contains(de.Reason, "no request slot before the deadline") {
		t.Fatalf("near the deadline: %v", err)
	}
	if n := a.Stats().Requests; n != 0 {
		t.Fatalf("%d requests sent", n)
	}
}
