"""Keyword leg: full-text matches over the application-tokenized ``chunks.keywords``.

The query goes through the same tokenizer as the chunks (:mod:`docpipe.common.keywords`:
English stemming and stop words, CJK character bigrams), its terms are ORed, and the
GIN index finds the matching chunks; ranking is :func:`docpipe.common.keywords.rank_sql`.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

import asyncpg

from docpipe.common.keywords import keyword_text, rank_sql, tsquery_sql
from docpipe.query.hits import HIT_COLUMNS, Hit, hit_from_row

__all__ = ["keyword_search"]


def _sql(document_ids: Sequence[uuid.UUID] | None) -> str:
    tsquery = tsquery_sql("$1", "$2")
    where = f"c.keywords @@ {tsquery}"
    if document_ids:
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
) -> list[Hit]:
    """Up to ``limit`` chunks containing any query term, best first."""
    words = keyword_text(query)
    if not words.latin and not words.cjk:
        return []
    args: list[object] = [words.latin, words.cjk, limit]
    if document_ids:
        args.append(list(document_ids))
    rows = await conn.fetch(_sql(document_ids), *args)
    return [
        hit_from_row(row, score=float(row["rank"]), keyword_score=float(row["rank"]))
        for row in rows
    ]
