"""How a service knows the local stack started it, the only place ``AUTH_MODE=none`` runs.

An environment variable alone would not do: it is copied along with the rest of a
developer's environment into a container or a deployment script by accident, and every
caller would then be tenant ``default``. So the local stack (``docpipe up``) writes a
marker file, readable by its user only, holding its own process id, and starts the
services with ``LOCAL_STACK_MARKER`` naming it. A service accepts ``AUTH_MODE=none`` only
when that file exists, belongs to the user it runs as, is not writable by others, and
names the process that started it (its parent), or itself (the tests, which serve the
apps in their own process). A container, another machine, or a process started by
anything else fails one of these, and refuses to start with a message saying why.
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

__all__ = ["started_by_local_stack", "write_marker"]


def write_marker(path: Path) -> Path:
    """Mark this process as the local stack that starts the services (mode 0600)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        json.dump({"pid": os.getpid(), "what": "docpipe local stack"}, out)
    os.replace(tmp, path)
    return path


def started_by_local_stack(marker: str | None) -> bool:
    """True when ``marker`` is the local stack's marker and names this process or its parent."""
    if not marker:
        return False
    path = Path(marker)
    try:
        info = path.lstat()
        if not stat.S_ISREG(info.st_mode) or info.st_uid != os.getuid():
            return False
        if info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
            return False
        pid = int(json.loads(path.read_text("utf-8"))["pid"])
    except (OSError, ValueError, KeyError, TypeError):
        return False
    return pid in (os.getpid(), os.getppid())
