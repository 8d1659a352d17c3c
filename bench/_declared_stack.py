"""What the declared stack means for the bill: the facts the cost model needs, read from
the resources the Pulumi program declares (:mod:`docpipe.testkit.pulumi_program`), and how each
resource type is charged.

Every resource type the program declares must appear in :data:`CHARGES`, as billed by
the hour or month (``fixed``), billed only when used (``usage``) or not billed itself
(``free``). A type missing from it is reported by :func:`unpriced_types` (and fails
``tests/bench/test_cost_model.py``): add one line here, and a price in
:mod:`bench.cost_model` if it is ``fixed``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from docpipe.testkit.pulumi_program import Inventory

__all__ = ["CHARGES", "Charge", "StackFacts", "stack_facts", "unpriced_types"]

Kind = Literal["fixed", "usage", "free"]


@dataclass(frozen=True)
class Charge:
    kind: Kind
    why: str


def _free(why: str) -> Charge:
    return Charge("free", why)


_CONFIG = "configuration of another resource; no charge of its own"
CHARGES: Mapping[str, Charge] = {
    # Priced in the fixed (idle) table.
    "aws:ec2/vpcEndpoint:VpcEndpoint": Charge(
        "fixed", "interface endpoints: per AZ-hour + per GB; the S3 gateway endpoint is free"
    ),
    "aws:secretsmanager/secret:Secret": Charge("fixed", "per secret-month + per API call"),
    "aws:rds/cluster:Cluster": Charge(
        "fixed", "storage and I/O by use; its RDS-managed master secret per secret-month"
    ),
    "aws:rds/clusterInstance:ClusterInstance": Charge(
        "fixed", "Serverless v2 ACU-hours while awake; nothing while paused at 0 ACU"
    ),
    "aws:cloudwatch/metricAlarm:MetricAlarm": Charge("fixed", "per alarm metric-month"),
    "aws:ecr/repository:Repository": Charge("fixed", "per GB-month of stored images"),
    "aws:lambda/eventSourceMapping:EventSourceMapping": Charge(
        "fixed", "its pollers' SQS ReceiveMessage requests, even when the queue is empty"
    ),
    # Priced per use (tables a, b, d).
    "aws:lambda/function:Function": Charge("usage", "requests + GB-seconds (arm64)"),
    "aws:lambda/invocation:Invocation": Charge("usage", "one migration run per `pulumi up`"),
    "aws:apigatewayv2/api:Api": Charge("usage", "per HTTP API request"),
    "aws:apigatewayv2/stage:Stage": Charge(
        "usage", "detailed route metrics: per metric-hour published (traffic only)"
    ),
    "aws:apigateway/restApi:RestApi": Charge(
        "usage", "streamed answers: per REST API request + per streamed 10 KB beyond the first"
    ),
    "aws:apigateway/methodSettings:MethodSettings": Charge(
        "usage", "method metrics: per metric-hour published (traffic only)"
    ),
    "aws:cloudwatch/logGroup:LogGroup": Charge("usage", "per GB ingested + GB-month stored"),
    "aws:s3/bucket:Bucket": Charge("usage", "per GB-month + per request"),
    "aws:s3/bucketObjectv2:BucketObjectv2": Charge(
        "usage", "the console's files: billed with their bucket (a few hundred KB, GETs)"
    ),
    "aws:sqs/queue:Queue": Charge("usage", "per request"),
    "aws:sns/topic:Topic": Charge("usage", "alarm notifications; e-mail within the free tier"),
    "aws:cognito/userPool:UserPool": Charge("usage", "per monthly active user (Essentials)"),
    "aws:cloudfront/distribution:Distribution": Charge("usage", "per request + GB out"),
    # Not billed themselves.
    "aws:apigatewayv2/authorizer:Authorizer": _free("JWT authorizers are not billed"),
    "aws:apigatewayv2/integration:Integration": _free(_CONFIG),
    "aws:apigatewayv2/route:Route": _free(_CONFIG),
    "aws:apigateway/authorizer:Authorizer": _free("Cognito authorizers are not billed"),
    "aws:apigateway/resource:Resource": _free(_CONFIG),
    "aws:apigateway/method:Method": _free(_CONFIG),
    "aws:apigateway/integration:Integration": _free(_CONFIG),
    "aws:apigateway/deployment:Deployment": _free(_CONFIG),
    "aws:apigateway/stage:Stage": _free("no cache configured"),
    "aws:codedeploy/application:Application": _free("CodeDeploy to Lambda is free"),
    "aws:codedeploy/deploymentConfig:DeploymentConfig": _free("CodeDeploy to Lambda is free"),
    "aws:codedeploy/deploymentGroup:DeploymentGroup": _free("CodeDeploy to Lambda is free"),
    "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup": _free(_CONFIG),
    "aws:ec2/routeTable:RouteTable": _free(_CONFIG),
    "aws:ec2/routeTableAssociation:RouteTableAssociation": _free(_CONFIG),
    "aws:ec2/securityGroup:SecurityGroup": _free(_CONFIG),
    "aws:ec2/subnet:Subnet": _free("subnets are free"),
    "aws:ec2/vpc:Vpc": _free("a VPC is free"),
    "aws:ec2/vpcEndpointPolicy:VpcEndpointPolicy": _free(_CONFIG),
    "aws:ecr/lifecyclePolicy:LifecyclePolicy": _free(_CONFIG),
    "aws:iam/role:Role": _free("IAM is free"),
    "aws:iam/rolePolicy:RolePolicy": _free("IAM is free"),
    "aws:iam/policy:Policy": _free("IAM is free"),
    "aws:lambda/alias:Alias": _free(_CONFIG),
    "aws:lambda/permission:Permission": _free(_CONFIG),
    "aws:rds/subnetGroup:SubnetGroup": _free(_CONFIG),
    "aws:s3/bucketCorsConfiguration:BucketCorsConfiguration": _free(_CONFIG),
    "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration": _free(_CONFIG),
    "aws:s3/bucketNotification:BucketNotification": _free(_CONFIG),
    "aws:s3/bucketOwnershipControls:BucketOwnershipControls": _free(_CONFIG),
    "aws:s3/bucketPolicy:BucketPolicy": _free(_CONFIG),
    "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock": _free(_CONFIG),
    "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration": (
        _free("SSE-S3 (AES256) is free")
    ),
    "aws:s3/bucketVersioning:BucketVersioning": _free(_CONFIG),
    "aws:secretsmanager/secretVersion:SecretVersion": _free("versions are part of the secret"),
    "aws:sns/topicSubscription:TopicSubscription": _free(_CONFIG),
    "aws:sqs/queuePolicy:QueuePolicy": _free(_CONFIG),
    "aws:sqs/redriveAllowPolicy:RedriveAllowPolicy": _free(_CONFIG),
    "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule": _free(_CONFIG),
    "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule": _free(_CONFIG),
    "aws:cognito/userPoolClient:UserPoolClient": _free(_CONFIG),
    "aws:cognito/userPoolDomain:UserPoolDomain": _free(_CONFIG),
    "aws:cognito/userGroup:UserGroup": _free(_CONFIG),
    "aws:cloudfront/originAccessControl:OriginAccessControl": _free(_CONFIG),
    "aws:cloudfront/responseHeadersPolicy:ResponseHeadersPolicy": _free(_CONFIG),
    "random:index/randomPassword:RandomPassword": _free("generated by Pulumi, not AWS"),
}


def unpriced_types(inventory: Inventory) -> list[str]:
    """Declared resource types the cost model does not know how to charge."""
    return sorted(set(inventory.types()) - set(CHARGES))


@dataclass(frozen=True)
class InterfaceEndpoint:
    service: str
    availability_zones: int


@dataclass(frozen=True)
class StackFacts:
    """The deployed configuration, as declared."""

    region: str
    memory_mb: Mapping[str, int]
    """Per service (upload, processor, query)."""
    arm64: bool
    xray_active: bool
    embedding_model_id: str
    embedding_dimensions: int
    answer_model_id: str
    min_acu: float
    max_acu: float
    seconds_until_auto_pause: int
    interface_endpoints: Sequence[InterfaceEndpoint]
    secrets: int
    """Declared secrets plus one RDS-managed master secret per cluster that asks for it."""
    alarms: int
    repositories: int
    queue_pollers: int
    """Event source mappings on SQS (each polls even when the queue is empty)."""
    routes: int
    detailed_route_metrics: bool


def _functions(inventory: Inventory) -> dict[str, Mapping[str, object]]:
    """Service name → the function's declared inputs (names end in ``-<service>``)."""
    return {
        str(r.inputs["name"]).rsplit("-", 1)[-1]: r.inputs
        for r in inventory.of_type("aws:lambda/function:Function")
    }


