package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/paysync/paysync/internal/testutil"
	"github.com/paysync/paysync/sandbox"
	sandboxall "github.com/paysync/paysync/sandbox/all"
	igsandbox "github.com/paysync/paysync/sandbox/instagram"
	"github.com/paysync/paysync/storage/testdb"
)

// The daemon of the Direct test: leases short enough that a killed
// process's delivery comes back within seconds.
const directConfig = `log_level: info
shutdown_timeout: 2s
dispatcher:
  lease: 4s
  poll_interval: 200ms
  backoff: [200ms, 500ms, 1s]
`

// TestDirectSendSurvivesSIGKILL: `paysync serve` is killed with SIGKILL
// after Instagram stored the "paid" message and before paysync heard the
// answer (the Send API has no idempotency key). The next process finds the
// message in the thread (the Conversations API: the echo is held back, as
// when Meta's webhooks lag) and does not send it again; the customer has
// the link once and the confirmation once. On SQLite and PostgreSQL.
func TestDirectSendSurvivesSIGKILL(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and kills the daemon; -short skips it")
	}
	paysyncBinary(t)
	for _, dialect := range []string{"sqlite", "postgres"} {
		t.Run(dialect, func(t *testing.T) {
			t.Parallel()
			var dbURL string
			if dialect == "postgres" {
				testdb.PostgresURL(t)
				dbURL = testdb.NewPostgresDB(t)
			}
			runDirectKill(t, dbURL)
		})
	}
}

func runDirectKill(t *testing.T, dbURL string) {
	ctx := testutil.Context(t)
	dir := t.TempDir()
	addr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	base := "http://" + addr

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	sbDir := filepath.Join(dir, "sandbox")
	if err := os.Mkdir(sbDir, 0o755); err != nil {
		t.Fatal(err)
	}
	sb := sandbox.New(sandbox.Options{BaseURL: "http://" + ln.Addr().String(), PaysyncURL: base, Dir: sbDir, Logger: testutil.Logger(t)})
	srv := &http.Server{Handler: sb, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	t.Cleanup(func() { sb.Close(); srv.Close() })
	ig := sb.Doubles["instagram"].(sandboxall.InstagramDouble)

	cfg := filepath.Join(dir, "direct.yaml")
	if err := os.WriteFile(cfg, []byte(directConfig), 0o600); err != nil {
		t.Fatal(err)
	}
	env := []string{"PAYSYNC_CONFIG=" + cfg, "PAYSYNC_ADMIN_TOKEN=" + chaosToken, "PAYSYNC_DATA_DIR=" + filepath.Join(dir, "data"),
		"PAYSYNC_PUBLIC_URL=" + base}
	if dbURL != "" {
		env = append(env, "PAYSYNC_DATABASE_URL="+dbURL)
	}
	for k, v := range sb.Env() {
		env = append(env, k+"="+v)
	}
	d := newDaemon(t, dir, addr, false, env)
	if err := d.ensure(ctx); err != nil {
		t.Fatal(err)
	}
	defer func() {
		if t.Failed() {
			t.Logf("the last serve's log:\n%s", d.lastLog(6000))
		}
	}()
	api := func(method, path string, body any, out any) int {
		t.Helper()
		var rd *bytes.Reader
		if body != nil {
			b, _ := json.Marshal(body)
			rd = bytes.NewReader(b)
		} else {
			rd = bytes.NewReader(nil)
		}
		req, _ := http.NewRequestWithContext(ctx, method, base+path, rd)
		req.Header.Set("Authorization", "Bearer "+chaosToken)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return 0
		}
		defer resp.Body.Close()
		if out != nil {
			json.NewDecoder(resp.Body).Decode(out)
		}
		return resp.StatusCode
	}
	eventually := func(what string, limit time.Duration, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(limit)
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting until %s", what)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	shop := func(text string) []igsandbox.Message {
		var out []igsandbox.Message
		for _, m := range ig.Account.Thread("1784530009") {
			if m.FromShop && strings.Contains(m.Text, text) {
				out = append(out, m)
			}
		}
		return out
	}

	ig.CustomerWrites(igsandbox.Customer{IGSID: "1784530009", Username: "lilit.home", Name: "Lilit"}, "Բարև, մոմերը դեռ կա՞ն", time.Time{})
	eventually("the conversation", 30*time.Second, func() bool {
		var out struct{ Conversations []struct{ IGSID string } }
		api("GET", "/v1/conversations", nil, &out)
		return len(out.Conversations) == 1 && out.Conversations[0].IGSID == "1784530009"
	})
	if code := api("POST", "/v1/orders", map[string]any{"order_id": "IG-KILL-1", "amount_minor": 1350000, "currency": "AMD", "provider": "vpos",
		"customer": map[string]any{"handle": "lilit.home", "id": "1784530009"},
		"items":    []map[string]any{{"name": "Soy candle", "quantity": 3, "price_minor": 450000}}}, nil); code != 201 {
		t.Fatalf("create: %d", code)
	}
	eventually("the link in the thread", 30*time.Second, func() bool { return len(shop("Վճարել կարող եք այստեղ")) == 1 })

	// Instagram stores the paid message and never answers; its echo lags.
	ig.HoldWebhooks()
	ig.HangNextSendAnswer(1)
	vpos, _ := sb.Checkout("vpos")
	if err := vpos.Pay("IG-KILL-1"); err != nil {
		t.Fatal(err)
	}
	eventually("the paid message stored at Instagram", 30*time.Second, func() bool { return len(shop("Ստացանք IG-KILL-1")) == 1 })
	d.kill() // between the send and its acknowledgement
	killedRuns, _, _, _ := d.counts()
	if err := d.ensure(ctx); err != nil {
		t.Fatal(err)
	}
	paid := shop("Ստացանք IG-KILL-1")[0]
	eventually("the paid message's delivery acknowledged by the next process", time.Minute, func() bool {
		var v struct {
			Deliveries []struct {
				Connector, State string
				ExternalID       string `json:"external_id"`
			}
		}
		api("GET", "/v1/orders/IG-KILL-1", nil, &v)
		for _, dv := range v.Deliveries {
			if dv.Connector == "instagram" && dv.State == "delivered" && dv.ExternalID == paid.ID {
				return true
			}
		}
		return false
	})
	ig.ReleaseWebhooks()
	ig.WaitWebhooks()
	time.Sleep(500 * time.Millisecond) // a second send would follow at once
	if n := len(shop("Ստացանք IG-KILL-1")); n != 1 {
		t.Fatalf("the paid message is in the thread %d times after the kill", n)
	}
	if n := len(shop("Վճարել կարող եք այստեղ")); n != 1 {
		t.Fatalf("the link is in the thread %d times", n)
	}
	if n, first := d.grepLogs("a send whose answer was lost is in the thread; not sending it again"); n == 0 {
		t.Fatalf("the next process did not find the message in the thread (runs %d)", killedRuns)
	} else {
		t.Log(first)
	}
}
