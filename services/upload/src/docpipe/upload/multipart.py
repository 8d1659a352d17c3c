"""Reading ``multipart/form-data`` uploads without trusting the body's size.

The declared ``Content-Length`` is checked before anything is read, and the bytes are
counted while streaming (a chunked or lying request is cut off at the cap). File parts
spool to disk past 1 MiB, so memory stays bounded whatever the client sends.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from dataclasses import dataclass

from fastapi import Request
from starlette.datastructures import UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser

from docpipe.upload.exceptions import (
    FileTooLarge,
    MalformedUpload,
    TooManyFiles,
    UnsupportedType,
)

__all__ = ["FILE_FIELD", "FORM_FIELDS", "IncomingFile", "IncomingForm", "read_files"]

FILE_FIELD = "file"
#: Text fields read from the form (applied to every file of the request); others are ignored.
FORM_FIELDS = ("metadata", "access")
_MAX_TEXT_FIELDS = 32
_MAX_TEXT_FIELD_BYTES = 16 * 1024  # metadata is capped at 8 KB of compact JSON later


@dataclass(frozen=True)
class IncomingFile:
    filename: str  # as the client sent it; sanitise before use
    data: bytes


@dataclass(frozen=True)
class IncomingForm:
    files: list[IncomingFile]
    fields: dict[str, str]
    """The :data:`FORM_FIELDS` present, as sent (validate before use)."""


def _check_declared_length(request: Request, limit: int) -> None:
    declared = request.headers.get("content-length")
    if declared is None:
        return
    if not declared.isdigit():
        raise MalformedUpload("Content-Length is not a number")
    if int(declared) > limit:
        raise FileTooLarge(f"the request body exceeds {limit} bytes; use POST /v1/uploads")


async def _capped(request: Request, limit: int) -> AsyncGenerator[bytes, None]:
    received = 0
    async for chunk in request.stream():
        received += len(chunk)
        if received > limit:
            raise FileTooLarge(f"the request body exceeds {limit} bytes; use POST /v1/uploads")
        yield chunk


def _text_fields(parts: list[tuple[str, UploadFile | str]]) -> dict[str, str]:
    fields: dict[str, str] = {}
    for name, value in parts:
        if name not in FORM_FIELDS:
            continue
        if not isinstance(value, str):
            raise MalformedUpload(f"the part named {name!r} must be a text field, not a file")
        if name in fields:
            raise MalformedUpload(f"send the {name!r} field once")
        fields[name] = value
    return fields


async def _collect(
    parts: list[tuple[str, UploadFile | str]], *, max_file_bytes: int, max_files: int
) -> list[IncomingFile]:
    files: list[IncomingFile] = []
    for name, value in parts:
        if name != FILE_FIELD:
            continue  # text fields: see _text_fields
        if isinstance(value, str):
            raise MalformedUpload(f"the part named {FILE_FIELD!r} must be a file")
        if len(files) == max_files:
            raise TooManyFiles(f"at most {max_files} files per request")
        data = await value.read(max_file_bytes + 1)
        if len(data) > max_file_bytes:
            raise FileTooLarge(f"{value.filename!r} exceeds {max_file_bytes} bytes")
        files.append(IncomingFile(filename=value.filename or "", data=data))
    if not files:
        raise MalformedUpload(f"send one or more multipart parts named {FILE_FIELD!r}")
    return files


async def read_files(
    request: Request, *, max_body_bytes: int, max_file_bytes: int, max_files: int
) -> IncomingForm:
    """The ``file`` parts of a multipart request, each at most ``max_file_bytes``, and its
    :data:`FORM_FIELDS`."""
    media_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media_type != "multipart/form-data":
        raise UnsupportedType("send the files as multipart/form-data")
    _check_declared_length(request, max_body_bytes)
    parser = MultiPartParser(
        request.headers,
        _capped(request, max_body_bytes),
        max_fields=_MAX_TEXT_FIELDS,
        max_part_size=_MAX_TEXT_FIELD_BYTES,
    )
    try:
        form = await parser.parse()
    except MultiPartException as exc:
        raise MalformedUpload(f"malformed multipart body: {exc.message}") from exc
    try:
        parts = list(form.multi_items())
        files = await _collect(parts, max_file_bytes=max_file_bytes, max_files=max_files)
        return IncomingForm(files=files, fields=_text_fields(parts))
    finally:
        await form.close()