def _env(function: Mapping[str, object]) -> Mapping[str, str]:
    environment = function.get("environment") or {}
    assert isinstance(environment, Mapping)
    variables = environment.get("variables") or {}
    assert isinstance(variables, Mapping)
    return {str(k): str(v) for k, v in variables.items()}


def stack_facts(inventory: Inventory) -> StackFacts:
    functions = _functions(inventory)
    services = {name: functions[name] for name in ("upload", "processor", "query")}
    query_env, processor_env = _env(services["query"]), _env(services["processor"])
    [cluster] = inventory.of_type("aws:rds/cluster:Cluster")
    scaling = dict(cluster.inputs.get("serverlessv2ScalingConfiguration") or {})
    endpoints = [
        InterfaceEndpoint(
            service=str(r.inputs["serviceName"]).rsplit(".", 1)[-1],
            availability_zones=len(list(r.inputs.get("subnetIds") or [])),
        )
        for r in inventory.of_type("aws:ec2/vpcEndpoint:VpcEndpoint")
        if r.inputs.get("vpcEndpointType") == "Interface"
    ]
    stages = inventory.of_type("aws:apigatewayv2/stage:Stage")
    return StackFacts(
        region=inventory.region,
        memory_mb={name: int(float(str(f["memorySize"]))) for name, f in services.items()},
        arm64=all(f.get("architectures") == ["arm64"] for f in services.values()),
        xray_active=all(
            (f.get("tracingConfig") or {}) == {"mode": "Active"} for f in services.values()
        ),
        embedding_model_id=processor_env["EMBEDDING_MODEL_ID"],
        embedding_dimensions=int(processor_env["EMBEDDING_DIMENSIONS"]),
        answer_model_id=query_env["ANSWER_MODEL_ID"],
        min_acu=float(scaling.get("minCapacity", 0.5)),
        max_acu=float(scaling.get("maxCapacity", 1.0)),
        seconds_until_auto_pause=int(float(scaling.get("secondsUntilAutoPause", 0))),
        interface_endpoints=endpoints,
        secrets=inventory.count("aws:secretsmanager/secret:Secret")
        + sum(bool(c.inputs.get("manageMasterUserPassword")) for c in [cluster]),
        alarms=inventory.count("aws:cloudwatch/metricAlarm:MetricAlarm"),
        repositories=inventory.count("aws:ecr/repository:Repository"),
        queue_pollers=inventory.count("aws:lambda/eventSourceMapping:EventSourceMapping"),
        routes=inventory.count("aws:apigatewayv2/route:Route"),
        detailed_route_metrics=any(
            (s.inputs.get("defaultRouteSettings") or {}).get("detailedMetricsEnabled")
            for s in stages
        ),
    )
