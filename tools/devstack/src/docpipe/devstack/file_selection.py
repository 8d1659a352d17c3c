"""Which files ``docpipe upload`` sends: files, folders (recursively) and glob patterns.

A folder contributes every regular file below it, except hidden ones (a name starting
with ``.``, or inside such a folder: ``.git``, ``.DS_Store``). A pattern is expanded by
the CLI itself (``**`` included), so it also works quoted, where the shell would not
expand it. Each file is listed once, in path order.
"""

from __future__ import annotations

import glob
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["Selection", "select_files"]

_GLOB_CHARS = frozenset("*?[")


@dataclass
class Selection:
    files: list[Path] = field(default_factory=list)
    #: Arguments that named nothing: a missing path, or a pattern without a match.
    unmatched: list[str] = field(default_factory=list)


def _visible_files(folder: Path) -> Iterator[Path]:
    for path in folder.rglob("*"):
        relative = path.relative_to(folder)
        if any(part.startswith(".") for part in relative.parts):
            continue
        if path.is_file():
            yield path


def _expand(argument: str) -> Iterable[Path]:
    path = Path(argument).expanduser()
    if path.is_file():
        return [path]
    if path.is_dir():
        return _visible_files(path)
    if _GLOB_CHARS & set(argument):
        matches = [Path(m) for m in glob.glob(str(path), recursive=True)]
        return [f for m in matches for f in ([m] if m.is_file() else _visible_files(m))]
    return []


def select_files(arguments: Sequence[str]) -> Selection:
    """The files named by ``arguments``, deduplicated, sorted by path."""
    selection = Selection()
    seen: dict[Path, Path] = {}
    for argument in arguments:
        found = list(_expand(argument))
        if not found:
            selection.unmatched.append(argument)
        for path in found:
            seen.setdefault(path.resolve(), path)
    selection.files = sorted(seen.values(), key=lambda p: str(p))
    return selection
