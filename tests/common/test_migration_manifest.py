"""One source of truth for the schema: the deployer's manifest against the image's.

`pulumi up` sends the manifest of the deployer's checkout; the migration function, running
the processor image, compares it with the migrations baked into that image before it
applies anything. A mismatch in either direction fails the invocation (and `pulumi up`).
"""

from __future__ import annotations

import pytest

from docpipe.common.migrations import (
    load_migrations,
    manifest_fingerprint,
    manifest_mismatch,
    migration_manifest,
)
from docpipe.processor import migrate_handler
from docpipe.processor.exceptions import MigrationMismatch


def test_manifest_names_every_packaged_migration_by_its_bytes() -> None:
    manifest = migration_manifest()
    assert list(manifest) == [m.version for m in load_migrations(embedding_dimensions=8)]
    assert list(manifest) == sorted(manifest)
    assert all(len(digest) == 64 for digest in manifest.values())
    # independent of the embedding dimension substituted into the SQL
    assert manifest_fingerprint(manifest) == manifest_fingerprint(dict(reversed(manifest.items())))


def test_mismatch_says_what_differs_in_either_direction() -> None:
    carried = {"0001_init": "a" * 64, "0002_more": "b" * 64}
    assert manifest_mismatch(expected=dict(carried), carried=carried) is None
    newer_checkout = {**carried, "0003_next": "c" * 64}
    assert manifest_mismatch(expected=newer_checkout, carried=carried) == (
        "expected but not carried: 0003_next"
    )
    older_checkout = {"0001_init": "a" * 64}
    assert manifest_mismatch(expected=older_checkout, carried=carried) == (
        "carried but not expected: 0002_more"
    )
    edited = {**carried, "0002_more": "f" * 64}
    assert manifest_mismatch(expected=edited, carried=carried) == "different content: 0002_more"


def test_migration_function_refuses_a_manifest_that_is_not_its_own() -> None:
    """Refused before any secret is read or connection opened (none is configured here)."""
    expected = {**migration_manifest(), "9999_from_a_newer_checkout": "0" * 64}
    with pytest.raises(MigrationMismatch, match="9999_from_a_newer_checkout"):
        migrate_handler.handler({"action": "migrate", "expected": expected})
