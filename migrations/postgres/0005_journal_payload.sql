-- A journal payload is the request's bytes exactly as received: BYTEA, not
-- text, because PostgreSQL text refuses invalid UTF-8 and NUL, which a
-- signed payment may carry. payload_size is how many bytes were received
-- (more than the payload when only a part was kept) and payload_sha256 their
-- digest ('' for entries written before this migration).
ALTER TABLE journal ALTER COLUMN payload DROP DEFAULT;
ALTER TABLE journal ALTER COLUMN payload TYPE BYTEA USING convert_to(payload, 'UTF8');
ALTER TABLE journal ALTER COLUMN payload SET DEFAULT ''::bytea;
ALTER TABLE journal ADD COLUMN payload_size BIGINT NOT NULL DEFAULT 0;
ALTER TABLE journal ADD COLUMN payload_sha256 TEXT NOT NULL DEFAULT '';
UPDATE journal SET payload_size = octet_length(payload);
