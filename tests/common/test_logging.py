"""configure_logging: JSON lines on the stdout of the moment a record is emitted."""

from __future__ import annotations

import io
import json
import logging
import sys
from collections.abc import Iterator

import pytest

from docpipe.common.logging import JsonFormatter, bind, configure_logging


@pytest.fixture
def root_handlers() -> Iterator[None]:
    """configure_logging replaces the root logger's handlers: put the test runner's back."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def test_records_follow_stdout_after_it_is_swapped(
    root_handlers: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Configured while one stdout is in place, then that stream is closed and another takes
    its place (a test runner's capture ending, a redirect): records go to the new stream,
    never into the closed one ("I/O operation on closed file")."""
    first = io.StringIO()
    monkeypatch.setattr(sys, "stdout", first)
    configure_logging("INFO")
    logging.getLogger("docpipe.test").info("before", extra={"document_id": "d1"})
    first.close()

    second = io.StringIO()
    monkeypatch.setattr(sys, "stdout", second)
    with bind(trace_id="t-1"):
        logging.getLogger("docpipe.test").warning("after")

    (line,) = second.getvalue().splitlines()
    record = json.loads(line)
    assert (record["level"], record["message"], record["trace_id"]) == ("WARNING", "after", "t-1")


def test_configure_logging_is_idempotent(root_handlers: None) -> None:
    configure_logging("INFO")
    configure_logging("DEBUG")
    root = logging.getLogger()
    assert sum(isinstance(h.formatter, JsonFormatter) for h in root.handlers) == 1
    assert root.level == logging.DEBUG
