"""Stack settings and pure policy builders."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from docpipe.infra import policies
from docpipe.infra.network import subnet_cidrs
from docpipe.infra.settings import load_settings

DEV = yaml.safe_load((Path(__file__).resolve().parents[2] / "Pulumi.dev.yaml").read_text())[
    "config"
]


def _load(**overrides: dict[str, Any]) -> Any:
    sections = {
        key.split(":", 1)[1]: value for key, value in DEV.items() if key.startswith("docpipe:")
    }
    for section, values in overrides.items():
        sections[section] = {**sections[section], **values}
    return load_settings(stack="dev", region="ap-northeast-1", read=sections.get)


def test_dev_config_loads() -> None:
    settings = _load()
    assert settings.services["processor"].timeout_seconds == 300
    assert not any(s.deployed for s in settings.services.values())
    assert settings.database.deletion_protection is False


@pytest.mark.parametrize(
    ("section", "values", "message"),
    [
        (
            "services",
            {"query": {"imageDigest": "latest", "memoryMb": 1, "timeoutSeconds": 1}},
            "sha256",
        ),
        ("queue", {"maxReceiveCount": 3}, "at least 5"),
        ("network", {"availabilityZones": ["ap-northeast-1a"]}, "exactly two"),
        ("database", {"engineVersion": None}, "engineVersion is required"),
        ("database", {"deletionProtection": "yes"}, "true or false"),
    ],
)
def test_bad_config_fails_fast(section: str, values: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        _load(**{section: values})


def test_string_booleans_from_the_cli() -> None:
    assert _load(database={"deletionProtection": "true"}).database.deletion_protection is True


def test_processor_concurrency_bounded_by_reservation() -> None:
    processor = {**DEV["docpipe:services"]["processor"], "maxConcurrency": 10}
    with pytest.raises(ValueError, match="exceeds reservedConcurrency"):
        _load(services={"processor": processor})


def test_bedrock_arns_for_foundation_models_and_inference_profiles() -> None:
    assert policies.bedrock_model_arns(
        model_id="cohere.embed-v4:0",
        region="ap-northeast-1",
        account_id="1",
        inference_regions=["ap-northeast-1"],
    ) == ["arn:aws:bedrock:ap-northeast-1::foundation-model/cohere.embed-v4:0"]
    arns = policies.bedrock_model_arns(
        model_id="apac.amazon.nova-pro-v1:0",
        region="ap-northeast-1",
        account_id="1",
        inference_regions=["ap-northeast-1", "ap-southeast-2"],
    )
    assert arns == [
        "arn:aws:bedrock:ap-northeast-1:1:inference-profile/apac.amazon.nova-pro-v1:0",
        "arn:aws:bedrock:ap-northeast-1::foundation-model/amazon.nova-pro-v1:0",
        "arn:aws:bedrock:ap-southeast-2::foundation-model/amazon.nova-pro-v1:0",
    ]


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
