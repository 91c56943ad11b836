package console_test

import (
	"context"
	"html"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/paysync/paysync/console"
	"github.com/paysync/paysync/core"
	"github.com/paysync/paysync/dispatcher"
	"github.com/paysync/paysync/dispatcher/dispatchertest"
	"github.com/paysync/paysync/people"
	"github.com/paysync/paysync/storage"
	"github.com/paysync/paysync/storage/testdb"
)

const token = "console-test-token-5d1f"

// rig is a console over a real store, ledger and (not running) dispatcher.
type rig struct {
	t      testing.TB
	db     *storage.DB
	ledger *core.Ledger
	disp   *dispatcher.Dispatcher
	srv    *httptest.Server
	now    *fakeNow
	people *people.Service
}

type fakeNow struct {
	mu sync.Mutex
	t  time.Time
}

func (f *fakeNow) Now() time.Time { f.mu.Lock(); defer f.mu.Unlock(); return f.t }
func (f *fakeNow) Add(d time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.t = f.t.Add(d)
}

func newRig(t testing.TB, dialect string, mod func(*console.Options)) *rig {
	t.Helper()
	db := testdb.Open(t, dialect)
	crm := dispatchertest.NewCRM("bitrix24", 10)
	disp := dispatcher.New(db, []core.Connector{crm}, dispatcher.Options{Owner: "test", Logger: quietLog()})
	ledger := &core.Ledger{Store: db, Connectors: func() []string { return []string{"bitrix24"} }}
	yerevan, _ := time.LoadLocation("Asia/Yerevan")
	now := &fakeNow{t: time.Now()}
	ppl := &people.Service{Store: db, AdminToken: token, Guard: people.NewGuard(quietLog()), Cost: bcrypt.MinCost, Now: now.Now, Logger: quietLog()}
	opt := console.Options{Store: db, Reviews: ledger, Outbox: disp, People: ppl, Catalog: db, Relinks: ledger, Movements: db, Zone: yerevan,
		CRMs: map[string]console.CRM{"bitrix24": {Title: "Bitrix24", RecordURL: func(l core.CRMLink) string {
			return "https://shop.bitrix24.example/crm/deal/details/" + l.ExternalID + "/"
		}}},
		Providers: map[string]string{"vpos": "VPOS.am"}, Logger: quietLog(), Now: now.Now}
	if mod != nil {
		mod(&opt)
	}
	mux := http.NewServeMux()
	mux.Handle("/ui/", console.New(opt))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return &rig{t: t, db: db, ledger: ledger, disp: disp, srv: srv, now: now, people: ppl}
}

// browser is a client with cookies, like a person's browser.
type browser struct {
	t    testing.TB
	r    *rig
	c    *http.Client
	lang string
}

func (r *rig) browser() *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{t: r.t, r: r, c: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

// get fetches a page, following redirects inside the console.
func (b *browser) get(path string) (int, string) {
	b.t.Helper()
	for range 5 {
		req, _ := http.NewRequest("GET", b.r.srv.URL+path, nil)
		req.Header.Set("Accept", "text/html")
		if b.lang != "" {
			req.Header.Set("Accept-Language", b.lang)
		}
		resp, err := b.c.Do(req)
		if err != nil {
			b.t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode == http.StatusSeeOther {
			path = resp.Header.Get("Location")
			continue
		}
		return resp.StatusCode, string(body)
	}
	b.t.Fatalf("redirect loop at %s", path)
	return 0, ""
}

// post submits a form; the answer's redirect target is returned with the status.
func (b *browser) post(path string, form url.Values, hdr ...string) (int, string, string) {
	b.t.Helper()
	req, _ := http.NewRequest("POST", b.r.srv.URL+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "text/html")
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := b.c.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get("Location"), string(body)
}

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

func csrfOf(t testing.TB, page string) string {
	t.Helper()
	m := csrfField.FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no csrf field on the page:\n%s", page)
	}
	return html.UnescapeString(m[1])
}

// person makes sure an account exists and returns its password.
func (r *rig) person(name string, role core.Role) string {
	r.t.Helper()
	pw := "password-of-" + name
	if _, err := r.people.Store.GetAccount(context.Background(), name); err == nil {
		return pw
	}
	h, _ := bcrypt.GenerateFromPassword([]byte(pw), bcrypt.MinCost)
	if _, err := r.people.Store.CreateAccount(context.Background(), core.Account{Name: name, Role: role, PasswordHash: string(h), CreatedAt: r.now.Now()}); err != nil {
		r.t.Fatal(err)
	}
	return pw
}

// login logs in as the owner called name, or with the admin token when name is "".
func (b *browser) login(name string) { b.loginAs(name, core.RoleOwner) }

func (b *browser) loginAs(name string, role core.Role) {
	b.t.Helper()
	pw := token
	if name != "" {
		pw = b.r.person(name, role)
	}
	_, page := b.get("/ui/login")
	code, loc, body := b.post("/ui/login", url.Values{"csrf": {csrfOf(b.t, page)}, "password": {pw}, "name": {name}, "next": {"/ui/orders"}})
	if code != http.StatusSeeOther || loc != "/ui/orders" {
		b.t.Fatalf("login: %d %s\n%s", code, loc, body)
	}
}

func (r *rig) order(o core.Order) core.Order {
	r.t.Helper()
	got, _, err := r.ledger.CreateOrder(context.Background(), o)
	if err != nil {
		r.t.Fatal(err)
	}
	return got
}

func (r *rig) pay(id string, amount int64, eventID string) {
	r.t.Helper()
	if _, err := r.ledger.ApplyEvent(context.Background(), core.PaymentEvent{Provider: "vpos", EventID: eventID, Type: "payment.succeeded",
		OrderID: id, Status: core.StatusPaid, AmountMinor: amount, Currency: "AMD", Verified: true, Source: core.SourceWebhook,
		Payload: []byte(`{"id":"` + eventID + `","amount":` + itoa(amount) + `,"signature":"sig-value-123","api_token":"tok-abc"}`)}); err != nil {
		r.t.Fatal(err)
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func quietLog() *slog.Logger { return slog.New(slog.DiscardHandler) }

// BenchmarkOrderPage serves an order with a 20-entry journal, through the
// session check, the store reads, the timeline and the template.
func BenchmarkOrderPage(b *testing.B) {
	r := newRig(b, storage.SQLite, nil)
	r.order(core.Order{ID: "IG-B", AmountMinor: 1500000, Currency: "AMD", Provider: "vpos",
		Customer: core.Customer{Handle: "anna.knits", Name: "Anna"}, Items: []core.Item{{Name: "Scarf", Quantity: 1, PriceMinor: 1500000}}})
	for i := range 19 {
		if err := r.ledger.Record(context.Background(), core.JournalEntry{OrderID: "IG-B", Provider: "vpos", Source: core.SourceWebhook,
			Verdict: core.VerdictDuplicate, Reason: "event seen before", Payload: []byte(`{"n":` + itoa(int64(i)) + `}`)}); err != nil {
			b.Fatal(err)
		}
	}
	br := r.browser()
	br.login("bench")
	b.ResetTimer()
	for b.Loop() {
		if code, _ := br.get("/ui/orders/IG-B"); code != 200 {
			b.Fatal(code)
		}
	}
}
