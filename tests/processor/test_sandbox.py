"""The extraction fork server: reuse, isolation, concurrency and clean-up.

One server imports PyMuPDF and forks a child per document; these tests check that the
server really is reused, that what kills a child (time, memory, early close) leaves
no process behind and the server serving, that a dying server is a transient ``sandbox`` failure,
and the relay's own rules (complete lines only, the time limit) on plain processes.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Generator, Iterator
from pathlib import Path

import pytest

from docpipe.common.filetypes import PDF
from docpipe.processor import sandbox
from docpipe.processor.exceptions import Failure, FailureKind
from docpipe.processor.extraction import ExtractionLimits, extract_pages
from docpipe.processor.extractors.base import Job
from docpipe.processor.sandbox import client, confinement, protocol, server
from docpipe.testkit.pdfs import make_pdf, text_bomb
from docpipe.testkit.processes import extraction_child_pids as extraction_children
from docpipe.testkit.processes import sandbox_server_pids as sandbox_children

LIMITS = ExtractionLimits()
# One page of 10 M characters: ~7 s of MuPDF work, long after its first message.
SLOW = text_bomb(1_000_000)


def run(data: bytes) -> Generator[protocol.Message, None, None]:
    limits = ExtractionLimits(timeout_s=30.0, max_pages=100, max_chars_per_page=1000)
    return sandbox.run_extraction(data, Job(PDF, None, False, limits))


@pytest.fixture(autouse=True)
def no_servers() -> Iterator[None]:
    """Each test starts and ends without servers, so it can count what it starts."""
    sandbox.shutdown()
    yield
    sandbox.shutdown()
    assert not sandbox_children()


@pytest.fixture
def spawned(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Pids of the servers started during the test, in order."""
    pids: list[int] = []
    spawn = client.spawn

    def counting() -> client.Server:
        server = spawn()
        pids.append(server.proc.pid)
        return server

    monkeypatch.setattr(client, "spawn", counting)
    return pids


