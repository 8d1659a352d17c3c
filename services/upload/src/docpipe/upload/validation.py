"""What the upload service accepts: filenames made safe to store and show, file types
decided by content, and access groups that leave the document visible to its caller.

A filename is only ever metadata (storage keys never derive from it), but it is shown to
people and written into S3 metadata, so path components, control and bidi-override
characters go, the text is NFC-normalised and capped at 255 UTF-8 bytes with its extension
kept. Spaces and non-ASCII letters stay.
"""

from __future__ import annotations

import re
import unicodedata

from docpipe.common.access import can_see
from docpipe.common.auth import Principal
from docpipe.common.filetypes import SUPPORTED_CONTENT_TYPES, detect
from docpipe.upload.exceptions import EmptyFile, InvalidAccess, InvalidFilename, UnsupportedType

__all__ = [
    "MAX_FILENAME_BYTES",
    "check_access",
    "check_content",
    "check_declared_type",
    "sanitize_filename",
]

MAX_FILENAME_BYTES = 255
_MAX_EXTENSION_CHARS = 16
# Bidirectional overrides and isolates let "gpj.exe" display as "exe.jpg".
_BIDI_CONTROLS = frozenset(
    "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
)
_SPACES = re.compile(r"\s+")


def _clean_char(ch: str) -> str:
    if ch.isspace():
        return " "  # tabs, newlines, separators: one plain space
    if ch in _BIDI_CONTROLS or unicodedata.category(ch) in ("Cc", "Cs"):
        return ""  # control characters (NUL included) and lone surrogates
    return ch


def _truncate_utf8(text: str, limit: int) -> str:
    encoded = text.encode("utf-8")[:limit]
    return encoded.decode("utf-8", errors="ignore")  # drops a cut multi-byte tail


def _cap_length(name: str) -> str:
    if len(name.encode("utf-8")) <= MAX_FILENAME_BYTES:
        return name
    stem, dot, extension = name.rpartition(".")
    if not dot or not stem or len(extension) > _MAX_EXTENSION_CHARS:
        return _truncate_utf8(name, MAX_FILENAME_BYTES).rstrip()
    suffix = f".{extension}"
    room = MAX_FILENAME_BYTES - len(suffix.encode("utf-8"))
    return _truncate_utf8(stem, room).rstrip() + suffix


def sanitize_filename(raw: str | None) -> str:
    """A filename safe to store and display, or :class:`InvalidFilename`."""
    name = unicodedata.normalize("NFC", raw or "")
    name = re.split(r"[/\\]", name)[-1]  # both separators, whatever the client's OS
    name = _SPACES.sub(" ", "".join(map(_clean_char, name))).strip(" ")
    name = name.rstrip(". ")  # trailing dots and spaces vanish on Windows file systems
    if name in ("", ".", ".."):
        raise InvalidFilename("the filename is empty once path and control characters are removed")
    return _cap_length(name)


def check_content(data: bytes, *, filename: str) -> str:
    """The content type detected from a file's bytes, or the matching error.

    The same detector runs again in the processor on the stored object, so a presigned
    upload (never seen here) is held to the same rules.
    """
    if not data:
        raise EmptyFile(f"{filename!r} is empty")
    detection = detect(data, filename=filename)
    if detection.content_type is None:
        raise UnsupportedType(f"{filename!r}: {detection.reason}")
    return detection.content_type


def check_declared_type(content_type: str) -> str:
    """A presigned upload's declared type (parameters dropped), if docpipe supports it."""
    base = content_type.split(";", 1)[0].strip().lower()
    if base not in SUPPORTED_CONTENT_TYPES:
        raise UnsupportedType(
            f"content_type must be one of {', '.join(SUPPORTED_CONTENT_TYPES)}, not {base!r}"
        )
    return base


def check_access(reader: Principal, access: list[str]) -> list[str]:
    """``access`` if the caller who sets it still sees the document, else InvalidAccess.

    A caller may restrict a document to groups, but not so far that it disappears from
    the caller itself (its own upload would then answer "no such document").
    """
    if not can_see(access, groups=reader.groups, admin=reader.admin):
        raise InvalidAccess(
            f"access {access} would hide the document from you: name at least one of your"
            " groups, or leave it empty (everyone in the tenant)"
        )
    return access
