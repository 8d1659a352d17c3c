"""The RDS root CA bundle shipped in docpipe-common: what it holds, that it is what
docs/operations.md records, and that it reaches the package every image installs."""

from __future__ import annotations

import datetime
import hashlib
import re
import shutil
import ssl
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes

from docpipe.common.certs import RDS_CA_BUNDLE
from docpipe.common.db_tls import rds_ca_bundle_pem, verify_full_context

ROOT = Path(__file__).resolve().parents[2]
BUNDLE = ROOT / "libs/common/src/docpipe/common/certs" / RDS_CA_BUNDLE
ROOT_CA = re.compile(r"Amazon RDS [A-Za-z0-9 -]+ Root CA (RSA2048|RSA4096|ECC384) G1")
UV = shutil.which("uv") or str(Path(sys.executable).parent / "uv")


@pytest.fixture(scope="module")
def certificates() -> list[x509.Certificate]:
    return x509.load_pem_x509_certificates(rds_ca_bundle_pem().encode())


def _attribute(name: x509.Name, oid: x509.ObjectIdentifier) -> str:
    return str(name.get_attributes_for_oid(oid)[0].value)


def test_every_certificate_is_a_valid_self_signed_rds_root_ca(
    certificates: list[x509.Certificate],
) -> None:
    now = datetime.datetime.now(datetime.UTC)
    fingerprints = {c.fingerprint(hashes.SHA256()) for c in certificates}
    assert len(fingerprints) == len(certificates) >= 30
    for cert in certificates:
        name = _attribute(cert.subject, x509.NameOID.COMMON_NAME)
        assert ROOT_CA.fullmatch(name), name
        assert _attribute(cert.subject, x509.NameOID.ORGANIZATION_NAME) == (
            "Amazon Web Services, Inc."
        )
        assert _attribute(cert.subject, x509.NameOID.ORGANIZATIONAL_UNIT_NAME) == "Amazon RDS"
        assert cert.issuer == cert.subject
        cert.verify_directly_issued_by(cert)  # raises unless its own key signed it
        assert cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
        # A year's notice: this fails well before a root in the bundle expires.
        assert cert.not_valid_before_utc < now
        assert cert.not_valid_after_utc > now + datetime.timedelta(days=365), name


def test_the_roots_of_docpipes_region_are_there(certificates: list[x509.Certificate]) -> None:
    names = {_attribute(c.subject, x509.NameOID.COMMON_NAME) for c in certificates}
    for kind in ("RSA2048", "RSA4096", "ECC384"):  # rds-ca-rsa2048-g1 is Aurora's default
        assert f"Amazon RDS ap-northeast-1 Root CA {kind} G1" in names


def test_the_sha256_recorded_in_the_operations_doc_is_the_files() -> None:
    operations = (ROOT / "docs/operations.md").read_text()
    recorded = re.search(r"SHA-256 of `rds-ca-bundle.pem`: `([0-9a-f]{64})`", operations)
    assert recorded, "docs/operations.md must record the bundle's SHA-256"
    assert hashlib.sha256(BUNDLE.read_bytes()).hexdigest() == recorded.group(1)


def test_the_tls_context_trusts_the_bundle_and_nothing_else(
    certificates: list[x509.Certificate],
) -> None:
    context = verify_full_context()
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname
    assert context.minimum_version >= ssl.TLSVersion.TLSv1_2
    assert len(context.get_ca_certs()) == len(certificates)  # no system store


def test_the_bundle_ships_in_the_package_the_images_install(tmp_path: Path) -> None:
    """The Dockerfiles install libs/common as a built package (``uv pip install``)."""
    built = subprocess.run(
        [UV, "build", "--wheel", "--out-dir", str(tmp_path), "libs/common"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert built.returncode == 0, built.stderr
    (wheel,) = tmp_path.glob("docpipe_common-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        shipped = archive.read(f"docpipe/common/certs/{RDS_CA_BUNDLE}")
    assert shipped == BUNDLE.read_bytes()
