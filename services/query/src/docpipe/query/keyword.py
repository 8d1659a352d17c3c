"""Keyword leg: full-text matches over the application-tokenized ``chunks.keywords``, BM25-ranked.

The query goes through the same tokenizer as the chunks (:mod:`docpipe.common.keywords`:
English stemming and stop words, CJK character bigrams); any query term matches, and the
GIN index finds the matching chunks. They are ranked with Okapi BM25 in SQL (``ts_rank``
is not BM25: it has no inverse document frequency, so a common word counts as much as a
rare one). The corpus statistics come from tables that triggers on ``chunks`` keep exact
(migration ``0002_keyword_stats``), so a query reads O(query terms) statistics rows,
never the tenant's whole corpus:

- ``N`` and the average chunk length: ``keyword_corpus_stats`` (chunk length = its number
  of distinct lexemes, the generated column ``chunks.keyword_length``);
- document frequency ``df``: ``keyword_term_stats``, one row per (tenant, lexeme, access
  list);
- term frequency ``tf``: the number of positions of the lexeme in the candidate's
  tsvector (``setweight`` + ``ts_filter`` cut the tsvector down to the query's lexemes
  first, so scoring a candidate costs O(query terms), not O(its lexemes)).

``idf = ln(1 + (N − df + 0.5) / (df + 0.5))`` (Lucene's, never negative). Statistics are
kept per visibility class (tenant and access list, migration 0007) and summed over the
classes the reader sees: the reader's own corpus, so a score never reflects documents it
cannot read. With a document filter they stay reader-wide and only the candidates are
filtered (:mod:`docpipe.query.scope`).

**Candidate budget.** A query with a very common term matches a large part of the corpus,
and scoring a match costs tens of microseconds, so candidates are bounded by
:attr:`BM25.candidate_budget`: the chunks containing the *rarest* query terms whose summed
``df`` stays within it, topped up from the other terms' matches when they are fewer than
requested. When even the rarest term is more frequent than the budget, the chunks
containing every query term come first, then the rarest term's, up to the budget (and the
other terms' only to reach the requested number). Every candidate is scored with full
BM25 over all query terms, so below the budget the ranking is exact. With a document
filter the candidates are all matches inside those documents, with no budget.

**Why the matches come from ``docpipe_keyword_matches``.** Under row-level security the
planner must apply a policy before any non-LEAKPROOF condition, and ``tsvector @@ tsquery``
is not LEAKPROOF: queried as ``docpipe_app`` it never drives the GIN index (every search
was a sequential scan). That SECURITY DEFINER function (migration 0002) runs the match as
the maintenance role and applies the caller's ``app.tenant_id`` itself.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass

import asyncpg

from docpipe.common.keywords import keyword_text, rank_sql, tsquery_sql, tsvector_sql
from docpipe.query.hits import HIT_COLUMNS, Hit, hit_from_row
from docpipe.query.scope import DocumentScope, Params

__all__ = ["BM25", "keyword_scores", "keyword_search"]

_TENANT = "current_setting('app.tenant_id', true)"


@dataclass(frozen=True)
class BM25:
    """BM25 parameters; ``None`` as the ranking means ``ts_rank`` (for comparisons)."""

    k1: float = 1.2
    b: float = 0.75
    candidate_budget: int = 1_000
    """Most matches fetched through the rarest query terms before scoring (see module doc)."""


@dataclass(frozen=True)
class _Visible:
    """The reader's group rule on each table the ranking reads (``"true"`` for an admin):
    statistics are summed over the visibility classes the reader sees, so no score
    depends on a chunk it cannot read (migration 0007)."""

    corpus: str
    terms: str
    chunks: str

    @classmethod
    def of(cls, scope: DocumentScope, params: Params) -> _Visible:
        return cls(
            corpus=scope.visible("s.access", params),
            terms=scope.visible("t.access", params),
            chunks=scope.visible("c.access", params),
        )


def _bm25_sql(params: BM25, in_scope: str | None, visible: _Visible) -> str:
    """``in_scope``: a condition on ``c`` that bounds the candidates; ``visible``: the
    reader's conditions on the statistics and the chunks (parameters from $4)."""
    k1, b, budget = float(params.k1), float(params.b), int(params.candidate_budget)
    if in_scope:
        candidates = f"""
cand as materialized (
    select c.id, c.keywords, c.keyword_length from chunks c
    where {in_scope} and c.keywords @@ {tsquery_sql("$1", "$2")}
),"""
    else:
        candidates = f"""
pick as (
    select case when capped then all_terms else rare end as first,
           case when capped then {budget} end as first_limit,
           case when capped then rarest else rest end as second,
           case when capped then greatest({budget}, $3) else $3 end as wanted,
           case when capped then others end as third,
           rarest
    from (
        select min(df) > {budget} as capped,
               string_agg(quoted, ' | ') filter (where picked)::tsquery as rare,
               string_agg(quoted, ' | ') filter (where not picked)::tsquery as rest,
               string_agg(quoted, ' | ') filter (where rarity = 1)::tsquery as rarest,
               string_agg(quoted, ' | ') filter (where rarity > 1)::tsquery as others,
               case when count(*) > 1 then string_agg(quoted, ' & ')::tsquery end as all_terms
        from (
            select df, rarity, cum_df <= {budget} as picked,
                   '''' || replace(replace(lexeme, '\\', '\\\\'), '''', '''''') || '''' as quoted
            from terms
        ) t
    ) p
),
first as materialized (
    select * from docpipe_keyword_matches(
        (select first from pick), null, (select first_limit from pick)
    )
),
second as materialized (
    select * from docpipe_keyword_matches(
        (select second from pick), (select first from pick),
        greatest((select wanted from pick) - (select count(*) from first), 0)
    )
),
cand as (
    select * from first
    union all
    select * from second
    union all
    select * from docpipe_keyword_matches(
        (select third from pick), (select rarest from pick),
        greatest($3 - (select count(*) from first) - (select count(*) from second), 0)
    )
),"""
    return f"""
with q as (select tsvector_to_array({tsvector_sql("$1", "$2")}) as terms),
corpus as (
    select greatest(sum(s.chunk_count), 1)::float8 as n,
           greatest(sum(s.keyword_length)::float8 / greatest(sum(s.chunk_count), 1), 1) as avgdl
    from keyword_corpus_stats s where s.tenant_id = {_TENANT} and {visible.corpus}
),
terms as materialized (
    select t.lexeme, t.df, ln(1 + (corpus.n - t.df + 0.5) / (t.df + 0.5)) as idf,
           sum(t.df) over (order by t.df, t.lexeme) as cum_df,
           row_number() over (order by t.df, t.lexeme) as rarity
    from (
        select t.lexeme, sum(t.df)::bigint as df from keyword_term_stats t, q
        where t.tenant_id = {_TENANT} and t.lexeme = any(q.terms) and {visible.terms}
        group by t.lexeme
    ) t, corpus
),
{candidates}
ranked as (
    select cand.id, sum(
        terms.idf * u.tf * {k1 + 1}
        / (u.tf + {k1} * (1 - {b} + {b} * cand.keyword_length / corpus.avgdl))
    ) as rank
    from cand
    cross join lateral (
        select u.lexeme, coalesce(array_length(u.positions, 1), 1)::float8 as tf
        from unnest(ts_filter(
            setweight(cand.keywords, 'A', (select array_agg(lexeme) from terms)), '{{a}}'
        )) u
    ) u
    join terms on terms.lexeme = u.lexeme
    cross join corpus
    group by cand.id
    order by rank desc, cand.id limit $3
)
select {HIT_COLUMNS}, ranked.rank from ranked join chunks c on c.id = ranked.id
join documents d on d.id = c.document_id where {visible.chunks}
order by ranked.rank desc, c.id
"""


