"""PDF with PyMuPDF: the text layer page by page, OCR for pages that have none.

A page whose text layer holds fewer than :data:`MIN_TEXT_CHARS` visible characters and
which shows an image covering at least a tenth of it is a scan: it is rendered and read
with OCR (:mod:`.ocr`) — up to ``ocr_max_pages`` pages, and only while at least
:data:`OCR_TIME_RESERVE` of the time budget is left, so a long scan ends ``completed``
with a warning naming the pages skipped rather than killed at the time limit. A page
with text is never OCR'd.

Damage is never silent: MuPDF repairs broken cross-reference tables quietly
(``doc.is_repaired``) and tolerates broken content streams with a warning; either gives
the document a warning, and pages whose text cannot be read are named.
"""

from __future__ import annotations

import time
from typing import Any

from docpipe.processor.exceptions import Failure, FailureKind
from docpipe.processor.extractors.base import Job, Output, is_memory_error, page_ranges

__all__ = ["MIN_TEXT_CHARS", "extract_pdf", "import_pymupdf", "warm_up"]

MIN_TEXT_CHARS = 20
OCR_TIME_RESERVE = 0.15
_MIN_IMAGE_SHARE = 0.10


def import_pymupdf() -> Any:
    """Import PyMuPDF without the optional extras that text extraction never uses.

    PyMuPDF imports its layout analyser (onnxruntime, numpy) and pymupdf4llm inside
    ``try: ... except ImportError``; a ``None`` entry in ``sys.modules`` makes those
    imports fail fast, which halves start-up time and saves ~80 MB per child.
    """
    import sys

    blocked = ("pymupdf.layout", "pymupdf4llm")
    for name in blocked:
        if name not in sys.modules:
            sys.modules[name] = None  # type: ignore[assignment]
    try:
        import pymupdf
    except ImportError:  # a release that needs them after all: import it whole
        for name in [m for m in sys.modules if m.startswith(("pymupdf", *blocked))]:
            del sys.modules[name]
        import pymupdf
    return pymupdf


def warm_up(pymupdf: Any) -> None:
    """Read the text of a one-page PDF made here, so that forked children start warm.

    The first text extraction in a process sets up what MuPDF keeps for the rest of its
    life (colour management, the base-14 fonts); done once in the sandbox server, every
    child inherits it instead of rebuilding it: a one-page PDF cost 35 ms of sandbox CPU
    before and 25 ms after (docs/benchmarks.md §7), for ~35 ms once per server start. The
    bytes are the server's own, never a document's.
    """
    made = pymupdf.open()
    made.new_page().insert_text((72, 72), "docpipe sandbox warm-up")
    data = made.tobytes()
    made.close()
    with pymupdf.open(stream=data, filetype="pdf") as doc:
        for page in doc:
            page.get_text("text")


def _open(pymupdf: Any, data: bytes, job: Job) -> tuple[Any, int]:
    try:
        doc = pymupdf.open(stream=data, filetype="pdf")
    except Exception as exc:
        if is_memory_error(exc):
            raise
        raise Failure(FailureKind.CORRUPT, "the PDF cannot be opened", detail=repr(exc)) from None
    if not doc.is_pdf:
        raise Failure(FailureKind.UNSUPPORTED, "the file is not a PDF")
    if doc.needs_pass:
        raise Failure(FailureKind.ENCRYPTED, "the PDF is encrypted (password-protected)")
    try:
        count = int(doc.page_count)
    except Exception as exc:  # e.g. "code=7: Invalid number of pages" (a looping page tree)
        if is_memory_error(exc):
            raise
        raise Failure(
            FailureKind.CORRUPT, "the PDF's page tree is broken", detail=repr(exc)
        ) from None
    if count > job.limits.max_pages:
        raise Failure(
            FailureKind.TOO_MANY_PAGES,
            f"the PDF has {count} pages; the limit is {job.limits.max_pages}",
        )
    if count == 0:
        raise Failure(FailureKind.CORRUPT, "the PDF has no pages")
    return doc, count


def _is_scan(page: Any, text: str) -> bool:
    if len("".join(text.split())) >= MIN_TEXT_CHARS:
        return False
    area = abs(page.rect)
    if not area:
        return False
    for image in page.get_image_info():
        box = image.get("bbox")
        if box is not None and abs(page.rect & box) >= _MIN_IMAGE_SHARE * area:
            return True
    return False


class _Ocr:
    """Which pages were read with OCR and which were skipped, within the budgets."""

    def __init__(self, job: Job) -> None:
        self.limits = job.limits
        self.read: list[int] = []
        self.skipped: list[int] = []
        self.started = time.monotonic()
        self._reader: Any = None

    def _affordable(self) -> bool:
        spent = time.monotonic() - self.started
        left = self.limits.timeout_s * (1 - OCR_TIME_RESERVE) - spent
        return len(self.read) < self.limits.ocr_max_pages and left > 0

    def page_text(self, number: int, page: Any) -> str | None:
        if not self._affordable():
            self.skipped.append(number)
            return None
        if self._reader is None:
            from docpipe.processor.extractors.ocr import PageReader

            self._reader = PageReader(dpi=self.limits.ocr_dpi)
        text: str = self._reader.read(page)
        self.read.append(number)
        return text

    def warnings(self) -> list[str]:
        found = []
        if self.read:
            found.append(
                f"page(s) {page_ranges(self.read)} had no text layer and were read with OCR;"
                " their text may contain recognition errors"
            )
        if self.skipped:
            found.append(
                f"page(s) {page_ranges(self.skipped)} had no text layer and were not read"
                f" (OCR stops after {self.limits.ocr_max_pages} pages or near the time limit)"
            )
        return found


def extract_pdf(data: bytes, job: Job, out: Output) -> None:
    pymupdf = import_pymupdf()
    pymupdf.TOOLS.reset_mupdf_warnings()
    doc, count = _open(pymupdf, data, job)
    out.meta(page_count=count)
    ocr = _Ocr(job)
    unreadable: list[int] = []
    for index in range(count):
        number = index + 1
        try:
            page = doc.load_page(index)
            text = page.get_text("text")
            if job.limits.ocr and _is_scan(page, text):
                read = ocr.page_text(number, page)
                text = text if read is None else read
        except Exception as exc:
            if is_memory_error(exc):
                raise
            unreadable.append(number)
            text = ""
        out.page(number, text, ocr=number in ocr.read[-1:])
    _damage_warnings(pymupdf, doc, unreadable, out)
    for warning in ocr.warnings():
        out.warn(warning)


def _damage_warnings(pymupdf: Any, doc: Any, unreadable: list[int], out: Output) -> None:
    if doc.is_repaired:
        out.warn("the PDF was damaged and repaired; text may be incomplete")
    elif pymupdf.TOOLS.mupdf_warnings().strip():
        out.warn("the PDF has errors in its structure or content; text may be incomplete")
    if unreadable:
        out.warn(f"the text of page(s) {page_ranges(unreadable)} could not be read")
