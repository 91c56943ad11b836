-- People (issue 20): accounts with a role and a password hash (bcrypt),
-- console sessions, one-time invites and API tokens. Sessions, invites and
-- tokens are kept as SHA-256 digests of what the browser or the client
-- holds, never the secret itself. Times are unix microseconds.
CREATE TABLE accounts (
    id                  BIGSERIAL PRIMARY KEY,
    name                TEXT   NOT NULL,
    name_key            TEXT   NOT NULL, -- the name lowercased: names are unique case aside
    role                TEXT   NOT NULL,
    password_hash       TEXT   NOT NULL DEFAULT '',
    disabled            BOOLEAN NOT NULL DEFAULT FALSE,
    must_change         BOOLEAN NOT NULL DEFAULT FALSE,
    last_login_at       BIGINT,
    created_at          BIGINT NOT NULL,
    updated_at          BIGINT NOT NULL
);
CREATE UNIQUE INDEX accounts_name ON accounts (name_key);

-- account_id 0 is the bootstrap owner who logged in with the admin token.
CREATE TABLE sessions (
    digest      TEXT PRIMARY KEY,
    account_id  BIGINT NOT NULL,
    name        TEXT   NOT NULL DEFAULT '',
    credential  TEXT   NOT NULL DEFAULT '',
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL
);
CREATE INDEX sessions_account ON sessions (account_id);
CREATE INDEX sessions_expiry ON sessions (expires_at);

CREATE TABLE invites (
    digest      TEXT PRIMARY KEY,
    account_id  BIGINT NOT NULL,
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL
);

CREATE TABLE api_tokens (
    id           BIGSERIAL PRIMARY KEY,
    account_id   BIGINT NOT NULL,
    digest       TEXT   NOT NULL,
    prefix       TEXT   NOT NULL,
    scopes       TEXT   NOT NULL,
    created_at   BIGINT NOT NULL,
    last_used_at BIGINT,
    revoked_at   BIGINT
);
CREATE UNIQUE INDEX api_tokens_digest ON api_tokens (digest);
CREATE INDEX api_tokens_account ON api_tokens (account_id, id);
