package bitrix24_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/time/rate"

	"github.com/paysync/paysync/connectors/bitrix24"
	"github.com/paysync/paysync/core"
	"github.com/paysync/paysync/internal/oauthtoken"
	sandbox "github.com/paysync/paysync/sandbox/bitrix24"
	"github.com/paysync/paysync/storage"
	"github.com/paysync/paysync/storage/testdb"
)

var t0 = time.Date(2025, 3, 1, 10, 0, 0, 0, time.UTC)

type portal struct {
	*sandbox.Portal
	srv   *httptest.Server
	clock *sandbox.ManualClock
}

func newPortal(t testing.TB, opts sandbox.Options) *portal {
	t.Helper()
	clock := sandbox.NewManualClock(t0)
	opts.Now = clock.Now
	p := sandbox.New(opts)
	srv := httptest.NewServer(p)
	t.Cleanup(func() { p.Close(); srv.Close() })
	return &portal{Portal: p, srv: srv, clock: clock}
}

func (p *portal) webhookClient(t testing.TB) *bitrix24.Client {
	t.Helper()
	c, err := bitrix24.New(bitrix24.Config{WebhookURL: p.WebhookURL(p.srv.URL), Rate: rate.Inf, Now: p.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func classOf(t *testing.T, err error) *core.DeliveryError {
	t.Helper()
	var de *core.DeliveryError
	if !errors.As(err, &de) {
		t.Fatalf("error %v (%T) is not a *core.DeliveryError", err, err)
	}
	return de
}

func TestCallRoundTrip(t *testing.T) {
	p := newPortal(t, sandbox.Options{})
	c := p.webhookClient(t)
	ctx := context.Background()
	resp, err := c.Call(ctx, "crm.deal.add", map[string]any{"fields": map[string]any{
		"TITLE": "Order A-1", "CURRENCY_ID": "AMD", "OPPORTUNITY": "15000.00", "ORIGINATOR_ID": "paysync", "ORIGIN_ID": "A-1",
	}})
	if err != nil {
		t.Fatal(err)
	}
	var id int
	if err := resp.Decode(&id); err != nil || id != 1 {
		t.Fatalf("add: %s %v", resp.Result, err)
	}
	resp, err = c.Call(ctx, "crm.deal.list", map[string]any{
		"filter": map[string]any{"=ORIGINATOR_ID": "paysync", "=ORIGIN_ID": "A-1"}, "select": []string{"ID"},
	})
	if err != nil || resp.Total != 1 || resp.Next != nil || string(resp.Result) != `[{"ID":"1"}]` {
		t.Fatalf("list: %+v %v", resp, err)
	}
	if resp.Time.DateStart == "" || resp.Time.OperatingResetAt == 0 {
		t.Fatalf("time not decoded: %+v", resp.Time)
	}
}

func TestWebhookURLIsRedacted(t *testing.T) {
	const code = "s3cr3tc0de9x"
	// A closed server: connection refused, the error of a real outage.
	dead := httptest.NewServer(http.NotFoundHandler())
	deadURL := dead.URL + "/rest/7/" + code + "/"
	dead.Close()
	c, err := bitrix24.New(bitrix24.Config{WebhookURL: deadURL, Rate: rate.Inf})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Call(context.Background(), "crm.deal.add", map[string]any{"fields": map[string]any{"TITLE": "x"}})
	de := classOf(t, err)
	if de.Class != core.Retryable {
		t.Fatalf("network error: %v", de.Class)
	}
	for _, leak := range []string{code, deadURL, strings.TrimSuffix(deadURL, "/")} {
		if strings.Contains(err.Error(), leak) || strings.Contains(fmt.Sprintf("%+v %#v", err, err), leak) {
			t.Fatalf("error leaks the webhook: %v", err)
		}
	}
	for _, s := range []string{fmt.Sprint(c), fmt.Sprintf("%#v", c), fmt.Sprint(bitrix24.Config{WebhookURL: deadURL})} {
		if strings.Contains(s, code) {
			t.Fatalf("String leaks the webhook: %s", s)
		}
	}

	// A timeout names neither.
	p := newPortal(t, sandbox.Options{WebhookCode: code})
	p.HangNext(1)
	hc, err := bitrix24.New(bitrix24.Config{WebhookURL: p.WebhookURL(p.srv.URL), Rate: rate.Inf, Timeout: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	_, err = hc.Call(context.Background(), "crm.deal.add", map[string]any{"fields": map[string]any{"TITLE": "x"}})
	if de := classOf(t, err); de.Class != core.Retryable || strings.Contains(err.Error(), code) {
		t.Fatalf("timeout: %v", err)
	}

	// A bad URL is refused without being echoed.
	bad := "https://portal.example.com/api/" + code
	if _, err := bitrix24.New(bitrix24.Config{WebhookURL: bad}); err == nil || strings.Contains(err.Error(), code) {
		t.Fatalf("bad URL: %v", err)
	}
}

func TestWrongWebhookCode(t *testing.T) {
	p := newPortal(t, sandbox.Options{})
	hook := strings.Replace(p.WebhookURL(p.srv.URL), sandbox.DefaultWebhookCode, "wrongcode123", 1)
	c, err := bitrix24.New(bitrix24.Config{WebhookURL: hook, Rate: rate.Inf})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Call(context.Background(), "crm.deal.list", nil)
	de := classOf(t, err)
	if de.Class != core.NeedsReauth || !strings.Contains(de.Reason, "no active incoming webhook with the user id and code in PAYSYNC_BITRIX24_WEBHOOK_URL") ||
		!strings.Contains(de.Reason, "create a new webhook") || strings.Contains(err.Error(), "wrongcode123") {
		t.Fatalf("wrong code: %v", err)
	}
}

func TestClassify(t *testing.T) {
	cases := []struct {
		name     string
		err      *bitrix24.APIError
		class    core.ErrorClass
		slowDown bool
		reason   string
	}{
		{"query limit", &bitrix24.APIError{Status: 503, Code: "QUERY_LIMIT_EXCEEDED"}, core.Retryable, true, "rate limit"},
		{"operating", &bitrix24.APIError{Status: 429, Code: "OPERATION_TIME_LIMIT", RetryAfter: time.Minute}, core.Retryable, true, "OPERATION_TIME_LIMIT"},
		{"5xx", &bitrix24.APIError{Status: 502}, core.Retryable, false, "HTTP 502"},
		{"core", &bitrix24.APIError{Status: 500, Code: "ERROR_CORE"}, core.Retryable, false, "internal error"},
		{"expired", &bitrix24.APIError{Status: 401, Code: "expired_token", OAuth: true}, core.Retryable, false, "refreshed"},
		{"credentials", &bitrix24.APIError{Status: 401, Code: "INVALID_CREDENTIALS"}, core.NeedsReauth, false, "no active incoming webhook with the user id and code in PAYSYNC_BITRIX24_WEBHOOK_URL, or the user behind it lacks the rights"},
		{"no auth", &bitrix24.APIError{Status: 401, Code: "NO_AUTH_FOUND"}, core.NeedsReauth, false, "/rest/{user_id}/{code}/"},
		{"payment", &bitrix24.APIError{Method: "oauth", Status: 402, Code: "PAYMENT_REQUIRED", OAuth: true}, core.Paused, false, "renew it in Bitrix24 > Market"},
		{"grant", &bitrix24.APIError{Status: 400, Code: "invalid_grant", OAuth: true}, core.NeedsReauth, false, "re-authorise"},
		{"scope", &bitrix24.APIError{Status: 401, Code: "insufficient_scope"}, core.NeedsReauth, false, "tick CRM (crm)"},
		{"plan", &bitrix24.APIError{Status: 403, Code: "ACCESS_DENIED"}, core.Paused, false, "REST is only on commercial plans"},
		{"overload", &bitrix24.APIError{Status: 503, Code: "OVERLOAD_LIMIT"}, core.Paused, false, "OVERLOAD_LIMIT"},
		{"currency", &bitrix24.APIError{Method: "crm.deal.add", Status: 400, Description: `Invalid value for the "Currency" field`, Currency: "AMD"},
			core.Permanent, false, "Bitrix24 rejected CURRENCY_ID AMD: enable AMD in CRM > Settings > Currencies"},
		{"currency in batch", &bitrix24.APIError{Method: "crm.deal.add", Description: `Invalid value for the "Currency" field`, Currency: "GBP"},
			core.Permanent, false, "CURRENCY_ID GBP"},
		{"not found", &bitrix24.APIError{Method: "crm.deal.update", Status: 400, Description: "Not found"}, core.Permanent, false, "crm.deal.update: Not found"},
		{"method error", &bitrix24.APIError{Method: "crm.deal.add", Status: 400, Description: `Invalid value for the "Amount" field`}, core.Permanent, false, `"Amount"`},
		{"batch length", &bitrix24.APIError{Method: "batch", Status: 400, Code: "ERROR_BATCH_LENGTH_EXCEEDED"}, core.Permanent, false, "batch"},
		{"unreadable 200", &bitrix24.APIError{Method: "crm.deal.add", Status: 200, Code: "ERROR_UNEXPECTED_ANSWER"}, core.Retryable, false, "will retry"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			de := bitrix24.Classify(tc.err)
			if de.Class != tc.class || de.SlowDown != tc.slowDown || !strings.Contains(de.Reason, tc.reason) {
				t.Fatalf("got %v slowDown=%v %q", de.Class, de.SlowDown, de.Reason)
			}
			if !errors.Is(de, tc.err) {
				t.Fatal("the APIError must stay in the chain")
			}
		})
	}
	if de := bitrix24.Classify(context.DeadlineExceeded); de.Class != core.Retryable {
		t.Fatalf("deadline: %v", de.Class)
	}
}

func TestClassifyAgainstPortal(t *testing.T) {
	p := newPortal(t, sandbox.Options{})
	c := p.webhookClient(t)
	ctx := context.Background()
	add := map[string]any{"fields": map[string]any{"TITLE": "x", "CURRENCY_ID": "AMD"}}

	p.DisableCurrency("AMD")
	_, err := c.Call(ctx, "crm.deal.add", add)
	if de := classOf(t, err); de.Class != core.Permanent || !strings.Contains(de.Reason, "enable AMD in CRM > Settings > Currencies") {
		t.Fatalf("currency: %v", err)
	}
	p.EnableCurrency("AMD")

	// The 51st request of a burst is refused by the portal's leaky bucket.
	p.DrainBucket()
	for i := 1; i <= 50; i++ {
		if _, err := c.Call(ctx, "crm.deal.fields", nil); err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
	}
	_, err = c.Call(ctx, "crm.deal.fields", nil)
	if de := classOf(t, err); de.Class != core.Retryable || !de.SlowDown {
		t.Fatalf("51st request: %v", err)
	}
	p.clock.Advance(time.Second)
	if _, err := c.Call(ctx, "crm.deal.fields", nil); err != nil {
		t.Fatalf("after draining: %v", err)
	}
	p.DrainBucket()

	// No successful crm.deal.add answered yet, so no operating_reset_at is
	// known (the error carries none): the next one-minute bucket.
	// TestOperatingLimitWaitsForTheLastResetAt has the known case.
	p.ForceOperationTimeLimit("crm.deal.add", t0.Add(90*time.Second))
	_, err = c.Call(ctx, "crm.deal.add", add)
	if de := classOf(t, err); de.Class != core.Retryable || !de.SlowDown || de.RetryAfter != time.Minute {
		t.Fatalf("operation time limit: %v retryAfter=%v", err, classOf(t, err).RetryAfter)
	}

	p.FailNext(1, http.StatusBadGateway)
	if _, err := c.Call(ctx, "crm.deal.add", add); classOf(t, err).Class != core.Retryable {
		t.Fatalf("502: %v", err)
	}
	p.SetPlanBlocked(true)
	if _, err := c.Call(ctx, "crm.deal.add", add); classOf(t, err).Class != core.Paused {
		t.Fatalf("plan: %v", err)
	}
	p.SetPlanBlocked(false)
	p.SetScopes("task")
	if _, err := c.Call(ctx, "crm.deal.add", add); classOf(t, err).Class != core.NeedsReauth || !strings.Contains(err.Error(), "crm scope") {
		t.Fatalf("scope: %v", err)
	}
	p.SetScopes("crm")
	_, err = c.Call(ctx, "crm.deal.update", map[string]any{"id": 4242, "fields": map[string]any{"TITLE": "x"}})
	if classOf(t, err).Class != core.Permanent || !bitrix24.IsNotFound(err) {
		t.Fatalf("update unknown: %v", err)
	}
}

func TestBatch(t *testing.T) {
	p := newPortal(t, sandbox.Options{})
	p.DisableCurrency("GBP")
	c := p.webhookClient(t)
	// Twelve keys: "k10" sorts before "k2", so order must come from the slice.
	var cmds []bitrix24.Command
	cmds = append(cmds, bitrix24.Command{Key: "k1", Method: "crm.contact.add", Params: map[string]any{"fields": map[string]any{
		"NAME": "Ann & Co", "PHONE": []map[string]string{{"VALUE": "+374 91 000000", "VALUE_TYPE": "MOBILE"}}}}})
	for i := 2; i <= 11; i++ {
		cmds = append(cmds, bitrix24.Command{Key: fmt.Sprint("k", i), Method: "crm.deal.add", Params: map[string]any{"fields": map[string]any{
			"TITLE": fmt.Sprintf("deal %d?&=[]", i), "CONTACT_IDS": []string{"$result[k1]"}, "CURRENCY_ID": "AMD"}}})
	}
	cmds[5].Params["fields"].(map[string]any)["CURRENCY_ID"] = "GBP"
	cmds = append(cmds, bitrix24.Command{Key: "k12", Method: "crm.deal.get", Params: map[string]any{"id": "$result[k11]"}})
	res, err := c.Batch(context.Background(), cmds, false)
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != len(cmds) {
		t.Fatalf("%d results for %d commands", len(res), len(cmds))
	}
	for i, r := range res {
		if r.Key != cmds[i].Key {
			t.Fatalf("result %d is %s", i, r.Key)
		}
		if i == 5 {
			de := classOf(t, r.Err)
			if de.Class != core.Permanent || !strings.Contains(de.Reason, "CURRENCY_ID GBP") {
				t.Fatalf("invalid item: %v", r.Err)
			}
			continue
		}
		if r.Err != nil {
			t.Fatalf("%s: %v", r.Key, r.Err)
		}
	}
	deals := p.Deals()
	if len(deals) != 9 || deals[0].Title != "deal 2?&=[]" || fmt.Sprint(deals[0].ContactIDs) != "[1]" {
		t.Fatalf("deals: %+v", deals)
	}
	var got map[string]any
	if err := json.Unmarshal(res[11].Result, &got); err != nil || got["TITLE"] != "deal 11?&=[]" {
		t.Fatalf("$result reference to a later key: %s", res[11].Result)
	}

	// Halt: the failing command stops the rest, which come back as retryable "not run".
	res, err = c.Batch(context.Background(), []bitrix24.Command{
		{Key: "a", Method: "crm.deal.update", Params: map[string]any{"id": 999, "fields": map[string]any{"TITLE": "x"}}},
		{Key: "b", Method: "crm.deal.add", Params: map[string]any{"fields": map[string]any{"TITLE": "never"}}},
	}, true)
	if err != nil || !bitrix24.IsNotFound(res[0].Err) || classOf(t, res[1].Err).Class != core.Retryable {
		t.Fatalf("halt: %+v %v", res, err)
	}

	if _, err := c.Batch(context.Background(), make([]bitrix24.Command, 51), false); classOf(t, err).Class != core.Permanent {
		t.Fatalf("51 commands: %v", err)
	}
}

// The portal writes PHP's empty array [] for an empty map, and a list when
// the keys happen to be 0..n-1; both must decode.
func TestBatchDecodesPHPArrays(t *testing.T) {
	answers := []string{
		`{"result":{"result":{"a":5,"b":true},"result_error":[],"result_total":[],"result_next":[],"result_time":[]},"time":{}}`,
		`{"result":{"result":{"a":5,"b":true},"result_error":{},"result_total":{},"result_next":{},"result_time":{}},"time":{}}`,
	}
	for _, answer := range answers {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, answer) }))
		c, err := bitrix24.New(bitrix24.Config{WebhookURL: srv.URL + "/rest/1/code1234/", Rate: rate.Inf})
		if err != nil {
			t.Fatal(err)
		}
		res, err := c.Batch(context.Background(), []bitrix24.Command{{Key: "a", Method: "crm.deal.add"}, {Key: "b", Method: "crm.deal.update"}}, false)
		srv.Close()
		if err != nil || res[0].Err != nil || string(res[0].Result) != "5" || res[1].Err != nil || string(res[1].Result) != "true" {
			t.Fatalf("%s: %+v %v", answer, res, err)
		}
	}
	list := `{"result":{"result":[7],"result_error":{"1":{"error":"","error_description":"Not found"}},"result_total":[],"result_next":[],"result_time":[]}}`
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, list) }))
	defer srv.Close()
	c, _ := bitrix24.New(bitrix24.Config{WebhookURL: srv.URL + "/rest/1/code1234/", Rate: rate.Inf})
	res, err := c.Batch(context.Background(), []bitrix24.Command{{Key: "0", Method: "crm.deal.add"}, {Key: "1", Method: "crm.deal.update"}}, false)
	if err != nil || string(res[0].Result) != "7" || !bitrix24.IsNotFound(res[1].Err) {
		t.Fatalf("list-shaped result: %+v %v", res, err)
	}
}

