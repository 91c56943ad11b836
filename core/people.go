package core

import (
	"context"
	"slices"
	"strings"
	"time"
)

// Role is what a person may do in paysync.
type Role string

const (
	// RoleOwner does everything: people, tokens, the catalog and its
	// messages, settling payments, retrying deliveries.
	RoleOwner Role = "owner"
	// RoleManager creates orders and links, looks orders up and sends links.
	RoleManager Role = "manager"
	// RoleViewer looks orders up.
	RoleViewer Role = "viewer"
)

// Roles lists the roles, most powerful first.
var Roles = []Role{RoleOwner, RoleManager, RoleViewer}

// Valid reports whether r is a known role.
func (r Role) Valid() bool { return slices.Contains(Roles, r) }

// Scope is what an API token may do.
type Scope string

const (
	ScopeOrdersCreate Scope = "orders:create" // POST /v1/orders
	ScopeOrdersRead   Scope = "orders:read"   // GET orders, their QR codes, conversations
	ScopeAdmin        Scope = "admin"         // everything, settling reviews included
)

// Scopes lists the scopes.
var Scopes = []Scope{ScopeOrdersCreate, ScopeOrdersRead, ScopeAdmin}

// Can reports whether a person of role r may hold a token with scope s:
// a viewer only reads, a manager creates and reads, an owner does all.
func (r Role) Can(s Scope) bool {
	switch r {
	case RoleOwner:
		return true
	case RoleManager:
		return s == ScopeOrdersCreate || s == ScopeOrdersRead
	case RoleViewer:
		return s == ScopeOrdersRead
	}
	return false
}

// ParseScopes reads "orders:create,orders:read".
func ParseScopes(s string) ([]Scope, error) {
	var out []Scope
	for _, p := range strings.Split(s, ",") {
		p = strings.TrimSpace(p)
		if p == "" {
			continue
		}
		if !slices.Contains(Scopes, Scope(p)) {
			return nil, Errorf(EINVALID, "unknown scope %q (scopes are orders:create, orders:read, admin)", p)
		}
		if !slices.Contains(out, Scope(p)) {
			out = append(out, Scope(p))
		}
	}
	if len(out) == 0 {
		return nil, Errorf(EINVALID, "a token needs at least one scope: orders:create, orders:read or admin")
	}
	return out, nil
}

// Account is a person who logs in.
type Account struct {
	ID   int64  `json:"id"`
	Name string `json:"name"`
	Role Role   `json:"role"`
	// PasswordHash is the KDF's output (bcrypt); "" until an invite is taken.
	PasswordHash string `json:"-"`
	Disabled     bool   `json:"disabled"`
	// MustChange: the password was made by paysync (users add, users passwd)
	// and is to be replaced at the next login.
	MustChange  bool       `json:"must_change_password"`
	CreatedAt   time.Time  `json:"created_at"`
	UpdatedAt   time.Time  `json:"updated_at"`
	LastLoginAt *time.Time `json:"last_login_at,omitempty"`
}

// MaxAccountName bounds an account's name.
const MaxAccountName = 60

// Session is a console login. Its cookie holds a random token; the store
// keeps only the token's digest, so that a copy of the database opens no
// session. AccountID 0 is the bootstrap owner who logged in with the admin
// token; Credential then holds a digest of that token, so that changing the
// token ends such sessions.
type Session struct {
	Digest     string
	AccountID  int64
	Name       string
	Credential string
	CreatedAt  time.Time
	ExpiresAt  time.Time
}

// Invite lets a person set their first password once, before it expires.
type Invite struct {
	Digest    string
	AccountID int64
	CreatedAt time.Time
	ExpiresAt time.Time
}

// APIToken lets a chatbot or a site call the API as an account, within its
// scopes. Only the token's digest is kept; Prefix (its first characters)
// tells tokens apart in lists.
type APIToken struct {
	ID         int64      `json:"id"`
	AccountID  int64      `json:"-"`
	Account    string     `json:"account"`
	Prefix     string     `json:"prefix"`
	Scopes     []Scope    `json:"scopes"`
	Digest     string     `json:"-"`
	CreatedAt  time.Time  `json:"created_at"`
	LastUsedAt *time.Time `json:"last_used_at,omitempty"`
	RevokedAt  *time.Time `json:"revoked_at,omitempty"`
}

// Has reports whether the token carries scope s (admin carries every scope).
func (t APIToken) Has(s Scope) bool {
	return slices.Contains(t.Scopes, s) || slices.Contains(t.Scopes, ScopeAdmin)
}

// People is where accounts, sessions, invites and API tokens are kept;
// storage.DB has it, on both databases.
type People interface {
	// CreateAccount stores a; a name taken (case aside) is ECONFLICT.
	CreateAccount(ctx context.Context, a Account) (Account, error)
	// GetAccount finds an account by name, case aside; ENOTFOUND when none.
	GetAccount(ctx context.Context, name string) (Account, error)
	GetAccountByID(ctx context.Context, id int64) (Account, error)
	ListAccounts(ctx context.Context) ([]Account, error)
	// UpdateAccount writes a's role, password hash, flags and last login.
	UpdateAccount(ctx context.Context, a Account) error

	CreateSession(ctx context.Context, s Session) error
	// GetSession returns the unexpired session with the digest; ENOTFOUND when none.
	GetSession(ctx context.Context, digest string, now time.Time) (Session, error)
	DeleteSession(ctx context.Context, digest string) error
	// DeleteSessions ends every session of an account (0: the admin token's).
	DeleteSessions(ctx context.Context, accountID int64) (int64, error)
	// PurgeSessions deletes sessions that expired before now.
	PurgeSessions(ctx context.Context, now time.Time) (int64, error)

	CreateInvite(ctx context.Context, inv Invite) error
	// TakeInvite uses the invite once: it returns its account and deletes
	// it; ENOTFOUND when unknown, used or expired.
	TakeInvite(ctx context.Context, digest string, now time.Time) (int64, error)
	// PeekInvite returns the invite's account without using it.
	PeekInvite(ctx context.Context, digest string, now time.Time) (int64, error)

	CreateToken(ctx context.Context, t APIToken) (APIToken, error)
	// TokenByDigest returns an unrevoked token; ENOTFOUND when none.
	TokenByDigest(ctx context.Context, digest string) (APIToken, error)
	// ListTokens lists the tokens of an account (0: everyone's), newest first.
	ListTokens(ctx context.Context, accountID int64) ([]APIToken, error)
	RevokeToken(ctx context.Context, id int64, now time.Time) error
	// TouchToken records a use of the token.
	TouchToken(ctx context.Context, id int64, now time.Time) error
}
