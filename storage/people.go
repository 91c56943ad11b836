package storage

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"time"

	"github.com/paysync/paysync/core"
)

var _ core.People = (*DB)(nil)

type accountRow struct {
	ID           int64         `db:"id"`
	Name         string        `db:"name"`
	Role         string        `db:"role"`
	PasswordHash string        `db:"password_hash"`
	Disabled     bool          `db:"disabled"`
	MustChange   bool          `db:"must_change"`
	LastLoginAt  sql.NullInt64 `db:"last_login_at"`
	CreatedAt    int64         `db:"created_at"`
	UpdatedAt    int64         `db:"updated_at"`
}

const accountCols = `id, name, role, password_hash, disabled, must_change, last_login_at, created_at, updated_at`

func (r accountRow) account() core.Account {
	return core.Account{ID: r.ID, Name: r.Name, Role: core.Role(r.Role), PasswordHash: r.PasswordHash, Disabled: r.Disabled,
		MustChange: r.MustChange, LastLoginAt: fromNullMicros(r.LastLoginAt), CreatedAt: fromMicros(r.CreatedAt), UpdatedAt: fromMicros(r.UpdatedAt)}
}

func nameKey(name string) string { return strings.ToLower(strings.TrimSpace(name)) }

// CreateAccount stores a new account; a name taken, case aside, is ECONFLICT.
func (db *DB) CreateAccount(ctx context.Context, a core.Account) (core.Account, error) {
	if !core.IsText(a.Name) {
		return core.Account{}, core.Errorf(core.EINVALID, "a name must be text")
	}
	now := nowOr(a.CreatedAt)
	a.CreatedAt, a.UpdatedAt = now, now
	err := db.w.QueryRowxContext(ctx, db.q(`INSERT INTO accounts (name, name_key, role, password_hash, disabled, must_change, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (name_key) DO NOTHING RETURNING id`),
		a.Name, nameKey(a.Name), string(a.Role), a.PasswordHash, a.Disabled, a.MustChange, micros(now), micros(now)).Scan(&a.ID)
	if errors.Is(err, sql.ErrNoRows) {
		return core.Account{}, core.Errorf(core.ECONFLICT, "there is already someone called %s", a.Name)
	}
	return a, db.wrap(err)
}

func (db *DB) getAccount(ctx context.Context, where string, arg any, what string) (core.Account, error) {
	var r accountRow
	err := db.r.GetContext(ctx, &r, db.q(`SELECT `+accountCols+` FROM accounts WHERE `+where), arg)
	if errors.Is(err, sql.ErrNoRows) {
		return core.Account{}, core.Errorf(core.ENOTFOUND, "nobody called %s", what)
	}
	if err != nil {
		return core.Account{}, db.wrap(err)
	}
	return r.account(), nil
}

// GetAccount finds an account by name, case aside.
func (db *DB) GetAccount(ctx context.Context, name string) (core.Account, error) {
	if !core.IsText(name) {
		return core.Account{}, core.Errorf(core.ENOTFOUND, "nobody called %s", core.CleanText(name))
	}
	return db.getAccount(ctx, `name_key = ?`, nameKey(name), name)
}

// GetAccountByID finds an account by id.
func (db *DB) GetAccountByID(ctx context.Context, id int64) (core.Account, error) {
	return db.getAccount(ctx, `id = ?`, id, "with that id")
}

// ListAccounts lists every account by name.
func (db *DB) ListAccounts(ctx context.Context) ([]core.Account, error) {
	var rows []accountRow
	if err := db.r.SelectContext(ctx, &rows, `SELECT `+accountCols+` FROM accounts ORDER BY name_key`); err != nil {
		return nil, db.wrap(err)
	}
	out := make([]core.Account, len(rows))
	for i, r := range rows {
		out[i] = r.account()
	}
	return out, nil
}

