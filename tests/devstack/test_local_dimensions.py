"""The local stack's vector size: 384 for a new data folder, the folder's own otherwise
(a folder created at 1024 keeps working), EMBEDDING_DIMENSIONS when set."""

from __future__ import annotations

import uuid

import asyncpg

from docpipe.devstack.embedded import EmbeddedPostgres
from docpipe.devstack.stack import LOCAL_DIMENSIONS, _migrate


async def _fresh(pg: EmbeddedPostgres) -> EmbeddedPostgres:
    name = f"dims_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(pg.admin_dsn)
    try:
        await admin.execute(f'create database "{name}"')
    finally:
        await admin.close()
    return EmbeddedPostgres(server=pg.server, data_dir=pg.data_dir, database=name)


async def _column_size(db: EmbeddedPostgres) -> int:
    conn = await asyncpg.connect(db.admin_dsn)
    try:
        return int(
            await conn.fetchval(
                "select atttypmod from pg_attribute"
                " where attrelid = 'chunks'::regclass and attname = 'embedding'"
            )
        )
    finally:
        await conn.close()


async def test_a_new_folder_gets_384_and_an_existing_one_keeps_its_size(
    pg: EmbeddedPostgres,
) -> None:
    new = await _fresh(pg)
    assert (await _migrate(new, None))[0] == LOCAL_DIMENSIONS == 384
    assert await _column_size(new) == 384

    older = await _fresh(pg)
    assert (await _migrate(older, 1024))[0] == 1024  # created when 1024 was the default
    dimensions, applied = await _migrate(older, None)  # restarted without the variable
    assert (dimensions, applied) == (1024, [])
    assert await _column_size(older) == 1024
