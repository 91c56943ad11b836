-- Raw payloads are cleared after journal.keep_payloads (storage.PurgePayloads,
-- issue 23): the purge finds the entries that still hold one, oldest first,
-- through this partial index, which shrinks as payloads are cleared. Refusal
-- samples are found through refusals_last.
CREATE INDEX journal_payload_kept ON journal (created_at) WHERE length(payload) > 0;
