// Package providertest is the conformance suite every payment provider
// passes (VPOS.am, ArCa, generic, Idram, Ameriabank vPOS), as connectortest
// is for CRM connectors. It runs the provider behind the real payments
// service, over HTTP on loopback, against its local double, on every storage
// driver (SQLite and PostgreSQL), and checks what a shop relies on whatever
// the provider:
//
//   - a genuine payment is accepted once, and a repeat is a duplicate;
//   - a forged, tampered or replayed request is refused and counted, and
//     moves nothing;
//   - a payment of another amount, in another currency or for an order
//     paysync never created goes to manual_review (a provider that approves
//     each payment declines it instead, and the buyer is not charged);
//   - a provider that looks payments up moves an order only on what its
//     lookup says;
//   - odd bytes (invalid UTF-8, NUL) are recorded exactly as received;
//   - a provider that lists its transactions (core.TransactionLister) lists
//     a window's payments, and the daily reconciliation turns one paysync
//     never heard of into a manual_review order, once.
//
// A provider's test supplies a Harness around the provider and its double
// and calls Run. The suite reads the provider's Capabilities and the
// harness's Features to know which cases apply and what to expect.
package providertest

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/paysync/paysync/core"
	"github.com/paysync/paysync/internal/testutil"
	"github.com/paysync/paysync/payments"
	"github.com/paysync/paysync/storage"
	"github.com/paysync/paysync/storage/testdb"
)

// Features say what a provider's messages carry, beyond its Capabilities.
type Features struct {
	// Signed: the provider sends paysync requests it can authenticate (a
	// signature, a checksum). Without it (Ameriabank vPOS) the only inbound
	// request is the buyer's unsigned return, and a forgery is a return
	// visit that must change nothing.
	Signed bool
	// Timestamps: a signed request carries its time, and an old one is
	// refused (a replay).
	Timestamps bool
	// ReportsCurrency: the provider says which currency was paid (Idram
	// does not: it takes AMD only).
	ReportsCurrency bool
	// UnknownOrders: the provider can tell paysync of a payment for an
	// order paysync never created (a session made outside paysync).
	UnknownOrders bool
}

// Env is where the provider under test reaches paysync.
type Env struct {
	// PaysyncURL is the payments service's base URL: /webhooks/<name>, the
	// return pages and the providers' own pages are under it.
	PaysyncURL string
	// Store is paysync's database (providers that read orders get it too).
	Store core.Store
	// Client is an HTTP client for requests to paysync.
	Client *http.Client
}

// Harness adapts one provider and its double to the suite. Each case starts
// with Provider, and the other methods act on the double behind the
// provider it returned last.
type Harness interface {
	Features() Features
	// Provider returns the provider under test, configured against a fresh
	// double that tells paysync at env.PaysyncURL.
	Provider(t *testing.T, env Env) core.Provider
	// Pay makes the buyer pay o at the double, amountMinor in currency (the
	// order's own for a genuine payment; another to test mismatches), and
	// makes the message that tells paysync reach it copies times (a
	// redelivery when copies > 1). It returns once the double has sent it.
	Pay(t *testing.T, o core.Order, amountMinor int64, currency string, copies int)
	// PayUnknown is a genuine payment for an order paysync never created
	// (Features.UnknownOrders).
	PayUnknown(t *testing.T, orderID string, amountMinor int64, currency string)
	// Forge returns a request claiming o was paid in full, made without the
	// provider's key (for an unsigned provider: a forged return visit).
	Forge(t *testing.T, o core.Order) *http.Request
	// Tamper returns a genuinely signed request that o was paid, with its
	// amount changed after signing (Features.Signed).
	Tamper(t *testing.T, o core.Order) *http.Request
	// Replay returns a request that o was paid, genuinely signed long
	// enough ago to be refused (Features.Timestamps).
	Replay(t *testing.T, o core.Order) *http.Request
	// Claim sends a genuine message saying o was paid while the double's
	// lookup still says it is not (providers confirmed by lookup).
	Claim(t *testing.T, o core.Order)
	// PayOddly pays o in full with odd bytes (invalid UTF-8, NUL) in a free
	// text field of what paysync receives, and returns exactly the bytes
	// paysync receives and must keep (a body, or a lookup's answer).
	PayOddly(t *testing.T, o core.Order) []byte
}

// Price is what the suite's orders cost: 1,500.00 AMD.
const Price = 150000

// Run runs every case that applies to h, on every storage driver.
func Run(t *testing.T, h Harness) {
	testdb.Each(t, func(t *testing.T, dialect string) {
		cases := []struct {
			name string
			run  func(*suite)
		}{
			{"Genuine", testGenuine},
			{"Forged", testForged},
			{"Tampered", testTampered},
			{"Replayed", testReplayed},
			{"AmountMismatch", testAmountMismatch},
			{"CurrencyMismatch", testCurrencyMismatch},
			{"UnknownOrder", testUnknownOrder},
			{"ConfirmedByLookup", testConfirmedByLookup},
			{"OddBytes", testOddBytes},
			{"Lists", testLists},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) { c.run(newSuite(t, h, dialect)) })
		}
	})
}

