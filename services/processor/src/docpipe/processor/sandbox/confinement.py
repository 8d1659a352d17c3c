"""What a process gives up before it touches a document (applied in each child).

- **Resource limits** (``setrlimit``): address space (current size + ``memory_mb``), CPU
  seconds (a backstop to the server's wall-clock kill), no core dumps, files it writes
  (:data:`MAX_FILE_BYTES`), open descriptors (:data:`MAX_OPEN_FILES`) and tasks
  (``RLIMIT_NPROC``: the tasks its user has now plus :data:`SPARE_TASKS`, so a parser may
  start a thread but nothing can fork-bomb; not enforced for root, which Lambda never is).
- **No network**: a seccomp filter makes ``socket(2)`` and ``io_uring_setup(2)`` fail with
  EACCES (after ``PR_SET_NO_NEW_PRIVS``, which unprivileged processes may set). Lambda
  gives no network namespace (no ``CAP_SYS_ADMIN``, no user namespaces), so a filter is
  the only boundary available there; where the kernel refuses it the child carries on and
  :func:`network_blocked` says so (the worker logs the sandbox's self-check once).
- **An empty environment** is given to the server when it is started (see
  :func:`server_environment`), so no child ever sees AWS credentials or database settings.
"""

from __future__ import annotations

import ctypes
import errno
import math
import os
import platform
import socket
import struct
import tempfile
from collections.abc import Mapping

__all__ = [
    "MAX_FILE_BYTES",
    "MAX_OPEN_FILES",
    "SPARE_TASKS",
    "block_network",
    "limit_resources",
    "network_blocked",
    "server_environment",
]

MAX_FILE_BYTES = 64 << 20
MAX_OPEN_FILES = 64
SPARE_TASKS = 16
#: Variables the server may inherit: where Python and its libraries are, locale, time
#: zone. Nothing else (no AWS_*, no DATABASE_*, no secrets of any kind).
_INHERITED = ("PATH", "PYTHONPATH", "LD_LIBRARY_PATH", "LANG", "LC_ALL", "TZ")
#: Set for the server: libraries must not start thread pools a fork would orphan.
_PINNED = {
    "OMP_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "PYTHONDONTWRITEBYTECODE": "1",
    # glibc reserves 64 MB of address space per malloc arena (one per thread, up to 8 per
    # core); under RLIMIT_AS that reservation, not use, is what runs out.
    "MALLOC_ARENA_MAX": "2",
}

# seccomp (linux/seccomp.h, linux/filter.h, linux/audit.h)
_PR_SET_NO_NEW_PRIVS = 38
_PR_SET_SECCOMP = 22
_SECCOMP_MODE_FILTER = 2
_RET_ALLOW = 0x7FFF0000
_RET_EACCES = 0x00050000 | errno.EACCES
_LD_ABS_W = 0x20
_JEQ_K = 0x15
_RET_K = 0x06
# (audit arch, socket, io_uring_setup) per machine.
_SYSCALLS = {
    "x86_64": (0xC000003E, 41, 425),
    "aarch64": (0xC00000B7, 198, 425),
}


def server_environment(parent: Mapping[str, str]) -> dict[str, str]:
    """The whole environment of a sandbox server: a short allow-list, nothing else."""
    env = {name: parent[name] for name in _INHERITED if name in parent}
    env.update(_PINNED)
    env["HOME"] = env["TMPDIR"] = tempfile.gettempdir()
    return env


def _user_tasks() -> int:
    """Tasks (processes and threads) of this process's real user, from /proc."""
    uid, count = os.getuid(), 0
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            status = open(f"/proc/{entry.name}/status").read()  # noqa: SIM115
        except OSError:
            continue
        fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
        if int(fields.get("Uid", "-1").split()[0]) == uid:
            count += int(fields.get("Threads", "1"))
    return count


def limit_resources(*, memory_mb: int, timeout_s: float) -> None:
    import resource

    with open("/proc/self/statm") as statm:
        current = int(statm.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    cap = current + memory_mb * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
    cpu = math.ceil(timeout_s) + 5  # backstop should the server die before killing us
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 5))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    resource.setrlimit(resource.RLIMIT_FSIZE, (MAX_FILE_BYTES, MAX_FILE_BYTES))
    resource.setrlimit(resource.RLIMIT_NOFILE, (MAX_OPEN_FILES, MAX_OPEN_FILES))
    tasks = (_user_tasks() if os.getuid() else 0) + SPARE_TASKS
    resource.setrlimit(resource.RLIMIT_NPROC, (tasks, tasks))


def _filter() -> bytes:
    arch, socket_nr, io_uring_nr = _SYSCALLS[platform.machine()]
    program = [
        (_LD_ABS_W, 0, 0, 4),  # seccomp_data.arch
        (_JEQ_K, 1, 0, arch),
        (_RET_K, 0, 0, _RET_EACCES),  # another ABI (x32, compat): nothing allowed
        (_LD_ABS_W, 0, 0, 0),  # seccomp_data.nr
        (_JEQ_K, 2, 0, socket_nr),
        (_JEQ_K, 1, 0, io_uring_nr),
        (_RET_K, 0, 0, _RET_ALLOW),
        (_RET_K, 0, 0, _RET_EACCES),
    ]
    return b"".join(struct.pack("HBBI", *instruction) for instruction in program)


def block_network() -> str | None:
    """Install the no-socket seccomp filter; None on success, else why it is not in place."""
    if platform.machine() not in _SYSCALLS or not os.uname().sysname == "Linux":
        return f"no seccomp filter for {platform.system()} {platform.machine()}"
    libc = ctypes.CDLL(None, use_errno=True)
    code = _filter()
    buffer = ctypes.create_string_buffer(code, len(code))

    class _Program(ctypes.Structure):
        _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]

    program = _Program(len(code) // 8, ctypes.cast(buffer, ctypes.c_void_p))
    if libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        return f"PR_SET_NO_NEW_PRIVS refused ({os.strerror(ctypes.get_errno())})"
    if libc.prctl(_PR_SET_SECCOMP, _SECCOMP_MODE_FILTER, ctypes.byref(program), 0, 0) != 0:
        return f"seccomp filter refused ({os.strerror(ctypes.get_errno())})"
    return None


def network_blocked() -> bool:
    """Whether this process can open a socket (what the self-check reports)."""
    try:
        socket.socket(socket.AF_INET, socket.SOCK_STREAM).close()
    except PermissionError:
        return True
    return False