def dead(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return True
    return state == "Z"


def wait_dead(pids: set[int], seconds: float) -> set[int]:
    """The pids still alive after waiting up to ``seconds``."""
    deadline = time.monotonic() + seconds
    while (alive := {p for p in pids if not dead(p)}) and time.monotonic() < deadline:
        time.sleep(0.02)
    return alive


def text_of(data: bytes) -> list[str]:
    return [page.text.strip() for page in extract_pages(data, limits=LIMITS).pages]


# ------------------------------------------------------------------------------ reuse


def test_one_server_extracts_documents_one_after_another(spawned: list[int]) -> None:
    for n in range(4):
        assert text_of(make_pdf([f"document {n}", "second page"])) == [
            f"document {n}",
            "second page",
        ]
        assert sandbox_children() == set(spawned)
        assert not extraction_children()  # each document's child ended with it
    assert len(spawned) == 1


def test_a_killed_child_leaves_its_server_serving(spawned: list[int]) -> None:
    assert text_of(make_pdf(["before"])) == ["before"]
    with pytest.raises(Failure, match="within"):
        extract_pages(text_bomb(300_000), limits=ExtractionLimits(timeout_s=0.5))
    with pytest.raises(Failure, match="memory limit"):
        extract_pages(text_bomb(300_000), limits=ExtractionLimits(memory_mb=48, ocr=False))
    assert text_of(make_pdf(["after"])) == ["after"]
    assert len(spawned) == 1
    assert sandbox_children() == set(spawned)
    assert not extraction_children()


def test_a_document_error_keeps_the_server(spawned: list[int]) -> None:
    with pytest.raises(Failure, match="cannot be opened"):
        extract_pages(b"%PDF-1.7\nnot a pdf\n", limits=LIMITS)
    assert text_of(make_pdf(["next"])) == ["next"]
    assert len(spawned) == 1


# ------------------------------------------------------------------------- concurrency


def test_concurrent_extractions_each_get_their_own_server(spawned: list[int]) -> None:
    both_started = threading.Barrier(2, timeout=60)
    results: dict[int, list[str]] = {}
    errors: list[BaseException] = []

    def extract(n: int) -> None:
        try:
            texts = []
            messages = run(make_pdf([f"thread {n}", "p2"]))
            for message in messages:
                if isinstance(message, protocol.Meta):
                    both_started.wait()  # both requests are in flight at once
                elif isinstance(message, protocol.Page):
                    texts.append(message.text.strip())
            results[n] = texts
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=extract, args=(n,)) for n in (1, 2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors
    assert results == {1: ["thread 1", "p2"], 2: ["thread 2", "p2"]}
    assert len(spawned) == 2  # never one server for two requests
    assert sandbox_children() == set(spawned)  # both idle now, for the next two
    assert text_of(make_pdf(["third"])) == ["third"]
    assert len(spawned) == 2


# ---------------------------------------------------------------------------- clean-up


def test_closing_early_leaves_no_process_behind(spawned: list[int]) -> None:
    messages = run(SLOW)
    assert isinstance(next(messages), protocol.Meta)
    child = extraction_children()
    assert len(child) == 1  # busy with the long page
    messages.close()
    # The child is killed with its server (not reusable), not merely left to finish.
    assert not wait_dead(child | set(spawned), seconds=2)
    assert text_of(make_pdf(["fresh"])) == ["fresh"]
    assert len(spawned) == 2


def test_a_dying_server_is_a_transient_failure(spawned: list[int]) -> None:
    messages = run(SLOW)
    assert isinstance(next(messages), protocol.Meta)
    child = extraction_children()
    os.kill(spawned[0], signal.SIGKILL)
    with pytest.raises(Failure) as failure:
        list(messages)
    assert failure.value.kind is FailureKind.SANDBOX and failure.value.transient
    assert "server ended unexpectedly" in str(failure.value.detail)
    assert not wait_dead(child, seconds=2)  # the child died with its server
    assert text_of(make_pdf(["recovered"])) == ["recovered"]


def test_nothing_outlives_a_parent_killed_mid_document() -> None:
    code = (
        "import os, signal, sys\n"
        "from docpipe.processor import sandbox\n"
        "from docpipe.processor.extractors.base import ExtractionLimits, Job\n"
        "job = Job('application/pdf', None, False, ExtractionLimits(timeout_s=30))\n"
        "messages = sandbox.run_extraction(sys.stdin.buffer.read(), job)\n"
        "next(messages)\n"
        "def kids(pid):\n"
        "    return [int(c) for t in os.listdir(f'/proc/{pid}/task')\n"
        "            for c in open(f'/proc/{pid}/task/{t}/children').read().split()]\n"
        "server, = kids(os.getpid())\n"
        "child, = kids(server)\n"
        "print(server, child, flush=True)\n"
        "os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    parent = subprocess.run(
        [sys.executable, "-c", code], input=SLOW, capture_output=True, timeout=120
    )
    assert parent.returncode == -signal.SIGKILL, parent.stderr.decode()
    server, child = map(int, parent.stdout.split())
    assert not wait_dead({server, child}, seconds=3)  # not only when the page is done


def test_a_server_exits_when_its_stdin_ends(spawned: list[int]) -> None:
    server = client.take_server()
    client.wait_ready(server)
    assert server.proc.stdin is not None
    server.proc.stdin.close()  # what the parent's death does too
    assert server.proc.wait(timeout=10) == 0
    client.discard(server)


def test_a_server_that_cannot_start_is_a_transient_failure(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "executable", "/bin/false")
    with pytest.raises(Failure) as failure:
        list(run(make_pdf(["x"])))
    assert failure.value.kind is FailureKind.SANDBOX and failure.value.transient
    assert "failed to start" in str(failure.value.detail)


# ---------------------------------------------------------------- the relay, in isolation


def relay_of(code: str, *, deadline_s: float = 10.0) -> tuple[int, bool, bytes]:
    """Run ``code`` in a child writing to a pipe, relayed as the server relays a child."""
    src, sink = os.pipe()
    out_r, out_w = os.pipe()
    control_r, control_w = os.pipe()  # stays open: the "parent" is alive
    try:
        pid = os.posix_spawn(
            sys.executable,
            [sys.executable, "-c", code],
            dict(os.environ),
            file_actions=[(os.POSIX_SPAWN_DUP2, sink, 1)],
        )
        os.close(sink)
        deadline = time.monotonic() + deadline_s
        status, timed_out, pending = server.relay(pid, src, out_w, deadline, control_r)
        os.close(out_w)
        with os.fdopen(out_r, "rb") as relayed:
            return status, timed_out, relayed.read() + pending
    finally:
        for fd in (src, control_r, control_w):
            os.close(fd)


def test_the_relay_drops_a_partial_last_line() -> None:
    code = 'import os; os.write(1, b\'{"a": 1}\\n{"b": 2}\\n{"c": 3\'); os._exit(7)'
    assert relay_of(code) == (7, False, b'{"a": 1}\n{"b": 2}\n')


def test_the_relay_kills_a_child_at_the_deadline() -> None:
    code = "import os, time; os.write(1, b'line\\n'); time.sleep(60)"
    started = time.monotonic()
    status, timed_out, relayed = relay_of(code, deadline_s=0.5)
    assert time.monotonic() - started < 5
    assert (status, timed_out, relayed) == (-signal.SIGKILL, True, b"line\n")


@pytest.mark.parametrize(
    ("frame", "kind", "reason"),
    [
        ({"timed_out": True, "status": -9, "stderr_tail": ""}, "timeout", "within 2 s"),
        ({"timed_out": False, "status": 3, "stderr_tail": ""}, "memory", "memory limit"),
        (
            {"timed_out": False, "status": 1, "stderr_tail": "code=2: malloc (5 bytes) failed\n"},
            "memory",
            "memory limit",
        ),
        ({"timed_out": False, "status": -11, "stderr_tail": ""}, "crash", "(SIGSEGV)"),
        ({"timed_out": False, "status": 2, "stderr_tail": "Traceback"}, "crash", "exit code 2"),
    ],
)
def test_how_a_child_ended_is_reported(frame: dict[str, object], kind: str, reason: str) -> None:
    failure = client.exit_failure(frame, 2.0)
    assert failure.kind == kind
    assert reason in failure.reason


# ---------------------------------------------------------------------- the boundary


SECRETS = {
    "AWS_ACCESS_KEY_ID": "AKIAEXAMPLEEXAMPLE00",
    "AWS_SECRET_ACCESS_KEY": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
    "AWS_SESSION_TOKEN": "token",
    "DATABASE_URL": "postgresql://docpipe_app:pw@db/docpipe",
    "DATABASE_SECRET_ARN": "arn:aws:secretsmanager:ap-northeast-1:123456789012:secret:db",
    "JWT_SECRET": "a-signing-key-that-must-stay-in-the-worker",
}


def leaked(check: sandbox.SelfCheck) -> list[str]:
    """Variables a document must never see, as the child saw its environment."""
    return [
        name
        for name in check.environment
        if name.startswith(("AWS_", "DATABASE_", "JWT_")) or name in SECRETS
    ]


@pytest.fixture
def worker_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)