func TestEncodeQuery(t *testing.T) {
	got := bitrix24.EncodeQuery(map[string]any{
		"fields": map[string]any{
			"TITLE":       "a&b=c d",
			"PHONE":       []map[string]string{{"VALUE": "+37491", "VALUE_TYPE": "MOBILE"}},
			"OPPORTUNITY": 15000.5,
			"OPENED":      true,
			"SKIPPED":     nil,
			"IDS":         []int{3, 4},
		},
		"id": 7,
	})
	want := "fields[IDS][0]=3&fields[IDS][1]=4&fields[OPENED]=1&fields[OPPORTUNITY]=15000.5" +
		"&fields[PHONE][0][VALUE]=%2B37491&fields[PHONE][0][VALUE_TYPE]=MOBILE&fields[TITLE]=a%26b%3Dc+d&id=7"
	if got != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
}

// A client that just started cannot know what it sent before: it assumes its
// burst share is spent and waits for the bucket to drain one slot. A request
// that cannot get a slot before its deadline is refused at once, not sent.
func TestClientAssumesItsShareIsSpentAtStart(t *testing.T) {
	p := newPortal(t, sandbox.Options{})
	c, err := bitrix24.New(bitrix24.Config{WebhookURL: p.WebhookURL(p.srv.URL), Rate: 0.001})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	start := time.Now()
	_, err = c.Call(ctx, "crm.deal.fields", nil)
	if de := classOf(t, err); de.Class != core.Retryable || !de.SlowDown {
		t.Fatalf("first request: %v", err)
	}
	if time.Since(start) > 10*time.Second {
		t.Fatal("the request waited instead of giving up at once")
	}
	if st := p.Stats(); st.Requests != 0 {
		t.Fatalf("portal saw %d requests", st.Requests)
	}
	for _, bad := range []bitrix24.Config{{BurstShare: 1.5}, {BurstShare: -0.1}, {BucketSize: -1}, {Rate: -1}} {
		bad.WebhookURL = p.WebhookURL(p.srv.URL)
		if _, err := bitrix24.New(bad); core.ErrorCode(err) != core.EINVALID || !strings.Contains(err.Error(), "burst_share") {
			t.Fatalf("%+v: %v", bad, err)
		}
	}
}

