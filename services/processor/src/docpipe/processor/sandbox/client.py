"""The worker's side of the sandbox: a small pool of servers and one request at a time.

The worker never imports a parser (keeping its memory low) and turns every way a request
can end into a :class:`~docpipe.processor.exceptions.Failure`: what the child reported,
what its exit frame says (timeout, memory, crash), or ``sandbox`` (transient) when the
server itself failed to start or stopped answering. A server that misbehaved, or whose
request was abandoned, is killed; a healthy one goes back to a small idle pool, and
concurrent extractions (threads) each take their own. Servers exit when their stdin
reaches end-of-file, so they do not outlive the worker; children die with their server
(``PR_SET_PDEATHSIG``) and have a CPU limit.

Cold start (interpreter + parsers, 0.5–3 s) is paid once per server, by the first
document that finds no idle one.
"""

from __future__ import annotations

import atexit
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
from collections.abc import Generator
from dataclasses import dataclass
from typing import IO, Any

from docpipe.processor.exceptions import Failure, FailureKind
from docpipe.processor.extractors.base import Job
from docpipe.processor.sandbox.child import EXIT_MEMORY
from docpipe.processor.sandbox.confinement import server_environment
from docpipe.processor.sandbox.protocol import Done, Message, parse

__all__ = [
    "MAX_IDLE_SERVERS",
    "STARTUP_TIMEOUT_S",
    "SelfCheck",
    "run_extraction",
    "self_check",
    "shutdown",
]

STARTUP_TIMEOUT_S = 60.0
#: How much longer than ``timeout_s`` the parent waits for the server's ``exit`` frame
#: (the server enforces ``timeout_s`` itself) before it gives the server up for dead.
REPLY_GRACE_S = 10.0
#: Idle servers kept for the next documents (one per concurrent extraction is enough).
MAX_IDLE_SERVERS = 2
_TAIL_BYTES = 4096
_FAILURE_KINDS = {kind.value: kind for kind in FailureKind}


class Server:
    """A server process, its stderr file, and whether it has reported ``ready``."""

    __slots__ = ("proc", "ready", "stderr")

    def __init__(self, proc: subprocess.Popen[bytes], stderr: IO[bytes]) -> None:
        self.proc = proc
        self.stderr = stderr
        self.ready = False


_idle: list[Server] = []
_pool_lock = threading.Lock()


