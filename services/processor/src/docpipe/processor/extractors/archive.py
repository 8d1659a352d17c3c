"""The ZIP container of an Office file, checked before any parser unpacks it.

A .docx/.xlsx/.pptx is a ZIP archive, and a tiny archive can unpack to gigabytes (a
1 KB .xlsx can claim billions of cells). Before a parser opens it, the central directory
must be readable and the declared sizes within bounds: at most ``max_unzipped_mb`` in all
and no large member compressed more than :data:`MAX_RATIO` to one. Python's ``zipfile``
(which python-docx, openpyxl and python-pptx use) never inflates a member beyond its
declared size, so the declared sizes are a real bound; the child's memory limit is the
backstop. Embedded objects (OLE packages, nested Office files) are counted, since they
are not read.
"""

from __future__ import annotations

import io
import zipfile

from docpipe.processor.exceptions import Failure, FailureKind
from docpipe.processor.extractors.base import Job, Output

__all__ = ["MAX_ENTRIES", "MAX_RATIO", "check_archive"]

MAX_ENTRIES = 10_000
MAX_RATIO = 200  # deflate tops out near 1032:1; real XML parts stay far below 200:1
_RATIO_FROM_BYTES = 1 << 20  # small members may compress any way they like
_EMBEDDED = ("/embeddings/",)


def check_archive(data: bytes, job: Job, out: Output, *, kind: str) -> None:
    """Refuse an archive that is broken or would unpack too far; warn of embedded objects."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            members = archive.infolist()
    except (zipfile.BadZipFile, ValueError, OSError, EOFError, NotImplementedError):
        raise Failure(
            FailureKind.CORRUPT, f"the {kind} file is damaged (its ZIP container cannot be read)"
        ) from None
    if len(members) > MAX_ENTRIES:
        raise Failure(FailureKind.CORRUPT, f"the {kind} file has over {MAX_ENTRIES:,} parts")
    cap = job.limits.max_unzipped_mb << 20
    if sum(m.file_size for m in members) > cap:
        raise Failure(
            FailureKind.TOO_LARGE,
            f"the {kind} file unpacks to more than {job.limits.max_unzipped_mb} MB",
        )
    for member in members:
        ratio = member.file_size / max(1, member.compress_size)
        if member.file_size > _RATIO_FROM_BYTES and ratio > MAX_RATIO:
            raise Failure(
                FailureKind.CORRUPT,
                f"the {kind} file looks like a decompression bomb (a part expands"
                f" {ratio:,.0f} times)",
            )
    embedded = [m for m in members if any(p in m.filename.lower() for p in _EMBEDDED)]
    if embedded:
        out.warn(f"{len(embedded)} embedded object(s) (attached files, OLE objects) were not read")
