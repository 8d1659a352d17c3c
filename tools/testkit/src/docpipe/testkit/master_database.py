"""A database as Aurora hands it over, and one left behind by an older release.

On Aurora the master user owns the database and has CREATEROLE but is no superuser;
superusers skip several privilege checks (function owners' schema privileges, SET ROLE
membership), so migrations are tried as such an owner. The ``vector`` extension is
created by a superuser first, as ``rds_superuser`` does on Aurora.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass

import asyncpg

from docpipe.common.migrations import Migration
from docpipe.devstack.embedded import EmbeddedPostgres

__all__ = ["MasterDatabase", "apply_as_released", "master_database"]


@dataclass(frozen=True)
class MasterDatabase:
    name: str
    master: str  # the owner's role: login, CREATEROLE, no superuser
    server: EmbeddedPostgres

    async def connect(self, *, as_master: bool = True) -> asyncpg.Connection:
        """A connection as the master user (or as the superuser, to check what it left)."""
        if as_master:
            dsn = self.server.dsn(user=self.master, database=self.name)
        else:
            dsn = self.server.dsn(database=self.name)
        conn: asyncpg.Connection = await asyncpg.connect(dsn)
        return conn


@asynccontextmanager
async def master_database(
    server: EmbeddedPostgres, *, prefix: str
) -> AsyncIterator[MasterDatabase]:
    """A fresh database and its master role, both dropped afterwards."""
    database = MasterDatabase(
        f"{prefix}_{uuid.uuid4().hex[:8]}", f"master_{uuid.uuid4().hex[:8]}", server
    )
    admin = await asyncpg.connect(server.admin_dsn)
    try:
        await admin.execute(f"create role {database.master} login createrole")
        # Roles are cluster-wide: let this master administer the ones earlier tests created,
        # as the master that created them on a fresh cluster would.
        await admin.execute(
            "grant docpipe_app, docpipe_maintenance, docpipe_upload, docpipe_query,"
            f" docpipe_processor to {database.master} with admin option"
        )
        await admin.execute(f'create database "{database.name}" owner {database.master}')
    finally:
        await admin.close()
    try:
        superuser = await database.connect(as_master=False)
        await superuser.execute("create extension vector")
        await superuser.close()
        yield database
    finally:
        admin = await asyncpg.connect(server.admin_dsn)
        try:
            await admin.execute(f'drop database "{database.name}" with (force)')
            await admin.execute(f"drop role {database.master}")
        finally:
            await admin.close()


async def apply_as_released(
    conn: asyncpg.Connection, migrations: Sequence[Migration], *, embedding_dimensions: int
) -> None:
    """Apply ``migrations`` and record them as the runner does: the database an older
    release left, for testing what a later migration does to existing rows."""
    await conn.execute(
        "create table schema_migrations (version text primary key, checksum text"
        " not null, embedding_dimensions integer not null, applied_at timestamptz"
        " not null default now())"
    )
    for migration in migrations:
        await conn.execute(migration.sql)
        await conn.execute(
            "insert into schema_migrations values ($1, $2, $3)",
            migration.version,
            migration.checksum,
            embedding_dimensions,
        )