// suite is one case: a fresh database, the payments service serving the
// provider over HTTP, and the harness's double behind it.
type suite struct {
	t    *testing.T
	h    Harness
	f    Features
	db   *storage.DB
	svc  *payments.Service
	p    core.Provider
	env  Env
	caps core.Capabilities
	seq  atomic.Int64
}

func newSuite(t *testing.T, h Harness, dialect string) *suite {
	s := &suite{t: t, h: h, f: h.Features()}
	s.db = testdb.Open(t, dialect)
	ledger := &core.Ledger{Store: s.db, Recent: core.NewRecentOrders(0), Connectors: func() []string { return []string{"crm"} }}
	var handler atomic.Value
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		handler.Load().(http.Handler).ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	s.env = Env{PaysyncURL: srv.URL, Store: s.db, Client: &http.Client{Timeout: 20 * time.Second}}
	s.p = h.Provider(t, s.env)
	s.caps = s.p.Capabilities()
	svc, err := payments.New(payments.Options{Ledger: ledger, Store: s.db, Providers: []core.Provider{s.p}, Logger: testutil.Logger(t),
		ConfirmRetry: []time.Duration{200 * time.Millisecond, time.Second}, LookupTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	s.svc = svc
	mux := http.NewServeMux()
	mux.Handle("/webhooks/", svc.Webhooks())
	for pattern, page := range svc.Pages() {
		mux.Handle(pattern, page)
	}
	handler.Store(mux)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- svc.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return s
}

// order creates an order of the provider's, with its payment link.
func (s *suite) order() core.Order {
	s.t.Helper()
	id := fmt.Sprintf("PT-%d", s.seq.Add(1))
	o, _, err := s.svc.CreateOrder(context.Background(), core.Order{ID: id, AmountMinor: Price, Currency: "AMD", Provider: s.p.Name(),
		Customer: core.Customer{Name: "Ani Petrosyan", Phone: "+37491000000"},
		Items:    []core.Item{{Name: "Silver ring", Quantity: 1, PriceMinor: Price}}})
	if err != nil {
		s.t.Fatalf("create order %s: %v", id, err)
	}
	return o
}

func (s *suite) get(id string) (core.Order, bool) {
	s.t.Helper()
	o, err := s.db.GetOrder(context.Background(), id)
	if core.ErrorCode(err) == core.ENOTFOUND {
		return core.Order{}, false
	}
	if err != nil {
		s.t.Fatal(err)
	}
	return o, true
}

func (s *suite) journal(id string) []core.JournalEntry {
	s.t.Helper()
	j, err := s.db.ListJournal(context.Background(), id)
	if err != nil {
		s.t.Fatal(err)
	}
	return j
}

// eventually waits up to 10 s for cond, failing with what.
func (s *suite) eventually(what string, cond func() bool) {
	s.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			s.t.Fatalf("after 10s: %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// settle waits until no lookup is queued or running for the case, so that
// what did not happen has had its chance to.
func (s *suite) settle() {
	s.t.Helper()
	time.Sleep(300 * time.Millisecond)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.svc.WaitIdle(ctx); err != nil {
		s.t.Fatalf("lookups still running: %v", err)
	}
}

// status waits for the order to reach st.
func (s *suite) status(id string, st core.Status) core.Order {
	s.t.Helper()
	var o core.Order
	s.eventually(fmt.Sprintf("order %s is %s", id, st), func() bool {
		o, _ = s.get(id)
		return o.Status == st
	})
	return o
}

// verdicts counts an order's journal entries by verdict.
func (s *suite) verdicts(id string) map[core.Verdict]int {
	out := map[core.Verdict]int{}
	for _, e := range s.journal(id) {
		out[e.Verdict]++
	}
	return out
}

// refusals counts the requests refused so far (refusal records).
func (s *suite) refusals() int64 {
	s.t.Helper()
	s.svc.FlushRefusals(context.Background())
	rs, err := s.db.ListRefusals(context.Background(), 1000)
	if err != nil {
		s.t.Fatal(err)
	}
	var n int64
	for _, r := range rs {
		n += r.Requests
	}
	return n
}

// send sends a request the harness made and returns the answer.
func (s *suite) send(req *http.Request) (int, string) {
	s.t.Helper()
	resp, err := s.env.Client.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// taken reports whether a webhook answer says the request was taken: a 2xx
// in paysync's JSON, or, for a provider that answers in its own words, what
// it says (Idram: the body OK).
func (s *suite) taken(status int, body string) bool {
	if _, ok := s.p.(core.Answerer); ok {
		rec := httptest.NewRecorder()
		s.p.(core.Answerer).Answer(rec, core.WebhookAnswer{Taken: true})
		return status == rec.Code && body == rec.Body.String()
	}
	return status/100 == 2
}

// accepted lists the entries that moved the order to paid.
func paidEntries(j []core.JournalEntry) []core.JournalEntry {
	var out []core.JournalEntry
	for _, e := range j {
		if e.Verdict == core.VerdictAccepted && e.StatusAfter == core.StatusPaid {
			out = append(out, e)
		}
	}
	return out
}

func sha(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}
