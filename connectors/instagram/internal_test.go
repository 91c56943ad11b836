package instagram

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/paysync/paysync/connectors"
	"github.com/paysync/paysync/core"
	"github.com/paysync/paysync/internal/testutil"
	"github.com/paysync/paysync/mapping"
	igdouble "github.com/paysync/paysync/sandbox/instagram"
	"github.com/paysync/paysync/storage"
	"github.com/paysync/paysync/storage/testdb"
)

type fixedMappings struct{ m *mapping.Mapping }

func (f fixedMappings) Get(string) *mapping.Mapping { return f.m }

// clock is a settable time for the connector and the double alike.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

type fixture struct {
	t     *testing.T
	clock *clock
	acct  *igdouble.Account
	db    *storage.DB
	c     *Connector
	srv   *httptest.Server
}

func newFixture(t *testing.T, humanAgent bool) *fixture {
	t.Helper()
	clk := &clock{t: time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)}
	a := igdouble.New(igdouble.Options{Now: clk.Now, HumanAgent: humanAgent})
	srv := httptest.NewServer(a)
	t.Cleanup(func() { a.Close(); srv.Close() })
	m, err := mapping.Shipped(Name)
	if err != nil {
		t.Fatal(err)
	}
	db := testdb.Open(t, storage.SQLite)
	client := NewClient(ClientConfig{BaseURL: srv.URL, AccountID: a.AccountID(), Tokens: fixedToken(a.AccessToken())})
	c, err := NewConnector(Config{Client: client, Store: db, Mappings: fixedMappings{m}, DefaultLanguage: "hy", HumanAgent: humanAgent,
		AppSecrets: []string{a.AppSecret()}, VerifyToken: "verify-me", Logger: testutil.Logger(t), Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{t: t, clock: clk, acct: a, db: db, c: c, srv: srv}
}

func (f *fixture) writes(igsid, text string, at time.Time) {
	f.t.Helper()
	mid := f.acct.CustomerWrites(igdouble.Customer{IGSID: igsid, Username: "ani.knits"}, text, at)
	if _, _, err := f.db.RecordDirect(context.Background(), core.DirectMessage{MID: mid, IGSID: igsid, Text: text, Language: detectLanguage(text), At: at}); err != nil {
		f.t.Fatal(err)
	}
}

func (f *fixture) order(id, igsid string, st core.Status) core.Order {
	return core.Order{ID: id, Status: st, AmountMinor: 1500000, Currency: "AMD", PaymentURL: "https://pay.example.am/" + id,
		Customer: core.Customer{ID: igsid, Handle: "ani.knits"}, Version: 1}
}

func (f *fixture) deliver(o core.Order) core.DeliveryResult {
	f.t.Helper()
	return f.c.Deliver(context.Background(), []core.Delivery{{Order: o}})[0]
}

// A payment 30 hours after the customer's last message sends nothing: the
// result is a skip whose reason says why and what a person can do; a second
// delivery of the same change is silent.
func TestOutsideTheWindowNothingIsSent(t *testing.T) {
	f := newFixture(t, true)
	f.writes("1784", "Barev! Is the scarf red?", f.clock.Now().Add(-30*time.Hour))
	r := f.deliver(f.order("IG-1", "1784", core.StatusPaid))
	if r.Err != nil || !strings.Contains(r.Skipped, "the customer last wrote 30h ago (2026-03-01 04:00 UTC)") || !strings.Contains(r.Skipped, "outside Instagram's 24-hour messaging window") ||
		!strings.Contains(r.Skipped, "a manager can still send it from the order's page until 2026-03-08 04:00 UTC (HUMAN_AGENT)") {
		t.Fatalf("result %+v", r)
	}
	if n := len(f.acct.Sent()); n != 0 || f.acct.Stats().Sends != 0 {
		t.Fatalf("%d messages sent (%d sends tried) outside the window", n, f.acct.Stats().Sends)
	}
	if again := f.deliver(f.order("IG-1", "1784", core.StatusPaid)); again.Err != nil || again.Skipped != "" {
		t.Fatalf("the same change again: %+v, want plain success", again)
	}
	// No IGSID, no conversation: skips too, with their reasons.
	if r := f.deliver(f.order("IG-2", "", core.StatusPaid)); !strings.Contains(r.Skipped, "the order has no customer.id") {
		t.Fatalf("no IGSID: %+v", r)
	}
	// Not a Direct order: said once, not at each change.
	refunded := f.order("IG-2", "", core.StatusRefunded)
	refunded.StatusChangedAt = f.clock.Now()
	if r := f.deliver(refunded); r.Err != nil || r.Skipped != "" {
		t.Fatalf("the next change of an order without IGSID: %+v", r)
	}
	if r := f.deliver(f.order("IG-3", "9999", core.StatusPaid)); !strings.Contains(r.Skipped, "no Direct message from customer 9999") {
		t.Fatalf("no conversation: %+v", r)
	}
}

// The message is in the customer's language, from the script they write in.
func TestLanguageOfTheCustomer(t *testing.T) {
	f := newFixture(t, false)
	f.writes("1001", "Здравствуйте, можно оплатить картой?", f.clock.Now().Add(-time.Minute))
	f.writes("1002", "Բարև, կարմիր շարֆ ունե՞ք", f.clock.Now().Add(-time.Minute))
	f.writes("1003", "👍", f.clock.Now().Add(-time.Minute))
	for igsid, want := range map[string]string{"1001": "Спасибо! Мы получили оплату", "1002": "Շնորհակալություն", "1003": "Շնորհակալություն"} {
		if r := f.deliver(f.order("IG-"+igsid, igsid, core.StatusPaid)); r.Err != nil || r.ExternalID == "" {
			t.Fatalf("%s: %+v", igsid, r)
		}
		th := f.acct.Thread(igsid)
		if last := th[len(th)-1]; !last.FromShop || !strings.HasPrefix(last.Text, want) {
			t.Errorf("customer %s got %q, want it to start %q", igsid, last.Text, want)
		}
	}
}

// A send whose answer was lost is found among the echoes paysync recorded:
// no second send, and no need to ask the Conversations API.
func TestUncertainSendFoundInEchoes(t *testing.T) {
	f := newFixture(t, false)
	f.writes("1784", "Hello", f.clock.Now().Add(-time.Hour))
	f.acct.LoseNextSendAnswer(1)
	o := f.order("IG-1", "1784", core.StatusPaid)
	r := f.deliver(o)
	if de := core.ClassifyDelivery(r.Err); r.Err == nil || de.Class != core.Retryable || !strings.Contains(de.Reason, "looks for the message in the thread") {
		t.Fatalf("lost answer: %+v", r)
	}
	sent := f.acct.Sent()
	if len(sent) != 1 {
		t.Fatalf("%d messages in the thread", len(sent))
	}
	// Its echo reaches paysync (the webhook).
	if _, _, err := f.db.RecordDirect(context.Background(), core.DirectMessage{MID: sent[0].ID, IGSID: "1784", Echo: true, Text: sent[0].Text, At: sent[0].At}); err != nil {
		t.Fatal(err)
	}
	reads := f.acct.Stats().Reads
	r = f.deliver(o)
	if r.Err != nil || r.ExternalID != sent[0].ID {
		t.Fatalf("after the echo: %+v, want the echoed message %s", r, sent[0].ID)
	}
	if n := len(f.acct.Sent()); n != 1 || f.acct.Stats().Reads != reads {
		t.Fatalf("%d messages, %d reads of the thread (were %d)", n, f.acct.Stats().Reads, reads)
	}
}

// A send that failed with an answer that does not tell (a 500) and is not
// in the thread is sent again only once the wait has passed.
func TestUncertainSendNotInTheThread(t *testing.T) {
	f := newFixture(t, false)
	f.writes("1784", "Hello", f.clock.Now().Add(-time.Hour))
	f.acct.FailNext(1, http.StatusInternalServerError) // nothing stored
	o := f.order("IG-1", "1784", core.StatusPaid)
	if r := f.deliver(o); core.ClassifyDelivery(r.Err).Class != core.Retryable {
		t.Fatalf("a 500: %+v", r)
	}
	r := f.deliver(o)
	de := core.ClassifyDelivery(r.Err)
	if r.Err == nil || de.RetryAfter <= 0 || de.RetryAfter > DefaultUncertainWait || !strings.Contains(de.Reason, "may have gone through") {
		t.Fatalf("within the wait: %+v (%+v)", r, de)
	}
	if n := len(f.acct.Sent()); n != 0 {
		t.Fatalf("%d messages sent while the first send was uncertain", n)
	}
	f.clock.Add(DefaultUncertainWait + time.Second)
	if r := f.deliver(o); r.Err != nil || r.ExternalID == "" {
		t.Fatalf("after the wait: %+v", r)
	}
	if n := len(f.acct.Sent()); n != 1 {
		t.Fatalf("%d messages, want 1", n)
	}
}

// Instagram's own window error (the clocks disagree) is a skip, not an error.
func TestWindowErrorFromInstagramIsASkip(t *testing.T) {
	f := newFixture(t, false)
	// paysync heard a message the double never saw: Meta counts from its own.
	if _, _, err := f.db.RecordDirect(context.Background(), core.DirectMessage{MID: "m-x", IGSID: "1784", Text: "hi", At: f.clock.Now()}); err != nil {
		t.Fatal(err)
	}
	f.acct.AddCustomer(igdouble.Customer{IGSID: "1784", Username: "ani"})
	r := f.deliver(f.order("IG-1", "1784", core.StatusPaid))
	if r.Err != nil || !strings.Contains(r.Skipped, "Instagram refused it as outside the 24-hour messaging window") || !strings.Contains(r.Skipped, "2534022") {
		t.Fatalf("%+v", r)
	}
}

// A manager's Send link in Direct: inside the window an ordinary reply;
// after it, up to 7 days, HUMAN_AGENT when the account has the feature;
// one form sends once; each is journaled with who sent it.
func TestSendLinkByHand(t *testing.T) {
	for _, humanAgent := range []bool{false, true} {
		f := newFixture(t, humanAgent)
		ctx := context.Background()
		f.writes("1784", "Hi, send me the link please", f.clock.Now().Add(-30*time.Hour))
		o := f.order("IG-9", "1784", core.StatusPending)
		o.Version = 0
		o.RequestHash = o.Hash()
		if err := f.db.Apply(ctx, core.Change{Journal: &core.JournalEntry{Source: core.SourceAPI, Verdict: core.VerdictCreated, StatusAfter: o.Status}, Order: &o}); err != nil {
			t.Fatal(err)
		}
		res, err := f.c.SendLink(ctx, "IG-9", "Mariam", "form-1")
		if !humanAgent {
			if err == nil || !strings.Contains(err.Error(), "HUMAN_AGENT") || len(f.acct.Sent()) != 0 {
				t.Fatalf("without the Human Agent feature: %+v, %v", res, err)
			}
			continue
		}
		if err != nil || !res.HumanAgent || res.MID == "" {
			t.Fatalf("with HUMAN_AGENT: %+v, %v", res, err)
		}
		again, err := f.c.SendLink(ctx, "IG-9", "Mariam", "form-1")
		if err != nil || !again.Again || again.MID != res.MID {
			t.Fatalf("the same form again: %+v, %v", again, err)
		}
		sent := f.acct.Sent()
		if len(sent) != 1 || sent[0].Tag != "HUMAN_AGENT" || !strings.Contains(sent[0].Text, "https://pay.example.am/IG-9") {
			t.Fatalf("sent: %+v", sent)
		}
		entries, _ := f.db.ListJournal(ctx, "IG-9")
		last := entries[len(entries)-1]
		if last.Verdict != core.VerdictMessageSent || !strings.Contains(last.Reason, "by Mariam") || !strings.Contains(last.Reason, res.MID) {
			t.Fatalf("journal: %+v", last)
		}
		// 8 days after the customer wrote: nothing may go.
		f.clock.Add(7 * 24 * time.Hour)
		if _, err := f.c.SendLink(ctx, "IG-9", "Mariam", "form-2"); err == nil || !strings.Contains(err.Error(), "more than 7 days") {
			t.Fatalf("after 7 days: %v", err)
		}
	}
}

// The token is renewed when its expiry is unknown or near, and stored:
// the next request goes with the new one.
func TestTokenRenewal(t *testing.T) {
	clk := &clock{t: time.Now()}
	a := igdouble.New(igdouble.Options{Now: clk.Now})
	srv := httptest.NewServer(a)
	t.Cleanup(func() { a.Close(); srv.Close() })
	db := testdb.Open(t, storage.SQLite)
	first := a.AccessToken()
	var client *Client
	ts, err := newTokenSource(db, first, "test", func() *Client { return client }, clk.Now, nil)
	if err != nil {
		t.Fatal(err)
	}
	client = NewClient(ClientConfig{BaseURL: srv.URL, AccountID: a.AccountID(), Tokens: ts})
	ctx := context.Background()
	log := testutil.Logger(t)
	if err := ts.renew(ctx, log); err != nil {
		t.Fatal(err)
	}
	tok, err := ts.current(ctx)
	if err != nil || tok.AccessToken == first || tok.AccessToken != a.AccessToken() || tok.Expiry.Sub(clk.Now()) < 59*24*time.Hour {
		t.Fatalf("after renewal: %+v, %v (the account takes %s)", tok, err, a.AccessToken())
	}
	if _, err := client.Me(ctx); err != nil {
		t.Fatalf("a request with the renewed token: %v", err)
	}
	// Far from its expiry, it is left alone.
	if err := ts.renew(ctx, log); err != nil || a.Stats().Refreshes != 1 {
		t.Fatalf("a second renewal: %v, %d refreshes", err, a.Stats().Refreshes)
	}
	// Near it (31 days later), it is renewed again; a new process (another
	// replica) starts from the stored token, not the configured one.
	clk.Add(31 * 24 * time.Hour)
	ts2, _ := newTokenSource(db, first, "other", func() *Client { return client }, clk.Now, nil)
	if err := ts2.renew(ctx, log); err != nil || a.Stats().Refreshes != 2 {
		t.Fatalf("renewal near expiry: %v, %d refreshes", err, a.Stats().Refreshes)
	}
	if access, err := ts2.Access(ctx); err != nil || access != a.AccessToken() {
		t.Fatalf("the stored token is not the account's: %v", err)
	}
}

// The webhook: Meta's handshake with the right verify token only; a signed
// message recorded (a redelivery once); an echo moves the thread, not the
// customer; a forged one refused and counted.
func TestWebhook(t *testing.T) {
	f := newFixture(t, false)
	var mu sync.Mutex
	var refused []core.Verdict
	var counted []string
	h := f.c.Routes(connectors.Inbound{
		Refuse: func(_ context.Context, _ *http.Request, v core.Verdict, _ error, s core.PayloadSample) time.Duration {
			mu.Lock()
			defer mu.Unlock()
			refused = append(refused, v)
			if bytes.Contains(s.Head, []byte("verify-me")) {
				t.Errorf("a refusal sample holds the verify token: %q", s.Head)
			}
			return 0
		},
		Count: func(v string) { mu.Lock(); counted = append(counted, v); mu.Unlock() },
	})[WebhookPath]
	do := func(method, target string, body []byte, sig string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(method, target, bytes.NewReader(body))
		if sig != "" {
			req.Header.Set("X-Hub-Signature-256", sig)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec
	}
	if rec := do("GET", WebhookPath+"?hub.mode=subscribe&hub.verify_token=verify-me&hub.challenge=1158201444", nil, ""); rec.Code != 200 || rec.Body.String() != "1158201444" {
		t.Fatalf("handshake: %d %q", rec.Code, rec.Body)
	}
	for _, q := range []string{"hub.mode=subscribe&hub.verify_token=wrong&hub.challenge=1", "hub.mode=unsubscribe&hub.verify_token=verify-me&hub.challenge=1",
		"hub.mode=subscribe&hub.verify_token=verify-me"} {
		if rec := do("GET", WebhookPath+"?"+q, nil, ""); rec.Code != 403 || strings.Contains(rec.Body.String(), "verify-me") {
			t.Fatalf("handshake %s: %d %s", q, rec.Code, rec.Body)
		}
	}
	msg := func(mid, sender, recipient, text string, echo bool) []byte {
		m := map[string]any{"mid": mid, "text": text}
		if echo {
			m["is_echo"] = true
		}
		b, _ := json.Marshal(map[string]any{"object": "instagram", "entry": []any{map[string]any{"id": f.acct.AccountID(), "time": 1,
			"messaging": []any{map[string]any{"sender": map[string]string{"id": sender}, "recipient": map[string]string{"id": recipient},
				"timestamp": f.clock.Now().UnixMilli(), "message": m}}}}})
		return b
	}
	body := msg("mid.1", "1784", f.acct.AccountID(), "Привет! Сколько стоит шарф?", false)
	for i := 0; i < 2; i++ {
		if rec := do("POST", WebhookPath, body, igdouble.Sign(f.acct.AppSecret(), body)); rec.Code != 200 {
			t.Fatalf("a signed message: %d %s", rec.Code, rec.Body)
		}
	}
	conv, err := f.db.GetConversation(context.Background(), "1784")
	if err != nil || conv.Language != "ru" || conv.LastText != "Привет! Сколько стоит шарф?" || !conv.LastCustomerAt.Equal(f.clock.Now().Truncate(time.Millisecond)) {
		t.Fatalf("conversation: %+v, %v", conv, err)
	}
	f.clock.Add(time.Minute)
	echo := msg("mid.2", f.acct.AccountID(), "1784", "Добрый день! 8000 драм.", true)
	if rec := do("POST", WebhookPath, echo, igdouble.Sign(f.acct.AppSecret(), echo)); rec.Code != 200 {
		t.Fatalf("an echo: %d %s", rec.Code, rec.Body)
	}
	after, _ := f.db.GetConversation(context.Background(), "1784")
	if after.LastText != conv.LastText || !after.LastCustomerAt.Equal(conv.LastCustomerAt) || !after.LastMessageAt.After(conv.LastMessageAt) {
		t.Fatalf("an echo moved the customer: %+v, was %+v", after, conv)
	}
	forged := msg("mid.3", "1784", f.acct.AccountID(), "refund me", false)
	if rec := do("POST", WebhookPath, forged, igdouble.Sign("not-the-secret", forged)); rec.Code != 401 {
		t.Fatalf("forged: %d %s", rec.Code, rec.Body)
	}
	if rec := do("POST", WebhookPath, forged, ""); rec.Code != 401 {
		t.Fatalf("unsigned: %d %s", rec.Code, rec.Body)
	}
	// Re-serialised JSON (an escaped character) no longer matches.
	reenc := bytes.Replace(body, []byte("Привет"), []byte(`\u041f\u0440\u0438\u0432\u0435\u0442`), 1)
	if rec := do("POST", WebhookPath, reenc, igdouble.Sign(f.acct.AppSecret(), body)); rec.Code != 401 {
		t.Fatalf("re-encoded body: %d", rec.Code)
	}
	if _, err := f.db.FindEcho(context.Background(), "1784", core.TextDigest("refund me"), time.Time{}); core.ErrorCode(err) != core.ENOTFOUND {
		t.Fatalf("a forged message was recorded: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(refused) != 6 || refused[0] != core.VerdictRejected {
		t.Fatalf("refused: %v (3 handshakes and 3 posts)", refused)
	}
	if strings.Join(counted, ",") != "verified,accepted,duplicate,accepted" {
		t.Fatalf("counted: %v", counted)
	}
	if rec := do("PUT", WebhookPath, nil, ""); rec.Code != 405 || rec.Header().Get("Allow") != "GET, POST" {
		t.Fatalf("PUT: %d, Allow %q", rec.Code, rec.Header().Get("Allow"))
	}
}

// A new customer's username is asked for once.
func TestUsernameLookedUpOnce(t *testing.T) {
	f := newFixture(t, false)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go f.c.Run(ctx)
	f.acct.CustomerWrites(igdouble.Customer{IGSID: "1784", Username: "ani.knits", Name: "Ani"}, "hi", f.clock.Now())
	body, _ := json.Marshal(map[string]any{"object": "instagram", "entry": []any{map[string]any{"id": f.acct.AccountID(),
		"messaging": []any{map[string]any{"sender": map[string]string{"id": "1784"}, "recipient": map[string]string{"id": f.acct.AccountID()},
			"timestamp": f.clock.Now().UnixMilli(), "message": map[string]any{"mid": "mid.9", "text": "hi"}}}}}})
	h := f.c.Routes(connectors.Inbound{})[WebhookPath]
	req := httptest.NewRequest("POST", WebhookPath, bytes.NewReader(body))
	req.Header.Set("X-Hub-Signature-256", igdouble.Sign(f.acct.AppSecret(), body))
	h.ServeHTTP(httptest.NewRecorder(), req)
	testutil.Eventually(t, "the username recorded", func() bool {
		c, err := f.db.GetConversation(ctx, "1784")
		return err == nil && c.Username == "ani.knits" && !c.UsernameCheckedAt.IsZero()
	})
}

// What remains possible, as docs/instagram.md says: when neither an echo
// nor the thread shows a send whose answer was lost (here the token may
// not read the thread and the echo never came), the message is sent again
// once the wait is over, and not before.
func TestUncertainSendUnprovableIsSentAgainAfterTheWait(t *testing.T) {
	f := newFixture(t, false)
	f.writes("1784", "Hello", f.clock.Now().Add(-time.Hour))
	f.acct.DenyConversations(true)
	f.acct.LoseNextSendAnswer(1)
	o := f.order("IG-1", "1784", core.StatusPaid)
	if r := f.deliver(o); r.Err == nil {
		t.Fatalf("lost answer: %+v", r)
	}
	if r := f.deliver(o); core.ClassifyDelivery(r.Err).RetryAfter <= 0 {
		t.Fatalf("within the wait: %+v", r)
	}
	if n := len(f.acct.Sent()); n != 1 {
		t.Fatalf("%d messages within the wait, want 1", n)
	}
	f.clock.Add(DefaultUncertainWait)
	if r := f.deliver(o); r.Err != nil {
		t.Fatalf("after the wait: %+v", r)
	}
	if n := len(f.acct.Sent()); n != 2 {
		t.Fatalf("%d messages after the wait, want 2 (the documented duplicate)", n)
	}
}
