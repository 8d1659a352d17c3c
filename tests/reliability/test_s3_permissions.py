"""S3 as it behaves under IAM: the services' real role policies against a moto server that
enforces them (``docpipe.testkit.iam_moto``), every request signed and authorised over HTTP.

A read S3 refuses is one of two things, and the services must tell them apart:
- the object is gone (404 ``NoSuchKey``): the document's problem, ``failed`` / 409;
- the role may not read it (403 ``AccessDenied``): a deployment problem, retried / 503.

AWS answers a missing key with 403, not 404, when the caller lacks ``s3:ListBucket``
(https://docs.aws.amazon.com/AmazonS3/latest/API/API_GetObject.html and
API_HeadObject.html, "Permissions"); moto does not model that (see
:func:`test_moto_answers_404_where_aws_answers_403_without_list`), which is why the roles'
list grant is also held by the ``s3-read-listing`` guardrail (tests/infra).
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import asyncpg
import httpx
import jwt
import pytest
from botocore.exceptions import ClientError

from docpipe.common.aws import client
from docpipe.common.exceptions import ObjectAccessDenied, ObjectMissing
from docpipe.common.settings import CommonSettings
from docpipe.common.storage import delete_object_version, get_object, head_object
from docpipe.devstack.embedded import EmbeddedPostgres
from docpipe.infra.policies import Statement, processor_statements, upload_statements
from docpipe.processor import handler as processor
from docpipe.processor.config import ProcessorSettings
from docpipe.testkit.documents import StoredDoc, put_document
from docpipe.testkit.iam_moto import (
    ACCOUNT,
    Credentials,
    IamMoto,
    services_sign_as,
    start_iam_moto,
)
from docpipe.testkit.invariants import assert_nothing_lost
from docpipe.testkit.tokens import ISSUER
from docpipe.upload.config import UploadSettings
from docpipe.upload.main import create_app
from tests.reliability.conftest import batch, doc_row, failed_ids, good_text, reload

BUCKET = "docpipe-iam"
PREFIX = "uploads/"
SECRET = "s3-permissions-test-secret-0123456789"


@dataclass(frozen=True)
class IamAws:
    server: IamMoto
    s3: Any  # the administrator's client: documents are put and deleted with it
    queue_url: str
    queue_arn: str

    @property
    def bucket_arn(self) -> str:
        return f"arn:aws:s3:::{BUCKET}"

    def processor_role(self, *, without: tuple[str, ...] = ()) -> Credentials:
        """The processor's real policy (less the statements named in ``without``)."""
        statements = processor_statements(
            bucket_arn=self.bucket_arn,
            uploads_prefix=PREFIX,
            secret_arn=f"arn:aws:secretsmanager:ap-northeast-1:{ACCOUNT}:secret:app-AbCdEf",
            queue_arn=self.queue_arn,
            embedding_invoke=[],  # S3 is what these tests are about
        )
        return self.server.assume_role("processor", _less(statements, without))

    def upload_role(self, *, without: tuple[str, ...] = ()) -> Credentials:
        """The upload service's real policy (less the statements named in ``without``)."""
        statements = upload_statements(
            bucket_arn=self.bucket_arn,
            uploads_prefix=PREFIX,
            secret_arn=f"arn:aws:secretsmanager:ap-northeast-1:{ACCOUNT}:secret:app-AbCdEf",
            queue_arn=self.queue_arn,
        )
        return self.server.assume_role("upload", _less(statements, without))


def _less(statements: list[Statement], sids: tuple[str, ...]) -> list[Statement]:
    assert set(sids) <= {s["Sid"] for s in statements}, "no such statement to remove"
    return [s for s in statements if s["Sid"] not in sids]


@pytest.fixture(scope="module")
def iam_aws() -> Iterator[IamAws]:
    server = start_iam_moto()
    try:
        s3, sqs = server.client("s3"), server.client("sqs")
        s3.create_bucket(
            Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "ap-northeast-1"}
        )
        s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
        queue_url = sqs.create_queue(QueueName="docpipe-iam-ingest")["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])[
            "Attributes"
        ]["QueueArn"]
        yield IamAws(server=server, s3=s3, queue_url=queue_url, queue_arn=queue_arn)
    finally:
        server.stop()


@pytest.fixture
def storage_settings(iam_aws: IamAws) -> CommonSettings:
    """Only what storage reads (no database: these tests never open one)."""
    return CommonSettings.model_construct(
        aws_endpoint_url=iam_aws.server.endpoint, documents_bucket=BUCKET
    )


def _put(iam_aws: IamAws, key: str, data: bytes = b"hello") -> None:
    iam_aws.s3.put_object(Bucket=BUCKET, Key=key, Body=data)