def _ts_rank_sql(in_scope: str | None, visible: _Visible) -> str:
    tsquery = tsquery_sql("$1", "$2")
    where = f"c.keywords @@ {tsquery} and {visible.chunks}"
    if in_scope:
        where += f" and {in_scope}"
    return (
        f"select {HIT_COLUMNS}, {rank_sql('c.keywords', tsquery)} as rank"
        " from chunks c join documents d on d.id = c.document_id"
        f" where {where} order by rank desc, c.id limit $3"
    )


async def keyword_search(
    conn: asyncpg.Connection,
    *,
    query: str,
    limit: int,
    scope: DocumentScope | None,
    bm25: BM25 | None = BM25(),
) -> list[Hit]:
    """Up to ``limit`` chunks in ``scope`` containing any query term, best first.

    In a restricted scope every match inside it is scored (no candidate budget), so the
    leg never returns fewer than ``limit`` chunks while more in the scope match.
    """
    words = keyword_text(query)
    if not words.latin and not words.cjk:
        return []
    scope = scope or DocumentScope()
    params = Params(4)
    visible = _Visible.of(scope, params)
    in_scope = None
    if scope.restricted:
        condition, values = scope.sql("c.document_id", first_param=params.next)
        params.values.extend(values)
        in_scope = f"{visible.chunks} and {condition}"
    sql = (
        _bm25_sql(bm25, in_scope, visible) if bm25 is not None else _ts_rank_sql(in_scope, visible)
    )
    rows = await conn.fetch(sql, words.latin, words.cjk, limit, *params.values)
    return [
        hit_from_row(row, score=float(row["rank"]), keyword_score=float(row["rank"]))
        for row in rows
    ]


async def keyword_scores(
    conn: asyncpg.Connection,
    *,
    query: str,
    chunk_ids: Sequence[uuid.UUID],
    bm25: BM25 = BM25(),
    scope: DocumentScope | None = None,
) -> dict[uuid.UUID, float]:
    """The BM25 score of each of ``chunk_ids`` that contains a query term (others: absent).

    Scores are the keyword leg's (same statistics, same formula), so they can be fused
    with the leg's own results (:func:`docpipe.query.fusion.complete_fusion`).
    """
    words = keyword_text(query)
    if not chunk_ids or (not words.latin and not words.cjk):
        return {}
    params = Params(5)
    visible = _Visible.of(scope or DocumentScope(), params)
    sql = _bm25_sql(bm25, f"c.id = any($4::uuid[]) and {visible.chunks}", visible)
    rows = await conn.fetch(
        sql, words.latin, words.cjk, len(chunk_ids), list(chunk_ids), *params.values
    )
    return {row["id"]: float(row["rank"]) for row in rows}
