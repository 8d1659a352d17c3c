"""What the program deploys: independence of services, bootstrap stage, migrations,
outputs, and the resource count per component."""

from __future__ import annotations

import importlib
import json
import os
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from docpipe.common.migrations import manifest_fingerprint, migration_manifest
from docpipe.infra.migrations import MIGRATE_HANDLER

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

REPO = Path(__file__).resolve().parents[2]
DIGESTS = {
    "upload": "sha256:" + "a" * 64,
    "processor": "sha256:" + "b" * 64,
    "query": "sha256:" + "c" * 64,
}


def _fingerprints(inv: Any) -> dict[str, str]:
    return {r.urn: json.dumps(r.inputs, sort_keys=True, default=str) for r in inv.resources}


def _changed_owners(before: Any, after: Any) -> set[str]:
    old, new = _fingerprints(before), _fingerprints(after)
    assert old.keys() == new.keys(), "resources were added or removed"
    by_urn = after.by_urn()
    return {after.owner(by_urn[urn]) for urn in new if old[urn] != new[urn]}


def _effective_changes(before: Any, after: Any) -> dict[str, set[str]]:
    """Input properties that differ and that the engine would act on (not ignored)."""
    old = before.by_urn()
    changes: dict[str, set[str]] = {}
    for resource in after.resources:
        previous = old[resource.urn].inputs
        keys = {
            key
            for key in previous.keys() | resource.inputs.keys()
            if json.dumps(previous.get(key), sort_keys=True, default=str)
            != json.dumps(resource.inputs.get(key), sort_keys=True, default=str)
        }
        if keys - set(resource.ignore_changes):
            changes[resource.name] = keys - set(resource.ignore_changes)
    return changes


@pytest.mark.parametrize("service", ["upload", "processor", "query"])
def test_an_older_recorded_image_never_rolls_a_service_back(
    service: str, inventory: Any, deploy_with: Any
) -> None:
    """`pulumi up` from a checkout whose stack config records an older image of a service
    (someone else rolled a newer one out since) must not touch that service's code: after
    creation the rollout command owns every function's image, and Pulumi ignores it."""
    older = deploy_with(**dict(DIGESTS, **{service: "sha256:" + "0" * 64}))
    assert {r.urn for r in older.resources} == {r.urn for r in inventory.resources}
    assert _effective_changes(inventory, older) == {}
    image_users = {f"{service}-function"} | (
        {"migrations-function"} if service == "processor" else set()
    )
    for resource in older.of_type("aws:lambda/function:Function"):
        assert "imageUri" in resource.ignore_changes, resource.name
        if resource.name in image_users:  # the digest did reach the inputs: it is ignored
            assert resource.inputs["imageUri"].endswith("@sha256:" + "0" * 64)


def test_ignored_image_is_the_only_difference_the_guard_removes(
    inventory: Any, deploy_with: Any
) -> None:
    """The check above can fail: without ``ignore_changes`` the older digest is a change."""
    older = deploy_with(**dict(DIGESTS, query="sha256:" + "0" * 64))
    for resource in older.resources:
        resource.ignore_changes = [k for k in resource.ignore_changes if k != "imageUri"]
    assert _effective_changes(inventory, older) == {"query-function": {"imageUri"}}


def test_bootstrap_stage_creates_repositories_only(bootstrap_inventory: Any) -> None:
    """First `pulumi up`: repositories exist so images can be pushed; no functions yet."""
    types = Counter(r.type for r in bootstrap_inventory.custom())
    assert types["aws:ecr/repository:Repository"] == 3
    assert types["aws:lambda/function:Function"] == 0
    assert types["aws:apigatewayv2/route:Route"] == 0
    assert types["aws:lambda/invocation:Invocation"] == 0
    assert bootstrap_inventory.outputs["query_function_name"] is None


