-- Who may see what (ARCHITECTURE §6): per-document access groups enforced by row-level
-- security, one least-privilege login role per service, and per-tenant quotas.

-- 1. One login role per service. None owns a table or bypasses row-level security; each
-- gets only the grants its service uses (section 6). Passwords are set by the migration
-- function from each role's own secret (docpipe.common.migrations.SERVICE_ROLES).
do $$
declare
    name text;
begin
    foreach name in array array['docpipe_upload', 'docpipe_query', 'docpipe_processor'] loop
        if not exists (select 1 from pg_roles where rolname = name) then
            execute format(
                'create role %I login nosuperuser nocreatedb nocreaterole noinherit nobypassrls',
                name);
        end if;
    end loop;
end
$$;
grant usage on schema public to docpipe_upload, docpipe_query, docpipe_processor;

-- 2. Access groups. A document's ``access`` is a sorted list of distinct group names;
-- empty means everyone in the tenant. Each chunk carries its document's list, so that the
-- row-level security of a search reads one column of the row it already has (no per-row
-- lookup of the document), and keyword statistics can be kept per visibility class.
create function docpipe_valid_access(access text[]) returns boolean
language sql immutable parallel safe
as $$
    select access is not null
       and cardinality(access) <= 32
       and array_position(access, null) is null
       and not exists (select 1 from unnest(access) g where g !~ '^[A-Za-z0-9_.:@-]{1,128}$')
       and access = coalesce((select array_agg(distinct g order by g) from unnest(access) g),
                             '{}'::text[])
$$;

alter table documents add column access text[] not null default '{}'
    constraint documents_access_valid check (docpipe_valid_access(access));
alter table chunks add column access text[] not null default '{}';

-- Duplicate detection happens among the documents the caller can see: the same bytes may
-- exist once per access list (an upload never meets a twin it cannot see, so it never
-- learns about one). Replaces the per-tenant index of 0001.
drop index documents_tenant_sha256;
create unique index documents_tenant_access_sha256 on documents (tenant_id, access, sha256)
    where sha256 is not null;

-- The caller's groups and whether it sees every group, set per transaction next to
-- app.tenant_id (docpipe.common.db.tenant_transaction, set_config(..., true)): nothing
-- carries over on a pooled connection. Unset means no groups: open documents only.
create function docpipe_caller_groups() returns text[]
language sql stable parallel safe
as $$ select coalesce(nullif(current_setting('app.groups', true), ''), '{}')::text[] $$;
create function docpipe_caller_sees_all() returns boolean
language sql stable parallel safe
as $$ select coalesce(current_setting('app.admin', true), '') = 'on' $$;

-- The group rule, as a restrictive policy: ANDed with the tenant policy, for the roles that
-- serve callers (the processor works for the tenant as a whole). The scalar subqueries
-- are computed once per statement, not per row. The retired shared role is restricted too,
-- so code still using it sees only open documents.
create policy group_access on documents as restrictive
    to docpipe_upload, docpipe_query, docpipe_app
    using (access = '{}' or (select docpipe_caller_sees_all())
           or access && (select docpipe_caller_groups()))
    with check (access = '{}' or (select docpipe_caller_sees_all())
                or access && (select docpipe_caller_groups()));
create policy group_access on chunks as restrictive
    to docpipe_upload, docpipe_query, docpipe_app
    using (access = '{}' or (select docpipe_caller_sees_all())
           or access && (select docpipe_caller_groups()))
    with check (access = '{}' or (select docpipe_caller_sees_all())
                or access && (select docpipe_caller_groups()));

-- A chunk's access is its document's, whoever writes it (the database keeps them equal, so
-- no code version can write an open chunk of a restricted document): copied on insert
-- (the writer holds the document row locked), and rewritten when the document's changes.
create function docpipe_chunk_access() returns trigger
language plpgsql set search_path = public, pg_temp
as $$
begin
    select d.access into strict new.access from documents d where d.id = new.document_id;
    return new;
end
$$;
create trigger chunks_access_from_document before insert on chunks
    for each row execute function docpipe_chunk_access();

create function docpipe_document_access_changed() returns trigger
language plpgsql set search_path = public, pg_temp
as $$
begin
    update chunks set access = new.access where document_id = new.id;
    return null;
