package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/paysync/paysync/core"
	"github.com/paysync/paysync/storage/testdb"
)

// lastLine is the last line of a command's standard output: where the
// people commands print the secret they make.
func lastLine(out string) string {
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	return lines[len(lines)-1]
}

// serveFrom runs req through the daemon's own handler as if it came from
// the address addr (the peer of the connection), so that throttles by
// address can be tried from many addresses over loopback.
func (e *e2e) serveFrom(addr string, req *http.Request) *httptest.ResponseRecorder {
	req.RemoteAddr = addr + ":40000"
	rec := httptest.NewRecorder()
	e.d.srv.Handler.ServeHTTP(rec, req)
	return rec
}

// loginForm is a console login post with its own CSRF pair (the form's
// token in a cookie and the body), as a browser sends it.
func loginForm(name, password string) *http.Request {
	const csrf = "login-form-token"
	body := url.Values{"csrf": {csrf}, "name": {name}, "password": {password}}.Encode()
	req := httptest.NewRequest("POST", "/ui/login", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "text/html")
	req.AddCookie(&http.Cookie{Name: "paysync_login", Value: csrf})
	return req
}

func bearer(method, path, token, body string) *http.Request {
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+token)
	return req
}

// signedIn reports a login that started a session.
func signedIn(rec *httptest.ResponseRecorder) bool {
	if rec.Code != http.StatusSeeOther {
		return false
	}
	for _, c := range rec.Result().Cookies() {
		if c.Name == "paysync_session" && c.Value != "" {
			return true
		}
	}
	return false
}