def test_migrations_run_from_processor_image_when_sql_changes(inventory: Any) -> None:
    fn = next(
        r
        for r in inventory.of_type("aws:lambda/function:Function")
        if r.name == "migrations-function"
    )
    assert fn.inputs["imageConfig"] == {"commands": [MIGRATE_HANDLER]}
    assert fn.inputs["imageUri"].endswith("/processor-repository-0a1b2c3@" + DIGESTS["processor"])
    assert "imageUri" in fn.ignore_changes  # the rollout command points it at new images
    env = fn.inputs["environment"]["variables"]
    assert env["MASTER_SECRET_ARN"].startswith("arn:aws:secretsmanager:")
    assert env["DATABASE_SECRET_ARN"] == env["MASTER_SECRET_ARN"]  # it connects as master
    # It sets each service role's password from that role's own secret.
    for service in ("upload", "processor", "query"):
        own = inventory.outputs[f"database_{service}_secret_arn"]
        assert env[f"{service.upper()}_DATABASE_SECRET_ARN"] == own
    invocation = inventory.of_type("aws:lambda/invocation:Invocation")[0]
    assert invocation.inputs["functionName"] == fn.inputs["name"]
    # The deployer's manifest travels with the invocation; the image refuses another one.
    manifest = migration_manifest()
    assert json.loads(invocation.inputs["input"]) == {"action": "migrate", "expected": manifest}
    assert invocation.inputs["triggers"]["migrations"] == manifest_fingerprint(manifest)
    # a new password of any role re-runs it (and so reaches the database)
    assert {f"{s}_secret_version" for s in ("upload", "processor", "query")} <= (
        invocation.inputs["triggers"].keys()
    )
    instance = inventory.of_type("aws:rds/clusterInstance:ClusterInstance")[0]
    assert instance.urn in invocation.dependencies


def test_outputs(inventory: Any) -> None:
    expected = {
        "api_url",
        "bucket",
        "queue_url",
        "dlq_url",
        "database_endpoint",
        "database_master_secret_arn",
        "database_upload_secret_arn",
        "database_processor_secret_arn",
        "database_query_secret_arn",
        "user_pool_id",
        "app_client_id",
        "issuer_url",
        "hosted_ui_url",
    }
    for service in ("upload", "processor", "query"):
        expected |= {
            f"{service}_repository_url",
            f"{service}_function_name",
            f"{service}_alias_name",
        }
    assert expected <= inventory.outputs.keys()
    assert all(inventory.outputs[key] for key in expected)
    assert inventory.outputs["query_alias_name"] == "live"
    pool = inventory.outputs["user_pool_id"]
    assert (
        inventory.outputs["issuer_url"]
        == f"https://cognito-idp.ap-northeast-1.amazonaws.com/{pool}"
    )
    assert inventory.outputs["hosted_ui_url"].endswith(".auth.ap-northeast-1.amazoncognito.com")


def test_services_get_contract_environment(inventory: Any) -> None:
    env = {
        r.name.removesuffix("-function"): r.inputs["environment"]["variables"]
        for r in inventory.of_type("aws:lambda/function:Function")
    }
    common = {"DATABASE_SECRET_ARN", "DATABASE_HOST", "DATABASE_PORT", "DATABASE_NAME"}
    assert (
        common
        | {
            "DOCUMENTS_BUCKET",
            "UPLOADS_PREFIX",
            "INGEST_QUEUE_URL",
            "AUTH_MODE",
            "TENANT_CLAIM",
            "CORS_ORIGINS",
        }
        <= env["upload"].keys()
    )
    assert (
        common
        | {"DOCUMENTS_BUCKET", "EMBEDDING_PROVIDER", "EMBEDDING_MODEL_ID", "EMBEDDING_DIMENSIONS"}
        <= env["processor"].keys()
    )
    assert common | {"EMBEDDING_MODEL_ID", "ANSWER_MODEL_ID", "AUTH_MODE"} <= env["query"].keys()
    assert env["query"]["AUTH_MODE"] == env["upload"]["AUTH_MODE"] == "apigateway"
    # claim names as Cognito's ID token spells them
    assert env["query"]["TENANT_CLAIM"] == env["upload"]["TENANT_CLAIM"] == "custom:tenant_id"
    assert env["query"]["GROUPS_CLAIM"] == "cognito:groups"
    assert env["upload"]["ADMIN_GROUPS"] == "docpipe-admins"
    # comma-separated: the configured origins, then the web console's (CloudFront's name)
    assert (
        env["upload"]["CORS_ORIGINS"]
        == "http://localhost:5173,https://d111111abcdef8.cloudfront.net"
    )
    assert env["processor"]["MAX_ATTEMPTS"] == "5"  # = the queue's maxReceiveCount
    assert int(env["processor"]["PROCESSING_LEASE_SECONDS"]) >= 300  # >= the Lambda timeout
    assert env["migrations"]["EMBEDDING_DIMENSIONS"] == env["processor"]["EMBEDDING_DIMENSIONS"]
    assert "ANSWER_MODEL_ID" not in env["processor"] and "EMBEDDING_MODEL_ID" not in env["upload"]