end
$$;
create trigger documents_access_to_chunks after update of access on documents
    for each row when (old.access is distinct from new.access)
    execute function docpipe_document_access_changed();

-- 3. Keyword statistics per visibility class (tenant, access list). BM25's N, average
-- length and document frequencies are then sums over the classes the caller can see, so a
-- score never depends on chunks the caller cannot read: otherwise the frequency of a term
-- in hidden documents would show through the scores of visible ones (Büttcher & Clarke,
-- "A security model for full-text file system search in multi-user environments", 2005).
alter table keyword_corpus_stats add column access text[] not null default '{}';
alter table keyword_corpus_stats drop constraint keyword_corpus_stats_pkey;
alter table keyword_corpus_stats add primary key (tenant_id, access);
alter table keyword_term_stats add column access text[] not null default '{}';
alter table keyword_term_stats drop constraint keyword_term_stats_pkey;
-- (tenant, lexeme) leads: a query looks its terms up in every visible class at once.
alter table keyword_term_stats add primary key (tenant_id, lexeme, access);

create policy group_access on keyword_corpus_stats as restrictive
    to docpipe_upload, docpipe_query, docpipe_app
    using (access = '{}' or (select docpipe_caller_sees_all())
           or access && (select docpipe_caller_groups()))
    with check (access = '{}' or (select docpipe_caller_sees_all())
                or access && (select docpipe_caller_groups()));
create policy group_access on keyword_term_stats as restrictive
    to docpipe_upload, docpipe_query, docpipe_app
    using (access = '{}' or (select docpipe_caller_sees_all())
           or access && (select docpipe_caller_groups()))
    with check (access = '{}' or (select docpipe_caller_sees_all())
                or access && (select docpipe_caller_groups()));

-- Same statement-level maintenance as 0002, grouped by class as well. A class travels
-- through the arrays as its groups joined by ',' (no group name contains one).
create or replace function docpipe_keyword_stats_apply() returns trigger
language plpgsql set search_path = public, pg_temp
as $$
declare
    source text;
    tenants text[];
    classes text[];
    lexemes text[];
    dfs bigint[];
begin
    source := case tg_op
        when 'INSERT' then
            'select tenant_id, access, keywords, keyword_length, 1 as sign from new_rows'
        when 'DELETE' then
            'select tenant_id, access, keywords, keyword_length, -1 as sign from old_rows'
        else 'select tenant_id, access, keywords, keyword_length, 1 as sign from new_rows'
             ' union all select tenant_id, access, keywords, keyword_length, -1 from old_rows'
    end;
    execute format($sql$
        insert into keyword_corpus_stats as s (tenant_id, access, chunk_count, keyword_length)
        select tenant_id, access, sum(sign), sum(sign * keyword_length) from (%s) c
        group by tenant_id, access order by tenant_id, access
        on conflict (tenant_id, access) do update
        set chunk_count = s.chunk_count + excluded.chunk_count,
            keyword_length = s.keyword_length + excluded.keyword_length
    $sql$, source);
    execute format($sql$
        select array_agg(tenant_id order by tenant_id, lexeme, class),
               array_agg(class order by tenant_id, lexeme, class),
               array_agg(lexeme order by tenant_id, lexeme, class),
               array_agg(df order by tenant_id, lexeme, class)
        from (
            select c.tenant_id, array_to_string(c.access, ',') as class, u.lexeme,
                   sum(c.sign) as df
            from (%s) c, unnest(tsvector_to_array(c.keywords)) u (lexeme)
            group by c.tenant_id, array_to_string(c.access, ','), u.lexeme
            having sum(c.sign) <> 0
        ) d
    $sql$, source) into tenants, classes, lexemes, dfs;
    if tenants is null then
        return null;
    end if;
    delete from keyword_term_stats s
    using unnest(tenants, classes, lexemes, dfs) as d (tenant_id, class, lexeme, df)
    where d.df < 0 and s.tenant_id = d.tenant_id and s.lexeme = d.lexeme
      and s.access = string_to_array(d.class, ',') and s.df + d.df <= 0;
    insert into keyword_term_stats as s (tenant_id, lexeme, access, df)
    select d.tenant_id, d.lexeme, string_to_array(d.class, ','), d.df
    from unnest(tenants, classes, lexemes, dfs) with ordinality as d (tenant_id, class, lexeme, df, n)
    where d.df > 0 or exists (
        select 1 from keyword_term_stats e
        where e.tenant_id = d.tenant_id and e.lexeme = d.lexeme
          and e.access = string_to_array(d.class, ',')
    )
    order by d.n
    on conflict (tenant_id, lexeme, access) do update set df = s.df + excluded.df;
    return null;
