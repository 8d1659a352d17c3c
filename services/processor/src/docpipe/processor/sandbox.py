"""PDF text extraction in a disposable child process.

A hostile PDF can hang MuPDF, exhaust memory or crash it, and PyMuPDF is not
thread-safe, so every document is read by a fresh ``python -m
docpipe.processor.sandbox`` process (a plain subprocess: Lambda has no ``/dev/shm``
for ``multiprocessing`` queues and pools). The child

- imports PyMuPDF and reports ``ready`` (so start-up does not eat the time budget),
- reads one request (a JSON header line, then the PDF bytes) from stdin,
- caps its own address space (``RLIMIT_AS`` = current size + ``memory_mb``) and CPU time,
- streams one JSON line per page back on a private copy of stdout (anything MuPDF or
  Python prints goes to stderr), then a ``done`` line, and exits.

The parent kills the child when ``timeout_s`` passes, never imports PyMuPDF itself
(keeping its memory low), and turns every way the child can end into a
:class:`SandboxFailure` with a ``kind``.

Cold start costs an interpreter plus the PyMuPDF import (1–3 s); :func:`prewarm`
keeps one started child waiting, so a long-lived worker pays it off the critical path.
"""

from __future__ import annotations

import atexit
import json
import math
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
from collections.abc import Generator
from dataclasses import dataclass
from typing import IO, Any

__all__ = [
    "PdfDone",
    "PdfMeta",
    "PdfPage",
    "SandboxFailure",
    "prewarm",
    "run_pdf_extraction",
    "shutdown",
]

STARTUP_TIMEOUT_S = 60.0
_EXIT_MEMORY = 3
# How running out of address space shows: Python's MemoryError, MuPDF's
# "code=2: realloc (52429248 bytes) failed", C++'s std::bad_alloc.
_MEMORY_ERROR = re.compile(r"MemoryError|bad_alloc|out of memory|(?:m|c|re)alloc\b.*fail", re.I)


class SandboxFailure(Exception):
    """The child did not extract the document.

    ``kind`` is one of ``encrypted``, ``corrupt``, ``unsupported``, ``too_many_pages``
    (reported by the child), ``timeout``, ``memory``, ``crash`` (observed by the parent),
    or ``worker`` (the child could not start: an environment problem, not the document's).
    """

    def __init__(self, kind: str, reason: str) -> None:
        super().__init__(reason)
        self.kind = kind
        self.reason = reason


@dataclass(frozen=True, slots=True)
class PdfMeta:
    page_count: int


@dataclass(frozen=True, slots=True)
class PdfPage:
    number: int
    text: str
    truncated: bool


@dataclass(frozen=True, slots=True)
class PdfDone:
    warnings: tuple[str, ...]


PdfMessage = PdfMeta | PdfPage | PdfDone

# --------------------------------------------------------------------------- parent side

_spare: subprocess.Popen[bytes] | None = None
_spare_lock = threading.Lock()
_keep_warm = False


def _spawn() -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "docpipe.processor.sandbox"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=tempfile.TemporaryFile(),
        close_fds=True,
    )


def prewarm() -> None:
    """Start a child now and keep one ready after every extraction (long-lived workers)."""
    global _spare, _keep_warm
    with _spare_lock:
        _keep_warm = True
        if _spare is None or _spare.poll() is not None:
            _spare = _spawn()


def shutdown() -> None:
    """Stop keeping a child ready and end the waiting one."""
    global _spare, _keep_warm
    with _spare_lock:
        _keep_warm = False
        spare, _spare = _spare, None
    if spare is not None:
        _kill(spare)


atexit.register(shutdown)


def _take_child() -> subprocess.Popen[bytes]:
    global _spare
    with _spare_lock:
        spare, _spare = _spare, None
    if spare is not None and spare.poll() is None:
        return spare
    if spare is not None:
        _kill(spare)
    return _spawn()


