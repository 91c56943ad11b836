-- A million orders (issue 23). The order list filtered by a status reads
-- that status's orders newest first (without this index, the database
-- sorts every paid order for one page); the order page reads an order's
-- CRM links by order id (the primary key starts with the connector).
CREATE INDEX orders_status_created ON orders (status, created_at, id);
CREATE INDEX crm_links_order ON crm_links (order_id);
