"""Service: one independently deployable unit (upload, processor or query).

ECR repository → function pinned by digest → published versions behind a ``live``
alias → CodeDeploy canary with automatic rollback on this service's alarms. Pulumi
creates the alias once and then leaves its version and routing to CodeDeploy.

With no image digest configured, only the repository is created, so a first
deploy can create repositories before any image exists (docs/operations.md).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from docpipe.infra import naming, policies
from docpipe.infra.lambda_function import FunctionPlacement, FunctionSpec, create_vpc_function
from docpipe.infra.settings import RolloutSettings, ServiceSettings

__all__ = ["ECR_KEEP_IMAGES", "QueueTrigger", "Service", "ServiceArgs", "image_uri"]

#: Old images are kept long enough to roll back to any recently live version.
ECR_KEEP_IMAGES = 50


def image_uri(*, repository_url: str, digest: str) -> str:
    return f"{repository_url}@{digest}"


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
                parent=self, ignore_changes=["functionVersion", "routingConfig"]
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
