"""Upload rules: every request the upload service must refuse is refused with the right
status, and leaves nothing behind — no document row and no object version."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Any

import asyncpg
import httpx
import jwt
import pytest

from docpipe.common.keys import tenant_prefix
from docpipe.devstack.embedded import AwsResources, EmbeddedPostgres
from docpipe.testkit.invariants import object_versions
from docpipe.testkit.s3_post_policy import policy_violation
from docpipe.testkit.tokens import ISSUER
from docpipe.upload.config import UploadSettings
from docpipe.upload.main import create_app

KIB = 1024
MAX_FILE = 64 * KIB
MAX_BODY = 256 * KIB
TEXT = b"Leave requests need approval.\n" * 20
PROBLEM_JSON = "application/problem+json"
SECRET = "reliability-upload-rules-secret-0123456789"

Files = list[tuple[str, tuple[str, bytes, str]]]


def _file(name: str, data: bytes, content_type: str = "application/pdf") -> Files:
    return [("file", (name, data, content_type))]


def _raw_named(filename: str, data: bytes = TEXT) -> dict[str, Any]:
    """A multipart body written by hand: httpx would percent-encode control characters."""
    body = (
        b'--B0undary\r\nContent-Disposition: form-data; name="file"; filename="'
        + filename.encode()
        + b'"\r\nContent-Type: text/plain\r\n\r\n'
        + data
        + b"\r\n--B0undary--\r\n"
    )
    return {"content": body, "headers": {"content-type": "multipart/form-data; boundary=B0undary"}}


# name -> (multipart parts or raw request kwargs, expected status)
MULTIPART_CASES: dict[str, tuple[dict[str, Any], int]] = {
    "body-over-api-cap": ({"files": _file("big.txt", b"a " * (MAX_BODY // 2 + 10))}, 413),
    "file-over-file-cap": ({"files": _file("big.txt", b"a " * (MAX_FILE // 2 + 10))}, 413),
    "many-files-over-body-cap": (
        {"files": [("file", (f"{i}.txt", b"b " * 30_000, "text/plain")) for i in range(5)]},
        413,
    ),
    "png-named-pdf": ({"files": _file("scan.pdf", b"\x89PNG\r\n\x1a\n" + bytes(300))}, 415),
    "zip-named-pdf": ({"files": _file("a.pdf", b"PK\x03\x04\x14\x00" + bytes(300))}, 415),
    "elf-named-txt": ({"files": _file("a.txt", b"\x7fELF\x02\x01\x01" + bytes(300))}, 415),
    "latin1-text": ({"files": _file("a.txt", "café résumé".encode("latin-1") * 30)}, 415),
    "utf16-without-bom": ({"files": _file("a.txt", "leave policy".encode("utf-16-le") * 9)}, 415),
    "nul-bytes-in-text": ({"files": _file("a.txt", b"text\x00with nul " * 20)}, 415),
    "empty-file": ({"files": _file("empty.pdf", b"")}, 422),
    "traversal-only-name": (_raw_named("../../"), 422),
    "backslash-traversal-name": (_raw_named("..\\..\\"), 422),
    "control-chars-name": (_raw_named("\x01\x02\x1f\x7f"), 422),
    "dot-dot-name": (_raw_named(".."), 422),
    "dots-and-slashes-name": (_raw_named("./.././"), 422),
    "bidi-only-name": (_raw_named("\u202e\u200f\u2066"), 422),
    "too-many-files": (
        {"files": [("file", (f"{i}.txt", b"%d " % i + TEXT, "text/plain")) for i in range(11)]},
        422,
    ),
    "no-file-part": ({"files": [("document", ("a.txt", TEXT, "text/plain"))]}, 400),
    "file-part-is-text": (
        {
            "content": b'--B\r\nContent-Disposition: form-data; name="file"\r\n\r\n'
            b"not a file\r\n--B--\r\n",
            "headers": {"content-type": "multipart/form-data; boundary=B"},
        },
        400,
    ),
    "json-body": ({"json": {"file": "a.txt"}}, 415),
    "no-content-type": ({"content": TEXT}, 415),
    "boundary-mismatch": (
        {
            "content": b'--wrong\r\nContent-Disposition: form-data; name="file"; '
            b'filename="a.txt"\r\n\r\nhello\r\n--wrong--\r\n',
            "headers": {"content-type": "multipart/form-data; boundary=right"},
        },
        400,
    ),
    "one-bad-file-spoils-the-request": (
        {"files": _file("good.txt", TEXT, "text/plain") + _file("bad.pdf", b"\x89PNG" * 50)},
        415,
    ),
}

PRESIGN_CASES: dict[str, tuple[dict[str, Any], int]] = {
    "presign-over-max": (
        {"filename": "a.pdf", "content_type": "application/pdf", "size_bytes": MAX_FILE + 1},
        413,
    ),
    "presign-image-type": (
        {"filename": "a.png", "content_type": "image/png", "size_bytes": 9},
        415,
    ),
    "presign-zero-size": (
        {"filename": "a.pdf", "content_type": "application/pdf", "size_bytes": 0},
        422,
    ),
    "presign-negative-size": (
        {"filename": "a.pdf", "content_type": "application/pdf", "size_bytes": -1},
        422,
    ),
    "presign-traversal-name": (
        {"filename": "../../", "content_type": "text/plain", "size_bytes": 9},
        422,
    ),
    "presign-control-name": (
        {"filename": "\x00\x07", "content_type": "text/plain", "size_bytes": 9},
        422,
    ),
    "presign-missing-size": ({"filename": "a.txt", "content_type": "text/plain"}, 422),
}


@pytest.fixture
async def upload(
    migrated: EmbeddedPostgres, rel_aws: AwsResources
) -> AsyncIterator[tuple[httpx.AsyncClient, UploadSettings]]:
    settings = UploadSettings(  # type: ignore[call-arg]
        auth_mode="jwt",
        jwt_secret=SECRET,
        documents_bucket=rel_aws.bucket,
        ingest_queue_url=rel_aws.queue_url,
        max_upload_bytes=MAX_FILE,
        max_api_upload_bytes=MAX_BODY,
    )
    tenant = f"rules-{uuid.uuid4().hex[:10]}"
    claims = {"tenant_id": tenant, "iss": ISSUER, "exp": int(time.time()) + 600}
    headers = {"Authorization": f"Bearer {jwt.encode(claims, SECRET, algorithm='HS256')}"}
    transport = httpx.ASGITransport(app=create_app(settings))
    async with httpx.AsyncClient(
        transport=transport, base_url="http://upload", headers=headers
    ) as client:
        client.tenant = tenant  # type: ignore[attr-defined]
        yield client, settings


async def _nothing_stored(
    admin: asyncpg.Connection, s3: Any, bucket: str, client: httpx.AsyncClient
) -> None:
    """The caller's tenant has no document row and no object version."""
    tenant = client.tenant  # type: ignore[attr-defined]
    rows = await admin.fetchval("select count(*) from documents where tenant_id = $1", tenant)
    prefix = tenant_prefix(uploads_prefix="uploads/", tenant_id=tenant)
    assert rows == 0
    assert object_versions(s3, bucket=bucket, prefix=prefix) == {}


