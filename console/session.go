package console

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"net/http"
	"strings"
	"time"

	"github.com/paysync/paysync/core"
	"github.com/paysync/paysync/people"
	"github.com/paysync/paysync/present"
)

const (
	sessionCookie = "paysync_session"
	loginCookie   = "paysync_login" // the login form's CSRF token (double submit)
	langCookie    = "paysync_lang"
	cookiePath    = "/ui/"
)

// session is the signed-in person of a request. The cookie holds a random
// token; the database keeps its digest (package people), so that logging
// out, a password change or a disabled account ends it on every replica
// and across restarts.
type session struct {
	people.Who
	token string
}

// csrf is the token every form of the session carries: derived from the
// session's own secret, so that another site cannot know it.
func (s *session) csrf() string {
	sum := sha256.Sum256([]byte("paysync console csrf|" + s.token))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

func (s *session) checkCSRF(r *http.Request) bool {
	return subtle.ConstantTimeCompare([]byte(r.PostFormValue("csrf")), []byte(s.csrf())) == 1
}

// who is how the journal names a person acting from the console.
func (s *session) who() string { return "console (" + s.Journal() + ")" }

// can reports whether the session's role allows what the console calls
// kind: "settle" and "people" are the owner's, "create" the manager's too.
func (s *session) can(kind string) bool {
	switch kind {
	case "settle", "people", "catalog", "retry", "export", "reconcile":
		return s.Role == core.RoleOwner
	case "create":
		return s.Role == core.RoleOwner || s.Role == core.RoleManager
	}
	return true
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

// from returns the request's session, if it has a live one.
func (c *Console) from(r *http.Request) (*session, bool) {
	ck, err := r.Cookie(sessionCookie)
	if err != nil || ck.Value == "" {
		return nil, false
	}
	who, err := c.opt.People.Session(r.Context(), ck.Value)
	if err != nil {
		if code := core.ErrorCode(err); code != core.ENOTFOUND {
			c.log.Error("console session not read", "err", err)
		}
		return nil, false
	}
	return &session{Who: who, token: ck.Value}, true
}

// authed runs h with the request's session, after checking the CSRF token
// of every POST; without a session a page redirects to the login. A person
// with a one-time password is sent to choose their own first.
func (c *Console) authed(h func(http.ResponseWriter, *http.Request, *session)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s, ok := c.from(r)
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
			if !s.checkCSRF(r) {
				c.fail(w, r, http.StatusForbidden, "error.csrf")
				return
			}
		}
		if s.MustChange && r.URL.Path != "/ui/password" && r.URL.Path != "/ui/logout" {
			http.Redirect(w, r, "/ui/password", http.StatusSeeOther)
			return
		}
		w.Header().Set("Cache-Control", "no-store")
		h(w, r, s)
	})
}

// allowed wraps h for the sessions whose role may do kind; others get 403.
func (c *Console) allowed(kind string, h func(http.ResponseWriter, *http.Request, *session)) http.Handler {
	return c.authed(func(w http.ResponseWriter, r *http.Request, s *session) {
		if !s.can(kind) {
			c.fail(w, r, http.StatusForbidden, "error.role")
			return
		}
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
	if _, ok := c.from(r); ok {
		http.Redirect(w, r, localPath(r.URL.Query().Get("next")), http.StatusSeeOther)
		return
	}
	c.showLogin(w, r, http.StatusOK, "", "")
}

func (c *Console) showLogin(w http.ResponseWriter, r *http.Request, status int, errMsg, name string) {
	tok := people.NewSecret("")
	setCookie(w, r, loginCookie, tok, 3600)
	p := c.printer(r)
	d := loginData{Next: localPath(r.FormValue("next")), Token: tok, Name: name, Error: errMsg}
	c.render(w, status, "login", c.view(r, nil, "", p.T("login.title"), d))
}

func (c *Console) login(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 16<<10)
	p := c.printer(r)
	ck, err := r.Cookie(loginCookie)
	if err != nil || ck.Value == "" || subtle.ConstantTimeCompare([]byte(ck.Value), []byte(r.PostFormValue("csrf"))) != 1 {
		c.showLogin(w, r, http.StatusForbidden, p.T("login.expired"), "")
		return
	}
	name := strings.TrimSpace(r.PostFormValue("name"))
	if len(name) > 200 {
		name = name[:200]
	}
	addr := c.opt.Proxies.Client(r)
	who, err := c.opt.People.Login(r.Context(), name, r.PostFormValue("password"), addr)
	switch core.ErrorCode(err) {
	case "":
	case core.ETOOMANY:
		w.Header().Set("Retry-After", itoa(people.RetryAfter(err)))
		c.showLogin(w, r, http.StatusTooManyRequests, p.T("login.slow_down", people.RetryAfter(err)), name)
		return
	case core.EUNAUTHORIZED:
		c.log.Warn("console login refused: wrong name or password", "remote", addr, "account", name)
		c.showLogin(w, r, http.StatusUnauthorized, p.T("login.wrong"), name)
		return
	default:
		c.failErr(w, r, err)
		return
	}
	c.startSession(w, r, who)
	setCookie(w, r, loginCookie, "", -1)
	c.log.Info("console login", "who", who.Journal(), "role", who.Role, "remote", addr)
	next := localPath(r.PostFormValue("next"))
	if who.MustChange {
		next = "/ui/password"
	}
	http.Redirect(w, r, next, http.StatusSeeOther)
}

func (c *Console) startSession(w http.ResponseWriter, r *http.Request, who people.Who) bool {
	tok, exp, err := c.opt.People.StartSession(r.Context(), who)
	if err != nil {
		c.failErr(w, r, err)
		return false
	}
	setCookie(w, r, sessionCookie, tok, int(exp.Sub(c.opt.Now())/time.Second))
	return true
}

// logout ends the session in the database: on every replica, for good.
func (c *Console) logout(w http.ResponseWriter, r *http.Request, s *session) {
	if err := c.opt.People.EndSession(r.Context(), s.token); err != nil {
		c.failErr(w, r, err)
		return
	}
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
