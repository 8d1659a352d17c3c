"""Pure builders for every IAM, bucket, queue and lifecycle policy document.

Components call these with resolved ARNs; tests call them directly and read the
resulting JSON. Allow statements never use ``*`` in an action, and use ``*`` as a
resource only for the actions in :data:`UNSCOPABLE_ACTIONS`, which AWS does not let
you scope to a resource.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

__all__ = [
    "GEO_INFERENCE_PREFIXES",
    "UNSCOPABLE_ACTIONS",
    "Statement",
    "assume_role_policy",
    "bedrock_model_arns",
    "bucket_policy",
    "codedeploy_policy",
    "dlq_policy",
    "ecr_lifecycle_policy",
    "lambda_base_statements",
    "migration_statements",
    "policy",
    "processor_statements",
    "query_statements",
    "queue_policy",
    "upload_statements",
]

Statement = dict[str, Any]

#: Actions with no resource-level permissions (the service only accepts "*").
UNSCOPABLE_ACTIONS: frozenset[str] = frozenset(
    {
        "ec2:DescribeNetworkInterfaces",
        "ec2:DescribeSubnets",
        "xray:PutTraceSegments",
        "xray:PutTelemetryRecords",
    }
)

#: Cross-region inference profile prefixes (``apac.amazon.nova-pro-v1:0``).
GEO_INFERENCE_PREFIXES: frozenset[str] = frozenset({"us", "eu", "apac", "jp", "au", "ca", "global"})


def policy(statements: Iterable[Statement]) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": list(statements)}


def _allow(sid: str, actions: Sequence[str], resources: Sequence[str]) -> Statement:
    return {"Sid": sid, "Effect": "Allow", "Action": sorted(actions), "Resource": list(resources)}


def _deny_insecure_transport(action: str, resources: Sequence[str]) -> Statement:
    return {
        "Sid": "DenyInsecureTransport",
        "Effect": "Deny",
        "Principal": "*",
        "Action": action,
        "Resource": list(resources),
        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
    }


def assume_role_policy(*, service_principal: str) -> dict[str, Any]:
    return policy(
        [
            {
                "Effect": "Allow",
                "Principal": {"Service": service_principal},
                "Action": "sts:AssumeRole",
            }
        ]
    )


def lambda_base_statements(
    *,
    log_group_arn: str,
    subnet_arns: Sequence[str],
    security_group_arns: Sequence[str],
    region: str,
    account_id: str,
) -> list[Statement]:
    """Logs to its own group, ENIs in its own subnets/security group, X-Ray traces."""
    eni = f"arn:aws:ec2:{region}:{account_id}:network-interface/*"
    return [
        _allow(
            "WriteOwnLogs",
            ["logs:CreateLogStream", "logs:PutLogEvents"],
            [f"{log_group_arn}:log-stream:*"],
        ),
        _allow(
            "CreateEniInOwnSubnets",
            ["ec2:CreateNetworkInterface"],
            [*subnet_arns, *security_group_arns, eni],
        ),
        _allow(
            "ManageOwnEnis",
            [
                "ec2:DeleteNetworkInterface",
                "ec2:AssignPrivateIpAddresses",
                "ec2:UnassignPrivateIpAddresses",
            ],
            [eni],
        ),
        _allow("DescribeNetwork", ["ec2:DescribeNetworkInterfaces", "ec2:DescribeSubnets"], ["*"]),
        _allow("WriteTraces", ["xray:PutTraceSegments", "xray:PutTelemetryRecords"], ["*"]),
    ]


def _read_secret(secret_arns: Sequence[str]) -> Statement:
    return _allow("ReadDatabaseSecret", ["secretsmanager:GetSecretValue"], secret_arns)


def _uploads(bucket_arn: str, uploads_prefix: str) -> str:
    return f"{bucket_arn}/{uploads_prefix}*"


def _list_uploads(sid: str, action: str, bucket_arn: str, uploads_prefix: str) -> Statement:
    """A bucket-level list action, limited to keys under the uploads prefix."""
    return {
        "Sid": sid,
        "Effect": "Allow",
        "Action": [action],
        "Resource": [bucket_arn],
        "Condition": {"StringLike": {"s3:prefix": [f"{uploads_prefix}*"]}},
    }


def _list_uploads_for_reads(bucket_arn: str, uploads_prefix: str) -> Statement:
    """``s3:ListBucket`` on the prefix a role reads, so a missing key is 404, not 403.

    Without it S3 answers GetObject/HeadObject of a missing key with 403 AccessDenied
    (https://docs.aws.amazon.com/AmazonS3/latest/API/API_GetObject.html, "Permissions"),
    indistinguishable from a role that may not read at all.
    """
    return _list_uploads("ListUploads", "s3:ListBucket", bucket_arn, uploads_prefix)


def bedrock_model_arns(
    *, model_id: str, region: str, account_id: str, inference_regions: Sequence[str]
) -> list[str]:
    """ARNs InvokeModel needs for a foundation model or a cross-region inference profile."""
    geo, _, base = model_id.partition(".")
    if geo not in GEO_INFERENCE_PREFIXES or not base:
        return [f"arn:aws:bedrock:{region}::foundation-model/{model_id}"]
    arns = [f"arn:aws:bedrock:{region}:{account_id}:inference-profile/{model_id}"]
    if geo == "global":
        arns.append(f"arn:aws:bedrock:::foundation-model/{base}")
    arns += [f"arn:aws:bedrock:{r}::foundation-model/{base}" for r in inference_regions]
    return arns


def upload_statements(
    *, bucket_arn: str, uploads_prefix: str, secret_arn: str, queue_arn: str
) -> list[Statement]:
    """Put/get/delete under the uploads prefix (API and presigned POST), reprocess messages.

    DELETE /v1/documents/{id} removes every version of the object (the bucket is
    versioned), so it may list versions, but only under the uploads prefix. Reprocess
    heads the object (authorised by GetObject), so it may list that prefix too.
    """
    return [
        _allow(
            "UploadsReadWriteDelete",
            ["s3:PutObject", "s3:GetObject", "s3:DeleteObject", "s3:DeleteObjectVersion"],
            [_uploads(bucket_arn, uploads_prefix)],
        ),
        _list_uploads_for_reads(bucket_arn, uploads_prefix),
        _list_uploads("ListUploadVersions", "s3:ListBucketVersions", bucket_arn, uploads_prefix),
        _allow("SendReprocessMessages", ["sqs:SendMessage"], [queue_arn]),
        _read_secret([secret_arn]),
    ]


def processor_statements(
    *,
    bucket_arn: str,
    uploads_prefix: str,
    secret_arn: str,
    queue_arn: str,
    embedding_model_arns: Sequence[str],
) -> list[Statement]:
    return [
        _allow(
            "ReadUploads",
            ["s3:GetObject", "s3:GetObjectVersion"],
            [_uploads(bucket_arn, uploads_prefix)],
        ),
        _list_uploads_for_reads(bucket_arn, uploads_prefix),
        _allow(
            "ConsumeIngestQueue",
            [
                "sqs:ReceiveMessage",
                "sqs:DeleteMessage",
                "sqs:ChangeMessageVisibility",
                "sqs:GetQueueAttributes",
                "sqs:SendMessage",
            ],
            [queue_arn],
        ),
        _allow("EmbedChunks", ["bedrock:InvokeModel"], embedding_model_arns),
        _read_secret([secret_arn]),
    ]


def query_statements(*, secret_arn: str, model_arns: Sequence[str]) -> list[Statement]:
    """The Converse API is authorised by ``bedrock:InvokeModel``; there is no Converse action."""
    return [
        _allow("EmbedAndAnswer", ["bedrock:InvokeModel"], model_arns),
        _read_secret([secret_arn]),
    ]


def migration_statements(*, master_secret_arn: str, app_secret_arn: str) -> list[Statement]:
    return [_read_secret([master_secret_arn, app_secret_arn])]


def codedeploy_policy(
    *, function_arn: str, alias_arn: str, alarm_arns: Sequence[str]
) -> dict[str, Any]:
    """What CodeDeploy needs to shift one alias and watch that service's alarms."""
    return policy(
        [
            _allow(
                "ShiftAlias",
                ["lambda:GetAlias", "lambda:UpdateAlias", "lambda:GetProvisionedConcurrencyConfig"],
                [function_arn, alias_arn],
            ),
            _allow("WatchAlarms", ["cloudwatch:DescribeAlarms"], alarm_arns),
        ]
    )


def bucket_policy(*, bucket_arn: str) -> dict[str, Any]:
    return policy([_deny_insecure_transport("s3:*", [bucket_arn, f"{bucket_arn}/*"])])


def queue_policy(*, queue_arn: str, bucket_arn: str, account_id: str) -> dict[str, Any]:
    """S3 of this account may send notifications for this bucket only; TLS only."""
    return policy(
        [
            {
                "Sid": "AllowBucketNotifications",
                "Effect": "Allow",
                "Principal": {"Service": "s3.amazonaws.com"},
                "Action": "sqs:SendMessage",
                "Resource": queue_arn,
                "Condition": {
                    "ArnEquals": {"aws:SourceArn": bucket_arn},
                    "StringEquals": {"aws:SourceAccount": account_id},
                },
            },
            _deny_insecure_transport("sqs:*", [queue_arn]),
        ]
    )


def dlq_policy(*, queue_arn: str) -> dict[str, Any]:
    return policy([_deny_insecure_transport("sqs:*", [queue_arn])])


def ecr_lifecycle_policy(*, keep_images: int, untagged_days: int) -> dict[str, Any]:
    return {
        "rules": [
            {
                "rulePriority": 1,
                "description": "expire untagged images",
                "selection": {
                    "tagStatus": "untagged",
                    "countType": "sinceImagePushed",
                    "countUnit": "days",
                    "countNumber": untagged_days,
                },
                "action": {"type": "expire"},
            },
            {
                "rulePriority": 2,
                "description": f"keep the newest {keep_images} images",
                "selection": {
                    "tagStatus": "any",
                    "countType": "imageCountMoreThan",
                    "countNumber": keep_images,
                },
                "action": {"type": "expire"},
            },
        ]
    }
