"""What docpipe costs: $ per 1,000 pages ingested, $ per 1,000 answers, the fixed monthly
cost of the deployed stack at idle, and a month of the original HR chatbot's workload
next to the ~$79/month that system cost.

    uv run python -m bench.cost_model        (make bench-cost-model)

Reads the committed benchmark results (``bench/results/*.json``), runs the Pulumi program
under mocks to see what it declares (:mod:`docpipe.testkit.pulumi_program`), runs docpipe's own
chunker and prompt builder on sample text (:mod:`bench._cost_inputs`), prices it all with
the dated constants of :mod:`bench.prices`, prints the tables with their assumptions and
conditions, and writes ``bench/results/cost_model.json``.

How CPU time on this machine (x86_64, 2 vCPUs) becomes Lambda time (arm64): stage wall
times measured here count 1:1 as Lambda seconds when the function has at least one vCPU
(1,769 MB and up, https://docs.aws.amazon.com/lambda/latest/dg/configuration-memory.html);
below that, CPU-bound work is stretched by 1,769 / memory MB. Graviton is not assumed to
be faster or slower than this host. Time spent waiting (Bedrock, Aurora) is billed as it
passes. It is an estimate; a real account's REPORT lines replace it.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any

from bench._conditions import conditions, print_conditions, print_table, write_results
from bench._cost_inputs import (
    Assumptions,
    IngestRun,
    QueryMeasure,
    TextProfile,
    cold_start_s,
    ingestion_runs,
    input_conditions,
    query_measure,
    text_profiles,
    write_ms_per_chunk,
)
from bench._declared_stack import StackFacts, stack_facts, unpriced_types
from bench.prices import PRICES, Price
from docpipe.testkit.pulumi_program import DIGESTS, dev_config, run_program

__all__ = [
    "Amount",
    "AnswerProfile",
    "IngestProfile",
    "Line",
    "Workload",
    "answer_lines",
    "answer_profile",
    "fixed_lines",
    "ingest_profile",
    "ingestion_lines",
    "main",
    "monthly_lines",
    "price_problems",
    "total",
]

HOURS_PER_MONTH = 730
GIB = 2**30
ONE_VCPU_MB = 1769  # Lambda: "at 1,769 MB, a function has the equivalent of one vCPU"
ORIGINAL_MONTHLY_USD = 79.0


@dataclass(frozen=True)
class Line:
    """One billed quantity: ``quantity`` units of ``PRICES[price]``."""

    item: str
    quantity: float
    price: str
    detail: str = ""

    def usd(self, prices: Mapping[str, Price] = PRICES) -> float:
        return self.quantity * prices[self.price].usd


@dataclass(frozen=True)
class Amount:
    """A sum already in dollars (a subtotal carried into the monthly table)."""

    item: str
    dollars: float
    detail: str = ""

    def usd(self, prices: Mapping[str, Price] = PRICES) -> float:
        return self.dollars


def total(lines: Sequence[Line | Amount], prices: Mapping[str, Price] = PRICES) -> float:
    return sum(line.usd(prices) for line in lines)


def cpu_stretch(memory_mb: int) -> float:
    """How much longer CPU-bound work takes on a function with less than one vCPU."""
    return max(1.0, ONE_VCPU_MB / memory_mb)


# --- (a) ingestion ------------------------------------------------------------------


@dataclass(frozen=True)
class IngestProfile:
    """What 1,000 pages of one kind of document take, in billable terms."""

    label: str
    documents: float
    chunks: float
    bytes: float
    work_s: float
    """Processor's own work: download + extraction + chunking (wall, measured)."""
    upload_s_per_request: float
    write_s: float
    """Writing the chunks at the deployed dimensions (production indexes)."""
    embed_calls: float
    embed_tokens: float
    embed_text_bytes: float


