"""``docpipe wait``'s polling, against a scripted API: what it reads, and what it survives.

The real upload service is exercised in ``test_cli_bulk_upload.py``; here the API is a
``httpx.MockTransport`` so that the requests themselves can be counted and broken.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from docpipe.devstack.tracking import track


class _Api:
    """Documents ``doc-0000`` … in upload order; ``ended`` maps id -> final status."""

    def __init__(self, count: int, *, drop_first: int = 0) -> None:
        self.ids = [f"doc-{i:04d}" for i in range(count)]
        self.ended: dict[str, str] = {}
        self.drop = drop_first
        self.requests: list[str] = []

    def _doc(self, doc_id: str) -> dict[str, Any]:
        return {"id": doc_id, "status": self.ended.get(doc_id, "queued"), "error": None}

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(str(request.url.copy_with(scheme="http", host="api")))
        if self.drop:
            self.drop -= 1
            raise httpx.ReadError("connection closed by the server", request=request)
        path = request.url.path
        if path == "/v1/documents":
            status = request.url.params["status"]
            limit = int(request.url.params["limit"])
            start = int(request.url.params.get("cursor", "0"))
            newest_first = [i for i in reversed(self.ids) if self.ended.get(i) == status]
            page = newest_first[start : start + limit]
            more = start + limit < len(newest_first)
            body = {
                "documents": [self._doc(i) for i in page],
                "next_cursor": str(start + limit) if more else None,
            }
            return httpx.Response(200, json=body)
        doc_id = path.rsplit("/", 1)[1]
        return httpx.Response(200, json=self._doc(doc_id))


def _client(api: _Api) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url="http://api", transport=httpx.MockTransport(api.handle))


async def test_ended_documents_come_from_the_lists_not_one_read_each() -> None:
    api = _Api(300)
    api.ended = dict.fromkeys(api.ids, "completed")
    api.ended["doc-0007"] = "failed"
    async with _client(api) as client:
        tracked = await track(client, api.ids, timeout_s=10, interval_s=0.01)
    assert not tracked.pending and tracked.completed == 299
    assert [d["id"] for d in tracked.failed] == ["doc-0007"]
    reads = [r for r in api.requests if "/v1/documents/" in r]
    assert len(reads) <= 8  # one probe of the oldest at most; 300 documents, 3 + 1 pages
    assert len(api.requests) - len(reads) <= 6


async def test_the_walk_stops_at_a_page_without_pending_documents() -> None:
    """An old history of completed documents is not read each poll."""
    api = _Api(1200)
    api.ended = dict.fromkeys(api.ids[:1000], "completed")  # someone's earlier uploads
    waited = api.ids[1000:]
    for i in waited[:60]:
        api.ended[i] = "completed"
    async with _client(api) as client:
        tracked = await track(client, waited, timeout_s=0.05, interval_s=0.01)
    assert tracked.completed == 60 and len(tracked.pending) == 140
    pages = [r for r in api.requests if "status=completed" in r]
    assert len(pages) > 3  # several polls …
    deeper = [r for r in pages if "cursor=" in r]
    assert deeper == [pages[1]] and deeper[0].endswith("cursor=100")  # … one second page


async def test_a_dropped_connection_is_read_again() -> None:
    api = _Api(60, drop_first=2)
    api.ended = dict.fromkeys(api.ids, "completed")
    async with _client(api) as client:
        tracked = await track(client, api.ids, timeout_s=10, interval_s=0.01)
    assert not tracked.pending and tracked.completed == 60


async def test_a_service_that_stays_down_is_reported() -> None:
    api = _Api(60, drop_first=10)
    async with _client(api) as client:
        with pytest.raises(httpx.ReadError):
            await track(client, api.ids, timeout_s=10, interval_s=0.01)
