"""Extraction in forked, disposable, confined children of a long-lived server.

A hostile file can hang a parser, exhaust memory or crash it, and PyMuPDF is not
thread-safe, so no document is ever parsed in the worker. Starting a fresh interpreter
and importing the parsers for every document costs more CPU than extracting a typical
one, so the work is split:

- :mod:`.server` — ``python -m docpipe.processor.sandbox``, started with an environment
  that holds no secret, imports the parsers once and forks one child per request;
- :mod:`.child` — confines itself (:mod:`.confinement`: resource limits, no network),
  runs the content type's extractor (:mod:`docpipe.processor.extractors`) and reports;
- :mod:`.client` — the worker's side: a small pool of servers, one request at a time per
  server, every way a request can end turned into a
  :class:`~docpipe.processor.exceptions.Failure`;
- :mod:`.protocol` — the JSON-line messages between them.
"""

from docpipe.processor.sandbox.client import (
    MAX_IDLE_SERVERS,
    STARTUP_TIMEOUT_S,
    SelfCheck,
    run_extraction,
    self_check,
    shutdown,
)

__all__ = [
    "MAX_IDLE_SERVERS",
    "STARTUP_TIMEOUT_S",
    "SelfCheck",
    "run_extraction",
    "self_check",
    "shutdown",
]
