// Package people is who may do what in paysync: accounts with a role and a
// password (bcrypt, from golang.org/x/crypto), console sessions kept in the
// database, one-time invites, scoped API tokens, and the throttles that
// slow down guessing without locking anyone out from another address. The
// admin token (PAYSYNC_ADMIN_TOKEN) stays the bootstrap owner's credential.
// Secrets are made here, shown once by the caller, and kept only as
// digests (tokens, sessions, invites) or bcrypt hashes (passwords).
package people

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base32"
	"encoding/base64"
	"encoding/hex"
	"log/slog"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"golang.org/x/crypto/bcrypt"

	"github.com/paysync/paysync/core"
)

// Defaults.
const (
	DefaultSessionTTL = 12 * time.Hour
	DefaultInviteTTL  = 7 * 24 * time.Hour
	// MinPassword is the shortest password a person may choose.
	MinPassword = 10
	// TokenPrefix starts every API token, so that one found in a log or a
	// repository is recognised as paysync's.
	TokenPrefix = "pst_"
	// touchEvery bounds how often a token's last use is written.
	touchEvery = time.Minute
)

// Service checks credentials and keeps accounts, sessions and tokens.
type Service struct {
	Store core.People
	// AdminToken is the bootstrap owner's credential; "" closes it.
	AdminToken string
	Guard      *Guard
	SessionTTL time.Duration
	InviteTTL  time.Duration
	// Cost is bcrypt's cost (default bcrypt.DefaultCost).
	Cost   int
	Logger *slog.Logger
	Now    func() time.Time
}

// Who is the person (or client) behind a request.
type Who struct {
	AccountID int64 // 0: the bootstrap owner (the admin token)
	Name      string
	Role      core.Role
	// Scopes are an API token's; a console session may do all its role may.
	Scopes     []core.Scope
	MustChange bool
}

// Admin reports the bootstrap owner, who logged in with the admin token.
func (w Who) Admin() bool { return w.AccountID == 0 }

// Journal is how the journal names this person: "Anna", "admin token".
func (w Who) Journal() string {
	if w.Admin() {
		return "admin token"
	}
	return w.Name
}

// Can reports whether w may act with scope s: within its scopes when it is
// a token, and always within its role.
func (w Who) Can(s core.Scope) bool {
	if !w.Role.Can(s) {
		return false
	}
	if w.Scopes == nil {
		return true
	}
	t := core.APIToken{Scopes: w.Scopes}
	return t.Has(s)
}

func (s *Service) now() time.Time {
	if s.Now != nil {
		return s.Now().UTC()
	}
	return time.Now().UTC()
}

func (s *Service) log() *slog.Logger {
	if s.Logger != nil {
		return s.Logger
	}
	return slog.Default()
}

func (s *Service) cost() int {
	if s.Cost > 0 {
		return s.Cost
	}
	return bcrypt.DefaultCost
}

func (s *Service) sessionTTL() time.Duration {
	if s.SessionTTL > 0 {
		return s.SessionTTL
	}
	return DefaultSessionTTL
}

// Digest is what the store keeps of a secret (a session cookie, an invite,
// an API token): its SHA-256. The secrets are random and long, so a fast
// digest is enough; passwords, chosen by people, get bcrypt.
func Digest(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:])
}

// NewSecret returns 32 random bytes, URL-safe, after prefix.
func NewSecret(prefix string) string {
	b := make([]byte, 32)
	rand.Read(b)
	return prefix + base64.RawURLEncoding.EncodeToString(b)
}

// newPassword is a one-time password people can type: 20 letters and
// digits in groups of five (100 bits).
func newPassword() string {
	b := make([]byte, 13)
	rand.Read(b)
	s := strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b))[:20]
	return s[:5] + "-" + s[5:10] + "-" + s[10:15] + "-" + s[15:]
}

// adminFingerprint ties a bootstrap session to the admin token it was made
// with: changing the token ends those sessions.
func adminFingerprint(token string) string { return Digest("paysync admin session|" + token)[:32] }

// CheckName refuses names that would not read well in the journal.
func CheckName(name string) error {
	name = strings.TrimSpace(name)
	switch {
	case name == "":
		return core.FieldErrorf("name", "a person needs a name")
	case utf8.RuneCountInString(name) > core.MaxAccountName:
		return core.FieldErrorf("name", "a name has at most %d characters", core.MaxAccountName)
	case strings.EqualFold(name, "admin token"):
		return core.FieldErrorf("name", "%q is how the journal names the admin token: choose another name", name)
	}
	for _, r := range name {
		if unicode.IsControl(r) || r == ':' {
			return core.FieldErrorf("name", "a name holds no control characters and no colon (the journal writes \"name: note\")")
		}
	}
	return nil
}

