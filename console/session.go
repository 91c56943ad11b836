package console

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"time"
	"unicode"

	"golang.org/x/time/rate"

	"github.com/paysync/paysync/present"
)

const (
	sessionCookie = "paysync_session"
	loginCookie   = "paysync_login" // the login form's CSRF token (double submit)
	langCookie    = "paysync_lang"
	cookiePath    = "/ui/"
	maxNameLen    = 60
)

// session is a login. Its cookie holds it signed with a key derived from the
// admin token: the server checks the signature and the expiry on every
// request, so nothing a browser changes extends or forges it, any replica
// with the same token accepts it, and changing the token ends every session.
type session struct {
	ID      string `json:"id"`
	Name    string `json:"name,omitempty"` // who, for the journal of a settled review
	Expires int64  `json:"exp"`            // unix seconds
}

type sessions struct {
	key []byte
	ttl time.Duration
	now func() time.Time
	// failures slows down guessing the token: a few tries, then one every 2s.
	failures *rate.Limiter

	mu      sync.Mutex
	revoked map[string]int64 // logged-out session id -> its expiry
}

func newSessions(adminToken string, ttl time.Duration, now func() time.Time) *sessions {
	mac := hmac.New(sha256.New, []byte(adminToken))
	mac.Write([]byte("paysync console session key v1"))
	return &sessions{key: mac.Sum(nil), ttl: ttl, now: now, revoked: map[string]int64{},
		failures: rate.NewLimiter(rate.Every(2*time.Second), 10)}
}

func (ss *sessions) sign(b []byte) []byte {
	mac := hmac.New(sha256.New, ss.key)
	mac.Write(b)
	return mac.Sum(nil)
}

func (ss *sessions) encode(s session) string {
	b, _ := json.Marshal(s)
	return base64.RawURLEncoding.EncodeToString(b) + "." + base64.RawURLEncoding.EncodeToString(ss.sign(b))
}

// from returns the valid session of r, if any.
func (ss *sessions) from(r *http.Request) (*session, bool) {
	ck, err := r.Cookie(sessionCookie)
	if err != nil {
		return nil, false
	}
	body, sig, ok := strings.Cut(ck.Value, ".")
	if !ok {
		return nil, false
	}
	b, err1 := base64.RawURLEncoding.DecodeString(body)
	got, err2 := base64.RawURLEncoding.DecodeString(sig)
	if err1 != nil || err2 != nil || !hmac.Equal(got, ss.sign(b)) {
		return nil, false
	}
	var s session
	if json.Unmarshal(b, &s) != nil || s.ID == "" || ss.now().Unix() >= s.Expires {
		return nil, false
	}
	ss.mu.Lock()
	_, gone := ss.revoked[s.ID]
	ss.mu.Unlock()
	if gone {
		return nil, false
	}
	return &s, true
}

// csrf is the token every form of session s carries.
func (ss *sessions) csrf(s *session) string {
	return base64.RawURLEncoding.EncodeToString(ss.sign([]byte("csrf|" + s.ID)))
}

func (ss *sessions) checkCSRF(s *session, r *http.Request) bool {
	return subtle.ConstantTimeCompare([]byte(r.PostFormValue("csrf")), []byte(ss.csrf(s))) == 1
}

// revoke ends s on this process; the cookie is cleared too.
func (ss *sessions) revoke(s *session) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	now := ss.now().Unix()
	for id, exp := range ss.revoked {
		if exp <= now {
			delete(ss.revoked, id)
		}
	}
	ss.revoked[s.ID] = s.Expires
}

func randomID() string {
	b := make([]byte, 18)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// secure reports whether cookies must be Secure: the request came over TLS,
// directly or through a proxy that says so.
func secure(r *http.Request) bool {
	return r.TLS != nil || strings.EqualFold(r.Header.Get("X-Forwarded-Proto"), "https")
}

func setCookie(w http.ResponseWriter, r *http.Request, name, value string, maxAge int) {
	http.SetCookie(w, &http.Cookie{Name: name, Value: value, Path: cookiePath, MaxAge: maxAge,
		HttpOnly: true, Secure: secure(r), SameSite: http.SameSiteStrictMode})
}

// authed runs h with the request's session, after checking the CSRF token
// of every POST; without a session a page redirects to the login.
func (c *Console) authed(h func(http.ResponseWriter, *http.Request, *session)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s, ok := c.sessions.from(r)
		if !ok {
			if r.Method == http.MethodGet {
				http.Redirect(w, r, "/ui/login?next="+urlQueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
				return
			}
			c.fail(w, r, http.StatusUnauthorized, "error.session")
			return
		}
		if r.Method == http.MethodPost {
			r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
			if !c.sessions.checkCSRF(s, r) {
				c.fail(w, r, http.StatusForbidden, "error.csrf")
				return
			}
		}
		w.Header().Set("Cache-Control", "no-store")
		h(w, r, s)
	})
}

