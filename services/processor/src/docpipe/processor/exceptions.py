"""Every exception of the processor; first its one failure type: what went wrong, whether
to retry, what to say.

A :class:`Failure` is raised where a problem is found (inside the extraction child, in
the sandbox client, in the pipeline) and travels unchanged to the document's status:
``transient`` failures give the claim back and the message returns (until the last
attempt, which ends ``failed`` with :attr:`FailureKind.EXHAUSTED`); the others end the
document ``failed`` at once. ``reason`` is what the user reads in ``Document.error`` and
never carries internals (ARNs, account ids, SQL, stack traces): those go to ``detail``,
which only the log sees.

The others are control flow: :class:`RetryLater` (the handler reports the message as a
batch item failure), :class:`MalformedMessage` (a message that can never be processed),
:class:`MigrationMismatch` (the migrations function refuses a deploy), :class:`ParentGone`
(the sandbox server's parent went away).
"""

from __future__ import annotations

import enum
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from docpipe.processor.pipeline import Report


__all__ = [
    "Failure",
    "FailureKind",
    "MalformedMessage",
    "MigrationMismatch",
    "ParentGone",
    "RetryLater",
]


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


class MalformedMessage(ValueError):
    """A message that can never be processed (not JSON, not an S3 notification)."""


class MigrationMismatch(RuntimeError):
    """The deploy expects a schema that this image does not carry; nothing was applied."""


class RetryLater(Exception):
    """The message should come back later (busy document, or a transient failure).

    ``report`` is the attempt's summary when one was started: on the last attempt the
    document is already ``failed`` although the message still goes back (to the DLQ).
    """

    def __init__(self, reason: str, *, report: Report | None = None) -> None:
        super().__init__(reason)
        self.report = report


class ParentGone(Exception):
    """The server's stdin ended (or saw unexpected input) during a request."""
