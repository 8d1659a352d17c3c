"""Token mutations and tenant attacks against both services (AUTH_MODE=jwt, in-process).

Every bad token gets the same 401 (problem+json, ``WWW-Authenticate: Bearer``) whether the
document it asks for exists or not; a valid token of tenant A gets exactly what a
non-existent id gets when it names tenant B's documents (404 on the upload service, no
results and no citations on the query service). Tenant B, the positive control, sees them.
"""

from __future__ import annotations

import asyncio
import base64
import json
import threading
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from docpipe.devstack.embedded import AwsResources, EmbeddedPostgres
from docpipe.query.config import QuerySettings
from docpipe.query.main import create_app as create_query_app
from docpipe.testkit.pump import pump_queue
from docpipe.testkit.queues import drain
from docpipe.upload.config import UploadSettings
from docpipe.upload.main import create_app as create_upload_app
from tests.reliability.conftest import reload

SECRET = "reliability-auth-secret-0123456789abcdef"
ISSUER = "https://id.docpipe.test/"
AUDIENCE = "docpipe-api"
SECRET_TEXT = "The remote work stipend is 1200 dollars per year for reliability tenants."


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _claims(tenant: str, **override: Any) -> dict[str, Any]:
    now = int(time.time())
    claims = {"sub": "user-1", "tenant_id": tenant, "iss": ISSUER, "aud": AUDIENCE,
              "iat": now, "exp": now + 600}  # fmt: skip
    claims.update(override)
    return {k: v for k, v in claims.items() if v is not None}


def _hs(claims: dict[str, Any], key: str = SECRET, **kw: Any) -> str:
    return jwt.encode(claims, key, algorithm=kw.pop("algorithm", "HS256"), **kw)


def _unsigned(claims: dict[str, Any]) -> str:
    header = _b64(json.dumps({"alg": "none", "typ": "JWT"}).encode())
    return f"{header}.{_b64(json.dumps(claims).encode())}."


def _resigned_with_tampered_tenant(tenant: str) -> str:
    header, _, signature = _hs(_claims(tenant)).split(".")
    body = _b64(json.dumps(_claims("someone-else")).encode())
    return f"{header}.{body}.{signature}"


def hs_mutations(tenant: str) -> dict[str, str | None]:
    """Authorization header values (None: no header) that must all be refused."""
    now = int(time.time())
    bearer = "Bearer "
    return {
        "missing-header": None,
        "empty-bearer": "Bearer ",
        "basic-scheme": "Basic " + _b64(b"user:password"),
        "token-without-scheme": _hs(_claims(tenant)),
        "not-a-jwt": bearer + "not.a.jwt",
        "two-segments": bearer + "abc.def",
        "bad-signature": bearer + _hs(_claims(tenant), key="another-secret-of-enough-length!!"),
        "tampered-payload": bearer + _resigned_with_tampered_tenant(tenant),
        "alg-none": bearer + _unsigned(_claims(tenant)),
        "alg-hs512": bearer + _hs(_claims(tenant), algorithm="HS512"),
        "wrong-issuer": bearer + _hs(_claims(tenant, iss="https://evil.example/")),
        "missing-issuer": bearer + _hs(_claims(tenant, iss=None)),
        "wrong-audience": bearer + _hs(_claims(tenant, aud="someone-elses-api")),
        "expired": bearer + _hs(_claims(tenant, exp=now - 3600)),
        "missing-exp": bearer + _hs(_claims(tenant, exp=None)),
        "not-yet-valid": bearer + _hs(_claims(tenant, nbf=now + 3600)),
        "missing-tenant-and-sub": bearer + _hs(_claims(tenant, tenant_id=None, sub=None)),
        "missing-tenant-sub-present": bearer + _hs(_claims(tenant, tenant_id=None)),
        "lives-for-centuries": bearer + _hs(_claims(tenant, exp=now + 300 * 365 * 86_400)),
        "lives-two-days": bearer + _hs(_claims(tenant, exp=now + 2 * 86_400)),
        "issued-in-the-future": bearer + _hs(_claims(tenant, iat=now + 3600, exp=now + 7200)),
        "short-hs256-key": bearer + _hs(_claims(tenant), key="short"),
        "tenant-int": bearer + _hs(_claims(tenant, tenant_id=12345)),
        "tenant-list": bearer + _hs(_claims(tenant, tenant_id=[tenant])),
        "tenant-object": bearer + _hs(_claims(tenant, tenant_id={"id": tenant})),
        "tenant-empty": bearer + _hs(_claims(tenant, tenant_id="   ")),
        "tenant-control-chars": bearer + _hs(_claims(tenant, tenant_id=tenant + "\n")),
        "tenant-too-long": bearer + _hs(_claims(tenant, tenant_id="t" * 300)),
    }


