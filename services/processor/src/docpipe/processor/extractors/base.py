"""What every extractor shares: the job it is given, the output it writes, its limits.

Extractors run inside the extraction child (:mod:`docpipe.processor.sandbox`) and only
there: they parse untrusted bytes. Each is a function ``extract(data, job, out)`` that
writes pages in order through :class:`Output` and raises
:class:`~docpipe.processor.exceptions.Failure` for a problem of the document (``corrupt``,
``encrypted``, ``too_many_pages``…). Any other exception counts as a crash of the
parser, which the child reports as such.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

__all__ = ["Extractor", "ExtractionLimits", "Job", "Output", "is_memory_error", "page_ranges"]

# How running out of address space shows: Python's MemoryError, MuPDF's
# "code=2: realloc (52429248 bytes) failed", C++'s std::bad_alloc.
_MEMORY_ERROR = re.compile(r"MemoryError|bad_alloc|out of memory|(?:m|c|re)alloc\b.*fail", re.I)


@dataclass(frozen=True, slots=True)
class ExtractionLimits:
    timeout_s: float = 120.0
    """Wall-clock budget of one extraction (the child is killed after it)."""
    memory_mb: int = 1024
    """Address space the extraction child may add on top of the server's (``RLIMIT_AS``)."""
    max_pages: int = 2000
    """PDFs and presentations with more pages (slides) fail."""
    max_chars_per_page: int = 100_000
    """Longer page texts are truncated, with a warning."""
    max_total_chars: int = 20_000_000
    """Documents with more text fail (bounds the worker's memory)."""
    text_page_chars: int = 8_000
    """Size of a logical page of formats without pages (text, Word, HTML, CSV)."""
    ocr: bool = True
    """Read PDF pages without a text layer with OCR."""
    ocr_dpi: int = 200
    """Resolution scanned pages are rendered at for OCR."""
    ocr_max_pages: int = 200
    """Pages read with OCR per document; later ones are skipped with a warning."""
    ocr_memory_mb: int = 1024
    """Address space added to ``memory_mb`` for PDFs when OCR is on (the OCR engine maps
    its models and ONNX Runtime's buffers: ~0.9 GB of address space on top of PyMuPDF)."""
    max_unzipped_mb: int = 512
    """Office files (ZIP) that unpack to more than this fail."""
    max_cells: int = 2_000_000
    """Spreadsheet and CSV cells read per document; later ones are skipped with a warning."""


@dataclass(frozen=True, slots=True)
class Job:
    """What the child is asked to do with the bytes it receives."""

    content_type: str
    encoding: str | None
    encoding_guessed: bool
    limits: ExtractionLimits


class Output(Protocol):
    """Where an extractor writes its results (a pipe to the parent, in the child)."""

    def meta(self, *, page_count: int) -> None:
        """The number of pages, before the first page (PDF, slides, sheets)."""

    def page(self, number: int, text: str, *, ocr: bool = False) -> None:
        """One page (1-based, in order); ``ocr`` when its text was read with OCR."""

    def warn(self, text: str) -> None:
        """Something the user should know: text may be incomplete or approximate."""


Extractor = Callable[[bytes, Job, Output], None]


def page_ranges(numbers: list[int]) -> str:
    """``[2, 3, 4, 5, 9]`` -> ``"2–5, 9"`` (ranges of consecutive page numbers)."""
    parts: list[str] = []
    start = previous = None
    for number in [*numbers, None]:
        if start is not None and number == (previous or 0) + 1:
            previous = number
            continue
        if start is not None:
            parts.append(str(start) if start == previous else f"{start}–{previous}")
        start = previous = number
    return ", ".join(parts)


def is_memory_error(exc: BaseException) -> bool:
    """Whether ``exc`` means the memory limit was hit (whatever library raised it)."""
    return isinstance(exc, MemoryError) or bool(_MEMORY_ERROR.search(repr(exc)))
