-- Search by what people type (issue 20): orders.search holds the order id,
-- the handle, the name and the email lowercased, and the phone's digits in
-- the forms people type them (+374 91…, 091…, 91…); paysync fills it on
-- every write, and this migration's code step fills it for existing orders.
-- A trigram full-text index finds any part of it without reading every
-- order; triggers keep the index in step with the column.
ALTER TABLE orders ADD COLUMN search TEXT NOT NULL DEFAULT '';
CREATE VIRTUAL TABLE orders_search USING fts5(search, content='orders', content_rowid='rowid', tokenize='trigram');
CREATE TRIGGER orders_search_insert AFTER INSERT ON orders BEGIN
    INSERT INTO orders_search (rowid, search) VALUES (new.rowid, new.search);
END;
CREATE TRIGGER orders_search_update AFTER UPDATE OF search ON orders WHEN old.search <> new.search BEGIN
    INSERT INTO orders_search (orders_search, rowid, search) VALUES ('delete', old.rowid, old.search);
    INSERT INTO orders_search (rowid, search) VALUES (new.rowid, new.search);
END;
CREATE TRIGGER orders_search_delete AFTER DELETE ON orders BEGIN
    INSERT INTO orders_search (orders_search, rowid, search) VALUES ('delete', old.rowid, old.search);
END;
-- The index starts with every existing order (their text is filled next,
-- through the update trigger).
INSERT INTO orders_search (orders_search) VALUES ('rebuild');
