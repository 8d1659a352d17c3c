"""How much of a batch the processor runs at once: slots by weight, first come first
served; extractions bounded by the function's memory; settings that cannot hold refused."""

from __future__ import annotations

import asyncio
import json

import pytest

from docpipe.processor import sandbox
from docpipe.processor.concurrency import RecordSlots, extraction_concurrency, record_weight
from docpipe.processor.config import ProcessorSettings
from docpipe.testkit.events import s3_record

MIB = 1024 * 1024


@pytest.fixture(autouse=True)
def _settings_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://localhost/docpipe")
    for name in (
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
        "RECORD_CONCURRENCY",
        "EXTRACTION_CONCURRENCY",
        "DATABASE_POOL_MAX",
        "OCR_ENABLED",
    ):
        monkeypatch.delenv(name, raising=False)


def _body(*sizes: int | None) -> str:
    records = []
    for size in sizes:
        record = s3_record(bucket="b", key="uploads/t/d/original")
        if size is None:
            del record["s3"]["object"]["size"]
        else:
            record["s3"]["object"]["size"] = size
        records.append(record)
    return json.dumps({"Records": records})


def test_small_documents_share_the_slots_and_large_or_unknown_ones_take_them_all() -> None:
    settings = ProcessorSettings(concurrent_document_max_mb=8)
    assert record_weight(_body(8 * MIB), settings) == 1
    assert record_weight(_body(1, 2), settings) == 1
    assert record_weight(_body(8 * MIB + 1), settings) == settings.record_concurrency
    assert record_weight(_body(None), settings) == settings.record_concurrency
    assert record_weight("not json", settings) == 1


async def test_slots_are_granted_in_order_and_a_heavy_holder_runs_alone() -> None:
    slots = RecordSlots(3)
    log: list[str] = []
    running = [0]

    async def record(name: str, weight: int) -> None:
        async with slots.hold(weight):
            running[0] += 1
            log.append(f"{name} starts with {running[0]} running")
            await asyncio.sleep(0.02)
            running[0] -= 1

    await asyncio.gather(
        record("a", 1), record("b", 1), record("big", 3), record("c", 1), record("d", 1)
    )
    assert log == [
        "a starts with 1 running",
        "b starts with 2 running",
        "big starts with 1 running",  # waited for a and b; c and d waited for it
        "c starts with 1 running",
        "d starts with 2 running",
    ]


async def test_a_cancelled_waiter_gives_its_turn_away() -> None:
    slots = RecordSlots(1)
    async with slots.hold(1):
        waiter = asyncio.create_task(slots.hold(1).__aenter__())
        await asyncio.sleep(0.01)
        waiter.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiter
    async with slots.hold(1):  # nothing leaked: the slot is free again
        pass


@pytest.mark.parametrize(
    ("function_mb", "ocr", "expected"),
    [
        (None, "true", sandbox.MAX_IDLE_SERVERS),  # no function limit: the sandbox's servers
        ("3008", "true", 1),  # (3008 - 512) // (1024 + 1024)
        ("3008", "false", 2),  # (3008 - 512) // 1024
        ("10240", "false", sandbox.MAX_IDLE_SERVERS),
        ("1024", "true", 1),  # never less than one
    ],
)
def test_extractions_at_once_fit_the_function_memory(
    monkeypatch: pytest.MonkeyPatch, function_mb: str | None, ocr: str, expected: int
) -> None:
    if function_mb is not None:
        monkeypatch.setenv("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", function_mb)
    monkeypatch.setenv("OCR_ENABLED", ocr)
    assert extraction_concurrency(ProcessorSettings()) == expected


def test_settings_that_cannot_hold_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RECORD_CONCURRENCY", "12")
    with pytest.raises(ValueError, match="DATABASE_POOL_MAX"):
        ProcessorSettings()
    monkeypatch.setenv("DATABASE_POOL_MAX", "12")
    assert ProcessorSettings().record_concurrency == 12

    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "3008")
    monkeypatch.setenv("EXTRACTION_CONCURRENCY", "2")
    with pytest.raises(ValueError, match="more than the function's 3008 MB"):
        ProcessorSettings()  # 2 x (1024 + 1024) + 512 > 3008
    monkeypatch.setenv("OCR_ENABLED", "false")
    assert extraction_concurrency(ProcessorSettings()) == 2
