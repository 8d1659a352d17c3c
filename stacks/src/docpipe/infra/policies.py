"""Pure builders for every IAM, bucket, queue and lifecycle policy document.

Components call these with resolved ARNs; tests call them directly and read the
resulting JSON. Allow statements never use ``*`` in an action, and use ``*`` as a
resource only for the actions in :data:`WILDCARD_RESOURCE_ACTIONS`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

from docpipe.infra.model_catalog import ModelRoute

__all__ = [
    "LAMBDA_VPC_ACTIONS",
    "UNSCOPABLE_ACTIONS",
    "WILDCARD_RESOURCE_ACTIONS",
    "Statement",
    "assume_role_policy",
    "bedrock_invoke_statements",
    "bucket_policy",
    "codedeploy_policy",
    "dlq_policy",
    "ecr_lifecycle_policy",
    "endpoint_policy",
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

#: The ENI actions a function in a VPC needs, granted on "*" exactly as AWS's own managed
#: policy AWSLambdaVPCAccessExecutionRole grants them
#: (https://docs.aws.amazon.com/aws-managed-policy/latest/reference/AWSLambdaVPCAccessExecutionRole.html,
#: https://docs.aws.amazon.com/lambda/latest/dg/configuring-vpc.html#configuring-vpc-permissions).
#: Lambda checks them when the function is created or its VPC settings change; variants
#: scoped to subnet / security-group / network-interface ARNs are rejected there on some
#: accounts ("The provided execution role does not have permissions to call
#: CreateNetworkInterface on EC2"), so the first ``pulumi up`` would fail.
LAMBDA_VPC_ACTIONS: frozenset[str] = frozenset(
    {
        "ec2:CreateNetworkInterface",
        "ec2:DeleteNetworkInterface",
        "ec2:AssignPrivateIpAddresses",
        "ec2:UnassignPrivateIpAddresses",
        "ec2:DescribeNetworkInterfaces",
        "ec2:DescribeSubnets",
    }
)

#: The only actions an Allow statement may grant on resource "*".
WILDCARD_RESOURCE_ACTIONS: frozenset[str] = UNSCOPABLE_ACTIONS | LAMBDA_VPC_ACTIONS


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


def lambda_base_statements(*, log_group_arn: str) -> list[Statement]:
    """Logs to its own group, the VPC's network interfaces (see :data:`LAMBDA_VPC_ACTIONS`),
    X-Ray traces."""
    return [
        _allow(
            "WriteOwnLogs",
            ["logs:CreateLogStream", "logs:PutLogEvents"],
            [f"{log_group_arn}:log-stream:*"],
        ),
        _allow("ManageVpcNetworkInterfaces", sorted(LAMBDA_VPC_ACTIONS), ["*"]),
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


def bedrock_invoke_statements(
    *, sid: str, routes: Sequence[ModelRoute], account_id: str
) -> list[Statement]:
    """``bedrock:InvokeModel`` (which also authorises Converse) for each configured model.

    An in-region model: its foundation-model ARN in the stack's region. A model reached
    through a cross-Region inference profile, as AWS documents it
    (https://docs.aws.amazon.com/bedrock/latest/userguide/inference-profiles-prereq.html,
    https://docs.aws.amazon.com/bedrock/latest/userguide/global-cross-region-inference.html):
    the profile ARN, plus the foundation model in *any* region (and, for a ``global.``
    profile, the region-less foundation-model ARN) allowed only when the call comes
    through that profile (``bedrock:InferenceProfileArn``). No list of destination regions
    to keep in step with AWS's routing, and no direct call to the model outside the profile.
    """
    in_region = [r.in_region_arn() for r in routes if not r.via_profile]
    statements = [_allow(f"{sid}InRegion", ["bedrock:InvokeModel"], in_region)] if in_region else []
    for index, route in enumerate(r for r in routes if r.via_profile):
        profile = route.profile_arn(account_id=account_id)
        models = [f"arn:aws:bedrock:*::foundation-model/{route.foundation_model_id}"]
        if route.profile_prefix == "global":
            models.append(f"arn:aws:bedrock:::foundation-model/{route.foundation_model_id}")
        statements += [
            _allow(f"{sid}Profile{index}", ["bedrock:InvokeModel"], [profile]),
            {
                **_allow(f"{sid}ThroughProfile{index}", ["bedrock:InvokeModel"], models),
                "Condition": {"StringEquals": {"bedrock:InferenceProfileArn": profile}},
            },
        ]
    return statements


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
    embedding_invoke: Sequence[Statement],
) -> list[Statement]:
    """Read uploads, consume the queue, embed; and delete an object version no document
    owns (a presigned POST used again, or after its document was deleted), which needs
    ``s3:DeleteObjectVersion`` (DeleteObject with a version id:
    https://docs.aws.amazon.com/AmazonS3/latest/API/API_DeleteObject.html, "Permissions").
    Not ``s3:DeleteObject``: the processor never hides a current object behind a delete
    marker."""
    return [
        _allow(
            "ReadUploads",
            ["s3:GetObject", "s3:GetObjectVersion"],
            [_uploads(bucket_arn, uploads_prefix)],
        ),
        _allow(
            "DeleteUnownedVersions",
            ["s3:DeleteObjectVersion"],
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
        *embedding_invoke,
        _read_secret([secret_arn]),
    ]


def query_statements(*, secret_arn: str, model_invoke: Sequence[Statement]) -> list[Statement]:
    """The Converse API is authorised by ``bedrock:InvokeModel``; there is no Converse action."""
    return [*model_invoke, _read_secret([secret_arn])]


def migration_statements(
    *, master_secret_arn: str, role_secret_arns: Sequence[str]
) -> list[Statement]:
    """The master secret (it applies the migrations as the schema owner) and each service
    role's secret (it sets each role's password from it): the one function that reads
    more than one database secret."""
    return [_read_secret([master_secret_arn, *role_secret_arns])]


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


def endpoint_policy(
    *, statements: Iterable[Statement], service_prefix: str, account_id: str
) -> dict[str, Any]:
    """A VPC endpoint policy allowing exactly the role grants for one service.

    Every Allow statement of the functions' roles whose actions belong to
    ``service_prefix`` (``s3``, ``sqs``…) is carried over with its resources and
    conditions, for principals of this account only (``aws:PrincipalAccount``). The
    endpoint therefore admits nothing the roles do not use, and the two cannot drift:
    both are built from the same statements. With no such statement (no function
    deployed yet) the endpoint denies everything. Endpoint policies:
    https://docs.aws.amazon.com/vpc/latest/privatelink/vpc-endpoints-access.html
    """
    carried: list[Statement] = []
    seen: set[str] = set()
    for statement in statements:
        actions = [a for a in _as_list(statement["Action"]) if a.startswith(f"{service_prefix}:")]
        grant = json.dumps([sorted(actions), statement["Resource"], statement.get("Condition")])
        if statement.get("Effect") != "Allow" or not actions or grant in seen:
            continue
        seen.add(grant)
        condition = {
            **statement.get("Condition", {}),
            "StringEquals": {
                **statement.get("Condition", {}).get("StringEquals", {}),
                "aws:PrincipalAccount": account_id,
            },
        }
        carried.append(
            {
                "Sid": f"{statement.get('Sid', 'Grant')}{len(carried)}",
                "Effect": "Allow",
                "Principal": "*",
                "Action": sorted(set(actions)),
                "Resource": _as_list(statement["Resource"]),
                "Condition": condition,
            }
        )
    if not carried:
        return policy(
            [{"Sid": "NothingUsesThisEndpoint", "Effect": "Deny", "Principal": "*",
              "Action": "*", "Resource": "*"}]
        )  # fmt: skip
    return policy(carried)


def _as_list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list | tuple) else [value]