def _key() -> str:
    return f"{PREFIX}tenant-iam/{uuid.uuid4()}/doc.txt"


def _cause(exc: BaseException) -> tuple[str, int]:
    """The botocore error underneath a storage error: (Code, HTTP status)."""
    cause = exc.__cause__
    assert isinstance(cause, ClientError)
    return cause.response["Error"]["Code"], cause.response["ResponseMetadata"]["HTTPStatusCode"]


def _no_identifiers(text: str) -> bool:
    return "arn:" not in text and ACCOUNT not in text


# --------------------------------------------------------------------------- storage


async def test_the_roles_read_their_objects_and_see_a_deleted_one_as_missing(
    iam_aws: IamAws, storage_settings: CommonSettings
) -> None:
    key, gone = _key(), _key()
    _put(iam_aws, key, b"readable")
    for credentials in (iam_aws.processor_role(), iam_aws.upload_role()):
        async with services_sign_as(credentials):
            info, data = await get_object(settings=storage_settings, key=key, max_bytes=100)
            assert data == b"readable" and info.version_id
            assert (await head_object(settings=storage_settings, key=key)).size == 8
            with pytest.raises(ObjectMissing) as missing_get:
                await get_object(settings=storage_settings, key=gone, max_bytes=100)
            assert _cause(missing_get.value) == ("NoSuchKey", 404)
            with pytest.raises(ObjectMissing) as missing_head:
                await head_object(settings=storage_settings, key=gone)
            assert _cause(missing_head.value) == ("404", 404)


async def test_the_processor_may_delete_an_unowned_version_and_nothing_else(
    iam_aws: IamAws, storage_settings: CommonSettings
) -> None:
    """A presigned POST used again leaves a version no document owns; the processor
    deletes it (pipeline._remove_unowned) under its real policy, and may not delete
    outside the uploads prefix, nor hide the current object behind a delete marker."""
    key = _key()
    _put(iam_aws, key, b"the document's version")
    stray = iam_aws.s3.put_object(Bucket=BUCKET, Key=key, Body=b"posted again")["VersionId"]
    async with services_sign_as(iam_aws.processor_role(without=("DeleteUnownedVersions",))):
        with pytest.raises(ClientError, match="AccessDenied"):  # the control
            await delete_object_version(settings=storage_settings, key=key, version_id=stray)
    async with services_sign_as(iam_aws.processor_role()):
        await delete_object_version(settings=storage_settings, key=key, version_id=stray)
        _, data = await get_object(settings=storage_settings, key=key, max_bytes=100)
        assert data == b"the document's version"
        elsewhere = f"exports/{uuid.uuid4()}.txt"
        _put(iam_aws, elsewhere)
        versions = iam_aws.s3.list_object_versions(Bucket=BUCKET, Prefix=elsewhere)
        with pytest.raises(ClientError, match="AccessDenied"):
            await delete_object_version(
                settings=storage_settings,
                key=elsewhere,
                version_id=versions["Versions"][0]["VersionId"],
            )
        s3 = await client("s3", storage_settings)
        with pytest.raises(ClientError, match="AccessDenied"):
            await s3.delete_object(Bucket=BUCKET, Key=key)  # a delete marker: refused


async def test_aws_answer_for_a_missing_key_without_list_is_access_denied(
    iam_aws: IamAws, storage_settings: CommonSettings
) -> None:
    """What AWS answers for a missing key to a role without ``s3:ListBucket``: 403, with
    Code ``AccessDenied`` on GET and a bare ``403`` on HEAD (no body). moto answers exactly
    that to a role that may not read the key at all, so the shapes here are real ones off
    the wire, and the storage layer turns each into :class:`ObjectAccessDenied`, present
    key or not, with nothing of the role or account in the text a user would see.
    """
    present = _key()
    _put(iam_aws, present)
    cannot_read = iam_aws.processor_role(without=("ReadUploads",))
    async with services_sign_as(cannot_read):
        for key in (present, _key()):
            with pytest.raises(ObjectAccessDenied) as denied_get:
                await get_object(settings=storage_settings, key=key, max_bytes=100)
            assert _cause(denied_get.value) == ("AccessDenied", 403)
            assert denied_get.value.code == "AccessDenied"
            # AWS's message may name the role's ARN: kept for the logs, not in str().
            assert denied_get.value.aws_message == "Access Denied"
            assert "Access Denied" not in str(denied_get.value)
            assert _no_identifiers(str(denied_get.value))
            with pytest.raises(ObjectAccessDenied) as denied_head:
                await head_object(settings=storage_settings, key=key)
            assert _cause(denied_head.value) == ("403", 403)


