"""Database: Aurora PostgreSQL Serverless v2 in the private subnets, plus one login
role's credentials per service (generated, stored only in Secrets Manager).

The master password is managed by RDS in Secrets Manager; Pulumi never sees it.
Each service connects as its own role (``docpipe_upload``, ``docpipe_processor``,
``docpipe_query``: migration 0007 creates them with only their grants) and reads only its
own secret, so a foothold in the read-only query service cannot borrow the processor's
password. Each password is a RandomPassword whose value lives in Pulumi's encrypted state
and in that role's secret; bump ``rolePasswordVersion`` to rotate them all. The
migration function sets each role's password from its secret.

Engine version: ``engineVersion`` is the version the cluster is *created* with. AWS then
applies minor upgrades (``auto_minor_version_upgrade``) and Pulumi ignores the engine
version from then on. Without that, the provider reads the upgraded version back into
state (it keeps the configured value only when it is a prefix of the running one,
terraform-provider-aws ``compareActualEngineVersion``), sees "16.8 → 16.6" and sends
ModifyDBCluster for a downgrade, which RDS refuses ("Cannot upgrade aurora-postgresql
from 16.8 to 16.6"). Major upgrades are an explicit operator step (docs/operations.md).

The cluster is ``protect``-ed: ``pulumi destroy`` or a replacement cannot delete the
data by accident (teardown: ``pulumi state unprotect``, docs/operations.md).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws
import pulumi_random as random

from docpipe.common.migrations import SERVICE_ROLES
from docpipe.infra.settings import DatabaseSettings

__all__ = [
    "ENGINE_VERSION_OWNED_BY_AWS",
    "SERVICE_ROLES",
    "Database",
    "DatabaseArgs",
    "MASTER_USERNAME",
    "RoleSecret",
]

#: Inputs Pulumi leaves alone after creation, so AWS's minor upgrades are never reverted.
ENGINE_VERSION_OWNED_BY_AWS: tuple[str, ...] = ("engineVersion",)
MASTER_USERNAME = "docpipe_admin"
_ENGINE = aws.rds.EngineType.AURORA_POSTGRESQL


@dataclass(frozen=True)
class RoleSecret:
    """One service role's credentials: ``{"username": <role>, "password": ...}``."""

    role: str
    secret: aws.secretsmanager.Secret
    version: aws.secretsmanager.SecretVersion


@dataclass(frozen=True)
class DatabaseArgs:
    settings: DatabaseSettings
    subnet_ids: Sequence[pulumi.Input[str]]
    security_group_id: pulumi.Input[str]


class Database(pulumi.ComponentResource):
    cluster: aws.rds.Cluster
    instances: list[aws.rds.ClusterInstance]
    #: by service name (``upload``, ``processor``, ``query``)
    role_secrets: dict[str, RoleSecret]
    master_secret_arn: pulumi.Output[str]

    def __init__(
        self, name: str, args: DatabaseArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("docpipe:database:Database", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        s = args.settings
        subnet_group = aws.rds.SubnetGroup(
            f"{name}-subnets", subnet_ids=list(args.subnet_ids), opts=child
        )
        scaling = aws.rds.ClusterServerlessv2ScalingConfigurationArgs(
            min_capacity=s.min_capacity,
            max_capacity=s.max_capacity,
            seconds_until_auto_pause=s.seconds_until_auto_pause if s.min_capacity == 0 else None,
        )
        self.cluster = aws.rds.Cluster(
            f"{name}-cluster",
            engine=_ENGINE,
            engine_mode="provisioned",
            engine_version=s.engine_version,
            database_name=s.database_name,
            master_username=MASTER_USERNAME,
            manage_master_user_password=True,
            db_subnet_group_name=subnet_group.name,
            vpc_security_group_ids=[args.security_group_id],
            storage_encrypted=True,
            backup_retention_period=s.backup_retention_days,
            deletion_protection=s.deletion_protection,
            skip_final_snapshot=not s.deletion_protection,
            final_snapshot_identifier=None if not s.deletion_protection else f"{name}-final",
            copy_tags_to_snapshot=True,
            iam_database_authentication_enabled=True,
            enabled_cloudwatch_logs_exports=["postgresql"],
            serverlessv2_scaling_configuration=scaling,
            opts=pulumi.ResourceOptions(
                parent=self, protect=True, ignore_changes=list(ENGINE_VERSION_OWNED_BY_AWS)
            ),
        )
        self.instances = [
            aws.rds.ClusterInstance(
                f"{name}-instance-{index}",
                cluster_identifier=self.cluster.id,
                instance_class="db.serverless",
                engine=_ENGINE,
                db_subnet_group_name=subnet_group.name,
                publicly_accessible=False,
                performance_insights_enabled=True,
                performance_insights_retention_period=7,
                auto_minor_version_upgrade=True,
                # an Aurora instance runs its cluster's version; never send one of its own
                opts=pulumi.ResourceOptions(
                    parent=self, ignore_changes=list(ENGINE_VERSION_OWNED_BY_AWS)
                ),
            )
            for index in range(s.instance_count)
        ]
        self.master_secret_arn = self.cluster.master_user_secrets.apply(
            lambda secrets: (secrets[0].secret_arn or "") if secrets else ""
        )
        self.role_secrets = {
            service: self._role_credentials(name, service, role, s, child)
            for service, role in SERVICE_ROLES.items()
        }
        self.register_outputs(
            {
                "endpoint": self.cluster.endpoint,
                "master_secret_arn": self.master_secret_arn,
                **{f"{n}_secret_arn": r.secret.arn for n, r in self.role_secrets.items()},
            }
        )

    def _role_credentials(
        self,
        name: str,
        service: str,
        role: str,
        s: DatabaseSettings,
        child: pulumi.ResourceOptions,
    ) -> RoleSecret:
        password = random.RandomPassword(
            f"{name}-{service}-password",
            length=40,
            special=False,
            keepers={"version": str(s.role_password_version)},
            opts=child,
        )
        secret = aws.secretsmanager.Secret(
            f"{name}-{service}-secret",
            description=f"credentials of database role {role} (the {service} service's)",
            opts=child,
        )
        credentials: pulumi.Output[str] = password.result.apply(
            lambda value: json.dumps({"username": role, "password": value})
        )
        version = aws.secretsmanager.SecretVersion(
            f"{name}-{service}-secret-version",
            secret_id=secret.id,
            # mypy cannot solve Output.secret's Input[U] union for an Output argument
            secret_string=pulumi.Output.secret(credentials),  # type: ignore[arg-type]
            opts=child,
        )
        return RoleSecret(role=role, secret=secret, version=version)
