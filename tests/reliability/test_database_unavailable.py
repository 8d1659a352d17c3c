"""Both HTTP services with the database refused, hanging, gone mid-way, and back.

Every case must end in a 503 application/problem+json with ``Retry-After``, within the
connect budget (plus slack for a loaded machine), never a 500 or a hang, and the next
request after the database returns must succeed. Asserted through the FastAPI app
(in-process ASGI) and through the Lambda handler (Mangum, API Gateway HTTP API events,
in a process of its own like a warm execution environment).

Real components: a PostgreSQL server of the tests' own that they stop and start, a closed
port on 127.0.0.1 (connection refused), a TCP listener that accepts and never answers.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import asyncpg
import httpx
import pytest
from fastapi import FastAPI

from docpipe.devstack.embedded import AwsResources, EmbeddedPostgres, free_port
from docpipe.query.config import QuerySettings
from docpipe.query.main import create_app as create_query_app
from docpipe.testkit.emf import emf_points
from docpipe.testkit.lambda_http import LambdaProcess, http_api_event
from docpipe.testkit.postgres_process import PostgresProcess
from docpipe.testkit.silent_listener import SilentListener
from docpipe.upload.config import UploadSettings
from docpipe.upload.main import create_app as create_upload_app

BUDGET_S = 2.0
SLACK_S = 3.0  # scheduling noise on a shared 2-core machine
RETRY_AFTER_S = 7
PROBLEM_JSON = "application/problem+json"
TENANT = "default"  # AUTH_MODE=none in-process; the same claim in the Lambda events


@dataclass(frozen=True)
class Service:
    name: str
    module: str
    method: str
    path: str
    body: dict[str, Any] | None
    create_app: Callable[..., FastAPI]

    def settings(
        self, dsn: str, queue_url: str, **overrides: Any
    ) -> UploadSettings | QuerySettings:
        common: dict[str, Any] = {
            "auth_mode": "none",
            "database_url": dsn,
            "database_connect_budget_seconds": BUDGET_S,
            "database_retry_after_seconds": RETRY_AFTER_S,
            **overrides,
        }
        if self.name == "upload":
            return UploadSettings(ingest_queue_url=queue_url, **common)  # type: ignore[call-arg]
        return QuerySettings(**common)

    def env(self, dsn: str) -> dict[str, str]:
        return {
            "AUTH_MODE": "apigateway",
            "DATABASE_URL": dsn,
            "DATABASE_CONNECT_BUDGET_SECONDS": str(BUDGET_S),
            "DATABASE_RETRY_AFTER_SECONDS": str(RETRY_AFTER_S),
        }

    def event(self) -> dict[str, Any]:
        return http_api_event(self.method, self.path, tenant=TENANT, body=self.body)


SERVICES = [
    Service("upload", "docpipe.upload.main", "GET", "/v1/documents", None, create_upload_app),
    Service(
        "query",
        "docpipe.query.main",
        "POST",
        "/v1/search",
        {"query": "annual leave", "mode": "hybrid"},  # two legs: two connections at once
        create_query_app,
    ),
]

pytestmark = pytest.mark.usefixtures("fresh_pool")


@pytest.fixture(params=SERVICES, ids=lambda s: s.name)
def service(request: pytest.FixtureRequest) -> Service:
    return request.param  # type: ignore[no-any-return]


@pytest.fixture
def own_dsn(own_database: PostgresProcess) -> Iterator[str]:
    if not own_database.is_running():
        own_database.start()
    yield own_database.dsn(user=None, database="docpipe")  # each service as its own role
    if not own_database.is_running():
        own_database.start()


def closed_port_dsn() -> str:
    return f"postgresql://127.0.0.1:{free_port()}/docpipe"


def silent_dsn(port: int) -> str:
    return f"postgresql://127.0.0.1:{port}/docpipe"


def client_for(app: FastAPI) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")


async def timed(client: httpx.AsyncClient, service: Service) -> tuple[httpx.Response, float]:
    started = time.perf_counter()
    response = await client.request(service.method, service.path, json=service.body)
    return response, time.perf_counter() - started


def assert_unavailable(status: int, headers: dict[str, str], body: str, elapsed: float) -> None:
    assert status == 503, body
    assert headers["content-type"] == PROBLEM_JSON
    assert headers["retry-after"] == str(RETRY_AFTER_S)
    assert '"status":503' in body.replace(" ", "")
    assert "retry later" in body
    assert elapsed <= BUDGET_S + SLACK_S, f"waited {elapsed:.2f} s, budget {BUDGET_S} s"


def lambda_unavailable(response: dict[str, Any]) -> None:
    assert_unavailable(
        response["statusCode"], response["headers"], response["body"], response["elapsed"]
    )


# --------------------------------------------------------------- in-process (FastAPI)


async def test_refused_database_is_a_503_after_the_budget(
    service: Service, aws: AwsResources
) -> None:
    app = service.create_app(service.settings(closed_port_dsn(), aws.queue_url))
    async with client_for(app) as client:
        response, elapsed = await timed(client, service)
    assert_unavailable(response.status_code, dict(response.headers), response.text, elapsed)
    assert elapsed >= BUDGET_S * 0.9, "gave up before the budget: a resume would be missed"


async def test_silent_listener_is_a_503_after_the_budget(
    service: Service, aws: AwsResources
) -> None:
    with SilentListener() as port:
        app = service.create_app(service.settings(silent_dsn(port), aws.queue_url))
        async with client_for(app) as client:
            response, elapsed = await timed(client, service)
    assert_unavailable(response.status_code, dict(response.headers), response.text, elapsed)
    assert elapsed >= BUDGET_S * 0.9


async def test_database_stopped_then_back(
    service: Service, own_database: PostgresProcess, own_dsn: str, aws: AwsResources
) -> None:
    app = service.create_app(service.settings(own_dsn, aws.queue_url))
    async with client_for(app) as client:
        warm, _ = await timed(client, service)
        assert warm.status_code == 200, warm.text  # the pool now holds live connections
        own_database.stop()
        down, elapsed = await timed(client, service)
        assert_unavailable(down.status_code, dict(down.headers), down.text, elapsed)
        own_database.start()
        back, _ = await timed(client, service)
        assert back.status_code == 200, back.text


async def _document(admin: asyncpg.Connection) -> uuid.UUID:
    doc_id = uuid.uuid4()
    await admin.execute(
        "insert into documents (id, tenant_id, filename, content_type, size_bytes, storage_key,"
        " status) values ($1, $2, 'held.txt', 'text/plain', 1, $3, 'completed')",
        doc_id,
        TENANT,
        f"uploads/{TENANT}/{doc_id}",
    )
    return doc_id


@pytest.mark.parametrize("ending", ["session-terminated", "no-answer"])
async def test_a_request_whose_statement_never_completes_is_a_503(
    ending: str, migrated: EmbeddedPostgres, admin_conn: asyncpg.Connection, aws: AwsResources
) -> None:
    """DELETE locks the document row, which another session holds: the server then ends
    the request's session, or leaves it waiting past the command timeout (1 s)."""
    upload, command_timeout = SERVICES[0], 1.0
    doc_id = await _document(admin_conn)
    holder = await asyncpg.connect(migrated.admin_dsn)
    app = upload.create_app(
        upload.settings(
            migrated.services_dsn, aws.queue_url, database_command_timeout_seconds=command_timeout
        )
    )
    try:
        async with holder.transaction(), client_for(app) as client:
            await holder.execute("select 1 from documents where id = $1 for update", doc_id)
            started = time.perf_counter()
            request = asyncio.create_task(client.delete(f"/v1/documents/{doc_id}"))
            if ending == "session-terminated":
                waiting = await _wait_for_blocked_backend(admin_conn, holder)
                assert await admin_conn.fetchval("select pg_terminate_backend($1)", waiting)
            response = await asyncio.wait_for(request, BUDGET_S + SLACK_S)
            elapsed = time.perf_counter() - started
    finally:
        await holder.close()
    assert_unavailable(response.status_code, dict(response.headers), response.text, elapsed)
    if ending == "no-answer":
        assert command_timeout * 0.9 <= elapsed <= command_timeout + SLACK_S
    assert await admin_conn.fetchval("select count(*) from documents where id = $1", doc_id) == 1