def ingest_profile(
    *,
    label: str,
    run: IngestRun,
    text: TextProfile,
    write_ms: float,
    batch: int,
    chunks_per_page: float | None = None,
) -> IngestProfile:
    """Scale a measured run to 1,000 pages. ``chunks_per_page`` replaces the run's own
    chunk count (for text whose pages hold a different number of characters)."""
    scale = 1000 / run.pages
    documents = run.documents * scale
    chunks = 1000 * chunks_per_page if chunks_per_page is not None else run.chunks * scale
    chunks_per_document = chunks / documents
    chars = chunks * text.chunk_chars
    return IngestProfile(
        label=label,
        documents=documents,
        chunks=chunks,
        bytes=run.bytes * scale,
        work_s=(run.download_s + run.extract_s + run.chunk_s) * scale,
        upload_s_per_request=run.upload_s / run.documents,
        write_s=chunks * write_ms / 1000,
        embed_calls=documents * math.ceil(chunks_per_document / batch),
        embed_tokens=chars / text.chars_per_token,
        embed_text_bytes=chars * text.utf8_bytes_per_char,
    )


def ingestion_lines(
    *, p: IngestProfile, stack: StackFacts, a: Assumptions, cold: Mapping[str, float]
) -> list[Line]:
    """Per 1,000 pages ingested."""
    processor_gb = stack.memory_mb["processor"] / 1024
    upload_gb = stack.memory_mb["upload"] / 1024
    requests = p.documents * (1 + a.status_polls_per_document)
    processor_s = (
        p.work_s * cpu_stretch(stack.memory_mb["processor"])
        + p.embed_calls * a.embed_call_s
        + p.write_s
        + p.documents * a.processor_cold_start_share * cold["processor"]
    )
    upload_s = (
        requests * p.upload_s_per_request + requests * a.http_cold_start_share * cold["upload"]
    ) * cpu_stretch(stack.memory_mb["upload"])
    response_bytes = p.chunks * stack.embedding_dimensions * a.bytes_per_embedding_float
    cold_starts = p.documents * a.processor_cold_start_share + requests * a.http_cold_start_share
    log_bytes = p.documents * a.log_bytes_per_document + requests * a.log_bytes_per_request
    return [
        Line(
            "Lambda compute: processor",
            processor_s * processor_gb,
            "lambda_arm_gb_second",
            f"{processor_s:,.0f} s at {stack.memory_mb['processor']} MB: own work "
            f"{p.work_s:.1f} s + {p.embed_calls:.0f} Bedrock calls x {a.embed_call_s} s "
            f"+ chunk writes {p.write_s:.0f} s + init",
        ),
        Line(
            "Lambda compute: upload",
            upload_s * upload_gb,
            "lambda_arm_gb_second",
            f"{requests:.0f} requests (upload + {a.status_polls_per_document} status polls "
            "per document)",
        ),
        Line(
            "Lambda requests",
            p.documents + requests,
            "lambda_request",
            "1 processor invocation per document + the HTTP requests",
        ),
        Line("API Gateway requests", requests, "api_gateway_http_request"),
        Line(
            "Bedrock embeddings (Cohere Embed v4)",
            p.embed_tokens / 1000,
            "cohere_embed_v4_1k_input",
            f"{p.chunks:,.0f} chunks, {p.embed_tokens:,.0f} tokens, {p.embed_calls:.0f} calls",
        ),
        Line("S3 PUT (upload)", p.documents, "s3_put_request"),
        Line("S3 GET (processor download)", p.documents, "s3_get_request"),
        Line(
            "S3 storage, first month",
            p.bytes / GIB,
            "s3_standard_gb_month",
            f"{p.bytes / 1e6:,.1f} MB of originals",
        ),
        Line(
            "SQS requests",
            3 * p.documents,
            "sqs_request",
            "S3 notification send + receive + delete per document",
        ),
        Line(
            "Aurora compute: write time share",
            p.write_s * stack.max_acu / 3600,
            "aurora_acu_hour",
            f"{p.write_s:,.0f} s of writes at {stack.max_acu:g} ACU",
        ),
        Line(
            "Aurora storage, first month",
            p.chunks * a.aurora_bytes_per_chunk / GIB,
            "aurora_storage_gb_month",
            f"{a.aurora_bytes_per_chunk:,} bytes per chunk",
        ),
        Line(
            "Aurora I/O (writes)",
            p.chunks * math.ceil(a.aurora_bytes_per_chunk / a.aurora_write_bytes_per_io),
            "aurora_io_request",
        ),
        Line("CloudWatch Logs ingestion", log_bytes / GIB, "logs_ingest_gb"),
        Line(
            "VPC endpoint data (Bedrock runtime)",
            (p.embed_text_bytes + response_bytes) / GIB,
            "interface_endpoint_gb",
            "chunk text out, 1024 floats per chunk back as JSON",
        ),
        Line(
            "X-Ray traces",
            p.documents + requests,
            "xray_trace_recorded",
            "active tracing: one trace per invocation at this traffic",
        ),
        Line(
            "Secrets Manager API calls",
            cold_starts,
            "secrets_api_call",
            "one GetSecretValue per new execution environment",
        ),
    ]


