"""A container-image Lambda function in the private subnets, with its own log group
and its own least-privilege role. Shared by the services and the migration function.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from docpipe.infra import policies

__all__ = ["FunctionPlacement", "FunctionSpec", "VpcFunction", "create_vpc_function"]


@dataclass(frozen=True)
class FunctionPlacement:
    """Where functions run and who they are in the account."""

    subnet_ids: Sequence[pulumi.Input[str]]
    security_group_id: pulumi.Input[str]
    region: str
    account_id: pulumi.Input[str]


@dataclass(frozen=True)
class FunctionSpec:
    function_name: str
    image_uri: pulumi.Input[str]
    memory_mb: int
    timeout_seconds: int
    environment: Mapping[str, pulumi.Input[str]]
    statements: pulumi.Input[Sequence[policies.Statement]]
    log_retention_days: int
    reserved_concurrency: int | None = None
    command: Sequence[str] | None = None
    #: overrides the image's ENTRYPOINT (the query function's streaming-capable runtime)
    entry_point: Sequence[str] | None = None
    publish: bool = True
    description: str = ""
    #: After creation the rollout command deploys new images (UpdateFunctionCode), so
    #: Pulumi ignores ``imageUri``: a `pulumi up` from any checkout never changes the code.
    code_owned_by_rollout: bool = False


@dataclass(frozen=True)
class VpcFunction:
    function: aws.lambda_.Function
    role: aws.iam.Role
    log_group: aws.cloudwatch.LogGroup


def _role_policy(spec: FunctionSpec, log_group: aws.cloudwatch.LogGroup) -> pulumi.Output[str]:
    def render(args: list[object]) -> str:
        log_group_arn, statements = args
        base = policies.lambda_base_statements(log_group_arn=str(log_group_arn))
        return json.dumps(policies.policy([*base, *statements]))  # type: ignore[misc]

    return pulumi.Output.all(log_group.arn, spec.statements).apply(render)


def _image_config(spec: FunctionSpec) -> aws.lambda_.FunctionImageConfigArgs | None:
    if not spec.command and not spec.entry_point:
        return None
    return aws.lambda_.FunctionImageConfigArgs(
        commands=list(spec.command) if spec.command else None,
        entry_points=list(spec.entry_point) if spec.entry_point else None,
    )


def create_vpc_function(
    name: str,
    spec: FunctionSpec,
    placement: FunctionPlacement,
    parent: pulumi.Resource,
) -> VpcFunction:
    child = pulumi.ResourceOptions(parent=parent)
    log_group = aws.cloudwatch.LogGroup(
        f"{name}-logs",
        name=f"/aws/lambda/{spec.function_name}",
        retention_in_days=spec.log_retention_days,
        opts=child,
    )
    role = aws.iam.Role(
        f"{name}-role",
        assume_role_policy=json.dumps(
            policies.assume_role_policy(service_principal="lambda.amazonaws.com")
        ),
        opts=child,
    )
    role_policy = aws.iam.RolePolicy(
        f"{name}-role-policy",
        role=role.id,
        policy=_role_policy(spec, log_group),
        opts=child,
    )
    function = aws.lambda_.Function(
        f"{name}-function",
        name=spec.function_name,
        description=spec.description,
        package_type="Image",
        image_uri=spec.image_uri,
        image_config=_image_config(spec),
        architectures=["arm64"],
        role=role.arn,
        memory_size=spec.memory_mb,
        timeout=spec.timeout_seconds,
        reserved_concurrent_executions=spec.reserved_concurrency,
        publish=spec.publish,
        vpc_config={
            "subnet_ids": list(placement.subnet_ids),
            "security_group_ids": [placement.security_group_id],
        },
        tracing_config={"mode": "Active"},
        logging_config={"log_format": "JSON", "log_group": log_group.name},
        environment={"variables": dict(spec.environment)},
        opts=pulumi.ResourceOptions(
            parent=parent,
            depends_on=[role_policy, log_group],
            ignore_changes=["imageUri"] if spec.code_owned_by_rollout else None,
        ),
    )
    return VpcFunction(function=function, role=role, log_group=log_group)
