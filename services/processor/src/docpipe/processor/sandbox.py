"""PDF text extraction in forked, disposable children of a long-lived server.

A hostile PDF can hang MuPDF, exhaust memory or crash it, and PyMuPDF is not
thread-safe, so no document is ever opened in the worker itself. Starting a fresh
interpreter and importing PyMuPDF for every document costs ~0.3 CPU-s, more than
extracting a typical PDF, so the work is split in two:

- A **server** (``python -m docpipe.processor.sandbox``, a plain subprocess: Lambda has
  no ``/dev/shm`` for ``multiprocessing`` queues and pools) imports PyMuPDF once, reports
  ``ready`` and then serves requests from stdin, one at a time: a JSON header line, then
  ``size`` bytes of PDF. It never opens a document itself.
- For each request it forks a **child**, which caps its own address space
  (``RLIMIT_AS`` = current size + ``memory_mb``), CPU time and core dumps, sends its
  stderr to a private temporary file, extracts the document writing one JSON line per
  page to a private pipe, then a ``done`` line, and leaves with ``os._exit``. Every
  document thus gets a fresh copy of a process that has never opened a document, with
  its own limits, without paying the import again. (Unlike a new interpreter, the
  copies share the server's address-space layout: ASLR happens at exec, not fork.)
- The server relays only complete lines from the pipe to its stdout (a crashed child's
  partial line is dropped), kills the child when ``timeout_s`` passes, reaps it and
  ends the request with an ``exit`` frame: the child's exit status (code or -signal),
  whether it timed out, and the tail of its stderr.

The parent (the worker) never imports PyMuPDF (keeping its memory low) and turns every
way a request can end into a :class:`SandboxFailure` with a ``kind``: what the child
reported, what its exit frame says (timeout, memory, crash), or ``worker`` when the
server itself failed to start or stopped answering (an environment problem, retried).
A server that misbehaved, or whose request was abandoned, is killed; a healthy one goes
back to a small idle pool, and concurrent extractions (threads) each take their own.
Servers exit when their stdin reaches end-of-file, so they do not outlive the worker;
children die with their server (``PR_SET_PDEATHSIG`` on Linux) and have a CPU limit.

Cold start (interpreter + PyMuPDF, 0.3–3 s) is paid once per server; :func:`prewarm`
starts one ahead of the first document, off the critical path.
"""

from __future__ import annotations

import atexit
import json
import math
import os
import re
import select
import signal
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import IO, Any, NoReturn

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
#: How much longer than ``timeout_s`` the parent waits for the server's ``exit`` frame
#: (the server enforces ``timeout_s`` itself) before it gives the server up for dead.
REPLY_GRACE_S = 10.0
#: Idle servers kept for the next documents (one per concurrent extraction is enough).
MAX_IDLE_SERVERS = 2
_EXIT_MEMORY = 3
_TAIL_BYTES = 4096
_RELAY_BUFFER = 1 << 20  # the server stops reading its child beyond this much unsent output
# How running out of address space shows: Python's MemoryError, MuPDF's
# "code=2: realloc (52429248 bytes) failed", C++'s std::bad_alloc.
_MEMORY_ERROR = re.compile(r"MemoryError|bad_alloc|out of memory|(?:m|c|re)alloc\b.*fail", re.I)


