"""Document type detection and per-page text extraction.

Types are detected by content, never by filename: a PDF starts with ``%PDF-`` (after
whitespace), or is binary with ``%PDF-`` within its first 1024 bytes (and MuPDF must agree
it is a PDF); anything else must be text.

Text encoding policy (strict, so nothing is silently garbled): UTF-8, with or without
a byte-order mark, or UTF-16 with a byte-order mark. Other encodings (Big5, GBK,
Shift-JIS, Latin-1, ...) are rejected with the offset of the first invalid byte and a
hint to save the file as UTF-8; so are files with NUL bytes or mostly control
characters (binary data).

PDF pages are extracted in a child process with time, memory and page caps
(:mod:`docpipe.processor.sandbox`). Plain text and Markdown have no pages, so a
"page" is a logical section: the text between form feeds, further split at paragraph
breaks into sections of at most ``text_page_chars`` characters.
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Generator, Iterator
from contextlib import closing
from dataclasses import dataclass, field

from docpipe.processor import sandbox

__all__ = [
    "CONTENT_TYPES",
    "CorruptDocumentError",
    "EncryptedDocumentError",
    "ExtractionError",
    "ExtractionLimits",
    "ExtractionMemoryError",
    "ExtractionResult",
    "ExtractionTimeoutError",
    "PageText",
    "TooManyPagesError",
    "TooMuchTextError",
    "UnsupportedDocumentError",
    "detect_content_type",
    "extract_pages",
]

PDF = "application/pdf"
PLAIN = "text/plain"
MARKDOWN = "text/markdown"
CONTENT_TYPES = (PDF, PLAIN, MARKDOWN)

_PDF_MAGIC_WINDOW = 1024
_SNIFF_BYTES = 64 * 1024


# ------------------------------------------------------------------------------- errors


class ExtractionError(Exception):
    """The document cannot be extracted; ``reason`` is fit for the document's ``error``."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class EncryptedDocumentError(ExtractionError):
    """The PDF needs a password to open."""


class CorruptDocumentError(ExtractionError):
    """The file claims a type but its content is broken (or crashes the parser)."""


class UnsupportedDocumentError(ExtractionError):
    """Not a PDF, not UTF-8/UTF-16 text, or empty."""


class TooManyPagesError(ExtractionError):
    """More pages than ``ExtractionLimits.max_pages``."""


class TooMuchTextError(ExtractionError):
    """More text than ``ExtractionLimits.max_total_chars``."""


class ExtractionTimeoutError(ExtractionError):
    """Extraction ran longer than ``ExtractionLimits.timeout_s`` and was killed."""


class ExtractionMemoryError(ExtractionError):
    """Extraction needed more than ``ExtractionLimits.memory_mb`` and was stopped."""


_FAILURES: dict[str, type[ExtractionError]] = {
    "encrypted": EncryptedDocumentError,
    "corrupt": CorruptDocumentError,
    "crash": CorruptDocumentError,
    "unsupported": UnsupportedDocumentError,
    "too_many_pages": TooManyPagesError,
    "timeout": ExtractionTimeoutError,
    "memory": ExtractionMemoryError,
}

# -------------------------------------------------------------------------------- types


@dataclass(frozen=True, slots=True)
class ExtractionLimits:
    timeout_s: float = 120.0
    """Wall-clock budget of one PDF extraction (child start-up excluded)."""
    memory_mb: int = 1024
    """Address space the extraction child may add on top of its interpreter + PyMuPDF."""
    max_pages: int = 2000
    """PDFs with more pages fail (logical text sections are not capped by this)."""
    max_chars_per_page: int = 100_000
    """Longer page texts are truncated, with a warning."""
    max_total_chars: int = 20_000_000
    """Documents with more text fail (bounds the worker's memory)."""
    text_page_chars: int = 8_000
    """Size of a logical page of plain text or Markdown."""


