"""Service: one independently deployable unit (upload, processor or query).

ECR repository → function created from an image pinned by digest → published versions
behind a ``live`` alias → CodeDeploy canary with automatic rollback on this service's
alarms.

What belongs to whom after creation, so that deploying one service can never revert
another (a `pulumi up` from a checkout whose recorded image of a service is older):
- the function's image belongs to the rollout command (``docpipe.infra.rollout``), which
  updates the code, publishes a version and canaries it; Pulumi ignores ``imageUri``;
- the alias's version, routing and description belong to CodeDeploy and the rollout
  command (the description holds the release history the rollback reads);
- the canary alarms' metric queries name the version under canary; the rollout command
  points them at each new version before the deployment starts.

The canary watches what users see, not only ``AWS/Lambda``: Mangum answers a raising
route with a 500 that Lambda counts as a success, and failed documents are statuses and
batch-item failures. Each service reports those per function version
(``docpipe.common.metrics``) and each deployment group alarms on the new version's rates.

With no image digest configured, only the repository is created, so a first
deploy can create repositories before any image exists (docs/operations.md).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from docpipe.common.metrics import FUNCTION_NAME, FUNCTION_VERSION, NAMESPACE, Metric
from docpipe.infra import naming, policies
from docpipe.infra.lambda_function import FunctionPlacement, FunctionSpec, create_vpc_function
from docpipe.infra.settings import RolloutSettings, ServiceSettings

__all__ = [
    "ECR_KEEP_IMAGES",
    "CanaryRate",
    "QueueTrigger",
    "Service",
    "ServiceArgs",
    "canary_rates",
    "image_uri",
]

#: Old images are kept long enough to roll back to any recently live version.
ECR_KEEP_IMAGES = 50


def image_uri(*, repository_url: str, digest: str) -> str:
    return f"{repository_url}@{digest}"


@dataclass(frozen=True)
class CanaryRate:
    """A failure rate of the new version that stops its canary: 100 × failures / totals."""

    slug: str
    failures: Metric
    totals: tuple[Metric, ...]
    threshold_percent: float
    description: str


def canary_rates(*, service: str, rollout: RolloutSettings) -> list[CanaryRate]:
    """The application rates each service's canary alarms on."""
    if service == "processor":
        return [
            CanaryRate(
                "failed-documents",
                Metric.DOCUMENTS_FAILED,
                (Metric.DOCUMENTS_COMPLETED, Metric.DOCUMENTS_FAILED),
                rollout.failed_document_percent,
                "documents the new version ended failed",
            ),
            CanaryRate(
                "returned-messages",
                Metric.BATCH_ITEM_FAILURES,
                (Metric.MESSAGES,),
                rollout.returned_message_percent,
                "SQS messages the new version handed back (batch-item failures)",
            ),
        ]
    return [
        CanaryRate(
            "http-5xx",
            Metric.SERVER_ERRORS,
            (Metric.REQUESTS,),
            rollout.http_error_percent,
            "HTTP answers of the new version that were 5xx",
        )
    ]


@dataclass(frozen=True)
class QueueTrigger:
    queue_arn: pulumi.Input[str]
    batch_size: int
    maximum_concurrency: int


@dataclass(frozen=True)
class ServiceArgs:
    stack: str
    settings: ServiceSettings
    rollout: RolloutSettings
    placement: FunctionPlacement
    environment: Mapping[str, pulumi.Input[str]]
    statements: pulumi.Input[Sequence[policies.Statement]]
    alarm_topic_arn: pulumi.Input[str]
    log_retention_days: int
    queue_trigger: QueueTrigger | None = None
    #: image ENTRYPOINT and CMD overrides (the query function's runtime: stream_api.py)
    entry_point: Sequence[str] | None = None
    command: Sequence[str] | None = None


