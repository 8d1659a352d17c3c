"""Keyword leg: full-text matches over the application-tokenized ``chunks.keywords``, BM25-ranked.

The query goes through the same tokenizer as the chunks (:mod:`docpipe.common.keywords`:
English stemming and stop words, CJK character bigrams), its terms are ORed, and the
GIN index finds the matching chunks. Those are ranked with Okapi BM25 computed in SQL
from the tsvectors themselves (``ts_rank`` is not BM25: it has no inverse document
frequency, so a common word counts as much as a rare one):

- term frequency ``tf``: the number of positions of the lexeme in the chunk's tsvector;
- document frequency ``df``: how many of the tenant's chunks contain the term — exactly
  the matches of the OR query that contain it, so it costs nothing beyond the match;
- ``N`` and the average chunk length: the tenant's chunks (row-level security scopes
  every count to the caller); chunk length = its number of distinct lexemes.

``idf = ln(1 + (N − df + 0.5) / (df + 0.5))`` (Lucene's, never negative). With a
document filter the statistics stay tenant-wide; only the ranked rows are filtered.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass

import asyncpg

from docpipe.common.keywords import keyword_text, rank_sql, tsquery_sql, tsvector_sql
from docpipe.query.hits import HIT_COLUMNS, Hit, hit_from_row

__all__ = ["BM25", "keyword_search"]


@dataclass(frozen=True)
class BM25:
    """BM25 parameters; ``None`` as the ranking means ``ts_rank`` (for comparisons)."""

    k1: float = 1.2
    b: float = 0.75


def _bm25_sql(params: BM25, filtered: bool) -> str:
    k1, b = float(params.k1), float(params.b)
    keep = " where m.document_id = any($4::uuid[])" if filtered else ""
    return f"""
with q as (select tsvector_to_array({tsvector_sql("$1", "$2")}) as terms),
corpus as (
    select count(*)::float8 as n, greatest(avg(length(keywords)), 1)::float8 as avgdl
    from chunks
),
m as materialized (
    select c.id, c.document_id, c.keywords from chunks c
    where c.keywords @@ {tsquery_sql("$1", "$2")}
),
tf as (
    select m.id, u.lexeme, coalesce(array_length(u.positions, 1), 1)::float8 as tf
    from m, q, unnest(m.keywords) u where u.lexeme = any(q.terms)
),
df as (select lexeme, count(*)::float8 as df from tf group by lexeme),
ranked as (
    select m.id, sum(
        ln(1 + (corpus.n - df.df + 0.5) / (df.df + 0.5))
        * tf.tf * {k1 + 1} / (tf.tf + {k1} * (1 - {b} + {b} * length(m.keywords) / corpus.avgdl))
    ) as rank
    from m join tf on tf.id = m.id join df on df.lexeme = tf.lexeme cross join corpus{keep}
    group by m.id
    order by rank desc, m.id limit $3
)
select {HIT_COLUMNS}, ranked.rank from ranked join chunks c on c.id = ranked.id
join documents d on d.id = c.document_id order by ranked.rank desc, c.id
"""


def _ts_rank_sql(filtered: bool) -> str:
    tsquery = tsquery_sql("$1", "$2")
    where = f"c.keywords @@ {tsquery}"
    if filtered:
        where += " and c.document_id = any($4::uuid[])"
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
    document_ids: Sequence[uuid.UUID] | None,
    bm25: BM25 | None = BM25(),
) -> list[Hit]:
    """Up to ``limit`` chunks containing any query term, best first."""
    words = keyword_text(query)
    if not words.latin and not words.cjk:
        return []
    args: list[object] = [words.latin, words.cjk, limit]
    if document_ids:
        args.append(list(document_ids))
    filtered = bool(document_ids)
    sql = _bm25_sql(bm25, filtered) if bm25 is not None else _ts_rank_sql(filtered)
    rows = await conn.fetch(sql, *args)
    return [
        hit_from_row(row, score=float(row["rank"]), keyword_score=float(row["rank"]))
        for row in rows
    ]
