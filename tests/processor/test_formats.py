"""Every supported format through detection and its extractor in the real sandbox.

Files are generated with the libraries that read them (docpipe.testkit.formats); the
scanned page is typeset in a Traditional Chinese font and rasterised, so OCR sees pixels
only. What is checked is what a user notices: the text they can search, the page a hit
cites, the headers a spreadsheet row carries, what is left out, and the warnings.
"""

from __future__ import annotations

import io
import random
import re
import zipfile
from collections.abc import Iterator

import pymupdf
import pytest

from docpipe.common import filetypes
from docpipe.processor import sandbox
from docpipe.processor.exceptions import Failure, FailureKind
from docpipe.processor.extraction import ExtractionLimits, ExtractionResult, extract_pages
from docpipe.testkit import formats
from docpipe.testkit.ocr_accuracy import character_accuracy

LIMITS = ExtractionLimits()


@pytest.fixture(scope="module", autouse=True)
def end_servers() -> Iterator[None]:
    yield
    sandbox.shutdown()


def extract(data: bytes, **limits: object) -> ExtractionResult:
    return extract_pages(data, limits=ExtractionLimits(**limits))  # type: ignore[arg-type]


def failure_of(data: bytes, **limits: object) -> Failure:
    with pytest.raises(Failure) as failure:
        extract(data, **limits)
    return failure.value


def test_docx_reading_order_table_rows_and_margins_once() -> None:
    result = extract(formats.docx_bytes(tag="t1", phrase="zebra crossing", table_phrase="quokka"))
    assert result.content_type == filetypes.DOCX
    text = "\n".join(p.text for p in result.pages)
    assert "Annual | 14 | quokka" in text  # a table row stays a row
    assert "- Submit requests in the portal" in text
    assert text.index("Leave policy t1") < text.index("zebra crossing") < text.index("員工請假規定")
    assert text.count("Acme HR handbook t1") == 1  # the header once, not per page
    assert text.count("Confidential") == 1
    assert result.warnings == []


def test_xlsx_every_sheet_is_a_page_and_rows_carry_their_headers() -> None:
    result = extract(formats.xlsx_bytes(tag="t2", phrase="platypus", rows=400))
    assert result.content_type == filetypes.XLSX
    assert result.page_count == 2
    roster = [p for p in result.pages if p.number == 1]
    assert len(roster) > 1  # a long sheet is one page written in several parts
    row = next(p.text for p in roster if "platypus" in p.text)
    assert "Employee: 王小明 platypus | Department: 人資部 | Leave type: 特休 | Days: 3" in row
    assert "Days x 8 hours: 24" in row  # a formula contributes its saved value
    holidays = [p.text for p in result.pages if p.number == 2]
    assert holidays == [
        "Sheet: Holidays\n\nDate | Holiday\n\nDate: 2026-01-01 | Holiday: New Year\n\n"
        "Date: 2026-02-17 | Holiday: Lunar New Year"
    ]


def test_pptx_slides_are_pages_with_their_notes() -> None:
    result = extract(formats.pptx_bytes(tag="t3", phrase="narwhal tusk", slide=2, slides=3))
    assert result.content_type == filetypes.PPTX
    assert result.page_count == 3
    assert [p.number for p in result.pages if "narwhal tusk" in p.text] == [2]
    assert "Notes: Speaker notes for slide 3." in result.pages[2].text
    assert "HR desk | 103" in result.pages[2].text


@pytest.mark.parametrize("charset", ["utf-8", "big5"])
def test_html_keeps_the_readable_text_only(charset: str) -> None:
    data = formats.html_bytes(
        tag="t4", phrase="員工旅遊", script_word="wombatscript", charset=charset
    )
    result = extract(data)
    assert result.content_type == filetypes.HTML
    text = result.pages[0].text
    assert "員工旅遊" in text and "員工餐廳補助" in text  # the declared charset is honoured
    assert text.startswith("Benefits t4")  # the title
    for gone in ("wombatscript", "Menu navigation", "Intranet banner", "footer text", "color"):
        assert gone not in text
    assert result.warnings == []


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "utf-16", "cp950"])
def test_csv_rows_carry_headers_in_every_encoding_excel_writes(encoding: str) -> None:
    result = extract(formats.csv_bytes(tag="t5", phrase="王大明", encoding=encoding))
    assert result.content_type == filetypes.CSV
    text = "\n".join(p.text for p in result.pages)
    assert "姓名: 王大明 | 部門: 財務部 | 假別: 病假 | 天數: 2" in text
    guessed = [w for w in result.warnings if "read as Big5" in w]
    assert bool(guessed) == (encoding == "cp950")  # only a guess is worth a warning


