"""Table rows as text a reader (and a search) understands on its own.

A row becomes ``header: value | header: value`` (empty cells left out), and rows are
separated by paragraph breaks, so the chunker cuts between rows and every chunk of a
spreadsheet or CSV carries the column headers of the values it holds (docs/api.md).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence

__all__ = ["ROW_SEPARATOR", "cell_text", "column_name", "headers_from", "row_text"]

ROW_SEPARATOR = "\n\n"
_MAX_CELL_CHARS = 2000


def column_name(index: int) -> str:
    """0 -> ``A``, 25 -> ``Z``, 26 -> ``AA`` (what a spreadsheet calls the column)."""
    name = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        name = chr(65 + rest) + name
    return name


def cell_text(value: object) -> str:
    """A cell's value as text: integral floats without ``.0``, dates in ISO 8601."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    if isinstance(value, dt.datetime):
        if value.time() == dt.time(0):
            return value.date().isoformat()
        return value.isoformat(sep=" ", timespec="seconds")
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    text = " ".join(str(value).split())
    return text[:_MAX_CELL_CHARS]


def headers_from(values: Sequence[object]) -> list[str]:
    """Column headers from a header row; a blank header is named by its column letter."""
    return [cell_text(v) or column_name(i) for i, v in enumerate(values)]


def row_text(headers: Sequence[str], values: Iterable[object]) -> str:
    parts = []
    for index, value in enumerate(values):
        text = cell_text(value)
        if text:
            header = headers[index] if index < len(headers) else column_name(index)
            parts.append(f"{header}: {text}")
    return " | ".join(parts)
