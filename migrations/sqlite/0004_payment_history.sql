-- What an order remembers of its payment events (core.PaymentHistory), so
-- that a late event is judged against what happened to the payment, never
-- against when paysync created or wrote the order. Three events, each with
-- its id, status and time:
--   latest_event_*   the newest timed event that changed the order; an older
--                    failed or expired event is stale and names it;
--   payment_event_*  of the payments seen, the one that ended last;
--   expiry_event_*   of the expiries seen, the one that began first (no id:
--                    the order's own expires_at, expired by the scheduler).
-- *_at is unix microseconds, NULL when the provider gave no time; *_precision
-- is the unit, in microseconds, the provider stated the time in (1000000 for
-- "…:20Z"). An empty *_status means no such event.
ALTER TABLE orders ADD COLUMN latest_event_id TEXT NOT NULL DEFAULT '';
ALTER TABLE orders ADD COLUMN latest_event_status TEXT NOT NULL DEFAULT '';
ALTER TABLE orders ADD COLUMN latest_event_at BIGINT;
ALTER TABLE orders ADD COLUMN latest_event_precision BIGINT NOT NULL DEFAULT 0;
ALTER TABLE orders ADD COLUMN payment_event_id TEXT NOT NULL DEFAULT '';
ALTER TABLE orders ADD COLUMN payment_event_status TEXT NOT NULL DEFAULT '';
ALTER TABLE orders ADD COLUMN payment_event_at BIGINT;
ALTER TABLE orders ADD COLUMN payment_event_precision BIGINT NOT NULL DEFAULT 0;
ALTER TABLE orders ADD COLUMN expiry_event_id TEXT NOT NULL DEFAULT '';
ALTER TABLE orders ADD COLUMN expiry_event_status TEXT NOT NULL DEFAULT '';
ALTER TABLE orders ADD COLUMN expiry_event_at BIGINT;
ALTER TABLE orders ADD COLUMN expiry_event_precision BIGINT NOT NULL DEFAULT 0;
