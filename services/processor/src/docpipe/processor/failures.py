"""The one failure type of the processor: what went wrong, whether to retry, what to say.

A :class:`Failure` is raised where a problem is found (inside the extraction child, in
the sandbox client, in the pipeline) and travels unchanged to the document's status:
``transient`` failures give the claim back and the message returns (until the last
attempt, which ends ``failed`` with :attr:`FailureKind.EXHAUSTED`); the others end the
document ``failed`` at once. ``reason`` is what the user reads in ``Document.error`` and
never carries internals (ARNs, account ids, SQL, stack traces): those go to ``detail``,
which only the log sees.
"""

from __future__ import annotations

import enum

__all__ = ["Failure", "FailureKind"]


class FailureKind(enum.StrEnum):
    # The document's own problems: permanent.
    UNSUPPORTED = "unsupported"
    ENCRYPTED = "encrypted"
    CORRUPT = "corrupt"
    TOO_LARGE = "too_large"
    TOO_MANY_PAGES = "too_many_pages"
    TOO_MUCH_TEXT = "too_much_text"
    NO_TEXT = "no_text"
    TIMEOUT = "timeout"
    MEMORY = "memory"
    CRASH = "crash"
    MISSING = "missing"
    DUPLICATE = "duplicate"
    # The environment's problems: transient.
    SANDBOX = "sandbox"
    STORAGE = "storage"
    EMBEDDING = "embedding"
    DATABASE = "database"
    INTERNAL = "internal"
    # Transient failures that used up every attempt (a DLQ redrive may try again).
    EXHAUSTED = "exhausted"


_TRANSIENT = frozenset(
    {
        FailureKind.SANDBOX,
        FailureKind.STORAGE,
        FailureKind.EMBEDDING,
        FailureKind.DATABASE,
        FailureKind.INTERNAL,
    }
)


class Failure(Exception):
    """A document could not be processed (this time, or ever: see :attr:`transient`)."""

    def __init__(self, kind: FailureKind, reason: str, *, detail: str | None = None) -> None:
        super().__init__(reason)
        self.kind = kind
        self.reason = reason
        self.detail = detail

    @property
    def transient(self) -> bool:
        return self.kind in _TRANSIENT

    def __repr__(self) -> str:
        return f"Failure({self.kind.value!r}, {self.reason!r})"
