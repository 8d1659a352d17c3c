"""Versioned SQL migrations, applied in file-name order by :func:`apply_migrations`.

Each ``NNNN_name.sql`` file runs once, inside one transaction, under an advisory lock so
concurrent runners (two deploys, a test and the local stack) cannot interleave. Applied
files are recorded with their checksum; editing an applied file is refused rather than
silently ignored.

:func:`migration_manifest` names the schema a piece of code expects (each file's version
and the SHA-256 of its bytes). The Pulumi program computes it from the deployer's
checkout and the migration function from the files baked into its image, with this same
function, so the two can be compared before anything is applied.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from importlib.resources.abc import Traversable

import asyncpg

from docpipe.common.exceptions import MigrationError

__all__ = [
    "SERVICE_ROLES",
    "Migration",
    "apply_migrations",
    "load_migrations",
    "manifest_fingerprint",
    "manifest_mismatch",
    "migration_manifest",
]

_LOCK_KEY = 0x646F6370  # "docp": one advisory lock for every runner
#: Each service's login role (migration 0007), by service name.
SERVICE_ROLES: dict[str, str] = {
    "upload": "docpipe_upload",
    "query": "docpipe_query",
    "processor": "docpipe_processor",
}


@dataclass(frozen=True)
class Migration:
    version: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


def _sql_files() -> list[Traversable]:
    return sorted(
        (f for f in resources.files(__package__).iterdir() if f.name.endswith(".sql")),
        key=lambda f: f.name,
    )


def migration_manifest() -> dict[str, str]:
    """Version → SHA-256 of the packaged file's bytes, in version order."""
    return {
        f.name.removesuffix(".sql"): hashlib.sha256(f.read_bytes()).hexdigest()
        for f in _sql_files()
    }


def manifest_fingerprint(manifest: dict[str, str]) -> str:
    """One SHA-256 over a manifest (order-independent), for triggers and logs."""
    text = "\n".join(f"{version} {digest}" for version, digest in sorted(manifest.items()))
    return hashlib.sha256(text.encode()).hexdigest()


def manifest_mismatch(*, expected: dict[str, str], carried: dict[str, str]) -> str | None:
    """Why ``carried`` (this code's migrations) is not the schema ``expected``; None if it is."""
    missing = sorted(set(expected) - set(carried))
    extra = sorted(set(carried) - set(expected))
    edited = sorted(v for v in set(expected) & set(carried) if expected[v] != carried[v])
    problems = [
        f"{label}: {', '.join(versions)}"
        for label, versions in (
            ("expected but not carried", missing),
            ("carried but not expected", extra),
            ("different content", edited),
        )
        if versions
    ]
    return "; ".join(problems) or None


def load_migrations(*, embedding_dimensions: int) -> list[Migration]:
    """Read the packaged ``*.sql`` files with the embedding dimension substituted."""
    files = _sql_files()
    return [
        Migration(
            version=f.name.removesuffix(".sql"),
            sql=f.read_text("utf-8").replace(
                "{embedding_dimensions}", str(int(embedding_dimensions))
            ),
        )
        for f in files
    ]


async def apply_migrations(
    conn: asyncpg.Connection,
    *,
    embedding_dimensions: int,
    role_passwords: Mapping[str, str] | None = None,
) -> list[str]:
    """Apply pending migrations as the schema owner; return the versions applied.

    ``role_passwords`` (AWS: role name → password, from each role's secret) sets the login
    password of the services' roles; locally the embedded server trusts its Unix socket
    and no password is needed. Only the roles of :data:`SERVICE_ROLES` may be named.
    """
    await conn.execute("select pg_advisory_lock($1)", _LOCK_KEY)
    try:
        await conn.execute(
            "create table if not exists schema_migrations ("
            " version text primary key, checksum text not null,"
            " embedding_dimensions integer not null,"
            " applied_at timestamptz not null default now())"
        )
        applied = {
            r["version"]: r
            for r in await conn.fetch(
                "select version, checksum, embedding_dimensions from schema_migrations"
            )
        }
        done: list[str] = []
        for migration in load_migrations(embedding_dimensions=embedding_dimensions):
            row = applied.get(migration.version)
            if row is not None:
                _check_unchanged(migration, row, embedding_dimensions)
                continue
            async with conn.transaction():
                await conn.execute(migration.sql)
                await conn.execute(
                    "insert into schema_migrations (version, checksum, embedding_dimensions)"
                    " values ($1, $2, $3)",
                    migration.version,
                    migration.checksum,
                    embedding_dimensions,
                )
            done.append(migration.version)
        for role, password in (role_passwords or {}).items():
            await _set_password(conn, role=role, password=password)
        return done
    finally:
        await conn.execute("select pg_advisory_unlock($1)", _LOCK_KEY)


async def _set_password(conn: asyncpg.Connection, *, role: str, password: str) -> None:
    if role not in SERVICE_ROLES.values():
        raise MigrationError(f"{role!r} is not a service role; refusing to set its password")
    if not password:
        raise MigrationError(f"the secret of {role} has an empty password")
    statement = await conn.fetchval(
        "select format('alter role %I password %L', $1::text, $2::text)", role, password
    )
    await conn.execute(statement)


def _check_unchanged(migration: Migration, row: asyncpg.Record, dimensions: int) -> None:
    if row["embedding_dimensions"] != dimensions:
        raise MigrationError(
            f"the database was created with EMBEDDING_DIMENSIONS={row['embedding_dimensions']},"
            f" not {dimensions}; changing the dimension needs a new migration and re-embedding"
        )
    if row["checksum"] != migration.checksum:
        raise MigrationError(
            f"migration {migration.version} was edited after it was applied;"
            " add a new migration instead"
        )
