"""The cost model's arithmetic on small hand-computed cases, and its two guardrails:
every price constant carries a value, unit, date and AWS source; every resource type the
Pulumi program declares is known to the model (priced, used, or free)."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest

from bench._cost_inputs import Assumptions, QueryMeasure, TextProfile
from bench._declared_stack import InterfaceEndpoint, StackFacts, stack_facts, unpriced_types
from bench.cost_model import (
    HOURS_PER_MONTH,
    IngestProfile,
    answer_lines,
    answer_profile,
    answer_seconds,
    awake_hours,
    fixed_lines,
    ingestion_lines,
    price_problems,
    total,
)
from bench.prices import PRICES, Price
from docpipe.testkit.pulumi_program import DIGESTS, Inventory, Resource, dev_config, run_program

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

#: Every price 1 USD: a total is then the plain sum of the quantities.
UNIT_PRICES = {name: dataclasses.replace(p, usd=1.0) for name, p in PRICES.items()}
GIB = 2**30

# One vCPU or more (>= 1,769 MB) everywhere, so no CPU stretch in the hand sums.
STACK = StackFacts(
    region="ap-northeast-1",
    memory_mb={"upload": 2048, "processor": 2048, "query": 2048},
    arm64=True,
    xray_active=True,
    embedding_model_id="cohere.embed-v4:0",
    embedding_dimensions=4,
    answer_model_id="apac.amazon.nova-pro-v1:0",
    min_acu=0.0,
    max_acu=2.0,
    seconds_until_auto_pause=3600,
    interface_endpoints=[InterfaceEndpoint("secretsmanager", 2), InterfaceEndpoint("sqs", 1)],
    secrets=2,
    alarms=3,
    repositories=1,
    queue_pollers=1,
    routes=9,
    detailed_route_metrics=True,
)
QUIET = dataclasses.replace(
    Assumptions(),
    embed_call_s=1.0,
    status_polls_per_document=1,
    http_cold_start_share=0.0,
    processor_cold_start_share=0.0,
    log_bytes_per_request=0,
    log_bytes_per_document=0,
    aurora_bytes_per_chunk=4096,
    bytes_per_embedding_float=0.0,
    idle_sqs_pollers=1,
    sqs_long_poll_s=3600,
    ecr_images_per_repository=2,
    ecr_image_gb=0.5,
)
COLD = {"upload": 0.3, "processor": 0.5, "query": 0.3}


def test_ingestion_per_1000_pages_hand_case() -> None:
    profile = IngestProfile(
        label="hand",
        documents=2,
        chunks=10,
        bytes=GIB,
        work_s=3.0,
        upload_s_per_request=0.5,
        write_s=5.0,
        embed_calls=2,
        embed_tokens=4000,
        embed_text_bytes=0,
    )
    lines = {
        line.item: line for line in ingestion_lines(p=profile, stack=STACK, a=QUIET, cold=COLD)
    }
    # processor: (3 s work + 2 calls x 1 s + 5 s writes) at 2 GB
    assert lines["Lambda compute: processor"].quantity == pytest.approx(20.0)
    # upload: 2 documents x (upload + 1 poll) x 0.5 s at 2 GB
    assert lines["Lambda compute: upload"].quantity == pytest.approx(4.0)
    assert lines["Lambda requests"].quantity == 6  # 2 processor + 4 HTTP
    assert lines["Aurora compute: write time share"].quantity == pytest.approx(5 * 2 / 3600)
    assert lines["Aurora I/O (writes)"].quantity == 10  # one 4 KB write per 4 KB chunk
    hand = (
        20
        + 4
        + 6
        + 4  # Lambda GB-s, Lambda requests, API requests
        + 4.0  # 4,000 embedding tokens, priced per 1,000
        + 2
        + 2
        + 1.0  # S3 PUT, GET, 1 GiB-month
        + 6  # SQS: send, receive, delete per document
        + 10 / 3600
        + 10 * 4096 / GIB
        + 10  # Aurora ACU-h, GB-month, I/O
        + 0
        + 0
        + 6
        + 0  # logs, endpoint GB, X-Ray traces, secret reads
    )
    assert total(list(lines.values()), UNIT_PRICES) == pytest.approx(hand)
    # With the real constants, one line: 4,000 tokens of Cohere Embed v4.
    assert lines["Bedrock embeddings (Cohere Embed v4)"].usd() == pytest.approx(4 * 0.00012)


def test_answer_hand_case() -> None:
    text = TextProfile(
        language="hand",
        source="hand",
        chars_per_page=1000,
        chunks_per_page=1,
        chunk_chars=1000,
        utf8_bytes_per_char=1.0,
        question_chars=10,
        prompt_chars=1000,
        chars_per_token=2.0,
    )
    profile = answer_profile(text=text, answer_chars=200)
    assert (profile.question_tokens, profile.prompt_tokens, profile.output_tokens) == (5, 500, 100)
    a = dataclasses.replace(
        QUIET, query_embed_call_s=0.1, answer_first_token_s=0.4, answer_tokens_per_s=50.0
    )
    q = QueryMeasure(chunks=10_000, server_ms=30.0, sql_ms=10.0)
    # 20 ms own work + 10 ms SQL + 0.1 s embedding + 0.4 s first token + 100 tokens / 50 per s
    assert answer_seconds(p=profile, q=q, stack=STACK, a=a, cold=0.3) == pytest.approx(2.53)
    lines = {line.item: line for line in answer_lines(p=profile, q=q, stack=STACK, a=a, cold=0.3)}
    assert lines["Nova Pro input tokens"].usd() == pytest.approx(500 * 0.0008)  # per 1,000
    assert lines["Nova Pro output tokens"].usd() == pytest.approx(100 * 0.0032)
    assert lines["Lambda compute: query"].quantity == pytest.approx(1000 * 2.53 * 2)


def test_fixed_monthly_hand_case() -> None:
    lines = {line.item: line for line in fixed_lines(stack=STACK, a=QUIET)}
    endpoints = (2 + 1) * HOURS_PER_MONTH * 0.014
    assert lines["VPC interface endpoint: secretsmanager (2 AZ)"].usd() == pytest.approx(
        2 * HOURS_PER_MONTH * 0.014
    )
    assert lines["Aurora compute at idle (min 0 ACU)"].usd() == 0  # paused
    # endpoints + 2 secrets + 3 alarms + 730 idle polls + 1 repository x 2 images x 0.5 GB
    hand = endpoints + 2 * 0.40 + 3 * 0.10 + HOURS_PER_MONTH * 0.0000004 + 1 * 0.10
    assert total(list(lines.values())) == pytest.approx(hand)
    always_on = dataclasses.replace(STACK, min_acu=0.5)
    aurora = next(line for line in fixed_lines(stack=always_on, a=QUIET) if "Aurora" in line.item)
    assert aurora.usd() == pytest.approx(0.5 * HOURS_PER_MONTH * 0.15)


def test_awake_hours_follow_the_pause_setting() -> None:
    a = Assumptions()
    assert awake_hours(STACK, a) == a.workdays_per_month * (a.office_hours_per_day + 1)
    assert awake_hours(dataclasses.replace(STACK, min_acu=0.5), a) == HOURS_PER_MONTH


def test_every_price_carries_value_unit_date_and_source() -> None:
    assert price_problems(PRICES) == []
    assert all(
        p.is_tokyo or "closest" in p.region or "no region" in p.region for p in PRICES.values()
    )


@pytest.mark.parametrize(
    "broken",
    [
        {"usd": 0.0},
        {"unit": " "},
        {"source": "https://example.com/pricing"},
        {"basis": ""},
        {"read_on": dt.date(2020, 1, 1)},
        {"region": ""},
    ],
)
def test_price_check_catches_an_incomplete_price(broken: dict[str, object]) -> None:
    good = PRICES["interface_endpoint_az_hour"]
    bad = dataclasses.replace(good, **broken)  # type: ignore[arg-type]
    assert price_problems({"bad": bad})
    assert isinstance(good, Price)


def test_every_declared_resource_type_is_known_to_the_model() -> None:
    inventory = run_program(dev_config(**DIGESTS))
    assert unpriced_types(inventory) == []
    facts = stack_facts(inventory)
    services = dev_config()["docpipe:services"]
    assert facts.memory_mb == {name: services[name]["memoryMb"] for name in facts.memory_mb}
    assert facts.arm64 and facts.secrets >= 2 and facts.interface_endpoints


def _resource(type_: str, name: str) -> Resource:
    urn = f"urn:pulumi:dev::docpipe::{type_}::{name}"
    return Resource(urn=urn, type=type_, name=name, inputs={}, outputs={}, parent="", custom=True)


def test_an_unknown_resource_type_is_reported() -> None:
    inventory = Inventory(
        region="ap-northeast-1",
        resources=[
            _resource("aws:sqs/queue:Queue", "q"),
            _resource("aws:newservice/thing:Thing", "t"),
        ],
    )
    assert unpriced_types(inventory) == ["aws:newservice/thing:Thing"]
