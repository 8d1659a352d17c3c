"""docpipe's Pulumi program: read the stack config, compose the components, export."""

from __future__ import annotations

import pulumi
import pulumi_aws as aws

from docpipe.common.migrations import migration_manifest
from docpipe.infra.alerts import Alerts
from docpipe.infra.cognito import Login, LoginArgs
from docpipe.infra.console import ConsoleRelease, ConsoleReleaseArgs, ConsoleSite, ConsoleSiteArgs
from docpipe.infra.database import Database, DatabaseArgs
from docpipe.infra.document_store import DocumentStore, DocumentStoreArgs
from docpipe.infra.endpoint_policies import EndpointPolicies, EndpointPoliciesArgs
from docpipe.infra.environment import Endpoints, service_environment
from docpipe.infra.http_api import HttpApi, HttpApiArgs
from docpipe.infra.lambda_function import FunctionPlacement
from docpipe.infra.migrations import Migrations, MigrationsArgs
from docpipe.infra.network import Network, NetworkArgs
from docpipe.infra.permissions import deployed_statements, service_statements
from docpipe.infra.service import QueueTrigger, Service, ServiceArgs, image_uri
from docpipe.infra.settings import SERVICE_NAMES, load_settings
from docpipe.infra.stream_api import QUERY_COMMAND, QUERY_ENTRY_POINT, StreamApi, StreamApiArgs

config = pulumi.Config("docpipe")
settings = load_settings(
    stack=pulumi.get_stack(),
    region=pulumi.Config("aws").require("region"),
    read=config.get_object,
)
account_id = aws.get_caller_identity_output().account_id
region = settings.region

alerts = Alerts("alerts", emails=settings.alerts.emails)
network = Network("network", NetworkArgs(settings=settings.network, region=region))
login = (
    Login(
        "login",
        LoginArgs(
            stack=settings.stack, settings=settings.auth, region=region, account_id=account_id
        ),
    )
    if settings.auth.cognito
    else None
)
# The web console's site first: the APIs and the documents bucket name its origin (CORS).
console = (
    ConsoleSite(
        "console",
        ConsoleSiteArgs(
            stack=settings.stack,
            region=region,
            settings=settings.console,
            auth=settings.auth,
            user_pool_id=login.user_pool.id if login else None,
        ),
    )
    if settings.console.enabled
    else None
)
console_origins = [console.origin] if console else []
store = DocumentStore(
    "documents",
    DocumentStoreArgs(
        documents=settings.documents,
        queue=settings.queue,
        processor_timeout_seconds=settings.services["processor"].timeout_seconds,
        account_id=account_id,
        alarm_topic_arn=alerts.topic.arn,
        extra_cors_origins=console_origins,
    ),
)
database = Database(
    "database",
    DatabaseArgs(
        settings=settings.database,
        subnet_ids=network.subnet_ids,
        security_group_id=network.database_sg.id,
    ),
)
placement = FunctionPlacement(
    subnet_ids=network.subnet_ids,
    security_group_id=network.functions_sg.id,
    region=region,
    account_id=account_id,
)
role_secret_arns = {name: r.secret.arn for name, r in database.role_secrets.items()}
endpoints = Endpoints(
    database_host=database.cluster.endpoint,
    database_port=database.cluster.port.apply(str),
    database_secret_arns=role_secret_arns,
    bucket=store.bucket.bucket,
    queue_url=store.queue.url,
)
# What each function's role may do; the VPC endpoints admit what the deployed ones may.
statements = service_statements(
    settings=settings,
    account_id=account_id,
    bucket_arn=store.bucket.arn,
    queue_arn=store.queue.arn,
    role_secret_arns=role_secret_arns,
)
EndpointPolicies(
    "endpoint-policies",
    EndpointPoliciesArgs(
        endpoints=network.endpoints,
        statements=deployed_statements(
            settings=settings,
            services=statements,
            master_secret_arn=database.master_secret_arn,
            role_secret_arns=role_secret_arns,
        ),
        account_id=account_id,
    ),
)
processor_settings = settings.services["processor"]
services = {
    name: Service(
        name,
        ServiceArgs(
            stack=settings.stack,
            settings=settings.services[name],
            rollout=settings.rollout,
            placement=placement,
            environment=service_environment(
                service=name,
                settings=settings,
                endpoints=endpoints,
                console_origins=console_origins,
            ),
            statements=statements[name],
            alarm_topic_arn=alerts.topic.arn,
            log_retention_days=settings.alerts.log_retention_days,
            queue_trigger=QueueTrigger(
                queue_arn=store.queue.arn,
                batch_size=processor_settings.batch_size,
                maximum_concurrency=processor_settings.max_concurrency,
            )
            if name == "processor"
            else None,
            entry_point=QUERY_ENTRY_POINT if name == "query" else None,
            command=QUERY_COMMAND if name == "query" else None,
        ),
    )
    for name in SERVICE_NAMES
}