// The contract for people, through the real CLI on the configured
// database while serve runs: users add prints the one-time password (or
// the invite link) last, tokens add prints the token last, and each works
// at once on the running daemon; disable, passwd and revoke take effect
// there too. A manager's orders:create token cannot settle a review (403
// JSON), an owner's admin token can, and the journal names the owner.
func TestPeopleCommandsWhileServing(t *testing.T) {
	for _, dialect := range testdb.Dialects {
		t.Run(dialect, func(t *testing.T) {
			if dialect == "postgres" {
				testdb.PostgresURL(t)
			}
			e := startE2E(t, dialect, map[string]string{"PAYSYNC_GENERIC_WEBHOOK_SECRET": e2eSecret, "PAYSYNC_PUBLIC_URL": "https://pay.shop.am"})
			ok := func(args ...string) string {
				t.Helper()
				code, out, errs := cli(t, args...)
				if code != 0 {
					t.Fatalf("paysync %s: exit %d\n%s%s", strings.Join(args, " "), code, out, errs)
				}
				return out
			}

			pw := lastLine(ok("users", "add", "Anahit", "--role", "owner"))
			if !regexp.MustCompile(`^[a-z2-7]{5}(-[a-z2-7]{5}){3}$`).MatchString(pw) {
				t.Fatalf("users add printed %q last, want the one-time password", pw)
			}
			link := lastLine(ok("users", "add", "Mane", "--role", "manager", "--invite"))
			if !regexp.MustCompile(`^https://pay\.shop\.am/ui/invite/[A-Za-z0-9_-]{40,}$`).MatchString(link) {
				t.Fatalf("users add --invite printed %q last, want the invite link", link)
			}
			if code, _, errs := cli(t, "users", "add", "anahit", "--role", "viewer"); code == 0 || !strings.Contains(errs, "Anahit") && !strings.Contains(errs, "anahit") {
				t.Fatalf("a name taken again (case aside): exit %d %q", code, errs)
			}
			list := ok("users", "list")
			for _, want := range []string{"Anahit", "owner", "one-time password", "Mane", "manager", "invited"} {
				if !strings.Contains(list, want) {
					t.Fatalf("users list lacks %q:\n%s", want, list)
				}
			}

			// The one-time password logs in at once (and asks for a new one).
			rec := e.serveFrom("198.51.100.1", loginForm("Anahit", pw))
			if !signedIn(rec) || rec.Header().Get("Location") != "/ui/password" {
				t.Fatalf("login with the one-time password: %d %s", rec.Code, rec.Header().Get("Location"))
			}
			session := rec.Result().Cookies()

			// The invited manager chooses a password through the link.
			invite := strings.TrimPrefix(link, "https://pay.shop.am")
			if _, err := e.d.app.people.AcceptInvite(context.Background(), invite[len("/ui/invite/"):], "mane-chooses-this"); err != nil {
				t.Fatal(err)
			}
			bot := lastLine(ok("tokens", "add", "--user", "Mane", "--scope", "orders:create,orders:read"))
			if !strings.HasPrefix(bot, "pst_") || strings.Contains(bot, " ") {
				t.Fatalf("tokens add printed %q last, want the token", bot)
			}
			if code, _, errs := cli(t, "tokens", "add", "--user", "Mane", "--scope", "admin"); code == 0 || !strings.Contains(errs, "manager") {
				t.Fatalf("an admin token for a manager: exit %d %q", code, errs)
			}
			owner := lastLine(ok("tokens", "add", "--user", "Anahit", "--scope", "admin"))

			// A short payment puts IG-5001 in review.
			rec = e.serveFrom("198.51.100.2", bearer("POST", "/v1/orders", bot, `{"order_id":"IG-5001","amount_minor":1500000,"currency":"AMD"}`))
			if rec.Code != http.StatusCreated {
				t.Fatalf("create with the manager's token: %d %s", rec.Code, rec.Body)
			}
			body := fmt.Sprintf(`{"event_id":"evt_5001","order_id":"IG-5001","status":"paid","amount_minor":1400000,"currency":"AMD","provider_ref":"p1","occurred_at":%q}`,
				time.Now().UTC().Format(time.RFC3339))
			if code := e.webhook([]byte(body)); code/100 != 2 {
				t.Fatalf("webhook: %d", code)
			}
			e.eventually("IG-5001 in review", func() bool {
				o, err := e.d.app.store.GetOrder(context.Background(), "IG-5001")
				return err == nil && o.Status == core.StatusManualReview
			})
			rec = e.serveFrom("198.51.100.2", bearer("POST", "/v1/orders/IG-5001/review", bot, `{"decision":"paid","note":"cash"}`))
			var answer struct {
				Error struct{ Code, Message string } `json:"error"`
			}
			if err := json.Unmarshal(rec.Body.Bytes(), &answer); rec.Code != http.StatusForbidden || err != nil || answer.Error.Code != core.EFORBIDDEN || answer.Error.Message == "" {
				t.Fatalf("a manager's token settling a review: %d %s", rec.Code, rec.Body)
			}
			rec = e.serveFrom("198.51.100.3", bearer("POST", "/v1/orders/IG-5001/review", owner, `{"decision":"paid","note":"1,000 ֏ in cash"}`))
			if rec.Code != http.StatusOK {
				t.Fatalf("the owner's token settling a review: %d %s", rec.Code, rec.Body)
			}
			j, _ := e.d.app.store.ListJournal(context.Background(), "IG-5001")
			if last := j[len(j)-1]; last.Reason != "api (Anahit): 1,000 ֏ in cash" || last.Verdict != core.VerdictManual {
				t.Fatalf("the journal names %q, want the owner's account", last.Reason)
			}

			// tokens list shows the tokens with their last use; revoke ends one.
			tl := ok("tokens", "list")
			var botLine string
			sc := bufio.NewScanner(strings.NewReader(tl))
			for sc.Scan() {
				if strings.Contains(sc.Text(), "Mane") {
					botLine = sc.Text()
				}
			}
			fields := strings.Fields(botLine)
			if len(fields) < 4 || fields[2] != "orders:create,orders:read" || !strings.HasPrefix(fields[3], bot[:10]) || strings.Contains(botLine, "never") {
				t.Fatalf("tokens list's line for Mane's token %q (want its scopes, its first characters and a last use):\n%s", botLine, tl)
			}
			if strings.Contains(tl, bot) || strings.Contains(tl, owner) {
				t.Fatal("tokens list shows a whole token")
			}
			if _, err := strconv.Atoi(fields[0]); err != nil {
				t.Fatalf("tokens list's first column %q is not the id", fields[0])
			}
			ok("tokens", "revoke", fields[0])
			if rec = e.serveFrom("198.51.100.2", bearer("GET", "/v1/orders/IG-5001", bot, "")); rec.Code != http.StatusUnauthorized {
				t.Fatalf("a revoked token: %d", rec.Code)
			}

			// passwd ends the owner's session; disable stops the owner's token.
			passwordPage := func() *httptest.ResponseRecorder {
				req := httptest.NewRequest("GET", "/ui/password", nil)
				for _, c := range session {
					req.AddCookie(c)
				}
				return e.serveFrom("198.51.100.1", req)
			}
			if rec := passwordPage(); rec.Code != http.StatusOK {
				t.Fatalf("the owner's session before users passwd: %d", rec.Code)
			}
			pw2 := lastLine(ok("users", "passwd", "Anahit"))
			if pw2 == pw || len(pw2) != len(pw) {
				t.Fatalf("users passwd printed %q last", pw2)
			}
			if rec := passwordPage(); rec.Code != http.StatusSeeOther || !strings.HasPrefix(rec.Header().Get("Location"), "/ui/login") {
				t.Fatalf("the session after users passwd: %d %s, want the login", rec.Code, rec.Header().Get("Location"))
			}
			ok("users", "disable", "Anahit")
			if rec = e.serveFrom("198.51.100.3", bearer("GET", "/v1/orders/IG-5001", owner, "")); rec.Code != http.StatusUnauthorized {
				t.Fatalf("a disabled account's token: %d", rec.Code)
			}
			if rec = e.serveFrom("198.51.100.1", loginForm("Anahit", pw2)); signedIn(rec) {
				t.Fatal("a disabled account logged in")
			}
			if !strings.Contains(ok("users", "list"), "disabled") {
				t.Fatal("users list does not show the disabled account")
			}
		})
	}
}