@pytest.mark.parametrize("case", sorted(MULTIPART_CASES))
async def test_multipart_upload_is_refused_and_nothing_stored(
    case: str,
    upload: tuple[httpx.AsyncClient, UploadSettings],
    admin_conn: asyncpg.Connection,
    s3: Any,
    rel_aws: AwsResources,
) -> None:
    client, _ = upload
    kwargs, status = MULTIPART_CASES[case]
    response = await client.post("/v1/documents", **kwargs)
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM_JSON
    assert response.json()["status"] == status
    await _nothing_stored(admin_conn, s3, rel_aws.bucket, client)


@pytest.mark.parametrize("case", sorted(PRESIGN_CASES))
async def test_presign_request_is_refused_and_nothing_stored(
    case: str,
    upload: tuple[httpx.AsyncClient, UploadSettings],
    admin_conn: asyncpg.Connection,
    s3: Any,
    rel_aws: AwsResources,
) -> None:
    client, _ = upload
    body, status = PRESIGN_CASES[case]
    response = await client.post("/v1/uploads", json=body)
    assert response.status_code == status, response.text
    await _nothing_stored(admin_conn, s3, rel_aws.bucket, client)


async def test_presigned_post_outside_its_policy_is_refused_by_s3(
    upload: tuple[httpx.AsyncClient, UploadSettings], s3: Any, rel_aws: AwsResources
) -> None:
    """moto stores any POST, so S3's policy evaluation is reproduced (s3_post_policy)."""
    client, settings = upload
    response = await client.post(
        "/v1/uploads",
        json={"filename": "big.pdf", "content_type": "application/pdf", "size_bytes": 5000},
    )
    assert response.status_code == 201, response.text
    form = response.json()["upload"]
    fields: dict[str, str] = form["fields"]
    key = fields["key"]
    check = {"bucket": rel_aws.bucket, "secret_key": "testing"}
    victim = tenant_prefix(uploads_prefix="uploads/", tenant_id="victim")
    expires_at = datetime.fromisoformat(form["expires_at"])
    refused = {
        "other-tenant-prefix": policy_violation(
            fields | {"key": f"{victim}{uuid.uuid4()}"}, file_size=10, **check
        ),
        "other-document-same-tenant": policy_violation(
            fields | {"key": f"{key.rsplit('/', 1)[0]}/{uuid.uuid4()}"}, file_size=10, **check
        ),
        "outside-uploads-prefix": policy_violation(
            fields | {"key": "public/index.html"}, file_size=10, **check
        ),
        "one-byte-over-declared-size": policy_violation(fields, file_size=5001, **check),
        "empty-file": policy_violation(fields, file_size=0, **check),
        "expired-policy": policy_violation(
            fields, file_size=10, now=expires_at + timedelta(seconds=1), **check
        ),
        "metadata-tenant-swapped": policy_violation(
            fields | {"x-amz-meta-tenant": "victim"}, file_size=10, **check
        ),
        "extra-field": policy_violation(
            fields | {"x-amz-meta-extra": "1", "acl": "public-read"}, file_size=10, **check
        ),
        "forged-signature": policy_violation(
            fields, file_size=10, bucket=rel_aws.bucket, secret_key="not-the-key"
        ),
    }
    assert policy_violation(fields, file_size=5000, **check) is None  # the form itself works
    assert [name for name, reason in refused.items() if not reason] == []
    assert object_versions(s3, bucket=rel_aws.bucket, prefix=key) == {}  # nothing posted
