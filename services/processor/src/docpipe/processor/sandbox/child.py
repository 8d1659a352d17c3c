"""The per-document child: confine itself, extract, report, and leave without cleanup.

Forked by the server for one request. It points its stdout/stderr at a private file,
arms the parent-death signal, applies :mod:`.confinement` (limits, no network), runs the
content type's extractor writing protocol lines to its pipe, and ends with ``os._exit``:
``0`` after ``done`` or a reported failure, :data:`EXIT_MEMORY` when it ran out of
memory, ``1`` after any other exception (its traceback is in the stderr file).
"""

from __future__ import annotations

import os
import resource
import sys
import traceback
from collections.abc import Callable
from typing import IO, Any, NoReturn

from docpipe.processor.exceptions import Failure
from docpipe.processor.extractors import extractor_for
from docpipe.processor.extractors.base import ExtractionLimits, Job, is_memory_error
from docpipe.processor.sandbox import confinement
from docpipe.processor.sandbox.protocol import frame

__all__ = ["EXIT_MEMORY", "run_child"]

EXIT_MEMORY = 3
_LIMITS = {
    "address_space": resource.RLIMIT_AS,
    "cpu_seconds": resource.RLIMIT_CPU,
    "core_bytes": resource.RLIMIT_CORE,
    "file_bytes": resource.RLIMIT_FSIZE,
    "open_files": resource.RLIMIT_NOFILE,
    "tasks": resource.RLIMIT_NPROC,
}


class _PipeOutput:
    """:class:`~docpipe.processor.extractors.base.Output` as protocol lines on a pipe."""

    def __init__(self, out: IO[bytes], max_chars: int) -> None:
        self._out = out
        self._max_chars = max_chars

    def _send(self, message: dict[str, Any]) -> None:
        self._out.write(frame(message))
        self._out.flush()

    def meta(self, *, page_count: int) -> None:
        self._send({"type": "meta", "page_count": page_count})

    def page(self, number: int, text: str, *, ocr: bool = False) -> None:
        # Parsers can yield lone surrogates, which neither UTF-8 nor Postgres accept.
        text = text.encode("utf-8", "replace").decode("utf-8")
        truncated = len(text) > self._max_chars
        self._send(
            {
                "type": "page",
                "number": number,
                "text": text[: self._max_chars],
                "truncated": truncated,
                "ocr": ocr,
            }
        )

    def warn(self, text: str) -> None:
        self._send({"type": "warning", "text": text})

    def done(self) -> None:
        self._send({"type": "done"})

    def error(self, failure: Failure) -> None:
        self._send({"type": "error", "kind": failure.kind.value, "reason": failure.reason})


def _job(header: dict[str, Any]) -> Job:
    spec = header["job"]
    return Job(
        content_type=spec["content_type"],
        encoding=spec.get("encoding"),
        encoding_guessed=bool(spec.get("encoding_guessed")),
        limits=ExtractionLimits(**spec["limits"]),
    )


def _probe(out: _PipeOutput, network: str | None) -> None:
    """Report what a document would see from in here (the sandbox's self-check)."""
    limits = {name: resource.getrlimit(limit)[0] for name, limit in _LIMITS.items()}
    out._send(
        {
            "type": "probe",
            "environment": sorted(os.environ),
            "limits": limits,
            "uid": os.getuid(),
            "seccomp": network or "installed",
            "network_blocked": confinement.network_blocked(),
        }
    )


def _work(out: IO[bytes], data: bytes, header: dict[str, Any]) -> None:
    probe = bool(header.get("probe"))
    limits = ExtractionLimits() if probe else _job(header).limits
    writer = _PipeOutput(out, limits.max_chars_per_page)
    confinement.limit_resources(memory_mb=header["memory_mb"], timeout_s=header["timeout_s"])
    network = confinement.block_network()
    if probe:
        _probe(writer, network)
        return
    if network is not None:
        print(f"network not blocked: {network}", file=sys.stderr)
    job = _job(header)
    try:
        extractor_for(job.content_type)(data, job, writer)
    except Failure as failure:
        writer.error(failure)
        if failure.detail:
            print(f"{failure.kind}: {failure.detail}", file=sys.stderr)
        return
    writer.done()


def run_child(
    data: bytes,
    header: dict[str, Any],
    *,
    sink: int,
    err: int,
    close: tuple[int, ...],
    arm: Callable[[], None],
) -> NoReturn:
    """Run in the forked child: confine, extract into ``sink``, leave without cleanup."""
    code = 1
    try:
        os.dup2(err, 1)
        os.dup2(err, 2)
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.close(null)
        for fd in close:  # the server's protocol channel must end when the server does
            os.close(fd)
        arm()
        _work(os.fdopen(sink, "wb"), data, header)
        code = 0
    except BaseException as exc:  # MemoryError included
        if is_memory_error(exc):
            code = EXIT_MEMORY
        else:
            try:
                traceback.print_exc()
            except BaseException:  # noqa: S110 - nothing left to report it with
                pass
    finally:
        try:
            sys.stderr.flush()
        finally:
            os._exit(code)
