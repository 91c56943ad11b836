package console

import (
	"crypto/subtle"
	"net/http"
	"strconv"
	"strings"

	"github.com/paysync/paysync/core"
	"github.com/paysync/paysync/people"
)

func itoa(n int) string { return strconv.Itoa(n) }

type peopleData struct {
	Accounts []accountRow
	Roles    []roleOption
	// Link is a new invite link, shown this once.
	Link, LinkFor, Error string
	Said                 string // paysync's English words behind Error
}

type accountRow struct {
	Name, Role, State, LastLogin string
	Disabled                     bool
}

type roleOption struct{ Value, Label string }

// peoplePage lists the people and invites a new one (the owner's page).
func (c *Console) peoplePage(w http.ResponseWriter, r *http.Request, s *session) {
	c.showPeople(w, r, s, http.StatusOK, peopleData{})
}

func (c *Console) showPeople(w http.ResponseWriter, r *http.Request, s *session, status int, d peopleData) {
	p := c.printer(r)
	accs, err := c.opt.People.Store.ListAccounts(r.Context())
	if err != nil {
		c.failErr(w, r, err)
		return
	}
	for _, a := range accs {
		row := accountRow{Name: a.Name, Role: p.T("role." + string(a.Role)), Disabled: a.Disabled, LastLogin: p.T("people.never")}
		switch {
		case a.Disabled:
			row.State = p.T("people.disabled")
		case a.PasswordHash == "":
			row.State = p.T("people.invited")
		default:
			row.State = p.T("people.active")
		}
		if a.LastLoginAt != nil {
			row.LastLogin = p.Time(*a.LastLoginAt)
		}
		d.Accounts = append(d.Accounts, row)
	}
	for _, role := range core.Roles {
		d.Roles = append(d.Roles, roleOption{Value: string(role), Label: p.T("role." + string(role))})
	}
	c.render(w, status, "people", c.view(r, s, "people", p.T("people.title"), d))
}

// invite adds a person and shows their one-time invite link once.
func (c *Console) invite(w http.ResponseWriter, r *http.Request, s *session) {
	name, role := strings.TrimSpace(r.PostFormValue("name")), core.Role(r.PostFormValue("role"))
	acc, tok, err := c.opt.People.AddAccount(r.Context(), name, role, true)
	if err != nil {
		if code := core.ErrorCode(err); code == core.EINVALID || code == core.ECONFLICT {
			msg, said := c.errWords(c.printer(r), err)
			c.showPeople(w, r, s, http.StatusBadRequest, peopleData{Error: msg, Said: said})
			return
		}
		c.failErr(w, r, err)
		return
	}
	c.log.Info("person invited from the console", "account", acc.Name, "role", acc.Role, "who", s.who())
	c.showPeople(w, r, s, http.StatusOK, peopleData{Link: c.baseURL(r) + "/ui/invite/" + tok, LinkFor: acc.Name})
}

func (c *Console) disablePerson(w http.ResponseWriter, r *http.Request, s *session) {
	name := r.PathValue("name")
	if _, err := c.opt.People.SetDisabled(r.Context(), name, r.PostFormValue("enable") == ""); err != nil {
		c.failErr(w, r, err)
		return
	}
	http.Redirect(w, r, "/ui/people", http.StatusSeeOther)
}