class SandboxFailure(Exception):
    """The document was not extracted.

    ``kind`` is one of ``encrypted``, ``corrupt``, ``unsupported``, ``too_many_pages``
    (reported by the child), ``timeout``, ``memory``, ``crash`` (how the child ended), or
    ``worker`` (the server could not start or stopped answering: an environment problem,
    not the document's).
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


class _Server:
    """A server process, its stderr file, and whether it has reported ``ready``."""

    __slots__ = ("proc", "ready", "stderr")

    def __init__(self, proc: subprocess.Popen[bytes], stderr: IO[bytes]) -> None:
        self.proc = proc
        self.stderr = stderr
        self.ready = False


_idle: list[_Server] = []
_pool_lock = threading.Lock()
_keep_warm = False


def _spawn() -> _Server:
    stderr = tempfile.TemporaryFile()
    proc = subprocess.Popen(
        [sys.executable, "-m", "docpipe.processor.sandbox"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=stderr,
        close_fds=True,
    )
    return _Server(proc, stderr)


def prewarm() -> None:
    """Start a server now, and again whenever none is idle after an extraction."""
    global _keep_warm
    with _pool_lock:
        _keep_warm = True
        dead = [s for s in _idle if s.proc.poll() is not None]
        _idle[:] = [s for s in _idle if s not in dead]
        if not _idle:
            _idle.append(_spawn())
    for server in dead:
        _discard(server)


def shutdown() -> None:
    """Stop keeping a server ready and end the idle ones (busy ones return to the pool)."""
    global _keep_warm
    with _pool_lock:
        _keep_warm = False
        servers = _idle[:]
        _idle.clear()
    for server in servers:
        _discard(server)


atexit.register(shutdown)


def _take_server() -> _Server:
    """The most recently used idle server that is alive, or a new one."""
    while True:
        with _pool_lock:
            server = _idle.pop() if _idle else None
        if server is None:
            return _spawn()
        if server.proc.poll() is None:
            return server
        _discard(server)


def _give_back(server: _Server) -> None:
    with _pool_lock:
        if len(_idle) < MAX_IDLE_SERVERS:
            _idle.append(server)
            return
    _discard(server)


def _discard(server: _Server) -> None:
    """Kill and reap the server (its in-flight child dies with it), closing its files."""
    proc = server.proc
    if proc.poll() is None:
        proc.kill()
    proc.wait()
    for stream in (proc.stdin, proc.stdout, server.stderr):
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


def _last_stderr_line(server: _Server) -> str:
    try:
        server.stderr.seek(0, os.SEEK_END)
        server.stderr.seek(max(0, server.stderr.tell() - _TAIL_BYTES))
        lines = server.stderr.read().decode("utf-8", "replace").strip().splitlines()
    except (OSError, ValueError):
        return ""
    return f": {lines[-1]}" if lines else ""


def _wait_ready(server: _Server) -> None:
    proc = server.proc
    assert proc.stdout is not None
    deadline = _Deadline(proc, STARTUP_TIMEOUT_S)
    try:
        line = proc.stdout.readline()
    finally:
        deadline.cancel()
    if not line.startswith(b'{"type": "ready"}'):
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        detail = _last_stderr_line(server)
        raise SandboxFailure("worker", f"the extraction worker failed to start{detail}")
    server.ready = True


def _send_request(proc: subprocess.Popen[bytes], data: bytes, header: dict[str, Any]) -> None:
    assert proc.stdin is not None
    try:
        proc.stdin.write(json.dumps({**header, "size": len(data)}).encode() + b"\n")
        proc.stdin.write(data)
        proc.stdin.flush()
    except (BrokenPipeError, ValueError):
        pass  # the server is gone: its stdout ends without an exit frame


def _parse(msg: dict[str, Any]) -> PdfMessage:
    kind = msg["type"]
    if kind == "page":
        return PdfPage(number=msg["number"], text=msg["text"], truncated=msg["truncated"])
    if kind == "meta":
        return PdfMeta(page_count=msg["page_count"])
    if kind == "done":
        return PdfDone(warnings=tuple(msg["warnings"]))
    raise ValueError(f"unknown message type {kind!r}")


def _exit_failure(frame: dict[str, Any], timeout_s: float) -> SandboxFailure:
    """The failure an abnormal end of the child stands for."""
    if frame["timed_out"]:
        return SandboxFailure("timeout", f"extraction did not finish within {timeout_s:g} s")
    code = frame["status"]
    if code == _EXIT_MEMORY or _MEMORY_ERROR.search(frame["stderr_tail"]):
        return SandboxFailure("memory", "extraction exceeded its memory limit")
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        return SandboxFailure("crash", f"the PDF crashed the extraction process ({name})")
    return SandboxFailure("crash", f"the extraction process ended unexpectedly (exit code {code})")


def _server_failure(server: _Server, backstop: _Deadline, waited_s: float) -> SandboxFailure:
    """The failure a server that ended a request without an exit frame stands for."""
    if backstop.fired:
        return SandboxFailure("worker", f"the extraction server did not answer in {waited_s:g} s")
    try:
        server.proc.wait(timeout=1)
    except subprocess.TimeoutExpired:
        pass
    detail = _last_stderr_line(server)
    code = server.proc.returncode
    return SandboxFailure(
        "worker", f"the extraction server ended unexpectedly (exit status {code}){detail}"
    )


@dataclass(slots=True)
class _Reply:
    """What a request has produced so far, besides the messages already yielded."""

    finished: bool = False
    reported: SandboxFailure | None = None
    frame: dict[str, Any] | None = None


def _read_reply(proc: subprocess.Popen[bytes], reply: _Reply) -> Generator[PdfMessage, None, None]:
    """Yield the child's messages until the server's exit frame, recorded in ``reply``."""
    assert proc.stdout is not None
    for line in proc.stdout:
        if not line.endswith(b"\n"):  # the server died mid-write: no exit frame
            return
        msg = json.loads(line)
        if msg["type"] == "exit":
            reply.frame = msg
            return
        if msg["type"] == "error":  # the child's verdict; its exit frame follows
            reply.reported = reply.reported or SandboxFailure(msg["kind"], msg["reason"])
            continue
        message = _parse(msg)
        reply.finished = isinstance(message, PdfDone)
        yield message


def run_pdf_extraction(
    data: bytes,
    *,
    timeout_s: float,
    memory_mb: int,
    max_pages: int,
    max_chars_per_page: int,
) -> Generator[PdfMessage, None, None]:
    """Yield ``PdfMeta``, then one ``PdfPage`` per page in order, then ``PdfDone``.

    Raises :class:`SandboxFailure`. Closing the iterator early kills the server that
    runs the document (and so its child).
    """
    server = _take_server()
    reusable = False
    backstop: _Deadline | None = None
    try:
        if not server.ready:
            _wait_ready(server)
        waited_s = timeout_s + REPLY_GRACE_S
        backstop = _Deadline(server.proc, waited_s)
        header = {
            "timeout_s": timeout_s,
            "memory_mb": memory_mb,
            "max_pages": max_pages,
            "max_chars_per_page": max_chars_per_page,
        }
        _send_request(server.proc, data, header)
        reply = _Reply()
        yield from _read_reply(server.proc, reply)
        if reply.frame is None:
            raise _server_failure(server, backstop, waited_s)
        backstop.cancel()
        reusable = not backstop.fired  # a clean request: the server can serve the next
        if reply.reported is not None:
            raise reply.reported
        if not reply.finished or reply.frame["status"] != 0:
            raise _exit_failure(reply.frame, timeout_s)
    except (ValueError, KeyError, TypeError) as exc:  # json.JSONDecodeError is a ValueError
        raise SandboxFailure("crash", "the extraction process sent a malformed reply") from exc
    finally:
        if backstop is not None:
            backstop.cancel()
        if reusable:
            _give_back(server)
        else:
            _discard(server)
            if _keep_warm:
                prewarm()


# --------------------------------------------------------------------------- server side


class _ParentGone(Exception):
    """The server's stdin ended (or saw unexpected input) during a request."""


