"""Vector leg: nearest chunks by cosine distance, still ``limit`` rows under a filter.

pgvector applies WHERE clauses (the tenant's row-level security policy, a document
filter) after the HNSW scan, so an index scan can return fewer rows than asked for.
The plan, chosen per query:

- a document scope (``document_ids``, metadata filters: :mod:`docpipe.query.scope`)
  matching at most ``exact_max_rows`` chunks: exact search over just
  those rows (a materialised CTE keeps the planner off the index);
- otherwise the index with ``hnsw.ef_search`` ≥ ``limit``, and on pgvector ≥ 0.8
  ``hnsw.iterative_scan = relaxed_order`` (re-sorted afterwards);
- if that comes back short while more rows match: on pgvector < 0.8 once more with a
  large ``ef_search`` when the matching set is big, and finally exact search — so a
  short answer always means there are no more matching chunks.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass

import asyncpg

from docpipe.query.hits import HIT_COLUMNS, Hit, hit_from_row
from docpipe.query.pgvector_support import VectorSupport
from docpipe.query.scope import DocumentScope

__all__ = ["VectorPlanner", "vector_scores", "vector_search"]

_MAX_EF_SEARCH = 1000  # pgvector's upper bound for hnsw.ef_search


@dataclass(frozen=True)
class VectorPlanner:
    """Tuning of :func:`vector_search` (from QuerySettings)."""

    ef_search: int = 40
    filtered_ef_search: int = 400
    exact_max_rows: int = 20_000


def _restricted(scope: DocumentScope | None) -> bool:
    return scope is not None and scope.restricted


def _filter(scope: DocumentScope | None, first_param: int) -> tuple[str, list[object]]:
    """The WHERE clause of a chunks scan (what the reader sees, in scope), and its
    parameters. No scope: open documents only."""
    condition, args = (scope or DocumentScope()).chunk_filter("", first_param=first_param)
    return (f"where {condition}", args) if condition else ("", [])


def _index_sql(where: str) -> str:
    # MATERIALIZED keeps the (possibly relaxed-order) index scan as is; the outer query sorts.
    return (
        "with nn as materialized (select id, embedding <=> $1 as distance from chunks "
        f"{where} order by distance limit $2) "
        f"select {HIT_COLUMNS}, nn.distance from nn join chunks c on c.id = nn.id "
        "join documents d on d.id = c.document_id order by nn.distance, c.id"
    )


def _exact_sql(where: str) -> str:
    # The materialised CTE has no ORDER BY, so no index scan can serve it: exact distances.
    return (
        "with candidates as materialized (select id, embedding <=> $1 as distance from chunks "
        f"{where}), "
        "nn as (select id, distance from candidates order by distance limit $2) "
        f"select {HIT_COLUMNS}, nn.distance from nn join chunks c on c.id = nn.id "
        "join documents d on d.id = c.document_id order by nn.distance, c.id"
    )


async def _run(
    conn: asyncpg.Connection,
    plan: str,
    vector: list[float],
    limit: int,
    scope: DocumentScope | None,
) -> list[asyncpg.Record]:
    where, scope_args = _filter(scope, 3)
    sql = _exact_sql(where) if plan == "exact" else _index_sql(where)
    rows: list[asyncpg.Record] = await conn.fetch(sql, vector, limit, *scope_args)
    return rows


async def _count(conn: asyncpg.Connection, scope: DocumentScope | None) -> int:
    where, scope_args = _filter(scope, 1)
    return int(await conn.fetchval(f"select count(*) from chunks {where}", *scope_args))


async def _set_ef_search(conn: asyncpg.Connection, ef: int) -> None:
    await conn.execute(
        "select set_config('hnsw.ef_search', $1, true)", str(min(_MAX_EF_SEARCH, ef))
    )


async def _plan_rows(
    conn: asyncpg.Connection,
    *,
    vector: list[float],
    limit: int,
    scope: DocumentScope | None,
    support: VectorSupport,
    planner: VectorPlanner,
) -> tuple[str, list[asyncpg.Record]]:
    """``(plan name, rows)``; the plan name is reported for tests and logs."""
    if _restricted(scope) and await _count(conn, scope) <= planner.exact_max_rows:
        return "exact", await _run(conn, "exact", vector, limit, scope)
    plan = "index"
    if support.iterative_scan:
        plan = "iterative"
        await conn.execute("select set_config('hnsw.iterative_scan', 'relaxed_order', true)")
    await _set_ef_search(conn, max(planner.ef_search, limit))
    rows = await _run(conn, "index", vector, limit, scope)
    if len(rows) >= limit:
        return plan, rows
    matching = await _count(conn, scope)
    if matching <= len(rows):
        return plan, rows
    if not support.iterative_scan and matching > planner.exact_max_rows:
        await _set_ef_search(conn, max(planner.filtered_ef_search, limit * 10))
        rows = await _run(conn, "index", vector, limit, scope)
        if len(rows) >= limit:
            return "index-wide", rows
    return "exact", await _run(conn, "exact", vector, limit, scope)


async def vector_search(
    conn: asyncpg.Connection,
    *,
    vector: Sequence[float],
    limit: int,
    scope: DocumentScope | None,
    support: VectorSupport,
    planner: VectorPlanner,
) -> tuple[str, list[Hit]]:
    """``(plan, hits)``: up to ``limit`` nearest chunks visible in this transaction.

    ``conn`` is inside a tenant transaction; settings are changed with ``is_local`` only.
    """
    query = [float(x) for x in vector]
    plan, rows = await _plan_rows(
        conn,
        vector=query,
        limit=limit,
        scope=scope,
        support=support,
        planner=planner,
    )
    hits = []
    for row in rows:
        similarity = 1.0 - float(row["distance"])
        hits.append(hit_from_row(row, score=similarity, similarity=similarity))
    return plan, hits


async def vector_scores(
    conn: asyncpg.Connection,
    *,
    vector: Sequence[float],
    chunk_ids: Sequence[uuid.UUID],
    scope: DocumentScope | None = None,
) -> dict[uuid.UUID, float]:
    """Cosine similarity of each of ``chunk_ids`` the reader sees to ``vector`` (exact;
    by primary key)."""
    if not chunk_ids:
        return {}
    visible, args = (scope or DocumentScope()).chunk_filter("", first_param=3)
    rows = await conn.fetch(
        "select id, 1 - (embedding <=> $1) as similarity from chunks where id = any($2::uuid[])"
        + (f" and {visible}" if visible else ""),
        [float(x) for x in vector],
        list(chunk_ids),
        *args,
    )
    return {row["id"]: float(row["similarity"]) for row in rows}
