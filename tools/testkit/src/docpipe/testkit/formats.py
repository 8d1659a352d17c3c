"""Documents in every supported format, generated with the same libraries that read them.

Shared by the tests and the ingestion benchmark: a Word file with headings, a list, a
table, a header and a footer; a two-sheet workbook with a formula; a deck with notes; an
HTML page with navigation and a script; CSV in UTF-8, UTF-8 with BOM, UTF-16 and Big5;
and scanned (image-only) Traditional Chinese PDFs. Each takes a ``tag`` so that callers
can make distinct files (no two uploads are duplicates) and plant phrases of their own.
"""

from __future__ import annotations

import io
import random

import pymupdf

__all__ = [
    "csv_bytes",
    "docx_bytes",
    "html_bytes",
    "legacy_doc_bytes",
    "pptx_bytes",
    "scanned_pdf",
    "traditional_chinese_text",
    "xlsx_bytes",
]

_HANZI = (
    "員工請假規定事假每年以十四日為限病假超過三日應檢附醫師證明加班費依勞動基準法計算主管核准"
    "後發給特別休假婚假喪假產假陪產假公傷病假生理假家庭照顧假薪資福利獎金年終考核績效訓練"
    "出差交通津貼保險退休金申請表單流程人資部門辦公室門禁資訊安全個人資料保護宿舍餐廳健康檢查"
)


def traditional_chinese_text(rng: random.Random, *, chars: int) -> str:
    """Sentences of common Traditional Chinese HR vocabulary, with full stops."""
    out: list[str] = []
    while sum(map(len, out)) < chars:
        out.append("".join(rng.choice(_HANZI) for _ in range(rng.randint(8, 24))) + "。")
    return "".join(out)


def docx_bytes(*, tag: str = "", phrase: str = "", table_phrase: str = "") -> bytes:
    import docx

    document = docx.Document()
    section = document.sections[0]
    section.header.paragraphs[0].text = f"Acme HR handbook {tag}"
    section.footer.paragraphs[0].text = "Confidential — internal use only"
    document.add_heading(f"Leave policy {tag}", level=1)
    document.add_paragraph(f"Employees accrue annual leave monthly. {phrase}")
    document.add_paragraph("Submit requests in the portal", style="List Bullet")
    document.add_paragraph("Managers approve within three days", style="List Bullet")
    table = document.add_table(rows=3, cols=3)
    for row, cells in enumerate(
        [("Leave type", "Days", "Note"), ("Annual", "14", table_phrase), ("Sick", "30", "")]
    ):
        for column, text in enumerate(cells):
            table.cell(row, column).text = text
    document.add_page_break()
    document.add_heading("員工請假規定", level=2)
    document.add_paragraph("病假超過三日應檢附醫師證明。")
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def xlsx_bytes(*, tag: str = "", phrase: str = "", rows: int = 40) -> bytes:
    """Two sheets: a leave roster (headers, a formula) and a holiday list."""
    import openpyxl

    workbook = openpyxl.Workbook()
    roster = workbook.active
    roster.title = "Leave roster"
    roster.append(["Employee", "Department", "Leave type", "Days", "Days x 8 hours"])
    for n in range(rows):
        roster.append([f"Employee {n} {tag}", "HR", "Annual", n % 7 + 1, f"=D{n + 2}*8"])
    roster.append([f"王小明 {phrase}", "人資部", "特休", 3, f"=D{rows + 2}*8"])
    holidays = workbook.create_sheet("Holidays")
    holidays.append(["Date", "Holiday"])
    holidays.append(["2026-01-01", "New Year"])
    holidays.append(["2026-02-17", "Lunar New Year"])
    out = io.BytesIO()
    workbook.save(out)
    return _with_cached_values(out.getvalue())


def _cached_formulas(sheet_xml: str) -> str:
    """``<f>Dn*8</f>`` cells given the value Excel would have saved with them."""
    import re

    days = {
        int(m[1]): int(m[2]) for m in re.finditer(r'<c r="D(\d+)"[^>]*><v>(\d+)</v>', sheet_xml)
    }

    def cached(match: re.Match[str]) -> str:
        return f"{match.group(0)}<v>{days.get(int(match.group(2)), 0) * 8}</v>"

    return re.sub(r'<c r="E(\d+)"[^>]*><f>D(\d+)\*8</f>', cached, sheet_xml)


