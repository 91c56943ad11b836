-- Refused webhook requests (bad signature, malformed, too large) are
-- counted, not journaled one by one: one row per provider, source address,
-- verdict and window (an hour), with the first request's reason and sample
-- (size, digest, first 512 bytes) and the latest reason. Rows are deleted
-- after journal.keep_refused; the journal of orders stays.
CREATE TABLE refusals (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    provider      TEXT   NOT NULL,
    source        TEXT   NOT NULL,
    verdict       TEXT   NOT NULL,
    window_start  BIGINT NOT NULL,
    requests      BIGINT NOT NULL,
    throttled     BIGINT NOT NULL DEFAULT 0,
    bytes         BIGINT NOT NULL DEFAULT 0,
    first_at      BIGINT NOT NULL,
    last_at       BIGINT NOT NULL,
    reason        TEXT   NOT NULL DEFAULT '',
    last_reason   TEXT   NOT NULL DEFAULT '',
    sample_size   BIGINT NOT NULL DEFAULT 0,
    sample_sha256 TEXT   NOT NULL DEFAULT '',
    sample        BLOB   NOT NULL DEFAULT x''
);
CREATE UNIQUE INDEX refusals_key ON refusals (provider, source, verdict, window_start);
-- Listing (latest first) and retention.
CREATE INDEX refusals_last ON refusals (last_at);
