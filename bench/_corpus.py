"""Synthetic but realistic text for benchmarks: real English sentences, recombined.

The sentence pool comes from the MS MARCO passages in ``../shared/datasets/msmarco-5k``
(about 20k sentences of web text); when that folder is missing, a small built-in HR-style
vocabulary stands in. Everything is seeded, so a run is reproducible.
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Iterator
from functools import cache
from pathlib import Path

__all__ = [
    "MSMARCO_DIR",
    "chunk_texts",
    "document_text",
    "pdf_bytes",
    "queries",
    "sentences",
]

MSMARCO_DIR = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "msmarco-5k"
_SPLIT = re.compile(r"(?<=[.!?])\s+(?=[A-Z])")
_FALLBACK_WORDS = (
    "employee manager leave request overtime policy approval salary benefit holiday "
    "contract training review payroll schedule remote office travel expense insurance "
    "department report handbook procedure record portal deadline annual sick parental"
).split()


@cache
def sentences() -> tuple[str, ...]:
    path = MSMARCO_DIR / "corpus.jsonl"
    pool: list[str] = []
    if path.exists():
        with path.open(encoding="utf-8") as lines:
            for line in lines:
                text = json.loads(line)["text"]
                pool.extend(s.strip() for s in _SPLIT.split(text) if 20 <= len(s.strip()) <= 400)
    if not pool:
        rng = random.Random(7)
        for _ in range(5000):
            words = rng.choices(_FALLBACK_WORDS, k=rng.randint(8, 24))
            pool.append(" ".join(words).capitalize() + ".")
    return tuple(pool)


def _paragraph(rng: random.Random, size: int) -> str:
    pool = sentences()
    parts: list[str] = []
    length = 0
    while length < size:
        s = pool[rng.randrange(len(pool))]
        parts.append(s)
        length += len(s) + 1
    return " ".join(parts)


def document_text(rng: random.Random, *, chars: int, paragraph_chars: int = 600) -> str:
    """About ``chars`` characters in paragraphs separated by blank lines."""
    paragraphs: list[str] = []
    length = 0
    while length < chars:
        p = _paragraph(rng, rng.randint(paragraph_chars // 2, paragraph_chars * 3 // 2))
        paragraphs.append(p)
        length += len(p) + 2
    return "\n\n".join(paragraphs)


def chunk_texts(count: int, *, seed: int, low: int = 600, high: int = 1200) -> Iterator[str]:
    """``count`` chunk-sized texts (``low``..``high`` characters) of recombined sentences."""
    rng = random.Random(seed)
    for _ in range(count):
        yield _paragraph(rng, rng.randint(low, high))[:high]


def queries(count: int, *, seed: int) -> list[str]:
    """MS MARCO's own queries first, then 2–6-word phrases taken from the sentence pool."""
    found: list[str] = []
    path = MSMARCO_DIR / "queries.jsonl"
    if path.exists():
        with path.open(encoding="utf-8") as lines:
            found = [json.loads(line)["text"] for line in lines]
    rng = random.Random(seed)
    pool = sentences()
    while len(found) < count:
        words = re.findall(r"[A-Za-z]{3,}", pool[rng.randrange(len(pool))])
        if len(words) >= 2:
            start = rng.randrange(len(words))
            found.append(" ".join(words[start : start + rng.randint(2, 6)]))
    return found[:count]


def pdf_bytes(pages: int, *, seed: int, chars_per_page: int = 2400) -> bytes:
    """A text PDF of ``pages`` pages, each about ``chars_per_page`` characters of prose."""
    import pymupdf

    rng = random.Random(seed)
    doc = pymupdf.open()
    rect = pymupdf.Rect(36, 36, 576, 806)
    for number in range(1, pages + 1):
        page = doc.new_page(width=612, height=842)
        body = f"Section {number}\n\n" + document_text(rng, chars=chars_per_page)
        page.insert_textbox(rect, body[:chars_per_page], fontsize=8, fontname="helv")
    data: bytes = doc.tobytes(garbage=3, deflate=True)
    doc.close()
    return data
