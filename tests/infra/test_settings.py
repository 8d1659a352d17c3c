"""Stack settings and pure policy builders."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from docpipe.infra import policies
from docpipe.infra.model_catalog import resolve, valid_model_ids
from docpipe.infra.network import subnet_cidrs
from docpipe.infra.settings import load_settings

DEV = yaml.safe_load((Path(__file__).resolve().parents[2] / "Pulumi.dev.yaml").read_text())[
    "config"
]


def _load(**overrides: dict[str, Any]) -> Any:
    """Pulumi.dev.yaml with keys overridden per section (``None`` removes a key)."""
    sections = {
        key.split(":", 1)[1]: value for key, value in DEV.items() if key.startswith("docpipe:")
    }
    for section, values in overrides.items():
        merged = {**sections.get(section, {}), **values}
        sections[section] = {k: v for k, v in merged.items() if v is not None}
    return load_settings(stack="dev", region="ap-northeast-1", read=sections.get)


def test_dev_config_loads() -> None:
    settings = _load()
    assert settings.services["processor"].timeout_seconds == 300
    assert not any(s.deployed for s in settings.services.values())
    assert settings.database.deletion_protection is False
    # a new account may have a concurrency quota of 10: dev reserves nothing
    assert all(s.reserved_concurrency is None for s in settings.services.values())
    assert settings.models.embedding.profile_prefix == "global"
    assert settings.models.answer.profile_prefix == "apac"
    assert settings.auth.cognito and settings.api.jwt_issuer is None
    assert (settings.api.tenant_claim, settings.api.groups_claim) == (
        "custom:tenant_id",
        "cognito:groups",
    )


EXTERNAL_IDP = {
    "jwtIssuer": "https://login.docpipe.test/realms/docpipe",
    "jwtAudiences": ["docpipe-web"],
}


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (
            {"services": {"query": {"imageDigest": "latest", "memoryMb": 1, "timeoutSeconds": 1}}},
            "sha256",
        ),
        ({"queue": {"maxReceiveCount": 3}}, "at least 5"),
        ({"network": {"availabilityZones": ["ap-northeast-1a"]}}, "exactly two"),
        ({"database": {"engineVersion": None}}, "engineVersion is required"),
        ({"database": {"engineVersion": "16"}}, "MAJOR.MINOR"),
        ({"database": {"engineVersion": "16.2"}}, r"minCapacity 0 .* 16\.3 or later"),
        ({"database": {"engineVersion": "12.9", "minCapacity": 0}}, "a later major"),
        ({"database": {"secondsUntilAutoPause": 60}}, "300..86400"),
        ({"database": {"minCapacity": 0.3}}, "half-ACU"),
        ({"database": {"deletionProtection": "yes"}}, "true or false"),
        # models: the key, the problem and the valid choices are named
        (
            {"models": {"inferenceRegions": ["ap-northeast-1"]}},
            "docpipe:models.inferenceRegions is no longer used",
        ),
        (
            {"models": {"answerModelId": "amazon.nova-pro-v1:0"}},
            r"docpipe:models.answerModelId: 'amazon.nova-pro-v1:0' is not offered from "
            r"ap-northeast-1 in that form; valid choices from ap-northeast-1: "
            r"apac.amazon.nova-pro-v1:0",
        ),
        (
            {"models": {"embeddingModelId": "cohere.embed-v4:0"}},
            r"embeddingModelId: .* valid choices .*global.cohere.embed-v4:0",
        ),
        (
            {"models": {"embeddingModelId": "apac.cohere.embed-v4:0"}},
            "not offered from ap-northeast-1",
        ),
        (
            {"models": {"answerModelId": "anthropic.claude-v2"}},
            "'anthropic.claude-v2' is not a supported answer model",
        ),
        (
            {"models": {"answerModelId": "amazon.titan-embed-text-v2:0"}},
            "not a supported answer model",
        ),
        (
            {
                "models": {
                    "embeddingModelId": "cohere.embed-multilingual-v3",
                    "embeddingDimensions": 1536,
                }
            },
            "embeddingDimensions: EMBEDDING_DIMENSIONS=1536 is not available",
        ),
        # login
        ({"api": EXTERNAL_IDP}, "must not be set with docpipe:auth.cognito: true"),
        ({"api": {"tenantClaim": "tenant_id"}}, "tenantClaim must be 'custom:tenant_id'"),
        ({"auth": {"cognito": False}}, "jwtIssuer '' is unset or a placeholder"),
        (
            {
                "auth": {"cognito": False},
                "api": {
                    "jwtIssuer": "https://cognito-idp.ap-northeast-1.amazonaws.com/"
                    "ap-northeast-1_EXAMPLE",
                    "jwtAudiences": ["web"],
                },
            },
            "placeholder",
        ),
        (
            {"auth": {"cognito": False}, "api": {**EXTERNAL_IDP, "jwtAudiences": []}},
            "jwtAudiences is unset or a placeholder",
        ),
        (
            {"auth": {"callbackUrls": ["http://app.docpipe.test/cb"]}},
            "callbackUrls must be https://",
        ),
        ({"auth": {"callbackUrls": []}}, "callbackUrls must be https://"),
        ({"auth": {"domainPrefix": "my-aws-login"}}, "domainPrefix"),
        ({"auth": {"mfa": "SMS"}}, "mfa must be one of"),
        ({"auth": {"idTokenMinutes": 2880}}, "5..1440"),
        ({"auth": {"adminGroup": "bad group"}}, "group names"),
        # web console
        ({"console": {"priceClass": "PriceClass_1"}}, "priceClass must be one of"),
        ({"console": {"domainName": "console.docpipe.test"}}, "go together"),
        (
            {
                "console": {
                    "domainName": "console.docpipe.test",
                    "certificateArn": "arn:aws:acm:ap-northeast-1:123456789012:certificate/"
                    "0b6e5f0e-1111-4222-8333-944444444444",
                }
            },
            "ACM certificate in us-east-1",
        ),
        (
            {"console": {"domainName": "https://console", "certificateArn": "x"}},
            "not a host name",
        ),
        # per-tenant quota defaults
        ({"quotas": {"uploadsPerMinute": -1}}, "uploadsPerMinute must be a whole number"),
        ({"quotas": {"maxDocuments": "many"}}, "maxDocuments must be a whole number"),
        ({"quotas": {"maxDocuments": True}}, "maxDocuments must be a whole number"),
        ({"quotas": {"uploadsPerMinutes": 5}}, "unknown keys"),
    ],
)
def test_bad_config_fails_fast(overrides: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        _load(**overrides)


def test_an_external_identity_provider_replaces_cognito() -> None:
    settings = _load(auth={"cognito": False}, api={**EXTERNAL_IDP, "tenantClaim": "org"})
    assert settings.api.jwt_issuer == EXTERNAL_IDP["jwtIssuer"]
    assert settings.api.jwt_audiences == ("docpipe-web",)
    assert (settings.api.tenant_claim, settings.api.groups_claim) == ("org", "groups")


def test_quota_defaults_reach_the_upload_function_only_when_configured() -> None:
    assert _load().quotas.environment() == {}  # the service's own defaults
    quotas = _load(quotas={"uploadsPerMinute": "30", "maxStoredBytes": 0}).quotas
    assert quotas.environment() == {
        "QUOTA_UPLOADS_PER_MINUTE": "30",
        "QUOTA_MAX_STORED_BYTES": "0",  # no limit
    }


def test_string_booleans_from_the_cli() -> None:
    assert _load(database={"deletionProtection": "true"}).database.deletion_protection is True
    assert _load(auth={"cognito": "false"}, api=EXTERNAL_IDP).auth.cognito is False


def test_processor_concurrency_bounded_by_reservation() -> None:
    processor = {
        **DEV["docpipe:services"]["processor"],
        "reservedConcurrency": 5,
        "maxConcurrency": 10,
    }
    with pytest.raises(ValueError, match="exceeds reservedConcurrency"):
        _load(services={"processor": processor})
    reserved = {**processor, "maxConcurrency": 5}
    assert _load(services={"processor": reserved}).services["processor"].reserved_concurrency == 5


@pytest.mark.parametrize(
    ("version", "min_capacity"),
    [("16.3", 0), ("15.7", 0), ("14.12", 0), ("13.15", 0), ("17.4", 0), ("16.1", 0.5)],
)
def test_engine_versions_that_support_the_capacity(version: str, min_capacity: float) -> None:
    database = _load(database={"engineVersion": version, "minCapacity": min_capacity}).database
    assert database.engine_version == version


@pytest.mark.parametrize("purpose", ["embedding", "answer"])
def test_every_catalogued_choice_loads(purpose: str) -> None:
    key = "embeddingModelId" if purpose == "embedding" else "answerModelId"
    for model_id in valid_model_ids(region="ap-northeast-1", purpose=purpose):  # type: ignore[arg-type]
        assert getattr(_load(models={key: model_id}).models, purpose).model_id == model_id


def test_a_region_outside_the_catalog_is_named() -> None:
    sections = {k.split(":", 1)[1]: v for k, v in DEV.items() if k.startswith("docpipe:")}
    with pytest.raises(ValueError, match="covers ap-northeast-1, not eu-west-1"):
        load_settings(stack="dev", region="eu-west-1", read=sections.get)


ACCOUNT = "123456789012"


def _route(model_id: str, purpose: str = "answer") -> Any:
    return resolve(model_id, region="ap-northeast-1", purpose=purpose)  # type: ignore[arg-type]


def test_in_region_models_are_granted_in_the_region_only() -> None:
    (statement,) = policies.bedrock_invoke_statements(
        sid="Embed",
        routes=[_route("cohere.embed-multilingual-v3", "embedding")],
        account_id=ACCOUNT,
    )
    assert statement["Resource"] == [
        "arn:aws:bedrock:ap-northeast-1::foundation-model/cohere.embed-multilingual-v3"
    ]
    assert "Condition" not in statement


def test_geo_profile_grants_the_model_in_any_region_only_through_the_profile() -> None:
    profile, through = policies.bedrock_invoke_statements(
        sid="Answer", routes=[_route("apac.amazon.nova-pro-v1:0")], account_id=ACCOUNT
    )
    arn = f"arn:aws:bedrock:ap-northeast-1:{ACCOUNT}:inference-profile/apac.amazon.nova-pro-v1:0"
    assert profile["Resource"] == [arn] and "Condition" not in profile
    assert through["Resource"] == ["arn:aws:bedrock:*::foundation-model/amazon.nova-pro-v1:0"]
    assert through["Condition"] == {"StringEquals": {"bedrock:InferenceProfileArn": arn}}


def test_global_profile_also_grants_the_region_less_model_arn() -> None:
    _, through = policies.bedrock_invoke_statements(
        sid="Embed", routes=[_route("global.cohere.embed-v4:0", "embedding")], account_id=ACCOUNT
    )
    assert through["Resource"] == [
        "arn:aws:bedrock:*::foundation-model/cohere.embed-v4:0",
        "arn:aws:bedrock:::foundation-model/cohere.embed-v4:0",
    ]
    assert set(through["Condition"]["StringEquals"]) == {"bedrock:InferenceProfileArn"}


def test_vpc_functions_get_the_eni_actions_as_aws_managed_policy_grants_them() -> None:
    """AWSLambdaVPCAccessExecutionRole v3 grants these EC2 actions on "*"."""
    statements = policies.lambda_base_statements(log_group_arn="arn:aws:logs:r:1:log-group:g")
    eni = next(s for s in statements if any(a.startswith("ec2:") for a in s["Action"]))
    assert eni["Resource"] == ["*"]
    assert set(eni["Action"]) == {
        "ec2:CreateNetworkInterface",
        "ec2:DescribeNetworkInterfaces",
        "ec2:DescribeSubnets",
        "ec2:DeleteNetworkInterface",
        "ec2:AssignPrivateIpAddresses",
        "ec2:UnassignPrivateIpAddresses",
    }


def test_endpoint_policy_carries_only_that_services_grants_for_this_account() -> None:
    statements = [
        *policies.upload_statements(
            bucket_arn="arn:aws:s3:::b", uploads_prefix="uploads/", secret_arn="arn:s",
            queue_arn="arn:q",
        ),
        *policies.query_statements(secret_arn="arn:s", model_invoke=[]),
    ]  # fmt: skip
    document = policies.endpoint_policy(statements=statements, service_prefix="s3", account_id="1")
    grants = document["Statement"]
    assert {a for g in grants for a in g["Action"]} <= {
        "s3:PutObject", "s3:GetObject", "s3:DeleteObject", "s3:DeleteObjectVersion",
        "s3:ListBucketVersions", "s3:ListBucket",
    }  # fmt: skip
    assert all(g["Principal"] == "*" for g in grants)
    assert all(g["Condition"]["StringEquals"]["aws:PrincipalAccount"] == "1" for g in grants)
    listing = next(g for g in grants if g["Action"] == ["s3:ListBucketVersions"])
    assert listing["Condition"]["StringLike"] == {"s3:prefix": ["uploads/*"]}
    secrets = policies.endpoint_policy(
        statements=statements, service_prefix="secretsmanager", account_id="1"
    )
    assert len(secrets["Statement"]) == 1  # the same grant from two roles, once


def test_an_endpoint_no_function_uses_admits_nothing() -> None:
    document = policies.endpoint_policy(statements=[], service_prefix="sqs", account_id="1")
    assert [s["Effect"] for s in document["Statement"]] == ["Deny"]


def test_upload_role_is_limited_to_the_uploads_prefix() -> None:
    statements = policies.upload_statements(
        bucket_arn="arn:aws:s3:::b",
        uploads_prefix="uploads/",
        secret_arn="arn:s",
        queue_arn="arn:q",
    )
    s3 = next(s for s in statements if s["Sid"] == "UploadsReadWriteDelete")
    assert s3["Resource"] == ["arn:aws:s3:::b/uploads/*"]
    assert sorted(s3["Action"]) == [
        "s3:DeleteObject",
        "s3:DeleteObjectVersion",
        "s3:GetObject",
        "s3:PutObject",
    ]
    listing = next(s for s in statements if s["Sid"] == "ListUploadVersions")
    assert listing["Resource"] == ["arn:aws:s3:::b"]
    assert listing["Condition"] == {"StringLike": {"s3:prefix": ["uploads/*"]}}


def test_subnets_fit_the_vpc() -> None:
    assert subnet_cidrs(vpc_cidr="10.40.0.0/16", count=2) == ["10.40.0.0/20", "10.40.16.0/20"]