if processor_settings.deployed:
    Migrations(
        "migrations",
        MigrationsArgs(
            stack=settings.stack,
            image_uri=services["processor"].repository.repository_url.apply(
                lambda url: image_uri(repository_url=url, digest=processor_settings.image_digest)
            ),
            placement=placement,
            manifest=migration_manifest(),
            database_host=database.cluster.endpoint,
            database_port=database.cluster.port.apply(str),
            database_name=settings.database.database_name,
            embedding_dimensions=settings.models.embedding_dimensions,
            master_secret_arn=database.master_secret_arn,
            role_secret_arns=role_secret_arns,
            role_secret_version_ids={
                name: r.version.version_id for name, r in database.role_secrets.items()
            },
            log_retention_days=settings.alerts.log_retention_days,
            depends_on=[*database.instances, *network.interface_endpoints],
        ),
    )

http_api = HttpApi(
    "http",
    HttpApiArgs(
        stack=settings.stack,
        settings=settings.api,
        aliases={name: s.alias for name, s in services.items() if s.alias is not None},
        jwt_issuer=login.issuer if login else str(settings.api.jwt_issuer),
        jwt_audiences=[
            login.client.id,
            *([console.client.id] if console and console.client else []),
        ]
        if login
        else list(settings.api.jwt_audiences),
        extra_cors_origins=console_origins,
    ),
)

# Streamed answers need a route that streams (HTTP APIs buffer): stream_api.py.
query_alias = services["query"].alias
stream_api = (
    StreamApi(
        "stream",
        StreamApiArgs(
            stack=settings.stack,
            settings=settings.api,
            region=region,
            alias=query_alias,
            user_pool_arn=login.user_pool.arn,
            timeout_seconds=settings.services["query"].timeout_seconds,
        ),
    )
    if login is not None and query_alias is not None
    else None
)

if console is not None:
    ConsoleRelease(
        "console-release",
        ConsoleReleaseArgs(
            stack=settings.stack,
            region=region,
            site=console,
            api_url=http_api.api.api_endpoint,
            stream_url=stream_api.url if stream_api else None,
            documents_bucket=store.bucket.bucket,
            hosted_ui_url=login.hosted_ui_url(region) if login else None,
        ),
    )

pulumi.export("api_url", http_api.api.api_endpoint)
pulumi.export("query_stream_url", stream_api.url if stream_api else None)
pulumi.export("console_url", console.origin.apply(lambda o: f"{o}/") if console else None)
pulumi.export("console_bucket", console.bucket.bucket if console else None)
pulumi.export("console_distribution_id", console.distribution.id if console else None)
pulumi.export("bucket", store.bucket.bucket)
pulumi.export("queue_url", store.queue.url)
pulumi.export("dlq_url", store.dlq.url)
pulumi.export("dlq_arn", store.dlq.arn)
pulumi.export("queue_arn", store.queue.arn)
pulumi.export("database_endpoint", database.cluster.endpoint)
pulumi.export("database_master_secret_arn", database.master_secret_arn)
for name, arn in role_secret_arns.items():
    pulumi.export(f"database_{name}_secret_arn", arn)
pulumi.export("alarm_topic_arn", alerts.topic.arn)
if login is not None:
    pulumi.export("user_pool_id", login.user_pool.id)
    pulumi.export("app_client_id", login.client.id)
    pulumi.export("issuer_url", login.issuer)
    pulumi.export("hosted_ui_url", login.hosted_ui_url(region))
for name, service in services.items():
    pulumi.export(f"{name}_repository_url", service.repository.repository_url)
    pulumi.export(f"{name}_function_name", service.function.name if service.function else None)
    pulumi.export(f"{name}_alias_name", service.alias.name if service.alias else None)