# --- (b) answers --------------------------------------------------------------------


@dataclass(frozen=True)
class AnswerProfile:
    """One answer: tokens and bytes, derived from the prompt docpipe builds."""

    label: str
    question_tokens: float
    prompt_tokens: float
    output_tokens: float
    prompt_bytes: float
    answer_bytes: float


def answer_profile(*, text: TextProfile, answer_chars: int) -> AnswerProfile:
    return AnswerProfile(
        label=text.language,
        question_tokens=text.question_chars / text.chars_per_token,
        prompt_tokens=text.prompt_chars / text.chars_per_token,
        output_tokens=answer_chars / text.chars_per_token,
        prompt_bytes=text.prompt_chars * text.utf8_bytes_per_char,
        answer_bytes=answer_chars * text.utf8_bytes_per_char,
    )


def answer_seconds(
    *, p: AnswerProfile, q: QueryMeasure, stack: StackFacts, a: Assumptions, cold: float
) -> float:
    """Query function duration for one answer: its own work (stretched below one vCPU),
    the SQL it waits for, the two Bedrock calls it waits for, and a share of init."""
    stretch = cpu_stretch(stack.memory_mb["query"])
    own = (q.server_ms - q.sql_ms) / 1000 * stretch + a.http_cold_start_share * cold * stretch
    generation = a.answer_first_token_s + p.output_tokens / a.answer_tokens_per_s
    return own + q.sql_ms / 1000 + a.query_embed_call_s + generation


def answer_lines(
    *, p: AnswerProfile, q: QueryMeasure, stack: StackFacts, a: Assumptions, cold: float
) -> list[Line]:
    """Per 1,000 answers."""
    n = 1000
    seconds = answer_seconds(p=p, q=q, stack=stack, a=a, cold=cold)
    embedding_back = stack.embedding_dimensions * a.bytes_per_embedding_float
    return [
        Line("API Gateway requests", n, "api_gateway_http_request"),
        Line("Lambda requests", n, "lambda_request"),
        Line(
            "Lambda compute: query",
            n * seconds * stack.memory_mb["query"] / 1024,
            "lambda_arm_gb_second",
            f"{seconds:.2f} s per answer at {stack.memory_mb['query']} MB, mostly waiting "
            "for Nova Pro",
        ),
        Line(
            "Bedrock query embedding",
            n * p.question_tokens / 1000,
            "cohere_embed_v4_1k_input",
            f"{p.question_tokens:.0f} tokens per question",
        ),
        Line(
            "Nova Pro input tokens",
            n * p.prompt_tokens / 1000,
            "nova_pro_1k_input",
            f"{p.prompt_tokens:,.0f} tokens per answer (system prompt + top_k chunks)",
        ),
        Line(
            "Nova Pro output tokens",
            n * p.output_tokens / 1000,
            "nova_pro_1k_output",
            f"{p.output_tokens:,.0f} tokens per answer (assumed length)",
        ),
        Line(
            "Aurora compute: query time share",
            n * q.sql_ms / 1000 * a.aurora_awake_floor_acu / 3600,
            "aurora_acu_hour",
            f"{q.sql_ms:.1f} ms of SQL per hybrid search at {q.chunks:,} chunks",
        ),
        Line("CloudWatch Logs ingestion", n * a.log_bytes_per_request / GIB, "logs_ingest_gb"),
        Line(
            "VPC endpoint data (Bedrock runtime)",
            n * (p.prompt_bytes + p.answer_bytes + embedding_back) / GIB,
            "interface_endpoint_gb",
        ),
        Line("X-Ray traces", n, "xray_trace_recorded"),
        Line("Secrets Manager API calls", n * a.http_cold_start_share, "secrets_api_call"),
    ]


