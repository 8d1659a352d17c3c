"""TLS that verifies the database server: its certificate chains to a trusted CA, and
names the host we connected to (libpq's ``sslmode=verify-full``).

On AWS the trusted CAs are the RDS root CAs shipped in :mod:`docpipe.common.certs`
(Aurora's server certificates are signed by them; see
https://docs.aws.amazon.com/AmazonRDS/latest/AuroraUserGuide/UsingWithRDS.SSL.html), or
the PEM file named by ``DATABASE_SSL_ROOT_CERT``. Nothing else is trusted: not the
operating system's store, which any public CA could be added to.
"""

from __future__ import annotations

import ssl
from functools import cache
from importlib import resources

from docpipe.common.certs import RDS_CA_BUNDLE

__all__ = ["rds_ca_bundle_pem", "verify_full_context"]


def rds_ca_bundle_pem() -> str:
    """The shipped RDS root CA bundle (PEM text)."""
    return resources.files("docpipe.common.certs").joinpath(RDS_CA_BUNDLE).read_text("ascii")


@cache
def verify_full_context(root_cert: str | None = None) -> ssl.SSLContext:
    """A client context trusting only ``root_cert`` (a PEM path) or the RDS bundle.

    ``create_default_context`` requires a certificate (``CERT_REQUIRED``), checks the host
    name and refuses protocols older than TLS 1.2. Cached: parsing the bundle costs
    milliseconds, and every new connection of a process reuses the same context.
    """
    if root_cert:
        return ssl.create_default_context(cafile=root_cert)
    return ssl.create_default_context(cadata=rds_ca_bundle_pem())
