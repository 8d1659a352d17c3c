-- Keyword statistics for BM25 without scanning the corpus per query.
--
-- BM25 needs, per tenant, the number of chunks N, the average chunk length, and each
-- query term's document frequency df. Computing them per query costs O(tenant's chunks);
-- here they are kept in two small tables, maintained exactly by statement-level triggers
-- on chunks (one aggregate per INSERT/DELETE statement, not one row at a time), so a
-- query reads O(number of query terms) rows.
--
-- Chunk length = its number of distinct lexemes, stored once per chunk so that neither
-- the triggers nor the ranking detoast the tsvector to measure it.

alter table chunks add column keyword_length integer
    generated always as (length(keywords)) stored not null;

-- No CHECK (>= 0) constraints: INSERT … ON CONFLICT checks them on the proposed row, i.e.
-- on a negative delta, before it becomes an update.
create table keyword_corpus_stats (
    tenant_id      text primary key,
    chunk_count    bigint not null,
    keyword_length bigint not null
);

-- One row per (tenant, lexeme) present in at least one of the tenant's chunks.
create table keyword_term_stats (
    tenant_id text not null,
    lexeme    text not null,
    df        bigint not null,
    primary key (tenant_id, lexeme)
);

-- Applies the chunks a statement inserted (+1) and/or deleted (-1) to the statistics.
-- It runs as the invoking role: for the services that is docpipe_app inside a tenant
-- transaction, so row-level security confines it to the tenant's own statistics rows.
-- Concurrency: the tenant's corpus row is upserted first; its row lock, held to commit,
-- serialises every statistics change of one tenant, so concurrent writers neither lose
-- updates nor lock term rows in conflicting orders (which are sorted all the same).
create function docpipe_keyword_stats_apply() returns trigger
language plpgsql set search_path = public, pg_temp
as $$
declare
    source text;
    tenants text[];
    lexemes text[];
    dfs bigint[];
begin
    source := case tg_op
        when 'INSERT' then 'select tenant_id, keywords, keyword_length, 1 as sign from new_rows'
        when 'DELETE' then 'select tenant_id, keywords, keyword_length, -1 as sign from old_rows'
        else 'select tenant_id, keywords, keyword_length, 1 as sign from new_rows'
             ' union all select tenant_id, keywords, keyword_length, -1 from old_rows'
    end;
    execute format($sql$
        insert into keyword_corpus_stats as s (tenant_id, chunk_count, keyword_length)
        select tenant_id, sum(sign), sum(sign * keyword_length) from (%s) c
        group by tenant_id order by tenant_id
        on conflict (tenant_id) do update
        set chunk_count = s.chunk_count + excluded.chunk_count,
            keyword_length = s.keyword_length + excluded.keyword_length
    $sql$, source);
    execute format($sql$
        select array_agg(tenant_id order by tenant_id, lexeme),
               array_agg(lexeme order by tenant_id, lexeme),
               array_agg(df order by tenant_id, lexeme)
        from (
            select c.tenant_id, u.lexeme, sum(c.sign) as df
            from (%s) c, unnest(tsvector_to_array(c.keywords)) u (lexeme)
            group by c.tenant_id, u.lexeme
            having sum(c.sign) <> 0
        ) d
    $sql$, source) into tenants, lexemes, dfs;
    if tenants is null then
        return null;
    end if;
    -- Terms no chunk contains any more disappear; the others are incremented/decremented.
    delete from keyword_term_stats s
    using unnest(tenants, lexemes, dfs) as d (tenant_id, lexeme, df)
    where d.df < 0 and s.tenant_id = d.tenant_id and s.lexeme = d.lexeme
      and s.df + d.df <= 0;
    insert into keyword_term_stats as s (tenant_id, lexeme, df)
    select d.tenant_id, d.lexeme, d.df
    from unnest(tenants, lexemes, dfs) with ordinality as d (tenant_id, lexeme, df, n)
    where d.df > 0 or exists (
        select 1 from keyword_term_stats e where e.tenant_id = d.tenant_id and e.lexeme = d.lexeme
    )
    order by d.n
    on conflict (tenant_id, lexeme) do update set df = s.df + excluded.df;
    return null;