# --- (c) fixed monthly cost at idle -------------------------------------------------


def idle_sqs_requests(a: Assumptions, pollers: int) -> float:
    return pollers * a.idle_sqs_pollers * HOURS_PER_MONTH * 3600 / a.sqs_long_poll_s


def fixed_lines(*, stack: StackFacts, a: Assumptions) -> list[Line]:
    """Per month with no traffic: what the declared stack bills by the hour or month."""
    lines = [
        Line(
            f"VPC interface endpoint: {e.service} ({e.availability_zones} AZ)",
            e.availability_zones * HOURS_PER_MONTH,
            "interface_endpoint_az_hour",
            f"{e.availability_zones} AZ x {HOURS_PER_MONTH} h",
        )
        for e in stack.interface_endpoints
    ]
    lines += [
        Line(
            f"Aurora compute at idle (min {stack.min_acu:g} ACU)",
            stack.min_acu * HOURS_PER_MONTH,
            "aurora_acu_hour",
            "paused: no ACU-hours" if stack.min_acu == 0 else "never pauses",
        ),
        Line(
            f"Secrets Manager: {stack.secrets} secrets",
            stack.secrets,
            "secret_month",
            "the app role's credentials + the RDS-managed master secret",
        ),
        Line(f"CloudWatch alarms: {stack.alarms}", stack.alarms, "alarm_month"),
        Line(
            "SQS: idle polling by the event source mapping",
            idle_sqs_requests(a, stack.queue_pollers),
            "sqs_request",
            f"{a.idle_sqs_pollers} pollers x 1 request per {a.sqs_long_poll_s} s (estimate)",
        ),
        Line(
            f"ECR image storage: {stack.repositories} repositories",
            stack.repositories * a.ecr_images_per_repository * a.ecr_image_gb,
            "ecr_gb_month",
            f"{a.ecr_images_per_repository} images x {a.ecr_image_gb} GB each (assumed)",
        ),
    ]
    return lines


def option_rows(*, stack: StackFacts, a: Assumptions) -> list[dict[str, str]]:
    """What each optional part costs (or saves) a month, for the platform team."""
    az_hour = PRICES["interface_endpoint_az_hour"].usd
    acu = PRICES["aurora_acu_hour"].usd
    rows = [
        {
            "option": f"drop the {e.service} interface endpoint",
            "monthly $": _usd(-e.availability_zones * HOURS_PER_MONTH * az_hour),
            "what it means": _ENDPOINT_NOTES.get(e.service, ""),
        }
        for e in stack.interface_endpoints
    ]
    endpoints = sum(e.availability_zones for e in stack.interface_endpoints)
    rows += [
        {
            "option": "interface endpoints in 1 AZ instead of 2",
            "monthly $": _usd(
                -(endpoints - len(stack.interface_endpoints)) * HOURS_PER_MONTH * az_hour
            ),
            "what it means": "an AZ outage cuts the functions in the other AZ off AWS APIs",
        },
        {
            "option": "add one more interface endpoint (e.g. logs, sts) in 2 AZ",
            "monthly $": _usd(2 * HOURS_PER_MONTH * az_hour),
            "what it means": "",
        },
        {
            "option": "Aurora min 0.5 ACU (never pauses), as the original",
            "monthly $": _usd(0.5 * HOURS_PER_MONTH * acu),
            "what it means": "no resume delay on the first request after an idle hour",
        },
        {
            "option": "Aurora awake office hours only (auto-pause, table d)",
            "monthly $": _usd(awake_hours(stack, a) * a.aurora_awake_floor_acu * acu),
            "what it means": f"{awake_hours(stack, a):.0f} h at {a.aurora_awake_floor_acu} ACU",
        },
        {
            "option": "detailed route metrics off",
            "monthly $": _usd(-route_metric_months(stack, a) * PRICES["metric_month"].usd),
            "what it means": "per-route 4xx/5xx/latency graphs go",
        },
        {
            "option": "Cognito Essentials user pool (if added), per 1,000 MAU",
            "monthly $": _usd(1000 * PRICES["cognito_essentials_mau"].usd),
            "what it means": "the pricing page lists a free tier of MAUs; not applied here",
        },
    ]
    return rows