// baseURL is where people reach the console: the configured public URL,
// else this request's scheme and host.
func (c *Console) baseURL(r *http.Request) string {
	if c.opt.PublicURL != "" {
		return strings.TrimRight(c.opt.PublicURL, "/")
	}
	scheme := "http"
	if secure(r) {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

type inviteData struct {
	Name, Token, Error string
}

// invitePage lets an invited person choose their password (no session yet;
// the form has its own CSRF token, as the login's).
func (c *Console) invitePage(w http.ResponseWriter, r *http.Request) {
	acc, err := c.opt.People.InviteFor(r.Context(), r.PathValue("token"))
	if err != nil {
		c.fail(w, r, http.StatusNotFound, "error.invite")
		return
	}
	c.showInvite(w, r, http.StatusOK, acc.Name, "")
}

func (c *Console) showInvite(w http.ResponseWriter, r *http.Request, status int, name, msg string) {
	tok := people.NewSecret("")
	setCookie(w, r, loginCookie, tok, 3600)
	p := c.printer(r)
	c.render(w, status, "invite", c.view(r, nil, "", p.T("invite.title"), inviteData{Name: name, Token: tok, Error: msg}))
}

func (c *Console) acceptInvite(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 16<<10)
	p := c.printer(r)
	ck, err := r.Cookie(loginCookie)
	if err != nil || ck.Value == "" || subtle.ConstantTimeCompare([]byte(ck.Value), []byte(r.PostFormValue("csrf"))) != 1 {
		c.fail(w, r, http.StatusForbidden, "error.csrf")
		return
	}
	tok := r.PathValue("token")
	acc, err := c.opt.People.InviteFor(r.Context(), tok)
	if err != nil {
		c.fail(w, r, http.StatusNotFound, "error.invite")
		return
	}
	pw := r.PostFormValue("password")
	if pw != r.PostFormValue("password2") {
		c.showInvite(w, r, http.StatusBadRequest, acc.Name, p.T("password.mismatch"))
		return
	}
	if err := people.CheckPassword(pw); err != nil {
		c.showInvite(w, r, http.StatusBadRequest, acc.Name, p.T("password.short", people.MinPassword))
		return
	}
	acc, err = c.opt.People.AcceptInvite(r.Context(), tok, pw)
	if err != nil {
		c.failErr(w, r, err)
		return
	}
	setCookie(w, r, loginCookie, "", -1)
	if !c.startSession(w, r, people.Who{AccountID: acc.ID, Name: acc.Name, Role: acc.Role}) {
		return
	}
	http.Redirect(w, r, withDone("/ui/orders", "welcome"), http.StatusSeeOther)
}

type passwordData struct {
	Admin, Must bool
	Error       string
}

func (c *Console) passwordPage(w http.ResponseWriter, r *http.Request, s *session) {
	p := c.printer(r)
	c.render(w, http.StatusOK, "password", c.view(r, s, "", p.T("password.title"), passwordData{Admin: s.Admin(), Must: s.MustChange}))
}

// changePassword sets the person's own password; every session of theirs
// ends, and this browser gets a new one.
func (c *Console) changePassword(w http.ResponseWriter, r *http.Request, s *session) {
	p := c.printer(r)
	show := func(msg string) {
		c.render(w, http.StatusBadRequest, "password", c.view(r, s, "", p.T("password.title"), passwordData{Admin: s.Admin(), Must: s.MustChange, Error: msg}))
	}
	if s.Admin() {
		show(p.T("password.admin"))
		return
	}
	pw := r.PostFormValue("password")
	if pw != r.PostFormValue("password2") {
		show(p.T("password.mismatch"))
		return
	}
	err := c.opt.People.ChangePassword(r.Context(), s.AccountID, r.PostFormValue("current"), pw)
	switch core.ErrorField(err) {
	case "":
	case "current":
		show(p.T("password.wrong"))
		return
	case "password":
		show(p.T("password.short", people.MinPassword))
		return
	}
	if err != nil {
		c.failErr(w, r, err)
		return
	}
	s.MustChange = false
	if !c.startSession(w, r, s.Who) {
		return
	}
	http.Redirect(w, r, withDone("/ui/orders", "password"), http.StatusSeeOther)
}

type tokensData struct {
	Tokens []tokenRow
	Scopes []scopeOption
	// New is a token just made, shown this once.
	New, Error string
	All        bool
}

type tokenRow struct {
	ID                                             int64
	Account, Scopes, Prefix, LastUsed, Created, At string
	Revoked                                        bool
}

type scopeOption struct {
	Value, Label string
}

// tokensPage lists the API tokens (the owner sees everyone's) and makes new ones.
func (c *Console) tokensPage(w http.ResponseWriter, r *http.Request, s *session) {
	c.showTokens(w, r, s, http.StatusOK, tokensData{})
}

func (c *Console) showTokens(w http.ResponseWriter, r *http.Request, s *session, status int, d tokensData) {
	p := c.printer(r)
	if s.Admin() {
		d.Error = p.T("tokens.admin")
	}
	var id int64 = s.AccountID
	if s.Role == core.RoleOwner {
		id, d.All = 0, true
	}
	var toks []core.APIToken
	var err error
	if s.AccountID != 0 || d.All {
		toks, err = c.opt.People.Store.ListTokens(r.Context(), id)
	}
	if err != nil {
		c.failErr(w, r, err)
		return
	}
	for _, t := range toks {
		scopes := make([]string, len(t.Scopes))
		for i, sc := range t.Scopes {
			scopes[i] = string(sc)
		}
		row := tokenRow{ID: t.ID, Account: t.Account, Scopes: strings.Join(scopes, ", "), Prefix: t.Prefix + "…", Created: p.Time(t.CreatedAt),
			LastUsed: p.T("people.never"), Revoked: t.RevokedAt != nil}
		if t.LastUsedAt != nil {
			row.LastUsed = p.Time(*t.LastUsedAt)
		}
		d.Tokens = append(d.Tokens, row)
	}
	for _, sc := range core.Scopes {
		if s.Role.Can(sc) {
			d.Scopes = append(d.Scopes, scopeOption{Value: string(sc), Label: p.T("scope." + string(sc))})
		}
	}
	c.render(w, status, "tokens", c.view(r, s, "tokens", p.T("tokens.title"), d))
}

func (c *Console) addToken(w http.ResponseWriter, r *http.Request, s *session) {
	if s.Admin() {
		c.fail(w, r, http.StatusBadRequest, "tokens.admin")
		return
	}
	r.ParseForm()
	var scopes []core.Scope
	for _, v := range r.PostForm["scope"] {
		scopes = append(scopes, core.Scope(v))
	}
	acc, err := c.opt.People.Store.GetAccountByID(r.Context(), s.AccountID)
	if err != nil {
		c.failErr(w, r, err)
		return
	}
	tok, _, err := c.opt.People.AddToken(r.Context(), acc.Name, scopes)
	if err != nil {
		if core.ErrorCode(err) == core.EINVALID {
			c.showTokens(w, r, s, http.StatusBadRequest, tokensData{Error: c.printer(r).T("tokens.no_scope")})
			return
		}
		c.failErr(w, r, err)
		return
	}
	c.showTokens(w, r, s, http.StatusOK, tokensData{New: tok})
}

func (c *Console) revokeToken(w http.ResponseWriter, r *http.Request, s *session) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		c.fail(w, r, http.StatusNotFound, "error.not_found")
		return
	}
	if s.Role != core.RoleOwner {
		mine, err := c.opt.People.Store.ListTokens(r.Context(), s.AccountID)
		if err != nil {
			c.failErr(w, r, err)
			return
		}
		found := false
		for _, t := range mine {
			found = found || t.ID == id
		}
		if !found {
			c.fail(w, r, http.StatusNotFound, "error.not_found")
			return
		}
	}
	if err := c.opt.People.Store.RevokeToken(r.Context(), id, c.opt.Now()); err != nil {
		c.failErr(w, r, err)
		return
	}
	c.log.Info("API token revoked from the console", "token_id", id, "who", s.who())
	http.Redirect(w, r, withDone("/ui/tokens", "revoked"), http.StatusSeeOther)
}
