"""``docpipe wait``: follow documents until each is ``completed`` or ``failed``.

Waiting must not cost the machine what the processing it waits for needs: reading 5,000
documents one by one, even once each, cost the upload service and the CLI more CPU than
listing them (docs/benchmarks.md §7). So, every ``interval_s``:

- the lists of ``completed`` and then ``failed`` documents are read newest first, a page
  (:data:`_PAGE`) at a time, until a page brings none of the pending documents: documents
  end about in upload order and the ones being waited for are usually the newest, so this
  is a page or two a poll whatever the tenant's history;
- every :data:`_PROBE_EVERY` polls, the :data:`_PROBE` oldest pending documents are read
  on their own (``GET /v1/documents/{id}``): they catch what the lists' walk stops short
  of (a document that ended out of order, one deleted meanwhile, newer uploads of someone
  else in the same tenant);
- with few documents left (:data:`_DIRECT_READS`), every one is read directly.

Only a document's own state — an item of a list or a read — marks it ended (never its
absence from a list), so the counts are exact.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Collection, Iterable
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
_PROBE = 8  # oldest pending documents read on their own …
_PROBE_EVERY = 5  # … every this many polls
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


_GET_ATTEMPTS = 3


async def _get(api: httpx.AsyncClient, url: str, **kwargs: Any) -> httpx.Response:
    """A GET, tried again when the connection drops (a restarting service, a connection
    closed under the client despite ``api.KEEPALIVE_EXPIRY_S``): reading is idempotent."""
    for attempt in range(1, _GET_ATTEMPTS + 1):
        try:
            return await api.get(url, **kwargs)
        except httpx.TransportError:
            if attempt == _GET_ATTEMPTS:
                raise
            await asyncio.sleep(0.2 * attempt)
    raise AssertionError("unreachable")


async def _checked(response: httpx.Response) -> Any:
    if response.is_error:
        raise ApiError(f"HTTP {response.status_code}: {problem_detail(response)}")
    return response.json()


async def _pages(api: httpx.AsyncClient, status: str) -> AsyncIterator[list[dict[str, Any]]]:
    """The caller's documents in ``status``, newest first, a page at a time (the caller
    stops when it has what it needs)."""
    cursor: str | None = None
    while True:
        params: dict[str, Any] = {"status": status, "limit": _PAGE}
        if cursor:
            params["cursor"] = cursor
        body = await _checked(await _get(api, "/v1/documents", params=params))
        yield body["documents"]
        cursor = body.get("next_cursor")
        if not cursor:
            return


async def unfinished_ids(api: httpx.AsyncClient, statuses: Iterable[str] = IN_PIPELINE) -> set[str]:
    """Ids of the caller's documents in any of ``statuses``, every page of each list."""
    found: set[str] = set()
    for status in statuses:
        async for page in _pages(api, status):
            found.update(d["id"] for d in page)
    return found


async def _read(api: httpx.AsyncClient, ids: Collection[str]) -> dict[str, dict[str, Any]]:
    """The documents ``ids`` that have ended (a deleted one counts as failed)."""
    slots = asyncio.Semaphore(_PARALLEL_READS)
    ended: dict[str, dict[str, Any]] = {}

    async def read(document_id: str) -> None:
        async with slots:
            response = await _get(api, f"/v1/documents/{document_id}")
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


async def _ended_in_lists(
    api: httpx.AsyncClient, pending: Collection[str]
) -> dict[str, dict[str, Any]]:
    """Pending documents found in the ``completed`` or ``failed`` lists, walked newest
    first until a page brings none of them."""
    ended: dict[str, dict[str, Any]] = {}
    for status in sorted(FINAL_STATUSES):
        async for page in _pages(api, status):
            found = {
                d["id"]: d
                for d in page
                if d["id"] in pending and d["id"] not in ended and d["status"] == status
            }
            ended.update(found)
            if not found or len(ended) == len(pending):
                break
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
    polls = 0
    while tracked.pending:
        started = time.monotonic()
        order = [i for i in order if i in tracked.pending]
        if len(order) <= _DIRECT_READS:
            ended = await _read(api, order)
        else:
            ended = await _ended_in_lists(api, tracked.pending)
            if polls % _PROBE_EVERY == 0:
                probe = [i for i in order if i not in ended][:_PROBE]
                ended.update(await _read(api, probe))
        polls += 1
        for document_id, document in ended.items():
            tracked.final[document_id] = document
            tracked.pending.discard(document_id)
        progress(tracked)
        if not tracked.pending or time.monotonic() > deadline:
            break
        await asyncio.sleep(max(0.0, interval_s - (time.monotonic() - started)))
    return tracked
