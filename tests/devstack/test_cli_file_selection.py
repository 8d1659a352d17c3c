"""Which files `docpipe upload` sends for files, folders and glob patterns."""

from __future__ import annotations

from pathlib import Path

from docpipe.devstack.file_selection import select_files


def _make(root: Path, *names: str) -> None:
    for name in names:
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(b"x")


def test_folders_recurse_and_skip_hidden_files(tmp_path: Path) -> None:
    _make(tmp_path, "a.pdf", "sub/b.txt", "sub/deeper/c.md", ".git/config", "sub/.DS_Store")
    selection = select_files([str(tmp_path)])
    assert [p.relative_to(tmp_path).as_posix() for p in selection.files] == [
        "a.pdf",
        "sub/b.txt",
        "sub/deeper/c.md",
    ]
    assert selection.unmatched == []


def test_globs_are_expanded_here_and_each_file_is_listed_once(tmp_path: Path) -> None:
    _make(tmp_path, "x/1.pdf", "x/2.txt", "y/z/3.pdf")
    selection = select_files(
        [f"{tmp_path}/**/*.pdf", str(tmp_path / "x" / "1.pdf"), f"{tmp_path}/x/*"]
    )
    assert [p.relative_to(tmp_path).as_posix() for p in selection.files] == [
        "x/1.pdf",
        "x/2.txt",
        "y/z/3.pdf",
    ]


def test_arguments_that_name_nothing_are_reported(tmp_path: Path) -> None:
    _make(tmp_path, "a.pdf")
    selection = select_files([str(tmp_path / "missing.pdf"), f"{tmp_path}/*.docx", str(tmp_path)])
    assert selection.unmatched == [str(tmp_path / "missing.pdf"), f"{tmp_path}/*.docx"]
    assert [p.name for p in selection.files] == ["a.pdf"]
