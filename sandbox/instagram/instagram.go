// Package instagram is a local double of an Instagram professional
// account's messaging as the Instagram Platform documents it
// (../shared/reference/instagram.md): the Send API with its rules (the
// 24-hour window with Meta's error code and subcode, the 1000-byte text
// limit, a rate limit, Meta's error bodies), the profile API, the
// Conversations API, the long-lived token's refresh, and Meta's webhooks:
// each customer message and each echo of the account's own messages is
// posted to paysync signed with X-Hub-Signature-256. A test or the demo
// plays the customer (CustomerWrites) and injects faults: failures, lost
// answers after a message was stored, rate limiting, the chaos profile.
//
// It is written from Meta's documents, not from paysync's connector.
package instagram

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/paysync/paysync/sandbox/chaos"
	"github.com/paysync/paysync/sandbox/internal/outbound"
)

// Defaults of the sandbox account.
const (
	DefaultAccountID   = "17841400000000001"
	DefaultUsername    = "yerevan.boutique"
	DefaultAccessToken = "IGAAsandbox-long-lived-token-0001"
	DefaultAppSecret   = "sandbox-instagram-app-secret-7f3a"
	DefaultVerifyToken = "sandbox-verify-token-42"
	// DefaultRate is the Send API's limit: 300 text messages a second.
	DefaultRate = 300
	// Window is how long after the customer's last message the account may write.
	Window = 24 * time.Hour
	// HumanAgentWindow is how long a HUMAN_AGENT-tagged reply may come.
	HumanAgentWindow = 7 * 24 * time.Hour
	// TokenLifetime is a long-lived token's life.
	TokenLifetime = 60 * 24 * time.Hour
)

// Options configure the account.
type Options struct {
	// PaysyncURL is where paysync is; webhooks go to PaysyncURL/webhooks/instagram ("" drops them).
	PaysyncURL  string
	AccountID   string
	Username    string
	AccessToken string
	AppSecret   string
	// Rate is how many sends a second the account takes (default 300).
	Rate int
	// HumanAgent: the app has the Human Agent feature (HUMAN_AGENT tag).
	HumanAgent bool
	// TokenIssued is when the access token was issued (default: a day
	// ago, so that it may be refreshed at once).
	TokenIssued time.Time
	Now         func() time.Time
	Logger      *slog.Logger
}

// Message is one message of a thread.
type Message struct {
	ID        string    `json:"id"`
	From      string    `json:"from"` // the account's id or the customer's IGSID
	To        string    `json:"to"`
	Text      string    `json:"text"`
	At        time.Time `json:"at"`
	Tag       string    `json:"tag,omitempty"`
	FromShop  bool      `json:"from_shop"`
	FromPhone bool      `json:"from_phone,omitempty"` // typed by a person in the Instagram app, not through the API
}

// Customer is an Instagram user who may write to the account.
type Customer struct {
	IGSID    string `json:"igsid"`
	Username string `json:"username"`
	Name     string `json:"name"`
	Blocked  bool   `json:"blocked"` // blocked the shop: sends fail with 551
}

// Stats counts what the account saw.
type Stats struct {
	Sends       int // Send API requests after auth
	Sent        int // messages stored
	Refused     int // sends refused by a rule (window, length, unknown user)
	RateLimited int
	LostAnswers int
	Reads       int // profile and conversations requests
	Refreshes   int
}

// Account is the double. It is safe for concurrent use.
type Account struct {
	o        Options
	webhooks *outbound.Deliverer
	dice     chaos.Dice
	closed   chan struct{}

	mu         sync.Mutex
	token      string
	issued     time.Time
	oldTokens  map[string]bool
	customers  map[string]*Customer
	threads    map[string][]Message // by IGSID
	lastFrom   map[string]time.Time // the customer's last message, by IGSID
	seq        int
	failNext   []int         // statuses of the next failing requests
	loseNext   int           // sends that store the message and lose the answer
	loseMode   chaos.Loss    // how: the connection closes, or no answer comes
	onSend     func(Message) // hears each message the API stores
	noReading  bool          // the Conversations API refuses the token (no permission)
	exhausted  bool          // every send is rate limited until ExhaustRate(false)
	rateSec    int64         // the second being counted, and its sends
	rateCount  int
	stats      Stats
	closedOnce sync.Once
}

