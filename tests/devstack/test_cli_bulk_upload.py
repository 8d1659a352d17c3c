"""``docpipe upload`` and ``docpipe wait`` against the real upload service (in-process
ASGI) with Postgres and moto S3: batching, isolation of refused files, the presigned
flow for large files, and following documents to their final status.

The local stack's end-to-end test (tests/e2e/test_local_stack.py) runs the command
itself against a running stack, with the processor doing the work.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import boto3
import httpx
import pytest

from docpipe.common.keys import document_key
from docpipe.devstack.bulk_upload import FileResult, UploadOptions, upload_files
from docpipe.devstack.embedded import AwsResources, EmbeddedPostgres
from docpipe.devstack.file_selection import select_files
from docpipe.devstack.tracking import track
from docpipe.testkit.tokens import ISSUER, sign
from docpipe.upload.config import UploadSettings
from docpipe.upload.main import create_app

KIB = 1024
API_LIMIT = 64 * KIB
PDF_HEAD = b"%PDF-1.4\n% bulk upload test\n"


@pytest.fixture
def settings(migrated: EmbeddedPostgres, aws: AwsResources) -> UploadSettings:
    return UploadSettings(  # type: ignore[call-arg]
        auth_mode="none", max_api_upload_bytes=API_LIMIT, max_files_per_request=4
    )


@pytest.fixture
async def clients(settings: UploadSettings) -> AsyncIterator[tuple[httpx.AsyncClient, Any]]:
    transport = httpx.ASGITransport(app=create_app(settings))
    async with (
        httpx.AsyncClient(transport=transport, base_url="http://upload.test") as api,
        httpx.AsyncClient() as storage,
    ):
        yield api, storage


def _unique(label: str, size: int = 0) -> bytes:
    text = f"{label} {uuid.uuid4()} annual leave policy.\n"
    return (text * (size // len(text) + 1)).encode()[: max(size, len(text))]


def _tree(root: Path) -> dict[str, bytes]:
    files = {f"notes/n{i:02d}.txt": _unique(f"note {i}") for i in range(9)}
    files |= {
        "notes/copy-of-n00.txt": files["notes/n00.txt"],  # same bytes: a duplicate
        "guide.md": b"# Guide\n\n- one\n- [two](https://example.com)\n" + _unique("g"),
        "empty.txt": b"",
        "picture.png": b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4,
        "annex.pdf": PDF_HEAD + _unique("annex", 3 * API_LIMIT),  # presigned
        ".hidden/secret.txt": _unique("never sent"),
    }
    for name, data in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(data)
    return files


def _by_name(results: list[FileResult]) -> dict[str, FileResult]:
    return {r.path.name: r for r in results}


async def test_a_folder_is_uploaded_in_batches_with_refusals_and_a_presigned_file(
    clients: tuple[httpx.AsyncClient, Any], tmp_path: Path, aws: AwsResources
) -> None:
    api, storage = clients
    _tree(tmp_path)
    selection = select_files([str(tmp_path)])
    assert not any(".hidden" in str(p) for p in selection.files)
    seen: list[FileResult] = []
    options = UploadOptions(files_per_request=4, request_bytes=API_LIMIT, parallel=3)

    results = await upload_files(
        selection.files, api=api, storage=storage, options=options, progress=seen.extend
    )

    assert sorted(r.path for r in seen) == sorted(selection.files)  # each reported once
    by_name = _by_name(results)
    assert by_name["empty.txt"].refused == "the file is empty"
    assert "not a PDF" in str(by_name["picture.png"].refused)
    stored = [r for r in results if r.document is not None]
    assert len(stored) == 12 and all(r.refused is None for r in stored)
    duplicates = [r for r in stored if r.duplicate]
    assert len(duplicates) == 1
    twins = [by_name["copy-of-n00.txt"], by_name["n00.txt"]]  # in path order
    assert [t.duplicate for t in twins] == [False, True]
    assert twins[0].document is not None and twins[1].document is not None
    assert twins[0].document["id"] == twins[1].document["id"]
    annex = by_name["annex.pdf"]
    assert annex.presigned and annex.document is not None
    s3 = boto3.client("s3", endpoint_url=aws.endpoint_url, region_name="ap-northeast-1")
    key = document_key(
        uploads_prefix="uploads/", tenant_id="default", document_id=uuid.UUID(annex.document["id"])
    )
    assert (
        s3.get_object(Bucket=aws.bucket, Key=key)["Body"].read()
        == (tmp_path / "annex.pdf").read_bytes()
    )


async def test_a_file_the_service_refuses_is_isolated_and_the_rest_stored(
    clients: tuple[httpx.AsyncClient, Any], tmp_path: Path
) -> None:
    api, storage = clients
    good = [tmp_path / f"ok-{i}.txt" for i in range(7)]
    for path in good:
        path.write_bytes(_unique(path.name))
    nameless = tmp_path / "..."  # nothing is left of this name once sanitised: 422
    nameless.write_bytes(_unique("nameless"))
    paths = sorted([*good, nameless])

    results = await upload_files(
        paths, api=api, storage=storage, options=UploadOptions(files_per_request=8)
    )

    by_name = _by_name(results)
    assert "HTTP 422" in str(by_name["..."].refused)
    assert all(by_name[p.name].document is not None for p in good)


async def test_limits_larger_than_the_service_allows_fall_back_on_their_own(
    clients: tuple[httpx.AsyncClient, Any], tmp_path: Path
) -> None:
    """The CLI's defaults (10 files, 4 MiB) against a service configured for 4 and 64 KiB."""
    api, storage = clients
    paths = []
    for i in range(9):
        paths.append(tmp_path / f"s{i}.txt")
        paths[-1].write_bytes(_unique(f"s{i}", 20 * KIB))
    paths.append(tmp_path / "large.txt")
    paths[-1].write_bytes(_unique("large", 100 * KIB))

    results = await upload_files(paths, api=api, storage=storage, options=UploadOptions())

    assert all(r.document is not None and r.refused is None for r in results), results
    assert [r.path.name for r in results if r.presigned] == ["large.txt"]


