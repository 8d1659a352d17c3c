"""The controls every docpipe bucket gets: objects owned by the bucket owner (no ACLs),
every kind of public access blocked, versioning on, SSE-S3 encryption by default, and a
lifecycle that expires old versions and abandoned multipart uploads.

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
    versioning: aws.s3.BucketVersioning


def private_bucket_controls(
    name: str,
    *,
    bucket: pulumi.Input[str],
    noncurrent_version_days: int,
    abort_multipart_days: int,
    expire_delete_markers: bool,
    opts: pulumi.ResourceOptions,
) -> PrivateBucketControls:
    """The controls of ``bucket`` (its id), named ``{name}-ownership`` and so on.

    ``expire_delete_markers``: remove a delete marker once no older version is left.
    """
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
    noncurrent: aws.s3.BucketLifecycleConfigurationRuleArgsDict = {
        "id": "expire-noncurrent-versions",
        "status": "Enabled",
        "filter": {},
        "noncurrent_version_expiration": {"noncurrent_days": noncurrent_version_days},
    }
    if expire_delete_markers:
        noncurrent["expiration"] = {"expired_object_delete_marker": True}
    aws.s3.BucketLifecycleConfiguration(
        f"{name}-lifecycle",
        bucket=bucket,
        rules=[
            noncurrent,
            {
                "id": "abort-incomplete-multipart-uploads",
                "status": "Enabled",
                "filter": {},
                "abort_incomplete_multipart_upload": {
                    "days_after_initiation": abort_multipart_days
                },
            },
        ],
        opts=pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(depends_on=[versioning])),
    )
    return PrivateBucketControls(public_access_block=block, versioning=versioning)
