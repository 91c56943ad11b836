-- Expiry scans orders by status and expiry, whatever their age.
CREATE INDEX orders_status_expires ON orders (status, expires_at) WHERE expires_at IS NOT NULL;
