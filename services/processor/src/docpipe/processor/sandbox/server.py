"""The sandbox server: imports the parsers once, then forks one child per request.

Started by the worker as ``python -m docpipe.processor.sandbox`` (a plain subprocess:
Lambda has no ``/dev/shm`` for ``multiprocessing`` queues and pools) with an environment
that holds nothing secret (:func:`.confinement.server_environment`). It imports every
parser (:func:`docpipe.processor.extractors.preload`), reports ``ready`` and then serves
requests from stdin, one at a time; it never opens a document it is sent (it reads one
PDF of its own, to warm MuPDF up for its children). For each request it
forks a child (:mod:`.child`) — a fresh copy of a process that has never parsed anything,
with its own limits, without paying the imports again — relays the child's complete lines
to its stdout (a crashed child's partial line is dropped), kills the child when
``timeout_s`` passes, reaps it, and ends the request with an ``exit`` frame. It exits
when its stdin ends, so it never outlives the worker.
"""

from __future__ import annotations

import json
import os
import select
import signal
import sys
import tempfile
import time
from collections.abc import Callable
from typing import IO, Any

from docpipe.processor.exceptions import ParentGone
from docpipe.processor.sandbox.child import run_child
from docpipe.processor.sandbox.protocol import frame

__all__ = ["main", "relay"]

_TAIL_BYTES = 4096
_RELAY_BUFFER = 1 << 20  # the server stops reading its child beyond this much unsent output


def _write_all(fd: int, data: bytes) -> None:
    """Write everything to a possibly non-blocking ``fd``."""
    view = memoryview(data)
    while view:
        try:
            view = view[os.write(fd, view) :]
        except BlockingIOError:
            select.select([], [fd], [])


def _parent_death_signal() -> Callable[[], None]:
    """A function that makes the calling process die with its parent (a no-op off Linux).

    Used by the server's children only: the signal fires when the *thread* that forked
    the process ends, which is fine for the single-threaded server but would kill a
    server started from a short-lived worker thread, so servers watch their stdin instead.
    """
    if not sys.platform.startswith("linux"):
        return lambda: None
    try:
        import ctypes

        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return lambda: None
    parent = os.getpid()

    def arm() -> None:
        prctl(1, int(signal.SIGKILL), 0, 0, 0)  # 1 = PR_SET_PDEATHSIG
        if os.getppid() != parent:  # the server died before the signal was armed
            os._exit(1)

    return arm


def _reap(pid: int, deadline: float) -> tuple[int, bool]:
    """Wait for a child that closed its pipe (it is exiting); (status, timed_out)."""
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status), False
        if time.monotonic() >= deadline:
            os.kill(pid, signal.SIGKILL)
            return os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]), True
        time.sleep(0.002)


def relay(
    pid: int, src: int, out: int, deadline: float, control: int = 0
) -> tuple[int, bool, bytes]:
    """Pass the child's complete lines from ``src`` to ``out`` until it ends.

    Kills the child at ``deadline``. Returns its exit status (code, or -signal), whether
    it timed out, and the complete lines not yet written. A partial last line (a child
    that died mid-write) is dropped. Raises :class:`ParentGone` when ``control`` becomes
    readable (the parent closed it or died); the caller then kills the child.
    """
    pending = bytearray()
    partial = bytearray()
    while True:
        wait = deadline - time.monotonic()
        if wait <= 0:
            os.kill(pid, signal.SIGKILL)
            return os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]), True, bytes(pending)
        readable = [control, src] if len(pending) < _RELAY_BUFFER else [control]
        ready, writable, _ = select.select(readable, [out] if pending else [], [], wait)
        if control in ready:
            raise ParentGone
        if writable:
            try:
                del pending[: os.write(out, pending)]
            except BlockingIOError:
                pass
        if src in ready:
            chunk = os.read(src, 1 << 16)
            if not chunk:
                status, timed_out = _reap(pid, deadline)
                return status, timed_out, bytes(pending)
            cut = chunk.rfind(b"\n") + 1
            if cut:
                pending += partial
                pending += chunk[:cut]
                partial = bytearray(chunk[cut:])
            else:
                partial += chunk


def _tail(file: IO[bytes]) -> str:
    file.seek(0, os.SEEK_END)
    file.seek(max(0, file.tell() - _TAIL_BYTES))
    return file.read().decode("utf-8", "replace")


def _serve(out: int, data: bytes, header: dict[str, Any], arm: Callable[[], None]) -> None:
    """Run one request in a forked child and relay its reply, then an exit frame."""
    with tempfile.TemporaryFile() as err:
        src, sink = os.pipe()
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:
            run_child(data, header, sink=sink, err=err.fileno(), close=(src, out), arm=arm)
        os.close(sink)
        try:
            deadline = time.monotonic() + float(header["timeout_s"])
            status, timed_out, pending = relay(pid, src, out, deadline)
        except BaseException:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            raise
        finally:
            os.close(src)
        tail = _tail(err)
    exit_frame = {"type": "exit", "status": status, "timed_out": timed_out, "stderr_tail": tail}
    _write_all(out, pending + frame(exit_frame))


def main() -> int:
    out = os.dup(1)  # the protocol channel
    os.dup2(2, 1)  # whatever else writes to stdout lands on stderr
    from docpipe.processor.extractors import preload

    preload()
    arm = _parent_death_signal()
    _write_all(out, frame({"type": "ready"}))
    os.set_blocking(out, False)  # relaying never blocks, so the time limit always holds
    stdin = sys.stdin.buffer
    try:
        while line := stdin.readline():
            header = json.loads(line)
            data = stdin.read(header["size"])
            if len(data) < header["size"]:
                break
            _serve(out, data, header, arm)
            del data  # not kept while idle
    except (ParentGone, BrokenPipeError):
        pass
    return 0  # stdin ended: the parent shut us down or is gone
