-- The claim's per-order checks (other pending records of the same order, and
-- live leases on them) look up pending records by connector and order.
CREATE INDEX outbox_pending_order ON outbox (connector, order_id) WHERE state = 'pending';
