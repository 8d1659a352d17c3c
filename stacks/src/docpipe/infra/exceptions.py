"""Every exception of :mod:`docpipe.infra` (the Pulumi program and the rollout command)."""

from __future__ import annotations

__all__ = [
    "RolloutError",
    "UnreachableModel",
]


class UnreachableModel(ValueError):
    """The model ID is unknown, or not offered from the region in the way it is written."""


class RolloutError(Exception):
    """The rollout cannot start or continue (bad state, arguments or migration)."""
