"""A TCP listener that accepts connections and never answers: a database host whose
port is open (security group, load balancer, half-dead server) but where nothing speaks."""

from __future__ import annotations

import asyncio
import threading

__all__ = ["SilentListener"]


class SilentListener:
    """``with SilentListener() as port:`` — connections to 127.0.0.1:port hang until exit.

    Runs its own event loop in a thread, so it keeps accepting while the code under test
    blocks its own loop (a Lambda handler runs ``run_until_complete``).
    """

    def __init__(self) -> None:
        self.accepted = 0
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._writers: list[asyncio.StreamWriter] = []
        self.port = 0

    def __enter__(self) -> int:
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("the silent listener did not start")
        return self.port

    def __exit__(self, *exc: object) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        server = self._loop.run_until_complete(
            asyncio.start_server(self._hold, host="127.0.0.1", port=0)
        )
        self.port = server.sockets[0].getsockname()[1]
        self._ready.set()
        try:
            self._loop.run_forever()
        finally:
            for writer in self._writers:
                writer.close()
            server.close()
            self._loop.run_until_complete(server.wait_closed())
            self._loop.close()

    async def _hold(self, _: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.accepted += 1
        self._writers.append(writer)  # read nothing, write nothing, close nothing
