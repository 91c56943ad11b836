-- Times are unix microseconds (BIGINT) in both dialects, so that the SQL and
-- its comparisons stay the same on PostgreSQL and SQLite.

CREATE TABLE orders (
    id                TEXT PRIMARY KEY,
    status            TEXT   NOT NULL,
    amount_minor      BIGINT NOT NULL CHECK (amount_minor >= 0),
    currency          TEXT   NOT NULL,
    refunded_minor    BIGINT NOT NULL DEFAULT 0,
    customer          TEXT   NOT NULL DEFAULT '{}',
    items             TEXT   NOT NULL DEFAULT '[]',
    delivery          TEXT   NOT NULL DEFAULT '{}',
    customer_handle   TEXT   NOT NULL DEFAULT '',
    customer_phone    TEXT   NOT NULL DEFAULT '',
    provider          TEXT   NOT NULL DEFAULT '',
    provider_ref      TEXT   NOT NULL DEFAULT '',
    payment_url       TEXT   NOT NULL DEFAULT '',
    fixed_link        TEXT   NOT NULL DEFAULT '',
    orphan            BOOLEAN NOT NULL DEFAULT FALSE,
    reason            TEXT   NOT NULL DEFAULT '',
    request_hash      TEXT   NOT NULL DEFAULT '',
    created_at        BIGINT NOT NULL,
    updated_at        BIGINT NOT NULL,
    status_changed_at BIGINT NOT NULL,
    paid_at           BIGINT,
    expires_at        BIGINT,
    version           BIGINT NOT NULL
);
CREATE INDEX orders_status_changed ON orders (status, status_changed_at);
CREATE INDEX orders_created ON orders (created_at, id);
CREATE INDEX orders_customer_handle ON orders (customer_handle);
CREATE INDEX orders_customer_phone ON orders (customer_phone);
CREATE INDEX orders_provider_ref ON orders (provider, provider_ref);

CREATE TABLE journal (
    id            BIGSERIAL PRIMARY KEY,
    order_id      TEXT,
    provider      TEXT   NOT NULL DEFAULT '',
    event_id      TEXT,
    source        TEXT   NOT NULL,
    event_type    TEXT   NOT NULL DEFAULT '',
    verdict       TEXT   NOT NULL,
    status_before TEXT   NOT NULL DEFAULT '',
    status_after  TEXT   NOT NULL DEFAULT '',
    amount_minor  BIGINT NOT NULL DEFAULT 0,
    currency      TEXT   NOT NULL DEFAULT '',
    provider_ref  TEXT   NOT NULL DEFAULT '',
    reason        TEXT   NOT NULL DEFAULT '',
    payload       TEXT   NOT NULL DEFAULT '',
    order_version BIGINT NOT NULL DEFAULT 0,
    created_at    BIGINT NOT NULL
);
-- The dedup key: a verified provider event is journaled once.
CREATE UNIQUE INDEX journal_event ON journal (provider, event_id) WHERE event_id IS NOT NULL;
CREATE INDEX journal_order ON journal (order_id, id);

CREATE TABLE outbox (
    id               BIGSERIAL PRIMARY KEY,
    connector        TEXT   NOT NULL,
    order_id         TEXT   NOT NULL,
    order_version    BIGINT NOT NULL,
    state            TEXT   NOT NULL DEFAULT 'pending',
    attempts         INTEGER NOT NULL DEFAULT 0,
    available_at     BIGINT NOT NULL,
    lease_owner      TEXT   NOT NULL DEFAULT '',
    lease_token      TEXT   NOT NULL DEFAULT '',
    lease_expires_at BIGINT,
    last_error       TEXT   NOT NULL DEFAULT '',
    external_id      TEXT   NOT NULL DEFAULT '',
    created_at       BIGINT NOT NULL,
    updated_at       BIGINT NOT NULL,
    delivered_at     BIGINT
);
-- The claim: due pending records of one connector, oldest first.
CREATE INDEX outbox_claim ON outbox (connector, available_at, id) WHERE state = 'pending';
CREATE INDEX outbox_order ON outbox (order_id, connector);
CREATE INDEX outbox_state ON outbox (state, connector);
CREATE INDEX outbox_delivered ON outbox (delivered_at) WHERE state = 'delivered';

CREATE TABLE crm_links (
    connector      TEXT   NOT NULL,
    order_id       TEXT   NOT NULL,
    external_id    TEXT   NOT NULL DEFAULT '',
    synced_version BIGINT NOT NULL DEFAULT 0,
    synced_status  TEXT   NOT NULL DEFAULT '',
    data           TEXT   NOT NULL DEFAULT '',
    updated_at     BIGINT NOT NULL,
    PRIMARY KEY (connector, order_id)
);

CREATE TABLE connector_state (
    connector  TEXT   NOT NULL,
    key        TEXT   NOT NULL,
    value      TEXT   NOT NULL,
    version    BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (connector, key)
);

CREATE TABLE leases (
    name       TEXT PRIMARY KEY,
    holder     TEXT   NOT NULL,
    expires_at BIGINT NOT NULL
);
