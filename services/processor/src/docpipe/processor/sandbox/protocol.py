"""The messages between the worker, the sandbox server and its children: JSON lines.

worker -> server: a header line (``{"size": n, "timeout_s", "memory_mb", "job": {…}}`` or
``{"size": 0, "probe": true, …}``), then ``size`` bytes of document. child -> server ->
worker: ``meta``, ``page``, ``warning`` lines, then ``done`` or ``error`` (a
:class:`~docpipe.processor.exceptions.Failure` the child reported), or ``probe`` for a
self-check; the server ends every request with an ``exit`` frame describing how the child
ended (its status, whether it timed out, the tail of its stderr).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

__all__ = ["Done", "Message", "Meta", "Page", "Warning", "frame", "parse"]


@dataclass(frozen=True, slots=True)
class Meta:
    page_count: int


@dataclass(frozen=True, slots=True)
class Page:
    number: int
    text: str
    truncated: bool
    ocr: bool


@dataclass(frozen=True, slots=True)
class Warning:  # noqa: A001 - the protocol's word; never imported unqualified
    text: str


@dataclass(frozen=True, slots=True)
class Done:
    pass


Message = Meta | Page | Warning | Done


def frame(message: dict[str, Any]) -> bytes:
    return json.dumps(message, ensure_ascii=False).encode() + b"\n"


def parse(msg: dict[str, Any]) -> Message:
    kind = msg["type"]
    if kind == "page":
        return Page(
            number=int(msg["number"]),
            text=str(msg["text"]),
            truncated=bool(msg["truncated"]),
            ocr=bool(msg["ocr"]),
        )
    if kind == "meta":
        return Meta(page_count=int(msg["page_count"]))
    if kind == "warning":
        return Warning(text=str(msg["text"]))
    if kind == "done":
        return Done()
    raise ValueError(f"unknown message type {kind!r}")