// CheckPassword refuses passwords too short to resist guessing.
func CheckPassword(pw string) error {
	if utf8.RuneCountInString(pw) < MinPassword {
		return core.FieldErrorf("password", "a password needs at least %d characters", MinPassword)
	}
	if len(pw) > 72 {
		return core.FieldErrorf("password", "a password has at most 72 bytes (bcrypt reads no more)")
	}
	return nil
}

func (s *Service) hash(pw string) (string, error) {
	h, err := bcrypt.GenerateFromPassword([]byte(pw), s.cost())
	if err != nil {
		return "", &core.Error{Code: core.EINTERNAL, Message: "cannot hash the password", Err: err}
	}
	return string(h), nil
}

// AddAccount creates an account. Without invite it gets a one-time password,
// to be changed at the first login; with invite it gets no password and an
// invite token (for the link /ui/invite/TOKEN). secret is that password or
// token, for the caller to show once.
func (s *Service) AddAccount(ctx context.Context, name string, role core.Role, invite bool) (core.Account, string, error) {
	name = strings.TrimSpace(name)
	if err := CheckName(name); err != nil {
		return core.Account{}, "", err
	}
	if !role.Valid() {
		return core.Account{}, "", core.FieldErrorf("role", "role %q is not owner, manager or viewer", role)
	}
	a := core.Account{Name: name, Role: role, CreatedAt: s.now()}
	var secret string
	if !invite {
		secret = newPassword()
		h, err := s.hash(secret)
		if err != nil {
			return core.Account{}, "", err
		}
		a.PasswordHash, a.MustChange = h, true
	}
	a, err := s.Store.CreateAccount(ctx, a)
	if err != nil {
		return core.Account{}, "", err
	}
	if invite {
		if secret, err = s.Invite(ctx, a); err != nil {
			return core.Account{}, "", err
		}
	}
	s.log().Info("account added", "account", a.Name, "role", a.Role, "invite", invite)
	return a, secret, nil
}

// Invite makes a new one-time invite for a and returns its token.
func (s *Service) Invite(ctx context.Context, a core.Account) (string, error) {
	ttl := s.InviteTTL
	if ttl <= 0 {
		ttl = DefaultInviteTTL
	}
	tok := NewSecret("")
	now := s.now()
	return tok, s.Store.CreateInvite(ctx, core.Invite{Digest: Digest(tok), AccountID: a.ID, CreatedAt: now, ExpiresAt: now.Add(ttl)})
}

// InviteFor returns the account an invite token is for, without using it.
func (s *Service) InviteFor(ctx context.Context, token string) (core.Account, error) {
	id, err := s.Store.PeekInvite(ctx, Digest(token), s.now())
	if err != nil {
		return core.Account{}, err
	}
	return s.Store.GetAccountByID(ctx, id)
}

// AcceptInvite sets the first password of the invite's account and uses
// the invite.
func (s *Service) AcceptInvite(ctx context.Context, token, password string) (core.Account, error) {
	if err := CheckPassword(password); err != nil {
		return core.Account{}, err
	}
	id, err := s.Store.TakeInvite(ctx, Digest(token), s.now())
	if err != nil {
		return core.Account{}, err
	}
	a, err := s.Store.GetAccountByID(ctx, id)
	if err != nil {
		return core.Account{}, err
	}
	if err := s.setPassword(ctx, &a, password, false); err != nil {
		return core.Account{}, err
	}
	s.log().Info("invite taken", "account", a.Name)
	return a, nil
}

// ResetPassword gives the named account a new one-time password and ends
// its sessions.
func (s *Service) ResetPassword(ctx context.Context, name string) (string, error) {
	a, err := s.Store.GetAccount(ctx, name)
	if err != nil {
		return "", err
	}
	pw := newPassword()
	if err := s.setPassword(ctx, &a, pw, true); err != nil {
		return "", err
	}
	s.log().Info("password reset; every session of the account ended", "account", a.Name)
	return pw, nil
}