_ENDPOINT_NOTES = {
    "secretsmanager": "functions can no longer read the database secret at start",
    "bedrock-runtime": "no embeddings or answers (no NAT gateway either)",
    "sqs": "upload's reprocess and the processor's recovery sends fail; the event source "
    "mapping itself polls from the Lambda service and does not use it",
}


# --- (d) a month of the original chatbot's workload ---------------------------------


@dataclass(frozen=True)
class Workload:
    label: str
    pages_per_month: float
    answers_per_month: float


WORKLOADS = (
    Workload("small: 50 docs (500 pages), 20 questions a workday", 500, 20 * 22),
    Workload("medium: 200 docs (2,000 pages), 100 questions a workday", 2_000, 100 * 22),
    Workload("large: 1,000 docs (10,000 pages), 500 questions a workday", 10_000, 500 * 22),
)


def awake_hours(stack: StackFacts, a: Assumptions) -> float:
    """Office hours on workdays plus the auto-pause delay after the last request."""
    if stack.min_acu > 0:
        return float(HOURS_PER_MONTH)
    day = a.office_hours_per_day + stack.seconds_until_auto_pause / 3600
    return min(float(HOURS_PER_MONTH), a.workdays_per_month * day)


def route_metric_months(stack: StackFacts, a: Assumptions) -> float:
    if not stack.detailed_route_metrics:
        return 0.0
    routes = min(a.routes_in_use, stack.routes)
    return a.metrics_per_route * routes * awake_hours(stack, a) / HOURS_PER_MONTH


def monthly_lines(
    *,
    w: Workload,
    fixed: Sequence[Line],
    ingest: Sequence[Line],
    answers: Sequence[Line],
    stack: StackFacts,
    a: Assumptions,
) -> list[Line | Amount]:
    """One month: the idle stack, the database awake in office hours, the work, and what
    accumulates (documents held, logs kept, route metrics while there is traffic)."""
    pages, asked = w.pages_per_month / 1000, w.answers_per_month / 1000

    def scaled(lines: Sequence[Line], by: float, match: Callable[[str], bool]) -> float:
        return sum(line.usd() * by for line in lines if match(line.item))

    stored = a.stored_months - 1  # the first month is in the ingestion lines
    held_usd = scaled(ingest, pages * stored, lambda item: "storage" in item)
    log_gb = sum(line.quantity for line in [*ingest] if line.price == "logs_ingest_gb") * pages
    log_gb += sum(line.quantity for line in answers if line.price == "logs_ingest_gb") * asked
    usd_per_ingest, usd_per_answer = total(ingest), total(answers)
    floor = 0.0 if stack.min_acu > 0 else awake_hours(stack, a) * a.aurora_awake_floor_acu
    return [
        Amount("fixed (table c)", total(fixed)),
        Line(
            "Aurora awake (office hours + pause delay)",
            floor,
            "aurora_acu_hour",
            f"{awake_hours(stack, a):.0f} h at {a.aurora_awake_floor_acu} ACU",
        ),
        Amount("ingestion", usd_per_ingest * pages, f"{w.pages_per_month:,.0f} pages"),
        Amount("answers", usd_per_answer * asked, f"{w.answers_per_month:,.0f} answers"),
        Amount(
            "document set held (S3 + Aurora storage)",
            held_usd,
            f"{a.stored_months} months of ingestion",
        ),
        Line("CloudWatch Logs stored (30-day retention)", log_gb, "logs_storage_gb_month"),
        Line(
            "API Gateway detailed route metrics",
            route_metric_months(stack, a),
            "metric_month",
            f"{a.metrics_per_route} metrics x {a.routes_in_use} routes in use, while awake",
        ),
    ]


