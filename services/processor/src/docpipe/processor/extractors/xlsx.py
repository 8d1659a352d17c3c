"""Excel (.xlsx) with openpyxl: every worksheet a page, every row with its headers.

Opened read-only (rows streamed, never the whole sheet in memory) with ``data_only``, so a
formula contributes the value Excel saved with it. The sheet's declared dimension is
ignored (``reset_dimensions``): a 1 KB file can claim a billion-cell range, and only cells
that exist are read, up to ``max_cells`` per document. The first non-empty row of a sheet
is its header row; each later row becomes ``header: value | …`` (:mod:`.rows`).
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any

from docpipe.processor.exceptions import Failure, FailureKind
from docpipe.processor.extractors.archive import check_archive
from docpipe.processor.extractors.base import Job, Output
from docpipe.processor.extractors.rows import ROW_SEPARATOR, cell_text, headers_from, row_text

__all__ = ["extract_xlsx"]


class _Budget:
    def __init__(self, cells: int) -> None:
        self.left = cells
        self.exhausted = False


def _sheet_parts(sheet: Any, budget: _Budget, part_chars: int) -> Iterator[str]:
    """The sheet's text in parts of about ``part_chars`` (a sheet can be long: one page
    of the document, written as several pieces of the same page number)."""
    sheet.reset_dimensions()
    lines = [f"Sheet: {sheet.title}"]
    headers: list[str] | None = None
    size = 0
    for values in sheet.iter_rows(values_only=True):
        budget.left -= max(1, len(values))
        if budget.left < 0:
            budget.exhausted = True
            break
        if not any(cell_text(v) for v in values):
            continue
        if headers is None:
            headers = headers_from(values)
            lines.append(" | ".join(headers))
            continue
        line = row_text(headers, values)
        if size + len(line) > part_chars and lines:
            yield ROW_SEPARATOR.join(lines)
            lines, size = [], 0
        lines.append(line)
        size += len(line) + len(ROW_SEPARATOR)
    yield ROW_SEPARATOR.join(lines)


def extract_xlsx(data: bytes, job: Job, out: Output) -> None:
    check_archive(data, job, out, kind="Excel")
    import openpyxl

    try:
        workbook = openpyxl.load_workbook(
            io.BytesIO(data), read_only=True, data_only=True, keep_links=False
        )
    except Exception as exc:  # openpyxl raises anything from KeyError to XML errors
        raise Failure(FailureKind.CORRUPT, "the Excel file is damaged", detail=repr(exc)) from None
    sheets = workbook.worksheets
    if len(sheets) > job.limits.max_pages:
        raise Failure(
            FailureKind.TOO_MANY_PAGES,
            f"the workbook has {len(sheets)} sheets; the limit is {job.limits.max_pages}",
        )
    out.meta(page_count=len(sheets))
    budget = _Budget(job.limits.max_cells)
    for number, sheet in enumerate(sheets, start=1):
        if budget.exhausted:
            out.page(number, "")
            continue
        try:
            for part in _sheet_parts(sheet, budget, job.limits.text_page_chars):
                out.page(number, part)
        except Exception as exc:
            raise Failure(
                FailureKind.CORRUPT,
                f"sheet {number} of the Excel file is damaged",
                detail=repr(exc),
            ) from None
    if budget.exhausted:
        out.warn(f"cells after the first {job.limits.max_cells:,} were not read")