// New returns an account with no customer yet.
func New(o Options) *Account {
	if o.AccountID == "" {
		o.AccountID = DefaultAccountID
	}
	if o.Username == "" {
		o.Username = DefaultUsername
	}
	if o.AccessToken == "" {
		o.AccessToken = DefaultAccessToken
	}
	if o.AppSecret == "" {
		o.AppSecret = DefaultAppSecret
	}
	if o.Rate <= 0 {
		o.Rate = DefaultRate
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.TokenIssued.IsZero() {
		o.TokenIssued = o.Now().Add(-25 * time.Hour)
	}
	a := &Account{o: o, closed: make(chan struct{}), token: o.AccessToken, issued: o.TokenIssued, oldTokens: map[string]bool{},
		customers: map[string]*Customer{}, threads: map[string][]Message{}, lastFrom: map[string]time.Time{}}
	a.webhooks = outbound.New(outbound.Config{Client: &http.Client{Timeout: 10 * time.Second}, Retries: 5, RetryDelay: 200 * time.Millisecond,
		Now: o.Now, Noun: "webhook", Logger: o.Logger, LateURL: true})
	if o.PaysyncURL != "" {
		a.webhooks.SetURL(strings.TrimRight(o.PaysyncURL, "/") + "/webhooks/instagram")
	}
	return a
}

// AccountID is the professional account's id.
func (a *Account) AccountID() string { return a.o.AccountID }

// AccessToken is the token the account takes now.
func (a *Account) AccessToken() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.token
}

// AppSecret signs the webhooks.
func (a *Account) AppSecret() string { return a.o.AppSecret }

// SetPaysyncURL points the webhooks at paysync.
func (a *Account) SetPaysyncURL(u string) {
	a.webhooks.SetURL(strings.TrimRight(u, "/") + "/webhooks/instagram")
}

// Close stops the webhooks and releases hanging requests.
func (a *Account) Close() {
	a.closedOnce.Do(func() { close(a.closed) })
	a.webhooks.Close()
}

// WaitWebhooks blocks until every webhook sent so far was delivered or given up.
func (a *Account) WaitWebhooks() { a.webhooks.Wait() }

// Webhooks lists every webhook delivery attempt.
func (a *Account) Webhooks() []outbound.Delivery { return a.webhooks.Deliveries() }

// nextID returns a new id with prefix. Caller holds mu.
func (a *Account) nextID(prefix string) string {
	a.seq++
	return fmt.Sprintf("%s%06d", prefix, a.seq)
}

// AddCustomer makes an Instagram user known to the account without a
// message (the profile API then answers "User consent is required").
func (a *Account) AddCustomer(c Customer) {
	a.mu.Lock()
	defer a.mu.Unlock()
	cp := c
	a.customers[c.IGSID] = &cp
}

// SetBlocked makes a customer block the shop (sends answer 551) or unblock it.
func (a *Account) SetBlocked(igsid string, blocked bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if c := a.customers[igsid]; c != nil {
		c.Blocked = blocked
	}
}

// CustomerWrites is a customer writing to the shop at at (zero: now): the
// message joins the thread, opens the 24-hour window, and is posted to
// paysync as a signed webhook. It returns the message's id.
func (a *Account) CustomerWrites(c Customer, text string, at time.Time) string {
	if at.IsZero() {
		at = a.o.Now()
	}
	a.mu.Lock()
	if cur := a.customers[c.IGSID]; cur == nil {
		cp := c
		a.customers[c.IGSID] = &cp
	} else if c.Username != "" {
		cur.Username, cur.Name = c.Username, c.Name
	}
	m := Message{ID: a.nextID("aWdfZAG1faXRlbToxOklHTWVzc2FnZAUlE"), From: c.IGSID, To: a.o.AccountID, Text: text, At: at}
	a.threads[c.IGSID] = append(a.threads[c.IGSID], m)
	if at.After(a.lastFrom[c.IGSID]) {
		a.lastFrom[c.IGSID] = at
	}
	a.mu.Unlock()
	a.post(m, false)
	return m.ID
}

// ShopWrites is a person at the shop replying from the Instagram app: the
// message is in the thread, and Meta sends paysync its echo.
func (a *Account) ShopWrites(igsid, text string) string {
	a.mu.Lock()
	m := Message{ID: a.nextID("aWdfZAG1faXRlbToxOklHTWVzc2FnZAUlE"), From: a.o.AccountID, To: igsid, Text: text, At: a.o.Now(), FromShop: true, FromPhone: true}
	a.threads[igsid] = append(a.threads[igsid], m)
	a.mu.Unlock()
	a.post(m, true)
	return m.ID
}

// Thread is every message between the account and a customer, oldest first.
func (a *Account) Thread(igsid string) []Message {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]Message(nil), a.threads[igsid]...)
}

