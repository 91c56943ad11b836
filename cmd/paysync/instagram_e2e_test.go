package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/paysync/paysync/internal/testutil"
	"github.com/paysync/paysync/sandbox"
	sandboxall "github.com/paysync/paysync/sandbox/all"
	igsandbox "github.com/paysync/paysync/sandbox/instagram"
	"github.com/paysync/paysync/storage/testdb"
)

// direct is serve against the whole sandbox (VPOS.am makes the payment
// links, Instagram is the thread), on one database.
type direct struct {
	*e2e
	sb *sandbox.Sandbox
	ig sandboxall.InstagramDouble
}

func startDirect(t testing.TB, dialect string, env map[string]string) *direct {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	base := "http://" + ln.Addr().String()
	sbLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	sb, sbSrv := serveSandbox(sbLn, sandbox.Options{PaysyncURL: base, Dir: t.TempDir(), Logger: testutil.Logger(t)})
	t.Cleanup(func() { sbSrv.Close(); sb.Close() })
	for k, v := range sb.Env() {
		t.Setenv(k, v)
	}
	t.Setenv("PAYSYNC_DATA_DIR", t.TempDir())
	t.Setenv("PAYSYNC_MAPPING_DIR", "../../mapping")
	t.Setenv("PAYSYNC_ADMIN_TOKEN", "e2e-token")
	t.Setenv("PAYSYNC_PUBLIC_URL", base)
	for k, v := range env {
		t.Setenv(k, v)
	}
	if dialect == "postgres" {
		t.Setenv("PAYSYNC_DATABASE_URL", testdb.NewPostgresDB(t))
	} else {
		os.Unsetenv("PAYSYNC_DATABASE_URL")
	}
	ctx, cancel := context.WithCancel(context.Background())
	errb := &testutil.SyncBuffer{}
	a, err := openApp(ctx, &cmdEnv{stdout: io.Discard, stderr: errb})
	if err != nil {
		t.Fatal(err, errb.String())
	}
	d, err := startDaemon(ctx, a, ln)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cancel(); d.shutdown(); a.Close() })
	return &direct{e2e: &e2e{t: t, base: base, d: d, logs: errb}, sb: sb, ig: sb.Doubles["instagram"].(sandboxall.InstagramDouble)}
}

// shopMessages is what the shop wrote to a customer, oldest first.
func (e *direct) shopMessages(igsid string) []igsandbox.Message {
	var out []igsandbox.Message
	for _, m := range e.ig.Account.Thread(igsid) {
		if m.FromShop {
			out = append(out, m)
		}
	}
	return out
}

func (e *direct) countWith(igsid, text string) int {
	n := 0
	for _, m := range e.shopMessages(igsid) {
		if strings.Contains(m.Text, text) {
			n++
		}
	}
	return n
}

func (e *direct) createOrder(id, igsid string) {
	e.t.Helper()
	code, out := e.api("POST", "/v1/orders", map[string]any{"order_id": id, "amount_minor": 1500000, "currency": "AMD", "provider": "vpos",
		"customer": map[string]any{"handle": "anna.knits", "id": igsid, "name": "Anna"},
		"items":    []map[string]any{{"name": "Silk scarf", "quantity": 1, "price_minor": 1500000}}})
	if code != 201 {
		e.t.Fatalf("create %s: %d %v", id, code, out)
	}
}

func (e *direct) instagramDelivery(id string) map[string]any {
	_, view := e.api("GET", "/v1/orders/"+id, nil)
	ds, _ := view["deliveries"].([]any)
	for _, d := range ds {
		if d := d.(map[string]any); d["connector"] == "instagram" {
			return d
		}
	}
	return nil
}

func (e *direct) journalWith(id, verdict string) []map[string]any {
	_, view := e.api("GET", "/v1/orders/"+id, nil)
	var out []map[string]any
	js, _ := view["journal"].([]any)
	for _, j := range js {
		if j := j.(map[string]any); j["verdict"] == verdict {
			out = append(out, j)
		}
	}
	return out
}

