"""Progress of a long CLI command: a live bar on a terminal, plain lines elsewhere.

On a terminal, rich draws one bar (count, rate, elapsed, time left) on stderr. When
stderr is not a terminal (a CI log, a pipe) a bar cannot be redrawn, so a line with the
same figures is written every ``plain_every_s`` seconds and once at the end.
"""

from __future__ import annotations

import time
from types import TracebackType

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

__all__ = ["ProgressDisplay"]


class ProgressDisplay:
    def __init__(
        self,
        description: str,
        *,
        total: int,
        unit: str,
        console: Console,
        plain_every_s: float = 5.0,
    ) -> None:
        self.description, self.total, self.unit = description, total, unit
        self.console = console
        self.plain_every_s = plain_every_s
        self.done = 0
        self.note = ""
        self.started = time.monotonic()
        self._last_plain = self.started
        self._plain_done = -1
        self._bar: Progress | None = None
        self._task: TaskID | None = None

    def __enter__(self) -> ProgressDisplay:
        if self.console.is_terminal:
            self._bar = Progress(
                TextColumn("[bold]{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[rate]}"),
                TextColumn("{task.fields[note]}"),
                TimeElapsedColumn(),
                TextColumn("left"),
                TimeRemainingColumn(),
                console=self.console,
                transient=False,
            )
            self._bar.start()
            self._task = self._bar.add_task(self.description, total=self.total, rate="", note="")
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._bar is not None:
            self._refresh()
            self._bar.stop()
        elif exc_type is None and self._plain_done != self.done:
            self._plain_line()

    @property
    def rate(self) -> float:
        return self.done / max(1e-9, time.monotonic() - self.started)

    def update(self, *, done: int, note: str = "") -> None:
        self.done, self.note = done, note
        if self._bar is not None:
            self._refresh()
        elif time.monotonic() - self._last_plain >= self.plain_every_s:
            self._plain_line()

    def _refresh(self) -> None:
        assert self._bar is not None and self._task is not None
        rate = f"{self.rate:.1f} {self.unit}/s"
        note = f"· {self.note}" if self.note else ""
        self._bar.update(self._task, completed=self.done, rate=rate, note=note)

    def _plain_line(self) -> None:
        self._last_plain, self._plain_done = time.monotonic(), self.done
        elapsed = self._last_plain - self.started
        note = f" · {self.note}" if self.note else ""
        self.console.print(
            f"{self.description}: {self.done:,}/{self.total:,} {self.unit}"
            f" · {self.rate:.1f} {self.unit}/s{note} · {elapsed:.0f} s",
            highlight=False,
        )
