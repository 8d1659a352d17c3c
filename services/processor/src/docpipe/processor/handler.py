"""Lambda entry point: SQS batches of S3 notifications (and plain S3 events).

Returns ``{"batchItemFailures": [...]}`` so only the messages that must come back do
(ReportBatchItemFailures). One event loop per process, kept across invocations, because
the asyncpg pool and aioboto3 clients belong to the loop that created them.

Neither a failed document nor a batch-item failure is a Lambda error, so each invocation
also reports its outcomes as metrics of its function version (``docpipe.common.metrics``):
the processor's canary alarms on them.

The records of a batch are processed concurrently, in message order, up to
``RECORD_CONCURRENCY`` at a time, within the memory bounds of
:mod:`docpipe.processor.concurrency` (large documents alone, extractions bounded). Each
record keeps its own log context (trace id, message id) and its one summary line; the
invocation's figures are counted on the event loop's thread, so they stay exact.

When the database cannot be reached (``DatabaseUnreachable``: the connector spent its
whole budget, ``DATABASE_CONNECT_BUDGET_SECONDS``), no further record of the batch starts
and every message not done is reported as a batch-item failure, rather than raising:

- the invocation takes one connect budget, not one per message: the records in flight
  wait theirs at the same time (each has a connection of its own, DATABASE_POOL_MAX ≥
  RECORD_CONCURRENCY), and the others never start;
- messages finished before the outage are not delivered again, as they would be if the
  handler raised (Lambda then returns the whole batch);
- SQS redelivers the others after the visibility timeout, and the receive count still
  ends a message that never succeeds in the DLQ (docs/operations.md).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import asyncpg

from docpipe.common.db import get_pool
from docpipe.common.embeddings import Embedder, create_embedder
from docpipe.common.exceptions import DatabaseUnreachable
from docpipe.common.ingest import enqueue_document
from docpipe.common.logging import bind, configure_logging, get_logger, new_trace_id
from docpipe.common.metrics import FunctionIdentity, Metric, publish
from docpipe.common.runtime import process_loop
from docpipe.processor import sandbox
from docpipe.processor.concurrency import RecordSlots, extraction_concurrency, record_weight
from docpipe.processor.config import ProcessorSettings
from docpipe.processor.document_rows import reap_stale_documents
from docpipe.processor.events import (
    SqsMessage,
    is_sqs_event,
    iter_messages,
    parse_s3_records,
    parse_sqs_body,
)
from docpipe.processor.exceptions import MalformedMessage, RetryLater
from docpipe.processor.pipeline import Report, process_object

__all__ = ["handle_event", "handler"]

_log = get_logger("docpipe.processor")
_settings: ProcessorSettings | None = None
_embedder: Embedder | None = None
_last_reap = 0.0
_sandbox_checked = False
REAP_INTERVAL_S = 60.0


@dataclass
class Tally:
    """What one invocation did, as its metrics report it."""

    messages: int = 0
    completed: int = 0
    failed: int = 0
    returned: int = 0  # batch-item failures: messages SQS will deliver again

    def count(self, report: Report | None) -> None:
        if report is None:
            return
        if report.status == "completed":
            self.completed += 1
        elif report.status in ("failed", "gave_up"):
            self.failed += 1

    def metrics(self) -> dict[Metric, float]:
        return {
            Metric.MESSAGES: self.messages,
            Metric.DOCUMENTS_COMPLETED: self.completed,
            Metric.DOCUMENTS_FAILED: self.failed,
            Metric.BATCH_ITEM_FAILURES: self.returned,
        }


def handler(event: Mapping[str, Any], context: Any = None) -> dict[str, Any]:
    tally = Tally(messages=len(event.get("Records") or []) if is_sqs_event(event) else 0)
    try:
        return process_loop().run_until_complete(handle_event(event, tally=tally))
    except BaseException:
        tally.returned = tally.messages  # the whole batch comes back
        raise
    finally:
        publish(tally.metrics(), function=FunctionIdentity.of(context))


def _state() -> tuple[ProcessorSettings, Embedder]:
    global _settings, _embedder
    if _settings is None:
        _settings = ProcessorSettings()
        configure_logging(_settings.log_level)
    if _embedder is None:
        _embedder = create_embedder(_settings)
    return _settings, _embedder


async def handle_event(event: Mapping[str, Any], *, tally: Tally | None = None) -> dict[str, Any]:
    tally = tally if tally is not None else Tally()
    settings, embedder = _state()
    if not event.get("Records"):  # s3:TestEvent delivered directly, or an empty batch
        return {"batchItemFailures": []}
    if is_sqs_event(event):
        result = await _handle_batch(list(iter_messages(event)), settings, embedder, tally)
        tally.returned = len(result["batchItemFailures"])
        return result
    # A plain S3 event (asynchronous invocation): raising makes Lambda retry it.
    pool = await get_pool(settings)
    await _check_sandbox_once(settings)
    await _reap_if_due(pool, settings)
    with bind(trace_id=new_trace_id()):
        for created in parse_s3_records(event["Records"]):
            tally.count(
                await process_object(created, settings=settings, pool=pool, embedder=embedder)
            )
    return {"batchItemFailures": []}


async def _handle_batch(
    messages: list[SqsMessage], settings: ProcessorSettings, embedder: Embedder, tally: Tally
) -> dict[str, Any]:
    try:
        pool = await get_pool(settings)  # connects now only with DATABASE_POOL_MIN > 0
        await _reap_if_due(pool, settings)
    except DatabaseUnreachable as exc:
        return {"batchItemFailures": _give_back(messages, exc)}
    batch = _Batch(settings, pool, embedder, tally)
    await asyncio.gather(*(batch.process(message) for message in messages))
    if batch.outage is not None:
        _give_back([m for m in messages if m.message_id in batch.given_back], batch.outage)
    return {
        "batchItemFailures": [
            {"itemIdentifier": m.message_id}
            for m in messages
            if m.message_id in batch.failed or m.message_id in batch.given_back
        ]
    }


class _Batch:
    """The records of one SQS batch in progress: slots, extractions, and what came back."""

    def __init__(
        self, settings: ProcessorSettings, pool: asyncpg.Pool, embedder: Embedder, tally: Tally
    ) -> None:
        self.settings, self.pool, self.embedder, self.tally = settings, pool, embedder, tally
        self.slots = RecordSlots(settings.record_concurrency)
        self.extractions = asyncio.Semaphore(extraction_concurrency(settings))
        self.outage: DatabaseUnreachable | None = None
        self.failed: set[str] = set()
        self.given_back: set[str] = set()

    async def process(self, message: SqsMessage) -> None:
        async with self.slots.hold(record_weight(message.body, self.settings)):
            if self.outage is not None:  # the database is gone: do not start another
                self.given_back.add(message.message_id)
                return
            with bind(trace_id=new_trace_id(), message_id=message.message_id):
                try:
                    done = await _handle_message(
                        message.body,
                        self.settings,
                        self.pool,
                        self.embedder,
                        self.tally,
                        extractions=self.extractions,
                    )
                except DatabaseUnreachable as exc:
                    self.outage = self.outage or exc
                    self.given_back.add(message.message_id)
                    return
        if not done:
            self.failed.add(message.message_id)


def _give_back(undone: list[SqsMessage], exc: DatabaseUnreachable) -> list[dict[str, str]]:
    _log.error(
        "database unreachable; returning the rest of the batch",
        extra={"reason": str(exc), "messages_returned": len(undone)},
    )
    return [{"itemIdentifier": m.message_id} for m in undone]


async def _handle_message(
    body: str,
    settings: ProcessorSettings,
    pool: asyncpg.Pool,
    embedder: Embedder,
    tally: Tally,
    *,
    extractions: asyncio.Semaphore | None = None,
) -> bool:
    """True when the message is done with (processed, skipped or failed for good).

    Raises ``DatabaseUnreachable`` (also when it ended a document's attempt midway).
    """
    try:
        for created in parse_sqs_body(body):
            report = await process_object(
                created, settings=settings, pool=pool, embedder=embedder, extractions=extractions
            )
            tally.count(report)
    except DatabaseUnreachable:
        raise
    except MalformedMessage as exc:
        # Kept, not dropped: it returns until maxReceiveCount moves it to the DLQ.
        _log.error("malformed message", extra={"reason": str(exc)})
        return False
    except RetryLater as exc:
        if isinstance(exc.__cause__, DatabaseUnreachable):
            raise DatabaseUnreachable(str(exc.__cause__)) from exc
        _log.warning("will retry", extra={"reason": str(exc)})
        tally.count(exc.report)
        return False
    except Exception:
        _log.exception("unexpected failure; the message will be retried")
        return False
    return True


async def _check_sandbox_once(settings: ProcessorSettings) -> None:
    """Log what a document sees inside the extraction sandbox, once per process.

    The first server started here serves the first document too, so this costs a probe
    child (milliseconds), not a second start-up. On Lambda this line is the proof of what
    the platform allowed (the seccomp filter in particular).
    """
    global _sandbox_checked
    if _sandbox_checked:
        return
    _sandbox_checked = True
    try:
        check = await asyncio.to_thread(
            sandbox.self_check,
            timeout_s=settings.extraction_timeout_seconds,
            memory_mb=settings.extraction_memory_mb,
        )
    except Exception:
        _log.exception("the extraction sandbox self-check failed")
        return
    leaked = [name for name in check.environment if name.startswith(("AWS_", "DATABASE_"))]
    level = _log.warning if leaked or not check.network_blocked else _log.info
    level(
        "extraction sandbox",
        extra={
            "environment": list(check.environment),
            "limits": check.limits,
            "seccomp": check.seccomp,
            "network_blocked": check.network_blocked,
            "leaked_variables": leaked,
        },
    )


async def _reap_if_due(pool: asyncpg.Pool, settings: ProcessorSettings) -> None:
    """Recover documents whose worker died, at most once a minute per process."""
    global _last_reap
    if time.monotonic() - _last_reap < REAP_INTERVAL_S:
        return
    _last_reap = time.monotonic()
    try:
        rows = await reap_stale_documents(
            pool,
            lease=timedelta(seconds=settings.processing_lease_seconds),
            max_attempts=settings.max_attempts,
        )
        for row in rows:
            _log.warning(
                "recovered a stale document",
                extra={"document_id": str(row["document_id"]), "new_status": row["new_status"]},
            )
            if row["new_status"] == "queued" and settings.ingest_queue_url:
                await enqueue_document(
                    settings=settings, queue_url=settings.ingest_queue_url, key=row["storage_key"]
                )
    except DatabaseUnreachable:
        raise
    except Exception:
        _log.exception("stale-document recovery failed; will try again later")
