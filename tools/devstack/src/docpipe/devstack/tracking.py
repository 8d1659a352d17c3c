"""``docpipe wait``: follow documents until each is ``completed`` or ``failed``.

Waiting must not cost the machine what the processing it waits for needs: asking for
5,000 documents one by one every second would. So, every ``interval_s``:

- the oldest ids still pending (documents are processed about in upload order) are read
  on their own (``GET /v1/documents/{id}``), :data:`_PROBE` of them: the progress moves
  as the queue drains, for a few requests a second;
- at most once per :data:`_FULL_EVERY` times its own duration, a full poll lists the
  documents still in the pipeline (``GET /v1/documents?status=queued|processing|
  awaiting_upload``, 100 a page, fewer pages as work completes); a pending id that no
  longer appears there is read on its own to confirm it ended, and how. A document can
  move between two lists while they are read, so absence only makes an id a candidate;
- with few documents left (:data:`_DIRECT_READS`), every one is read directly.

Only a document's own read ever marks it ended, so the counts are exact.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass, field
from typing import Any

import httpx

from docpipe.devstack.api import problem_detail
from docpipe.devstack.exceptions import ApiError

__all__ = ["FINAL_STATUSES", "IN_PIPELINE", "Tracked", "track", "unfinished_ids"]

FINAL_STATUSES = frozenset({"completed", "failed"})
IN_PIPELINE = ("queued", "processing", "awaiting_upload")
_PAGE = 100
_DIRECT_READS = 50  # read every pending document itself when this few are left
_PROBE = 8  # oldest pending documents read between full polls
_FULL_EVERY = 20  # a full poll at most once per this many times its own duration
_PARALLEL_READS = 8


@dataclass
class Tracked:
    """Documents that ended (by id), and the ids still pending when tracking stopped."""

    final: dict[str, dict[str, Any]] = field(default_factory=dict)
    pending: set[str] = field(default_factory=set)

    @property
    def completed(self) -> int:
        return sum(d["status"] == "completed" for d in self.final.values())

    @property
    def failed(self) -> list[dict[str, Any]]:
        return [d for d in self.final.values() if d["status"] != "completed"]


Progress = Callable[[Tracked], None]


async def _checked(response: httpx.Response) -> Any:
    if response.is_error:
        raise ApiError(f"HTTP {response.status_code}: {problem_detail(response)}")
    return response.json()


async def unfinished_ids(api: httpx.AsyncClient, statuses: Iterable[str] = IN_PIPELINE) -> set[str]:
    """Ids of the caller's documents in any of ``statuses``, every page of each list."""
    found: set[str] = set()
    for status in statuses:
        cursor: str | None = None
        while True:
            params: dict[str, Any] = {"status": status, "limit": _PAGE}
            if cursor:
                params["cursor"] = cursor
            body = await _checked(await api.get("/v1/documents", params=params))
            found.update(d["id"] for d in body["documents"])
            cursor = body.get("next_cursor")
            if not cursor:
                break
    return found


async def _read(api: httpx.AsyncClient, ids: Collection[str]) -> dict[str, dict[str, Any]]:
    """The documents ``ids`` that have ended (a deleted one counts as failed)."""
    slots = asyncio.Semaphore(_PARALLEL_READS)
    ended: dict[str, dict[str, Any]] = {}

    async def read(document_id: str) -> None:
        async with slots:
            response = await api.get(f"/v1/documents/{document_id}")
        if response.status_code == 404:
            ended[document_id] = {
                "id": document_id,
                "status": "failed",
                "error": "the document no longer exists (deleted)",
            }
            return
        document = await _checked(response)
        if document["status"] in FINAL_STATUSES:
            ended[document_id] = document

    await asyncio.gather(*(read(i) for i in ids))
    return ended


async def track(
    api: httpx.AsyncClient,
    ids: Collection[str],
    *,
    timeout_s: float,
    interval_s: float = 1.0,
    progress: Progress = lambda tracked: None,
) -> Tracked:
    """Poll until every id has ended or ``timeout_s`` passed (``ids`` in upload order)."""
    tracked = Tracked(pending=set(ids))
    order = list(dict.fromkeys(ids))
    deadline = time.monotonic() + timeout_s
    next_full = 0.0
    while tracked.pending:
        started = time.monotonic()
        order = [i for i in order if i in tracked.pending]
        candidates: Collection[str]
        if len(order) <= _DIRECT_READS:
            candidates = order
        elif started >= next_full:
            candidates = tracked.pending - await unfinished_ids(api)
            next_full = started + _FULL_EVERY * (time.monotonic() - started)
        else:
            candidates = order[:_PROBE]
        for document_id, document in (await _read(api, candidates)).items():
            tracked.final[document_id] = document
            tracked.pending.discard(document_id)
        progress(tracked)
        if not tracked.pending or time.monotonic() > deadline:
            break
        await asyncio.sleep(max(0.0, interval_s - (time.monotonic() - started)))
    return tracked
