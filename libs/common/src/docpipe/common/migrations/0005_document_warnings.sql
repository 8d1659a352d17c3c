-- What a user should know about a processed document, and how a failed one failed.
--
-- warnings: human-readable strings ("the PDF was damaged and repaired; text may be
--   incomplete", "page(s) 2–5 had no text layer and were read with OCR; …"), empty when
--   none. A document whose content was only partly recovered is never completed silently.
-- failure_kind: null unless status = 'failed'; the processor's failure kind ('corrupt',
--   'encrypted', 'unsupported', …), or 'exhausted' when transient failures used up every
--   attempt — such a document is claimed again when its message is redriven from the DLQ.

alter table documents add column warnings text[] not null default '{}';
alter table documents add column failure_kind text;

-- The reaper (0001) fails documents whose workers died on every attempt: that is the
-- 'exhausted' kind too. Same function, same owner and grants (CREATE OR REPLACE keeps them).
create or replace function docpipe_reap_stale_documents(lease interval, max_attempts integer)
returns table (document_id uuid, tenant_id text, storage_key text, new_status text)
language sql security definer set search_path = public, pg_temp
as $$
    update documents d
       set status = case when d.attempts >= max_attempts then 'failed' else 'queued' end,
           error = case when d.attempts >= max_attempts
                        then format('processing did not finish after %s attempts', d.attempts)
                        else d.error end,
           failure_kind = case when d.attempts >= max_attempts then 'exhausted' else null end,
           processed_at = case when d.attempts >= max_attempts then now() else d.processed_at end,
           claim_token = null,
           processing_started_at = null,
           updated_at = now()
     where d.status = 'processing'
       and d.processing_started_at < now() - lease
    returning d.id, d.tenant_id, d.storage_key, d.status
$$;