func oauthClient(t *testing.T, p *portal, store oauthtoken.Store) *bitrix24.Client {
	t.Helper()
	c, err := bitrix24.New(bitrix24.Config{Rate: rate.Inf, Now: p.clock.Now, OAuth: &bitrix24.OAuthConfig{
		ClientID: sandbox.DefaultClientID, ClientSecret: sandbox.DefaultClientSecret,
		TokenURL: p.srv.URL + "/oauth/token/", PortalURL: p.srv.URL + "/rest/", Store: store,
	}})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestOAuthRefreshIsSerialized(t *testing.T) {
	p := newPortal(t, sandbox.Options{})
	access, refresh := p.IssueTokens()
	store := oauthtoken.NewMemoryStore(oauthtoken.Token{AccessToken: access, RefreshToken: refresh})
	c := oauthClient(t, p, store)
	if _, err := c.Call(context.Background(), "crm.deal.fields", nil); err != nil {
		t.Fatal(err)
	}
	p.ExpireAccessTokens()

	const n = 16
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := c.Call(context.Background(), "crm.deal.list", nil)
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("call after expiry: %v", err)
		}
	}
	if got := p.Stats().Refreshes; got != 1 {
		t.Fatalf("%d refreshes, want 1", got)
	}
	if got := store.Saves(); got != 1 {
		t.Fatalf("rotated token saved %d times, want 1", got)
	}
	stored, ver, _ := store.Load(context.Background())
	if stored.RefreshToken == refresh || stored.AccessToken == access || ver != 2 {
		t.Fatalf("stored token not rotated: ver %d", ver)
	}
	// A second client (another process) starts from the stored, rotated pair.
	if _, err := oauthClient(t, p, store).Call(context.Background(), "crm.deal.list", nil); err != nil {
		t.Fatalf("stored token: %v", err)
	}
}