@dataclass(frozen=True, slots=True)
class PageText:
    number: int
    """1-based page (PDF) or logical section (text) number."""
    text: str


@dataclass(frozen=True, slots=True)
class ExtractionResult:
    content_type: str
    pages: list[PageText]
    page_count: int
    warnings: list[str] = field(default_factory=list)


# ---------------------------------------------------------------------------- detection

_MD_HEADING = re.compile(r"^#{1,6}[ \t]+\S", re.MULTILINE)
_MD_BLOCK = re.compile(
    r"^(?:```|~~~)"  # code fence
    r"|^[ \t]*\|?[ \t]*:?-{3,}:?[ \t]*(?:\|[ \t]*:?-{3,}:?[ \t]*)+\|?[ \t]*$",  # table rule
    re.MULTILINE,
)
_MD_LINK = re.compile(r"!?\[[^\]\n]+\]\([^)\s]+(?:\s+\"[^\"\n]*\")?\)")
_MD_WEAK = re.compile(
    r"^(?:[ \t]*(?:[-*+]|\d{1,3}[.)])[ \t]+\S"  # list item
    r"|>[ \t]"  # block quote
    r"|(?:=+|-+)[ \t]*$)"  # setext underline
    r"|\*\*[^*\n]+\*\*|__[^_\n]+__",  # strong emphasis
    re.MULTILINE,
)
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0e-\x1a\x1c-\x1f\x7f]")


def _looks_like_markdown(text: str) -> bool:
    """Fences and table rules are decisive; headings and links need one more signal."""
    sample = text[:_SNIFF_BYTES]
    score = 3 * len(_MD_BLOCK.findall(sample))
    score += 2 * (len(_MD_HEADING.findall(sample)) + len(_MD_LINK.findall(sample)))
    score += len(_MD_WEAK.findall(sample))
    return score >= 3


def _decoder_for(head: bytes) -> tuple[str, int]:
    """Codec name and BOM length for ``head``."""
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8", 3
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16", 0  # the utf-16 codec consumes the BOM itself
    return "utf-8", 0


def _decode_head(head: bytes) -> str | None:
    codec, skip = _decoder_for(head)
    try:  # final=False: the head may end inside a multi-byte character
        return codecs.getincrementaldecoder(codec)().decode(head[skip:], final=False)
    except UnicodeDecodeError:
        return None


def _looks_binary(text: str) -> bool:
    if "\x00" in text:
        return True
    sample = text[:_SNIFF_BYTES]
    return len(_CONTROL.findall(sample)) > max(8, len(sample) // 100)


def detect_content_type(head: bytes) -> str | None:
    """``application/pdf``, ``text/markdown``, ``text/plain`` or ``None`` (unsupported).

    ``head`` is the start of the file (a few KB are enough; up to 64 KB is used).
    """
    if not head:
        return None
    if head.lstrip(b" \t\r\n\f").startswith(b"%PDF-"):
        return PDF
    text = _decode_head(head[:_SNIFF_BYTES])
    if text is None or _looks_binary(text):
        # Junk before the header is legal in a PDF, but a text file that merely mentions
        # "%PDF-" is text (as the upload service decided when it accepted it).
        return PDF if b"%PDF-" in head[:_PDF_MAGIC_WINDOW] else None
    return MARKDOWN if _looks_like_markdown(text) else PLAIN


# ----------------------------------------------------------------------------- cleaning

_STRIP = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f\ufeff\ufffe\uffff]")


def _clean(text: str) -> str:
    """Drop characters Postgres or the chunker cannot use (NUL, C0 controls, BOMs)."""
    return _STRIP.sub("", text)


# ---------------------------------------------------------------------------------- PDF