def original_rows(*, a: Assumptions) -> list[dict[str, str]]:
    """The original chatbot's standing charges, priced with the same constants."""
    acu = 0.5 * HOURS_PER_MONTH * PRICES["aurora_acu_hour"].usd
    endpoint = HOURS_PER_MONTH * PRICES["interface_endpoint_az_hour"].usd
    secrets = 2 * PRICES["secret_month"].usd
    return [
        {
            "configuration": f"original, endpoints in {azs} AZ",
            "Aurora 0.5 ACU always on": _usd(acu),
            "2 interface endpoints": _usd(2 * azs * endpoint),
            "2 secrets": _usd(secrets),
            "standing total": _usd(acu + 2 * azs * endpoint + secrets),
            "reported": f"~${ORIGINAL_MONTHLY_USD:.0f}",
        }
        for azs in (1, 2)
    ]


# --- checks -------------------------------------------------------------------------


def price_problems(prices: Mapping[str, Price]) -> list[str]:
    """Every price must carry a value, a unit, a date, an AWS source page and a basis;
    one not read for Tokyo must say which region or table it comes from instead."""
    problems: list[str] = []
    for name, p in prices.items():
        if not p.usd > 0:
            problems.append(f"{name}: no positive value")
        if not p.unit.strip():
            problems.append(f"{name}: no unit")
        if not p.source.startswith("https://aws.amazon.com/"):
            problems.append(f"{name}: source is not an AWS pricing page: {p.source!r}")
        if p.read_on.year < 2026 or not p.basis.strip():
            problems.append(f"{name}: no reading date or basis")
        if not p.is_tokyo and not p.region.strip():
            problems.append(f"{name}: not a Tokyo price and no region given")
    return problems


# --- output -------------------------------------------------------------------------


def _usd(value: float) -> str:
    if value == 0:
        return "$0"
    sign = "-" if value < 0 else ""
    value = abs(value)
    if value >= 100:
        return f"{sign}${value:,.0f}"
    if value >= 1:
        return f"{sign}${value:,.2f}"
    if value >= 0.01:
        return f"{sign}${value:.3f}"
    return f"{sign}${value:.5f}"


def _by_item(columns: Mapping[str, Sequence[Line]]) -> list[dict[str, str]]:
    items = list(dict.fromkeys(line.item for lines in columns.values() for line in lines))
    rows = []
    for item in items:
        row = {"item": item}
        for label, lines in columns.items():
            row[label] = _usd(sum(line.usd() for line in lines if line.item == item))
        rows.append(row)
    rows.append({"item": "**total**", **{k: f"**{_usd(total(v))}**" for k, v in columns.items()}})
    return rows


def _measured_rows(model: Model) -> list[dict[str, str]]:
    rows = [
        {
            "input": label,
            "documents": f"{p.documents:.1f}",
            "chunks": f"{p.chunks:,.0f}",
            "own work s": f"{p.work_s:.2f}",
            "chunk writes s": f"{p.write_s:.1f}",
            "Cohere calls": f"{p.embed_calls:.0f}",
        }
        for label, p in model.ingest.items()
    ]
    q = model.query
    rows.append(
        {
            "input": f"one hybrid search at {q.chunks:,} chunks",
            "documents": "",
            "chunks": "",
            "own work s": f"{(q.server_ms - q.sql_ms) / 1000:.4f}",
            "chunk writes s": f"SQL {q.sql_ms / 1000:.4f}",
            "Cohere calls": "1 (query)",
        }
    )
    return rows


def _derived_rows(model: Model) -> list[dict[str, str]]:
    return [
        {
            "language": t.language,
            "sample text": t.source,
            "chars per page": f"{t.chars_per_page:,.0f}",
            "chunks per page": f"{t.chunks_per_page:.2f}",
            "chars per chunk": f"{t.chunk_chars:,.0f}",
            "question chars": f"{t.question_chars:.0f}",
            "prompt chars (top_k chunks)": f"{t.prompt_chars:,.0f}",
            "chars per token (assumed)": f"{t.chars_per_token:g}",
            "prompt tokens": f"{t.prompt_chars / t.chars_per_token:,.0f}",
        }
        for t in model.texts.values()
    ]


