"""The preflight command against real HTTP endpoints where they exist here.

- STS and EC2 (availability zones, VPC endpoint services): moto's server.
- Bedrock's control plane (GetFoundationModel, GetInferenceProfile,
  GetFoundationModelAvailability): the local Bedrock-format server, answering only what
  each test declares.
- Lambda GetAccountSettings / GetFunctionConcurrency and RDS DescribeDBEngineVersions:
  moto 5.2.5 does not implement them (404 / NotImplementedError), so those checks run on
  botocore's Stubber, which validates every canned response against the service's API
  model: the responses below are shaped exactly as AWS documents them. The same goes
  for an endpoint service offered in only some AZs, which moto cannot express (it
  offers every service in every zone).
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
import yaml
from botocore.stub import Stubber

from docpipe.infra import preflight
from docpipe.testkit.bedrock_server import NOT_SUBSCRIBED, Availability, BedrockServer

REPO = Path(__file__).resolve().parents[2]
REGION = "ap-northeast-1"
V4, NOVA = "cohere.embed-v4:0", "amazon.nova-pro-v1:0"
APAC = ("ap-northeast-1", "ap-northeast-2", "ap-northeast-3", "ap-south-1",
        "ap-southeast-1", "ap-southeast-2")  # fmt: skip


def _client(service: str, endpoint: str | None = None) -> Any:
    return boto3.client(
        service,
        region_name=REGION,
        endpoint_url=endpoint,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def _account(limit: int = 1000, unreserved: int = 1000) -> dict[str, Any]:
    """GetAccountSettings as documented (API_GetAccountSettings)."""
    return {
        "AccountLimit": {
            "TotalCodeSize": 80530636800,
            "CodeSizeUnzipped": 262144000,
            "CodeSizeZipped": 52428800,
            "ConcurrentExecutions": limit,
            "UnreservedConcurrentExecutions": unreserved,
        },
        "AccountUsage": {"TotalCodeSize": 0, "FunctionCount": 0},
    }


def _engine(version: str = "16.6", *, low: float = 0.0, high: float = 256.0) -> dict[str, Any]:
    """DescribeDBEngineVersions as documented (API_DBEngineVersion)."""
    return {
        "DBEngineVersions": [
            {
                "Engine": "aurora-postgresql",
                "EngineVersion": version,
                "MajorEngineVersion": version.split(".")[0],
                "DBParameterGroupFamily": "aurora-postgresql16",
                "DBEngineDescription": "Aurora (PostgreSQL)",
                "DBEngineVersionDescription": f"Aurora PostgreSQL {version}",
                "SupportedEngineModes": ["provisioned"],
                "Status": "available",
                "ServerlessV2FeaturesSupport": {"MinCapacity": low, "MaxCapacity": high},
            }
        ]
    }


@pytest.fixture
def bedrock() -> Iterator[BedrockServer]:
    with BedrockServer(region=REGION) as server:
        yield server


def _ready(server: BedrockServer) -> None:
    """What an account that can run the dev stack's models answers."""
    server.offer_profile(f"global.{V4}", destination_regions=("", REGION))
    server.offer_profile(f"apac.{NOVA}", destination_regions=APAC)
    server.offer_model(V4, provider="Cohere", inference_types=("INFERENCE_PROFILE",))
    server.offer_model(NOVA, provider="Amazon", inference_types=("INFERENCE_PROFILE",))


Stubs = dict[str, Callable[[Stubber], None]]


def _run(
    *,
    moto: str,
    bedrock: BedrockServer,
    stubs: Stubs,
    sections: dict[str, dict[str, Any]] | None = None,
    tmp_path: Path,
) -> tuple[int, str]:
    config = yaml.safe_load((REPO / "Pulumi.dev.yaml").read_text())
    for section, values in (sections or {}).items():
        key = f"docpipe:{section}"
        config["config"][key] = {**config["config"][key], **values}
    stack_file = tmp_path / "Pulumi.dev.yaml"
    stack_file.write_text(yaml.safe_dump(config))
    stubbers: list[Stubber] = []

    def client(service: str) -> Any:
        if service == "bedrock":
            return _client("bedrock", bedrock.url)
        if service in stubs:
            made = _client(service)
            stubber = Stubber(made)
            stubs[service](stubber)
            stubber.activate()
            stubbers.append(stubber)
            return made
        return _client(service, moto)

    out = io.StringIO()
    code = preflight.main(["--stack", "dev", "--config", str(stack_file)], client=client, out=out)
    for stubber in stubbers:
        stubber.assert_no_pending_responses()
    return code, out.getvalue()


