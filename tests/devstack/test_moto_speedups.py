"""moto's SQS with the local stack's speed-ups: the same behaviour, a cost per message that
does not grow with the queue's depth (docpipe.devstack.moto_speedups).

Behaviour is checked on moto's backend objects directly (what the HTTP layer calls);
the reliability suite drives the same code over HTTP (receive counts, DLQ redrive).
The cost checks count how often messages are examined (asked whether they are visible,
or whether they had a receipt handle: what a scan of the queue asks every message); they
are shown to catch moto's original code.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from moto.sqs import models

from docpipe.devstack import moto_speedups

REGION = "ap-northeast-1"


@pytest.fixture(autouse=True)
def patched() -> None:
    assert moto_speedups.apply(), "moto's SQS internals changed: update moto_speedups"


@pytest.fixture
def backend() -> Any:
    account = f"{uuid.uuid4().int % 10**12:012d}"  # a fresh account: nothing shared
    return models.sqs_backends[account][REGION]


def _queue(backend: Any, **attributes: str) -> str:
    name = f"q-{uuid.uuid4().hex[:8]}"
    backend.create_queue(name, **attributes)
    return name


def _receive(backend: Any, name: str, count: int = 10, visibility: int = 30) -> list[Any]:
    return list(backend.receive_message(name, count, 0, visibility))


def _counts(backend: Any, name: str) -> dict[str, int]:
    attrs = backend.get_queue_attributes(name, ["All"])
    return {k: int(v) for k, v in attrs.items() if k.startswith("ApproximateNumberOfMessages")}


def test_the_patches_are_in_place() -> None:
    assert moto_speedups.applied()
    assert isinstance(models.Queue.__dict__["attributes"], property)
    assert (
        models.Queue.__dict__["attributes"]
        is not moto_speedups.ORIGINALS[models.Queue, "attributes"]
    )


def _scenario(backend: Any) -> list[Any]:
    """Sends, receives (visibility, receive counts, redrive), deletes; what moto reported."""
    seen: list[Any] = []
    dlq = _queue(backend)
    redrive = json.dumps(
        {"deadLetterTargetArn": backend.get_queue(dlq).queue_arn, "maxReceiveCount": "2"}
    )
    name = _queue(backend, VisibilityTimeout="30", RedrivePolicy=redrive)
    for i in range(5):
        backend.send_message(name, f"m{i}")
    backend.send_message(name, "later", delay_seconds=60)
    seen.append(_counts(backend, name))
    got = _receive(backend, name, count=3)
    seen.append([(m.body, m.approximate_receive_count) for m in got])
    seen.append(_counts(backend, name))
    backend.delete_message(name, got[0].receipt_handle)
    backend.delete_message(name, got[0].receipt_handle)  # again: accepted
    try:
        backend.delete_message(name, "not-a-handle")
    except models.ReceiptHandleIsInvalid:
        seen.append("invalid handle refused")
    old_handle = got[1].receipt_handle
    for message in got[1:]:  # visible again at once, as a failed batch item is
        backend.change_message_visibility(name, message.receipt_handle, 0)
    again = _receive(backend, name, count=10)
    seen.append(sorted((m.body, m.approximate_receive_count) for m in again))
    backend.delete_message(name, old_handle)  # an earlier handle still deletes the message
    seen.append(_counts(backend, name))
    for message in again:
        if message.body == "m2":
            backend.change_message_visibility(name, message.receipt_handle, 0)
    seen.append(sorted(m.body for m in _receive(backend, name, count=10)))  # m2 redriven
    seen.append([m.body for m in _receive(backend, dlq)])
    attrs = backend.get_queue_attributes(name, ["All"])
    seen.append(
        {
            k: v
            for k, v in attrs.items()
            if k not in ("CreatedTimestamp", "QueueArn", "LastModifiedTimestamp", "RedrivePolicy")
        }
    )
    seen.append(backend.get_queue_attributes(name, ["MessageRetentionPeriod", "DelaySeconds"]))
    return seen


def test_operations_report_what_moto_reports_unpatched(
    backend: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    patched = _scenario(backend)
    for (owner, name), original in moto_speedups.ORIGINALS.items():
        monkeypatch.setattr(owner, name, original)
    assert _scenario(backend) == patched
    assert patched[0] == {
        "ApproximateNumberOfMessages": 5,
        "ApproximateNumberOfMessagesDelayed": 1,
        "ApproximateNumberOfMessagesNotVisible": 0,
    }
    assert patched[1] == [("m0", 1), ("m1", 1), ("m2", 1)]
    assert "invalid handle refused" in patched


def test_requests_are_routed_to_the_same_backends(monkeypatch: pytest.MonkeyPatch) -> None:
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication

    hosts = [
        None,
        "moto_api",
        "s3",
        "sqs",
        "s3.ap-northeast-1.amazonaws.com",
        "sqs.ap-northeast-1.amazonaws.com",
        "secretsmanager.ap-northeast-1.amazonaws.com",
        "unknown.example.com",
    ]
    patched = DomainDispatcherApplication(create_app=lambda service: None)  # type: ignore[arg-type,return-value]
    routes = [patched.get_backend_for_host(h) for h in hosts + hosts]  # the second time: remembered
    original = moto_speedups.ORIGINALS[DomainDispatcherApplication, "get_backend_for_host"]
    monkeypatch.setattr(DomainDispatcherApplication, "get_backend_for_host", original)
    plain = DomainDispatcherApplication(create_app=lambda service: None)  # type: ignore[arg-type,return-value]
    assert routes == [plain.get_backend_for_host(h) for h in hosts + hosts]
    assert routes[3:6] == ["sqs", "s3", "sqs"]


def test_expired_messages_are_not_delivered(backend: Any) -> None:
    name = _queue(backend, MessageRetentionPeriod="60")
    message = backend.send_message(name, "old")
    message.sent_timestamp -= 61_000  # sent 61 s ago: past the retention period
    assert backend.is_message_valid_based_on_retention_period(name, message) is False
    fresh = backend.send_message(name, "new")
    assert backend.is_message_valid_based_on_retention_period(name, fresh) is True


# --------------------------------------------------------------------------- costs


@pytest.fixture
def visibility_checks(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[int]]:
    """Counts every time a message is examined (``visible`` read, or handle compared)."""
    calls = [0]
    visible = models.Message.__dict__["visible"]
    had_handle = models.Message.__dict__["had_receipt_handle"]

    def counted_visible(message: Any) -> bool:
        calls[0] += 1
        return bool(visible.fget(message))

    def counted_handle(message: Any, receipt_handle: str) -> bool:
        calls[0] += 1
        return bool(had_handle(message, receipt_handle))

    monkeypatch.setattr(models.Message, "visible", property(counted_visible))
    monkeypatch.setattr(models.Message, "had_receipt_handle", counted_handle)
    yield calls


def _reads_per_operation(backend: Any, depth: int, calls: list[int]) -> dict[str, int]:
    name = _queue(backend, VisibilityTimeout="30")
    for i in range(depth):
        backend.send_message(name, f"m{i}")
    costs = {}
    calls[0] = 0
    backend.send_message(name, "one more")
    costs["send"] = calls[0]
    calls[0] = 0
    received = _receive(backend, name, count=10)
    costs["receive 10"] = calls[0]
    calls[0] = 0
    for message in received:
        backend.delete_message(name, message.receipt_handle)
    costs["delete 10"] = calls[0]
    return costs


def _grows_with_depth(backend: Any, calls: list[int]) -> list[str]:
    """Operations whose cost grew past one scan of the queue between depth 100 and 1,000."""
    small = _reads_per_operation(backend, 100, calls)
    large = _reads_per_operation(backend, 1000, calls)
    # Finding visible messages needs one scan at most (receive); deleting looks among the
    # messages in flight only (10 here). More is a regression.
    allowed = {"send": 0, "receive 10": 1_000 + 20, "delete 10": 10 * 10}
    return [op for op in large if large[op] > allowed[op] or large[op] > 10 * small[op] + 20]


def test_a_message_costs_the_same_however_deep_the_queue(
    backend: Any, visibility_checks: list[int]
) -> None:
    assert _grows_with_depth(backend, visibility_checks) == []


@pytest.mark.parametrize(
    ("owner", "name", "operation"),
    [
        (models.Queue, "attributes", "send"),
        (models.Queue, "attributes", "receive 10"),  # the retention check reads them
        (models.Queue, "delete_message", "delete 10"),
    ],
)
def test_the_cost_check_catches_moto_original_code(
    backend: Any,
    visibility_checks: list[int],
    monkeypatch: pytest.MonkeyPatch,
    owner: Any,
    name: str,
    operation: str,
) -> None:
    monkeypatch.setattr(owner, name, moto_speedups.ORIGINALS[owner, name])
    assert operation in _grows_with_depth(backend, visibility_checks)