async def test_wait_follows_documents_to_their_final_status(
    clients: tuple[httpx.AsyncClient, Any], admin_conn: asyncpg.Connection, tmp_path: Path
) -> None:
    api, storage = clients
    paths = []
    for i in range(60):  # more than the direct-read threshold: the listing path is used
        paths.append(tmp_path / f"w{i:02d}.txt")
        paths[-1].write_bytes(_unique(f"w{i}"))
    results = await upload_files(paths, api=api, storage=storage, options=UploadOptions())
    ids = [r.document["id"] for r in results if r.document is not None]
    assert len(ids) == 60
    # The processor's outcomes, written as it writes them (no worker runs in this test).
    await admin_conn.execute(
        "update documents set status = 'completed', processed_at = now() where id = any($1)",
        [uuid.UUID(i) for i in ids[:50]],
    )
    await admin_conn.execute(
        "update documents set status = 'failed', error = 'unreadable' where id = $1",
        uuid.UUID(ids[50]),
    )
    updates: list[int] = []

    tracked = await track(
        api, ids, timeout_s=1.5, interval_s=0.2, progress=lambda t: updates.append(len(t.final))
    )

    assert tracked.completed == 50
    assert [d["error"] for d in tracked.failed] == ["unreadable"]
    assert tracked.pending == set(ids[51:])  # still queued when the timeout came
    assert updates and updates[-1] == 51

    await admin_conn.execute(
        "update documents set status = 'completed' where id = any($1)",
        [uuid.UUID(i) for i in ids[51:]],
    )
    await admin_conn.execute("delete from documents where id = $1", uuid.UUID(ids[59]))
    tracked = await track(api, ids[51:], timeout_s=5, interval_s=0.1)
    assert not tracked.pending and tracked.completed == 8
    assert tracked.final[ids[59]]["status"] == "failed"  # deleted meanwhile


async def test_the_uploads_per_minute_quota_is_waited_out(
    migrated: EmbeddedPostgres, aws: AwsResources, tmp_path: Path
) -> None:
    """A 429 of the tenant's uploads-per-minute quota costs a wait, not a refused file."""
    secret = "q" * 32
    settings = UploadSettings(  # type: ignore[call-arg]
        auth_mode="jwt",
        jwt_secret=secret,
        jwt_issuer=ISSUER,
        quota_uploads_per_minute=60,
        max_files_per_request=8,
    )
    token = sign(secret, f"quota-{uuid.uuid4().hex[:8]}")
    paths = [tmp_path / f"f{i:02d}.txt" for i in range(64)]  # 8 more than the burst allows
    for path in paths:
        path.write_bytes(_unique(path.name))
    transport = httpx.ASGITransport(app=create_app(settings))
    async with (
        httpx.AsyncClient(
            transport=transport,
            base_url="http://upload.test",
            headers={"Authorization": f"Bearer {token}"},
        ) as api,
        httpx.AsyncClient() as storage,
    ):
        first = await api.post("/v1/documents", files=[("file", ("probe.txt", b"probe"))])
        assert first.status_code == 202, first.text
        results = await upload_files(
            paths,
            api=api,
            storage=storage,
            options=UploadOptions(files_per_request=8, parallel=1, retries=0),
        )
    assert [r.refused for r in results if r.refused] == []
    assert sum(r.document is not None for r in results) == 64