def _lambda(limit: int = 1000, unreserved: int = 1000) -> Callable[[Stubber], None]:
    def stub(stubber: Stubber) -> None:
        stubber.add_response("get_account_settings", _account(limit, unreserved), {})

    return stub


def _rds(**engine: Any) -> Callable[[Stubber], None]:
    def stub(stubber: Stubber) -> None:
        stubber.add_response(
            "describe_db_engine_versions",
            _engine(**engine),
            {"Engine": "aurora-postgresql", "EngineVersion": engine.get("version", "16.6")},
        )

    return stub


def test_dev_stack_on_a_ready_account(
    moto_endpoint: str, bedrock: BedrockServer, tmp_path: Path
) -> None:
    _ready(bedrock)
    code, out = _run(
        moto=moto_endpoint,
        bedrock=bedrock,
        stubs={"lambda": _lambda(), "rds": _rds()},
        tmp_path=tmp_path,
    )
    assert code == 0, out
    lines = out.splitlines()
    assert all(line.startswith("ok") for line in lines), out
    checks = [line.split()[1] for line in lines]
    assert checks.count("endpoint-zones") == 3
    assert "account 123456789012" in out  # moto's STS
    assert "global.cohere.embed-v4:0 active, routes to any region, ap-northeast-1" in out
    assert "cohere.embed-v4:0 usable (AWS Marketplace, subscribed)" in out
    assert "no reserved concurrency asked; account limit 1000" in out


def test_an_unsubscribed_marketplace_model_is_a_problem(
    moto_endpoint: str, bedrock: BedrockServer, tmp_path: Path
) -> None:
    _ready(bedrock)
    bedrock.set_availability(V4, NOT_SUBSCRIBED)
    code, out = _run(
        moto=moto_endpoint,
        bedrock=bedrock,
        stubs={"lambda": _lambda(), "rds": _rds()},
        tmp_path=tmp_path,
    )
    assert code == 1
    (problem,) = [line for line in out.splitlines() if line.startswith("PROBLEM")]
    assert "bedrock embedding: cohere.embed-v4:0 not subscribed" in problem
    assert "aws-marketplace:Subscribe" in problem


@pytest.mark.parametrize(
    ("availability", "message"),
    [
        (Availability(authorization="NOT_AUTHORIZED"), "not authorized for this account"),
        (Availability(agreement="PENDING"), "subscription pending"),
        (
            Availability(agreement="ERROR", agreement_error="payment method missing"),
            "agreement ERROR: payment method missing",
        ),
    ],
)
def test_model_access_problems_are_named(
    availability: Availability,
    message: str,
    moto_endpoint: str,
    bedrock: BedrockServer,
    tmp_path: Path,
) -> None:
    _ready(bedrock)
    bedrock.set_availability(NOVA, availability)
    code, out = _run(
        moto=moto_endpoint,
        bedrock=bedrock,
        stubs={"lambda": _lambda(), "rds": _rds()},
        tmp_path=tmp_path,
    )
    assert code == 1 and f"PROBLEM  bedrock answer: {NOVA}" in out and message in out


def test_access_the_api_does_not_report_is_left_to_the_operator(
    moto_endpoint: str, bedrock: BedrockServer, tmp_path: Path
) -> None:
    """No availability record (404): not a problem, a line saying what to check by hand."""
    bedrock.offer_profile(f"global.{V4}", destination_regions=("", REGION))
    bedrock.offer_model(V4, provider="Cohere", inference_types=("INFERENCE_PROFILE",))
    bedrock.offer_profile(f"apac.{NOVA}", destination_regions=APAC)
    bedrock.offer_model(NOVA, provider="Amazon", availability=None)
    code, out = _run(
        moto=moto_endpoint,
        bedrock=bedrock,
        stubs={"lambda": _lambda(), "rds": _rds()},
        tmp_path=tmp_path,
    )
    assert code == 0
    assert (
        "check    bedrock answer: access to amazon.nova-pro-v1:0 not reported "
        "(ResourceNotFoundException)" in out
    )


