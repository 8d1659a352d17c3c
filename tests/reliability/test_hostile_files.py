"""Hostile and broken files through the real processor handler, in SQS batches.

Every file ends ``completed`` or ``failed`` with a reason (as its family predicts) within a
bounded time, the handler never raises or hangs, no extraction child outlives its
document, and the control document placed in every batch completes with exactly its
chunks. The default suite runs a sample of every family; ``-m slow`` runs all of them.
"""

from __future__ import annotations

import time
import uuid
from functools import cache
from typing import Any

import asyncpg
import pytest

from docpipe.devstack.embedded import AwsResources
from docpipe.processor import handler as processor
from docpipe.processor import sandbox
from docpipe.testkit.documents import StoredDoc, put_document
from docpipe.testkit.hostile_files import HostileFile, fast_sample, hostile_files
from docpipe.testkit.invariants import assert_nothing_lost
from docpipe.testkit.processes import extraction_children, sandbox_servers
from tests.reliability.conftest import batch, failed_ids, good_text, reload

MAX_BYTES = 2 << 20
MAX_PAGES = 50
TIMEOUT_S = 20
MEMORY_MB = 256
BATCH = 10  # SQS's largest batch: 9 hostile files and one control document


@cache
def _all_files() -> list[HostileFile]:
    return hostile_files(max_bytes=MAX_BYTES, max_pages=MAX_PAGES)


async def _deliver(event: dict[str, Any], bound_s: float) -> list[int]:
    started = time.perf_counter()
    result = await processor.handle_event(event)
    elapsed = time.perf_counter() - started
    assert elapsed < bound_s, f"a batch took {elapsed:.0f} s (bound {bound_s:.0f} s)"
    return failed_ids(event, result)


async def _run_batch(bucket: str, docs: list[StoredDoc], files: list[HostileFile | None]) -> None:
    """Deliver one batch like SQS does, redelivering reported failures (at most 5 receives)."""
    pdfs = sum(1 for f in files if f is not None and f.is_pdf_like)
    bound = 30 + pdfs * (TIMEOUT_S + 15)
    pending = list(range(len(docs)))
    for receive in range(1, 6):
        event = batch(bucket, [docs[i] for i in pending], receive_count=receive)
        failed = await _deliver(event, bound)
        pending = [pending[i] for i in failed]
        if not pending:
            return


def _check_outcome(hostile: HostileFile, row: dict[str, Any]) -> str | None:
    status, error = row["status"], row["error"] or ""
    if status not in ("completed", "failed"):
        return f"{hostile.case}: left {status}"
    if status == "failed" and not error.strip():
        return f"{hostile.case}: failed without a reason"
    if hostile.expect != "either" and status != hostile.expect:
        return f"{hostile.case}: expected {hostile.expect}, got {status} ({error})"
    if status == "failed" and hostile.reason and hostile.reason not in error.lower():
        return f"{hostile.case}: reason {error!r} lacks {hostile.reason!r}"
    return None


async def _run_hostile(
    files: list[HostileFile],
    *,
    admin: asyncpg.Connection,
    s3: Any,
    bucket: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name, value in {
        "MAX_DOCUMENT_BYTES": MAX_BYTES,
        "MAX_PAGES": MAX_PAGES,
        "EXTRACTION_TIMEOUT_SECONDS": TIMEOUT_S,
        "EXTRACTION_MEMORY_MB": MEMORY_MB,
    }.items():
        monkeypatch.setenv(name, str(value))
    reload(monkeypatch)
    tenant = f"hostile-{uuid.uuid4().hex[:8]}"
    problems: list[str] = []
    controls: list[StoredDoc] = []
    for start in range(0, len(files), BATCH - 1):
        group: list[HostileFile | None] = list(files[start : start + BATCH - 1])
        group.insert(start % len(group), None)  # the control document, at a varying position
        docs = []
        for hostile in group:
            data = good_text(f"{start}") if hostile is None else hostile.data
            name = "control.txt" if hostile is None else hostile.case
            doc = await put_document(
                admin,
                s3,
                bucket,
                tenant=tenant,
                data=data,
                filename=name,
                status="awaiting_upload",  # the presigned flow: no check before S3
            )
            docs.append(doc)
        await _run_batch(bucket, docs, group)
        # Idle servers are kept on purpose (a fork server imports PyMuPDF once); a
        # document's child must be gone once its document is done, the idle pool bounded.
        servers, children = sandbox_servers(), extraction_children()
        assert children == [], "an extraction child outlived its document"
        assert len(servers) <= sandbox.MAX_IDLE_SERVERS, f"idle sandbox servers pile up: {servers}"
        for hostile, doc in zip(group, docs, strict=True):
            row = await admin.fetchrow("select * from documents where id = $1", doc.id)
            assert row is not None
            if hostile is None:
                controls.append(doc)
                if row["status"] != "completed":
                    problems.append(f"control document of batch {start}: {row['status']}")
            elif (problem := _check_outcome(hostile, dict(row))) is not None:
                problems.append(problem)
    assert not problems, "\n".join(problems)
    assert await assert_nothing_lost(admin, s3, bucket=bucket, tenants=[tenant]) == (
        len(files) + len(controls)
    )


def test_the_generator_makes_over_200_distinct_files() -> None:
    files = _all_files()
    assert len(files) >= 200
    assert len({f.case for f in files}) == len(files)
    families = {f.family for f in files}
    for family in (
        "truncated-pdf",
        "xref",
        "stream",
        "encrypted",
        "tiny",
        "not-pdf",
        "page-count",
        "page-tree",
        "bomb",
        "long-line",
        "invalid-utf8",
        "size-cap",
    ):
        assert family in families


async def test_hostile_sample_ends_completed_or_failed(
    processor_env: pytest.MonkeyPatch,
    admin_conn: asyncpg.Connection,
    s3: Any,
    rel_aws: AwsResources,
) -> None:
    sample = fast_sample(_all_files())
    assert len(sample) >= 30
    await _run_hostile(
        sample, admin=admin_conn, s3=s3, bucket=rel_aws.bucket, monkeypatch=processor_env
    )


@pytest.mark.slow
@pytest.mark.timeout(3600)
async def test_every_hostile_file_ends_completed_or_failed(
    processor_env: pytest.MonkeyPatch,
    admin_conn: asyncpg.Connection,
    s3: Any,
    rel_aws: AwsResources,
) -> None:
    await _run_hostile(
        _all_files(), admin=admin_conn, s3=s3, bucket=rel_aws.bucket, monkeypatch=processor_env
    )
