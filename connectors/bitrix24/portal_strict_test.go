package bitrix24_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/paysync/paysync/connectors/bitrix24"
	"github.com/paysync/paysync/connectors/connectortest"
	"github.com/paysync/paysync/core"
	"github.com/paysync/paysync/internal/oauthtoken"
	sandbox "github.com/paysync/paysync/sandbox/bitrix24"
)

// crm.duplicate.findbycomm returns at most 20 contacts per entity type:
// a grouped search whose matches were cut off must not read the values it
// could not place as "no contact" (issue 24). Nineteen customers of the
// delivery have two contacts each on the portal and a repeat customer one,
// newer than all of them: a group of their 20 phones finds 39 contacts,
// the portal answers the oldest 20, and the repeat customer's is cut off.
func TestCutOffFindByCommKeepsTheRepeatCustomersContact(t *testing.T) {
	t.Parallel()
	p := newPortal(t, sandbox.Options{BlockThreshold: 10_000})
	c := newConnector(t, p, shippedMapping(t))
	phone := func(i int) string { return fmt.Sprintf("+37491%06d", 500000+i) }
	for i := range 19 {
		for range 2 {
			p.AddContact(sandbox.Contact{Name: fmt.Sprint("Old ", i), Phones: []string{phone(i)}})
		}
	}
	repeat := p.AddContact(sandbox.Contact{Name: "Repeat customer", Phones: []string{phone(19)}})
	ds := make([]core.Delivery, 60) // enough values that searches are grouped 20 a command
	for i := range ds {
		o := connectortest.Order(fmt.Sprintf("CUT-%03d", i))
		o.Customer.Phone, o.Customer.Email = phone(i), fmt.Sprintf("cut-%03d@example.com", i)
		ds[i] = core.Delivery{Order: o}
	}
	before := len(p.Contacts())
	res := c.Deliver(context.Background(), ds)
	for i, r := range res {
		if r.Err != nil {
			t.Fatalf("order %d: %v", i, r.Err)
		}
	}
	d := p.DealsByOrigin(bitrix24.DefaultOriginatorID, "CUT-019")
	if len(d) != 1 || len(d[0].ContactIDs) != 1 || d[0].ContactIDs[0] != repeat {
		t.Fatalf("the repeat customer's deal %+v: want contact %d, the one the portal has", d, repeat)
	}
	if n := len(p.ContactsByPhone(phone(19))); n != 1 {
		t.Fatalf("the repeat customer has %d contacts now", n)
	}
	if got, want := len(p.Contacts())-before, 40; got != want {
		t.Fatalf("%d contacts added, want %d (only the 40 new customers')", got, want)
	}
}

// Lookups that need no total send start=-1: with start ≥ 0 every crm.*.list
// counts all rows, charged to the method's operating time (issue 24).
func TestLookupsDoNotCount(t *testing.T) {
	t.Parallel()
	// 2,000 deals of other orders; counting them costs 2 s of a 10 s budget.
	p := newPortal(t, sandbox.Options{BlockThreshold: 100_000, CountCost: time.Millisecond, OperatingLimit: 10 * time.Second})
	for i := range 40 {
		var cmds []bitrix24.Command
		for j := range 50 {
			cmds = append(cmds, bitrix24.Command{Method: "crm.deal.add", Params: map[string]any{"fields": map[string]any{"TITLE": fmt.Sprint("other ", i, "/", j)}}})
		}
		if _, err := p.webhookClient(t).Batch(context.Background(), cmds, true); err != nil {
			t.Fatal(err)
		}
	}
	c := newConnector(t, p, shippedMapping(t))
	for n := range 8 {
		o := connectortest.Order(fmt.Sprintf("NOCOUNT-%d", n))
		r := c.Deliver(context.Background(), []core.Delivery{{Order: o}})[0]
		if r.Err != nil {
			t.Fatalf("delivery %d: %v", n, r.Err)
		}
	}
}

