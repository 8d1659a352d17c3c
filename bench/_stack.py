"""The embedded stack for benchmarks, in private temporary folders and on free ports.

Other engineers run tests and servers on the same machine at the same time, so every
benchmark starts its own PostgreSQL (pgserver) and moto server and never reuses theirs.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = [
    "BENCH_ENV",
    "PYCACHE_DIR",
    "use_compiled_bytecode",
    "warm_bytecode",
    "Stack",
    "create_database",
    "embedded_stack",
    "private_dir",
    "set_env",
]

REGION = "ap-northeast-1"
BENCH_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_REGION": REGION,
    "AWS_DEFAULT_REGION": REGION,
    "AUTH_MODE": "none",
    "EMBEDDING_PROVIDER": "local",
    "EMBEDDING_DIMENSIONS": "384",
    "LOG_LEVEL": "WARNING",
}


PYCACHE_DIR = Path(tempfile.gettempdir()) / "dpb-pycache"


def use_compiled_bytecode() -> str:
    """Let this process and its children cache bytecode in a private folder.

    The service images compile bytecode at build time (``UV_COMPILE_BYTECODE=1``). This
    machine's shell sets ``PYTHONDONTWRITEBYTECODE=1`` and the shared virtualenv holds no
    ``.pyc`` for some packages (PyMuPDF's 3.6 MB of generated Python among them), so
    without this every fresh interpreter — each extraction child included — would compile
    them from source, seconds that production never pays. The cache lives outside the
    repository and the shared virtualenv (``PYTHONPYCACHEPREFIX``).
    """
    import sys

    PYCACHE_DIR.mkdir(exist_ok=True)
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
    os.environ["PYTHONPYCACHEPREFIX"] = str(PYCACHE_DIR)
    sys.dont_write_bytecode = False
    sys.pycache_prefix = str(PYCACHE_DIR)
    return f"compiled, cached in {PYCACHE_DIR} (as in the images: UV_COMPILE_BYTECODE=1)"


def warm_bytecode(*modules: str) -> None:
    """Import ``modules`` once in a fresh interpreter so their bytecode is cached."""
    import subprocess
    import sys

    code = "; ".join(f"import {m}" for m in modules) or "pass"
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)


def set_env(values: dict[str, str]) -> None:
    os.environ.update(values)
    os.environ.pop("AWS_PROFILE", None)
    if values.get("AUTH_MODE") == "none" and "LOCAL_STACK_MARKER" not in os.environ:
        _mark_local_stack()


def _mark_local_stack() -> None:
    """A benchmark is a local stack: it serves the apps itself (in-process, or as its child
    processes) with AUTH_MODE=none, which needs the local stack's marker."""
    import atexit

    from docpipe.common.local_stack import write_marker

    folder = Path(tempfile.mkdtemp(prefix="dpb-stack-"))
    os.environ["LOCAL_STACK_MARKER"] = str(write_marker(folder / "local-stack.marker"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)


@contextlib.contextmanager
def private_dir(prefix: str) -> Iterator[Path]:
    """A short private folder under /tmp (Unix socket paths are capped at ~107 bytes)."""
    path = Path(tempfile.mkdtemp(prefix=f"dpb-{prefix}-", dir="/tmp"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@dataclass
class Stack:
    root: Path
    pg: Any  # docpipe.devstack.embedded.EmbeddedPostgres
    aws: Any | None  # docpipe.devstack.embedded.AwsResources
    moto: Any | None

    def database_env(self, database: str) -> dict[str, str]:
        return {"DATABASE_URL": self.pg.dsn(user=None, database=database)}

    def aws_env(self) -> dict[str, str]:
        if self.aws is None:
            return {}
        return {
            "AWS_ENDPOINT_URL": self.aws.endpoint_url,
            "DOCUMENTS_BUCKET": self.aws.bucket,
            "INGEST_QUEUE_URL": self.aws.queue_url,
        }


async def create_database(stack: Stack, *, database: str, dimensions: int) -> str:
    """Create ``database`` (if needed) with the docpipe schema; returns the services' DSN
    (it names no user: each service connects as its own role; a direct pool names one)."""
    import asyncpg

    from docpipe.common.migrations import apply_migrations

    admin = await asyncpg.connect(stack.pg.admin_dsn)
    try:
        exists = await admin.fetchval("select 1 from pg_database where datname = $1", database)
        if not exists:
            await admin.execute(f'create database "{database}"')
    finally:
        await admin.close()
    conn = await asyncpg.connect(stack.pg.dsn(database=database))
    try:
        await apply_migrations(conn, embedding_dimensions=dimensions)
    finally:
        await conn.close()
    dsn: str = stack.pg.dsn(user=None, database=database)
    return dsn


@contextlib.contextmanager
def embedded_stack(name: str, *, aws: bool = True) -> Iterator[Stack]:
    """PostgreSQL (+ pgvector) and, if asked, moto S3/SQS provisioned like the Pulumi program."""
    import logging

    from docpipe.devstack.embedded import provision_aws, start_moto, start_postgres

    set_env(BENCH_ENV)
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # moto's request log
    with private_dir(name) as root:
        os.environ.setdefault("XDG_RUNTIME_DIR", str(root))
        pg = start_postgres(root / "pg")
        moto = resources = None
        try:
            if aws:
                moto, endpoint = start_moto()
                resources = provision_aws(
                    endpoint_url=endpoint,
                    bucket=f"docpipe-bench-{name}",
                    queue=f"docpipe-bench-{name}-ingest",
                    visibility_timeout=600,
                )
            stack = Stack(root=root, pg=pg, aws=resources, moto=moto)
            set_env(stack.aws_env())
            yield stack
        finally:
            if moto is not None:
                moto.stop()
            pg.stop()