async def test_reads_outside_the_uploads_prefix_are_denied(
    iam_aws: IamAws, storage_settings: CommonSettings
) -> None:
    elsewhere = f"exports/{uuid.uuid4()}.txt"
    _put(iam_aws, elsewhere)
    async with services_sign_as(iam_aws.processor_role()):
        with pytest.raises(ObjectAccessDenied):
            await get_object(settings=storage_settings, key=elsewhere, max_bytes=100)


async def test_moto_answers_404_where_aws_answers_403_without_list(
    iam_aws: IamAws, storage_settings: CommonSettings
) -> None:
    """An emulator difference, pinned so it is noticed if moto changes.

    With ``s3:GetObject`` but no ``s3:ListBucket``, AWS answers a missing key with 403
    AccessDenied (API_GetObject, "Permissions"); moto authorises the action against the
    object ARN, then looks the key up, and answers 404 NoSuchKey. So no moto test can show
    a role losing its list grant: the ``s3-read-listing`` guardrail (tests/infra) does, and
    the 403 shape AWS would send is covered by
    :func:`test_aws_answer_for_a_missing_key_without_list_is_access_denied`.
    """
    without_list = iam_aws.processor_role(without=("ListUploads",))
    async with services_sign_as(without_list):
        with pytest.raises(ObjectMissing) as missing:
            await get_object(settings=storage_settings, key=_key(), max_bytes=100)
    assert _cause(missing.value) == ("NoSuchKey", 404)  # AWS: ("AccessDenied", 403)


# ---------------------------------------------------------------------- processor


@pytest.fixture
def iam_processor(
    processor_env: pytest.MonkeyPatch, iam_aws: IamAws
) -> Iterator[list[logging.LogRecord]]:
    """The processor pointed at the IAM-enforcing server; yields its error log records."""
    processor_env.setenv("AWS_ENDPOINT_URL", iam_aws.server.endpoint)
    processor_env.setenv("DOCUMENTS_BUCKET", BUCKET)
    processor_env.setenv("INGEST_QUEUE_URL", iam_aws.queue_url)
    reload(processor_env)
    handler = _Collect(logging.ERROR)
    logger = logging.getLogger("docpipe.processor")
    logger.addHandler(handler)
    yield handler.records
    logger.removeHandler(handler)


class _Collect(logging.Handler):
    def __init__(self, level: int) -> None:
        super().__init__(level)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


async def _deliver(doc: StoredDoc, *, receive_count: int) -> bool:
    """One SQS delivery of ``doc``'s notification; True when the message is done with."""
    event = batch(BUCKET, [doc], receive_count=receive_count)
    return not failed_ids(event, await processor.handle_event(event))


async def test_processor_fails_a_deleted_document_at_once_under_its_role(
    iam_processor: list[logging.LogRecord],
    iam_aws: IamAws,
    admin_conn: asyncpg.Connection,
    tenant: str,
) -> None:
    gone = await put_document(admin_conn, iam_aws.s3, BUCKET, tenant=tenant, data=good_text("g"))
    kept = await put_document(admin_conn, iam_aws.s3, BUCKET, tenant=tenant, data=good_text("k"))
    iam_aws.s3.delete_object(Bucket=BUCKET, Key=gone.key, VersionId=gone.version)

    async with services_sign_as(iam_aws.processor_role()):
        event = batch(BUCKET, [gone, kept])
        assert failed_ids(event, await processor.handle_event(event)) == []

    row = await doc_row(admin_conn, gone.id)
    assert (row["status"], row["attempts"]) == ("failed", 1)
    assert row["error"] == "the uploaded object no longer exists"
    assert (await doc_row(admin_conn, kept.id))["status"] == "completed"
    assert iam_processor == []
    assert await assert_nothing_lost(admin_conn, iam_aws.s3, bucket=BUCKET, tenants=[tenant]) == 2


async def test_processor_retries_a_denied_read_and_fails_it_only_on_the_last_attempt(
    iam_processor: list[logging.LogRecord],
    iam_aws: IamAws,
    admin_conn: asyncpg.Connection,
    tenant: str,
) -> None:
    doc = await put_document(admin_conn, iam_aws.s3, BUCKET, tenant=tenant, data=good_text("d"))
    max_attempts = ProcessorSettings().max_attempts

    async with services_sign_as(iam_aws.processor_role(without=("ReadUploads",))):
        for attempt in range(1, max_attempts):
            assert not await _deliver(doc, receive_count=attempt)  # back on the queue
            row = await doc_row(admin_conn, doc.id)
            assert (row["status"], row["attempts"]) == ("queued", attempt)
            assert row["error"] == (
                "attempt failed, will retry: the document store could not be read; will retry"
            )
            assert _no_identifiers(row["error"])
        assert not await _deliver(doc, receive_count=max_attempts)  # on to the DLQ

    row = await doc_row(admin_conn, doc.id)
    assert (row["status"], row["attempts"]) == ("failed", max_attempts)
    assert row["error"].startswith(f"processing failed after {max_attempts} attempts")
    assert "document store could not be read" in row["error"] and _no_identifiers(row["error"])
    assert "Access Denied" not in row["error"]  # S3's own message stays in the log
    assert len(iam_processor) == max_attempts
    logged = iam_processor[0]
    assert "IAM role" in logged.getMessage() and "s3:GetObject" in logged.getMessage()
    fields = {name: getattr(logged, name, None) for name in ("key", "s3_code", "s3_message")}
    assert fields == {"key": doc.key, "s3_code": "AccessDenied", "s3_message": "Access Denied"}
    assert await assert_nothing_lost(admin_conn, iam_aws.s3, bucket=BUCKET, tenants=[tenant]) == 1


