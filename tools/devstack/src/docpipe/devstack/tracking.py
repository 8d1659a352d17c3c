"""``docpipe wait``: follow documents until each is ``completed`` or ``failed``.

Asking for thousands of documents one by one on every poll would load the service more
than the processing it waits for. Each poll therefore lists the documents still in the
pipeline (``GET /v1/documents?status=queued|processing|awaiting_upload``, 100 a page,
pages shrinking as work completes); an id tracked here that no longer appears there is
then read on its own (``GET /v1/documents/{id}``) to confirm it ended, and how. A
document can move between two lists while they are read, so absence only makes an id a
candidate; its own read decides. With few documents left, they are read directly.
Polls slow down when a poll itself takes long (at most one poll per 4× its duration).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass, field
from typing import Any

import httpx

from docpipe.devstack.api import ApiError, problem_detail

__all__ = ["FINAL_STATUSES", "IN_PIPELINE", "Tracked", "track", "unfinished_ids"]

FINAL_STATUSES = frozenset({"completed", "failed"})
IN_PIPELINE = ("queued", "processing", "awaiting_upload")
_PAGE = 100
_DIRECT_READS = 50  # read every pending document itself when this few are left
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
    """Poll until every id has ended or ``timeout_s`` passed."""
    tracked = Tracked(pending=set(ids))
    deadline = time.monotonic() + timeout_s
    while tracked.pending:
        started = time.monotonic()
        candidates: Collection[str] = tracked.pending
        if len(tracked.pending) > _DIRECT_READS:
            candidates = tracked.pending - await unfinished_ids(api)
        for document_id, document in (await _read(api, candidates)).items():
            tracked.final[document_id] = document
            tracked.pending.discard(document_id)
        progress(tracked)
        if not tracked.pending or time.monotonic() > deadline:
            break
        took = time.monotonic() - started
        await asyncio.sleep(max(interval_s, 4 * took) - took)
    return tracked
