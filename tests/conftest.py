"""Session-wide real components: PostgreSQL 16 + pgvector (pgserver) and moto's S3/SQS server.

Tests talk to them exactly as the services do on AWS: asyncpg as each service's own
non-owner role (``docpipe_upload``, ``docpipe_query``, ``docpipe_processor``: row-level
security applies), aioboto3 through ``AWS_ENDPOINT_URL``.

The test process is a local stack of its own: it serves the apps in-process with
``AUTH_MODE=none`` where a test does not choose another mode, so it writes the local
stack's marker (docpipe.common.local_stack) before any settings are built.
"""

from __future__ import annotations

import asyncio
import atexit
import os
import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import pytest

from docpipe.common.local_stack import write_marker
from docpipe.devstack.embedded import (
    AwsResources,
    EmbeddedPostgres,
    provision_aws,
    start_moto,
    start_postgres,
)
from docpipe.testkit.postgres_process import PostgresProcess, migrated_postgres
from docpipe.testkit.tokens import ISSUER

TEST_DIMENSIONS = 384

# Fake credentials for moto, and a test-wide configuration. Set before any service module
# builds its settings.
os.environ.update(
    {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_REGION": "ap-northeast-1",
        "AWS_DEFAULT_REGION": "ap-northeast-1",
        "EMBEDDING_DIMENSIONS": str(TEST_DIMENSIONS),
        "EMBEDDING_PROVIDER": "local",
        "AUTH_MODE": "none",
        "JWT_ISSUER": ISSUER,  # every token the tests sign names it (docpipe.testkit.tokens)
    }
)
os.environ.pop("AWS_PROFILE", None)
_MARKER_DIR = tempfile.mkdtemp(prefix="docpipe-tests-")
os.environ["LOCAL_STACK_MARKER"] = str(write_marker(Path(_MARKER_DIR) / "local-stack.marker"))
atexit.register(shutil.rmtree, _MARKER_DIR, ignore_errors=True)


@pytest.fixture(scope="session", autouse=True)
async def _loop_resources_closed_at_the_end() -> AsyncIterator[None]:
    """The async tests share one event loop (pyproject: loop scope ``session``), and what
    the apps open on it (aiobotocore clients, database pools; docpipe.common.runtime) is
    closed when the session ends, as a service's shutdown would. ASGI test clients do not
    run the apps' lifespan, so without this the clients were left to the garbage collector
    at interpreter exit, which logged "Unclosed client session" into closed streams."""
    from docpipe.common.runtime import close_loop_resources

    yield
    try:
        # Bounded: the servers behind the pools may already be stopped.
        await asyncio.wait_for(close_loop_resources(), timeout=30)
    except (TimeoutError, OSError) as exc:
        print(f"closing the test loop's clients and pools: {exc!r}")


@pytest.fixture(scope="session")
def pg(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedPostgres]:
    # Unix socket paths are capped at ~107 bytes: keep the data folder short.
    data_dir = Path(tmp_path_factory.mktemp("pg", numbered=True))
    server = start_postgres(data_dir)
    yield server
    server.stop()


@pytest.fixture(scope="session")
async def migrated(pg: EmbeddedPostgres) -> EmbeddedPostgres:
    from docpipe.common.migrations import apply_migrations

    conn = await asyncpg.connect(pg.admin_dsn)
    try:
        await apply_migrations(conn, embedding_dimensions=TEST_DIMENSIONS)
    finally:
        await conn.close()
    os.environ["DATABASE_URL"] = pg.services_dsn  # each service as its own role
    return pg


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    server, endpoint = start_moto()
    os.environ["AWS_ENDPOINT_URL"] = endpoint
    yield endpoint
    server.stop()


@pytest.fixture(scope="session")
def aws(moto_endpoint: str) -> AwsResources:
    resources = provision_aws(
        endpoint_url=moto_endpoint, bucket="docpipe-test", queue="docpipe-test-ingest"
    )
    os.environ["DOCUMENTS_BUCKET"] = resources.bucket
    os.environ["INGEST_QUEUE_URL"] = resources.queue_url
    return resources


@pytest.fixture
async def admin_conn(migrated: EmbeddedPostgres) -> AsyncIterator[asyncpg.Connection]:
    """A superuser connection for assertions that must see every tenant."""
    from pgvector.asyncpg import register_vector

    conn = await asyncpg.connect(migrated.admin_dsn)
    await register_vector(conn)
    yield conn
    await conn.close()


@pytest.fixture
def tenant() -> str:
    """A fresh tenant per test keeps tests independent on the shared database."""
    return f"tenant-{uuid.uuid4().hex[:12]}"


@pytest.fixture
async def fresh_pool() -> AsyncIterator[None]:
    """The process' database pool closed before and after: the test's app builds its own
    from its own settings (one pool per process and loop, docpipe.common.db)."""
    from docpipe.common.db import close_pool

    await close_pool()
    yield
    await close_pool()


@pytest.fixture(scope="module")
async def own_database() -> AsyncIterator[PostgresProcess]:
    """A migrated PostgreSQL server of the module's own, which its tests may stop and start."""
    server = await migrated_postgres(embedding_dimensions=TEST_DIMENSIONS)
    yield server
    server.remove()


#: Markers of tests with their own command, left out of `make test` unless asked for by
#: ``-m`` (a deselection, reported in the summary line, never a silent skip).
OPTIONAL_SUITES = {"slow": "make test-slow", "sbert": "make test-sbert"}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    asked = config.getoption("-m") or ""
    left_out = {marker for marker in OPTIONAL_SUITES if marker not in asked}
    keep = [item for item in items if not any(item.get_closest_marker(m) for m in left_out)]
    if len(keep) < len(items):
        config.hook.pytest_deselected(items=[item for item in items if item not in keep])
        items[:] = keep