# ------------------------------------------------------------------------------ apps


@pytest.fixture(scope="module")
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def jwks_url(rsa_key: rsa.RSAPrivateKey) -> Iterator[str]:
    """A local JWKS endpoint publishing one RSA key, kid ``k1``."""
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(rsa_key.public_key()))
    document = json.dumps({"keys": [jwk | {"kid": "k1", "use": "sig", "alg": "RS256"}]})

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            data = document.encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/.well-known/jwks.json"
    server.shutdown()
    server.server_close()


def _common(rel_aws: AwsResources, **extra: Any) -> dict[str, Any]:
    return {"auth_mode": "jwt", "jwt_issuer": ISSUER, "jwt_audience": AUDIENCE,
            "documents_bucket": rel_aws.bucket, **extra}  # fmt: skip


@pytest.fixture
async def clients(
    migrated: EmbeddedPostgres,
    rel_aws: AwsResources,
    jwks_url: str,
    processor_env: pytest.MonkeyPatch,
) -> AsyncIterator[dict[str, httpx.AsyncClient]]:
    """upload/query apps verifying HS256 tokens, and the same two verifying JWKS tokens."""
    apps = {
        "upload": create_upload_app(
            UploadSettings(
                **_common(rel_aws, jwt_secret=SECRET), ingest_queue_url=rel_aws.queue_url
            )
        ),
        "query": create_query_app(QuerySettings(**_common(rel_aws, jwt_secret=SECRET))),
        "upload-jwks": create_upload_app(
            UploadSettings(
                **_common(rel_aws, jwt_jwks_url=jwks_url), ingest_queue_url=rel_aws.queue_url
            )  # fmt: skip
        ),
        "query-jwks": create_query_app(QuerySettings(**_common(rel_aws, jwt_jwks_url=jwks_url))),
    }
    out = {}
    for name, app in apps.items():
        out[name] = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url=f"http://{name}"
        )
    yield out
    for client in out.values():
        await client.aclose()


@pytest.fixture
async def victim(
    clients: dict[str, httpx.AsyncClient],
    rel_aws: AwsResources,
    sqs: Any,
    processor_env: pytest.MonkeyPatch,
) -> tuple[str, str]:
    """Tenant B and one of its documents, processed (it has chunks to leak)."""
    tenant = f"victim-{uuid.uuid4().hex[:8]}"
    reload(processor_env)
    drain(sqs, rel_aws.queue_url)  # earlier scenarios' notifications are not this test's
    response = await clients["upload"].post(
        "/v1/documents",
        headers=_auth(_hs(_claims(tenant))),
        files=[("file", ("stipend.txt", (SECRET_TEXT + "\n") * 5, "text/plain"))],
    )
    assert response.status_code == 202, response.text
    await pump_queue(rel_aws)
    return tenant, response.json()["documents"][0]["id"]


def _auth(token: str | None) -> dict[str, str]:
    return {} if token is None else {"Authorization": f"Bearer {token}"}


Probe = Callable[[httpx.AsyncClient, dict[str, str], str], Any]


async def _upload_get(client: httpx.AsyncClient, headers: dict[str, str], doc: str) -> Any:
    return await client.get(f"/v1/documents/{doc}", headers=headers)


async def _query_search(client: httpx.AsyncClient, headers: dict[str, str], doc: str) -> Any:
    body = {"query": "remote work stipend", "document_ids": [doc]}
    return await client.post("/v1/search", json=body, headers=headers)


