"""Document type detection from the bytes themselves (never from the client's claim).

Shared by the upload service (reject early, 415) and the processor (decide how to
extract). Supported: PDF, UTF-8 plain text and Markdown. Markdown and plain text are the
same bytes to a detector; Markdown is recognised by its syntax, or by a ``.md`` name when
the content is already known to be text (the name never turns bytes into a PDF or text).
"""

from __future__ import annotations

import codecs
import re

__all__ = [
    "MARKDOWN",
    "PDF",
    "PLAIN_TEXT",
    "SNIFF_BYTES",
    "SUPPORTED_CONTENT_TYPES",
    "detect_content_type",
]

PDF = "application/pdf"
PLAIN_TEXT = "text/plain"
MARKDOWN = "text/markdown"
SUPPORTED_CONTENT_TYPES = (PDF, PLAIN_TEXT, MARKDOWN)
SNIFF_BYTES = 64 * 1024  # how much of the file callers should pass

_UTF8_BOM = b"\xef\xbb\xbf"
_MARKDOWN_NAMES = (".md", ".markdown", ".mdown", ".mkd")
# Control characters that do not occur in real text (tab, LF, FF, CR and ESC are allowed).
_BINARY_CONTROLS = re.compile(rb"[\x00-\x08\x0b\x0e-\x1a\x1c-\x1f\x7f]")
_MARKDOWN_SIGNALS = (
    re.compile(r"^#{1,6}[ \t]+\S", re.MULTILINE),  # ATX heading
    re.compile(r"^\s{0,3}(?:[-*+]|\d{1,9}[.)])[ \t]+\S", re.MULTILINE),  # list item
    re.compile(r"^\s{0,3}(?:```|~~~)", re.MULTILINE),  # fenced code
    re.compile(r"\[[^\]\n]+\]\([^)\s]+\)"),  # inline link or image
    re.compile(r"^\s{0,3}\|?[ \t]*:?-{3,}:?[ \t]*\|", re.MULTILINE),  # table rule
    re.compile(r"^\S[^\n]*\n(?:=+|-+)[ \t]*$", re.MULTILINE),  # setext heading
    re.compile(r"^\s{0,3}>[ \t]?\S", re.MULTILINE),  # block quote
    re.compile(r"(?:\*\*|__)\S[^\n]*?\S(?:\*\*|__)"),  # strong emphasis
)


def _is_pdf(head: bytes) -> bool:
    # PDF readers tolerate leading whitespace; anything else before the header is refused
    # so a text file that merely mentions "%PDF-" is not taken for a PDF.
    return head.lstrip(b" \t\r\n\f\x00").startswith(b"%PDF-")


def _decode_text(head: bytes) -> str | None:
    """The head as text if it is UTF-8 without binary control characters, else None."""
    body = head.removeprefix(_UTF8_BOM)
    if _BINARY_CONTROLS.search(body):
        return None
    decoder = codecs.getincrementaldecoder("utf-8")("strict")
    try:
        # A head shorter than SNIFF_BYTES is the whole file and must end cleanly; a longer
        # one may have cut the last multi-byte character in two.
        return decoder.decode(body, final=len(head) < SNIFF_BYTES)
    except UnicodeDecodeError:
        return None


def _looks_like_markdown(text: str) -> bool:
    return sum(1 for signal in _MARKDOWN_SIGNALS if signal.search(text)) >= 2


def detect_content_type(head: bytes, *, filename: str | None = None) -> str | None:
    """The content type of a file from its first bytes, or None when unsupported.

    ``head`` should be the first :data:`SNIFF_BYTES` of the file, or all of it when it is
    shorter (then it must be complete UTF-8 to count as text). Empty
    input is unsupported (None). ``filename`` only distinguishes Markdown from plain text.
    """
    if not head:
        return None
    if _is_pdf(head):
        return PDF
    text = _decode_text(head)
    if text is None:
        return None
    named_markdown = filename is not None and filename.lower().endswith(_MARKDOWN_NAMES)
    return MARKDOWN if named_markdown or _looks_like_markdown(text) else PLAIN_TEXT