def spawn() -> Server:
    stderr = tempfile.TemporaryFile()
    proc = subprocess.Popen(
        [sys.executable, "-m", "docpipe.processor.sandbox"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=stderr,
        close_fds=True,
        env=server_environment(os.environ),
    )
    return Server(proc, stderr)


def shutdown() -> None:
    """End the idle servers (busy ones return to the pool when their request ends)."""
    with _pool_lock:
        servers = _idle[:]
        _idle.clear()
    for server in servers:
        discard(server)


atexit.register(shutdown)


def take_server() -> Server:
    """The most recently used idle server that is alive, or a new one."""
    while True:
        with _pool_lock:
            server = _idle.pop() if _idle else None
        if server is None:
            return spawn()
        if server.proc.poll() is None:
            return server
        discard(server)


def _give_back(server: Server) -> None:
    with _pool_lock:
        if len(_idle) < MAX_IDLE_SERVERS:
            _idle.append(server)
            return
    discard(server)


def discard(server: Server) -> None:
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


def _last_stderr_line(server: Server) -> str:
    try:
        server.stderr.seek(0, os.SEEK_END)
        server.stderr.seek(max(0, server.stderr.tell() - _TAIL_BYTES))
        lines = server.stderr.read().decode("utf-8", "replace").strip().splitlines()
    except (OSError, ValueError):
        return ""
    return lines[-1] if lines else ""


def _sandbox_failure(detail: str) -> Failure:
    return Failure(
        FailureKind.SANDBOX, "the extraction service was unavailable; will retry", detail=detail
    )


def wait_ready(server: Server) -> None:
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
        raise _sandbox_failure(f"the sandbox server failed to start: {_last_stderr_line(server)}")
    server.ready = True


def _send_request(proc: subprocess.Popen[bytes], data: bytes, header: dict[str, Any]) -> None:
    assert proc.stdin is not None
    try:
        proc.stdin.write(json.dumps({**header, "size": len(data)}).encode() + b"\n")
        proc.stdin.write(data)
        proc.stdin.flush()
    except (BrokenPipeError, ValueError):
        pass  # the server is gone: its stdout ends without an exit frame


def exit_failure(frame: dict[str, Any], timeout_s: float) -> Failure:
    """The failure an abnormal end of the child stands for."""
    tail = str(frame.get("stderr_tail", ""))[-1000:]
    if frame["timed_out"]:
        return Failure(
            FailureKind.TIMEOUT, f"extraction did not finish within {timeout_s:g} s", detail=tail
        )
    code = frame["status"]
    from docpipe.processor.extractors.base import is_memory_error

    if code == EXIT_MEMORY or is_memory_error(RuntimeError(tail)):
        return Failure(FailureKind.MEMORY, "extraction exceeded its memory limit", detail=tail)
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        return Failure(
            FailureKind.CRASH, f"the file crashed the extraction process ({name})", detail=tail
        )
    return Failure(
        FailureKind.CRASH,
        f"the extraction process ended unexpectedly (exit code {code})",
        detail=tail,
    )


def _server_failure(server: Server, backstop: _Deadline, waited_s: float) -> Failure:
    """The failure a server that ended a request without an exit frame stands for."""
    if backstop.fired:
        return _sandbox_failure(f"the sandbox server did not answer in {waited_s:g} s")
    try:
        server.proc.wait(timeout=1)
    except subprocess.TimeoutExpired:
        pass
    code = server.proc.returncode
    return _sandbox_failure(
        f"the sandbox server ended unexpectedly (exit status {code}): {_last_stderr_line(server)}"
    )


@dataclass(slots=True)
class _Reply:
    """What a request has produced so far, besides the messages already yielded."""

    finished: bool = False
    reported: Failure | None = None
    frame: dict[str, Any] | None = None
    probe: dict[str, Any] | None = None


def _read_reply(proc: subprocess.Popen[bytes], reply: _Reply) -> Generator[Message, None, None]:
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
            kind = _FAILURE_KINDS.get(msg["kind"], FailureKind.CRASH)
            reply.reported = reply.reported or Failure(kind, str(msg["reason"]))
            continue
        if msg["type"] == "probe":
            reply.probe, reply.finished = msg, True
            continue
        message = parse(msg)
        reply.finished = isinstance(message, Done)
        yield message


def _request(data: bytes, header: dict[str, Any], reply: _Reply) -> Generator[Message, None, None]:
    """Run one request on a pooled server; raises :class:`Failure`."""
    timeout_s = float(header["timeout_s"])
    server = take_server()
    reusable = False
    backstop: _Deadline | None = None
    try:
        if not server.ready:
            wait_ready(server)
        waited_s = timeout_s + REPLY_GRACE_S
        backstop = _Deadline(server.proc, waited_s)
        _send_request(server.proc, data, header)
        yield from _read_reply(server.proc, reply)
        if reply.frame is None:
            raise _server_failure(server, backstop, waited_s)
        backstop.cancel()
        reusable = not backstop.fired  # a clean request: the server can serve the next
        if reply.reported is not None:
            raise reply.reported
        if not reply.finished or reply.frame["status"] != 0:
            raise exit_failure(reply.frame, timeout_s)
    except (ValueError, KeyError, TypeError) as exc:  # json.JSONDecodeError is a ValueError
        raise Failure(
            FailureKind.CRASH, "the extraction process sent a malformed reply", detail=repr(exc)
        ) from exc
    finally:
        if backstop is not None:
            backstop.cancel()
        if reusable:
            _give_back(server)
        else:
            discard(server)


def run_extraction(data: bytes, job: Job) -> Generator[Message, None, None]:
    """Yield the child's messages (``Meta``, ``Page``…, ``Warning``…, then ``Done``).

    Raises :class:`Failure`. Closing the iterator early kills the server that runs the
    document (and so its child).
    """
    from dataclasses import asdict

    header = {
        "timeout_s": job.limits.timeout_s,
        "memory_mb": job.limits.memory_mb,
        "job": {
            "content_type": job.content_type,
            "encoding": job.encoding,
            "encoding_guessed": job.encoding_guessed,
            "limits": asdict(job.limits),
        },
    }
    yield from _request(data, header, _Reply())


@dataclass(frozen=True, slots=True)
class SelfCheck:
    """What a document sees from inside an extraction child."""

    environment: tuple[str, ...]
    limits: dict[str, int]
    uid: int
    seccomp: str
    network_blocked: bool


def self_check(*, timeout_s: float = 30.0, memory_mb: int = 1024) -> SelfCheck:
    """Run a probe child through the real server path and report what it saw."""
    reply = _Reply()
    for _ in _request(b"", {"probe": True, "timeout_s": timeout_s, "memory_mb": memory_mb}, reply):
        pass
    probe = reply.probe or {}
    return SelfCheck(
        environment=tuple(probe.get("environment", ())),
        limits={k: int(v) for k, v in probe.get("limits", {}).items()},
        uid=int(probe.get("uid", -1)),
        seccomp=str(probe.get("seccomp", "")),
        network_blocked=bool(probe.get("network_blocked")),
    )
