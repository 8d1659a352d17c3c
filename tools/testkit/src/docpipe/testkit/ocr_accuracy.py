"""Character accuracy of OCR output: 1 - (edit distance / characters expected).

Whitespace is ignored on both sides (line breaks fall where the page wrapped them, and
Chinese has no spaces), as is the full-width/half-width form of punctuation (NFKC).
Shared by the tests and the scanned-PDF benchmark.
"""

from __future__ import annotations

import unicodedata

__all__ = ["character_accuracy", "edit_distance"]


def _canonical(text: str) -> str:
    return "".join(unicodedata.normalize("NFKC", text).split())


def edit_distance(a: str, b: str) -> int:
    """Levenshtein distance (insertions, deletions, substitutions), O(len(a)·len(b))."""
    previous = list(range(len(b) + 1))
    for i, x in enumerate(a, start=1):
        current = [i]
        for j, y in enumerate(b, start=1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (x != y)))
        previous = current
    return previous[-1]


def character_accuracy(*, expected: str, read: str) -> float:
    truth, seen = _canonical(expected), _canonical(read)
    if not truth:
        return 1.0 if not seen else 0.0
    return max(0.0, 1 - edit_distance(truth, seen) / len(truth))
