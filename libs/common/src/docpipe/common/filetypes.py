"""What a file is, decided from its bytes: the one detector upload and processor share.

The upload service calls it to refuse a file early (415); the processor calls it again on
the stored object before extracting, so a presigned upload (which the upload service
never sees) is held to exactly the same rules. Supported (docs/api.md): PDF, Word
(.docx), Excel (.xlsx), PowerPoint (.pptx), HTML, CSV, plain text and Markdown. Legacy
binary Office files and other archives are recognised in order to refuse them with a
reason that says what to save them as.

**Linear in its input.** Every check is either a bounded look at a prefix, a scan with
``bytes.find``/``str.find`` (C loops), or a regular expression *anchored* at the start of
one line, whose cost is bounded by that line: nothing can restart a match at every
position of a long line (the quadratic trap of unanchored patterns such as
``\\[[^\\]]+\\]\\(`` on a line of ``[``). Text is judged on its first :data:`SNIFF_BYTES`.

**Text encodings.** UTF-8 (with or without a byte-order mark) and UTF-16 with a BOM are
read as they are; an HTML page's declared ``charset`` is honoured; otherwise bytes that
are not UTF-8 are accepted only when they are Big5 (what Excel and Notepad in Taiwan
write), as judged by ``charset-normalizer`` (imported only for such bytes, so the upload
service's cold start does not pay for it), and the document then carries an "encoding
guessed" warning. Anything else is refused with a hint to save the file as UTF-8.

The filename never changes the family a file belongs to; among text files only, a
``.md`` name makes Markdown and a ``.csv``/``.tsv`` name makes CSV.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
from dataclasses import dataclass

__all__ = [
    "PAGED_TYPES",
    "CSV",
    "DOCX",
    "HTML",
    "MARKDOWN",
    "PDF",
    "PLAIN_TEXT",
    "PPTX",
    "SNIFF_BYTES",
    "SUPPORTED_CONTENT_TYPES",
    "XLSX",
    "Detection",
    "detect",
    "detect_content_type",
]

PDF = "application/pdf"
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
PPTX = "application/vnd.openxmlformats-officedocument.presentationml.presentation"
HTML = "text/html"
CSV = "text/csv"
PLAIN_TEXT = "text/plain"
MARKDOWN = "text/markdown"
SUPPORTED_CONTENT_TYPES = (PDF, DOCX, XLSX, PPTX, HTML, CSV, PLAIN_TEXT, MARKDOWN)
#: Formats whose chunks cite a page: PDF pages, PowerPoint slides, Excel sheets. The rest
#: have no pages, and their chunks' page numbers (and the document's page count) are null.
PAGED_TYPES = frozenset({PDF, PPTX, XLSX})
SNIFF_BYTES = 64 * 1024  # how much of a text file is judged

_PDF_MAGIC = b"%PDF-"
_PDF_MAGIC_WINDOW = 1024  # junk before the header is legal in a PDF, within the first KB
_ZIP_MAGIC = b"PK\x03\x04"
_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_UTF8_BOM = codecs.BOM_UTF8
_UTF16_BOMS = (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)
_MAX_ZIP_NAMES = 20_000  # entries looked at to tell Office files apart
_MARKDOWN_NAMES = (".md", ".markdown", ".mdown", ".mkd")
_CSV_NAMES = (".csv", ".tsv")
_CSV_DELIMITERS = (",", "\t", ";")
_CSV_SAMPLE_LINES = 20
_MAX_LINE_JUDGED = 4096  # characters of one line the Markdown checks look at

# Control characters that do not occur in real text (tab, LF, FF, CR and ESC are allowed).
_BINARY_CONTROLS = re.compile(r"[\x00-\x08\x0b\x0e-\x1a\x1c-\x1f\x7f]")
# Each pattern is used with .match on a single line: anchored, so linear in that line.
_LINE_SIGNALS = {
    "heading": re.compile(r"#{1,6}[ \t]+\S"),
    "list": re.compile(r"[ \t]{0,3}(?:[-*+]|\d{1,9}[.)])[ \t]+\S"),
    "fence": re.compile(r"[ \t]{0,3}(?:```|~~~)"),
    "table": re.compile(r"[ \t]{0,3}\|?[ \t]*:?-{3,}:?[ \t]*\|"),
    "quote": re.compile(r"[ \t]{0,3}>[ \t]?\S"),
}
_SETEXT_RULE = re.compile(r"(?:=+|-+)[ \t]*")
_HTML_START = re.compile(rb"<!doctype\s+html|<html[\s>]|<head[\s>]|<body[\s>]", re.I)
# WHATWG "prescan": a charset declared in a <meta> within the first 1024 bytes.
_META_CHARSET = re.compile(
    rb"<meta[^>]{0,256}?charset\s*=\s*[\"']?\s*([A-Za-z0-9_.:-]{1,40})", re.I
)
_HTML_PRESCAN = 1024


@dataclass(frozen=True, slots=True)
class Detection:
    """The verdict on a file: a supported type, or the reason it is refused."""

    content_type: str | None
    """One of :data:`SUPPORTED_CONTENT_TYPES`, or None when refused."""
    reason: str | None = None
    """Why the file is refused, in words a user can act on (None when supported)."""
    encoding: str | None = None
    """For text types: the Python codec to decode with (``utf-8-sig``, ``utf-16``, …)."""
    encoding_guessed: bool = False
    """The encoding was neither declared (BOM, HTML charset) nor UTF-8, but inferred."""


_NOT_TEXT = (
    "unsupported file type: docpipe reads PDF, Word (.docx), Excel (.xlsx), PowerPoint"
    " (.pptx), HTML, CSV, plain text and Markdown"
)
_NOT_UTF8 = (
    "the file is text in an encoding docpipe cannot read reliably (it is not UTF-8,"
    " UTF-16 or Big5); save it as UTF-8"
)
_LEGACY = {
    "doc": "a Word 97-2003 document (.doc): open it in Word and save it as a Word"
    " Document (.docx), then upload that",
    "xls": "an Excel 97-2003 workbook (.xls): open it in Excel and save it as an Excel"
    " Workbook (.xlsx), then upload that",
    "ppt": "a PowerPoint 97-2003 presentation (.ppt): open it in PowerPoint and save it as"
    " a PowerPoint Presentation (.pptx), then upload that",
    "ole": "a legacy Office file (97-2003 binary format): save it as .docx, .xlsx or .pptx",
    "odf": "an OpenDocument file: save it as .docx, .xlsx or .pptx (or PDF)",
    "zip": "a ZIP archive that is not a Word, Excel or PowerPoint file",
}


def _refused(reason: str) -> Detection:
    return Detection(content_type=None, reason=reason)


# --------------------------------------------------------------------------- binary families


def _starts_as_pdf(data: bytes) -> bool:
    if data.lstrip(b" \t\r\n\f").startswith(_PDF_MAGIC):
        return True
    # Junk before the header (a mail gateway's banner) is legal, but only binary junk:
    # a text file that merely mentions "%PDF-" early on stays text.
    window = data[:_PDF_MAGIC_WINDOW]
    return _PDF_MAGIC in window and _looks_binary_bytes(window[: window.find(_PDF_MAGIC)])


def _looks_binary_bytes(data: bytes) -> bool:
    return any(b < 9 or 13 < b < 32 and b != 27 for b in data)


def _office_from_names(names: list[str]) -> Detection:
    lowered = {n.lower() for n in names}
    if "word/document.xml" in lowered:
        return Detection(DOCX)
    if "xl/workbook.xml" in lowered:
        return Detection(XLSX)
    if "ppt/presentation.xml" in lowered:
        return Detection(PPTX)
    if "mimetype" in lowered or "content.xml" in lowered:
        return _refused(f"unsupported file type: {_LEGACY['odf']}")
    return _refused(f"unsupported file type: {_LEGACY['zip']}")


def _zip_names(data: bytes) -> list[str]:
    """Entry names from the central directory, else from the local headers in order."""
    import zipfile  # only for ZIP files: keeps the upload service's cold start light

    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            return [info.filename for info in archive.infolist()[:_MAX_ZIP_NAMES]]
    except (zipfile.BadZipFile, ValueError, OSError, EOFError, NotImplementedError):
        pass
    names: list[str] = []  # a truncated archive: walk the local file headers
    at = 0
    while len(names) < _MAX_ZIP_NAMES and (at := data.find(_ZIP_MAGIC, at)) >= 0:
        size = int.from_bytes(data[at + 26 : at + 28], "little")
        names.append(data[at + 30 : at + 30 + size].decode("utf-8", "replace"))
        at += 30
    return names


def _legacy_office(data: bytes) -> Detection:
    """A compound file (OLE2): name the format from its streams' UTF-16 names."""
    streams = {
        "doc": "WordDocument",
        "xls": "Workbook",
        "ppt": "PowerPoint Document",
    }
    for kind, stream in streams.items():
        if stream.encode("utf-16-le") in data:
            return _refused(f"unsupported file type: {_LEGACY[kind]}")
    if "Book".encode("utf-16-le") + b"\x00\x00" in data:  # Excel 5.0/95
        return _refused(f"unsupported file type: {_LEGACY['xls']}")
    return _refused(f"unsupported file type: {_LEGACY['ole']}")