def test_a_profile_not_offered_from_the_region_is_a_problem(
    moto_endpoint: str, bedrock: BedrockServer, tmp_path: Path
) -> None:
    bedrock.offer_profile(f"global.{V4}", destination_regions=("", REGION))  # no APAC Nova
    bedrock.offer_model(V4, provider="Cohere", inference_types=("INFERENCE_PROFILE",))
    code, out = _run(
        moto=moto_endpoint,
        bedrock=bedrock,
        stubs={"lambda": _lambda(), "rds": _rds()},
        tmp_path=tmp_path,
    )
    assert code == 1
    assert (
        "PROBLEM  bedrock answer: inference profile apac.amazon.nova-pro-v1:0 not offered "
        "from ap-northeast-1 (ResourceNotFoundException)" in out
    )


def test_an_in_region_model_must_be_on_demand(
    moto_endpoint: str, bedrock: BedrockServer, tmp_path: Path
) -> None:
    _ready(bedrock)
    model = "cohere.embed-multilingual-v3"
    bedrock.offer_model(model, provider="Cohere", inference_types=("PROVISIONED",))
    code, out = _run(
        moto=moto_endpoint,
        bedrock=bedrock,
        stubs={"lambda": _lambda(), "rds": _rds()},
        sections={"models": {"embeddingModelId": model}},
        tmp_path=tmp_path,
    )
    assert code == 1 and f"{model} is not offered on demand in ap-northeast-1" in out
    bedrock.offer_model(model, provider="Cohere", inference_types=("ON_DEMAND",))
    code, out = _run(
        moto=moto_endpoint,
        bedrock=bedrock,
        stubs={"lambda": _lambda(), "rds": _rds()},
        sections={"models": {"embeddingModelId": model}},
        tmp_path=tmp_path,
    )
    assert code == 0 and f"ok       bedrock embedding: {model} on demand" in out


def test_an_availability_zone_the_account_lacks(
    moto_endpoint: str, bedrock: BedrockServer, tmp_path: Path
) -> None:
    """ap-northeast-1b is not offered to new accounts (moto does not list it either)."""
    _ready(bedrock)
    code, out = _run(
        moto=moto_endpoint,
        bedrock=bedrock,
        stubs={"lambda": _lambda(), "rds": _rds()},
        sections={"network": {"availabilityZones": ["ap-northeast-1a", "ap-northeast-1b"]}},
        tmp_path=tmp_path,
    )
    assert code == 1
    assert "PROBLEM  availability-zones: ap-northeast-1b not available" in out
    assert "ap-northeast-1a, ap-northeast-1c, ap-northeast-1d" in out


def test_an_endpoint_service_missing_from_one_zone(
    moto_endpoint: str, bedrock: BedrockServer, tmp_path: Path
) -> None:
    _ready(bedrock)
    zones = ["ap-northeast-1a", "ap-northeast-1c"]

    def ec2(stubber: Stubber) -> None:
        stubber.add_response(
            "describe_availability_zones",
            {
                "AvailabilityZones": [
                    {"ZoneName": z, "State": "available", "RegionName": REGION} for z in zones
                ]
            },
            {"Filters": [{"Name": "zone-name", "Values": zones}]},
        )
        names = [
            f"com.amazonaws.{REGION}.{s}" for s in ("secretsmanager", "bedrock-runtime", "sqs")
        ]
        details = [
            {
                "ServiceName": name,
                "ServiceType": [{"ServiceType": "Interface"}],
                "AvailabilityZones": ["ap-northeast-1a", "ap-northeast-1d"]
                if "bedrock" in name
                else zones,
            }
            for name in names
        ]
        stubber.add_response(
            "describe_vpc_endpoint_services",
            {"ServiceNames": names, "ServiceDetails": details},
            {"ServiceNames": names},
        )

    code, out = _run(
        moto=moto_endpoint,
        bedrock=bedrock,
        stubs={"lambda": _lambda(), "rds": _rds(), "ec2": ec2},
        tmp_path=tmp_path,
    )
    assert code == 1
    assert (
        "PROBLEM  endpoint-zones bedrock-runtime: not offered in ap-northeast-1c "
        "(offered: ap-northeast-1a, ap-northeast-1d)" in out
    )
    assert "ok       endpoint-zones sqs: both AZs" in out


def _processor_reserving(count: int) -> dict[str, Any]:
    dev = yaml.safe_load((REPO / "Pulumi.dev.yaml").read_text())["config"]["docpipe:services"]
    return {**dev, "processor": {**dev["processor"], "reservedConcurrency": count}}