@pytest.mark.parametrize(
    ("data", "save_as"),
    [
        (formats.legacy_doc_bytes(), ".docx"),
        (formats.legacy_doc_bytes().replace("WordDocument".encode("utf-16-le"), b""), ".docx"),
    ],
)
def test_legacy_office_is_refused_with_the_format_to_save_as(data: bytes, save_as: str) -> None:
    failure = failure_of(data)
    assert failure.kind is FailureKind.UNSUPPORTED
    assert save_as in failure.reason


def _zip(entries: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, body in entries.items():
            archive.writestr(name, body)
    return out.getvalue()


def test_an_office_zip_bomb_is_refused_before_it_is_unpacked() -> None:
    source = zipfile.ZipFile(io.BytesIO(formats.xlsx_bytes(tag="bomb")))
    entries = {i.filename: source.read(i.filename) for i in source.infolist()}
    entries["xl/worksheets/sheet2.xml"] = b" " * (200 << 20)  # 200 MB of spaces, ~200 kB zipped
    failure = failure_of(_zip(entries), memory_mb=256)
    assert failure.kind is FailureKind.CORRUPT
    assert "decompression bomb" in failure.reason


def test_a_sheet_claiming_a_billion_cells_reads_only_what_exists() -> None:
    source = zipfile.ZipFile(io.BytesIO(formats.xlsx_bytes(tag="claims", rows=3)))
    entries = {i.filename: source.read(i.filename) for i in source.infolist()}
    sheet = entries["xl/worksheets/sheet1.xml"].decode()
    sheet = re.sub(r'<dimension ref="[^"]*"', '<dimension ref="A1:XFD1048576"', sheet, count=1)
    far = '<row r="1048576"><c r="XFD1048576" t="inlineStr"><is><t>far away</t></is></c></row>'
    entries["xl/worksheets/sheet1.xml"] = sheet.replace(
        "</sheetData>", far + "</sheetData>"
    ).encode()
    result = extract(_zip(entries), timeout_s=30, memory_mb=512)
    text = "\n".join(p.text for p in result.pages)
    assert "王小明" in text and "far away" in text


def test_cells_beyond_the_cap_are_skipped_with_a_warning() -> None:
    result = extract(formats.xlsx_bytes(tag="cap", rows=300), max_cells=500)
    assert any("cells after the first 500" in w for w in result.warnings)


def test_an_embedded_object_is_named_in_a_warning() -> None:
    source = zipfile.ZipFile(io.BytesIO(formats.docx_bytes(tag="ole")))
    entries = {i.filename: source.read(i.filename) for i in source.infolist()}
    entries["word/embeddings/oleObject1.bin"] = b"\xd0\xcf\x11\xe0" + b"\x00" * 100
    result = extract(_zip(entries))
    assert any("1 embedded object" in w for w in result.warnings)


def test_a_scanned_traditional_chinese_page_is_read_with_ocr() -> None:
    text = formats.traditional_chinese_text(random.Random(12), chars=400)
    result = extract(formats.scanned_pdf(text, dpi=200))
    assert result.ocr_pages == [1]
    assert any("page(s) 1 had no text layer and were read with OCR" in w for w in result.warnings)
    assert character_accuracy(expected=text, read=result.pages[0].text) >= 0.95


def test_a_page_with_a_text_layer_is_never_ocrd() -> None:
    doc = pymupdf.open("pdf", formats.scanned_pdf("員工請假規定" * 20))
    doc[0].insert_text((72, 72), "This page has a real text layer of several words.")
    result = extract(doc.tobytes())
    assert result.ocr_pages == []
    assert "real text layer" in result.pages[0].text


def test_ocr_stops_at_its_page_cap_with_a_warning() -> None:
    text = formats.traditional_chinese_text(random.Random(3), chars=200)
    result = extract(formats.scanned_pdf(text, pages=3, lines_per_page=2), ocr_max_pages=1)
    assert result.ocr_pages == [1]
    assert any("page(s) 2–3 had no text layer and were not read" in w for w in result.warnings)


def test_a_pdf_cut_to_60_percent_is_never_completed_silently() -> None:
    doc = pymupdf.open()
    for n in range(30):
        doc.new_page().insert_text((72, 72), f"Page {n} of the handbook covers overtime rules.")
    data = doc.tobytes()
    try:
        result = extract(data[: len(data) * 6 // 10])
    except Failure as failure:
        assert failure.reason and not failure.transient
    else:
        assert result.warnings, "partial text without a warning"