// UpdateAccount writes a's role, password hash, flags and last login.
func (db *DB) UpdateAccount(ctx context.Context, a core.Account) error {
	res, err := db.w.ExecContext(ctx, db.q(`UPDATE accounts SET role = ?, password_hash = ?, disabled = ?, must_change = ?,
		last_login_at = ?, updated_at = ? WHERE id = ?`),
		string(a.Role), a.PasswordHash, a.Disabled, a.MustChange, nullMicros(a.LastLoginAt), micros(nowOr(a.UpdatedAt)), a.ID)
	if err != nil {
		return db.wrap(err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return core.Errorf(core.ENOTFOUND, "no account %d", a.ID)
	}
	return nil
}

// CreateSession stores a console session.
func (db *DB) CreateSession(ctx context.Context, s core.Session) error {
	_, err := db.w.ExecContext(ctx, db.q(`INSERT INTO sessions (digest, account_id, name, credential, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?)`),
		s.Digest, s.AccountID, s.Name, s.Credential, micros(s.CreatedAt), micros(s.ExpiresAt))
	return db.wrap(err)
}

// GetSession returns the unexpired session with the digest.
func (db *DB) GetSession(ctx context.Context, digest string, now time.Time) (core.Session, error) {
	var r struct {
		Digest     string `db:"digest"`
		AccountID  int64  `db:"account_id"`
		Name       string `db:"name"`
		Credential string `db:"credential"`
		CreatedAt  int64  `db:"created_at"`
		ExpiresAt  int64  `db:"expires_at"`
	}
	err := db.r.GetContext(ctx, &r, db.q(`SELECT digest, account_id, name, credential, created_at, expires_at FROM sessions
		WHERE digest = ? AND expires_at > ?`), digest, micros(now))
	if errors.Is(err, sql.ErrNoRows) {
		return core.Session{}, core.Errorf(core.ENOTFOUND, "no such session")
	}
	if err != nil {
		return core.Session{}, db.wrap(err)
	}
	return core.Session{Digest: r.Digest, AccountID: r.AccountID, Name: r.Name, Credential: r.Credential,
		CreatedAt: fromMicros(r.CreatedAt), ExpiresAt: fromMicros(r.ExpiresAt)}, nil
}

// DeleteSession ends one session.
func (db *DB) DeleteSession(ctx context.Context, digest string) error {
	_, err := db.w.ExecContext(ctx, db.q(`DELETE FROM sessions WHERE digest = ?`), digest)
	return db.wrap(err)
}

// DeleteSessions ends every session of an account.
func (db *DB) DeleteSessions(ctx context.Context, accountID int64) (int64, error) {
	res, err := db.w.ExecContext(ctx, db.q(`DELETE FROM sessions WHERE account_id = ?`), accountID)
	if err != nil {
		return 0, db.wrap(err)
	}
	n, _ := res.RowsAffected()
	return n, nil
}

// PurgeSessions deletes expired sessions and invites.
func (db *DB) PurgeSessions(ctx context.Context, now time.Time) (int64, error) {
	res, err := db.w.ExecContext(ctx, db.q(`DELETE FROM sessions WHERE expires_at <= ?`), micros(now))
	if err != nil {
		return 0, db.wrap(err)
	}
	if _, err := db.w.ExecContext(ctx, db.q(`DELETE FROM invites WHERE expires_at <= ?`), micros(now)); err != nil {
		return 0, db.wrap(err)
	}
	n, _ := res.RowsAffected()
	return n, nil
}

// CreateInvite stores an invite.
func (db *DB) CreateInvite(ctx context.Context, inv core.Invite) error {
	_, err := db.w.ExecContext(ctx, db.q(`INSERT INTO invites (digest, account_id, created_at, expires_at) VALUES (?, ?, ?, ?)`),
		inv.Digest, inv.AccountID, micros(inv.CreatedAt), micros(inv.ExpiresAt))
	return db.wrap(err)
}

// PeekInvite returns the account of an unexpired invite.
func (db *DB) PeekInvite(ctx context.Context, digest string, now time.Time) (int64, error) {
	var id int64
	err := db.r.GetContext(ctx, &id, db.q(`SELECT account_id FROM invites WHERE digest = ? AND expires_at > ?`), digest, micros(now))
	if errors.Is(err, sql.ErrNoRows) {
		return 0, core.Errorf(core.ENOTFOUND, "this invite link was used already or has expired: ask the owner for a new one")
	}
	return id, db.wrap(err)
}

// TakeInvite uses an invite once.
func (db *DB) TakeInvite(ctx context.Context, digest string, now time.Time) (int64, error) {
	var id int64
	err := db.w.QueryRowxContext(ctx, db.q(`DELETE FROM invites WHERE digest = ? AND expires_at > ? RETURNING account_id`), digest, micros(now)).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, core.Errorf(core.ENOTFOUND, "this invite link was used already or has expired: ask the owner for a new one")
	}
	return id, db.wrap(err)
}