func TestOAuthDeadRefreshToken(t *testing.T) {
	p := newPortal(t, sandbox.Options{})
	access, refresh := p.IssueTokens()
	store := oauthtoken.NewMemoryStore(oauthtoken.Token{AccessToken: access, RefreshToken: refresh})
	c := oauthClient(t, p, store)
	p.ExpireAccessTokens()
	p.RevokeRefreshTokens()
	_, err := c.Call(context.Background(), "crm.deal.list", nil)
	de := classOf(t, err)
	if de.Class != core.NeedsReauth || !strings.Contains(de.Reason, "re-authorise the paysync app") {
		t.Fatalf("dead refresh token: %v", err)
	}
	if strings.Contains(err.Error(), refresh) || strings.Contains(err.Error(), sandbox.DefaultClientSecret) {
		t.Fatalf("error leaks a secret: %v", err)
	}
}

// failingStore fails the first Save, as a database outage would.
type failingStore struct {
	*oauthtoken.MemoryStore
	mu    sync.Mutex
	fails int
}

func (s *failingStore) Save(ctx context.Context, tok oauthtoken.Token, v int64) error {
	s.mu.Lock()
	if s.fails > 0 {
		s.fails--
		s.mu.Unlock()
		return errors.New("database is down")
	}
	s.mu.Unlock()
	return s.MemoryStore.Save(ctx, tok, v)
}

