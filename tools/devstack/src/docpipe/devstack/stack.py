"""``docpipe up``: the whole platform on one machine, in the foreground, with no AWS account.

Starts, in order: PostgreSQL 16 + pgvector (pgserver, data in ``$LOCAL_DATA_DIR/postgres``)
and its migrations; moto's S3/SQS server with the bucket, ingest queue + DLQ; the bucket's
objects restored from ``$LOCAL_DATA_DIR/s3`` *before* the S3 -> SQS notification is
enabled (restoring must not trigger processing); a fresh message for every document left
queued or processing; then the upload service, the query service and the SQS worker as
child processes, and the web console (``console/dist``) on CONSOLE_PORT. Ctrl-C or SIGTERM
stops all of it. ``$LOCAL_DATA_DIR/stack.json``
describes the running stack (URLs, pids) and exists only while it is ready.

Environment: LOCAL_DATA_DIR (.local), CONSOLE_PORT (8000), UPLOAD_PORT (8001), QUERY_PORT
(8002), MOTO_PORT (8003), CORS_ORIGINS (added to the console's origins), LOCAL_WORKERS (1),
SNAPSHOT_INTERVAL (30 s), DOCUMENTS_BUCKET, UPLOADS_PREFIX, EMBEDDING_PROVIDER (local),
EMBEDDING_DIMENSIONS (384 for a new data folder, else the dimension it was created with),
AUTH_MODE (none), LOG_LEVEL; and,
for AUTH_MODE=jwt, JWT_SECRET, JWT_JWKS_URL, JWT_ISSUER, JWT_AUDIENCE, TENANT_CLAIM,
GROUPS_CLAIM, ADMIN_GROUPS (passed through to the services as they are).

Each service connects as its own database role, and only the services this process starts
may use AUTH_MODE=none: it writes ``$LOCAL_DATA_DIR/local-stack.marker`` (its pid, mode
0600) and names it in their LOCAL_STACK_MARKER (docpipe.common.local_stack).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import socket
import sys
import time
import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

import boto3
import httpx

from docpipe.common.local_stack import write_marker
from docpipe.devstack.console import ConsoleServer, console_config
from docpipe.devstack.embedded import (
    DEFAULT_REGION,
    AwsResources,
    EmbeddedPostgres,
    enable_notifications,
    provision_aws,
    start_moto,
    start_postgres,
)
from docpipe.devstack.processes import Child, stop_children
from docpipe.devstack.requeue import requeue_unfinished
from docpipe.devstack.restored_versions import repin_restored_versions
from docpipe.devstack.snapshot import S3Snapshot

__all__ = ["StackConfig", "main", "read_stack_info"]

FAKE_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "docpipe-local",
    "AWS_SECRET_ACCESS_KEY": "docpipe-local",
    "AWS_SESSION_TOKEN": "docpipe-local",
}
MAX_RESTARTS = 5  # in a row, each within STABLE_AFTER seconds of its start
STABLE_AFTER = 60.0
READY_TIMEOUT = 90.0


class _Stop(BaseException):
    """Raised by the signal handler to unwind start-up or the main loop."""


@dataclass(frozen=True)
class StackConfig:
    data_dir: Path
    console_port: int = 8000
    upload_port: int = 8001
    query_port: int = 8002
    moto_port: int = 8003
    workers: int = 1
    snapshot_interval: float = 30.0
    region: str = DEFAULT_REGION
    bucket: str = "docpipe-documents"
    queue: str = "docpipe-ingest"
    uploads_prefix: str = "uploads/"
    service_env: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_env(cls) -> StackConfig:
        env = os.environ
        return cls(
            data_dir=Path(env.get("LOCAL_DATA_DIR", ".local")).resolve(),
            console_port=int(env.get("CONSOLE_PORT", "8000")),
            upload_port=int(env.get("UPLOAD_PORT", "8001")),
            query_port=int(env.get("QUERY_PORT", "8002")),
            moto_port=int(env.get("MOTO_PORT", "8003")),
            workers=int(env.get("LOCAL_WORKERS", "1")),
            snapshot_interval=float(env.get("SNAPSHOT_INTERVAL", "30")),
            dimensions=int(env["EMBEDDING_DIMENSIONS"])
            if env.get("EMBEDDING_DIMENSIONS")
            else None,
            bucket=env.get("DOCUMENTS_BUCKET", "docpipe-documents"),
            uploads_prefix=env.get("UPLOADS_PREFIX", "uploads/"),
            service_env={
                "AUTH_MODE": env.get("AUTH_MODE", "none"),
                "CORS_ORIGINS": env.get("CORS_ORIGINS", ""),
                "EMBEDDING_PROVIDER": env.get("EMBEDDING_PROVIDER", "local"),
                "LOG_LEVEL": env.get("LOG_LEVEL", "INFO"),
                # One person's machine: no uploads-per-minute quota unless asked for (a
                # bulk load of thousands of files would otherwise wait minutes).
                "QUOTA_UPLOADS_PER_MINUTE": env.get("QUOTA_UPLOADS_PER_MINUTE", "0"),
                # The handlers' CloudWatch metric lines (EMF): nothing collects them here.
                "POWERTOOLS_METRICS_DISABLED": env.get("POWERTOOLS_METRICS_DISABLED", "true"),
            },
        )

    #: EMBEDDING_DIMENSIONS when set; else the data folder's (see :func:`_dimensions`).
    dimensions: int | None = None

    @property
    def stack_file(self) -> Path:
        return self.data_dir / "stack.json"

    @property
    def console_origins(self) -> list[str]:
        """The console's origins: browsers may name the loopback address either way."""
        return [f"http://{host}:{self.console_port}" for host in ("127.0.0.1", "localhost")]

    @property
    def cors_origins(self) -> str:
        """CORS_ORIGINS for the services: the console's origins and any configured ones."""
        configured = [o.strip() for o in self.service_env["CORS_ORIGINS"].split(",") if o.strip()]
        if "*" in configured:
            return "*"
        return ",".join(dict.fromkeys([*self.console_origins, *configured]))

    @property
    def marker_file(self) -> Path:
        """Lets the services it starts run with AUTH_MODE=none (docpipe.common.local_stack)."""
        return self.data_dir / "local-stack.marker"