type loginData struct {
	Next  string
	Token string // the login form's CSRF token
	Error string
	Name  string
}

func (c *Console) loginPage(w http.ResponseWriter, r *http.Request) {
	if _, ok := c.sessions.from(r); ok {
		http.Redirect(w, r, localPath(r.URL.Query().Get("next")), http.StatusSeeOther)
		return
	}
	c.showLogin(w, r, http.StatusOK, "", "")
}

func (c *Console) showLogin(w http.ResponseWriter, r *http.Request, status int, errKey, name string) {
	tok := randomID()
	setCookie(w, r, loginCookie, tok, 3600)
	p := c.printer(r)
	d := loginData{Next: localPath(r.FormValue("next")), Token: tok, Name: name}
	if errKey != "" {
		d.Error = p.T(errKey)
	}
	c.render(w, status, "login", c.view(r, nil, "", p.T("login.title"), d))
}

func (c *Console) login(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 16<<10)
	ck, err := r.Cookie(loginCookie)
	if err != nil || ck.Value == "" || subtle.ConstantTimeCompare([]byte(ck.Value), []byte(r.PostFormValue("csrf"))) != 1 {
		c.showLogin(w, r, http.StatusForbidden, "login.expired", "")
		return
	}
	name := cleanName(r.PostFormValue("name"))
	if c.sessions.failures.Tokens() < 1 {
		c.showLogin(w, r, http.StatusTooManyRequests, "login.slow_down", name)
		return
	}
	token := r.PostFormValue("token")
	if subtle.ConstantTimeCompare([]byte(token), []byte(c.opt.AdminToken)) != 1 {
		c.sessions.failures.Allow()
		c.log.Warn("console login refused: wrong admin token", "remote", r.RemoteAddr)
		c.showLogin(w, r, http.StatusUnauthorized, "login.wrong", name)
		return
	}
	s := session{ID: randomID(), Name: name, Expires: c.opt.Now().Add(c.opt.SessionTTL).Unix()}
	setCookie(w, r, sessionCookie, c.sessions.encode(s), int(c.opt.SessionTTL/time.Second))
	setCookie(w, r, loginCookie, "", -1)
	c.log.Info("console login", "who", s.Name, "remote", r.RemoteAddr)
	http.Redirect(w, r, localPath(r.PostFormValue("next")), http.StatusSeeOther)
}

func (c *Console) logout(w http.ResponseWriter, r *http.Request, s *session) {
	c.sessions.revoke(s)
	setCookie(w, r, sessionCookie, "", -1)
	http.Redirect(w, r, "/ui/login", http.StatusSeeOther)
}

// switchLang remembers a language choice. It is a link, not a form: it
// changes nothing but how pages read.
func (c *Console) switchLang(w http.ResponseWriter, r *http.Request) {
	if l, ok := present.ParseLang(r.URL.Query().Get("to")); ok {
		http.SetCookie(w, &http.Cookie{Name: langCookie, Value: string(l), Path: cookiePath, MaxAge: 365 * 24 * 3600,
			HttpOnly: true, Secure: secure(r), SameSite: http.SameSiteLaxMode})
	}
	http.Redirect(w, r, localPath(r.URL.Query().Get("back")), http.StatusSeeOther)
}

// localPath keeps a redirect target inside the console, never another site.
func localPath(p string) string {
	if !strings.HasPrefix(p, "/ui/") || strings.HasPrefix(p, "//") || strings.ContainsAny(p, "\\\r\n") {
		return "/ui/orders"
	}
	return p
}

// who is how the journal names a person settling from the console.
func (s *session) who() string {
	if s.Name == "" {
		return "console"
	}
	return "console (" + s.Name + ")"
}

func cleanName(s string) string {
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return -1
		}
		return r
	}, strings.TrimSpace(s))
	if r := []rune(s); len(r) > maxNameLen {
		s = string(r[:maxNameLen])
	}
	return s
}