def _pdf_messages(
    data: bytes, limits: ExtractionLimits
) -> Generator[sandbox.PdfMessage, None, None]:
    try:
        yield from sandbox.run_pdf_extraction(
            data,
            timeout_s=limits.timeout_s,
            memory_mb=limits.memory_mb,
            max_pages=limits.max_pages,
            max_chars_per_page=limits.max_chars_per_page,
        )
    except sandbox.SandboxFailure as failure:
        if failure.kind == "worker":  # not the document's fault: let the caller retry
            raise RuntimeError(failure.reason) from None
        raise _FAILURES.get(failure.kind, ExtractionError)(failure.reason) from None


def _extract_pdf(data: bytes, limits: ExtractionLimits) -> ExtractionResult:
    pages: list[PageText] = []
    warnings: list[str] = []
    truncated: list[int] = []
    page_count = total = 0
    with closing(_pdf_messages(data, limits)) as messages:
        for message in messages:
            if isinstance(message, sandbox.PdfMeta):
                page_count = message.page_count
            elif isinstance(message, sandbox.PdfPage):
                text = _clean(message.text)
                total += len(text)
                if total > limits.max_total_chars:
                    raise TooMuchTextError(_too_much_text(limits))
                pages.append(PageText(number=message.number, text=text))
                if message.truncated:
                    truncated.append(message.number)
            else:
                warnings.extend(message.warnings)
    if truncated:
        warnings.append(
            f"text of {len(truncated)} page(s) truncated to "
            f"{limits.max_chars_per_page} characters (first: page {truncated[0]})"
        )
    if not any(page.text.strip() for page in pages):
        warnings.append("no extractable text (scanned pages need OCR, which is not done)")
    return ExtractionResult(content_type=PDF, pages=pages, page_count=page_count, warnings=warnings)


def _too_much_text(limits: ExtractionLimits) -> str:
    return f"the document has more than {limits.max_total_chars:,} characters of text"


# --------------------------------------------------------------------------------- text


def _decode_text(data: bytes) -> str:
    codec, skip = _decoder_for(data)
    try:
        return data[skip:].decode(codec)
    except UnicodeDecodeError as exc:
        offset = exc.start + skip
        raise UnsupportedDocumentError(
            f"the file is not a PDF and not valid {codec.upper()} text (invalid byte "
            f"0x{data[offset]:02x} at offset {offset}); save it as UTF-8"
        ) from None


def _split_section(section: str, size: int) -> Iterator[str]:
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


def _text_pages(text: str, size: int) -> list[PageText]:
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    sections = text.split("\f")
    if len(sections) > 1 and not sections[-1].strip():
        sections.pop()  # a trailing form feed does not open a new page
    pages: list[PageText] = []
    for section in sections:
        for piece in _split_section(section, size):
            pages.append(PageText(number=len(pages) + 1, text=piece))
    return pages


def _extract_text(data: bytes, content_type: str, limits: ExtractionLimits) -> ExtractionResult:
    text = _clean(_decode_text(data))
    if len(text) > limits.max_total_chars:
        raise TooMuchTextError(_too_much_text(limits))
    pages = _text_pages(text, limits.text_page_chars)
    warnings = [] if text.strip() else ["the document contains no text"]
    return ExtractionResult(
        content_type=content_type, pages=pages, page_count=len(pages), warnings=warnings
    )


# ---------------------------------------------------------------------------------- API


def extract_pages(data: bytes, *, limits: ExtractionLimits) -> ExtractionResult:
    """Detect the type of ``data`` and extract its text page by page.

    Raises an :class:`ExtractionError` subclass whose ``reason`` explains the failure.
    """
    if not data:
        raise UnsupportedDocumentError("the file is empty")
    content_type = detect_content_type(data[:_SNIFF_BYTES])
    if content_type == PDF:
        return _extract_pdf(data, limits)
    if content_type is None:
        _decode_text(data)  # names the invalid byte if that is the problem
        raise UnsupportedDocumentError(
            "unsupported file type: only PDF, plain text and Markdown are accepted"
        )
    return _extract_text(data, content_type, limits)
