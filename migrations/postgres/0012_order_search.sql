-- Search by what people type (issue 20): orders.search holds the order id,
-- the handle, the name and the email lowercased, and the phone's digits in
-- the forms people type them (+374 91…, 091…, 91…); paysync fills it on
-- every write, and this migration's code step fills it for existing orders.
-- A trigram index (pg_trgm, shipped with PostgreSQL) finds any part of it
-- without reading every order. Where the extension cannot be created the
-- search still works, by reading the orders newest first.
ALTER TABLE orders ADD COLUMN search TEXT NOT NULL DEFAULT '';
DO $$
BEGIN
    CREATE EXTENSION IF NOT EXISTS pg_trgm;
EXCEPTION WHEN OTHERS THEN
    RAISE NOTICE 'pg_trgm is not available (%): order search reads the orders without an index', SQLERRM;
END $$;
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm') THEN
        CREATE INDEX orders_search_trgm ON orders USING gin (search gin_trgm_ops);
    END IF;
END $$;