end
$$;

-- Keyword candidates (0002) apply the group rule as well as the tenant.
create or replace function docpipe_keyword_matches(matching tsquery, excluding tsquery, max_rows bigint)
returns table (id uuid, keywords tsvector, keyword_length integer)
language sql stable security definer set search_path = public, pg_temp
as $$
    select c.id, c.keywords, c.keyword_length from chunks c
    where matching is not null
      and c.tenant_id = current_setting('app.tenant_id', true)
      and (c.access = '{}' or (select docpipe_caller_sees_all())
           or c.access && (select docpipe_caller_groups()))
      and c.keywords @@ matching
      and (excluding is null or not c.keywords @@ excluding)
    limit max_rows
$$;

-- 4. Quotas per tenant. Defaults are the upload service's settings; an operator overrides
-- them per tenant here (null: the default; 0: no limit). docs/operations.md.
create table tenant_quotas (
    tenant_id                       text primary key check (length(tenant_id) between 1 and 256),
    max_documents                   bigint check (max_documents >= 0),
    max_stored_bytes                bigint check (max_stored_bytes >= 0),
    uploads_per_minute              integer check (uploads_per_minute >= 0),
    reprocess_per_document_per_hour integer check (reprocess_per_document_per_hour >= 0),
    updated_at                      timestamptz not null default now()
);

-- What each tenant stores, kept exact by a trigger on documents (a declared size counts
-- from the presigned upload on, the real one once processed). The trigger runs as the
-- maintenance role, so no service can write usage directly.
create table tenant_usage (
    tenant_id    text primary key,
    documents    bigint not null default 0,
    stored_bytes bigint not null default 0
);

-- Rate limits as GCRA state: one "theoretical arrival time" per tenant and limit (key
-- 'uploads', or 'reprocess:<document id>'). A request is admitted when the new arrival
-- time stays within one period of now; a row whose time is past is the same as no row.
create table quota_rates (
    tenant_id text not null,
    key       text not null,
    tat       timestamptz not null,
    primary key (tenant_id, key)
);

alter table tenant_quotas enable row level security;
alter table tenant_quotas force row level security;
alter table tenant_usage enable row level security;
alter table tenant_usage force row level security;
alter table quota_rates enable row level security;
alter table quota_rates force row level security;
create policy tenant_isolation on tenant_quotas
    using (tenant_id = current_setting('app.tenant_id', true));
create policy tenant_isolation on tenant_usage
    using (tenant_id = current_setting('app.tenant_id', true));
create policy tenant_isolation on quota_rates
    using (tenant_id = current_setting('app.tenant_id', true))
    with check (tenant_id = current_setting('app.tenant_id', true));
create policy maintenance_all on tenant_usage to docpipe_maintenance using (true) with check (true);
revoke all on tenant_quotas, tenant_usage, quota_rates from public;
grant select, insert, update on tenant_usage to docpipe_maintenance;

create function docpipe_track_usage() returns trigger
language plpgsql security definer set search_path = public, pg_temp
as $$
declare
    tenant text := coalesce(new.tenant_id, old.tenant_id);
    documents_delta bigint := case tg_op when 'INSERT' then 1 when 'DELETE' then -1 else 0 end;
    bytes_delta bigint := coalesce(new.size_bytes, 0) - coalesce(old.size_bytes, 0);
begin
    if tg_op = 'UPDATE' and bytes_delta = 0 then
        return null;
    end if;
    insert into tenant_usage as u (tenant_id, documents, stored_bytes)
    values (tenant, documents_delta, bytes_delta)
    on conflict (tenant_id) do update
    set documents = u.documents + excluded.documents,
        stored_bytes = u.stored_bytes + excluded.stored_bytes;
    return null;
