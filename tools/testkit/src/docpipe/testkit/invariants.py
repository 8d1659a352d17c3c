"""The "nothing lost" invariant: the end state every reliability scenario must leave behind.

:func:`check_nothing_lost` compares S3 (every object version under the tenants' key
prefixes) with Postgres (documents and chunks, read as a superuser so row-level security
hides nothing) and returns the violations (an empty list when all is well):

1. every uploaded object version ends in exactly one document state: its key belongs to
   exactly one document row, and that row is ``completed`` or ``failed`` (not queued,
   processing or awaiting upload) — a ``completed`` one processed the key's latest version;
2. every ``completed`` document has exactly its chunks: ``chunk_count`` rows, ordinals
   ``0..n-1`` without gaps or repeats, the document's tenant, pages within ``1..page_count``
   (or no pages at all, for a document without a page count: Word, HTML, text…);
3. a ``failed`` document has a reason and no chunks; no chunk belongs to a document that
   is not ``completed`` (no orphans) or to another tenant;
4. no document stays in ``processing`` or ``queued`` once the queue has drained.

:func:`assert_nothing_lost` raises with every violation listed.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import asyncpg

from docpipe.common.keys import tenant_prefix

__all__ = ["assert_nothing_lost", "check_nothing_lost", "object_versions"]

TERMINAL = ("completed", "failed")


def object_versions(s3: Any, *, bucket: str, prefix: str) -> dict[str, list[dict[str, Any]]]:
    """Every live object version (delete markers excluded) under ``prefix``, by key."""
    versions: dict[str, list[dict[str, Any]]] = {}
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket, Prefix=prefix):
        for version in page.get("Versions", []):
            versions.setdefault(version["Key"], []).append(version)
    return versions


def _latest(versions: list[dict[str, Any]]) -> str | None:
    latest = [v for v in versions if v.get("IsLatest")]
    return str(latest[0]["VersionId"]) if latest else None


async def _documents(admin: asyncpg.Connection, tenants: list[str]) -> list[asyncpg.Record]:
    rows: list[asyncpg.Record] = await admin.fetch(
        "select d.*, (select count(*) from chunks c where c.document_id = d.id) as n_chunks,"
        " (select count(distinct c.ordinal) from chunks c where c.document_id = d.id)"
        "   as n_ordinals,"
        " (select coalesce(max(c.ordinal), -1) from chunks c where c.document_id = d.id)"
        "   as max_ordinal,"
        " (select count(*) from chunks c where c.document_id = d.id"
        "   and (c.tenant_id <> d.tenant_id or length(c.text) = 0"
        "        or (c.page_start is null) <> (d.page_count is null)"
        "        or c.page_start < 1 or c.page_end < c.page_start"
        "        or c.page_end > d.page_count)) as bad_chunks"
        " from documents d where d.tenant_id = any($1::text[])",
        tenants,
    )
    return rows


def _document_violations(doc: asyncpg.Record) -> list[str]:
    where = f"document {doc['id']} ({doc['filename']}, {doc['status']})"
    problems = []
    n = doc["n_chunks"]
    if doc["status"] not in TERMINAL:
        problems.append(f"{where}: not in a final state")
    if doc["status"] == "completed":
        if doc["chunk_count"] != n or n == 0:
            problems.append(f"{where}: chunk_count {doc['chunk_count']} but {n} chunk rows")
        if doc["n_ordinals"] != n or doc["max_ordinal"] != n - 1:
            problems.append(f"{where}: chunk ordinals are not exactly 0..{n - 1}")
        if doc["bad_chunks"]:
            problems.append(f"{where}: {doc['bad_chunks']} chunks with a wrong tenant or page")
        if doc["claim_token"] is not None or doc["error"] is not None:
            problems.append(f"{where}: completed but still claimed or carrying an error")
    elif n:
        problems.append(f"{where}: {n} orphan chunks")
    if doc["status"] == "failed" and not (doc["error"] or "").strip():
        problems.append(f"{where}: failed without a reason")
    return problems


async def check_nothing_lost(
    admin: asyncpg.Connection,
    s3: Any,
    *,
    bucket: str,
    tenants: Iterable[str],
    uploads_prefix: str = "uploads/",
) -> list[str]:
    """Every violation of the invariant for ``tenants`` (see the module docstring)."""
    tenants = list(tenants)
    problems: list[str] = []
    documents = await _documents(admin, tenants)
    by_key: dict[str, list[asyncpg.Record]] = {}
    for doc in documents:
        by_key.setdefault(doc["storage_key"], []).append(doc)
        problems += _document_violations(doc)
    for tenant in tenants:
        prefix = tenant_prefix(uploads_prefix=uploads_prefix, tenant_id=tenant)
        for key, versions in object_versions(s3, bucket=bucket, prefix=prefix).items():
            owners = by_key.get(key, [])
            if len(owners) != 1:
                problems.append(f"object {key}: {len(versions)} versions, {len(owners)} documents")
                continue
            doc = owners[0]
            latest = _latest(versions)
            if doc["status"] == "completed" and latest and doc["processed_version"] != latest:
                problems.append(
                    f"object {key}: completed from version {doc['processed_version']},"
                    f" latest is {latest}"
                )
    orphans = await admin.fetchval(
        "select count(*) from chunks c left join documents d on d.id = c.document_id"
        " where c.tenant_id = any($1::text[]) and d.id is null",
        tenants,
    )
    if orphans:
        problems.append(f"{orphans} chunks without a document")
    return problems


async def assert_nothing_lost(
    admin: asyncpg.Connection, s3: Any, *, bucket: str, tenants: Iterable[str]
) -> int:
    """Raise AssertionError listing every violation; returns how many documents were checked."""
    tenants = list(tenants)
    problems = await check_nothing_lost(admin, s3, bucket=bucket, tenants=tenants)
    assert not problems, "nothing-lost invariant violated:\n" + "\n".join(problems)
    count: int = await admin.fetchval(
        "select count(*) from documents where tenant_id = any($1::text[])", tenants
    )
    return count