// lockoutMetrics reads paysync_login_lockouts_total from /metrics, by
// "kind/surface".
func (e *e2e) lockoutMetrics(t *testing.T) map[string]float64 {
	t.Helper()
	rec := e.serveFrom("127.0.0.1", httptest.NewRequest("GET", "/metrics", nil))
	out := map[string]float64{}
	re := regexp.MustCompile(`(?m)^paysync_login_lockouts_total\{kind="([a-z_]+)",surface="([a-z]+)"\} (\S+)$`)
	for _, m := range re.FindAllStringSubmatch(rec.Body.String(), -1) {
		v, _ := strconv.ParseFloat(m[3], 64)
		out[m[1]+"/"+m[2]] = v
	}
	return out
}

// The throttle checks, through the daemon's own handlers on both
// databases: 1,000 wrong passwords (console) and 1,000 wrong tokens (admin
// API) from one address are answered 429 after a small allowance, while
// the owner gets in from another address; the owner's name guessed from
// many addresses does not lock the owner out from a fresh one; behind a
// trusted proxy the client's address from X-Forwarded-For counts, and only
// then; every lockout is logged and counted in /metrics.
func TestThrottlesLockOutGuessersNotTheOwner(t *testing.T) {
	for _, dialect := range testdb.Dialects {
		t.Run(dialect, func(t *testing.T) {
			if dialect == "postgres" {
				testdb.PostgresURL(t)
			}
			e := startE2E(t, dialect, map[string]string{"PAYSYNC_TRUSTED_PROXIES": "10.0.0.1"})
			ctx := context.Background()
			// The throttles' clock stands still (no allowance comes back
			// while the test runs, however slow the machine), and the
			// accounts' passwords are hashed at bcrypt's lowest cost.
			frozen := time.Now()
			e.d.app.people.Now = func() time.Time { return frozen }
			e.d.app.people.Cost = 4
			_, ownerPass, err := e.d.app.people.AddAccount(ctx, "Anahit", core.RoleOwner, false)
			if err != nil {
				t.Fatal(err)
			}
			for _, name := range []string{"Ani", "Gor", "Lusine"} {
				if _, _, err := e.d.app.people.AddAccount(ctx, name, core.RoleViewer, false); err != nil {
					t.Fatal(err)
				}
			}
			const guesser, ownerAddr = "203.0.113.7", "198.51.100.20"

			// 1,000 wrong passwords for the owner's name from one address.
			codes := map[int]int{}
			first429 := 0
			for i := range 1000 {
				rec := e.serveFrom(guesser, loginForm("Anahit", fmt.Sprintf("guess-%d", i)))
				codes[rec.Code]++
				if rec.Code == http.StatusTooManyRequests && first429 == 0 {
					first429 = i + 1
					if ra, err := strconv.Atoi(rec.Header().Get("Retry-After")); err != nil || ra < 1 {
						t.Fatalf("429 without a Retry-After: %q", rec.Header().Get("Retry-After"))
					}
				}
			}
			if first429 != 6 || codes[http.StatusUnauthorized] != 5 || codes[http.StatusTooManyRequests] != 995 {
				t.Fatalf("1,000 wrong passwords from one address: %v, first 429 at try %d; want 429 after a small allowance", codes, first429)
			}
			if rec := e.serveFrom(ownerAddr, loginForm("Anahit", ownerPass)); !signedIn(rec) {
				t.Fatalf("the owner from another address during the flood: %d", rec.Code)
			}
			if rec := e.serveFrom(ownerAddr, loginForm("Aram", "e2e-token")); !signedIn(rec) {
				t.Fatalf("the admin token from another address during the flood: %d", rec.Code)
			}
			if rec := e.serveFrom(guesser, loginForm("Anahit", ownerPass)); rec.Code != http.StatusTooManyRequests {
				t.Fatalf("the guessing address itself, even with the right password: %d, want 429", rec.Code)
			}

			// 1,000 tries of three names from one address (a password
			// spray): the address itself is held back.
			codes = map[int]int{}
			for i := range 1000 {
				name := []string{"Ani", "Gor", "Lusine"}[i%3]
				codes[e.serveFrom(guesser+"0", loginForm(name, "Summer2026!")).Code]++
			}
			if codes[http.StatusUnauthorized] != 10 || codes[http.StatusTooManyRequests] != 990 {
				t.Fatalf("1,000 names from one address: %v", codes)
			}
			if rec := e.serveFrom(ownerAddr, loginForm("Anahit", ownerPass)); !signedIn(rec) {
				t.Fatalf("the owner from another address after the spray: %d", rec.Code)
			}

			// The owner's name guessed from 60 addresses, a guess each: the
			// account is held back, but only for addresses that guessed.
			for i := range 60 {
				e.serveFrom(fmt.Sprintf("192.0.2.%d", i+1), loginForm("Anahit", "spread-guess"))
			}
			if rec := e.serveFrom("198.51.100.21", loginForm("Anahit", ownerPass)); !signedIn(rec) {
				t.Fatalf("the owner from a fresh address after guesses from many: %d", rec.Code)
			}

			// 1,000 wrong tokens from one address at the admin API.
			codes, first429 = map[int]int{}, 0
			for i := range 1000 {
				rec := e.serveFrom(guesser+"1", bearer("GET", "/v1/outbox/stats", fmt.Sprintf("pst_wrong-%d", i), ""))
				codes[rec.Code]++
				if rec.Code == http.StatusTooManyRequests && first429 == 0 {
					first429 = i + 1
					var ans struct{ Error struct{ Code string } }
					if json.Unmarshal(rec.Body.Bytes(), &ans) != nil || ans.Error.Code != core.ETOOMANY || rec.Header().Get("Retry-After") == "" {
						t.Fatalf("the API's 429: %s %q", rec.Body, rec.Header().Get("Retry-After"))
					}
				}
			}
			if first429 != 11 || codes[http.StatusUnauthorized] != 10 || codes[http.StatusTooManyRequests] != 990 {
				t.Fatalf("1,000 wrong tokens from one address: %v, first 429 at try %d", codes, first429)
			}
			if rec := e.serveFrom(ownerAddr, bearer("GET", "/v1/outbox/stats", "e2e-token", "")); rec.Code != http.StatusOK {
				t.Fatalf("the admin token from another address during the flood: %d %s", rec.Code, rec.Body)
			}

			// Behind the trusted proxy 10.0.0.1, the client in X-Forwarded-For counts.
			viaProxy := func(client, token string) int {
				req := bearer("GET", "/v1/outbox/stats", token, "")
				req.Header.Set("X-Forwarded-For", client)
				return e.serveFrom("10.0.0.1", req).Code
			}
			for range 50 {
				viaProxy("203.0.113.50", "pst_wrong")
			}
			if code := viaProxy("203.0.113.50", "pst_wrong"); code != http.StatusTooManyRequests {
				t.Fatalf("a guesser behind the proxy: %d, want 429", code)
			}
			if code := viaProxy("198.51.100.30", "e2e-token"); code != http.StatusOK {
				t.Fatalf("the owner behind the same proxy: %d (the proxy's own address must not be locked)", code)
			}
			// From a peer that is no trusted proxy, X-Forwarded-For is the
			// client's own word: a new one each time escapes nothing.
			last := 0
			for i := range 50 {
				req := bearer("GET", "/v1/outbox/stats", "pst_wrong", "")
				req.Header.Set("X-Forwarded-For", fmt.Sprintf("192.0.2.%d", 100+i))
				last = e.serveFrom("192.0.2.250", req).Code
			}
			if last != http.StatusTooManyRequests {
				t.Fatalf("an untrusted peer naming a new X-Forwarded-For each time: %d, want 429", last)
			}

			// Every lockout is logged and counted.
			m := e.lockoutMetrics(t)
			total := 0.0
			for _, v := range m {
				total += v
			}
			if m["address/console"] < 1 || m["account_address/console"] < 1 || m["account/console"] < 1 || m["address/api"] < 3 {
				t.Fatalf("paysync_login_lockouts_total: %v", m)
			}
			logged := strings.Count(e.logs.String(), "locked out after wrong passwords or tokens")
			if float64(logged) != total {
				t.Fatalf("%d lockouts logged, %v counted", logged, total)
			}
			if strings.Contains(e.logs.String(), "guess-1") || strings.Contains(e.logs.String(), "pst_wrong-1") {
				t.Fatal("a guessed password or token reached the log")
			}
		})
	}
}
