"""moto's SQS at a cost per message that does not grow with the queue's depth, and its
request routing without a directory listing per request.

Profiled under a bulk upload (``docpipe up``, py-spy; docs/benchmarks.md §7), moto 5.2
spent most of the stack's CPU in SQS bookkeeping that scans every message of the queue:

- ``SendMessage`` (every S3 notification) reads ``Queue.attributes`` for one flag, and
  that property counts visible, delayed and in-flight messages: three scans;
- ``ReceiveMessage`` checks each message it returns against the retention period
  through ``get_queue_attributes``, which builds ``Queue.attributes`` three times: nine
  scans per message received, besides the one that finds the visible messages;
- each scan asks every message for the time, twice, through ``unix_time_millis()``,
  which builds two naive datetimes (``utcnow()``, ``utcfromtimestamp(0)``) per call;
- ``DeleteMessage`` scans the queue twice for the message that had the receipt handle,
  building a list of every message's handles on the way;
- routing, for every request of any service and under a lock shared by all of them,
  lists moto's package folder (``isdir`` on ~150 entries) and tries each service's URL
  patterns in turn: a third of the server's CPU during an upload of small files.

With 1,000 messages queued a ``ReceiveMessage`` of 10 took 2.1 s; a 5,000-document
upload made the local stack quadratic. :func:`apply` replaces three pieces with
equivalents (same values, same semantics; ``tests/devstack/test_moto_speedups.py`` runs the
same operations on both and compares), so that sending costs no scan, receiving one
(to find visible messages) and deleting none:

1. the clock of ``moto.sqs.models``: ``time.time()`` is the value ``unix_time()``
   computes when called without a datetime;
2. ``Queue.attributes``: a read-only mapping whose three message counts are counted
   only when read (``GetQueueAttributes`` still reports them exactly; sending and the
   retention check read other attributes only);
3. ``DeleteMessage``: looks for the handle among the messages in flight first (a
   received message is one of them until it is deleted or visible again) and drops
   that message from the queue's list by identity; any other case goes to moto's code;
4. routing: the backend found for a host name is remembered (it depends only on the
   host and on moto's fixed tables).

Applied by :func:`docpipe.devstack.embedded.start_moto` (the local stack, the tests and
the benchmarks), before the server handles a request. If a moto upgrade renames what
is replaced, nothing is patched and a warning says so (the stack is slower, not wrong);
``tests/devstack/test_moto_speedups.py`` fails in that case.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator, Mapping
from typing import Any

__all__ = ["ORIGINALS", "apply", "applied"]

_log = logging.getLogger("docpipe.devstack")

#: Attribute name -> the Queue property that counts it (a scan of every message).
_COUNTS = {
    "ApproximateNumberOfMessages": "approximate_number_of_messages",
    "ApproximateNumberOfMessagesDelayed": "approximate_number_of_messages_delayed",
    "ApproximateNumberOfMessagesNotVisible": "approximate_number_of_messages_not_visible",
}
_DEFERRED = object()
_state: dict[str, bool] = {"applied": False}
#: What :func:`apply` replaced, by ``(owner, name)`` (the tests put them back to show that
#: their cost checks catch moto's original behaviour).
ORIGINALS: dict[tuple[Any, str], Any] = {}


class _WithoutCounts:
    """A queue seen by moto's own ``attributes`` code, with the counts left for later."""

    __slots__ = ("_queue",)

    def __init__(self, queue: Any) -> None:
        self._queue = queue

    def __getattr__(self, name: str) -> Any:
        if name in _COUNT_PROPERTIES:
            return _DEFERRED
        return getattr(self._queue, name)


_COUNT_PROPERTIES = frozenset(_COUNTS.values())


class QueueAttributes(Mapping[str, Any]):
    """``Queue.attributes`` as moto builds it, each message count computed when read."""

    __slots__ = ("_queue", "_values")

    def __init__(self, queue: Any, values: dict[str, Any]) -> None:
        self._queue = queue
        self._values = values

    def __getitem__(self, name: str) -> Any:
        value = self._values[name]
        if value is _DEFERRED:
            value = self._values[name] = getattr(self._queue, _COUNTS[name])
        return value

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)


def _unix_time(original: Any) -> Any:
    def unix_time(dt: Any = None) -> float:
        return time.time() if dt is None else float(original(dt))

    return unix_time


def _unix_time_millis(original: Any) -> Any:
    def unix_time_millis(dt: Any = None) -> float:
        return time.time() * 1000.0 if dt is None else float(original(dt))

    return unix_time_millis


def _remembered_routes(original: Any) -> Any:
    def get_backend_for_host(dispatcher: Any, host: str | None) -> Any:
        routes = dispatcher.__dict__.setdefault("_docpipe_routes", {})
        if host not in routes:
            routes[host] = original(dispatcher, host)
        return routes[host]

    return get_backend_for_host


def apply() -> bool:
    """Patch moto's SQS models and routing once; False (with a warning) if moto changed."""
    if _state["applied"]:
        return True
    try:
        from moto.moto_server.werkzeug_app import DomainDispatcherApplication
        from moto.sqs import models
    except ImportError:  # moto[server] is a dependency of this package: unexpected
        return False
    queue_cls = models.Queue
    original_attributes = queue_cls.__dict__.get("attributes")
    expected = (
        callable(getattr(models, "unix_time", None)),
        callable(getattr(models, "unix_time_millis", None)),
        isinstance(original_attributes, property),
        all(isinstance(queue_cls.__dict__.get(p), property) for p in _COUNT_PROPERTIES),
        callable(queue_cls.__dict__.get("delete_message")),
        callable(DomainDispatcherApplication.__dict__.get("get_backend_for_host")),
    )
    if not all(expected):
        _log.warning("moto's SQS internals changed: running without the speed-ups")
        return False
    assert isinstance(original_attributes, property) and original_attributes.fget is not None
    build = original_attributes.fget

    def attributes(queue: Any) -> QueueAttributes:
        return QueueAttributes(queue, build(_WithoutCounts(queue)))

    original_delete = queue_cls.delete_message

    def delete_message(queue: Any, receipt_handle: str) -> None:
        if receipt_handle in queue.deleted_messages:
            return
        in_flight = [m for m in queue.pending_messages if m.had_receipt_handle(receipt_handle)]
        if len(in_flight) != 1:
            original_delete(queue, receipt_handle)
            return
        target = in_flight[0]
        queue.pending_messages.discard(target)
        queue.deleted_messages.update(target.all_receipt_handles)
        queue._messages = [m for m in queue._messages if m is not target]

    for owner, name in (
        (models, "unix_time"),
        (models, "unix_time_millis"),
        (queue_cls, "attributes"),
        (queue_cls, "delete_message"),
        (DomainDispatcherApplication, "get_backend_for_host"),
    ):
        ORIGINALS[owner, name] = owner.__dict__[name]
    models.unix_time = _unix_time(models.unix_time)  # type: ignore[attr-defined]
    models.unix_time_millis = _unix_time_millis(models.unix_time_millis)  # type: ignore[attr-defined]
    queue_cls.attributes = property(attributes)  # type: ignore[assignment,method-assign]
    queue_cls.delete_message = delete_message  # type: ignore[assignment,method-assign]
    DomainDispatcherApplication.get_backend_for_host = _remembered_routes(  # type: ignore[method-assign]
        ORIGINALS[DomainDispatcherApplication, "get_backend_for_host"]
    )
    _state["applied"] = True
    return True


def applied() -> bool:
    return _state["applied"]
