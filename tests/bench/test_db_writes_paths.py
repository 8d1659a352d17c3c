"""The chunk-write benchmark's two paths work on the current schema, as the services' roles.

`make bench-db-writes` takes ~10 minutes, so it is not a test; but its write paths are
only worth measuring while they can run at all. Migration 0007's per-service roles once
broke the benchmark (the processor's role may not create documents) with nothing to say
so until the next run. This runs both paths on a few chunks against the suite's database.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import asyncpg
import pytest

from bench.db_writes import TENANT, Pools, _chunks, docpipe_path, row_by_row
from docpipe.common.db import _init_connection
from docpipe.devstack.embedded import EmbeddedPostgres
from tests.conftest import TEST_DIMENSIONS


@pytest.fixture
async def pools(migrated: EmbeddedPostgres) -> AsyncIterator[Pools]:
    upload, processor = [
        await asyncpg.create_pool(
            migrated.role_dsn(role), min_size=1, max_size=1, init=_init_connection
        )
        for role in ("upload", "processor")
    ]
    yield Pools(upload=upload, processor=processor)
    await upload.close()
    await processor.close()


@pytest.mark.parametrize("path", [docpipe_path, row_by_row], ids=["docpipe", "row_by_row"])
async def test_write_path_stores_every_chunk(
    path: Callable[[Pools, list[Any]], Awaitable[float]],
    pools: Pools,
    admin_conn: asyncpg.Connection,
) -> None:
    chunks = _chunks(12, TEST_DIMENSIONS, seed=7)
    before = await admin_conn.fetchval(
        "select count(*) from documents where tenant_id = $1", TENANT
    )
    elapsed = await path(pools, chunks)
    assert elapsed > 0
    document = await admin_conn.fetchrow(
        "select id, status, chunk_count from documents where tenant_id = $1"
        " order by created_at desc limit 1",
        TENANT,
    )
    assert (
        await admin_conn.fetchval("select count(*) from documents where tenant_id = $1", TENANT)
        == before + 1
    )
    assert (document["status"], document["chunk_count"]) == ("completed", len(chunks))
    stored = await admin_conn.fetch(
        "select ordinal, text, length(keywords) > 0 as indexed from chunks"
        " where document_id = $1 order by ordinal",
        document["id"],
    )
    assert [(r["ordinal"], r["text"], r["indexed"]) for r in stored] == [
        (c.ordinal, c.text, True) for c in chunks
    ]
