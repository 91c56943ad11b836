package console_test

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/paysync/paysync/console"
	"github.com/paysync/paysync/core"
	"github.com/paysync/paysync/storage"
)

// fakeDirect records each Send link in Direct, once per form.
type fakeDirect struct {
	mu    sync.Mutex
	sends map[string]string // form -> order
	fail  error
}

func (f *fakeDirect) SendLink(_ context.Context, orderID, who, form string) (core.DirectSend, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail != nil {
		return core.DirectSend{}, f.fail
	}
	if _, ok := f.sends[form]; ok {
		return core.DirectSend{MID: "mid-" + form, Again: true}, nil
	}
	f.sends[form] = orderID + " by " + who
	return core.DirectSend{MID: "mid-" + form, Language: "hy"}, nil
}

var formField = regexp.MustCompile(`name="form" value="([0-9a-f]+)"`)

// The Direct page lists conversations with the time left in each window;
// "New order" pre-fills the customer; the order it creates has its link;
// on the order, "Send link in Direct" sends once per form.
func TestDirectPageNewOrderAndSendLink(t *testing.T) {
	t.Parallel()
	direct := &fakeDirect{sends: map[string]string{}}
	var r *rig
	r = newRig(t, storage.SQLite, func(o *console.Options) {
		o.Direct = direct
		o.Orders = ordersWithLinks{r: &r}
	})
	ctx := context.Background()
	now := r.now.Now()
	for _, m := range []core.DirectMessage{
		{MID: "m1", IGSID: "1784001", Text: "Բարև, շարֆը կա՞", At: now.Add(-time.Hour)},
		{MID: "m2", IGSID: "1784002", Text: "Is the bag still there?", At: now.Add(-30 * time.Hour)},
	} {
		if _, _, err := r.db.RecordDirect(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	if err := r.db.SetUsername(ctx, "1784001", "anna.knits", now); err != nil {
		t.Fatal(err)
	}
	b := r.browser()
	b.login("Mariam")
	code, page := b.get("/ui/direct")
	if code != 200 || !strings.Contains(page, "@anna.knits") || !strings.Contains(page, "23 h left") || !strings.Contains(page, "closed 6 h ago") ||
		!strings.Contains(page, `href="/ui/orders/new?handle=anna.knits&amp;igsid=1784001"`) || !strings.Contains(page, `id="nav-direct"`) {
		t.Fatalf("the Direct page: %d\n%s", code, page)
	}
	_, form := b.get("/ui/orders/new?handle=anna.knits&igsid=1784001")
	if !strings.Contains(form, `value="1784001"`) || !strings.Contains(form, `value="anna.knits"`) {
		t.Fatalf("the new order form is not pre-filled:\n%s", form)
	}
	fields := url.Values{"csrf": {csrfOf(t, form)}, "order_id": {"IG-77"}, "amount": {"15,000"}, "currency": {"AMD"}, "item": {"Silk scarf"},
		"handle": {"anna.knits"}, "customer_id": {"1784001"}, "provider": {"vpos"}}
	bad := url.Values{}
	for k, v := range fields {
		bad[k] = v
	}
	bad.Set("amount", "a lot")
	if code, _, body := b.post("/ui/orders/new", bad); code != http.StatusBadRequest || !strings.Contains(body, "is not an amount") {
		t.Fatalf("a bad amount: %d\n%s", code, body)
	}
	code, loc, body := b.post("/ui/orders/new", fields)
	if code != http.StatusSeeOther || loc != "/ui/orders/IG-77?done=created" {
		t.Fatalf("create: %d %s\n%s", code, loc, body)
	}
	o, err := r.db.GetOrder(ctx, "IG-77")
	if err != nil || o.AmountMinor != 1500000 || o.Customer.ID != "1784001" || o.Customer.Handle != "anna.knits" || o.PaymentURL == "" {
		t.Fatalf("the order created: %+v, %v", o, err)
	}
	_, page = b.get("/ui/orders/IG-77")
	m := formField.FindStringSubmatch(page)
	if m == nil || !strings.Contains(page, `id="send-link"`) {
		t.Fatalf("no Send link in Direct on the order:\n%s", page)
	}
	send := url.Values{"csrf": {csrfOf(t, page)}, "form": {m[1]}}
	for i, want := range []string{"done=direct_sent", "done=direct_again"} {
		code, loc, _ := b.post("/ui/orders/IG-77/direct", send)
		if code != http.StatusSeeOther || !strings.Contains(loc, want) {
			t.Fatalf("send %d: %d %s", i, code, loc)
		}
	}
	if len(direct.sends) != 1 || direct.sends[m[1]] != "IG-77 by console (Mariam)" {
		t.Fatalf("sends: %v", direct.sends)
	}
	direct.fail = core.Errorf(core.ECONFLICT, "the customer last wrote more than 7 days ago: Instagram allows no message until they write again")
	if code, _, body := b.post("/ui/orders/IG-77/direct", url.Values{"csrf": {csrfOf(t, page)}, "form": {"other"}}); code != http.StatusConflict ||
		!strings.Contains(body, "more than 7 days") {
		t.Fatalf("a refused send: %d\n%s", code, body)
	}
}

// Without the instagram connector there is no Direct menu and no Send link.
func TestNoDirectWithoutInstagram(t *testing.T) {
	t.Parallel()
	r := newRig(t, storage.SQLite, nil)
	r.order(core.Order{ID: "IG-1", AmountMinor: 100000, Currency: "AMD", PaymentURL: "https://pay.example/IG-1", Customer: core.Customer{ID: "1784"}})
	b := r.browser()
	b.login("")
	if _, page := b.get("/ui/orders/IG-1"); strings.Contains(page, "nav-direct") || strings.Contains(page, "send-link") {
		t.Fatalf("Direct shown without the connector:\n%s", page)
	}
	if code, _ := b.get("/ui/direct"); code != http.StatusOK {
		t.Fatalf("the Direct page: %d", code) // listing what is stored does no harm
	}
}

// ordersWithLinks creates orders as the payments service does, with a link.
type ordersWithLinks struct{ r **rig }

func (o ordersWithLinks) CreateOrder(ctx context.Context, ord core.Order) (core.Order, bool, error) {
	ord.PaymentURL = "https://pay.example.am/" + ord.ID
	return (*o.r).ledger.CreateOrder(ctx, ord)
}
