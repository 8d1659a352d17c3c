"""Numbered sources in the prompt, and ``[n]`` citation markers parsed back from the answer."""

from __future__ import annotations

import re
from collections.abc import Sequence

from docpipe.query.hits import Hit

__all__ = ["cited_sources", "format_sources", "page_label"]

# [1], [2, 3], [1][4], [1-3] (a range), [Source 2]
_MARKER = re.compile(r"\[(?:sources?\s*)?(\d+(?:\s*(?:[,;]|-|–|and)\s*\d+)*)\]", re.IGNORECASE)
_NUMBER = re.compile(r"\d+")
_RANGE = re.compile(r"(\d+)\s*[-–]\s*(\d+)")


def page_label(hit: Hit) -> str:
    if hit.page_start == hit.page_end:
        return f"page {hit.page_start}"
    return f"pages {hit.page_start}-{hit.page_end}"


def format_sources(sources: Sequence[Hit]) -> str:
    """``[n] filename (pages)`` headers, each followed by the chunk text."""
    return "\n\n".join(
        f"[{n}] {hit.filename} ({page_label(hit)})\n{hit.text.strip()}"
        for n, hit in enumerate(sources, start=1)
    )


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
