-- A journal payload is the request's bytes exactly as received: a BLOB, not
-- text, because PostgreSQL text refuses invalid UTF-8 and NUL, which a
-- signed payment may carry, and both databases keep the same. payload_size
-- is how many bytes were received (more than the payload when only a part
-- was kept) and payload_sha256 their digest ('' for entries written before
-- this migration). SQLite cannot change a column's type: the column is
-- copied into a new one, dropped, and the new one renamed.
ALTER TABLE journal ADD COLUMN payload_bytes BLOB NOT NULL DEFAULT x'';
UPDATE journal SET payload_bytes = CAST(payload AS BLOB);
ALTER TABLE journal DROP COLUMN payload;
ALTER TABLE journal RENAME COLUMN payload_bytes TO payload;
ALTER TABLE journal ADD COLUMN payload_size BIGINT NOT NULL DEFAULT 0;
ALTER TABLE journal ADD COLUMN payload_sha256 TEXT NOT NULL DEFAULT '';
UPDATE journal SET payload_size = length(payload);
