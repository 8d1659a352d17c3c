"""Split page texts into overlapping chunks with page provenance.

The pages are normalised (horizontal whitespace collapsed, at most one blank line,
line breaks inside CJK text removed: PDF extraction breaks Chinese lines at arbitrary
characters) and joined with paragraph breaks into one text. Chunks are slices of that
text, at most ``target_chars`` long, ending at the best boundary in the second half of
the window: a paragraph break, else a sentence end (``.!?`` followed by a space, or
CJK ``。！？；``), else a space, else a hard cut that never splits a character from
its combining marks or an emoji sequence. The next chunk starts at the earliest sentence
(else word) start within the last ``overlap_chars`` of the previous one.
"""

from __future__ import annotations

import bisect
import hashlib
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

from docpipe.common.keywords import CJK_CHAR_CLASS
from docpipe.processor.extraction import PageText

__all__ = ["Chunk", "chunk_pages"]


@dataclass(frozen=True, slots=True)
class Chunk:
    ordinal: int
    """0-based position of the chunk in its document."""
    text: str
    page_start: int
    """Number of the page holding the chunk's first character."""
    page_end: int
    """Number of the page holding the chunk's last character."""
    content_sha256: str
    """Hex SHA-256 of ``text`` as UTF-8 (the embedding cache key)."""


_PARAGRAPH = "\n\n"
_CJK_LINE_BREAK = re.compile(f"\n(?<={CJK_CHAR_CLASS}\n)(?={CJK_CHAR_CLASS})")
# A sentence ends after ASCII .!? (plus closing quotes/brackets) and a space, or right
# after CJK full stops; the match ends where the next sentence starts.
_SENTENCE_END = re.compile(r"[.!?][\"'”’)\]]*[ \n]|[。！？；][」』”’）]*\s?")
_SPACE = re.compile(r"[ \n]")
# Characters that belong to the preceding one: combining marks are checked apart.
_JOINERS = frozenset("\u200c\u200d\ufe0e\ufe0f") | frozenset(map(chr, range(0x1F3FB, 0x1F400)))


def _normalise(text: str) -> str:
    # str.split()/splitlines() run in C: several times faster than equivalent regexes.
    lines: list[str] = []
    for raw in text.replace("\f", _PARAGRAPH).splitlines():
        line = " ".join(raw.split())
        if line or (lines and lines[-1]):  # keep at most one blank line in a row
            lines.append(line)
    while lines and not lines[-1]:
        lines.pop()
    return _CJK_LINE_BREAK.sub("", "\n".join(lines))


def _joined(pages: Sequence[PageText]) -> tuple[str, list[int], list[int]]:
    """The document text, the offset where each non-empty page starts, and its number."""
    parts: list[str] = []
    offsets: list[int] = []
    numbers: list[int] = []
    length = 0
    for page in pages:
        text = _normalise(page.text)
        if not text:
            continue
        if parts:
            parts.append(_PARAGRAPH)
            length += len(_PARAGRAPH)
        offsets.append(length)
        numbers.append(page.number)
        parts.append(text)
        length += len(text)
    return "".join(parts), offsets, numbers


def _safe_cut(text: str, pos: int, floor: int) -> int:
    """Move ``pos`` left off combining marks, joiners and emoji modifiers (not below floor)."""
    cut = pos
    while cut > floor and (
        text[cut] in _JOINERS or text[cut - 1] == "\u200d" or unicodedata.combining(text[cut])
    ):
        cut -= 1
    return cut if cut > floor else pos


def _chunk_end(text: str, start: int, target: int) -> int:
    """Exclusive end of the chunk starting at ``start``."""
    limit = start + target
    if limit >= len(text):
        return len(text)
    low = start + target // 2
    cut = text.rfind(_PARAGRAPH, low, limit)
    if cut > 0:
        return cut
    sentence_end = max((m.end() for m in _SENTENCE_END.finditer(text, low, limit)), default=0)
    if sentence_end:
        return sentence_end
    cut = max(text.rfind(" ", low, limit), text.rfind("\n", low, limit))
    if cut > 0:
        return cut
    return _safe_cut(text, limit, start)


def _next_start(text: str, start: int, end: int, overlap: int) -> int:
    """Start of the chunk after ``[start, end)``: a sentence or word start in the overlap."""
    low = max(start + 1, end - overlap)
    if low >= end:
        return end
    for boundary in (_SENTENCE_END, _SPACE):
        found = boundary.search(text, low, end)
        if found and found.end() < end:
            return found.end()
    return _safe_cut(text, low, start)


def _spans(text: str, target: int, overlap: int) -> list[tuple[int, int]]:
    """``(start, end)`` of each chunk; stripped, non-empty, at most ``target`` long."""
    spans: list[tuple[int, int]] = []
    start = 0
    while start < len(text):
        while start < len(text) and text[start].isspace():
            start += 1
        if start >= len(text):
            break
        end = _chunk_end(text, start, target)
        stripped_end = end
        while text[stripped_end - 1].isspace():
            stripped_end -= 1
        spans.append((start, stripped_end))
        if end >= len(text):
            break
        start = _next_start(text, start, end, overlap)
    return spans


def chunk_pages(
    pages: Sequence[PageText],
    *,
    target_chars: int = 1200,
    overlap_chars: int = 200,
    within_pages: bool = False,
) -> list[Chunk]:
    """Chunks of at most ``target_chars`` characters, overlapping by up to ``overlap_chars``.

    With ``within_pages`` no chunk spans two page numbers (slides and sheets are units a
    citation must name exactly; a PDF sentence may run across a page break). Deterministic:
    the same pages always give the same chunks (and hashes).
    """
    if target_chars < 2 or not 0 <= overlap_chars < target_chars // 2:
        raise ValueError("need target_chars >= 2 and 0 <= overlap_chars < target_chars / 2")
    groups: list[list[PageText]] = []
    for page in pages:
        if within_pages and groups and groups[-1][-1].number == page.number:
            groups[-1].append(page)
        elif within_pages or not groups:
            groups.append([page])
        else:
            groups[-1].append(page)
    chunks: list[Chunk] = []
    for group in groups:
        text, offsets, numbers = _joined(group)
        for start, end in _spans(text, target_chars, overlap_chars):
            piece = text[start:end]
            chunks.append(
                Chunk(
                    ordinal=len(chunks),
                    text=piece,
                    page_start=numbers[bisect.bisect_right(offsets, start) - 1],
                    page_end=numbers[bisect.bisect_right(offsets, end - 1) - 1],
                    content_sha256=hashlib.sha256(piece.encode()).hexdigest(),
                )
            )
    return chunks