func TestOAuthRotatedTokenIsStoredBeforeUse(t *testing.T) {
	p := newPortal(t, sandbox.Options{})
	access, refresh := p.IssueTokens()
	store := &failingStore{MemoryStore: oauthtoken.NewMemoryStore(oauthtoken.Token{AccessToken: access, RefreshToken: refresh}), fails: 1}
	c := oauthClient(t, p, store)
	p.ExpireAccessTokens()
	_, err := c.Call(context.Background(), "crm.deal.list", nil)
	if de := classOf(t, err); de.Class != core.Retryable || !strings.Contains(de.Reason, "store the rotated") {
		t.Fatalf("save failure: %v", err)
	}
	served := p.Stats().Served
	// The next call stores the pair it holds, without refreshing again, then uses it.
	if _, err := c.Call(context.Background(), "crm.deal.list", nil); err != nil {
		t.Fatal(err)
	}
	if p.Stats().Refreshes != 1 || store.Saves() != 1 || p.Stats().Served != served+1 {
		t.Fatalf("refreshes %d saves %d", p.Stats().Refreshes, store.Saves())
	}
}

// Two replicas share the token through the database: when the access token
// expires under 16 requests in each, the portal's OAuth server sees one
// refresh, and both replicas go on with the stored pair. The portal address
// comes from the stored token's client_endpoint.
func TestOAuthReplicasShareOneRefresh(t *testing.T) {
	testdb.Each(t, func(t *testing.T, dialect string) {
		p := newPortal(t, sandbox.Options{})
		opts := testdb.Options(t, dialect)
		db1, db2 := testdb.OpenWith(t, opts), testdb.OpenWith(t, opts)
		access, refresh := p.IssueTokens()
		ctx := context.Background()
		// The shape the token had in the database before oauthtoken existed.
		old := fmt.Sprintf(`{"access_token":%q,"refresh_token":%q,"expiry":"0001-01-01T00:00:00Z","client_endpoint":%q,"domain":"sandbox","member_id":"m1"}`,
			access, refresh, p.srv.URL+"/rest/")
		if err := db1.PutState(ctx, bitrix24.Name, "oauth_token", old, 0); err != nil {
			t.Fatal(err)
		}
		var clients []*bitrix24.Client
		for _, db := range []*storage.DB{db1, db2} {
			c, err := bitrix24.New(bitrix24.Config{Rate: rate.Inf, Now: p.clock.Now, OAuth: &bitrix24.OAuthConfig{
				ClientID: sandbox.DefaultClientID, ClientSecret: sandbox.DefaultClientSecret,
				TokenURL: p.srv.URL + "/oauth/token/", Store: bitrix24.StateTokenStore{Store: db},
			}})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := c.Call(ctx, "crm.deal.fields", nil); err != nil {
				t.Fatal(err)
			}
			clients = append(clients, c)
		}
		p.ExpireAccessTokens()
		var wg sync.WaitGroup
		errs := make(chan error, 32)
		for _, c := range clients {
			for range 16 {
				wg.Go(func() {
					_, err := c.Call(ctx, "crm.deal.list", nil)
					errs <- err
				})
			}
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatalf("call after expiry: %v", err)
			}
		}
		if n := p.Stats().Refreshes; n != 1 {
			t.Fatalf("%d refreshes, want 1", n)
		}
		stored, ver, err := bitrix24.StateTokenStore{Store: db2}.Load(ctx)
		if err != nil || ver != 2 || stored.RefreshToken == refresh || stored.Get(bitrix24.ExtraMemberID) == "" {
			t.Fatalf("stored token: version %d, member_id %q, rotated %v (%v)", ver, stored.Get(bitrix24.ExtraMemberID), stored.RefreshToken != refresh, err)
		}
	})
}