def read_stack_info(data_dir: Path) -> dict[str, Any] | None:
    """The running stack's description, or None when no live stack owns ``data_dir``."""
    path = data_dir / "stack.json"
    try:
        info: dict[str, Any] = json.loads(path.read_text("utf-8"))
        os.kill(int(info["pid"]), 0)
    except (FileNotFoundError, ProcessLookupError, ValueError, KeyError):
        return None
    return info


def _port_in_use(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _prune_dead_handles(pg_dir: Path) -> None:
    """Forget pgserver handles of dead processes (a killed stack), so stop() really stops."""
    path = pg_dir / ".handle_pids.json"
    if not path.exists():
        return
    alive = []
    for pid in json.loads(path.read_text()):
        try:
            os.kill(pid, 0)
            alive.append(pid)
        except ProcessLookupError:
            pass
    path.write_text(json.dumps(alive))


#: Vector size of a new local data folder. The local embedder's vectors are lexical
#: feature hashes of any size; 384 is also all-MiniLM-L6-v2's (EMBEDDING_PROVIDER=
#: sentence-transformers). pgvector's HNSW insertion, the largest cost of ingesting small
#: documents here, takes half the CPU it takes at 1024 (10.5 vs 19.7 ms a chunk, measured:
#: docs/benchmarks.md §7). The AWS stack's size follows its Bedrock model.
LOCAL_DIMENSIONS = 384


async def _migrate(pg: EmbeddedPostgres, wanted: int | None) -> tuple[int, list[str]]:
    """Migrate at the configured size, or the data folder's own, or LOCAL_DIMENSIONS."""
    import asyncpg

    from docpipe.common.migrations import apply_migrations

    conn = await asyncpg.connect(pg.admin_dsn)
    try:
        dimensions = wanted or await _recorded_dimensions(conn) or LOCAL_DIMENSIONS
        return dimensions, await apply_migrations(conn, embedding_dimensions=dimensions)
    finally:
        await conn.close()


async def _recorded_dimensions(conn: Any) -> int | None:
    """The vector size an existing data folder was created with (None when new)."""
    if not await conn.fetchval("select to_regclass('schema_migrations') is not null"):
        return None
    value = await conn.fetchval("select embedding_dimensions from schema_migrations limit 1")
    return int(value) if value is not None else None


class LocalStack:
    def __init__(self, config: StackConfig) -> None:
        self.config = config
        self.pg: EmbeddedPostgres | None = None
        self.moto: Any = None
        self.aws: AwsResources | None = None
        self.snapshot: S3Snapshot | None = None
        self.children: list[Child] = []
        self.console: ConsoleServer | None = None
        self.stopping = False
        self.marker = config.marker_file
        self.dimensions = config.dimensions or LOCAL_DIMENSIONS

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        if not self.stopping:
            self.stopping = True
            raise _Stop

    def run(self) -> int:
        signal.signal(signal.SIGINT, self._on_signal)
        signal.signal(signal.SIGTERM, self._on_signal)
        try:
            started = time.monotonic()
            self._start()
            self._write_info()
            self._banner(time.monotonic() - started)
            return self._supervise()
        except _Stop:
            return 0
        finally:
            self.stopping = True
            self._shutdown()

    def _start(self) -> None:
        cfg, t0 = self.config, time.monotonic()
        ports = (cfg.console_port, cfg.upload_port, cfg.query_port, cfg.moto_port)
        busy = [p for p in ports if _port_in_use(p)]
        if busy:
            raise SystemExit(
                f"port(s) {busy} in use; set CONSOLE_PORT, UPLOAD_PORT, QUERY_PORT or MOTO_PORT"
            )
        pg_dir = cfg.data_dir / "postgres"
        pg_dir.mkdir(parents=True, exist_ok=True)
        _prune_dead_handles(pg_dir)
        # moto takes seconds to import: let it boot while postgres starts.
        with ThreadPoolExecutor(1) as pool:
            moto = pool.submit(start_moto, port=cfg.moto_port)
            try:
                self.pg = start_postgres(pg_dir)
            finally:
                self.moto, endpoint = moto.result()
        self.dimensions, applied = asyncio.run(_migrate(self.pg, cfg.dimensions))
        print(
            f"postgres ready ({time.monotonic() - t0:.1f}s); migrations: {applied or 'none'};"
            f" {self.dimensions}-dimension vectors",
            flush=True,
        )

        self.aws = provision_aws(
            endpoint_url=endpoint,
            bucket=cfg.bucket,
            queue=cfg.queue,
            uploads_prefix=cfg.uploads_prefix,
            region=cfg.region,
            notifications=False,
        )
        s3, sqs = self._client("s3"), self._client("sqs")
        self.snapshot = S3Snapshot(bucket=cfg.bucket, root=cfg.data_dir / "s3")
        restored = self.snapshot.restore()
        # before anything reads them: restored objects have new version ids
        asyncio.run(repin_restored_versions(admin_dsn=self.pg.admin_dsn, versions=restored))
        enable_notifications(
            s3=s3,
            sqs=sqs,
            bucket=cfg.bucket,
            queue_url=self.aws.queue_url,
            uploads_prefix=cfg.uploads_prefix,
        )
        requeued = asyncio.run(
            requeue_unfinished(
                admin_dsn=self.pg.admin_dsn,
                s3=s3,
                sqs=sqs,
                bucket=cfg.bucket,
                queue_url=self.aws.queue_url,
            )
        )
        print(
            f"s3/sqs ready ({time.monotonic() - t0:.1f}s); {len(restored)} object(s) restored,"
            f" {requeued} document(s) re-queued",
            flush=True,
        )

        write_marker(self.marker)
        env = self._service_env()
        python = sys.executable
        uvicorn = [python, "-m", "uvicorn", "--host", "127.0.0.1", "--no-access-log"]
        self.children = [
            Child(
                "upload", [*uvicorn, "--port", str(cfg.upload_port), "docpipe.upload.main:app"], env
            ),
            Child(
                "query", [*uvicorn, "--port", str(cfg.query_port), "docpipe.query.main:app"], env
            ),
        ] + [
            Child(f"worker-{i + 1}", [python, "-m", "docpipe.devstack.worker"], env)
            for i in range(cfg.workers)
        ]
        for child in self.children:
            child.start()
        self._wait_ready()
        self._start_console()

    def _start_console(self) -> None:
        assert self.aws is not None
        cfg = self.config
        upload, query = (f"http://127.0.0.1:{p}" for p in (cfg.upload_port, cfg.query_port))
        self.console = ConsoleServer(
            port=cfg.console_port,
            config=console_config(
                upload_url=upload, query_url=query, auth_mode=cfg.service_env["AUTH_MODE"]
            ),
            # the services, and S3 for presigned uploads straight from the browser
            connect=[upload, query, self.aws.endpoint_url],
        )
        self.console.start()

    def _client(self, service: str) -> Any:
        assert self.aws is not None
        return boto3.client(
            service, endpoint_url=self.aws.endpoint_url, region_name=self.config.region
        )

    def _service_env(self) -> dict[str, str]:
        assert self.pg is not None and self.aws is not None
        env = {
            k: v
            for k, v in os.environ.items()
            if k not in {"AWS_PROFILE", "DATABASE_SECRET_ARN", "AWS_LAMBDA_FUNCTION_NAME"}
        }
        env.update(FAKE_CREDENTIALS)
        env.update(self.config.service_env)
        env["CORS_ORIGINS"] = self.config.cors_origins
        env.pop("LOCAL_STACK_MARKER", None)
        env["EMBEDDING_DIMENSIONS"] = str(self.dimensions)
        env.update(
            {
                # Names no user: each service connects as its own role (docpipe_upload, …).
                "DATABASE_URL": self.pg.services_dsn,
                "LOCAL_STACK_MARKER": str(self.marker),
                "AWS_ENDPOINT_URL": self.aws.endpoint_url,
                "AWS_REGION": self.config.region,
                "AWS_DEFAULT_REGION": self.config.region,
                "DOCUMENTS_BUCKET": self.aws.bucket,
                "UPLOADS_PREFIX": self.config.uploads_prefix,
                "INGEST_QUEUE_URL": self.aws.queue_url,
                "PYTHONUNBUFFERED": "1",
            }
        )
        return env

    def _wait_ready(self) -> None:
        urls = [
            f"http://127.0.0.1:{p}/healthz"
            for p in (self.config.upload_port, self.config.query_port)
        ]
        deadline = time.monotonic() + READY_TIMEOUT
        with httpx.Client(timeout=2.0) as http:
            while urls:
                for child in self.children:
                    if (code := child.exit_code()) is not None:
                        raise SystemExit(f"{child.name} exited with code {code} during start-up")
                if time.monotonic() > deadline:
                    raise SystemExit(f"not healthy after {READY_TIMEOUT:.0f}s: {urls}")
                try:
                    if http.get(urls[0]).status_code == 200:
                        urls.pop(0)
                        continue
                except httpx.TransportError:
                    pass
                time.sleep(0.2)

    def _write_info(self) -> None:
        assert self.pg is not None and self.aws is not None
        cfg = self.config
        info = {
            "pid": os.getpid(),
            "ready": True,
            "console_url": f"http://127.0.0.1:{cfg.console_port}",
            "upload_url": f"http://127.0.0.1:{cfg.upload_port}",
            "query_url": f"http://127.0.0.1:{cfg.query_port}",
            "aws_endpoint_url": self.aws.endpoint_url,
            "region": cfg.region,
            "bucket": self.aws.bucket,
            "queue_url": self.aws.queue_url,
            "dlq_url": self.aws.dlq_url,
            "database_url": self.pg.admin_dsn,
            "postgres_pid": self.pg.server.get_pid(),
            "children": {c.name: c.pid for c in self.children},
        }
        tmp = cfg.stack_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(info, indent=2), "utf-8")
        os.replace(tmp, cfg.stack_file)

    def _banner(self, seconds: float) -> None:
        assert self.pg is not None and self.aws is not None
        cfg = self.config
        print(
            f"\ndocpipe local stack ready in {seconds:.1f}s\n"
            f"  console   http://127.0.0.1:{cfg.console_port}   (web console)\n"
            f"  upload    http://127.0.0.1:{cfg.upload_port}   (OpenAPI: /docs)\n"
            f"  query     http://127.0.0.1:{cfg.query_port}   (OpenAPI: /docs)\n"
            f"  s3/sqs    {self.aws.endpoint_url}   bucket {self.aws.bucket},"
            f" queue {cfg.queue} (+ -dlq)\n"
            f"  postgres  {self.pg.admin_dsn}\n"
            f"  data      {cfg.data_dir}\n"
            "Try: docpipe upload FILE.pdf   ·   Ctrl-C stops everything.\n",
            flush=True,
        )

    def _supervise(self) -> int:
        last_snapshot = time.monotonic()
        while True:
            time.sleep(1.0)
            for child in self.children:
                if (code := child.exit_code()) is None:
                    continue
                if time.monotonic() - child.started_at > STABLE_AFTER:
                    child.restarts = 0  # it ran fine for a while: not a crash loop
                if child.restarts >= MAX_RESTARTS:
                    print(f"{child.name} keeps exiting (code {code}); stopping", flush=True)
                    return 1
                child.restarts += 1
                print(f"{child.name} exited with code {code}; restarting", flush=True)
                child.start()
                self._write_info()
            if time.monotonic() - last_snapshot >= self.config.snapshot_interval:
                self._save_snapshot()
                last_snapshot = time.monotonic()

    def _save_snapshot(self) -> None:
        if self.snapshot is None:
            return
        try:
            self.snapshot.save()
        except Exception as exc:  # a failed snapshot must not take the stack down
            print(f"s3 snapshot failed: {exc!r}", flush=True)

    def _shutdown(self) -> None:
        print("stopping docpipe local stack...", flush=True)
        self.config.stack_file.unlink(missing_ok=True)
        if self.console is not None:
            self.console.stop()
        self.marker.unlink(missing_ok=True)
        stop_children(self.children)
        self._save_snapshot()
        if self.moto is not None:
            self.moto.stop()
        if self.pg is not None:
            self.pg.stop()
        print("stopped", flush=True)


def main() -> int:
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # moto's per-request lines
    warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR")  # pgserver's platformdirs
    config = StackConfig.from_env()
    config.data_dir.mkdir(parents=True, exist_ok=True)
    if (info := read_stack_info(config.data_dir)) is not None:
        print(
            f"a docpipe stack (pid {info['pid']}) already uses {config.data_dir}", file=sys.stderr
        )
        return 1
    os.environ.update(FAKE_CREDENTIALS)  # this process's own boto3 clients talk to moto only
    os.environ.pop("AWS_PROFILE", None)
    return LocalStack(config).run()


if __name__ == "__main__":
    sys.exit(main())
