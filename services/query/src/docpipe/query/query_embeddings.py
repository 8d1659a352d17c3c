"""Query embeddings with a small in-process LRU cache, private to each caller.

Users repeat queries (and the answer endpoint re-runs the search of a query just made),
so the same text is embedded once per process while it stays among the most recent
``maxsize`` queries. Concurrent requests for the same text share one embedding call.

Entries are keyed by the caller (tenant and user) as well as the text. A cache shared by
everyone would be a side channel: a search that hits it answers faster (``took_ms``,
or simply the response time), so anyone could tell whether someone else, in another
tenant or another team, had just searched for "layoffs" or a colleague's name. Keyed
per caller, a hit only ever reflects the caller's own searches.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict

from docpipe.common.embeddings import Embedder

__all__ = ["QueryEmbeddings"]

_Key = tuple[str, str | None, str]  # tenant, user, query text


class QueryEmbeddings:
    def __init__(self, embedder: Embedder, *, maxsize: int = 1024) -> None:
        self.embedder = embedder
        self.maxsize = maxsize
        self.hits = 0
        self._cache: OrderedDict[_Key, list[float]] = OrderedDict()
        self._pending: dict[_Key, asyncio.Future[list[float]]] = {}

    async def embed(self, text: str, *, tenant_id: str, subject: str | None = None) -> list[float]:
        """The ``search_query`` embedding of ``text``, cached for this caller only."""
        key = (tenant_id, subject, text)
        cached = self._cache.get(key)
        if cached is not None:
            self._cache.move_to_end(key)
            self.hits += 1
            return cached
        pending = self._pending.get(key)
        if pending is not None and pending.get_loop() is asyncio.get_running_loop():
            self.hits += 1
            return await asyncio.shield(pending)
        future: asyncio.Future[list[float]] = asyncio.get_running_loop().create_future()
        self._pending[key] = future
        try:
            [vector] = await self.embedder.embed([text], input_type="search_query")
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # retrieved: no "never retrieved" warning without waiters
            raise
        finally:
            self._pending.pop(key, None)
        future.set_result(vector)
        self._remember(key, vector)
        return vector

    def _remember(self, key: _Key, vector: list[float]) -> None:
        if self.maxsize <= 0:
            return
        self._cache[key] = vector
        self._cache.move_to_end(key)
        while len(self._cache) > self.maxsize:
            self._cache.popitem(last=False)