// ChangePassword sets a new password chosen by the person, after checking
// the current one, and ends every session of the account (the caller
// starts a new one for the browser that changed it).
func (s *Service) ChangePassword(ctx context.Context, accountID int64, current, next string) error {
	a, err := s.Store.GetAccountByID(ctx, accountID)
	if err != nil {
		return err
	}
	if bcrypt.CompareHashAndPassword([]byte(a.PasswordHash), []byte(current)) != nil {
		return core.FieldErrorf("current", "the current password is not right")
	}
	if current == next {
		return core.FieldErrorf("password", "choose a password other than the current one")
	}
	if err := CheckPassword(next); err != nil {
		return err
	}
	if err := s.setPassword(ctx, &a, next, false); err != nil {
		return err
	}
	s.log().Info("password changed; every session of the account ended", "account", a.Name)
	return nil
}

func (s *Service) setPassword(ctx context.Context, a *core.Account, pw string, mustChange bool) error {
	h, err := s.hash(pw)
	if err != nil {
		return err
	}
	a.PasswordHash, a.MustChange, a.UpdatedAt = h, mustChange, s.now()
	if err := s.Store.UpdateAccount(ctx, *a); err != nil {
		return err
	}
	_, err = s.Store.DeleteSessions(ctx, a.ID)
	return err
}

// SetDisabled disables (or enables again) the named account; disabling
// ends its sessions, and its tokens stop working.
func (s *Service) SetDisabled(ctx context.Context, name string, disabled bool) (core.Account, error) {
	a, err := s.Store.GetAccount(ctx, name)
	if err != nil {
		return core.Account{}, err
	}
	a.Disabled, a.UpdatedAt = disabled, s.now()
	if err := s.Store.UpdateAccount(ctx, a); err != nil {
		return core.Account{}, err
	}
	if disabled {
		if _, err := s.Store.DeleteSessions(ctx, a.ID); err != nil {
			return core.Account{}, err
		}
	}
	s.log().Info("account disabled", "account", a.Name, "disabled", disabled)
	return a, nil
}

// dummyHash is compared against when no account has the name, so that a
// wrong name takes as long as a wrong password.
var dummyHash, _ = bcrypt.GenerateFromPassword([]byte("paysync: no such account"), bcrypt.DefaultCost)

// Login checks a name and password (or the admin token as the password)
// from the client address addr. Past the throttles' allowance it answers
// ETOOMANY without checking anything; a wrong name or password is
// EUNAUTHORIZED, with the same message for both.
func (s *Service) Login(ctx context.Context, name, password, addr string) (Who, error) {
	name = strings.TrimSpace(name)
	now := s.now()
	if err := s.Guard.Check(ctx, "console", name, addr, now); err != nil {
		return Who{}, err
	}
	if s.AdminToken != "" && subtle.ConstantTimeCompare([]byte(password), []byte(s.AdminToken)) == 1 {
		s.Guard.Passed(name, addr)
		return Who{AccountID: 0, Name: "admin token", Role: core.RoleOwner}, nil
	}
	a, err := s.Store.GetAccount(ctx, name)
	hash := dummyHash
	if err == nil && a.PasswordHash != "" {
		hash = []byte(a.PasswordHash)
	} else if err != nil && core.ErrorCode(err) != core.ENOTFOUND {
		return Who{}, err
	}
	if bcrypt.CompareHashAndPassword(hash, []byte(password)) != nil || err != nil || a.PasswordHash == "" || a.Disabled {
		s.Guard.Failed(ctx, "console", name, addr, now)
		return Who{}, core.Errorf(core.EUNAUTHORIZED, "wrong name or password")
	}
	s.Guard.Passed(name, addr)
	a.LastLoginAt = &now
	if err := s.Store.UpdateAccount(ctx, a); err != nil {
		return Who{}, err
	}
	return Who{AccountID: a.ID, Name: a.Name, Role: a.Role, MustChange: a.MustChange}, nil
}

// StartSession stores a session for who and returns the cookie's value.
func (s *Service) StartSession(ctx context.Context, who Who) (string, time.Time, error) {
	tok := NewSecret("")
	now := s.now()
	sess := core.Session{Digest: Digest(tok), AccountID: who.AccountID, Name: who.Name, CreatedAt: now, ExpiresAt: now.Add(s.sessionTTL())}
	if who.Admin() {
		sess.Credential = adminFingerprint(s.AdminToken)
	}
	return tok, sess.ExpiresAt, s.Store.CreateSession(ctx, sess)
}