def _kill(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.kill()
    proc.wait()
    for stream in (proc.stdin, proc.stdout, proc.stderr):
        if stream is not None:
            stream.close()


class _Deadline:
    """Kills ``proc`` after ``seconds`` unless cancelled; remembers whether it fired."""

    def __init__(self, proc: subprocess.Popen[bytes], seconds: float) -> None:
        self.fired = False
        self._proc = proc
        self._timer = threading.Timer(seconds, self._fire)
        self._timer.daemon = True
        self._timer.start()

    def _fire(self) -> None:
        self.fired = True
        if self._proc.poll() is None:
            self._proc.kill()

    def cancel(self) -> None:
        self._timer.cancel()


def _stderr_tail(proc: subprocess.Popen[bytes]) -> str:
    err = proc.stderr
    if err is None:
        return ""
    try:
        err.seek(max(0, err.seek(0, os.SEEK_END) - 4096))
        return err.read().decode("utf-8", "replace")
    except (OSError, ValueError):
        return ""


def _wait_ready(proc: subprocess.Popen[bytes]) -> None:
    assert proc.stdout is not None
    deadline = _Deadline(proc, STARTUP_TIMEOUT_S)
    try:
        line = proc.stdout.readline()
    finally:
        deadline.cancel()
    if not line.startswith(b'{"type": "ready"}'):
        proc.wait()
        tail = _stderr_tail(proc).strip().splitlines()
        detail = f": {tail[-1]}" if tail else ""
        raise SandboxFailure("worker", f"the extraction worker failed to start{detail}")


def _send_request(proc: subprocess.Popen[bytes], data: bytes, header: dict[str, Any]) -> None:
    assert proc.stdin is not None
    try:
        proc.stdin.write(json.dumps({**header, "size": len(data)}).encode() + b"\n")
        proc.stdin.write(data)
        proc.stdin.close()
    except (BrokenPipeError, ValueError):
        pass  # the child is gone; its exit status tells why


def _parse(line: bytes) -> PdfMessage:
    msg = json.loads(line)
    kind = msg["type"]
    if kind == "page":
        return PdfPage(number=msg["number"], text=msg["text"], truncated=msg["truncated"])
    if kind == "meta":
        return PdfMeta(page_count=msg["page_count"])
    if kind == "done":
        return PdfDone(warnings=tuple(msg["warnings"]))
    raise SandboxFailure(msg["kind"], msg["reason"])


def _exit_failure(proc: subprocess.Popen[bytes], timeout_s: float, timed_out: bool) -> None:
    """Raise the failure an abnormal child exit stands for."""
    if timed_out:
        raise SandboxFailure("timeout", f"extraction did not finish within {timeout_s:g} s")
    code = proc.returncode
    tail = _stderr_tail(proc)
    if code == _EXIT_MEMORY or _MEMORY_ERROR.search(tail):
        raise SandboxFailure("memory", "extraction exceeded its memory limit")
    if code is not None and code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        raise SandboxFailure("crash", f"the PDF crashed the extraction process ({name})")
    raise SandboxFailure("crash", f"the extraction process ended unexpectedly (exit code {code})")


def run_pdf_extraction(
    data: bytes,
    *,
    timeout_s: float,
    memory_mb: int,
    max_pages: int,
    max_chars_per_page: int,
) -> Generator[PdfMessage, None, None]:
    """Yield ``PdfMeta``, then one ``PdfPage`` per page in order, then ``PdfDone``.

    Raises :class:`SandboxFailure`. Closing the iterator early kills the child.
    """
    proc = _take_child()
    deadline: _Deadline | None = None
    try:
        _wait_ready(proc)
        deadline = _Deadline(proc, timeout_s)
        header = {
            "timeout_s": timeout_s,
            "memory_mb": memory_mb,
            "max_pages": max_pages,
            "max_chars_per_page": max_chars_per_page,
        }
        _send_request(proc, data, header)
        assert proc.stdout is not None
        finished = False
        for line in proc.stdout:
            message = _parse(line)
            finished = isinstance(message, PdfDone)
            yield message
        proc.wait()
        deadline.cancel()
        if not finished or proc.returncode != 0:
            _exit_failure(proc, timeout_s, deadline.fired)
    except json.JSONDecodeError as exc:
        raise SandboxFailure("crash", "the extraction process sent a malformed reply") from exc
    finally:
        if deadline is not None:
            deadline.cancel()
        _kill(proc)
        if _keep_warm:
            prewarm()


# ---------------------------------------------------------------------------- child side


def _send(out: IO[bytes], message: dict[str, Any]) -> None:
    out.write(json.dumps(message, ensure_ascii=False).encode() + b"\n")
    out.flush()


def _limit_resources(memory_mb: int, timeout_s: float) -> None:
    import resource

    with open("/proc/self/statm") as statm:
        current = int(statm.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    cap = current + memory_mb * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
    cpu = math.ceil(timeout_s) + 5  # backstop should the parent die before killing us
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 5))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def _is_memory_error(exc: BaseException) -> bool:
    return isinstance(exc, MemoryError) or bool(_MEMORY_ERROR.search(repr(exc)))


