"""The controls every docpipe bucket gets: objects owned by the bucket owner (no ACLs),
every kind of public access blocked, versioning on, SSE-S3 encryption by default.

SSE-S3 rather than a KMS key: CloudFront's origin access control reads it (the console's
bucket) without a key grant, and the services' roles need none either.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

__all__ = ["PrivateBucketControls", "private_bucket_controls"]


@dataclass(frozen=True)
class PrivateBucketControls:
    #: a bucket policy depends on it (S3 refuses a public policy while it is being set)
    public_access_block: aws.s3.BucketPublicAccessBlock
    #: a lifecycle configuration with noncurrent-version rules depends on it
    versioning: aws.s3.BucketVersioning


def private_bucket_controls(
    name: str, *, bucket: pulumi.Input[str], opts: pulumi.ResourceOptions
) -> PrivateBucketControls:
    """The controls of ``bucket`` (its id), named ``{name}-ownership`` and so on."""
    aws.s3.BucketOwnershipControls(
        f"{name}-ownership",
        bucket=bucket,
        rule={"object_ownership": "BucketOwnerEnforced"},
        opts=opts,
    )
    block = aws.s3.BucketPublicAccessBlock(
        f"{name}-public-access-block",
        bucket=bucket,
        block_public_acls=True,
        block_public_policy=True,
        ignore_public_acls=True,
        restrict_public_buckets=True,
        opts=opts,
    )
    versioning = aws.s3.BucketVersioning(
        f"{name}-versioning",
        bucket=bucket,
        versioning_configuration={"status": "Enabled"},
        opts=opts,
    )
    aws.s3.BucketServerSideEncryptionConfiguration(
        f"{name}-encryption",
        bucket=bucket,
        rules=[{"apply_server_side_encryption_by_default": {"sse_algorithm": "AES256"}}],
        opts=opts,
    )
    return PrivateBucketControls(public_access_block=block, versioning=versioning)
