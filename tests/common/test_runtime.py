"""The per-loop registry: a resource belongs to the loop that opened it, and goes with it."""

from __future__ import annotations

import asyncio
import gc
from contextlib import AsyncExitStack

from docpipe.common import runtime
from docpipe.common.runtime import close_loop_resources, loop_resources


class Resource:
    def __init__(self) -> None:
        self.closed = False
        self.loop = asyncio.get_running_loop()

    async def close(self) -> None:
        self.closed = True


async def _open(stack: AsyncExitStack) -> Resource:
    resource = Resource()
    stack.push_async_callback(resource.close)
    return resource


def test_each_loop_gets_its_own_resource_and_a_finished_loop_leaves_nothing_behind() -> None:
    async def use() -> Resource:
        first = await loop_resources().get("thing", _open)
        assert await loop_resources().get("thing", _open) is first  # reused on this loop
        return first

    first = asyncio.run(use())
    second = asyncio.run(use())  # a new loop (possibly at the old one's address)
    assert second is not first
    assert second.loop is not first.loop

    async def finished_loops_registered() -> int:
        loop_resources()
        gc.collect()
        return sum(loop.is_closed() for loop in runtime._registry)

    assert asyncio.run(finished_loops_registered()) == 0  # finished loops' entries are gone


async def test_concurrent_first_uses_open_once_and_close_runs_newest_first() -> None:
    opened: list[str] = []
    closed: list[str] = []

    def opener(name: str):  # type: ignore[no-untyped-def]
        async def open_it(stack: AsyncExitStack) -> str:
            opened.append(name)
            await asyncio.sleep(0.01)

            async def close() -> None:
                closed.append(name)

            stack.push_async_callback(close)
            return name

        return open_it

    results = await asyncio.gather(*(loop_resources().get("a", opener("a")) for _ in range(5)))
    assert results == ["a"] * 5 and opened == ["a"]
    await loop_resources().get("b", opener("b"))
    await loop_resources().close("a")
    assert closed == ["a"] and "a" not in loop_resources()
    await loop_resources().get("a", opener("a"))  # opened again after close
    await close_loop_resources()
    assert closed == ["a", "a", "b"]  # newest first: the reopened "a", then "b"


async def test_a_failed_open_is_not_kept() -> None:
    calls = 0

    async def failing(stack: AsyncExitStack) -> str:
        nonlocal calls
        calls += 1
        raise ConnectionError("no endpoint")

    for _ in range(2):
        try:
            await loop_resources().get("flaky", failing)
        except ConnectionError:
            pass
    assert calls == 2 and "flaky" not in loop_resources()