# -------------------------------------------------------------------------------- text


def _looks_binary(text: str) -> bool:
    if "\x00" in text:
        return True
    controls = len(_BINARY_CONTROLS.findall(text))
    return controls > max(8, len(text) // 100)


def _decode_strict(head: bytes, codec: str, *, complete: bool) -> str | None:
    decoder = codecs.getincrementaldecoder(codec)("strict")
    try:
        # A head cut from a longer file may end inside a multi-byte character.
        return str(decoder.decode(head, final=complete))
    except UnicodeDecodeError:
        return None


def _declared_html_charset(head: bytes) -> str | None:
    found = _META_CHARSET.search(head[:_HTML_PRESCAN])
    if found is None:
        return None
    try:
        name = codecs.lookup(found.group(1).decode("ascii")).name
    except LookupError:
        return None
    # A page cannot really be UTF-16 if its bytes spell ASCII markup (WHATWG says UTF-8).
    return "utf-8" if name.startswith("utf-16") else name


def _guess_big5(head: bytes) -> bool:
    """Whether non-UTF-8 text is Big5 (Traditional Chinese), per charset-normalizer."""
    if _decode_strict(head, "cp950", complete=False) is None:
        return False
    from charset_normalizer import from_bytes  # only here: keeps the import off cold starts

    best = from_bytes(head[: 16 * 1024]).best()
    return best is not None and best.encoding in ("big5", "cp950", "big5hkscs")


def _text_encoding(head: bytes, *, complete: bool) -> tuple[str, bool] | None:
    """(codec, guessed) for text, or None when the bytes are not readable text."""
    if head.startswith(_UTF8_BOM):
        return "utf-8-sig", False
    if head.startswith(_UTF16_BOMS):
        # An odd-length file cannot be UTF-16 all through; a cut head may be odd.
        if complete and len(head) % 2:
            return None
        return "utf-16", False
    if _HTML_START.search(head[:_HTML_PRESCAN]):  # WHATWG order: BOM, declared, guessed
        declared = _declared_html_charset(head)
        if declared and _decode_strict(head, declared, complete=complete) is not None:
            return declared, False
    if _decode_strict(head, "utf-8", complete=complete) is not None:
        return "utf-8", False
    if b"\x00" in head:
        return None
    if _guess_big5(head):
        return "cp950", True
    return None


def _lines(text: str) -> list[str]:
    return text.splitlines()


def _inline_link(line: str) -> bool:
    """``[text](target)`` somewhere in the line, found with bounded scans from each ``](``."""
    at = line.find("](")
    while at > 0:
        opening = line.rfind("[", max(0, at - 200), at)
        closing = line.find(")", at + 2, at + 502)
        if opening >= 0 and closing > at + 2 and " " not in line[at + 2 : closing]:
            return True
        at = line.find("](", at + 2)
    return False


def _strong_emphasis(line: str) -> bool:
    """``**text**`` or ``__text__``: delimiters paired left to right, one pass."""
    for marker in ("**", "__"):
        start = line.find(marker)
        while start >= 0:
            end = line.find(marker, start + 2)
            if end < 0:
                break
            inner = line[start + 2 : end]
            if inner.strip() and not inner[0].isspace() and not inner[-1].isspace():
                return True
            start = line.find(marker, end + 2)
    return False


_DECISIVE = frozenset({"fence", "table"})  # nothing else looks like these


def _looks_like_markdown(text: str) -> bool:
    """A code fence or table rule, or two other different Markdown constructs (one
    heading or list alone is too easily an accident)."""
    found: set[str] = set()
    previous = ""
    for full_line in _lines(text):
        line = full_line[:_MAX_LINE_JUDGED]
        for name, pattern in _LINE_SIGNALS.items():
            if name not in found and pattern.match(line):
                found.add(name)
        if previous.strip() and _SETEXT_RULE.fullmatch(line):
            found.add("setext")
        if "link" not in found and _inline_link(line):
            found.add("link")
        if "strong" not in found and _strong_emphasis(line):
            found.add("strong")
        if len(found) >= 2 or found & _DECISIVE:
            return True
        previous = line
    return False


def _looks_like_html(text: str) -> bool:
    start = text.lstrip("\ufeff \t\r\n")[:_HTML_PRESCAN]
    return (
        start.startswith("<") and _HTML_START.search(start.encode("utf-8", "replace")) is not None
    )


def _csv_shape(text: str) -> bool:
    """Every sampled line has the same number (≥ 2) of fields for one delimiter."""
    sample = [line for line in _lines(text)[: _CSV_SAMPLE_LINES + 1] if line.strip()]
    if len(text) >= SNIFF_BYTES and len(sample) > 1:
        sample = sample[:-1]  # the last line of a cut head may be cut too
    if len(sample) < 3:
        return False
    for delimiter in _CSV_DELIMITERS:
        count = sum(line.count(delimiter) for line in sample)
        spaced = sum(line.count(delimiter + " ") for line in sample)
        if not count or 2 * spaced > count:  # prose: "a, b; c" has spaces after them
            continue
        try:
            widths = {len(row) for row in csv.reader(sample, delimiter=delimiter)}
        except csv.Error:
            continue
        if len(widths) == 1 and widths.pop() >= 2:
            return True
    return False


def _text_type(text: str, *, filename: str | None) -> str:
    name = (filename or "").lower()
    if _looks_like_html(text):
        return HTML
    if name.endswith(_CSV_NAMES):
        return CSV
    if name.endswith(_MARKDOWN_NAMES) or _looks_like_markdown(text):
        return MARKDOWN
    return CSV if _csv_shape(text) else PLAIN_TEXT


def _detect_text(data: bytes, *, filename: str | None) -> Detection:
    head = data[:SNIFF_BYTES]
    complete = len(data) < SNIFF_BYTES
    found = _text_encoding(head, complete=complete)
    if found is None:
        reason = _NOT_TEXT if _looks_binary_bytes(head[:4096]) else _NOT_UTF8
        return _refused(reason)
    codec, guessed = found
    text = _decode_strict(head, codec, complete=complete)
    if text is None:
        return _refused(_NOT_UTF8)
    if _looks_binary(text):
        return _refused(_NOT_TEXT)
    if not text.strip("\ufeff \t\r\n\f"):
        return _refused("the file contains no text")
    return Detection(_text_type(text, filename=filename), encoding=codec, encoding_guessed=guessed)


# ---------------------------------------------------------------------------------- API


def detect(data: bytes, *, filename: str | None = None) -> Detection:
    """The type of a whole file (or of as much of it as the caller has).

    Binary formats are recognised by their signatures (a ZIP's entry names tell Word,
    Excel and PowerPoint apart); everything else must be readable text. ``filename`` only
    chooses among text types (Markdown, CSV) and never makes a file supported.
    """
    if not data:
        return _refused("the file is empty")
    if _starts_as_pdf(data):
        return Detection(PDF)
    if data.startswith(_ZIP_MAGIC):
        return _office_from_names(_zip_names(data))
    if data.startswith(_OLE_MAGIC):
        return _legacy_office(data)
    return _detect_text(data, filename=filename)


def detect_content_type(data: bytes, *, filename: str | None = None) -> str | None:
    """The supported content type of ``data``, or None (see :func:`detect` for why)."""
    return detect(data, filename=filename).content_type
