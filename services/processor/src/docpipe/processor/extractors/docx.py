"""Word (.docx) with python-docx: body in reading order, tables as rows, headers once.

Headings become their own paragraphs, list items start with ``- ``, and each table row
becomes one line of its cells separated by `` | `` (merged cells once). Headers and
footers repeat on every page of a printed document; here each distinct one is kept once
(headers first, footers last). Word has no fixed pages, so the text is cut into logical
pages like plain text.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any

from docpipe.processor.exceptions import Failure, FailureKind
from docpipe.processor.extractors.archive import check_archive
from docpipe.processor.extractors.base import Job, Output
from docpipe.processor.extractors.text import logical_pages

__all__ = ["extract_docx"]

_W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"


def _paragraph_text(paragraph: Any) -> str:
    text = " ".join(paragraph.text.split())
    if not text:
        return ""
    style = (paragraph.style.name if paragraph.style is not None else "") or ""
    if style.startswith(("Heading", "Title")):
        return text
    numbered = paragraph._p.find(f"{_W}pPr/{_W}numPr") is not None
    if numbered or style.startswith("List"):
        return f"- {text}"
    return text


def _table_lines(table: Any) -> Iterator[str]:
    for row in table.rows:
        cells: list[str] = []
        seen: set[int] = set()
        for cell in row.cells:
            if id(cell._tc) in seen:  # a merged cell is returned once per grid column
                continue
            seen.add(id(cell._tc))
            text = " ".join(cell.text.split())
            if text:
                cells.append(text)
        if cells:
            yield " | ".join(cells)


def _body_blocks(document: Any) -> Iterator[str]:
    from docx.table import Table
    from docx.text.paragraph import Paragraph

    for child in document.element.body.iterchildren():
        if child.tag == f"{_W}p":
            text = _paragraph_text(Paragraph(child, document))
            if text:
                yield text
        elif child.tag == f"{_W}tbl":
            lines = list(_table_lines(Table(child, document)))
            if lines:
                yield "\n".join(lines)


def _margins(document: Any, part: str) -> list[str]:
    """Each distinct header (or footer) text of the document, in section order."""
    found: list[str] = []
    for section in document.sections:
        for variant in ("", "first_page_", "even_page_"):
            margin = getattr(section, f"{variant}{part}")
            if margin.is_linked_to_previous:
                continue
            text = "\n".join(" ".join(p.text.split()) for p in margin.paragraphs).strip()
            if text and text not in found:
                found.append(text)
    return found


def extract_docx(data: bytes, job: Job, out: Output) -> None:
    check_archive(data, job, out, kind="Word")
    import docx

    try:
        document = docx.Document(io.BytesIO(data))
        blocks = [*_margins(document, "header"), *_body_blocks(document)]
        blocks += _margins(document, "footer")
    except (KeyError, ValueError, AttributeError, TypeError) as exc:
        raise Failure(FailureKind.CORRUPT, "the Word file is damaged", detail=repr(exc)) from None
    except Exception as exc:  # lxml's XMLSyntaxError, docx's own PackageNotFoundError …
        if type(exc).__module__.startswith(("lxml", "docx")):
            raise Failure(
                FailureKind.CORRUPT, "the Word file is damaged", detail=repr(exc)
            ) from None
        raise
    text = "\n\n".join(blocks)
    if not text.strip():
        raise Failure(FailureKind.NO_TEXT, "the document contains no text")
    logical_pages(text, job.limits.text_page_chars, out)