end
$$;
alter function docpipe_track_usage() owner to docpipe_maintenance;
revoke all on function docpipe_track_usage() from public;
create trigger documents_usage after insert or delete or update of size_bytes on documents
    for each row execute function docpipe_track_usage();

-- The tenant's usage and limits (the override, else the service's default), read after
-- taking the tenant's quota lock: concurrent uploads of one tenant check and insert one
-- after the other until commit, so together they never exceed a limit. VOLATILE, so the
-- read takes its snapshot after the lock is granted (READ COMMITTED).
create function docpipe_quota_usage(default_documents bigint, default_bytes bigint)
returns table (documents bigint, stored_bytes bigint, max_documents bigint, max_stored_bytes bigint)
language plpgsql volatile set search_path = public, pg_temp
as $$
begin
    perform pg_advisory_xact_lock(
        hashtextextended('docpipe.quota:' || current_setting('app.tenant_id', true), 0));
    return query
    select coalesce(u.documents, 0), coalesce(u.stored_bytes, 0),
           coalesce(q.max_documents, default_documents),
           coalesce(q.max_stored_bytes, default_bytes)
    from (select current_setting('app.tenant_id', true) as tenant_id) t
    left join tenant_usage u on u.tenant_id = t.tenant_id
    left join tenant_quotas q on q.tenant_id = t.tenant_id;
end
$$;
revoke all on function docpipe_quota_usage(bigint, bigint) from public;

-- Usage of the documents that exist already. FORCE hides every row from an owner that is
-- not a superuser (Aurora's master user): lifted for this statement's transaction only.
alter table documents no force row level security;
insert into tenant_usage (tenant_id, documents, stored_bytes)
select tenant_id, count(*), sum(size_bytes) from documents group by tenant_id;
alter table documents force row level security;

-- 5. One object per document. The object version a document was processed from is kept
-- (never cleared by reprocess); any other version of its key is an extra use of its
-- presigned POST, which the processor deletes rather than processes.
alter table documents add column object_version text;

-- 6. Grants: each service only what it does.
-- (docpipe_caller_groups, docpipe_caller_sees_all and docpipe_valid_access stay
-- executable by everyone: policies and a check constraint call them as the caller.)
revoke all on function docpipe_chunk_access() from public;
revoke all on function docpipe_document_access_changed() from public;

-- upload: documents, and what changing a document's access or deleting it touches.
grant select, insert, update, delete on documents to docpipe_upload;
grant select on chunks to docpipe_upload;
grant update (access) on chunks to docpipe_upload;
grant select, delete on embedding_cache to docpipe_upload;
grant select, insert, update, delete on keyword_corpus_stats, keyword_term_stats
    to docpipe_upload;
grant select on tenant_quotas, tenant_usage to docpipe_upload;
grant select, insert, update, delete on quota_rates to docpipe_upload;
grant execute on function docpipe_quota_usage(bigint, bigint) to docpipe_upload;

-- query: reads documents and chunks; writes only its callers' conversations.
grant select on documents, chunks, keyword_corpus_stats, keyword_term_stats to docpipe_query;
grant select, insert, update, delete on conversations, messages to docpipe_query;
grant execute on function docpipe_keyword_matches(tsquery, tsquery, bigint) to docpipe_query;

-- processor: claims and completes documents (never their tenant, name, metadata or access),
-- replaces their chunks, caches embeddings, and alone recovers stale documents.
grant select on documents to docpipe_processor;
grant update (status, error, failure_kind, warnings, sha256, size_bytes, page_count,
              chunk_count, content_type, processed_version, object_version, attempts,
              claim_token, processing_started_at, processed_at, updated_at)
    on documents to docpipe_processor;
grant select, insert, delete on chunks to docpipe_processor;
grant select, insert on embedding_cache to docpipe_processor;
grant select, insert, update, delete on keyword_corpus_stats, keyword_term_stats
    to docpipe_processor;
grant execute on function docpipe_reap_stale_documents(interval, integer) to docpipe_processor;

-- 7. The shared role of 0001 is retired: it can no longer log in (connections a previous
-- release already holds keep working until they close), may not recover other tenants'
-- documents, and sees open documents only (section 2). A later migration drops it.
alter role docpipe_app nologin;
revoke execute on function docpipe_reap_stale_documents(interval, integer) from docpipe_app;