PROBES: dict[str, Probe] = {"upload": _upload_get, "query": _query_search}


def _assert_refused(response: httpx.Response, case: str) -> dict[str, Any]:
    assert response.status_code == 401, f"{case}: {response.status_code} {response.text}"
    assert response.headers["content-type"] == "application/problem+json", case
    assert response.headers.get("www-authenticate") == "Bearer", case
    body: dict[str, Any] = response.json()
    return body


# ----------------------------------------------------------------------------- tests


@pytest.mark.parametrize("service", ["upload", "query"])
async def test_every_bad_token_is_401_and_reveals_nothing(
    service: str, clients: dict[str, httpx.AsyncClient], victim: tuple[str, str]
) -> None:
    tenant, existing = victim
    client, probe = clients[service], PROBES[service]
    mutations = hs_mutations(tenant)
    assert len(mutations) >= 12
    for case, header in mutations.items():
        headers = {} if header is None else {"Authorization": header}
        on_existing = _assert_refused(await probe(client, headers, existing), case)
        on_missing = _assert_refused(await probe(client, headers, str(uuid.uuid4())), case)
        assert on_existing == on_missing, case  # existence is not revealed
    ok = await probe(client, _auth(_hs(_claims(tenant))), existing)  # the control
    assert ok.status_code == 200, ok.text


@pytest.mark.parametrize("service", ["upload-jwks", "query-jwks"])
async def test_jwks_tokens_unknown_kid_and_algorithm_confusion(
    service: str,
    clients: dict[str, httpx.AsyncClient],
    victim: tuple[str, str],
    rsa_key: rsa.RSAPrivateKey,
) -> None:
    tenant, existing = victim
    client, probe = clients[service], PROBES[service.split("-")[0]]
    other_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public_pem = rsa_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )

    def rs(claims: dict[str, Any], key: Any = rsa_key, kid: str = "k1") -> str:
        return jwt.encode(claims, key, algorithm="RS256", headers={"kid": kid})

    refused = {
        "unknown-kid": rs(_claims(tenant), kid="k2"),
        "no-kid": jwt.encode(_claims(tenant), rsa_key, algorithm="RS256"),
        "right-kid-wrong-key": rs(_claims(tenant), key=other_key),
        "hs256-signed-with-public-key": _hmac_token(_claims(tenant), public_pem, kid="k1"),
        "rs256-expired": rs(_claims(tenant, exp=int(time.time()) - 3600)),
        "rs256-wrong-audience": rs(_claims(tenant, aud="other")),
        "alg-none-with-kid": _unsigned(_claims(tenant)),
    }
    for case, token in refused.items():
        on_existing = _assert_refused(await probe(client, _auth(token), existing), case)
        on_missing = _assert_refused(await probe(client, _auth(token), str(uuid.uuid4())), case)
        assert on_existing == on_missing, case
    ok = await probe(client, _auth(rs(_claims(tenant))), existing)
    assert ok.status_code == 200, ok.text


def _hmac_token(claims: dict[str, Any], secret: bytes, *, kid: str) -> str:
    """HS256 keyed with the RSA public key: the classic algorithm-confusion forgery."""
    import hashlib
    import hmac

    header = _b64(json.dumps({"alg": "HS256", "typ": "JWT", "kid": kid}).encode())
    body = _b64(json.dumps(claims).encode())
    signature = hmac.new(secret, f"{header}.{body}".encode(), hashlib.sha256).digest()
    return f"{header}.{body}.{_b64(signature)}"