// After OPERATION_TIME_LIMIT the wait comes from operating_reset_at of the
// last successful answer: the error answer carries none (issue 24).
func TestOperatingLimitWaitsForTheLastResetAt(t *testing.T) {
	t.Parallel()
	p := newPortal(t, sandbox.Options{})
	c := p.webhookClient(t)
	resp, err := c.Call(context.Background(), "crm.deal.list", map[string]any{"start": -1})
	if err != nil {
		t.Fatal(err)
	}
	reset := time.Unix(int64(resp.Time.OperatingResetAt), 0)
	if !reset.After(p.clock.Now()) {
		t.Fatalf("the answer's operating_reset_at %s is not ahead", reset)
	}
	p.clock.Advance(time.Minute)
	p.ForceOperationTimeLimit("crm.deal.list", p.clock.Now().Add(time.Hour))
	_, err = c.Call(context.Background(), "crm.deal.list", map[string]any{"start": -1})
	de := classOf(t, err)
	want := reset.Sub(p.clock.Now())
	if !de.SlowDown || de.RetryAfter < want-time.Second || de.RetryAfter > want+time.Second {
		t.Fatalf("OPERATION_TIME_LIMIT: retry after %s (slow down %v), want %s, until the last answer's operating_reset_at", de.RetryAfter, de.SlowDown, want)
	}
	// Inside a batch: the command's own method's last reset time.
	p.ForceOperationTimeLimit("crm.deal.add", p.clock.Now().Add(time.Hour))
	res, err := c.Batch(context.Background(), []bitrix24.Command{{Method: "crm.deal.add", Params: map[string]any{"fields": map[string]any{"TITLE": "x"}}}}, false)
	if err != nil {
		t.Fatal(err)
	}
	if de := classOf(t, res[0].Err); !de.SlowDown || de.RetryAfter < time.Second {
		t.Fatalf("a command over its limit: %v (retry after %s)", res[0].Err, de.RetryAfter)
	}
}

// NO_AUTH_FOUND, INVALID_CREDENTIALS and insufficient_scope need different
// fixes, with a webhook and with OAuth (issue 24).
func TestAuthErrorsToldApart(t *testing.T) {
	t.Parallel()
	reasons := map[string]string{}
	for _, oauth := range []bool{false, true} {
		for _, code := range []string{"NO_AUTH_FOUND", "INVALID_CREDENTIALS", "insufficient_scope"} {
			de := bitrix24.Classify(&bitrix24.APIError{Method: "crm.deal.list", Status: http.StatusUnauthorized, Code: code, OAuth: oauth})
			if de.Class != core.NeedsReauth {
				t.Errorf("%s (oauth %v): %s, want needs_reauth", code, oauth, de.Class)
			}
			key := fmt.Sprint(code, " oauth=", oauth)
			for other, r := range reasons {
				if r == de.Reason {
					t.Errorf("%s and %s get the same fix: %s", key, other, r)
				}
			}
			reasons[key] = de.Reason
		}
	}
	for key, words := range map[string][]string{
		"NO_AUTH_FOUND oauth=false":       {"PAYSYNC_BITRIX24_WEBHOOK_URL", "deleted"},
		"INVALID_CREDENTIALS oauth=false": {"no active", "rights"},
		"insufficient_scope oauth=false":  {"crm scope", "webhook"},
		"NO_AUTH_FOUND oauth=true":        {"access token", "re-authorise"},
		"INVALID_CREDENTIALS oauth=true":  {"user", "rights"},
		"insufficient_scope oauth=true":   {"crm scope", "app"},
	} {
		for _, w := range words {
			if !strings.Contains(reasons[key], w) {
				t.Errorf("%s: %q lacks %q", key, reasons[key], w)
			}
		}
	}
}

// The OAuth server's PAYMENT_REQUIRED pauses the connector: the app's
// subscription has lapsed, nothing is wrong with the orders (issue 24).
func TestOAuthPaymentRequiredPauses(t *testing.T) {
	t.Parallel()
	p := newPortal(t, sandbox.Options{})
	access, refresh := p.IssueTokens()
	c := oauthClient(t, p, oauthtoken.NewMemoryStore(oauthtoken.Token{AccessToken: access, RefreshToken: refresh}))
	p.ExpireAccessTokens()
	p.FailOAuth(http.StatusPaymentRequired, "PAYMENT_REQUIRED", "Payment required")
	_, err := c.Call(context.Background(), "crm.deal.list", nil)
	if de := classOf(t, err); de.Class != core.Paused || !strings.Contains(de.Reason, "PAYMENT_REQUIRED") {
		t.Fatalf("PAYMENT_REQUIRED from the OAuth server: %v (%s)", err, de.Class)
	}
}

// Every request is reported to the dispatcher's breaker: a rate-limit
// answer as throttled, a 5xx as failed.
func TestRequestsAreReported(t *testing.T) {
	t.Parallel()
	p := newPortal(t, sandbox.Options{})
	c := p.webhookClient(t)
	var mu sync.Mutex
	var got []core.RequestOutcome
	ctx := core.WithRequestObserver(context.Background(), func(o core.RequestOutcome) {
		mu.Lock()
		defer mu.Unlock()
		got = append(got, o)
	})
	c.Call(ctx, "crm.deal.list", nil)
	p.FailNext(1, http.StatusInternalServerError)
	c.Call(ctx, "crm.deal.list", nil)
	p.FillBucket()
	c.Call(ctx, "crm.deal.list", nil)
	mu.Lock()
	defer mu.Unlock()
	want := []core.RequestOutcome{core.RequestAnswered, core.RequestFailed, core.RequestThrottled}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("reported %v, want %v", got, want)
	}
}