async def _wait_for_blocked_backend(admin: asyncpg.Connection, holder: asyncpg.Connection) -> int:
    holder_pid = holder.get_server_pid()
    for _ in range(200):
        pid = await admin.fetchval(
            "select pid from pg_stat_activity where $1 = any(pg_blocking_pids(pid))", holder_pid
        )
        if pid is not None:
            return int(pid)
        await asyncio.sleep(0.02)
    raise AssertionError("the request never reached the locked row")


# ----------------------------------------------------------- Lambda handler (Mangum)


def test_lambda_refused_database_is_a_503_after_the_budget(
    service: Service, aws: AwsResources
) -> None:
    """...and the canary sees it: a 5xx of the version that answered."""
    function_name = f"docpipe-dev-{service.name}"
    with LambdaProcess(
        service.module, service.env(closed_port_dsn()), function_name=function_name, version="12"
    ) as function:
        response = function.invoke(service.event())
        output = function.stderr()
    lambda_unavailable(response)
    assert response["elapsed"] >= BUDGET_S * 0.9
    per_version = {
        p.name: p.value
        for p in emf_points(output)
        if p.dimensions == (("FunctionName", function_name), ("FunctionVersion", "12"))
    }
    assert per_version == {"Requests": 1.0, "Http5xx": 1.0}


def test_lambda_silent_listener_is_a_503_after_the_budget(
    service: Service, aws: AwsResources
) -> None:
    with SilentListener() as port:
        with LambdaProcess(service.module, service.env(silent_dsn(port))) as function:
            response = function.invoke(service.event())
    lambda_unavailable(response)
    assert response["elapsed"] >= BUDGET_S * 0.9


def test_lambda_database_stopped_then_back(
    service: Service, own_database: PostgresProcess, own_dsn: str, aws: AwsResources
) -> None:
    with LambdaProcess(service.module, service.env(own_dsn)) as function:
        warm = function.invoke(service.event())
        assert warm["statusCode"] == 200, (warm["body"], function.stderr()[-2000:])
        own_database.stop()
        lambda_unavailable(function.invoke(service.event()))
        own_database.start()
        back = function.invoke(service.event())
        assert back["statusCode"] == 200, back["body"]