async def test_tenant_a_cannot_see_or_touch_tenant_b_documents(
    clients: dict[str, httpx.AsyncClient], victim: tuple[str, str]
) -> None:
    victim_tenant, target = victim
    attacker = _auth(_hs(_claims(f"attacker-{uuid.uuid4().hex[:8]}")))
    owner = _auth(_hs(_claims(victim_tenant)))
    upload, query = clients["upload"], clients["query"]
    missing = str(uuid.uuid4())

    for method, path in [
        ("GET", "/v1/documents/{id}"),
        ("DELETE", "/v1/documents/{id}"),
        ("POST", "/v1/documents/{id}/reprocess"),
    ]:
        theirs = await upload.request(method, path.format(id=target), headers=attacker)
        nobody = await upload.request(method, path.format(id=missing), headers=attacker)
        assert theirs.status_code == nobody.status_code == 404, (method, theirs.text)
        assert theirs.json()["detail"].replace(target, "X") == nobody.json()["detail"].replace(
            missing, "X"
        )
    listing = await upload.get("/v1/documents", headers=attacker)
    assert listing.status_code == 200 and listing.json()["documents"] == []

    for body in (
        {"query": SECRET_TEXT, "document_ids": [target]},
        {"query": SECRET_TEXT, "top_k": 50},
        {"query": SECRET_TEXT, "mode": "keyword", "document_ids": [target]},
    ):
        found = await query.post("/v1/search", json=body, headers=attacker)
        assert found.status_code == 200 and found.json()["results"] == [], found.text
    answer = await query.post(
        "/v1/answer", json={"query": SECRET_TEXT, "document_ids": [target]}, headers=attacker
    )
    assert answer.status_code == 200 and answer.json()["citations"] == []
    assert "1200" not in answer.json()["answer"]

    # The control: the owner still has the document and finds it (so the test can fail).
    assert (await upload.get(f"/v1/documents/{target}", headers=owner)).status_code == 200
    mine = await query.post("/v1/search", json={"query": SECRET_TEXT}, headers=owner)
    assert [r["document_id"] for r in mine.json()["results"]][:1] == [target]


# ------------------------------------------------------------------ JWKS key rotation


class _Jwks:
    """A JWKS endpoint whose published keys a test changes, counting the reads."""

    def __init__(self) -> None:
        self.keys: dict[str, rsa.RSAPrivateKey] = {}
        self.reads = 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                outer.reads += 1
                jwks = [
                    json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(k.public_key()))
                    | {"kid": kid, "use": "sig", "alg": "RS256"}
                    for kid, k in outer.keys.items()
                ]
                data = json.dumps({"keys": jwks}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/jwks.json"


async def test_a_key_removed_from_the_jwks_stops_being_accepted(
    migrated: EmbeddedPostgres, rel_aws: AwsResources
) -> None:
    """A leaked key is revoked by removing it from the identity provider's JWKS: tokens it
    signs are refused once the keys are read again (JWT_JWKS_REFRESH_SECONDS, at most
    15 minutes), not accepted for the life of the process. Made-up key ids do not make the
    service hammer the identity provider."""
    jwks = _Jwks()
    old, new = (rsa.generate_private_key(public_exponent=65537, key_size=2048) for _ in "ab")
    jwks.keys = {"old": old, "new": new}
    settings = UploadSettings(  # type: ignore[call-arg]
        **_common(rel_aws, jwt_jwks_url=jwks.url, jwt_jwks_refresh_seconds=1),
        ingest_queue_url=rel_aws.queue_url,
    )
    tenant = f"jwks-{uuid.uuid4().hex[:8]}"

    def signed(key: rsa.RSAPrivateKey, kid: str) -> dict[str, str]:
        return _auth(jwt.encode(_claims(tenant), key, algorithm="RS256", headers={"kid": kid}))

    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=create_upload_app(settings)), base_url="http://u"
        ) as client:
            assert (
                await client.get("/v1/documents", headers=signed(old, "old"))
            ).status_code == 200
            jwks.keys = {"new": new}  # "old" leaked: the provider removes it
            await asyncio.sleep(1.2)
            refused = await client.get("/v1/documents", headers=signed(old, "old"))
            _assert_refused(refused, "removed key")
            assert (
                await client.get("/v1/documents", headers=signed(new, "new"))
            ).status_code == 200
            reads = jwks.reads
            for _ in range(20):
                forged = signed(old, f"made-up-{uuid.uuid4().hex}")
                _assert_refused(await client.get("/v1/documents", headers=forged), "unknown kid")
            assert jwks.reads - reads <= 1
    finally:
        jwks.server.shutdown()
        jwks.server.server_close()
