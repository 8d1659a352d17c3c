"""How much of a batch runs at once, within the function's memory.

A small document spends most of its time waiting (S3, Bedrock, PostgreSQL), so the
records of a batch are processed concurrently, in message order, up to
``RECORD_CONCURRENCY`` at a time. Two things must not multiply with that:

- **downloaded bytes**: a document larger than ``CONCURRENT_DOCUMENT_MAX_MB`` (or of
  unknown size) takes every record slot and runs alone, as every document did before;
  so the worker holds at most one large document, or ``RECORD_CONCURRENCY`` small ones;
- **extractions**: each may grow by its sandbox allowance (``EXTRACTION_MEMORY_MB``,
  plus ``OCR_MEMORY_MB`` with OCR on), so at most :func:`extraction_concurrency` run at
  once: what the function's memory holds besides the worker's own, and no more than the
  sandbox keeps servers for.
"""

from __future__ import annotations

import asyncio
import os
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from docpipe.processor import sandbox
from docpipe.processor.config import WORKER_RESERVE_MB, ProcessorSettings
from docpipe.processor.events import parse_sqs_body
from docpipe.processor.exceptions import MalformedMessage

__all__ = [
    "RecordSlots",
    "extraction_concurrency",
    "record_weight",
]

_MIB = 1024 * 1024


def extraction_concurrency(settings: ProcessorSettings) -> int:
    """Extractions allowed at once: ``EXTRACTION_CONCURRENCY``, else what memory allows.

    On Lambda the function's memory is ``AWS_LAMBDA_FUNCTION_MEMORY_SIZE``: each
    extraction may use its whole allowance, after the worker's reserve. Elsewhere (the
    local stack) there is no such limit. Either way no more than the sandbox keeps
    servers for (``MAX_IDLE_SERVERS``): beyond that each extraction would start one.
    """
    if settings.extraction_concurrency is not None:
        return settings.extraction_concurrency
    wanted = sandbox.MAX_IDLE_SERVERS
    function_mb = os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE")
    if function_mb and function_mb.isdigit():
        fits = (int(function_mb) - WORKER_RESERVE_MB) // settings.extraction_allowance_mb
        wanted = min(wanted, fits)
    return max(1, wanted)


def record_weight(body: str, settings: ProcessorSettings) -> int:
    """Record slots a message takes: 1 for small documents, all of them otherwise."""
    try:
        created = parse_sqs_body(body)
    except MalformedMessage:
        return 1  # it fails at once, holding nothing
    limit = settings.concurrent_document_max_mb * _MIB
    if all(c.size is not None and c.size <= limit for c in created):
        return 1
    return settings.record_concurrency


class RecordSlots:
    """A semaphore of ``capacity`` slots, granted first come, first served, by weight."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._free = capacity
        self._waiting: deque[object] = deque()
        self._changed = asyncio.Condition()

    @asynccontextmanager
    async def hold(self, weight: int) -> AsyncIterator[None]:
        weight = max(1, min(weight, self.capacity))
        ticket = object()
        async with self._changed:
            self._waiting.append(ticket)
            try:
                await self._changed.wait_for(
                    lambda: self._waiting[0] is ticket and self._free >= weight
                )
            finally:
                self._waiting.remove(ticket)
                self._changed.notify_all()
            self._free -= weight
        try:
            yield
        finally:
            async with self._changed:
                self._free += weight
                self._changed.notify_all()