def test_the_child_sees_no_credentials_and_its_limits(worker_secrets: None) -> None:
    check = sandbox.self_check(timeout_s=20, memory_mb=300)  # measured inside the child
    assert leaked(check) == []
    assert set(check.environment) <= {
        "PATH", "PYTHONPATH", "LD_LIBRARY_PATH", "LANG", "LC_ALL", "TZ", "HOME", "TMPDIR",
        "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "PYTHONDONTWRITEBYTECODE",
        "MALLOC_ARENA_MAX",
    }  # fmt: skip
    limits = check.limits
    assert limits["cpu_seconds"] == 25  # timeout + 5 s
    assert 300 << 20 < limits["address_space"] < (300 << 20) + (1 << 30)
    assert limits["core_bytes"] == 0
    assert limits["file_bytes"] == confinement.MAX_FILE_BYTES
    assert limits["open_files"] == confinement.MAX_OPEN_FILES
    assert 0 < limits["tasks"] <= confinement.SPARE_TASKS + (0 if check.uid == 0 else 10_000)
    assert check.seccomp == "installed"
    assert check.network_blocked  # socket(2) fails with EACCES inside the child


def test_the_environment_check_catches_an_inherited_environment(
    worker_secrets: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Sabotage: a server started with the worker's environment is caught by the check."""
    monkeypatch.setattr(client, "server_environment", lambda parent: dict(parent))
    check = sandbox.self_check(timeout_s=20)
    assert {"AWS_SECRET_ACCESS_KEY", "DATABASE_URL", "JWT_SECRET"} <= set(leaked(check))


def test_the_network_check_catches_a_process_without_the_filter() -> None:
    """Sabotage: without the seccomp filter a process can open sockets, and the check says so."""
    code = (
        "from docpipe.processor.sandbox import confinement\n"
        "assert not confinement.network_blocked()\n"
        "assert confinement.block_network() is None\n"
        "assert confinement.network_blocked()\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def test_a_document_cannot_open_a_socket_from_its_parser() -> None:
    """Through the real extraction path: a child has the filter before any parser runs."""
    code = (
        "import socket\n"
        "from docpipe.processor.sandbox import confinement\n"
        "confinement.limit_resources(memory_mb=256, timeout_s=5)\n"
        "assert confinement.block_network() is None\n"
        "for family in (socket.AF_INET, socket.AF_INET6, socket.AF_UNIX):\n"
        "    try:\n"
        "        socket.socket(family, socket.SOCK_STREAM)\n"
        "    except PermissionError:\n"
        "        continue\n"
        "    raise SystemExit(f'socket {family} opened')\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