// Session returns who holds the session cookie tok: ENOTFOUND when it is
// unknown, expired or ended, or its account is disabled (or, for the admin
// token's, that token changed).
func (s *Service) Session(ctx context.Context, tok string) (Who, error) {
	if tok == "" || len(tok) > 200 {
		return Who{}, core.Errorf(core.ENOTFOUND, "no session")
	}
	sess, err := s.Store.GetSession(ctx, Digest(tok), s.now())
	if err != nil {
		return Who{}, err
	}
	if sess.AccountID == 0 {
		if s.AdminToken == "" || subtle.ConstantTimeCompare([]byte(sess.Credential), []byte(adminFingerprint(s.AdminToken))) != 1 {
			return Who{}, core.Errorf(core.ENOTFOUND, "the admin token changed since this login")
		}
		return Who{AccountID: 0, Name: "admin token", Role: core.RoleOwner}, nil
	}
	a, err := s.Store.GetAccountByID(ctx, sess.AccountID)
	if err != nil {
		return Who{}, err
	}
	if a.Disabled {
		return Who{}, core.Errorf(core.ENOTFOUND, "the account is disabled")
	}
	return Who{AccountID: a.ID, Name: a.Name, Role: a.Role, MustChange: a.MustChange}, nil
}

// EndSession ends the session with cookie tok, on every replica.
func (s *Service) EndSession(ctx context.Context, tok string) error {
	return s.Store.DeleteSession(ctx, Digest(tok))
}

// AddToken makes an API token for the named account with scopes the
// account's role allows, and returns it to be shown once.
func (s *Service) AddToken(ctx context.Context, accountName string, scopes []core.Scope) (string, core.APIToken, error) {
	a, err := s.Store.GetAccount(ctx, accountName)
	if err != nil {
		return "", core.APIToken{}, err
	}
	if a.Disabled {
		return "", core.APIToken{}, core.Errorf(core.ECONFLICT, "%s is disabled: enable the account before giving it a token", a.Name)
	}
	if len(scopes) == 0 {
		return "", core.APIToken{}, core.FieldErrorf("scope", "a token needs at least one scope: orders:create, orders:read or admin")
	}
	for _, sc := range scopes {
		if !a.Role.Can(sc) {
			return "", core.APIToken{}, core.FieldErrorf("scope", "a %s cannot hold a token with scope %s", a.Role, sc)
		}
	}
	tok := NewSecret(TokenPrefix)
	t, err := s.Store.CreateToken(ctx, core.APIToken{AccountID: a.ID, Account: a.Name, Digest: Digest(tok), Prefix: tok[:len(TokenPrefix)+6],
		Scopes: scopes, CreatedAt: s.now()})
	if err != nil {
		return "", core.APIToken{}, err
	}
	t.Account = a.Name
	s.log().Info("API token added", "account", a.Name, "token_id", t.ID, "prefix", t.Prefix, "scopes", scopes)
	return tok, t, nil
}

// Bearer checks an Authorization: Bearer credential from addr: the admin
// token (the bootstrap owner, every scope) or an API token. Past the
// address's allowance of wrong ones it answers ETOOMANY without checking.
func (s *Service) Bearer(ctx context.Context, tok, addr string) (Who, error) {
	now := s.now()
	if err := s.Guard.Check(ctx, "api", "", addr, now); err != nil {
		return Who{}, err
	}
	if s.AdminToken != "" && subtle.ConstantTimeCompare([]byte(tok), []byte(s.AdminToken)) == 1 {
		return Who{AccountID: 0, Name: "admin token", Role: core.RoleOwner}, nil
	}
	if s.Store != nil && strings.HasPrefix(tok, TokenPrefix) && len(tok) < 200 {
		t, err := s.Store.TokenByDigest(ctx, Digest(tok))
		if err != nil && core.ErrorCode(err) != core.ENOTFOUND {
			return Who{}, err
		}
		if err == nil {
			a, err := s.Store.GetAccountByID(ctx, t.AccountID)
			if err == nil && !a.Disabled {
				if t.LastUsedAt == nil || now.Sub(*t.LastUsedAt) >= touchEvery {
					if err := s.Store.TouchToken(ctx, t.ID, now); err != nil {
						s.log().Warn("token use not recorded", "token_id", t.ID, "err", err)
					}
				}
				return Who{AccountID: a.ID, Name: a.Name, Role: a.Role, Scopes: t.Scopes}, nil
			}
		}
	}
	s.Guard.Failed(ctx, "api", "", addr, now)
	return Who{}, core.Errorf(core.EUNAUTHORIZED, "missing or wrong token: send Authorization: Bearer with an API token (paysync tokens add) or the admin token")
}

// Clock is the service's clock (for callers recording a time with its changes).
func (s *Service) Clock() time.Time { return s.now() }
