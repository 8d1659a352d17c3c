"""Query embeddings with a small in-process LRU cache.

Users repeat queries (and the answer endpoint re-runs the search of a query just made),
so the same text is embedded once per process while it stays among the most recent
``maxsize`` queries. Concurrent requests for the same text share one embedding call.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict

from docpipe.common.embeddings import Embedder

__all__ = ["QueryEmbeddings"]


class QueryEmbeddings:
    def __init__(self, embedder: Embedder, *, maxsize: int = 1024) -> None:
        self.embedder = embedder
        self.maxsize = maxsize
        self.hits = 0
        self.misses = 0
        self._cache: OrderedDict[str, list[float]] = OrderedDict()
        self._pending: dict[str, asyncio.Future[list[float]]] = {}

    async def embed(self, text: str) -> list[float]:
        """The ``search_query`` embedding of ``text``."""
        cached = self._cache.get(text)
        if cached is not None:
            self._cache.move_to_end(text)
            self.hits += 1
            return cached
        pending = self._pending.get(text)
        if pending is not None and pending.get_loop() is asyncio.get_running_loop():
            self.hits += 1
            return await asyncio.shield(pending)
        self.misses += 1
        future: asyncio.Future[list[float]] = asyncio.get_running_loop().create_future()
        self._pending[text] = future
        try:
            [vector] = await self.embedder.embed([text], input_type="search_query")
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # retrieved: no "never retrieved" warning without waiters
            raise
        finally:
            self._pending.pop(text, None)
        future.set_result(vector)
        self._remember(text, vector)
        return vector

    def _remember(self, text: str, vector: list[float]) -> None:
        if self.maxsize <= 0:
            return
        self._cache[text] = vector
        self._cache.move_to_end(text)
        while len(self._cache) > self.maxsize:
            self._cache.popitem(last=False)
