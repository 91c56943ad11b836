-- The provider references of the payments an order has seen
-- (core.PaymentHistory.PaymentRefs), a JSON array of strings, '' for none:
-- a payment under another reference is the buyer paying twice, and the order
-- goes to manual_review ("paid twice: refund one"). Orders paid before this
-- migration start with none: their next payment is judged as before.
ALTER TABLE orders ADD COLUMN payment_refs TEXT NOT NULL DEFAULT '';