def _extract(out: IO[bytes], pymupdf: Any, data: bytes, header: dict[str, Any]) -> None:
    try:
        doc = pymupdf.open(stream=data, filetype="pdf")
    except Exception as exc:
        if _is_memory_error(exc):
            raise
        _send(out, {"type": "error", "kind": "corrupt", "reason": "the PDF cannot be opened"})
        return
    if not doc.is_pdf:
        _send(out, {"type": "error", "kind": "unsupported", "reason": "the file is not a PDF"})
        return
    if doc.needs_pass:
        reason = "the PDF is encrypted (password-protected)"
        _send(out, {"type": "error", "kind": "encrypted", "reason": reason})
        return
    try:
        count = doc.page_count
    except Exception as exc:  # e.g. "code=7: Invalid number of pages" (a looping page tree)
        if _is_memory_error(exc):
            raise
        _send(out, {"type": "error", "kind": "corrupt", "reason": "the PDF's page tree is broken"})
        return
    if count > header["max_pages"]:
        reason = f"the PDF has {count} pages; the limit is {header['max_pages']}"
        _send(out, {"type": "error", "kind": "too_many_pages", "reason": reason})
        return
    if count == 0:
        _send(out, {"type": "error", "kind": "corrupt", "reason": "the PDF has no pages"})
        return
    _send(out, {"type": "meta", "page_count": count})
    _send_pages(out, doc, count, header["max_chars_per_page"])


def _send_pages(out: IO[bytes], doc: Any, count: int, max_chars: int) -> None:
    warnings: list[str] = []
    failed: list[int] = []
    for index in range(count):
        try:
            text = doc.load_page(index).get_text("text")
        except Exception as exc:
            if _is_memory_error(exc):
                raise
            failed.append(index + 1)
            text = ""
        # MuPDF can yield lone surrogates, which neither UTF-8 nor Postgres accept.
        text = text.encode("utf-8", "replace").decode("utf-8")
        page = {"type": "page", "number": index + 1, "text": text[:max_chars]}
        _send(out, {**page, "truncated": len(text) > max_chars})
    if failed:
        shown = ", ".join(map(str, failed[:10])) + (", …" if len(failed) > 10 else "")
        warnings.append(f"text of {len(failed)} page(s) could not be extracted: {shown}")
    if doc.is_repaired:
        warnings.append("repaired xref: the PDF was damaged and has been repaired")
    _send(out, {"type": "done", "warnings": warnings})


def _import_pymupdf() -> Any:
    """Import PyMuPDF without the optional extras that plain text extraction never uses.

    PyMuPDF 2 imports its layout analyser (onnxruntime, numpy) and pymupdf4llm inside
    ``try: ... except ImportError``; a ``None`` entry in ``sys.modules`` makes those
    imports fail fast, which halves start-up time and saves ~80 MB per child.
    """
    blocked = ("pymupdf.layout", "pymupdf4llm")
    for name in blocked:
        if name not in sys.modules:
            sys.modules[name] = None  # type: ignore[assignment]
    try:
        import pymupdf
    except ImportError:  # a release that needs them after all: import it whole
        for name in [m for m in sys.modules if m.startswith(("pymupdf", *blocked))]:
            del sys.modules[name]
        import pymupdf
    return pymupdf


def _child_main() -> int:
    out = os.fdopen(os.dup(1), "wb")  # the protocol channel
    os.dup2(2, 1)  # whatever else writes to stdout lands on stderr
    pymupdf = _import_pymupdf()
    pymupdf.TOOLS.mupdf_display_errors(False)
    pymupdf.TOOLS.mupdf_display_warnings(False)
    _send(out, {"type": "ready"})
    stdin = sys.stdin.buffer
    header = json.loads(stdin.readline())
    data = stdin.read(header["size"])
    try:
        _limit_resources(header["memory_mb"], header["timeout_s"])
        _extract(out, pymupdf, data, header)
    except Exception as exc:  # MemoryError included
        if not _is_memory_error(exc):
            raise
        return _EXIT_MEMORY
    return 0


if __name__ == "__main__":
    sys.exit(_child_main())
