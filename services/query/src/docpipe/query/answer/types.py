"""The answerer contract."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Protocol

from docpipe.query.hits import Hit

__all__ = ["Answer", "Answerer"]


@dataclass(frozen=True)
class Answer:
    text: str
    cited: list[Hit]
    """The sources the text cites, in order of first citation; each one was retrieved."""
    model: str


class Answerer(Protocol):
    model: str

    async def answer(self, *, question: str, sources: Sequence[Hit]) -> Answer:
        """Answer ``question`` from ``sources`` only (numbered from 1 in this order)."""
        ...

    def stream(self, *, question: str, sources: Sequence[Hit]) -> AsyncIterator[str]:
        """The same answer as text deltas, as they are produced."""
        ...
