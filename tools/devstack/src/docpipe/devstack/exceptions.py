"""Every exception of :mod:`docpipe.devstack` (the local stack and its CLI)."""

from __future__ import annotations

__all__ = [
    "ApiError",
]


class ApiError(Exception):
    """A service answered with an error the command cannot work around."""
