"""The shared detector: one verdict for upload and processor, linear in its input.

Pathological inputs (docpipe.testkit.hostile_files) are judged within a small factor of
ordinary prose of the same size: the bound is relative, so a loaded machine slows both.
"""

from __future__ import annotations

import io
import time
import zipfile

import pytest

from docpipe.common import filetypes
from docpipe.common.filetypes import detect
from docpipe.testkit import formats
from docpipe.testkit.hostile_files import PATHOLOGICAL_TEXT, pathological_text


def _zip(entries: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for name, body in entries.items():
            archive.writestr(name, body)
    return out.getvalue()


ORDINARY = ("Employees accrue annual leave monthly, and requests need approval.\n" * 1100).encode()


def _seconds(data: bytes, repeats: int = 3) -> float:
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        detect(data)
        best = min(best, time.perf_counter() - started)
    return best


@pytest.mark.parametrize("name", sorted(PATHOLOGICAL_TEXT))
def test_pathological_text_is_judged_as_fast_as_prose(name: str) -> None:
    data = PATHOLOGICAL_TEXT[name]
    baseline = _seconds(ORDINARY[: len(data)])
    took = _seconds(data)
    assert took < max(20 * baseline, 0.05), (
        f"{name}: {took * 1000:.1f} ms vs {baseline * 1000:.1f} ms"
    )
    assert detect(data).content_type in (filetypes.PLAIN_TEXT, filetypes.MARKDOWN)


@pytest.mark.parametrize("unit", ["[", "**a ", "[a]("])
def test_detection_time_grows_linearly(unit: str) -> None:
    """A 16x larger input within ~16x the time (quadratic would be 256x; the 2 ms floor
    keeps timer noise on a loaded machine from deciding, and was 22-29 s before)."""
    small = _seconds(pathological_text(unit, size=4 * 1024, lines=True), repeats=5)
    large = _seconds(pathological_text(unit, size=64 * 1024, lines=True), repeats=5)
    assert large < 40 * max(small, 0.002)


@pytest.mark.parametrize(
    ("data", "content_type"),
    [
        (formats.docx_bytes(), filetypes.DOCX),
        (formats.xlsx_bytes(), filetypes.XLSX),
        (formats.pptx_bytes(), filetypes.PPTX),
        (formats.html_bytes(), filetypes.HTML),
        (formats.html_bytes(charset="big5"), filetypes.HTML),
        (formats.csv_bytes(), filetypes.CSV),
        (formats.csv_bytes(encoding="utf-16"), filetypes.CSV),
        (formats.csv_bytes(encoding="cp950"), filetypes.CSV),
    ],
)
def test_every_supported_format_is_recognised_from_its_bytes(
    data: bytes, content_type: str
) -> None:
    assert detect(data, filename="upload.bin").content_type == content_type


def test_a_guessed_encoding_is_flagged_and_a_declared_one_is_not() -> None:
    assert detect(formats.csv_bytes(encoding="cp950")).encoding_guessed
    assert not detect(formats.html_bytes(charset="big5")).encoding_guessed
    assert not detect(formats.csv_bytes(encoding="utf-16")).encoding_guessed


@pytest.mark.parametrize(
    ("data", "names"),
    [
        (formats.legacy_doc_bytes(), ".docx"),
        (formats.legacy_doc_bytes().replace("WordDocument".encode("utf-16-le"), b""), ".docx"),
        (_zip({"mimetype": b"application/vnd.oasis.opendocument.text"}), "OpenDocument"),
        (_zip({"hello.txt": b"hi"}), "ZIP archive"),
        (b"%PDF" + b"\x00\x01" * 10, "unsupported file type"),
        ("Résumé, café. ".encode("latin-1") * 30, "save it as UTF-8"),
    ],
)
def test_refusals_say_what_to_do(data: bytes, names: str) -> None:
    verdict = detect(data)
    assert verdict.content_type is None
    assert verdict.reason is not None and names in verdict.reason


def test_the_name_only_chooses_among_text_types() -> None:
    rows = b"a,b\n1,2\n"
    assert detect(rows, filename="t.csv").content_type == filetypes.CSV
    assert detect(b"# Title\n", filename="notes.md").content_type == filetypes.MARKDOWN
    assert detect(b"\x00\x01\x02", filename="x.csv").content_type is None
    assert detect(b"plain words", filename="report.pdf").content_type == filetypes.PLAIN_TEXT