class Service(pulumi.ComponentResource):
    repository: aws.ecr.Repository
    function: aws.lambda_.Function | None = None
    alias: aws.lambda_.Alias | None = None
    alarms: list[aws.cloudwatch.MetricAlarm]

    def __init__(
        self, name: str, args: ServiceArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("docpipe:service:Service", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.repository = aws.ecr.Repository(
            f"{name}-repository",
            image_tag_mutability="IMMUTABLE",
            image_scanning_configuration={"scan_on_push": True},
            encryption_configurations=[{"encryption_type": "AES256"}],
            opts=child,
        )
        aws.ecr.LifecyclePolicy(
            f"{name}-repository-lifecycle",
            repository=self.repository.name,
            policy=json.dumps(
                policies.ecr_lifecycle_policy(keep_images=ECR_KEEP_IMAGES, untagged_days=7)
            ),
            opts=child,
        )
        self.alarms = []
        self.function_name = naming.function_name(stack=args.stack, service=args.settings.name)
        if args.settings.deployed:
            self._deploy(name, args, child)
        self.register_outputs(
            {
                "repository_url": self.repository.repository_url,
                "function_name": self.function.name if self.function else None,
                "alias_name": self.alias.name if self.alias else None,
            }
        )

    def _deploy(self, name: str, args: ServiceArgs, child: pulumi.ResourceOptions) -> None:
        s = args.settings
        fn = create_vpc_function(
            name,
            FunctionSpec(
                function_name=self.function_name,
                description=f"docpipe {s.name} service",
                image_uri=self.repository.repository_url.apply(
                    lambda url: image_uri(repository_url=url, digest=s.image_digest)
                ),
                memory_mb=s.memory_mb,
                timeout_seconds=s.timeout_seconds,
                reserved_concurrency=s.reserved_concurrency,
                environment=args.environment,
                statements=args.statements,
                log_retention_days=args.log_retention_days,
                code_owned_by_rollout=True,
                entry_point=args.entry_point,
                command=args.command,
            ),
            args.placement,
            parent=self,
        )
        self.function = fn.function
        self.alias = aws.lambda_.Alias(
            f"{name}-alias",
            name=naming.ALIAS_NAME,
            function_name=fn.function.name,
            function_version=fn.function.version,
            opts=pulumi.ResourceOptions(
                parent=self, ignore_changes=["functionVersion", "routingConfig", "description"]
            ),
        )
        self._alarms(name, args, child)
        self._codedeploy(name, args, child)
        if args.queue_trigger is not None:
            self._queue_trigger(name, args.queue_trigger, child)

    def _alarm(
        self,
        name: str,
        metric: str,
        statistic: str,
        threshold: float,
        args: ServiceArgs,
        child: pulumi.ResourceOptions,
        extended: str | None = None,
    ) -> None:
        assert self.alias is not None
        alarm = aws.cloudwatch.MetricAlarm(
            f"{name}-{metric.lower()}",
            name=f"{self.function_name}-{metric.lower()}",
            alarm_description=f"{metric} of {self.function_name}:{naming.ALIAS_NAME}",
            namespace="AWS/Lambda",
            metric_name=metric,
            dimensions={
                "FunctionName": self.function_name,
                "Resource": f"{self.function_name}:{naming.ALIAS_NAME}",
            },
            statistic=None if extended else statistic,
            extended_statistic=extended,
            period=60,
            evaluation_periods=1,
            threshold=threshold,
            comparison_operator="GreaterThanOrEqualToThreshold",
            treat_missing_data="notBreaching",
            alarm_actions=[args.alarm_topic_arn],
            ok_actions=[args.alarm_topic_arn],
            opts=child,
        )
        self.alarms.append(alarm)

    def _alarms(self, name: str, args: ServiceArgs, child: pulumi.ResourceOptions) -> None:
        s = args.settings
        self._alarm(name, "Errors", "Sum", s.error_alarm_threshold, args, child)
        self._alarm(name, "Throttles", "Sum", 1, args, child)
        self._alarm(name, "Duration", "", s.duration_alarm_ms, args, child, extended="p99")
        for rate in canary_rates(service=s.name, rollout=args.rollout):
            self._canary_alarm(name, rate, args)

    def _canary_alarm(self, name: str, rate: CanaryRate, args: ServiceArgs) -> None:
        """Alarm on one application rate of one version (the one under canary)."""
        assert self.function is not None

        def query(query_id: str, metric: Metric) -> aws.cloudwatch.MetricAlarmMetricQueryArgs:
            return aws.cloudwatch.MetricAlarmMetricQueryArgs(
                id=query_id,
                return_data=False,
                metric=aws.cloudwatch.MetricAlarmMetricQueryMetricArgs(
                    namespace=NAMESPACE,
                    metric_name=metric.value,
                    dimensions={
                        FUNCTION_NAME: self.function_name,
                        FUNCTION_VERSION: self.function.version,  # type: ignore[union-attr]
                    },
                    period=60,
                    stat="Sum",
                ),
            )

        totals = [f"total{i}" for i in range(len(rate.totals))]
        alarm = aws.cloudwatch.MetricAlarm(
            f"{name}-canary-{rate.slug}",
            name=f"{self.function_name}-canary-{rate.slug}",
            alarm_description=f"% {rate.description} (canary; docs/operations.md)",
            metric_queries=[
                query("failures", rate.failures),
                *(query(i, m) for i, m in zip(totals, rate.totals, strict=True)),
                aws.cloudwatch.MetricAlarmMetricQueryArgs(
                    id="rate",
                    expression=f"100 * failures / ({' + '.join(totals)})",
                    label=f"{rate.slug} %",
                    return_data=True,
                ),
            ],
            evaluation_periods=1,
            threshold=rate.threshold_percent,
            comparison_operator="GreaterThanOrEqualToThreshold",
            treat_missing_data="notBreaching",
            alarm_actions=[args.alarm_topic_arn],
            ok_actions=[args.alarm_topic_arn],
            opts=pulumi.ResourceOptions(parent=self, ignore_changes=["metricQueries"]),
        )
        self.alarms.append(alarm)

    def _codedeploy(self, name: str, args: ServiceArgs, child: pulumi.ResourceOptions) -> None:
        assert self.function is not None and self.alias is not None
        app = aws.codedeploy.Application(
            f"{name}-codedeploy",
            name=naming.codedeploy_application(stack=args.stack, service=args.settings.name),
            compute_platform="Lambda",
            opts=child,
        )
        canary = args.rollout
        config = aws.codedeploy.DeploymentConfig(
            f"{name}-canary",
            deployment_config_name=naming.deployment_config_name(
                stack=args.stack,
                service=args.settings.name,
                percentage=canary.canary_percentage,
                minutes=canary.canary_interval_minutes,
            ),
            compute_platform="Lambda",
            traffic_routing_config={
                "type": "TimeBasedCanary",
                "time_based_canary": {
                    "interval": canary.canary_interval_minutes,
                    "percentage": canary.canary_percentage,
                },
            },
            opts=child,
        )
        role = aws.iam.Role(
            f"{name}-codedeploy-role",
            assume_role_policy=json.dumps(
                policies.assume_role_policy(service_principal="codedeploy.amazonaws.com")
            ),
            opts=child,
        )
        aws.iam.RolePolicy(
            f"{name}-codedeploy-policy",
            role=role.id,
            policy=pulumi.Output.all(
                self.function.arn, self.alias.arn, *[a.arn for a in self.alarms]
            ).apply(
                lambda arns: json.dumps(
                    policies.codedeploy_policy(
                        function_arn=arns[0], alias_arn=arns[1], alarm_arns=arns[2:]
                    )
                )
            ),
            opts=child,
        )
        aws.codedeploy.DeploymentGroup(
            f"{name}-deployment-group",
            app_name=app.name,
            deployment_group_name=naming.deployment_group(
                stack=args.stack, service=args.settings.name
            ),
            deployment_config_name=config.deployment_config_name,
            service_role_arn=role.arn,
            deployment_style={
                "deployment_option": "WITH_TRAFFIC_CONTROL",
                "deployment_type": "BLUE_GREEN",
            },
            auto_rollback_configuration={
                "enabled": True,
                "events": ["DEPLOYMENT_FAILURE", "DEPLOYMENT_STOP_ON_ALARM"],
            },
            alarm_configuration={"enabled": True, "alarms": [a.name for a in self.alarms]},
            opts=child,
        )

    def _queue_trigger(
        self, name: str, trigger: QueueTrigger, child: pulumi.ResourceOptions
    ) -> None:
        assert self.alias is not None
        aws.lambda_.EventSourceMapping(
            f"{name}-queue-trigger",
            event_source_arn=trigger.queue_arn,
            function_name=self.alias.arn,
            batch_size=trigger.batch_size,
            function_response_types=["ReportBatchItemFailures"],
            scaling_config={"maximum_concurrency": trigger.maximum_concurrency},
            opts=child,
        )