def _with_cached_values(data: bytes) -> bytes:
    """openpyxl writes formulas without results (Excel computes them on open); store the
    results as Excel would, so reading with ``data_only`` sees values, not None."""
    import zipfile

    source = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for item in source.infolist():
            body = source.read(item.filename)
            if item.filename == "xl/worksheets/sheet1.xml":
                body = _cached_formulas(body.decode()).encode()
            target.writestr(item, body)
    return out.getvalue()


def pptx_bytes(*, tag: str = "", phrase: str = "", slide: int = 2, slides: int = 3) -> bytes:
    """A deck whose slide ``slide`` carries ``phrase`` (and every slide has notes)."""
    import pptx
    from pptx.util import Inches

    deck = pptx.Presentation()
    for number in range(1, slides + 1):
        page = deck.slides.add_slide(deck.slide_layouts[1])
        page.shapes.title.text = f"Onboarding {tag} — part {number}"
        body = page.placeholders[1].text_frame
        body.text = f"Welcome to the team, step {number}."
        if number == slide:
            body.add_paragraph().text = phrase
        rows = page.shapes.add_table(2, 2, Inches(1), Inches(5), Inches(4), Inches(1)).table
        rows.cell(0, 0).text, rows.cell(0, 1).text = "Contact", "Extension"
        rows.cell(1, 0).text, rows.cell(1, 1).text = "HR desk", f"{100 + number}"
        page.notes_slide.notes_text_frame.text = f"Speaker notes for slide {number}."
    out = io.BytesIO()
    deck.save(out)
    return out.getvalue()


def html_bytes(
    *, tag: str = "", phrase: str = "", script_word: str = "", charset: str = "utf-8"
) -> bytes:
    page = f"""<!DOCTYPE html>
<html lang="zh-Hant"><head><meta charset="{charset}"><title>Benefits {tag}</title>
<style>.nav {{ color: red; }} body {{ font-family: sans-serif; }}</style>
<script>var tracking = "{script_word}"; function go() {{ return "{script_word}"; }}</script>
</head><body>
<nav><a href="/">Home</a> | <a href="/menu">Menu navigation links</a></nav>
<header><div>Intranet banner</div></header>
<main><h1>Employee benefits {tag}</h1>
<p>Health checks are free every year. {phrase}</p>
<ul><li>Meal allowance</li><li>員工餐廳補助</li></ul>
<table><tr><th>Benefit</th><th>Amount</th></tr><tr><td>Gym</td><td>500</td></tr></table>
</main>
<footer>(c) Acme - footer text</footer>
<noscript>{script_word}</noscript>
</body></html>"""
    return page.encode(charset)


def csv_bytes(*, tag: str = "", phrase: str = "", encoding: str = "utf-8", rows: int = 30) -> bytes:
    lines = ["姓名,部門,假別,天數"]
    lines += [f"員工{n}{tag},人資部,特休,{n % 5 + 1}" for n in range(rows)]
    lines.append(f"{phrase},財務部,病假,2")
    text = "\r\n".join(lines) + "\r\n"
    if encoding == "utf-16":
        return text.encode("utf-16")  # with a BOM, as Excel's "Unicode Text" writes
    return text.encode(encoding)


def legacy_doc_bytes() -> bytes:
    """The start of a Word 97-2003 compound file: OLE2 header and a directory entry."""
    header = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 504
    entry = "WordDocument".encode("utf-16-le").ljust(64, b"\x00") + b"\x1a\x00\x02\x01"
    return header + entry + bytes(random.Random(5).randbytes(2048))


def scanned_pdf(text: str, *, dpi: int = 200, lines_per_page: int = 30, pages: int = 1) -> bytes:
    """An image-only PDF: ``text`` typeset in a CJK font, rasterised, the text layer gone.

    The font is MuPDF's built-in Traditional Chinese one (``china-t``, shipped inside the
    PyMuPDF wheel), so nothing else has to be installed.
    """
    out = pymupdf.open()
    width = 34  # characters per line at 12 pt in a 450 pt wide box
    lines = [text[i : i + width] for i in range(0, len(text), width)]
    for number in range(pages):
        chunk = lines[number * lines_per_page : (number + 1) * lines_per_page]
        source = pymupdf.open()
        page = source.new_page()
        page.insert_textbox(
            pymupdf.Rect(60, 60, 540, 800), "\n".join(chunk), fontsize=12, fontname="china-t"
        )
        pix = page.get_pixmap(dpi=dpi, colorspace=pymupdf.csGRAY)
        scan = out.new_page(width=page.rect.width, height=page.rect.height)
        scan.insert_image(scan.rect, stream=pix.tobytes("png"))
        source.close()
    data: bytes = out.tobytes(deflate=True)
    out.close()
    return data
