"""The local stack (``docpipe.devstack.stack``, what ``make run`` starts) as a child
process of a test, on a data folder and ports of its own."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from docpipe.devstack.embedded import free_port
from docpipe.devstack.stack import read_stack_info

__all__ = ["StackProcess", "running_stack"]


class StackProcess:
    """The local stack as a child process of the test, on a given data folder and ports."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        ports = {
            "CONSOLE_PORT": free_port(),
            "UPLOAD_PORT": free_port(),
            "QUERY_PORT": free_port(),
            "MOTO_PORT": free_port(),
        }
        dropped = {"DATABASE_URL", "AWS_ENDPOINT_URL", "INGEST_QUEUE_URL", "DOCUMENTS_BUCKET"}
        self.env = {k: v for k, v in os.environ.items() if k not in dropped}
        self.env.update({k: str(v) for k, v in ports.items()})
        self.env.update(
            LOCAL_DATA_DIR=str(data_dir),
            EMBEDDING_PROVIDER="local",
            EMBEDDING_DIMENSIONS="384",
            AUTH_MODE="none",
        )
        self.proc: subprocess.Popen[bytes] | None = None
        self.info: dict[str, Any] = {}
        self.log = data_dir / "stack.log"

    def start(self, timeout: float = 60.0) -> dict[str, Any]:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "docpipe.devstack.stack"],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while (info := read_stack_info(self.data_dir)) is None:
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"stack not ready (exit {self.proc.poll()}):\n{self.tail()}")
            time.sleep(0.2)
        self.info = info
        return info

    def stop(self, timeout: float = 30.0) -> int:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            raise RuntimeError(f"stack did not stop within {timeout}s:\n{self.tail()}") from None

    def tail(self) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-60:])


@contextmanager
def running_stack(prefix: str, **env: str) -> Iterator[StackProcess]:
    """A started stack with ``env`` added to its environment; stopped and removed after.

    Its folder is not under pytest's basetemp: run as root, pgserver runs postgres as
    another user and opens the folder's parents to it, and any other pytest session (they
    share /tmp/pytest-of-root) closes them again with chmod 0700 under the running server.
    """
    data_dir = Path(tempfile.mkdtemp(prefix=prefix))
    running = StackProcess(data_dir)
    running.env.update(env)
    running.start()
    try:
        yield running
    finally:
        if running.proc is not None and running.proc.poll() is None:
            running.stop()
        shutil.rmtree(data_dir, ignore_errors=True)