def _assumption_rows(a: Assumptions) -> list[dict[str, str]]:
    return [{"assumption": k, "value": str(v)} for k, v in asdict(a).items()]


def _price_rows() -> list[dict[str, str]]:
    return [
        {
            "price": k,
            "USD": f"{p.usd:g}",
            "per": p.unit,
            "region": p.region,
            "read": p.read_on.isoformat(),
            "source": p.source,
        }
        for k, p in PRICES.items()
    ]


@dataclass(frozen=True)
class Model:
    stack: StackFacts
    texts: Mapping[str, TextProfile]
    ingest: Mapping[str, IngestProfile]
    answers: Mapping[str, AnswerProfile]
    query: QueryMeasure


def build(a: Assumptions) -> tuple[Model, dict[str, list[Line]], dict[str, list[Line]]]:
    from docpipe.common.embeddings.bedrock_models import resolve_model
    from docpipe.processor.config import ProcessorSettings
    from docpipe.query.schemas import AnswerRequest

    inventory = run_program(dev_config(None, **DIGESTS))  # every service deployed
    missing = unpriced_types(inventory)
    if missing:
        raise SystemExit(
            f"unpriced resource types (add them to bench/_declared_stack.py): {missing}"
        )
    stack = stack_facts(inventory)
    runs, writes, cold = ingestion_runs(), write_ms_per_chunk(), cold_start_s()
    chunking = ProcessorSettings.model_fields
    texts = text_profiles(
        a=a,
        en_chars_per_page=2400,  # bench._corpus.pdf_bytes' page size
        top_k=int(AnswerRequest.model_fields["top_k"].default),
        target_chars=int(chunking["chunk_target_chars"].default),
        overlap_chars=int(chunking["chunk_overlap_chars"].default),
    )
    batch = resolve_model(stack.embedding_model_id, stack.embedding_dimensions).batch_size
    write_ms = writes[stack.embedding_dimensions]
    corpus = runs["corpus-200"]
    ingest = {
        "mixed corpus, English (measured)": ingest_profile(
            label="corpus", run=corpus, text=texts["en"], write_ms=write_ms, batch=batch
        ),
        "500-page PDF, English (measured)": ingest_profile(
            label="pdf-500", run=runs["pdf-500"], text=texts["en"], write_ms=write_ms, batch=batch
        ),
        "Traditional Chinese (derived)": ingest_profile(
            label="zh",
            run=corpus,
            text=texts["zh"],
            write_ms=write_ms,
            batch=batch,
            chunks_per_page=texts["zh"].chunks_per_page,
        ),
    }
    answers = {
        "English": answer_profile(text=texts["en"], answer_chars=a.en_answer_chars),
        "Traditional Chinese": answer_profile(text=texts["zh"], answer_chars=a.zh_answer_chars),
    }
    q = query_measure()
    model = Model(stack=stack, texts=texts, ingest=ingest, answers=answers, query=q)
    ingest_lines = {k: ingestion_lines(p=p, stack=stack, a=a, cold=cold) for k, p in ingest.items()}
    answer_cols = {
        k: answer_lines(p=p, q=q, stack=stack, a=a, cold=cold["query"]) for k, p in answers.items()
    }
    return model, ingest_lines, answer_cols


