"""CSV (and tab- or semicolon-separated) files: header-carrying rows in logical pages.

Decoded in the detected encoding (UTF-8 with or without BOM, UTF-16, or Big5 as Excel in
Taiwan writes it); the delimiter is the one that gives the first lines a constant number
of fields; the first non-empty row is the header.
"""

from __future__ import annotations

import csv
import io
import sys

from docpipe.processor.exceptions import Failure, FailureKind
from docpipe.processor.extractors.base import Job, Output
from docpipe.processor.extractors.rows import ROW_SEPARATOR, headers_from, row_text
from docpipe.processor.extractors.text import decode

__all__ = ["extract_csv"]

_DELIMITERS = (",", "\t", ";", "|")
_SAMPLE_LINES = 20


def _delimiter(text: str) -> str:
    lines = [line for line in text[: 64 * 1024].splitlines()[:_SAMPLE_LINES] if line.strip()]
    best, best_score = ",", -1
    for delimiter in _DELIMITERS:
        try:
            widths = [len(row) for row in csv.reader(lines, delimiter=delimiter)]
        except csv.Error:
            continue
        if not widths or max(widths) < 2:
            continue
        score = sum(1 for w in widths if w == widths[0])
        if score > best_score:
            best, best_score = delimiter, score
    return best


def extract_csv(data: bytes, job: Job, out: Output) -> None:
    text = decode(data, job, out).lstrip("\ufeff")
    csv.field_size_limit(min(sys.maxsize, job.limits.max_chars_per_page))
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=_delimiter(text))
    headers: list[str] | None = None
    page: list[str] = []
    size = cells = pages = 0
    try:
        for values in reader:
            if not any(v.strip() for v in values):
                continue
            cells += len(values)
            if cells > job.limits.max_cells:
                out.warn(f"rows after the first {job.limits.max_cells:,} cells were not read")
                break
            if headers is None:
                headers = headers_from(values)
                continue
            line = row_text(headers, values)
            if size + len(line) > job.limits.text_page_chars and page:
                pages += 1
                out.page(pages, ROW_SEPARATOR.join(page))
                page, size = [], 0
            page.append(line)
            size += len(line) + len(ROW_SEPARATOR)
    except csv.Error as exc:
        raise Failure(FailureKind.CORRUPT, f"the CSV file is malformed ({exc})") from None
    if headers is None:
        raise Failure(FailureKind.NO_TEXT, "the document contains no text")
    if not page:  # a header without rows is still the document's text
        page = [" | ".join(headers)]
    out.page(pages + 1, ROW_SEPARATOR.join(page))
