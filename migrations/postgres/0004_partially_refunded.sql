-- partially_refunded is new: refunds so far less than what was paid, which
-- earlier versions called refunded. Such orders move, with a journal entry
-- and one outbox record per CRM that holds them, so that the CRMs follow.
INSERT INTO journal (order_id, provider, source, verdict, status_before, status_after,
    amount_minor, currency, reason, order_version, created_at)
SELECT id, provider, 'migration', 'accepted', 'refunded', 'partially_refunded',
    refunded_minor, currency,
    'refunds so far are less than what was paid: partially_refunded (status added by schema 0004)',
    version + 1,
    (EXTRACT(EPOCH FROM now()) * 1000000)::BIGINT
FROM orders
WHERE status = 'refunded' AND refunded_minor > 0 AND refunded_minor < amount_minor;

INSERT INTO outbox (connector, order_id, order_version, state, attempts, available_at, created_at, updated_at)
SELECT l.connector, o.id, o.version + 1, 'pending', 0,
    (EXTRACT(EPOCH FROM now()) * 1000000)::BIGINT,
    (EXTRACT(EPOCH FROM now()) * 1000000)::BIGINT,
    (EXTRACT(EPOCH FROM now()) * 1000000)::BIGINT
FROM orders o JOIN crm_links l ON l.order_id = o.id
WHERE o.status = 'refunded' AND o.refunded_minor > 0 AND o.refunded_minor < o.amount_minor;

UPDATE orders SET status = 'partially_refunded', version = version + 1,
    updated_at = (EXTRACT(EPOCH FROM now()) * 1000000)::BIGINT,
    status_changed_at = (EXTRACT(EPOCH FROM now()) * 1000000)::BIGINT
WHERE status = 'refunded' AND refunded_minor > 0 AND refunded_minor < amount_minor;
