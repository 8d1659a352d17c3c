"""The resources a process keeps per event loop, in one registry with one lifetime.

An asyncpg pool, an aioboto3 client (its aiohttp session) and an ``asyncio`` primitive
belong to the event loop that created them: used from another loop they fail or hang.
Lambda keeps one loop per process across warm invocations (the processor's
:func:`process_loop`, Mangum's loop), so these are created once and reused; tests, the
migration function and the devstack run many loops one after another.

:func:`loop_resources` returns the running loop's :class:`LoopResources`. The registry
holds loops **weakly and by identity** (never ``id(loop)``, which Python reuses once a
loop is gone), so a new loop never receives another loop's client; a closed loop's
entries are dropped when the next loop registers (its clients reference the loop, so
weakness alone would not free them; they can be neither used nor closed any more).
:func:`close_loop_resources` closes the running loop's resources, newest first: a
service's shutdown, the end of an ``asyncio.run``, a test's teardown.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Awaitable, Callable, Hashable
from contextlib import AsyncExitStack
from typing import Any, TypeVar, cast

__all__ = ["LoopResources", "close_loop_resources", "loop_resources", "process_loop"]

T = TypeVar("T")

_registry: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, LoopResources] = (
    weakref.WeakKeyDictionary()
)
_process_loop: asyncio.AbstractEventLoop | None = None


class LoopResources:
    """One event loop's long-lived resources, each under a key naming what it is."""

    def __init__(self) -> None:
        self._values: dict[Hashable, Any] = {}
        self._stacks: dict[Hashable, AsyncExitStack] = {}
        self._lock = asyncio.Lock()

    def __contains__(self, key: Hashable) -> bool:
        return key in self._values

    def keys(self) -> list[Hashable]:
        """The keys held now (a copy: closing while iterating is fine)."""
        return list(self._values)

    async def get(
        self, key: Hashable, open_resource: Callable[[AsyncExitStack], Awaitable[T]]
    ) -> T:
        """The resource under ``key``, opened on first use by ``open_resource``.

        ``open_resource`` registers its clean-up on the stack it is given (for example
        ``await stack.enter_async_context(session.client(...))``); concurrent first uses
        open it once.
        """
        if key in self._values:
            return cast(T, self._values[key])
        async with self._lock:
            if key not in self._values:
                stack = AsyncExitStack()
                try:
                    value = await open_resource(stack)
                except BaseException:
                    await stack.aclose()
                    raise
                self._values[key], self._stacks[key] = value, stack
        return cast(T, self._values[key])

    def setdefault(self, key: Hashable, make: Callable[[], T]) -> T:
        """A plain per-loop object (a semaphore, a cache) with nothing to close."""
        if key not in self._values:
            self._values[key] = make()
        return cast(T, self._values[key])

    async def close(self, key: Hashable) -> None:
        """Close one resource; the next :meth:`get` opens a new one."""
        self._values.pop(key, None)
        stack = self._stacks.pop(key, None)
        if stack is not None:
            await stack.aclose()

    async def aclose(self) -> None:
        """Close every resource, newest first (a client opened late may use an early one)."""
        for key in reversed(list(self._values)):
            await self.close(key)


def loop_resources() -> LoopResources:
    """The running loop's resources (created empty on first use)."""
    loop = asyncio.get_running_loop()
    resources = _registry.get(loop)
    if resources is None:
        for finished in [other for other in _registry if other.is_closed()]:
            del _registry[finished]
        resources = _registry[loop] = LoopResources()
    return resources


async def close_loop_resources() -> None:
    """Close and forget the running loop's resources."""
    resources = _registry.pop(asyncio.get_running_loop(), None)
    if resources is not None:
        await resources.aclose()


def process_loop() -> asyncio.AbstractEventLoop:
    """The loop a synchronous Lambda handler runs its coroutines on, kept across warm
    invocations so that what :func:`loop_resources` holds is reused."""
    global _process_loop
    if _process_loop is None or _process_loop.is_closed():
        _process_loop = asyncio.new_event_loop()
        asyncio.set_event_loop(_process_loop)
    return _process_loop
