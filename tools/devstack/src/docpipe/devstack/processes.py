"""Child processes of the local stack: started in their own process group, stopped for good.

Each child runs in a new session, so a terminal's Ctrl-C reaches only the stack, which
then stops the children in order; stopping signals the whole group, so grandchildren
(the processor's extraction subprocesses, for example) go too. Output is relayed with
the child's name as a prefix on each line, a block at a time: what a child wrote since the
last read is prefixed and written with one call (relaying a bulk upload's log line by
line, with a flush each, cost the stack more CPU than the upload service's own logging).
"""

from __future__ import annotations

import codecs
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import IO

__all__ = ["Child", "stop_children"]

_output_lock = threading.Lock()


@dataclass
class Child:
    """A named child process that can be (re)started with the same command and env."""

    name: str
    argv: Sequence[str]
    env: Mapping[str, str]
    popen: subprocess.Popen[bytes] | None = field(default=None, repr=False)
    restarts: int = 0
    started_at: float = 0.0

    def start(self) -> None:
        self.started_at = time.monotonic()
        launcher = [sys.executable, "-m", "docpipe.devstack.child", str(os.getpid())]
        self.popen = subprocess.Popen(
            [*launcher, *self.argv],
            env=dict(self.env),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        assert self.popen.stdout is not None
        threading.Thread(target=_relay, args=(self.name, self.popen.stdout), daemon=True).start()

    @property
    def pid(self) -> int | None:
        return self.popen.pid if self.popen else None

    def exit_code(self) -> int | None:
        """None while running (or never started), else the exit status."""
        return self.popen.poll() if self.popen else None


_READ_BYTES = 1 << 16


def _relay(name: str, stream: IO[bytes]) -> None:
    prefix = f"{name:>9} | "
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    pending = ""
    fd = stream.fileno()
    while chunk := os.read(fd, _READ_BYTES):
        *lines, pending = (pending + decoder.decode(chunk)).split("\n")
        if lines:
            _write("".join(f"{prefix}{line}\n" for line in lines))
    if pending := pending + decoder.decode(b"", final=True):
        _write(f"{prefix}{pending}\n")
    stream.close()


def _write(text: str) -> None:
    with _output_lock:
        sys.stdout.write(text)
        sys.stdout.flush()


def _signal_group(pid: int, sig: signal.Signals) -> None:
    try:
        os.killpg(pid, sig)  # the child leads its own group: pgid == pid
    except (ProcessLookupError, PermissionError):
        pass


def stop_children(children: Sequence[Child], *, timeout: float = 10.0) -> None:
    """SIGTERM every child's group, wait up to ``timeout``, then SIGKILL what is left."""
    running = [c for c in children if c.popen is not None]
    for child in running:
        assert child.popen is not None
        if child.popen.poll() is None:
            _signal_group(child.popen.pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    for child in running:
        assert child.popen is not None
        try:
            child.popen.wait(max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            print(f"{child.name} did not stop within {timeout:.0f}s; killing it", flush=True)
        # The leader may be gone while grandchildren linger: kill the whole group regardless.
        _signal_group(child.popen.pid, signal.SIGKILL)
        child.popen.wait()