// Sent lists every message the account sent through the API, by customer,
// oldest first.
func (a *Account) Sent() []Message {
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []Message
	for _, t := range a.threads {
		for _, m := range t {
			if m.FromShop && !m.FromPhone {
				out = append(out, m)
			}
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// Customers lists the customers who wrote or were added, by IGSID.
func (a *Account) Customers() []Customer {
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []Customer
	for _, c := range a.customers {
		out = append(out, *c)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].IGSID < out[j].IGSID })
	return out
}

// Stats counts what the account saw.
func (a *Account) Stats() Stats {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.stats
}

// FailNext makes the next n API requests answer status (a 5xx with Meta's
// "unexpected error" body), doing nothing.
func (a *Account) FailNext(n, status int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for range n {
		a.failNext = append(a.failNext, status)
	}
}

// LoseNextSendAnswer makes the next n sends store the message (and send its
// echo) but lose the answer: the connection closes.
func (a *Account) LoseNextSendAnswer(n int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.loseNext, a.loseMode = a.loseNext+n, chaos.LostClose
}

// HangNextSendAnswer makes the next n sends store the message (and send
// its echo) and then never answer, until the client gives up or goes away:
// the moment to kill the sender between its send and its acknowledgement.
func (a *Account) HangNextSendAnswer(n int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.loseNext, a.loseMode = a.loseNext+n, chaos.LostHang
}

// HoldWebhooks keeps webhooks (echoes included) back until ReleaseWebhooks.
func (a *Account) HoldWebhooks() { a.webhooks.Hold() }

// ReleaseWebhooks sends what was held.
func (a *Account) ReleaseWebhooks() { a.webhooks.Release(false) }

// ExhaustRate(true) spends the Send API's budget until ExhaustRate(false):
// each send answers Meta's rate-limit error, as after another app's burst.
func (a *Account) ExhaustRate(on bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.exhausted = on
}

// ExpireToken makes the current token invalid (code 190), as after the
// account's password changed.
func (a *Account) ExpireToken() {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.oldTokens[a.token] = true
	a.token = "IGAA-revoked-" + a.nextID("")
}

// DenyConversations makes the Conversations API refuse the token, as for an
// app without the messaging permission's read access.
func (a *Account) DenyConversations(deny bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.noReading = deny
}

// OnSend makes f hear each message the Send API stores, as it is stored
// (before the answer goes back): a benchmark's stopwatch.
func (a *Account) OnSend(f func(Message)) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.onSend = f
}

// SetChaos turns random faults on (a profile) or off (nil).
func (a *Account) SetChaos(p *chaos.Profile) { a.dice.Set(p) }

// ChaosStats counts what the profile injected.
func (a *Account) ChaosStats() chaos.Stats { return a.dice.Stats() }

// Webhook is the webhook Meta posts for a message of a thread, and its
// X-Hub-Signature-256, for a test that delivers it itself (until paysync
// takes it, as Meta retries); ok is false for an unknown message id.
func (a *Account) Webhook(mid string) (body []byte, signature string, ok bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, t := range a.threads {
		for _, m := range t {
			if m.ID == mid {
				body := a.webhookBody(m, m.FromShop)
				return body, Sign(a.o.AppSecret, body), true
			}
		}
	}
	return nil, "", false
}

func (a *Account) webhookBody(m Message, echo bool) []byte {
	msg := map[string]any{"mid": m.ID, "text": m.Text}
	if echo {
		msg["is_echo"] = true
	}
	body, _ := json.Marshal(map[string]any{"object": "instagram", "entry": []any{map[string]any{
		"id": a.o.AccountID, "time": m.At.UnixMilli(),
		"messaging": []any{map[string]any{"sender": map[string]string{"id": m.From}, "recipient": map[string]string{"id": m.To},
			"timestamp": m.At.UnixMilli(), "message": msg}},
	}}})
	return body
}

// post sends a message's webhook: a customer's, or an echo of the shop's.
func (a *Account) post(m Message, echo bool) {
	body := a.webhookBody(m, echo)
	sig := Sign(a.o.AppSecret, body)
	a.webhooks.Enqueue(outbound.Message{ID: m.ID, Type: "messages", Request: func(ctx context.Context, u string) (*http.Request, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(body))
		if err != nil {
			return nil, err
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-Hub-Signature-256", sig)
		return req, nil
	}})
}

// Sign is Meta's X-Hub-Signature-256 of body: sha256= and the hex
// HMAC-SHA256 keyed with the app secret.
func Sign(secret string, body []byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}