@pytest.mark.parametrize(
    ("limit", "unreserved", "reserved_now", "ok"),
    [
        (10, 10, None, False),  # a new account: 10 in all, 100 must stay unreserved
        (1000, 1000, None, True),
        (1000, 103, None, False),  # other functions already reserve most of it
        (1000, 100, 5, True),  # re-run on the deployed stack: its own 5 are already counted
    ],
)
def test_reserved_concurrency_against_the_quota(
    limit: int,
    unreserved: int,
    reserved_now: int | None,
    ok: bool,
    moto_endpoint: str,
    bedrock: BedrockServer,
    tmp_path: Path,
) -> None:
    _ready(bedrock)

    def lambda_(stubber: Stubber) -> None:
        stubber.add_response("get_account_settings", _account(limit, unreserved), {})
        params = {"FunctionName": "docpipe-dev-processor"}
        if reserved_now is None:
            stubber.add_client_error(
                "get_function_concurrency", "ResourceNotFoundException", http_status_code=404,
                expected_params=params,
            )  # fmt: skip
        else:
            stubber.add_response(
                "get_function_concurrency", {"ReservedConcurrentExecutions": reserved_now}, params
            )

    code, out = _run(
        moto=moto_endpoint,
        bedrock=bedrock,
        stubs={"lambda": lambda_, "rds": _rds()},
        sections={"services": _processor_reserving(5)},
        tmp_path=tmp_path,
    )
    assert (code == 0) is ok, out
    line = next(x for x in out.splitlines() if "lambda-concurrency" in x)
    if ok:
        assert line.startswith("ok") and "processor=5 fits" in line
    else:
        assert line.startswith("PROBLEM") and "remove reservedConcurrency" in line


@pytest.mark.parametrize(
    ("stub", "message"),
    [
        (
            lambda s: s.add_response(
                "describe_db_engine_versions",
                {"DBEngineVersions": []},
                {"Engine": "aurora-postgresql", "EngineVersion": "16.6"},
            ),
            "aurora-postgresql 16.6 is not offered",
        ),
        (
            _rds(low=0.5, high=128.0),
            "takes 0.5..128.0 ACUs, the config asks 0.0..2.0 (0 = automatic",
        ),
    ],
)
def test_engine_version_problems(
    stub: Callable[[Stubber], None],
    message: str,
    moto_endpoint: str,
    bedrock: BedrockServer,
    tmp_path: Path,
) -> None:
    _ready(bedrock)
    code, out = _run(
        moto=moto_endpoint,
        bedrock=bedrock,
        stubs={"lambda": _lambda(), "rds": stub},
        tmp_path=tmp_path,
    )
    assert code == 1 and message in out


def test_an_invalid_stack_config_is_reported_before_asking_aws(tmp_path: Path) -> None:
    config = yaml.safe_load((REPO / "Pulumi.dev.yaml").read_text())
    config["config"]["docpipe:models"]["inferenceRegions"] = [REGION]
    stack_file = tmp_path / "Pulumi.dev.yaml"
    stack_file.write_text(yaml.safe_dump(config))

    def no_aws(service: str) -> Any:
        raise AssertionError(f"asked {service} with an invalid config")

    out = io.StringIO()
    code = preflight.main(["--stack", "dev", "--config", str(stack_file)], client=no_aws, out=out)
    assert code == 2
    assert out.getvalue().startswith("PROBLEM  config: config docpipe:models.inferenceRegions")


def test_without_credentials_nothing_else_is_asked(tmp_path: Path) -> None:
    def client(service: str) -> Any:
        made = _client(service)
        if service != "sts":
            raise AssertionError(f"asked {service} without credentials")
        stubber = Stubber(made)
        stubber.add_client_error("get_caller_identity", "ExpiredToken", http_status_code=403)
        stubber.activate()
        return made

    out = io.StringIO()
    stack_file = REPO / "Pulumi.dev.yaml"
    code = preflight.main(["--stack", "dev", "--config", str(stack_file)], client=client, out=out)
    assert code == 1
    assert out.getvalue().splitlines() == [
        "PROBLEM  identity: cannot call STS (An error occurred (ExpiredToken) when calling the "
        "GetCallerIdentity operation: ); configure AWS credentials"
    ]