def _frame(message: dict[str, Any]) -> bytes:
    return json.dumps(message, ensure_ascii=False).encode() + b"\n"


def _send(out: IO[bytes], message: dict[str, Any]) -> None:
    out.write(_frame(message))
    out.flush()


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


def _relay(
    pid: int, src: int, out: int, deadline: float, control: int = 0
) -> tuple[int, bool, bytes]:
    """Pass the child's complete lines from ``src`` to ``out`` until it ends.

    Kills the child at ``deadline``. Returns its exit status (code, or -signal), whether
    it timed out, and the complete lines not yet written. A partial last line (a child
    that died mid-write) is dropped. Raises :class:`_ParentGone` when ``control`` becomes
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
            raise _ParentGone
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


def _serve(
    out: int, pymupdf: Any, data: bytes, header: dict[str, Any], arm: Callable[[], None]
) -> None:
    """Extract one document in a forked child and relay its reply, then an exit frame."""
    with tempfile.TemporaryFile() as err:
        src, sink = os.pipe()
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:
            _child(pymupdf, data, header, sink=sink, err=err.fileno(), close=(src, out), arm=arm)
        os.close(sink)
        try:
            deadline = time.monotonic() + float(header["timeout_s"])
            status, timed_out, pending = _relay(pid, src, out, deadline)
        except BaseException:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            raise
        finally:
            os.close(src)
        tail = _tail(err)
    exit_frame = {"type": "exit", "status": status, "timed_out": timed_out, "stderr_tail": tail}
    _write_all(out, pending + _frame(exit_frame))


def _server_main() -> int:
    out = os.dup(1)  # the protocol channel
    os.dup2(2, 1)  # whatever else writes to stdout lands on stderr
    pymupdf = _import_pymupdf()
    pymupdf.TOOLS.mupdf_display_errors(False)
    pymupdf.TOOLS.mupdf_display_warnings(False)
    arm = _parent_death_signal()
    _write_all(out, _frame({"type": "ready"}))
    os.set_blocking(out, False)  # relaying never blocks, so the time limit always holds
    stdin = sys.stdin.buffer
    try:
        while line := stdin.readline():
            header = json.loads(line)
            data = stdin.read(header["size"])
            if len(data) < header["size"]:
                break
            _serve(out, pymupdf, data, header, arm)
            del data  # not kept while idle
    except (_ParentGone, BrokenPipeError):
        pass
    return 0  # stdin ended: the parent shut us down or is gone


# ---------------------------------------------------------------------------- child side


def _child(
    pymupdf: Any,
    data: bytes,
    header: dict[str, Any],
    *,
    sink: int,
    err: int,
    close: tuple[int, ...],
    arm: Callable[[], None],
) -> NoReturn:
    """Run in the forked child: limit, extract into ``sink``, and leave without cleanup."""
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
        out = os.fdopen(sink, "wb")
        _limit_resources(header["memory_mb"], header["timeout_s"])
        _extract(out, pymupdf, data, header)
        code = 0
    except BaseException as exc:  # MemoryError included
        if _is_memory_error(exc):
            code = _EXIT_MEMORY
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


if __name__ == "__main__":
    sys.exit(_server_main())
