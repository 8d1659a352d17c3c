"""Plain text and Markdown: decoded strictly, cut into logical pages.

Text has no pages, so a "page" is a logical section: the text between form feeds,
further split at paragraph breaks into sections of at most ``text_page_chars``.
"""

from __future__ import annotations

from collections.abc import Iterator

from docpipe.processor.exceptions import Failure, FailureKind
from docpipe.processor.extractors.base import Job, Output

__all__ = ["decode", "extract_text", "logical_pages", "split_section"]


def decode(data: bytes, job: Job, out: Output) -> str:
    """The whole file as text in the detected encoding, or a failure naming the bad byte."""
    codec = job.encoding or "utf-8"
    try:
        text = data.decode(codec)
    except UnicodeDecodeError as exc:
        name = "UTF-8" if codec.startswith("utf-8") else codec.upper()
        raise Failure(
            FailureKind.UNSUPPORTED,
            f"the file is not valid {name} text (invalid byte 0x{data[exc.start]:02x} at"
            f" offset {exc.start}); save it as UTF-8",
        ) from None
    except LookupError:
        raise Failure(FailureKind.UNSUPPORTED, f"unknown text encoding {codec!r}") from None
    if job.encoding_guessed:
        out.warn(
            f"the text encoding was not declared; it was read as {_label(codec)}"
            " (saving the file as UTF-8 avoids the guess)"
        )
    return text


def _label(codec: str) -> str:
    return "Big5" if codec in ("cp950", "big5") else codec


def split_section(section: str, size: int) -> Iterator[str]:
    """Pieces of at most ``size`` characters, cut at a paragraph break, line or space."""
    while len(section) > size:
        cut = -1
        for separator in ("\n\n", "\n", " "):
            cut = section.rfind(separator, size // 2, size)
            if cut > 0:
                break
        cut = cut if cut > 0 else size
        yield section[:cut]
        section = section[cut:]
    yield section


def logical_pages(text: str, size: int, out: Output) -> int:
    """Write ``text`` as logical pages; returns how many."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    sections = text.split("\f")
    if len(sections) > 1 and not sections[-1].strip():
        sections.pop()  # a trailing form feed does not open a new page
    count = 0
    for section in sections:
        for piece in split_section(section, size):
            count += 1
            out.page(count, piece)
    return count


def extract_text(data: bytes, job: Job, out: Output) -> None:
    text = decode(data, job, out)
    if not text.strip("\ufeff \t\r\n\f"):
        raise Failure(FailureKind.NO_TEXT, "the document contains no text")
    logical_pages(text, job.limits.text_page_chars, out)