type tokenRow struct {
	ID         int64         `db:"id"`
	AccountID  int64         `db:"account_id"`
	Account    string        `db:"account"`
	Digest     string        `db:"digest"`
	Prefix     string        `db:"prefix"`
	Scopes     string        `db:"scopes"`
	CreatedAt  int64         `db:"created_at"`
	LastUsedAt sql.NullInt64 `db:"last_used_at"`
	RevokedAt  sql.NullInt64 `db:"revoked_at"`
}

const tokenSelect = `SELECT t.id, t.account_id, COALESCE(a.name, '') AS account, t.digest, t.prefix, t.scopes, t.created_at, t.last_used_at, t.revoked_at
	FROM api_tokens t LEFT JOIN accounts a ON a.id = t.account_id`

func (r tokenRow) token() core.APIToken {
	t := core.APIToken{ID: r.ID, AccountID: r.AccountID, Account: r.Account, Digest: r.Digest, Prefix: r.Prefix,
		CreatedAt: fromMicros(r.CreatedAt), LastUsedAt: fromNullMicros(r.LastUsedAt), RevokedAt: fromNullMicros(r.RevokedAt)}
	for _, s := range strings.Split(r.Scopes, ",") {
		if s != "" {
			t.Scopes = append(t.Scopes, core.Scope(s))
		}
	}
	return t
}

// CreateToken stores a new API token (its digest).
func (db *DB) CreateToken(ctx context.Context, t core.APIToken) (core.APIToken, error) {
	scopes := make([]string, len(t.Scopes))
	for i, s := range t.Scopes {
		scopes[i] = string(s)
	}
	t.CreatedAt = nowOr(t.CreatedAt)
	err := db.w.QueryRowxContext(ctx, db.q(`INSERT INTO api_tokens (account_id, digest, prefix, scopes, created_at) VALUES (?, ?, ?, ?, ?) RETURNING id`),
		t.AccountID, t.Digest, t.Prefix, strings.Join(scopes, ","), micros(t.CreatedAt)).Scan(&t.ID)
	return t, db.wrap(err)
}

// TokenByDigest returns the unrevoked token with the digest.
func (db *DB) TokenByDigest(ctx context.Context, digest string) (core.APIToken, error) {
	var r tokenRow
	err := db.r.GetContext(ctx, &r, db.q(tokenSelect+` WHERE t.digest = ? AND t.revoked_at IS NULL`), digest)
	if errors.Is(err, sql.ErrNoRows) {
		return core.APIToken{}, core.Errorf(core.ENOTFOUND, "no such token")
	}
	if err != nil {
		return core.APIToken{}, db.wrap(err)
	}
	return r.token(), nil
}

// ListTokens lists an account's tokens (0: everyone's), newest first.
func (db *DB) ListTokens(ctx context.Context, accountID int64) ([]core.APIToken, error) {
	var rows []tokenRow
	var err error
	if accountID == 0 {
		err = db.r.SelectContext(ctx, &rows, tokenSelect+` ORDER BY t.id DESC`)
	} else {
		err = db.r.SelectContext(ctx, &rows, db.q(tokenSelect+` WHERE t.account_id = ? ORDER BY t.id DESC`), accountID)
	}
	if err != nil {
		return nil, db.wrap(err)
	}
	out := make([]core.APIToken, len(rows))
	for i, r := range rows {
		out[i] = r.token()
	}
	return out, nil
}

// RevokeToken revokes a token for good.
func (db *DB) RevokeToken(ctx context.Context, id int64, now time.Time) error {
	res, err := db.w.ExecContext(ctx, db.q(`UPDATE api_tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL`), micros(now), id)
	if err != nil {
		return db.wrap(err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return core.Errorf(core.ENOTFOUND, "no token %d that is not revoked already (paysync tokens list shows them)", id)
	}
	return nil
}

// TouchToken records a use of a token.
func (db *DB) TouchToken(ctx context.Context, id int64, now time.Time) error {
	_, err := db.w.ExecContext(ctx, db.q(`UPDATE api_tokens SET last_used_at = ? WHERE id = ?`), micros(now), id)
	return db.wrap(err)
}
