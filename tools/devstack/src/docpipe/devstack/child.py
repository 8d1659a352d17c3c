"""Exec a command that dies with the local stack, even if the stack itself is SIGKILLed.

``python -m docpipe.devstack.child PARENT_PID CMD...`` asks Linux to send SIGTERM to this
process when its parent dies (``PR_SET_PDEATHSIG``, kept across ``exec``), then replaces
itself with ``CMD``. Done in a launcher rather than a ``preexec_fn`` because ``preexec_fn``
is unsafe in a process that runs threads (the stack runs moto and log pumps in threads).
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys

__all__ = ["main"]

_PR_SET_PDEATHSIG = 1


def main(argv: list[str]) -> None:
    parent_pid, command = int(argv[0]), argv[1:]
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    if os.getppid() != parent_pid:  # the parent died before the request took effect
        sys.exit(1)
    os.execvp(command[0], command)


if __name__ == "__main__":
    main(sys.argv[1:])
