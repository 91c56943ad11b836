-- The accountant's export (paysync export, issue 23) finds the orders whose
-- money moved in a period through the journal entries that leave an order
-- holding a payment, by time; an index on these alone stays small.
CREATE INDEX journal_money ON journal (created_at)
    WHERE status_after IN ('paid', 'partially_refunded', 'refunded');