def _monthly_rows(
    model: Model,
    ingest: Mapping[str, list[Line]],
    answers: Mapping[str, list[Line]],
    a: Assumptions,
) -> list[dict[str, str]]:
    stack = model.stack
    zh_ingest, zh_answers = ingest["Traditional Chinese (derived)"], answers["Traditional Chinese"]
    cases: list[tuple[Workload, StackFacts, Sequence[Line], Sequence[Line]]] = [
        (w, stack, zh_ingest, zh_answers) for w in WORKLOADS
    ]
    medium = WORKLOADS[1]
    cases.append(
        (
            replace(medium, label="medium, database never pauses"),
            replace(stack, min_acu=0.5),
            zh_ingest,
            zh_answers,
        )
    )
    cases.append(
        (
            replace(medium, label="medium, English documents and questions"),
            stack,
            ingest["mixed corpus, English (measured)"],
            answers["English"],
        )
    )
    rows = []
    for w, s, ing, ans in cases:
        lines = monthly_lines(
            w=w, fixed=fixed_lines(stack=s, a=a), ingest=ing, answers=ans, stack=s, a=a
        )
        row = {"workload": w.label}
        row.update({line.item: _usd(line.usd()) for line in lines})
        row["**total**"] = f"**{_usd(total(lines))}**"
        row["original"] = f"~${ORIGINAL_MONTHLY_USD:.0f}"
        rows.append(row)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.parse_args()
    a = Assumptions()
    problems = price_problems(PRICES)
    if problems:
        raise SystemExit("price constants incomplete: " + "; ".join(problems))
    model, ingest, answers = build(a)
    fixed = fixed_lines(stack=model.stack, a=a)
    tables: dict[str, list[dict[str, str]]] = {
        "(a) $ per 1,000 pages ingested": _by_item(ingest),
        "(b) $ per 1,000 answers": _by_item(answers),
        "(c) fixed monthly cost at idle (what the program declares)": _by_item({"$/month": fixed}),
        "(c) options: what each part costs or saves a month": option_rows(stack=model.stack, a=a),
        "(d) a month of the HR chatbot's workload (zh unless noted)": _monthly_rows(
            model, ingest, answers, a
        ),
        "(d) the original chatbot's standing charges at the same prices": original_rows(a=a),
    }
    tables["inputs measured by the benchmarks (per 1,000 pages / per answer)"] = _measured_rows(
        model
    )
    tables["inputs derived here with docpipe's chunker and prompt builder"] = _derived_rows(model)
    for title, rows in tables.items():
        print_table(title, rows)
    print_table("Assumptions (bench/_cost_inputs.py)", _assumption_rows(a))
    print_table("Prices (bench/prices.py)", _price_rows())
    facts = conditions(
        stack=asdict(model.stack),
        text_profiles={k: asdict(v) for k, v in model.texts.items()},
        ingest_profiles={k: asdict(v) for k, v in model.ingest.items()},
        answer_profiles={k: asdict(v) for k, v in model.answers.items()},
        query_measure=asdict(model.query),
        measured_inputs=input_conditions(),
        translation="stage wall seconds on this x86_64 host = Lambda arm64 seconds at >= 1 "
        "vCPU (1,769 MB); CPU-bound work x 1769/MB below that; waits billed as they pass",
    )
    print_conditions({k: v for k, v in facts.items() if not isinstance(v, dict)})
    write_results("cost_model", _payload(tables, a, fixed, ingest, answers, facts))


def _payload(
    tables: Mapping[str, Any],
    a: Assumptions,
    fixed: Sequence[Line],
    ingest: Mapping[str, Sequence[Line]],
    answers: Mapping[str, Sequence[Line]],
    facts: Mapping[str, Any],
) -> dict[str, Any]:
    def lines(ls: Sequence[Line]) -> list[dict[str, Any]]:
        return [{**asdict(line), "usd": line.usd()} for line in ls]

    return {
        "tables": tables,
        "lines": {
            "per_1000_pages": {k: lines(v) for k, v in ingest.items()},
            "per_1000_answers": {k: lines(v) for k, v in answers.items()},
            "fixed_monthly": lines(fixed),
        },
        "totals": {
            "per_1000_pages": {k: total(v) for k, v in ingest.items()},
            "per_1000_answers": {k: total(v) for k, v in answers.items()},
            "fixed_monthly": total(fixed),
        },
        "assumptions": asdict(a),
        "prices": {k: {**asdict(p), "read_on": p.read_on.isoformat()} for k, p in PRICES.items()},
        "conditions": facts,
    }


if __name__ == "__main__":
    main()
