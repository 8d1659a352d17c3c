"""The README's first command, for real: `python -m docpipe.devstack.stack` as a subprocess.

Upload over HTTP -> S3 (moto) -> SQS -> worker -> the processor's Lambda handler ->
Postgres; then SIGTERM must leave no process behind, and a restart on the same data
folder must bring back the documents and their S3 objects, resume a document that was
in progress, and not reprocess the finished ones.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncpg
import boto3
import httpx
import pymupdf
import pytest

from docpipe.common.keys import document_key
from docpipe.testkit.local_stack import StackProcess, running_stack

PAGES = 12
MARKER = "quetzalcoatlus"  # a word that occurs on one page only
FINAL = {"completed", "failed"}


def _pdf() -> bytes:
    doc = pymupdf.open()
    for n in range(1, PAGES + 1):
        page = doc.new_page()
        words = f"Page {n} of the employee handbook covers leave, payroll and benefits. " * 8
        if n == 7:
            words += f"The {MARKER} is the mascot of the seventh page."
        page.insert_textbox(pymupdf.Rect(50, 50, 550, 800), words, fontsize=11)
    data: bytes = doc.tobytes()
    return data


def _alive(pid: int) -> bool:
    """Running (zombies count as gone: a container's PID 1 may never reap them)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def _group_members(pgids: set[int]) -> list[int]:
    """Live processes whose process group is one of ``pgids`` (grandchildren included)."""
    members = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except (FileNotFoundError, ProcessLookupError):
                continue
            if fields[0] != "Z" and int(fields[2]) in pgids:
                members.append(int(entry.name))
    return members


def _wait_final(http: httpx.Client, doc_id: str, timeout: float = 45.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        doc: dict[str, Any] = http.get(f"/v1/documents/{doc_id}").raise_for_status().json()
        if doc["status"] in FINAL or time.monotonic() > deadline:
            return doc
        time.sleep(0.25)


@pytest.fixture(scope="module")
def stack() -> Iterator[StackProcess]:
    with running_stack("docpipe-e2e-") as running:
        yield running


@pytest.fixture(scope="module")
def pdf() -> bytes:
    return _pdf()


@pytest.fixture(scope="module")
def documents(stack: StackProcess, pdf: bytes) -> dict[str, dict[str, Any]]:
    """A multi-page PDF and a text file, uploaded over HTTP and processed to a final status."""
    files = [
        ("file", ("handbook 2024.pdf", pdf, "application/pdf")),
        ("file", ("notes.txt", b"Plain notes about the office coffee machine.\n", "text/plain")),
    ]
    with httpx.Client(base_url=stack.info["upload_url"], timeout=30) as http:
        response = http.post("/v1/documents", files=files)
        assert response.status_code == 202, response.text
        uploaded = response.json()["documents"]
        return {d["filename"]: _wait_final(http, d["id"]) for d in uploaded}


def test_uploaded_pdf_is_processed_to_completed(documents: dict[str, dict[str, Any]]) -> None:
    doc = documents["handbook 2024.pdf"]
    assert doc["status"] == "completed", doc
    assert doc["page_count"] == PAGES
    assert doc["chunk_count"] > 0
    assert documents["notes.txt"]["status"] == "completed"


def test_search_finds_a_word_from_the_pdf(
    stack: StackProcess, documents: dict[str, dict[str, Any]]
) -> None:
    request = {"query": MARKER, "mode": "keyword", "top_k": 3}
    response = httpx.post(f"{stack.info['query_url']}/v1/search", json=request, timeout=30)
    assert response.status_code == 200, response.text
    results = response.json()["results"]
    assert results, "no search results"
    top = results[0]
    assert top["document_id"] == documents["handbook 2024.pdf"]["id"]
    assert MARKER in top["text"]
    assert top["page_start"] <= 7 <= top["page_end"]


def _large_pdf(megabytes: float) -> bytes:
    """A one-page PDF with text and an incompressible image, about ``megabytes`` large."""
    side = int((megabytes * 1024 * 1024 / 3) ** 0.5)
    doc = pymupdf.open()
    page = doc.new_page()
    page.insert_text((72, 72), "Annex with a scanned floor plan of the head office.")
    pixmap = pymupdf.Pixmap(pymupdf.csRGB, side, side, os.urandom(side * side * 3), False)
    page.insert_image(pymupdf.Rect(72, 100, 540, 700), pixmap=pixmap)
    data: bytes = doc.tobytes()
    return data


def test_cli_uploads_a_folder_and_waits_for_every_document(
    stack: StackProcess, tmp_path: Path
) -> None:
    """`docpipe upload FOLDER --wait`: batches, a refused file, a file over the API's 4 MiB
    (presigned flow), then progress to the last document."""
    for i in range(6):
        (tmp_path / f"policy-{i}.txt").write_text(f"Policy {i} {uuid.uuid4()}: leave rules.\n")
    (tmp_path / "empty.txt").write_bytes(b"")
    (tmp_path / "annex.pdf").write_bytes(_large_pdf(5))
    env = {**os.environ, "UPLOAD_URL": stack.info["upload_url"]}
    command = [sys.executable, "-m", "docpipe.devstack.cli", "upload", str(tmp_path), "--wait"]

    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=180)

    assert done.returncode == 1, done.stdout + done.stderr  # 1: a file was refused
    assert "8 files" in done.stdout and "7 new" in done.stdout and "1 refused" in done.stdout
    assert "1 through a presigned upload" in done.stdout
    assert f"{tmp_path / 'empty.txt'}  the file is empty" in done.stdout
    assert "7 document(s) ended" in done.stdout and "7 completed, 0 failed" in done.stdout
    assert "Processing: 7/7 docs" in done.stderr  # the progress line (stderr is no terminal)


async def _pretend_interrupted(database_url: str, doc_id: str) -> None:
    """As if the stack had died mid-processing: a live claim, no message left in SQS."""
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute(
            "update documents set status = 'processing', claim_token = $2,"
            " processing_started_at = now() where id = $1",
            uuid.UUID(doc_id),
            uuid.uuid4(),
        )
    finally:
        await conn.close()


def test_sigterm_leaves_no_process_and_a_restart_keeps_the_data(
    stack: StackProcess, documents: dict[str, dict[str, Any]], pdf: bytes
) -> None:
    handbook, notes = documents["handbook 2024.pdf"], documents["notes.txt"]
    info = stack.info
    asyncio.run(_pretend_interrupted(info["database_url"], handbook["id"]))
    children = set(info["children"].values())

    assert stack.stop() == 0, stack.tail()
    leftovers = [p for p in {info["postgres_pid"], *children} if _alive(p)]
    assert not leftovers, f"still running after SIGTERM: {leftovers}\n{stack.tail()}"
    assert not _group_members(children), "grandchildren of the stack survived"
    assert not (stack.data_dir / "stack.json").exists()

    log_offset = stack.log.stat().st_size
    info = stack.start()
    with httpx.Client(base_url=info["upload_url"], timeout=30) as http:
        resumed = _wait_final(http, handbook["id"])
        assert resumed["status"] == "completed", f"{resumed}\n{stack.tail()}"
        assert resumed["chunk_count"] == handbook["chunk_count"]
        assert _wait_final(http, notes["id"])["processed_at"] == notes["processed_at"]
    # Restoring the bucket must not notify: the worker never saw the finished document (its
    # messages would have come before the re-queued one, which is done by now).
    with stack.log.open("rb") as log:
        log.seek(log_offset)
        worker_lines = [ln for ln in log.read().decode().splitlines() if "worker-" in ln[:12]]
    assert not [ln for ln in worker_lines if notes["id"] in ln]
    assert [ln for ln in worker_lines if handbook["id"] in ln], "the resumed run was not logged"

    s3 = boto3.client("s3", endpoint_url=info["aws_endpoint_url"], region_name=info["region"])
    key = document_key(
        uploads_prefix="uploads/", tenant_id="default", document_id=uuid.UUID(handbook["id"])
    )
    assert s3.get_object(Bucket=info["bucket"], Key=key)["Body"].read() == pdf

    # The restored object has a new S3 version id and the document was re-pinned to it:
    # reprocessing reads it (and does not take it for a stray version to delete).
    with httpx.Client(base_url=info["upload_url"], timeout=30) as http:
        assert http.post(f"/v1/documents/{handbook['id']}/reprocess").status_code == 202
        again = _wait_final(http, handbook["id"])
        assert again["status"] == "completed", f"{again}\n{stack.tail()}"
    assert s3.get_object(Bucket=info["bucket"], Key=key)["Body"].read() == pdf
