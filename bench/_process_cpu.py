"""CPU time by component of a running stack, read from /proc while it runs.

A sampler thread walks the process trees it is given (the local stack and PostgreSQL)
every ``interval`` seconds and keeps, per process, the first and last CPU time it saw
(user + system, with reaped children: the sandbox servers' forked extractions count for
their server). Processes are grouped by what their command line says they are.
"""

from __future__ import annotations

import os
import threading
from collections import defaultdict
from pathlib import Path

__all__ = ["CpuSampler", "component_of"]

_HZ = os.sysconf("SC_CLK_TCK")
_COMPONENTS = (
    ("docpipe.processor.sandbox", "extraction sandbox"),
    ("docpipe.devstack.worker", "processor worker"),
    ("docpipe.upload.main", "upload service"),
    ("docpipe.query.main", "query service"),
    ("docpipe.devstack.cli upload", "docpipe upload (the CLI)"),
    ("docpipe.devstack.cli up", "stack: moto S3/SQS + supervisor"),
    ("docpipe.devstack.stack", "stack: moto S3/SQS + supervisor"),
    ("docpipe up", "stack: moto S3/SQS + supervisor"),
    ("postgres: autovacuum", "PostgreSQL: autovacuum"),
    ("postgres: docpipe_app", "PostgreSQL: the services' sessions"),
    ("postgres: walwriter", "PostgreSQL: WAL, checkpoints, background"),
    ("postgres: checkpointer", "PostgreSQL: WAL, checkpoints, background"),
    ("postgres: background writer", "PostgreSQL: WAL, checkpoints, background"),
    ("postgres", "PostgreSQL: other"),
)


def component_of(cmdline: str) -> str:
    for marker, name in _COMPONENTS:
        if marker in cmdline:
            return name
    return "other"


def _children(pid: int) -> list[int]:
    found: list[int] = []
    try:
        for task in Path(f"/proc/{pid}/task").iterdir():
            found.extend(int(c) for c in (task / "children").read_text().split())
    except (OSError, ValueError):
        pass
    return found


def _cpu_and_command(pid: int) -> tuple[float, str] | None:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        command = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except (OSError, IndexError, UnicodeDecodeError):
        return None
    ticks = int(fields[11]) + int(fields[12]) + int(fields[13]) + int(fields[14])
    return ticks / _HZ, command


class CpuSampler(threading.Thread):
    def __init__(self, roots: list[int], *, interval: float = 0.5) -> None:
        super().__init__(daemon=True)
        self.roots, self.interval = roots, interval
        self.first: dict[int, float] = {}
        self.last: dict[int, float] = {}
        self.command: dict[int, str] = {}
        self._halt = threading.Event()
        self.sample()

    def sample(self) -> None:
        pending = list(self.roots)
        while pending:
            pid = pending.pop()
            seen = _cpu_and_command(pid)
            if seen is not None:
                cpu, command = seen
                self.first.setdefault(pid, cpu)
                self.last[pid] = cpu
                self.command.setdefault(pid, command)
            pending.extend(_children(pid))

    def run(self) -> None:
        while not self._halt.wait(self.interval):
            self.sample()

    def stop(self) -> dict[str, float]:
        """CPU seconds used meanwhile, by component."""
        self._halt.set()
        self.join()
        self.sample()
        used: dict[str, float] = defaultdict(float)
        for pid, cpu in self.last.items():
            used[component_of(self.command[pid])] += cpu - self.first[pid]
        return dict(used)
