"""What the connected pgvector can do, detected once per pool.

pgvector 0.8 (Aurora PostgreSQL 16) has iterative index scans, which keep scanning the
HNSW graph until enough rows pass a filter; 0.6 (pgserver's bundle) stops after
``hnsw.ef_search`` candidates, so filtered searches need other means (see
:mod:`docpipe.query.vector`).
"""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg

from docpipe.common.runtime import loop_resources

__all__ = ["VectorSupport", "parse_version", "vector_support"]


@dataclass(frozen=True)
class VectorSupport:
    version: tuple[int, ...]

    @property
    def iterative_scan(self) -> bool:
        return self.version >= (0, 8)


def parse_version(text: str) -> tuple[int, ...]:
    """``"0.6.2"`` → ``(0, 6, 2)`` (non-numeric suffixes are ignored)."""
    parts: list[int] = []
    for piece in text.split("."):
        digits = "".join(ch for ch in piece if ch.isdigit())
        if not digits:
            break
        parts.append(int(digits))
    return tuple(parts)


async def vector_support(conn: asyncpg.Connection, *, pool: asyncpg.Pool) -> VectorSupport:
    """The extension's capabilities, queried on the first call for ``pool`` (kept with the
    loop's pools)."""
    cache: dict[asyncpg.Pool, VectorSupport] = loop_resources().setdefault("pgvector-support", dict)
    if pool not in cache:
        version = await conn.fetchval(
            "select extversion from pg_extension where extname = 'vector'"
        )
        cache[pool] = VectorSupport(parse_version(str(version or "0")))
    return cache[pool]