async def test_processor_completes_a_denied_document_once_the_role_is_fixed(
    iam_processor: list[logging.LogRecord],
    iam_aws: IamAws,
    admin_conn: asyncpg.Connection,
    tenant: str,
) -> None:
    doc = await put_document(admin_conn, iam_aws.s3, BUCKET, tenant=tenant, data=good_text("f"))
    async with services_sign_as(iam_aws.processor_role(without=("ReadUploads",))):
        assert not await _deliver(doc, receive_count=1)
    async with services_sign_as(iam_aws.processor_role()):
        assert await _deliver(doc, receive_count=2)
    row = await doc_row(admin_conn, doc.id)
    assert (row["status"], row["attempts"], row["error"]) == ("completed", 2, None)
    assert await assert_nothing_lost(admin_conn, iam_aws.s3, bucket=BUCKET, tenants=[tenant]) == 1


# ------------------------------------------------------------------------- upload


@pytest.fixture
async def upload_api(
    migrated: EmbeddedPostgres, iam_aws: IamAws, tenant: str
) -> AsyncIterator[httpx.AsyncClient]:
    """The upload app on the IAM-enforcing server, as ``tenant``."""
    settings = UploadSettings(  # type: ignore[call-arg]
        auth_mode="jwt", jwt_secret=SECRET, ingest_queue_url=iam_aws.queue_url
    ).model_copy(update={"aws_endpoint_url": iam_aws.server.endpoint, "documents_bucket": BUCKET})
    claims = {"tenant_id": tenant, "sub": "user-1", "iss": ISSUER, "exp": int(time.time()) + 600}
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=create_app(settings)),
        base_url="http://upload.test",
        headers={"Authorization": f"Bearer {jwt.encode(claims, SECRET, algorithm='HS256')}"},
    ) as client:
        yield client


async def _completed(admin: asyncpg.Connection, iam_aws: IamAws, tenant: str) -> StoredDoc:
    doc = await put_document(
        admin, iam_aws.s3, BUCKET, tenant=tenant, data=good_text(uuid.uuid4().hex)
    )
    await admin.execute(
        "update documents set status = 'completed', processed_version = $2, chunk_count = 1,"
        " processed_at = now() where id = $1",
        doc.id,
        doc.version,
    )
    return doc


def _problem(response: httpx.Response, status: int) -> str:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body["status"] == status
    return str(body["detail"])


async def test_reprocess_under_the_upload_role_tells_missing_from_denied(
    upload_api: httpx.AsyncClient,
    iam_aws: IamAws,
    admin_conn: asyncpg.Connection,
    tenant: str,
) -> None:
    present = await _completed(admin_conn, iam_aws, tenant)
    gone = await _completed(admin_conn, iam_aws, tenant)
    iam_aws.s3.delete_object(Bucket=BUCKET, Key=gone.key, VersionId=gone.version)

    async with services_sign_as(iam_aws.upload_role()):
        accepted = await upload_api.post(f"/v1/documents/{present.id}/reprocess")
        assert accepted.status_code == 202, accepted.text  # HeadObject + SendMessage allowed
        missing = await upload_api.post(f"/v1/documents/{gone.id}/reprocess")
        assert "missing" in _problem(missing, 409)

    denied_doc = await _completed(admin_conn, iam_aws, tenant)
    async with services_sign_as(iam_aws.upload_role(without=("UploadsReadWriteDelete",))):
        denied = await upload_api.post(f"/v1/documents/{denied_doc.id}/reprocess")
    detail = _problem(denied, 503)
    assert "denied" in detail and _no_identifiers(detail)
    row = await doc_row(admin_conn, denied_doc.id)
    assert (row["status"], row["processed_version"]) == ("completed", denied_doc.version)
    assert (await doc_row(admin_conn, gone.id))["status"] == "completed"
