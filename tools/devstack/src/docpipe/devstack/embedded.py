"""The embedded stand-ins for AWS used by the local stack and the tests.

- PostgreSQL 16 + pgvector from ``pgserver`` (a real server in a data folder).
- S3, SQS and Secrets Manager from ``moto`` in server mode (real HTTP endpoints, including
  S3 -> SQS event notifications), provisioned the way the Pulumi program provisions AWS:
  a versioned bucket, an ingest queue with a dead-letter queue, and the uploads-prefix
  notification.
"""

from __future__ import annotations

import json
import os
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

__all__ = [
    "AwsResources",
    "EmbeddedPostgres",
    "free_port",
    "provision_aws",
    "start_moto",
    "start_postgres",
]

DEFAULT_REGION = "ap-northeast-1"
MAX_RECEIVE_COUNT = 5


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class EmbeddedPostgres:
    server: Any  # pgserver.PostgresServer
    data_dir: Path
    database: str

    def dsn(self, *, user: str | None = "postgres", database: str | None = None) -> str:
        """A DSN as ``user`` (None: naming no user, see :attr:`services_dsn`)."""
        who = f"{quote(user)}@" if user else ""
        return (
            f"postgresql://{who}/{database or self.database}"
            f"?host={quote(str(self.data_dir), safe='/')}"
        )

    @property
    def admin_dsn(self) -> str:
        return self.dsn(user="postgres")

    @property
    def services_dsn(self) -> str:
        """The DATABASE_URL of the services: it names no user, so each connects as its own
        role (docpipe_upload, docpipe_query, docpipe_processor: not owners, no BYPASSRLS,
        row-level security applies)."""
        return self.dsn(user=None)

    def role_dsn(self, service: str, *, database: str | None = None) -> str:
        """A DSN as ``service``'s own role (``upload``, ``query``, ``processor``)."""
        from docpipe.common.migrations import SERVICE_ROLES

        return self.dsn(user=SERVICE_ROLES[service], database=database)

    def stop(self) -> None:
        self.server.cleanup()


def start_postgres(data_dir: Path, *, database: str = "docpipe") -> EmbeddedPostgres:
    """Start (or reuse) a pgserver instance in ``data_dir`` and ensure ``database`` exists."""
    from pgserver.postgres_server import get_server

    os.environ.setdefault("XDG_RUNTIME_DIR", str(data_dir.parent))
    data_dir.mkdir(parents=True, exist_ok=True)
    server = get_server(data_dir, cleanup_mode="stop")
    exists = server.psql(f"select 1 from pg_database where datname = '{database}';")
    if "(1 row)" not in exists:
        server.psql(f'create database "{database}";')
    return EmbeddedPostgres(server=server, data_dir=data_dir, database=database)


def start_moto(*, port: int | None = None) -> tuple[Any, str]:
    """A moto server on 127.0.0.1; returns (server, endpoint_url)."""
    from moto.server import ThreadedMotoServer

    port = port or free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    return server, f"http://127.0.0.1:{port}"


@dataclass(frozen=True)
class AwsResources:
    endpoint_url: str
    bucket: str
    queue_url: str
    dlq_url: str


def provision_aws(
    *,
    endpoint_url: str,
    bucket: str,
    queue: str,
    uploads_prefix: str = "uploads/",
    region: str = DEFAULT_REGION,
    visibility_timeout: int = 60,
    notifications: bool = True,
) -> AwsResources:
    """Create the bucket, queue + DLQ and S3 -> SQS notification (idempotent)."""
    import boto3

    kwargs: dict[str, Any] = {"endpoint_url": endpoint_url, "region_name": region}
    s3, sqs = boto3.client("s3", **kwargs), boto3.client("sqs", **kwargs)
    try:
        s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": region})
    except s3.exceptions.BucketAlreadyOwnedByYou:
        pass
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    dlq_url = sqs.create_queue(
        QueueName=f"{queue}-dlq", Attributes={"MessageRetentionPeriod": "1209600"}
    )["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    queue_url = sqs.create_queue(
        QueueName=queue,
        Attributes={
            "VisibilityTimeout": str(visibility_timeout),
            "RedrivePolicy": json.dumps(
                {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": str(MAX_RECEIVE_COUNT)}
            ),
        },
    )["QueueUrl"]
    if notifications:
        enable_notifications(
            s3=s3, sqs=sqs, bucket=bucket, queue_url=queue_url, uploads_prefix=uploads_prefix
        )
    return AwsResources(
        endpoint_url=endpoint_url, bucket=bucket, queue_url=queue_url, dlq_url=dlq_url
    )


def enable_notifications(
    *, s3: Any, sqs: Any, bucket: str, queue_url: str, uploads_prefix: str
) -> None:
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])[
        "Attributes"
    ]["QueueArn"]
    s3.put_bucket_notification_configuration(
        Bucket=bucket,
        NotificationConfiguration={
            "QueueConfigurations": [
                {
                    "QueueArn": queue_arn,
                    "Events": ["s3:ObjectCreated:*"],
                    "Filter": {
                        "Key": {"FilterRules": [{"Name": "prefix", "Value": uploads_prefix}]}
                    },
                }
            ]
        },
    )