end
$$;

create function docpipe_keyword_stats_truncate() returns trigger
language plpgsql set search_path = public, pg_temp
as $$
begin
    delete from keyword_term_stats;
    delete from keyword_corpus_stats;
    return null;
end
$$;

create trigger chunks_keyword_stats_insert after insert on chunks
    referencing new table as new_rows
    for each statement execute function docpipe_keyword_stats_apply();
create trigger chunks_keyword_stats_delete after delete on chunks
    referencing old table as old_rows
    for each statement execute function docpipe_keyword_stats_apply();
create trigger chunks_keyword_stats_update after update on chunks
    referencing old table as old_rows new table as new_rows
    for each statement execute function docpipe_keyword_stats_apply();
create trigger chunks_keyword_stats_truncate after truncate on chunks
    for each statement execute function docpipe_keyword_stats_truncate();

-- Backfill. The migrating role may own chunks without being a superuser (Aurora): FORCE
-- would then hide every row from it, so it is lifted for the backfill only (same
-- transaction), and the statistics tables get their row-level security afterwards.
alter table chunks no force row level security;
insert into keyword_corpus_stats (tenant_id, chunk_count, keyword_length)
select tenant_id, count(*), sum(keyword_length) from chunks group by tenant_id;
insert into keyword_term_stats (tenant_id, lexeme, df)
select c.tenant_id, u.lexeme, count(*)
from chunks c, unnest(tsvector_to_array(c.keywords)) u (lexeme)
group by c.tenant_id, u.lexeme;
alter table chunks force row level security;

alter table keyword_corpus_stats enable row level security;
alter table keyword_corpus_stats force row level security;
alter table keyword_term_stats enable row level security;
alter table keyword_term_stats force row level security;
create policy tenant_isolation on keyword_corpus_stats
    using (tenant_id = current_setting('app.tenant_id', true))
    with check (tenant_id = current_setting('app.tenant_id', true));
create policy tenant_isolation on keyword_term_stats
    using (tenant_id = current_setting('app.tenant_id', true))
    with check (tenant_id = current_setting('app.tenant_id', true));

revoke all on keyword_corpus_stats, keyword_term_stats from public;
grant select, insert, update, delete on keyword_corpus_stats, keyword_term_stats to docpipe_app;
revoke all on function docpipe_keyword_stats_apply() from public;
revoke all on function docpipe_keyword_stats_truncate() from public;
grant execute on function docpipe_keyword_stats_apply() to docpipe_app;

-- Keyword candidates through the GIN index. Row-level security forbids it to the services'
-- role: tsvector @@ tsquery is not LEAKPROOF, so under a policy the planner must evaluate it
-- after the tenant check and never as an index condition: every keyword search became a
-- sequential scan of the whole chunks table. This function runs as the maintenance role,
-- to which a read policy shows every chunk (no policy qualifier, so the match can drive
-- the index), and applies the caller's tenant itself. It reveals nothing the caller could
-- not read: the tenant is the caller's own app.tenant_id, as in every policy.
-- Rows of ``matching`` and not of ``excluding`` (if given), at most ``max_rows`` (if given).
create policy maintenance_read on chunks for select to docpipe_maintenance using (true);
grant select on chunks to docpipe_maintenance;
create function docpipe_keyword_matches(matching tsquery, excluding tsquery, max_rows bigint)
returns table (id uuid, keywords tsvector, keyword_length integer)
language sql stable security definer set search_path = public, pg_temp
as $$
    select c.id, c.keywords, c.keyword_length from chunks c
    where matching is not null
      and c.tenant_id = current_setting('app.tenant_id', true)
      and c.keywords @@ matching
      and (excluding is null or not c.keywords @@ excluding)
    limit max_rows
$$;
alter function docpipe_keyword_matches(tsquery, tsquery, bigint) owner to docpipe_maintenance;
revoke all on function docpipe_keyword_matches(tsquery, tsquery, bigint) from public;
grant execute on function docpipe_keyword_matches(tsquery, tsquery, bigint) to docpipe_app;
