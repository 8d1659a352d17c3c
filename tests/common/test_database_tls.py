"""TLS to the database verifies the server (verify-full), against a real PostgreSQL.

The server speaks TLS with a certificate from a CA this module makes, issued to
``localhost`` only. Credentials come from Secrets Manager (moto), as on AWS. A client
trusting that CA connects, encrypted; one trusting the shipped RDS bundle (the default)
is refused, as is one that reaches the same server under another name (127.0.0.1), and
one facing a server that cannot speak TLS at all. The migration function connects the
same way. pgserver's PostgreSQL is built without OpenSSL: the TLS server is the system's
(Debian's postgresql package, present on the project's machine image).
"""

from __future__ import annotations

import datetime
import json
import ssl
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import boto3
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from docpipe.common.db_connect import DatabaseConnector
from docpipe.common.exceptions import DatabaseUnreachable
from docpipe.devstack.embedded import free_port
from docpipe.processor import migrate_handler
from docpipe.processor.config import ProcessorSettings
from docpipe.testkit.postgres_process import (
    PostgresProcess,
    pgserver_bin_dir,
    system_postgres_bin_dir,
)

ROLE, PASSWORD = "tls_app", "tls-app-password-0123456789"
BUDGET_S = 3.0


# ------------------------------------------------------------------ certificates


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _certificate(
    subject: str, key: ec.EllipticCurvePrivateKey, issuer: x509.Name
) -> x509.CertificateBuilder:
    now = datetime.datetime.now(datetime.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=2))
    )


