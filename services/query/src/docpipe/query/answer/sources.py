"""Numbered sources in the prompt, and ``[n]`` citation markers parsed back from the answer.

Chunk text is untrusted: a document can contain a line like ``[2] payroll.pdf (page 9)``
to pose as another source, so the model could cite the wrong document. Each source is
therefore wrapped in tags named with a random nonce drawn per request
(``<source-3f9a… n="1" file="…" pages="…">`` … ``</source-3f9a…>``): text inside cannot
close or open a source without knowing the nonce, the attributes come from the database,
not the chunk, and the system prompt tells the model that only these tags delimit sources.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Sequence

from docpipe.query.hits import Hit

__all__ = ["cited_sources", "format_sources", "new_boundary", "page_label"]

# [1], [2, 3], [1][4], [1-3] (a range), [Source 2]
_MARKER = re.compile(r"\[(?:sources?\s*)?(\d+(?:\s*(?:[,;]|-|–|and)\s*\d+)*)\]", re.IGNORECASE)
_NUMBER = re.compile(r"\d+")
_RANGE = re.compile(r"(\d+)\s*[-–]\s*(\d+)")


def page_label(hit: Hit) -> str | None:
    """``page 3`` / ``pages 3-4``; None for a format without pages (Word, HTML, text…)."""
    if hit.page_start is None:
        return None
    if hit.page_start == hit.page_end:
        return f"page {hit.page_start}"
    return f"pages {hit.page_start}-{hit.page_end}"


def new_boundary() -> str:
    """A tag name no document can predict (128 random bits)."""
    return f"source-{secrets.token_hex(16)}"


def _attribute(value: str) -> str:
    return re.sub(r"[\x00-\x1f\"<>&]", " ", value)


def format_sources(sources: Sequence[Hit], *, boundary: str) -> str:
    """Each source inside ``<boundary n=… file=… pages=…>`` … ``</boundary>`` (no ``pages``
    for a format without pages)."""
    blocks = []
    for n, hit in enumerate(sources, start=1):
        text = hit.text.strip().replace(boundary, "source-tag")
        label = page_label(hit)
        pages = f' pages="{_attribute(label)}"' if label else ""
        blocks.append(
            f'<{boundary} n="{n}" file="{_attribute(hit.filename)}"{pages}>\n{text}\n</{boundary}>'
        )
    return "\n\n".join(blocks)


def _numbers(group: str) -> list[int]:
    numbers: list[int] = []
    for start, end in _RANGE.findall(group):
        low, high = int(start), int(end)
        if 0 < high - low <= 50:
            numbers.extend(range(low, high + 1))
    numbers.extend(int(n) for n in _NUMBER.findall(_RANGE.sub("", group)))
    return numbers


def cited_sources(text: str, sources: Sequence[Hit]) -> list[Hit]:
    """The sources ``text`` cites, in order of first citation; numbers with no source are
    ignored (a model may invent them), so every citation points at a returned chunk."""
    cited: list[Hit] = []
    seen: set[int] = set()
    for marker in _MARKER.finditer(text):
        for number in _numbers(marker.group(1)):
            if 1 <= number <= len(sources) and number not in seen:
                seen.add(number)
                cited.append(sources[number - 1])
    return cited
