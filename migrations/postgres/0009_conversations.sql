-- Instagram Direct (issue 21): the conversations paysync hears of through
-- Instagram's webhooks, one row per customer (IGSID), and the messages'
-- ids. Nothing of a message is kept but what the console shows: the
-- customer's last text, cut to 300 bytes, and, for the shop's own
-- messages (echoes), the digest of their text, by which a send whose answer
-- was lost is found again. Times are unix microseconds; rows older than
-- connectors.instagram.retention are deleted by the scheduler.
CREATE TABLE conversations (
    igsid               TEXT PRIMARY KEY,
    username            TEXT   NOT NULL DEFAULT '',
    username_checked_at BIGINT NOT NULL DEFAULT 0,
    language            TEXT   NOT NULL DEFAULT '',
    last_text           TEXT   NOT NULL DEFAULT '',
    last_customer_at    BIGINT NOT NULL DEFAULT 0,
    last_message_at     BIGINT NOT NULL,
    created_at          BIGINT NOT NULL,
    updated_at          BIGINT NOT NULL
);
-- The Direct page and GET /v1/conversations: most recent first; retention.
CREATE INDEX conversations_last_message ON conversations (last_message_at);

CREATE TABLE direct_messages (
    mid         TEXT PRIMARY KEY,
    igsid       TEXT    NOT NULL,
    echo        INTEGER NOT NULL DEFAULT 0,
    text_sha256 TEXT    NOT NULL DEFAULT '',
    at          BIGINT  NOT NULL
);
-- Finding an echo of a send whose answer was lost; retention.
CREATE INDEX direct_messages_thread ON direct_messages (igsid, at);
CREATE INDEX direct_messages_at ON direct_messages (at);
