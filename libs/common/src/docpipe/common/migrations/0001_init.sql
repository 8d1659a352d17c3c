-- docpipe schema v1: documents, chunks, embedding cache; tenant isolation by row-level security.
-- {embedding_dimensions} is substituted by the migration runner (EMBEDDING_DIMENSIONS).

create extension if not exists vector;

-- The services' login role: no ownership, no BYPASSRLS, so every policy applies to it.
do $$
begin
    if not exists (select 1 from pg_roles where rolname = 'docpipe_app') then
        create role docpipe_app login nosuperuser nocreatedb nocreaterole noinherit nobypassrls;
    end if;
    -- Owner of the few SECURITY DEFINER maintenance functions; it cannot log in.
    if not exists (select 1 from pg_roles where rolname = 'docpipe_maintenance') then
        create role docpipe_maintenance nologin nosuperuser nocreatedb nocreaterole nobypassrls;
    end if;
end
$$;
-- The migrating user must be able to SET ROLE to give the maintenance functions their owner
-- (PostgreSQL 16 grants CREATEROLE users only ADMIN on roles they create).
grant docpipe_maintenance to current_user;
-- A function's new owner needs CREATE on its schema (superusers skip that check, Aurora's
-- master user does not). The role cannot log in: it acts only through those functions.
grant create on schema public to docpipe_maintenance;

create table documents (
    id                    uuid primary key,
    tenant_id             text not null check (length(tenant_id) between 1 and 256),
    filename              text not null check (length(filename) between 1 and 255),
    content_type          text not null,
    size_bytes            bigint not null check (size_bytes >= 0),
    sha256                text check (sha256 ~ '^[0-9a-f]{64}$'),
    storage_key           text not null unique,
    status                text not null check (status in
                              ('awaiting_upload', 'queued', 'processing', 'completed', 'failed')),
    page_count            integer,
    chunk_count           integer,
    error                 text,
    attempts              integer not null default 0,
    processed_version     text,
    claim_token           uuid,
    processing_started_at timestamptz,
    created_at            timestamptz not null default now(),
    updated_at            timestamptz not null default now(),
    processed_at          timestamptz
);
-- Same bytes for the same tenant are one document (dedup is enforced here, not only in code).
create unique index documents_tenant_sha256 on documents (tenant_id, sha256) where sha256 is not null;
create index documents_tenant_created on documents (tenant_id, created_at desc, id desc);
create index documents_stale_processing on documents (processing_started_at) where status = 'processing';

create table chunks (
    id             uuid primary key,
    tenant_id      text not null,
    document_id    uuid not null references documents (id) on delete cascade,
    ordinal        integer not null,
    page_start     integer not null,
    page_end       integer not null,
    text           text not null,
    content_sha256 text not null,
    embedding      vector({embedding_dimensions}) not null,
    keywords       tsvector not null,
    unique (document_id, ordinal)
);
create index chunks_embedding_hnsw on chunks using hnsw (embedding vector_cosine_ops);
create index chunks_keywords_gin on chunks using gin (keywords);
create index chunks_tenant_document on chunks (tenant_id, document_id);

-- Identical chunk text is embedded once per tenant and model.
create table embedding_cache (
    tenant_id      text not null,
    model_id       text not null,
    content_sha256 text not null,
    embedding      vector({embedding_dimensions}) not null,
    created_at     timestamptz not null default now(),
    primary key (tenant_id, model_id, content_sha256)
);

-- Row-level security: FORCE so that even the table owner is subject to it.
alter table documents enable row level security;
alter table documents force row level security;
alter table chunks enable row level security;
alter table chunks force row level security;
alter table embedding_cache enable row level security;
alter table embedding_cache force row level security;

create policy tenant_isolation on documents
    using (tenant_id = current_setting('app.tenant_id', true))
    with check (tenant_id = current_setting('app.tenant_id', true));
create policy tenant_isolation on chunks
    using (tenant_id = current_setting('app.tenant_id', true))
    with check (tenant_id = current_setting('app.tenant_id', true));
create policy tenant_isolation on embedding_cache
    using (tenant_id = current_setting('app.tenant_id', true))
    with check (tenant_id = current_setting('app.tenant_id', true));
-- The maintenance role (only reachable through the functions below) sees every tenant.
create policy maintenance_all on documents to docpipe_maintenance using (true) with check (true);

revoke all on documents, chunks, embedding_cache from public;
grant usage on schema public to docpipe_app, docpipe_maintenance;
grant select, insert, update, delete on documents, chunks, embedding_cache to docpipe_app;
grant select, update on documents to docpipe_maintenance;

-- A document left in 'processing' by a dead worker (lease expired) must not stay there:
-- it goes back to 'queued' while attempts remain, else to 'failed' with a reason.
create function docpipe_reap_stale_documents(lease interval, max_attempts integer)
returns table (document_id uuid, tenant_id text, storage_key text, new_status text)
language sql security definer set search_path = public, pg_temp
as $$
    update documents d
       set status = case when d.attempts >= max_attempts then 'failed' else 'queued' end,
           error = case when d.attempts >= max_attempts
                        then format('processing did not finish after %s attempts', d.attempts)
                        else d.error end,
           processed_at = case when d.attempts >= max_attempts then now() else d.processed_at end,
           claim_token = null,
           processing_started_at = null,
           updated_at = now()
     where d.status = 'processing'
       and d.processing_started_at < now() - lease
    returning d.id, d.tenant_id, d.storage_key, d.status
$$;
alter function docpipe_reap_stale_documents(interval, integer) owner to docpipe_maintenance;
revoke all on function docpipe_reap_stale_documents(interval, integer) from public;
grant execute on function docpipe_reap_stale_documents(interval, integer) to docpipe_app;
