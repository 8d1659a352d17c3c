"""Every exception of :mod:`docpipe.query`; routes turn them into problem+json (``str()`` is
fit for the client).
"""

from __future__ import annotations

__all__ = [
    "ConversationNotFound",
    "FilterError",
    "InvalidCursor",
]


class ConversationNotFound(LookupError):
    """No such conversation for this caller (HTTP 404; another user's looks the same)."""


class InvalidCursor(ValueError):
    """A cursor this service did not issue (HTTP 400)."""


class FilterError(ValueError):
    """An invalid filter; ``field`` names it (HTTP 422)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"filters.{field}: {message}")
        self.field = field