func (e *direct) get(path string) (int, string) {
	resp, err := http.Get(e.base + path)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestDirectThroughTheDaemon is issue 21's "done when" through the real
// daemon, on both databases: Meta's handshake passes only with the right
// verify token; a signed message creates a conversation and a forged one is
// refused and counted; an order for that customer sends the link once; its
// payment sends the paid message once although the answer to the send is
// lost; a payment 30 hours after the customer's last message sends nothing,
// and the order's journal says why.
func TestDirectThroughTheDaemon(t *testing.T) {
	testdb.Each(t, func(t *testing.T, dialect string) {
		if dialect == "postgres" {
			testdb.PostgresURL(t)
		}
		e := startDirect(t, dialect, nil)
		verify := e.sb.Env()["PAYSYNC_INSTAGRAM_VERIFY_TOKEN"]

		// The handshake.
		if code, body := e.get("/webhooks/instagram?" + url.Values{"hub.mode": {"subscribe"}, "hub.verify_token": {verify}, "hub.challenge": {"97531"}}.Encode()); code != 200 || body != "97531" {
			t.Fatalf("handshake with the verify token: %d %q", code, body)
		}
		if code, body := e.get("/webhooks/instagram?" + url.Values{"hub.mode": {"subscribe"}, "hub.verify_token": {"guessed"}, "hub.challenge": {"97531"}}.Encode()); code != 403 || strings.Contains(body, "97531") {
			t.Fatalf("handshake with another token: %d %q", code, body)
		}

		// A customer writes: a signed webhook makes the conversation.
		anna := igsandbox.Customer{IGSID: "1784530001", Username: "anna.knits", Name: "Anna"}
		e.ig.CustomerWrites(anna, "Բարև, կարմիր շարֆը դեռ կա՞", time.Time{})
		e.eventually("the conversation, with the username from the profile API", func() bool {
			_, out := e.api("GET", "/v1/conversations", nil)
			cs, _ := out["conversations"].([]any)
			for _, c := range cs {
				if c := c.(map[string]any); c["igsid"] == anna.IGSID && c["username"] == "anna.knits" && c["window_open"] == true && c["window_ends_at"] != nil {
					return true
				}
			}
			return false
		})

		// A forged one is refused, and counted.
		forged := []byte(`{"object":"instagram","entry":[{"id":"1","messaging":[{"sender":{"id":"666"},"recipient":{"id":"1"},"timestamp":1,"message":{"mid":"mid.forged","text":"hi"}}]}]}`)
		req, _ := http.NewRequest("POST", e.base+"/webhooks/instagram", bytes.NewReader(forged))
		req.Header.Set("X-Hub-Signature-256", igsandbox.Sign("not-the-app-secret", forged))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 401 {
			t.Fatalf("a forged webhook: %d", resp.StatusCode)
		}
		_, refusals := e.api("GET", "/v1/refusals", nil)
		if !strings.Contains(fmt.Sprint(refusals), "provider:instagram") {
			t.Fatalf("the forged webhook is not in the refusal records: %v", refusals)
		}
		_, convs := e.api("GET", "/v1/conversations", nil)
		if strings.Contains(fmt.Sprint(convs), "666") {
			t.Fatalf("the forged message made a conversation: %v", convs)
		}

		// An order for Anna: the link, once.
		e.createOrder("IG-5001", anna.IGSID)
		_, view := e.api("GET", "/v1/orders/IG-5001", nil)
		link := view["order"].(map[string]any)["payment_url"].(string)
		e.eventually("the link in Anna's thread", func() bool { return e.countWith(anna.IGSID, link) == 1 })

		// Its payment, with the answer to the send lost: the paid message once.
		e.ig.LoseNextSendAnswer(1)
		vpos, _ := e.sb.Checkout("vpos")
		if err := vpos.Pay("IG-5001"); err != nil {
			t.Fatal(err)
		}
		e.eventually("the paid message delivered", func() bool {
			d := e.instagramDelivery("IG-5001")
			return d != nil && d["state"] == "delivered" && d["external_id"] != "" && e.countWith(anna.IGSID, "Ստացանք IG-5001") == 1
		})
		time.Sleep(300 * time.Millisecond) // a second send would come at once
		if n := e.countWith(anna.IGSID, "Ստացանք IG-5001"); n != 1 {
			t.Fatalf("the paid message is in the thread %d times", n)
		}
		if n := e.countWith(anna.IGSID, link); n != 1 {
			t.Fatalf("the link is in the thread %d times", n)
		}
		if st := e.ig.Stats(); st.LostAnswers != 1 {
			t.Fatalf("the double lost %d answers, want 1", st.LostAnswers)
		}
		if msgs := e.shopMessages(anna.IGSID); fmt.Sprint(e.instagramDelivery("IG-5001")["external_id"]) != msgs[len(msgs)-1].ID {
			t.Fatalf("the delivery names %v, the paid message is %s", e.instagramDelivery("IG-5001")["external_id"], msgs[len(msgs)-1].ID)
		}

		// Boris last wrote 30 hours ago: nothing goes to him, and the journal says why.
		boris := igsandbox.Customer{IGSID: "1784530002", Username: "boris.v", Name: "Boris"}
		e.ig.CustomerWrites(boris, "Hello, how much is the bag?", time.Now().Add(-30*time.Hour))
		e.eventually("Boris's conversation", func() bool {
			_, out := e.api("GET", "/v1/conversations", nil)
			return strings.Contains(fmt.Sprint(out), boris.IGSID)
		})
		e.createOrder("IG-5002", boris.IGSID)
		if err := vpos.Pay("IG-5002"); err != nil {
			t.Fatal(err)
		}
		paidSkips := func() []map[string]any {
			var out []map[string]any
			for _, j := range e.journalWith("IG-5002", "not_sent") {
				if j["status_after"] == "paid" {
					out = append(out, j)
				}
			}
			return out
		}
		e.eventually("the payment's delivery done by sending nothing", func() bool {
			d := e.instagramDelivery("IG-5002")
			return d != nil && d["state"] == "delivered" && len(paidSkips()) == 1
		})
		time.Sleep(300 * time.Millisecond) // a retry would come within the backoff's first step
		if n := len(e.shopMessages(boris.IGSID)); n != 0 {
			t.Fatalf("%d messages sent to Boris outside the window", n)
		}
		if n := len(paidSkips()); n != 1 {
			t.Fatalf("the skip is journaled %d times", n)
		}
		last := paidSkips()[0]
		if why := fmt.Sprint(last["reason"]); !strings.Contains(why, "@boris.v last wrote 30h ago") || !strings.Contains(why, "outside Instagram's 24-hour messaging window") {
			t.Fatalf("the journal says %q", why)
		}
		if d := e.instagramDelivery("IG-5002"); d["last_error"] != nil && d["last_error"] != "" {
			t.Fatalf("the skipped delivery failed on the way: %v", d)
		}
	})
}

// TestConnectorsCheckInstagram: `paysync connectors check` reads the
// account behind the token and says what it may do and when the token
// ends; a token of another account is a problem with its fix.
func TestConnectorsCheckInstagram(t *testing.T) {
	acct := igsandbox.New(igsandbox.Options{})
	srv := httptest.NewServer(acct)
	defer srv.Close()
	defer acct.Close()
	t.Setenv("PAYSYNC_DATA_DIR", t.TempDir())
	t.Setenv("PAYSYNC_MAPPING_DIR", "../../mapping")
	t.Setenv("PAYSYNC_BITRIX24_WEBHOOK_URL", "")
	t.Setenv("PAYSYNC_INSTAGRAM_BASE_URL", srv.URL+"/")
	t.Setenv("PAYSYNC_INSTAGRAM_ACCESS_TOKEN", acct.AccessToken())
	t.Setenv("PAYSYNC_INSTAGRAM_ACCOUNT_ID", acct.AccountID())
	t.Setenv("PAYSYNC_INSTAGRAM_APP_SECRET", acct.AppSecret())
	t.Setenv("PAYSYNC_INSTAGRAM_VERIFY_TOKEN", "verify-me-42")
	code, out, errs := cli(t, "connectors", "check")
	for _, want := range []string{"Instagram Direct (", "account: @yerevan.boutique", "id " + acct.AccountID(),
		"scopes: instagram_business_manage_messages (the conversations API answered)", "token expiry: not known yet",
		"messages in hy, ru, en (default hy)", "\nok\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("check output lacks %q", want)
		}
	}
	if code != 0 {
		t.Fatalf("check: %d\n%s\n%s", code, out, errs)
	}
	t.Setenv("PAYSYNC_INSTAGRAM_ACCOUNT_ID", "17841499999999999")
	code, out, errs = cli(t, "connectors", "check")
	if code != 1 || !strings.Contains(errs, "PAYSYNC_INSTAGRAM_ACCOUNT_ID is 17841499999999999 but the token belongs to account "+acct.AccountID()) {
		t.Fatalf("check with another account's id: %d\n%s\n%s", code, out, errs)
	}
	if strings.Contains(out+errs, acct.AccessToken()) || strings.Contains(out+errs, acct.AppSecret()) {
		t.Fatal("a secret reached the output")
	}
}
