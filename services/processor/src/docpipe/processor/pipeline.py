"""One object-created notification -> one document's chunks, or a reason it failed.

download (size-capped) -> detect and extract (the shared detector, then the format's
extractor in the sandbox) -> chunk -> embed (cached, grouped, batched by the provider)
-> write (one transaction). Every problem is a :class:`~docpipe.processor.exceptions.Failure`
by the time it reaches here: permanent ones end the document ``failed`` with their
user-facing reason; transient ones give the claim back and raise :class:`RetryLater` so
SQS redelivers the message (the last attempt ends ``failed``, kind ``exhausted``).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import asyncpg
import numpy as np
from botocore.exceptions import BotoCoreError, ClientError

from docpipe.common import filetypes
from docpipe.common.embeddings import Embedder
from docpipe.common.exceptions import (
    EmbeddingError,
    InvalidKey,
    ObjectAccessDenied,
    ObjectMissing,
    ObjectTooLarge,
)
from docpipe.common.keys import parse_document_key
from docpipe.common.logging import bind, current_trace_id, get_logger
from docpipe.common.storage import delete_object_version, get_object
from docpipe.processor import document_rows
from docpipe.processor.chunk_embeddings import embed_chunks
from docpipe.processor.chunking import Chunk, chunk_pages
from docpipe.processor.config import ProcessorSettings
from docpipe.processor.events import ObjectCreated
from docpipe.processor.exceptions import Failure, FailureKind, RetryLater
from docpipe.processor.extraction import ExtractionLimits, ExtractionResult, extract_pages

__all__ = ["Report", "as_failure", "process_object"]

_log = get_logger("docpipe.processor")


@dataclass
class Report:
    """The per-document summary: one JSON log line, in the spirit of a batch job report."""

    document_id: str
    attempt: int = 0
    status: str = "skipped"
    reason: str | None = None
    failure_kind: str | None = None
    transient: bool | None = None
    content_type: str | None = None
    bytes: int = 0
    pages: int = 0
    ocr_pages: list[int] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    chunks: int = 0
    embedding_calls: int = 0
    embedded_texts: int = 0
    cache_hits: int = 0
    timings_ms: dict[str, float] = field(default_factory=dict)

    def timed(self, stage: str, started: float) -> None:
        self.timings_ms[stage] = round((time.perf_counter() - started) * 1000, 1)

    def failed(self, failure: Failure, *, status: str) -> None:
        self.status, self.reason = status, failure.reason
        self.failure_kind, self.transient = failure.kind.value, failure.transient


def as_failure(exc: BaseException) -> Failure:
    """The failure an unexpected exception stands for: transient, with a reason fit for
    users (the exception itself goes to the log, never to ``Document.error``)."""
    if isinstance(exc, Failure):
        return exc
    detail = f"{type(exc).__name__}: {exc}"
    if isinstance(exc, ObjectAccessDenied | BotoCoreError | ClientError):
        reason = "the document store could not be read; will retry"
        return Failure(FailureKind.STORAGE, reason, detail=detail)
    if isinstance(exc, EmbeddingError):
        reason = "the embedding service was unavailable; will retry"
        return Failure(FailureKind.EMBEDDING, reason, detail=detail)
    if isinstance(exc, asyncpg.PostgresError | asyncpg.InterfaceError | ConnectionError):
        return Failure(
            FailureKind.DATABASE, "the database was unavailable; will retry", detail=detail
        )
    if isinstance(exc, OSError | asyncio.TimeoutError):
        reason = "a service the processor needs was unavailable; will retry"
        return Failure(FailureKind.INTERNAL, reason, detail=detail)
    return Failure(FailureKind.INTERNAL, "an internal error occurred; will retry", detail=detail)


async def process_object(
    created: ObjectCreated,
    *,
    settings: ProcessorSettings,
    pool: asyncpg.Pool,
    embedder: Embedder,
    extractions: asyncio.Semaphore | None = None,
) -> Report | None:
    """Process one notification; None when it is not a docpipe document key.

    ``extractions`` bounds the extractions running at once when documents are processed
    concurrently (:mod:`docpipe.processor.concurrency`).
    """
    try:
        key = parse_document_key(created.key, uploads_prefix=settings.uploads_prefix)
    except InvalidKey:
        _log.warning("ignoring an object outside the document layout", extra={"key": created.key})
        return None
    report = Report(document_id=str(key.document_id))
    started = time.perf_counter()
    with bind(document_id=report.document_id):
        claim = await document_rows.claim_document(
            pool,
            tenant_id=key.tenant_id,
            document_id=key.document_id,
            storage_key=created.key,
            version=created.version,
            version_id=created.version_id,
            lease=timedelta(seconds=settings.processing_lease_seconds),
            max_attempts=settings.max_attempts,
        )
        report.attempt = claim.attempt
        if claim.outcome is document_rows.ClaimOutcome.BUSY:
            raise RetryLater("another worker is processing this document")
        if claim.outcome in (document_rows.ClaimOutcome.MISSING, document_rows.ClaimOutcome.STRAY):
            await _remove_unowned(created, settings, claim.outcome)
        if claim.outcome is not document_rows.ClaimOutcome.CLAIMED or claim.token is None:
            report.status = claim.outcome.value
            _summary(report, started)
            return report
        ctx = _Run(
            settings,
            pool,
            embedder,
            key.tenant_id,
            key.document_id,
            claim.token,
            report,
            version=created.version,
            filename=claim.filename,
            object_version=claim.object_version,
            extractions=extractions,
        )
        try:
            await ctx.run(created)
        except Exception as exc:
            failure = as_failure(exc)
            if failure.detail:
                _log.warning(
                    "document attempt failed",
                    extra={"failure_kind": failure.kind.value, "detail": failure.detail},
                )
            if not failure.transient:
                report.failed(failure, status="failed")
                await document_rows.fail_document(
                    pool,
                    tenant_id=key.tenant_id,
                    document_id=key.document_id,
                    token=claim.token,
                    reason=failure.reason,
                    version=ctx.version,
                    kind=failure.kind.value,
                    object_version=ctx.object_version,
                )
            else:
                report.failed(failure, status="retry")
                await _after_transient(ctx, failure)
                _summary(report, started)
                raise RetryLater(failure.reason, report=report) from exc
        _summary(report, started)
        return report


async def _remove_unowned(
    created: ObjectCreated, settings: ProcessorSettings, outcome: document_rows.ClaimOutcome
) -> None:
    """Delete an object version no document owns: its document is gone (a presigned POST
    used after DELETE), or the document was made from another version (the POST used
    again). Kept, it would be stored, and billed, with nothing to show or delete it.

    Only the announced version goes (the document's own version stays current). Without
    a version id (an unversioned bucket) nothing is deleted: the key's only object may be
    the document's.
    """
    if created.version_id is None:
        _log.warning("an unowned object has no version id; kept", extra={"key": created.key})
        return
    await delete_object_version(settings=settings, key=created.key, version_id=created.version_id)
    _log.warning(
        "deleted an object version no document owns",
        extra={"key": created.key, "version_id": created.version_id, "why": outcome.value},
    )


async def _after_transient(ctx: _Run, failure: Failure) -> None:
    try:
        if ctx.report.attempt >= ctx.settings.max_attempts:
            ctx.report.status = "failed"
            await document_rows.fail_document(
                ctx.pool,
                tenant_id=ctx.tenant_id,
                document_id=ctx.document_id,
                token=ctx.token,
                version=ctx.version,
                reason=f"processing failed after {ctx.report.attempt} attempts: {failure.reason}",
                kind=document_rows.EXHAUSTED,
                object_version=ctx.object_version,
            )
        else:
            await document_rows.release_document(
                ctx.pool,
                tenant_id=ctx.tenant_id,
                document_id=ctx.document_id,
                token=ctx.token,
                reason=failure.reason,
            )
    except Exception:  # the database itself may be what failed; the lease expires anyway
        _log.exception("could not record the failed attempt")


def _summary(report: Report, started: float) -> None:
    report.timed("total", started)
    _log.info(
        "document processed", extra={"summary": report.__dict__, "trace_id": current_trace_id()}
    )


@dataclass
class _Run:
    settings: ProcessorSettings
    pool: asyncpg.Pool
    embedder: Embedder
    tenant_id: str
    document_id: Any
    token: Any
    report: Report
    #: The object version this run processes: the event's until the download names the
    #: key's latest one. Recorded on the document whether it ends completed or failed.
    version: str | None
    #: The user's filename: it tells Markdown and CSV from plain text, as at upload.
    filename: str | None = None
    #: The S3 version id this document is made from: read again by a reprocess, whatever
    #: else was posted to its key since; None until its first processing records one.
    object_version: str | None = None
    #: Shared by the documents processed at once: bounds the extractions in progress.
    extractions: asyncio.Semaphore | None = None

    def _limits(self) -> ExtractionLimits:
        settings = self.settings
        return ExtractionLimits(
            timeout_s=settings.extraction_timeout_seconds,
            memory_mb=settings.extraction_memory_mb,
            max_pages=settings.max_pages,
            ocr=settings.ocr_enabled,
            ocr_dpi=settings.ocr_dpi,
            ocr_max_pages=settings.ocr_max_pages,
            ocr_memory_mb=settings.ocr_memory_mb,
            max_unzipped_mb=settings.max_unzipped_mb,
            max_cells=settings.max_spreadsheet_cells,
        )

    async def _extract(self, data: bytes) -> ExtractionResult:
        t = time.perf_counter()
        async with self.extractions or contextlib.nullcontext():
            waited = time.perf_counter()
            extracted = await asyncio.to_thread(
                extract_pages, data, limits=self._limits(), filename=self.filename
            )
        if waited - t >= 0.001:  # time spent queued behind other extractions
            self.report.timings_ms["extract_wait"] = round((waited - t) * 1000, 1)
        self.report.timed("extract", waited)
        self.report.content_type = extracted.content_type
        self.report.pages = extracted.page_count
        self.report.ocr_pages = extracted.ocr_pages
        self.report.warnings = extracted.warnings
        return extracted

    async def run(self, created: ObjectCreated) -> None:
        data = await self._download(created)
        sha256 = hashlib.sha256(data).hexdigest()
        extracted = await self._extract(data)
        t = time.perf_counter()
        chunks = chunk_pages(
            extracted.pages,
            target_chars=self.settings.chunk_target_chars,
            overlap_chars=self.settings.chunk_overlap_chars,
            within_pages=extracted.content_type in (filetypes.PPTX, filetypes.XLSX),
        )
        self.report.timed("chunk", t)
        if not chunks:
            raise Failure(FailureKind.NO_TEXT, "no extractable text")
        t = time.perf_counter()
        vectors = await self._embed(chunks)
        self.report.timed("embed", t)
        t = time.perf_counter()
        # Pages mean PDF pages, slides and sheets; other formats have none to cite.
        paged = extracted.content_type in filetypes.PAGED_TYPES
        refused = await document_rows.complete_document(
            self.pool,
            tenant_id=self.tenant_id,
            document_id=self.document_id,
            token=self.token,
            version=self.version,
            sha256=sha256,
            size_bytes=len(data),
            page_count=extracted.page_count if paged else None,
            content_type=extracted.content_type,
            warnings=extracted.warnings,
            object_version=self.object_version,
            chunks=[
                document_rows.ChunkRow(
                    ordinal=c.ordinal,
                    page_start=c.page_start if paged else None,
                    page_end=c.page_end if paged else None,
                    text=c.text,
                    content_sha256=c.content_sha256,
                    embedding=vectors[c.content_sha256],
                )
                for c in chunks
            ],
        )
        self.report.timed("write", t)
        self.report.chunks = len(chunks)
        self.report.status = "completed" if refused is None else "failed"
        self.report.reason = refused
        if refused is not None:
            self.report.failure_kind = FailureKind.DUPLICATE.value

    async def _download(self, created: ObjectCreated) -> bytes:
        """The document's own version once it has one (a reprocess), else the key's latest
        version and its id, whichever version the event announced.

        Events may arrive out of order (a presigned form posted twice makes two versions):
        processing the announced version could replace newer chunks with older ones.
        """
        t = time.perf_counter()
        try:
            info, data = await get_object(
                settings=self.settings,
                key=created.key,
                max_bytes=self.settings.max_document_bytes,
                version_id=self.object_version,
            )
        except ObjectMissing as exc:
            raise Failure(FailureKind.MISSING, "the uploaded object no longer exists") from exc
        except ObjectAccessDenied as exc:
            # Not the document's fault: transient, so the message returns (and reaches the
            # DLQ after the last attempt) until the role is fixed. Details for operators only.
            _log.error(
                "S3 denied the processor reading the document's object: its IAM role likely"
                " lacks s3:GetObject on the uploads prefix, or s3:ListBucket there (without"
                " it S3 answers 403, not 404, for a deleted object too)",
                extra={"key": created.key, "s3_code": exc.code, "s3_message": exc.aws_message},
            )
            raise
        except ObjectTooLarge as exc:
            raise Failure(FailureKind.TOO_LARGE, f"the document is too large: {exc}") from exc
        self.report.timed("download", t)
        self.report.bytes = len(data)
        self.version = info.version_id or info.etag or created.version
        self.object_version = info.version_id
        return data

    async def _embed(self, chunks: Sequence[Chunk]) -> dict[str, np.ndarray]:
        embedded = await embed_chunks(
            self.pool,
            tenant_id=self.tenant_id,
            embedder=self.embedder,
            chunks=chunks,
            group_size=self.settings.embedding_group_size,
        )
        self.report.cache_hits = embedded.cache_hits
        self.report.embedding_calls = embedded.calls
        self.report.embedded_texts = embedded.embedded_texts
        return embedded.vectors