def _pem(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


@pytest.fixture(scope="module")
def certificates(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A test CA, and a server certificate it signs for DNS:localhost (no IP address)."""
    folder = tmp_path_factory.mktemp("tls")
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_usage = x509.KeyUsage(
        digital_signature=False, content_commitment=False, key_encipherment=False,
        data_encipherment=False, key_agreement=False, key_cert_sign=True, crl_sign=True,
        encipher_only=False, decipher_only=False,
    )  # fmt: skip
    ca = (
        _certificate("docpipe test CA", ca_key, _name("docpipe test CA"))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(ca_usage, critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    server_key = ec.generate_private_key(ec.SECP256R1())
    server = (
        _certificate("localhost", server_key, ca.subject)
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    key_bytes = server_key.private_bytes(
        pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return {
        "ca": _pem(folder / "ca.pem", ca.public_bytes(pem)),
        "cert": _pem(folder / "server.crt", server.public_bytes(pem)),
        "key": _pem(folder / "server.key", key_bytes),
    }


# ------------------------------------------------------------------------ servers


@pytest.fixture(scope="module")
async def tls_server(certificates: dict[str, Path]) -> AsyncIterator[PostgresProcess]:
    bin_dir = system_postgres_bin_dir()
    if bin_dir is None:
        pytest.skip("no PostgreSQL built with OpenSSL: apt-get install postgresql")
    server = PostgresProcess(
        bin_dir,
        port=free_port(),
        listen_addresses="127.0.0.1",
        settings={"ssl": "on", "ssl_cert_file": "'server.crt'", "ssl_key_file": "'server.key'"},
        hba=["hostssl all all 127.0.0.1/32 scram-sha-256", "host all all 127.0.0.1/32 reject"],
    )
    for name in ("cert", "key"):
        target = server.data_dir / certificates[name].name
        target.write_bytes(certificates[name].read_bytes())
        server.own(target)
    server.start()
    admin = await asyncpg.connect(server.dsn())
    await admin.execute(f"create role {ROLE} login password '{PASSWORD}'")
    await admin.close()
    yield server
    server.remove()


@pytest.fixture(scope="module")
def plaintext_server() -> Iterator[PostgresProcess]:
    """A server on TCP that cannot speak TLS (pgserver's build) and trusts everyone."""
    server = PostgresProcess(
        pgserver_bin_dir(),
        port=free_port(),
        listen_addresses="127.0.0.1",
        hba=["host all all 127.0.0.1/32 trust"],
    )
    server.start()
    yield server
    server.remove()


def _secret(moto_endpoint: str, *, host: str, port: int, user: str = ROLE) -> str:
    client = boto3.client(
        "secretsmanager", endpoint_url=moto_endpoint, region_name="ap-northeast-1"
    )
    value = {"username": user, "password": PASSWORD, "host": host, "port": port,
             "dbname": "postgres", "engine": "postgres"}  # fmt: skip
    created = client.create_secret(Name=f"tls-{uuid.uuid4().hex}", SecretString=json.dumps(value))
    return str(created["ARN"])


def _settings(secret_arn: str, root_cert: Path | None) -> ProcessorSettings:
    return ProcessorSettings(
        database_url=None,
        database_secret_arn=secret_arn,
        database_ssl_root_cert=str(root_cert) if root_cert else None,
        database_connect_budget_seconds=BUDGET_S,
    )


async def _refusal(settings: ProcessorSettings) -> tuple[DatabaseUnreachable, float]:
    started = time.perf_counter()
    with pytest.raises(DatabaseUnreachable) as refused:
        await DatabaseConnector(settings).connect()
    return refused.value, time.perf_counter() - started


def _verification_error(exc: BaseException) -> ssl.SSLCertVerificationError:
    cause = exc.__cause__
    assert isinstance(cause, ssl.SSLCertVerificationError), repr(cause)
    return cause


# -------------------------------------------------------------------------- tests


async def test_trusted_ca_and_right_host_connect_encrypted(
    tls_server: PostgresProcess, certificates: dict[str, Path], moto_endpoint: str
) -> None:
    arn = _secret(moto_endpoint, host="localhost", port=tls_server.port)
    conn = await DatabaseConnector(_settings(arn, certificates["ca"])).connect()
    try:
        row = await conn.fetchrow(
            "select ssl, version from pg_stat_ssl where pid = pg_backend_pid()"
        )
        assert row is not None and row["ssl"] is True and row["version"] in {"TLSv1.2", "TLSv1.3"}
        assert await conn.fetchval("select current_user") == ROLE
    finally:
        await conn.close()


async def test_the_rds_bundle_refuses_a_certificate_it_did_not_sign(
    tls_server: PostgresProcess, moto_endpoint: str
) -> None:
    """The default trust (no DATABASE_SSL_ROOT_CERT) is the RDS bundle, nothing else."""
    arn = _secret(moto_endpoint, host="localhost", port=tls_server.port)
    refused, elapsed = await _refusal(_settings(arn, None))
    assert _verification_error(refused).verify_code == 20  # unable to get local issuer
    assert elapsed < BUDGET_S / 2, "a certificate that does not verify is not retried"


async def test_a_host_name_the_certificate_does_not_name_is_refused(
    tls_server: PostgresProcess, certificates: dict[str, Path], moto_endpoint: str
) -> None:
    arn = _secret(moto_endpoint, host="127.0.0.1", port=tls_server.port)  # same server
    refused, _ = await _refusal(_settings(arn, certificates["ca"]))
    assert "mismatch" in _verification_error(refused).verify_message.lower()


async def test_a_server_without_tls_is_refused_not_used_in_the_clear(
    plaintext_server: PostgresProcess, certificates: dict[str, Path], moto_endpoint: str
) -> None:
    arn = _secret(moto_endpoint, host="localhost", port=plaintext_server.port, user="postgres")
    refused, _ = await _refusal(_settings(arn, certificates["ca"]))
    assert "ssl" in str(refused).lower()


async def test_the_migration_function_verifies_the_server(
    tls_server: PostgresProcess,
    certificates: dict[str, Path],
    moto_endpoint: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.setenv("DATABASE_SECRET_ARN", "arn:aws:secretsmanager:ap-northeast-1:1:secret:app")
    monkeypatch.setenv("DATABASE_CONNECT_BUDGET_SECONDS", str(BUDGET_S))
    monkeypatch.setenv(
        "MASTER_SECRET_ARN", _secret(moto_endpoint, host="localhost", port=tls_server.port)
    )
    monkeypatch.setenv("DATABASE_SSL_ROOT_CERT", str(certificates["ca"]))
    conn = await migrate_handler.connect_as_master(ProcessorSettings())
    try:
        assert await conn.fetchval("select ssl from pg_stat_ssl where pid = pg_backend_pid()")
    finally:
        await conn.close()

    monkeypatch.delenv("DATABASE_SSL_ROOT_CERT")  # the default: the RDS bundle
    with pytest.raises(DatabaseUnreachable) as refused:
        await migrate_handler.connect_as_master(ProcessorSettings())
    _verification_error(refused.value)
