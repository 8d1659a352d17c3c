"""Filename sanitising, content-type detection and cursors of the upload service."""

from __future__ import annotations

import unicodedata
import uuid
from datetime import UTC, datetime
from urllib.parse import unquote

import pytest

from docpipe.common.documents import Document, object_metadata
from docpipe.common.filetypes import SNIFF_BYTES, detect_content_type
from docpipe.upload.exceptions import EmptyFile, InvalidCursor, InvalidFilename, UnsupportedType
from docpipe.upload.pagination import decode_cursor, encode_cursor
from docpipe.upload.validation import (
    MAX_FILENAME_BYTES,
    check_content,
    check_declared_type,
    sanitize_filename,
)


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("report.pdf", "report.pdf"),
        ("../../etc/passwd", "passwd"),
        ("C:\\Users\\me\\My File.txt", "My File.txt"),
        ("a/b\\c d.md", "c d.md"),
        ("tab\there\nnewline.txt", "tab here newline.txt"),
        ("nul\x00and\x07bell.txt", "nulandbell.txt"),
        ("evil\u202egpj.exe", "evilgpj.exe"),
        ("  spaced   out  .txt  ", "spaced out .txt"),
        ("trailing dots...", "trailing dots"),
        ("年度報告 2024.pdf", "年度報告 2024.pdf"),
        ("Ärzte.txt", "Ärzte.txt"),
        (".env", ".env"),
    ],
)
def test_sanitize_filename(raw: str, clean: str) -> None:
    assert sanitize_filename(raw) == clean


def test_sanitize_normalises_to_nfc() -> None:
    decomposed = "A\u0308rzte.txt"
    assert sanitize_filename(decomposed) == unicodedata.normalize("NFC", decomposed)
    assert len(sanitize_filename(decomposed)) == len("Ärzte.txt")


@pytest.mark.parametrize("raw", ["", None, "/", "..", "a/..", "\x00\x01", "\u202e", "  .  "])
def test_sanitize_rejects_names_with_nothing_left(raw: str | None) -> None:
    with pytest.raises(InvalidFilename):
        sanitize_filename(raw)


@pytest.mark.parametrize("stem", ["a" * 300, "報" * 200, "😀" * 100, "é" * 254])
def test_long_names_are_capped_in_utf8_bytes_keeping_the_extension(stem: str) -> None:
    clean = sanitize_filename(stem + ".pdf")
    assert len(clean.encode("utf-8")) <= MAX_FILENAME_BYTES
    assert clean.endswith(".pdf") and clean.startswith(stem[0])
    assert len(clean.encode("utf-8")) > MAX_FILENAME_BYTES - 4  # no needless truncation


def test_long_names_without_extension_are_capped() -> None:
    assert len(sanitize_filename("x" * 1000).encode()) == MAX_FILENAME_BYTES


@pytest.mark.parametrize(
    ("head", "filename", "expected"),
    [
        (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj", None, "application/pdf"),
        (b"\n\n%PDF-1.4\n", None, "application/pdf"),
        (b"Plain words about %PDF- files.\n", None, "text/plain"),
        (b"Hello, world.\nSecond line.\n", None, "text/plain"),
        ("人事規章 第一條\n員工應遵守\n".encode(), None, "text/plain"),
        (b"\xef\xbb\xbfBOM text\n", None, "text/plain"),
        (b"# Title\n\n- one\n- two\n", None, "text/markdown"),
        (b"Intro\n=====\n\nSee [docs](http://x.y/z).\n", None, "text/markdown"),
        (b"just text", "notes.md", "text/markdown"),
        (b"just text", "notes.txt", "text/plain"),
        (("x" + "訂正 ✓ é" * 6000).encode()[:SNIFF_BYTES], None, "text/plain"),  # cut mid-character
        ("訂正 ✓ é".encode()[:-1], None, None),  # a whole file ending mid-character
        (b"", None, None),
        (b"\x89PNG\r\n\x1a\n\x00\x00", None, None),
        (b"PK\x03\x04 zip or docx", None, None),
        (b"caf\xe9", None, None),
        (b"text with a NUL\x00 byte", None, None),
        (b"\xff\xfeU\x00T\x00F\x00-16", None, None),
        (b"MZ\x90\x00", "evil.pdf", None),
    ],
)
def test_detect_content_type(head: bytes, filename: str | None, expected: str | None) -> None:
    assert detect_content_type(head, filename=filename) == expected


def test_check_content_errors() -> None:
    with pytest.raises(EmptyFile):
        check_content(b"", filename="a.txt")
    with pytest.raises(UnsupportedType):
        check_content(b"\x00\x01", filename="a.txt")
    assert check_content(b"%PDF-1.5", filename="x.txt") == "application/pdf"
    assert check_declared_type("Text/Markdown; charset=utf-8") == "text/markdown"
    with pytest.raises(UnsupportedType):
        check_declared_type("application/zip")


def _document(created_at: datetime) -> Document:
    return Document(
        id=uuid.uuid4(),
        filename="a",
        content_type="text/plain",
        size_bytes=1,
        sha256=None,
        status="queued",
        page_count=None,
        chunk_count=None,
        error=None,
        created_at=created_at,
        updated_at=created_at,
        processed_at=None,
    )


def test_cursor_round_trip_keeps_microseconds() -> None:
    doc = _document(datetime(2025, 5, 6, 7, 8, 9, 123456, tzinfo=UTC))
    assert decode_cursor(encode_cursor(doc)) == (doc.created_at, doc.id)


@pytest.mark.parametrize(
    "cursor",
    [
        "",
        "!!!",
        "e30",
        "eyJjIjogMX0",
        "a" * 1000,
        "eyJjIjoiMjAyNC0wMS0wMVQwMDowMDowMCIsImkiOiJ4In0",
    ],
)
def test_foreign_cursors_are_rejected(cursor: str) -> None:
    with pytest.raises(InvalidCursor):
        decode_cursor(cursor)


def test_object_metadata_is_ascii_and_reversible() -> None:
    doc_id = uuid.uuid4()
    meta = object_metadata(document_id=doc_id, tenant_id="tenant/ü", filename="年 報.pdf")
    assert all(value.isascii() for value in meta.values())
    assert {name: unquote(value) for name, value in meta.items()} == {
        "document-id": str(doc_id),
        "tenant": "tenant/ü",
        "filename": "年 報.pdf",
    }