def test_resource_count_per_component(inventory: Any) -> None:
    counts = Counter(inventory.owner(r) for r in inventory.custom())
    print("resources per component:", dict(sorted(counts.items())))
    assert set(counts) == {
        "alerts",
        "network",
        "documents",
        "database",
        "upload",
        "processor",
        "query",
        "migrations",
        "http",
        "login",
        "stream",
        "endpoint-policies",
        "console",
        "console-release",
    }
    assert counts["upload"] == counts["query"]


@pytest.mark.parametrize(
    ("function", "settings_class"),
    [
        ("upload-function", "docpipe.upload.config:UploadSettings"),
        ("processor-function", "docpipe.processor.config:ProcessorSettings"),
        ("query-function", "docpipe.query.config:QuerySettings"),
        ("migrations-function", "docpipe.processor.config:ProcessorSettings"),
    ],
)
def test_each_function_environment_satisfies_its_service_settings(
    function: str, settings_class: str, inventory: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Contract check: the deployed environment starts the service as it would in Lambda."""
    module, _, name = settings_class.partition(":")
    cls = getattr(importlib.import_module(module), name)
    fn = next(r for r in inventory.of_type("aws:lambda/function:Function") if r.name == function)
    for key in list(os.environ):
        if key.startswith(("DATABASE_", "EMBEDDING_", "AUTH_", "JWT_", "CORS_")):
            monkeypatch.delenv(key)
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", fn.inputs["name"])
    for key, value in fn.inputs["environment"]["variables"].items():
        monkeypatch.setenv(key, value)
    settings = cls()
    assert settings.database_secret_arn
    assert settings.embedding_dimensions == 1024


def test_without_cognito_the_authorizer_trusts_the_configured_provider(
    deploy_configured: Any,
) -> None:
    issuer = "https://login.docpipe.test/realms/docpipe"
    inv = deploy_configured(
        {"auth": {"cognito": False}, "api": {"jwtIssuer": issuer, "jwtAudiences": ["web"]}}
    )
    assert not [r for r in inv.resources if r.type.startswith("aws:cognito/")]
    (authorizer,) = inv.of_type("aws:apigatewayv2/authorizer:Authorizer")
    assert authorizer.inputs["jwtConfiguration"] == {"issuer": issuer, "audiences": ["web"]}
    assert "user_pool_id" not in inv.outputs
    fn = next(r for r in inv.of_type("aws:lambda/function:Function") if r.name == "query-function")
    assert fn.inputs["environment"]["variables"]["TENANT_CLAIM"] == "tenant_id"
    assert "ADMIN_GROUPS" not in fn.inputs["environment"]["variables"]


def test_placeholder_identity_provider_refuses_to_deploy(deploy_configured: Any) -> None:
    with pytest.raises(Exception, match="placeholder"):
        deploy_configured(
            {
                "auth": {"cognito": False},
                "api": {
                    "jwtIssuer": "https://cognito-idp.ap-northeast-1.amazonaws.com/"
                    "ap-northeast-1_EXAMPLE",
                    "jwtAudiences": ["docpipe-dev-web"],
                },
            }
        )


def test_quota_defaults_are_the_upload_functions_settings(
    inventory: Any, deploy_configured: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    def env(inv: Any, function: str) -> dict[str, str]:
        fn = next(r for r in inv.of_type("aws:lambda/function:Function") if r.name == function)
        return dict(fn.inputs["environment"]["variables"])

    assert not [k for k in env(inventory, "upload-function") if k.startswith("QUOTA_")]
    configured = deploy_configured({"quotas": {"uploadsPerMinute": 30, "maxDocuments": 500}})
    upload = env(configured, "upload-function")
    assert {k: v for k, v in upload.items() if k.startswith("QUOTA_")} == {
        "QUOTA_UPLOADS_PER_MINUTE": "30",
        "QUOTA_MAX_DOCUMENTS": "500",
    }
    assert not [k for k in env(configured, "query-function") if k.startswith("QUOTA_")]
    from docpipe.upload.config import UploadSettings

    for key in list(os.environ):
        if key.startswith(("DATABASE_", "AUTH_", "JWT_", "QUOTA_")):
            monkeypatch.delenv(key)
    for key, value in upload.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "docpipe-dev-upload")
    settings = UploadSettings()  # type: ignore[call-arg]
    assert (settings.quota_uploads_per_minute, settings.quota_max_documents) == (30, 500)


def test_reserved_concurrency_only_when_configured(inventory: Any, deploy_configured: Any) -> None:
    functions = inventory.of_type("aws:lambda/function:Function")
    assert all(f.inputs.get("reservedConcurrentExecutions") is None for f in functions)
    (trigger,) = inventory.of_type("aws:lambda/eventSourceMapping:EventSourceMapping")
    assert trigger.inputs["scalingConfig"] == {"maximumConcurrency": 5}
    reserved = deploy_configured({"services": {"processor": {"reservedConcurrency": 5}}})
    processor = next(
        f
        for f in reserved.of_type("aws:lambda/function:Function")
        if f.name == "processor-function"
    )
    assert processor.inputs["reservedConcurrentExecutions"] == 5


def test_database_is_created_at_the_pinned_version_then_left_to_aws(inventory: Any) -> None:
    (cluster,) = inventory.of_type("aws:rds/cluster:Cluster")
    assert cluster.inputs["engineVersion"] == "16.6"
    assert cluster.ignore_changes == ["engineVersion"]
    assert all(
        "engineVersion" not in i.inputs
        for i in inventory.of_type("aws:rds/clusterInstance:ClusterInstance")
    )


def test_endpoints_admit_nothing_before_any_function_exists(bootstrap_inventory: Any) -> None:
    policies = bootstrap_inventory.of_type("aws:ec2/vpcEndpointPolicy:VpcEndpointPolicy")
    assert len(policies) == 4
    for policy in policies:
        statements = json.loads(policy.inputs["policy"])["Statement"]
        assert [s["Effect"] for s in statements] == ["Deny"], policy.name


def test_endpoint_policies_follow_the_roles(inventory: Any) -> None:
    """The Bedrock endpoint admits the configured profiles and nothing for another model."""
    policy = next(
        p
        for p in inventory.of_type("aws:ec2/vpcEndpointPolicy:VpcEndpointPolicy")
        if p.name == "endpoint-policies-bedrock-runtime"
    )
    resources = {r for s in json.loads(policy.inputs["policy"])["Statement"] for r in s["Resource"]}
    assert resources == {
        "arn:aws:bedrock:ap-northeast-1:123456789012:inference-profile/global.cohere.embed-v4:0",
        "arn:aws:bedrock:ap-northeast-1:123456789012:inference-profile/apac.amazon.nova-pro-v1:0",
        "arn:aws:bedrock:*::foundation-model/cohere.embed-v4:0",
        "arn:aws:bedrock:::foundation-model/cohere.embed-v4:0",
        "arn:aws:bedrock:*::foundation-model/amazon.nova-pro-v1:0",
    }
