"""The documents HR teams have, through the local stack's HTTP API (issue 12).

The README's first command runs as a subprocess (`python -m docpipe.devstack.stack`):
uploads go over HTTP to the upload service, S3 (moto) notifies SQS, the worker calls
the processor's Lambda handler, and searches go over HTTP to the query service. Word,
Excel, PowerPoint, HTML, CSV and a scanned (image-only) Traditional Chinese PDF each end
``completed`` and are found by a phrase only they contain; a legacy .doc is refused; a
PDF cut to 60 % is never completed silently; pathological text is answered as fast as
ordinary text and processed in seconds while search keeps answering.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pymupdf
import pytest

from docpipe.testkit import formats
from docpipe.testkit.hostile_files import PATHOLOGICAL_TEXT
from docpipe.testkit.local_stack import StackProcess, running_stack
from tests.e2e.test_local_stack import _wait_final

SCAN_PHRASE = "颱風停班停課"
PHRASES = {
    "leave.docx": "kiwifruitdocx",
    "roster.xlsx": "platypusxlsx",
    "onboarding.pptx": "narwhalpptx",
    "benefits.html": "axolotlhtml",
    "roster.csv": "wombatcsv",
}
SCRIPT_WORD = "scriptonlytoken"


@pytest.fixture(scope="module")
def stack() -> Iterator[StackProcess]:
    with running_stack("docpipe-e2e-formats-") as running:
        yield running


def _scan() -> bytes:
    rng = random.Random(2026)
    text = formats.traditional_chinese_text(rng, chars=240) + SCAN_PHRASE + "。"
    return formats.scanned_pdf(text, dpi=200)


def _uploads() -> list[tuple[str, bytes, str]]:
    csv_text = formats.csv_bytes(tag="e2e", phrase="王大明").decode()
    csv_text = csv_text.replace("王大明", f"王大明 {PHRASES['roster.csv']}")
    return [
        ("leave.docx", formats.docx_bytes(tag="e2e", table_phrase=PHRASES["leave.docx"]), "x"),
        ("roster.xlsx", formats.xlsx_bytes(tag="e2e", phrase=PHRASES["roster.xlsx"]), "x"),
        (
            "onboarding.pptx",
            formats.pptx_bytes(tag="e2e", phrase=PHRASES["onboarding.pptx"], slide=2),
            "x",
        ),
        (
            "benefits.html",
            formats.html_bytes(tag="e2e", phrase=PHRASES["benefits.html"], script_word=SCRIPT_WORD),
            "x",
        ),
        ("roster.csv", csv_text.encode("cp950"), "x"),  # Big5, as Excel in Taiwan saves it
        ("notice-scan.pdf", _scan(), "x"),
    ]


@pytest.fixture(scope="module")
def documents(stack: StackProcess) -> dict[str, dict[str, Any]]:
    files = [("file", (name, data, claimed)) for name, data, claimed in _uploads()]
    with httpx.Client(base_url=stack.info["upload_url"], timeout=60) as http:
        response = http.post("/v1/documents", files=files)
        assert response.status_code == 202, response.text
        uploaded = response.json()["documents"]
        return {d["filename"]: _wait_final(http, d["id"], timeout=180) for d in uploaded}


def _search(stack: StackProcess, query: str, top_k: int = 5) -> list[dict[str, Any]]:
    request = {"query": query, "mode": "keyword", "top_k": top_k}
    response = httpx.post(f"{stack.info['query_url']}/v1/search", json=request, timeout=30)
    assert response.status_code == 200, response.text
    results: list[dict[str, Any]] = response.json()["results"]
    return results


def test_every_format_completes(documents: dict[str, dict[str, Any]]) -> None:
    for name, doc in documents.items():
        assert doc["status"] == "completed", (name, doc["error"])
        assert doc["chunk_count"] > 0
    assert documents["roster.xlsx"]["page_count"] == 2  # one page per sheet
    assert documents["onboarding.pptx"]["page_count"] == 3  # one page per slide
    scan = documents["notice-scan.pdf"]
    assert any("read with OCR" in w for w in scan["warnings"])
    assert any("Big5" in w for w in documents["roster.csv"]["warnings"])
    assert documents["leave.docx"]["warnings"] == []


@pytest.mark.parametrize("name", sorted([*PHRASES, "notice-scan.pdf"]))
def test_a_phrase_only_one_document_contains_finds_it(
    stack: StackProcess, documents: dict[str, dict[str, Any]], name: str
) -> None:
    phrase = PHRASES.get(name, SCAN_PHRASE)
    results = _search(stack, phrase)
    assert results, f"nothing found for {phrase!r}"
    assert results[0]["document_id"] == documents[name]["id"]


def test_a_slide_phrase_cites_its_slide(
    stack: StackProcess, documents: dict[str, dict[str, Any]]
) -> None:
    top = _search(stack, PHRASES["onboarding.pptx"])[0]
    assert top["page_start"] == top["page_end"] == 2


def test_a_spreadsheet_row_carries_its_column_headers(
    stack: StackProcess, documents: dict[str, dict[str, Any]]
) -> None:
    top = _search(stack, PHRASES["roster.xlsx"])[0]
    row = next(line for line in top["text"].splitlines() if PHRASES["roster.xlsx"] in line)
    for header in ("Employee:", "Department:", "Leave type:", "Days:"):
        assert header in row
    csv_row = _search(stack, PHRASES["roster.csv"])[0]["text"]
    assert "姓名: 王大明 wombatcsv | 部門: 財務部" in csv_row


def test_text_inside_script_is_not_indexed(
    stack: StackProcess, documents: dict[str, dict[str, Any]]
) -> None:
    assert _search(stack, SCRIPT_WORD) == []
    assert documents["benefits.html"]["status"] == "completed"


def test_a_legacy_doc_is_refused_with_the_format_to_save_as(stack: StackProcess) -> None:
    files = [("file", ("old.doc", formats.legacy_doc_bytes(), "application/msword"))]
    response = httpx.post(f"{stack.info['upload_url']}/v1/documents", files=files, timeout=30)
    assert response.status_code == 415
    problem = response.json()
    assert ".docx" in problem["detail"] and "Word 97-2003" in problem["detail"]


def test_a_pdf_cut_to_60_percent_fails_with_a_reason_or_completes_with_a_warning(
    stack: StackProcess,
) -> None:
    doc = pymupdf.open()
    for n in range(40):
        doc.new_page().insert_text((72, 72), f"Handbook page {n}: overtime is paid at 1.5x.")
    data = doc.tobytes()
    files = [("file", ("cut.pdf", data[: len(data) * 6 // 10], "application/pdf"))]
    with httpx.Client(base_url=stack.info["upload_url"], timeout=60) as http:
        uploaded = http.post("/v1/documents", files=files).raise_for_status().json()
        final = _wait_final(http, uploaded["documents"][0]["id"], timeout=60)
    if final["status"] == "failed":
        assert final["error"]
    else:
        assert final["status"] == "completed" and final["warnings"], final


def _upload_seconds(http: httpx.Client, files: list[tuple[str, bytes]]) -> tuple[float, list[str]]:
    parts = [("file", (name, data, "text/plain")) for name, data in files]
    started = time.perf_counter()
    response = http.post("/v1/documents", files=parts)
    took = time.perf_counter() - started
    assert response.status_code == 202, response.text
    return took, [d["id"] for d in response.json()["documents"]]


def test_pathological_text_is_answered_fast_and_processed_while_search_answers(
    stack: StackProcess, documents: dict[str, dict[str, Any]]
) -> None:
    hostile = sorted(PATHOLOGICAL_TEXT.items())[:10]
    ordinary = [
        (
            f"ordinary-{n}.txt",
            (f"Ordinary note {n}. " + "Leave is approved. " * 3500).encode()[:65536],
        )
        for n in range(10)
    ]
    searches: list[float] = []
    stop = threading.Event()

    def keep_searching() -> None:
        while not stop.is_set():
            started = time.perf_counter()
            _search(stack, PHRASES["leave.docx"])
            searches.append(time.perf_counter() - started)
            time.sleep(0.2)

    with httpx.Client(base_url=stack.info["upload_url"], timeout=60) as http:
        ordinary_s, _ = _upload_seconds(http, ordinary)
        searcher = threading.Thread(target=keep_searching, daemon=True)
        searcher.start()
        try:
            hostile_s, ids = _upload_seconds(http, [(f"{n}.txt", d) for n, d in hostile])
            started = time.perf_counter()
            finals = [_wait_final(http, doc_id, timeout=60) for doc_id in ids]
            processed_s = time.perf_counter() - started
        finally:
            stop.set()
            searcher.join(timeout=30)
    assert hostile_s < 3 * ordinary_s + 1.0, (hostile_s, ordinary_s)
    assert all(d["status"] in ("completed", "failed") for d in finals)
    assert processed_s < 60
    assert searches and max(searches) < 5.0, searches
