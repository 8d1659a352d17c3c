"""A document's bytes -> its type and its text, page by page, with warnings.

The type comes from the one detector the upload service also uses
(:func:`docpipe.common.filetypes.detect`), so a presigned upload, which the upload
service never saw, is held to the same rules here. The text comes from the type's
extractor, always run in the sandbox (:mod:`docpipe.processor.sandbox`): no parser ever
touches a document in the worker. Everything that makes the text incomplete or
approximate becomes a warning the user can read; every refusal is a
:class:`~docpipe.processor.exceptions.Failure` with a reason.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass, field, replace

from docpipe.common import filetypes
from docpipe.common.filetypes import detect
from docpipe.processor import sandbox
from docpipe.processor.exceptions import Failure, FailureKind
from docpipe.processor.extractors.base import ExtractionLimits, Job, page_ranges
from docpipe.processor.sandbox import protocol

__all__ = ["ExtractionLimits", "ExtractionResult", "PageText", "extract_pages"]


@dataclass(frozen=True, slots=True)
class PageText:
    number: int
    """1-based page, slide or sheet number, or logical section of a format without pages."""
    text: str


@dataclass(frozen=True, slots=True)
class ExtractionResult:
    content_type: str
    pages: list[PageText]
    page_count: int
    warnings: list[str] = field(default_factory=list)
    ocr_pages: list[int] = field(default_factory=list)


def _clean(text: str) -> str:
    """Drop characters Postgres or the chunker cannot use (NUL, C0 controls, BOMs)."""
    return text.translate(_STRIP)


_STRIP = dict.fromkeys([*range(0x00, 0x09), 0x0B, *range(0x0E, 0x20), 0x7F, 0xFEFF, 0xFFFE, 0xFFFF])


class _Collector:
    """Pages and warnings as they arrive from the child, within the text budget."""

    def __init__(self, limits: ExtractionLimits) -> None:
        self.limits = limits
        self.pages: list[PageText] = []
        self.warnings: list[str] = []
        self.truncated: list[int] = []
        self.ocr: list[int] = []
        self.page_count: int | None = None
        self._total = 0

    def take(self, message: protocol.Message) -> None:
        if isinstance(message, protocol.Meta):
            self.page_count = message.page_count
        elif isinstance(message, protocol.Page):
            text = _clean(message.text)
            self._total += len(text)
            if self._total > self.limits.max_total_chars:
                raise Failure(
                    FailureKind.TOO_MUCH_TEXT,
                    f"the document has more than {self.limits.max_total_chars:,} characters"
                    " of text",
                )
            self.pages.append(PageText(number=message.number, text=text))
            if message.truncated:
                self.truncated.append(message.number)
            if message.ocr:
                self.ocr.append(message.number)
        elif isinstance(message, protocol.Warning) and message.text not in self.warnings:
            self.warnings.append(message.text)

    def result(self, content_type: str) -> ExtractionResult:
        if self.truncated:
            self.warnings.append(
                f"the text of page(s) {page_ranges(sorted(set(self.truncated)))} was cut to"
                f" {self.limits.max_chars_per_page:,} characters"
            )
        numbers = {page.number for page in self.pages}
        return ExtractionResult(
            content_type=content_type,
            pages=self.pages,
            page_count=self.page_count if self.page_count is not None else len(numbers),
            warnings=self.warnings,
            ocr_pages=self.ocr,
        )


def _messages(data: bytes, job: Job) -> Iterator[protocol.Message]:
    with closing(sandbox.run_extraction(data, job)) as messages:
        yield from messages


def extract_pages(
    data: bytes, *, limits: ExtractionLimits, filename: str | None = None
) -> ExtractionResult:
    """Detect the type of ``data`` and extract its text page by page.

    ``filename`` only tells Markdown and CSV from plain text, as at upload. Raises
    :class:`Failure` (permanent, with a user-facing reason; ``sandbox`` when the
    extraction service itself failed, which is transient).
    """
    detection = detect(data, filename=filename)
    if detection.content_type is None:
        raise Failure(FailureKind.UNSUPPORTED, detection.reason or "unsupported file type")
    if detection.content_type == filetypes.PDF and limits.ocr:
        limits = replace(limits, memory_mb=limits.memory_mb + limits.ocr_memory_mb)
    job = Job(
        content_type=detection.content_type,
        encoding=detection.encoding,
        encoding_guessed=detection.encoding_guessed,
        limits=limits,
    )
    collector = _Collector(limits)
    for message in _messages(data, job):
        collector.take(message)
    result = collector.result(detection.content_type)
    if not any(page.text.strip() for page in result.pages):
        raise Failure(FailureKind.NO_TEXT, _no_text_reason(result, limits))
    return result


def _no_text_reason(result: ExtractionResult, limits: ExtractionLimits) -> str:
    if result.warnings:
        return "no extractable text: " + "; ".join(result.warnings)
    if result.content_type == "application/pdf" and not limits.ocr:
        return "no extractable text (a scanned document? OCR is turned off)"
    return "no extractable text (the document is empty, or its pages are images without text)"
