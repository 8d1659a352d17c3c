"""The extraction sandbox's processes, read from /proc (tests and the ingestion bench).

A sandbox server (``python -m docpipe.processor.sandbox``) outlives the documents it
serves and forks one child per document, so "is anything left behind" and "how much CPU
did extraction use" both need the live process tree, not just exited children.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "Process",
    "extraction_child_pids",
    "extraction_children",
    "processes",
    "sandbox_server_pids",
    "sandbox_servers",
]

_SANDBOX = b"docpipe.processor.sandbox"


@dataclass(frozen=True)
class Process:
    pid: int
    parent: int
    state: str
    cmdline: bytes
    cpu_s: float
    """Own user + system time plus that of its exited, reaped children."""


def processes() -> Iterator[Process]:
    """Every process whose /proc entry can be read."""
    tick = os.sysconf("SC_CLK_TCK")
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        cpu = sum(int(f) for f in fields[11:15]) / tick  # utime stime cutime cstime
        yield Process(int(entry.name), int(fields[1]), fields[0], cmdline, cpu)


def sandbox_servers(parent: int | None = None) -> list[Process]:
    """Live sandbox servers started by ``parent`` (this process by default)."""
    parent = os.getpid() if parent is None else parent
    return [
        p for p in processes() if p.parent == parent and p.state != "Z" and _SANDBOX in p.cmdline
    ]


def extraction_children(parent: int | None = None) -> list[Process]:
    """Live per-document children forked by those servers."""
    servers = {s.pid for s in sandbox_servers(parent)}
    return [p for p in processes() if p.parent in servers and p.state != "Z"]


def sandbox_server_pids() -> set[int]:
    """Pids of this process's live sandbox servers."""
    return {p.pid for p in sandbox_servers()}


def extraction_child_pids() -> set[int]:
    """Pids of the live per-document children of this process's sandbox servers."""
    return {p.pid for p in extraction_children()}
