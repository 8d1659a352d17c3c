"""Certificate authorities shipped with docpipe (package data, in every service image).

``rds-ca-bundle.pem``: the root CAs of Amazon RDS / Aurora (``Amazon RDS <region> Root CA
RSA2048 G1``, ``RSA4096 G1`` and ``ECC384 G1`` of each region), which sign the database
server certificates that :mod:`docpipe.common.db_tls` verifies. Where it comes from, its
SHA-256 and how to refresh it: docs/operations.md, "What to check once: database TLS".
"""

from __future__ import annotations

__all__ = ["RDS_CA_BUNDLE"]

#: File name of the RDS root CA bundle inside this package.
RDS_CA_BUNDLE = "rds-ca-bundle.pem"
