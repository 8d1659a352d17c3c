"""Check, read-only, what would make the first ``pulumi up`` (or the first request) fail.

    uv run python -m docpipe.infra.preflight --stack dev [--region ap-northeast-1]

Reads ``Pulumi.<stack>.yaml`` through the same :func:`load_settings` as the program (no
Pulumi CLI needed; a config error is reported as it would be by ``pulumi up``), then asks
the account, with the caller's credentials:

- who is calling (STS GetCallerIdentity);
- the Lambda concurrency quota against the reserved concurrency asked for, keeping the
  100 units AWS never lets you reserve (Lambda GetAccountSettings, GetFunctionConcurrency;
  https://docs.aws.amazon.com/lambda/latest/dg/configuration-concurrency.html);
- the configured AZs exist and every interface endpoint service is offered in both
  (EC2 DescribeAvailabilityZones, DescribeVpcEndpointServices);
- the Aurora engine version is offered with Serverless v2 and the capacity asked for
  (RDS DescribeDBEngineVersions ``ServerlessV2FeaturesSupport``);
- each Bedrock model is offered from the region the way it is configured and the account
  may use it (Bedrock GetInferenceProfile, GetFoundationModel,
  GetFoundationModelAvailability; https://docs.aws.amazon.com/bedrock/latest/APIReference/API_GetFoundationModelAvailability.html).

One line per finding: ``ok``, ``PROBLEM`` (with what to do) or ``check`` (cannot be told
from the API; see docs/operations.md). Exit status 1 when any finding is a problem,
2 when the stack config itself is invalid.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, TextIO

import yaml

from docpipe.infra import naming
from docpipe.infra.model_catalog import ModelRoute
from docpipe.infra.network import INTERFACE_ENDPOINT_SERVICES
from docpipe.infra.settings import StackSettings, load_settings

__all__ = [
    "UNRESERVED_MINIMUM",
    "Finding",
    "check_bedrock",
    "check_concurrency",
    "check_endpoint_zones",
    "check_engine_version",
    "check_identity",
    "main",
    "read_stack_config",
    "run_checks",
]

#: Lambda keeps at least this much of the account's concurrency unreserved.
UNRESERVED_MINIMUM = 100
Status = Literal["ok", "PROBLEM", "check"]
ClientFactory = Callable[[str], Any]


@dataclass(frozen=True)
class Finding:
    check: str
    status: Status
    detail: str

    def line(self) -> str:
        return f"{self.status:<8} {self.check}: {self.detail}"


def _ok(check: str, detail: str) -> Finding:
    return Finding(check, "ok", detail)


def _problem(check: str, detail: str) -> Finding:
    return Finding(check, "PROBLEM", detail)


def _error_code(exc: Exception) -> str:
    return str(getattr(exc, "response", {}).get("Error", {}).get("Code", type(exc).__name__))


# --- config ---------------------------------------------------------------------------------


def read_stack_config(path: Path) -> tuple[str | None, dict[str, Any]]:
    """``aws:region`` and the ``docpipe:*`` objects of a Pulumi stack file."""
    config = (yaml.safe_load(path.read_text()) or {}).get("config") or {}
    sections = {k.split(":", 1)[1]: v for k, v in config.items() if k.startswith("docpipe:")}
    return config.get("aws:region"), sections


# --- checks ---------------------------------------------------------------------------------


def check_identity(sts: Any) -> Finding:
    try:
        who = sts.get_caller_identity()
    except Exception as exc:  # noqa: BLE001 - any failure here means "no usable credentials"
        return _problem("identity", f"cannot call STS ({exc}); configure AWS credentials")
    return _ok("identity", f"account {who['Account']} as {who['Arn']}")


def check_concurrency(lambda_client: Any, settings: StackSettings) -> Finding:
    """Reserved concurrency asked for must leave :data:`UNRESERVED_MINIMUM` unreserved."""
    try:
        limits = lambda_client.get_account_settings()["AccountLimit"]
    except Exception as exc:  # noqa: BLE001
        return _problem("lambda-concurrency", f"GetAccountSettings failed: {_error_code(exc)}")
    limit, unreserved = limits["ConcurrentExecutions"], limits["UnreservedConcurrentExecutions"]
    asked = {
        name: s.reserved_concurrency
        for name, s in settings.services.items()
        if s.reserved_concurrency is not None
    }
    if not asked:
        return _ok(
            "lambda-concurrency",
            f"no reserved concurrency asked; account limit {limit}, "
            f"{unreserved} unreserved (the processor is bounded by its trigger's "
            f"maxConcurrency {settings.services['processor'].max_concurrency})",
        )
    already = sum(
        _reserved_now(lambda_client, naming.function_name(stack=settings.stack, service=name))
        for name in asked
    )
    needed = sum(asked.values()) - already
    spare = unreserved - UNRESERVED_MINIMUM
    wanted = ", ".join(f"{n}={v}" for n, v in sorted(asked.items()))
    if needed > 0 and needed > spare:
        return _problem(
            "lambda-concurrency",
            f"reserving {wanted} needs {needed} more but only {max(spare, 0)} can be reserved "
            f"(limit {limit}, {unreserved} unreserved, {UNRESERVED_MINIMUM} must stay "
            "unreserved): remove reservedConcurrency from the stack config, or request a "
            "higher 'Concurrent executions' quota (Service Quotas, AWS Lambda)",
        )
    return _ok("lambda-concurrency", f"{wanted} fits (limit {limit}, {unreserved} unreserved)")


def _reserved_now(lambda_client: Any, function_name: str) -> int:
    try:
        answer = lambda_client.get_function_concurrency(FunctionName=function_name)
    except Exception as exc:  # noqa: BLE001
        if _error_code(exc) == "ResourceNotFoundException":
            return 0
        raise
    return int(answer.get("ReservedConcurrentExecutions") or 0)


def check_endpoint_zones(ec2: Any, settings: StackSettings) -> list[Finding]:
    """Both configured AZs exist, and each interface endpoint service is offered in both."""
    azs = list(settings.network.availability_zones)
    zones = ec2.describe_availability_zones(Filters=[{"Name": "zone-name", "Values": azs}])[
        "AvailabilityZones"
    ]
    available = {z["ZoneName"] for z in zones if z.get("State") == "available"}
    missing = [az for az in azs if az not in available]
    if missing:
        offered = sorted(
            z["ZoneName"] for z in ec2.describe_availability_zones()["AvailabilityZones"]
        )
        return [
            _problem(
                "availability-zones",
                f"{', '.join(missing)} not available to this account; set "
                f"docpipe:network.availabilityZones to two of {', '.join(offered)}",
            )
        ]
    findings = [_ok("availability-zones", f"{', '.join(azs)} available")]
    names = [f"com.amazonaws.{settings.region}.{s}" for s in INTERFACE_ENDPOINT_SERVICES]
    try:
        details = ec2.describe_vpc_endpoint_services(ServiceNames=names)["ServiceDetails"]
    except Exception as exc:  # noqa: BLE001
        return [*findings, _problem("endpoint-zones", f"{_error_code(exc)}: {exc}")]
    by_name = {d["ServiceName"]: d for d in details}
    for name in names:
        zones_offered = set(by_name.get(name, {}).get("AvailabilityZones", []))
        lacking = [az for az in azs if az not in zones_offered]
        if lacking:
            findings.append(
                _problem(
                    f"endpoint-zones {name.rsplit('.', 1)[1]}",
                    f"not offered in {', '.join(lacking)} (offered: "
                    f"{', '.join(sorted(zones_offered)) or 'nowhere'}); choose AZs it is "
                    "offered in (docpipe:network.availabilityZones)",
                )
            )
        else:
            findings.append(_ok(f"endpoint-zones {name.rsplit('.', 1)[1]}", "both AZs"))
    return findings


def check_engine_version(rds: Any, settings: StackSettings) -> Finding:
    db = settings.database
    try:
        versions = rds.describe_db_engine_versions(
            Engine="aurora-postgresql", EngineVersion=db.engine_version
        )["DBEngineVersions"]
    except Exception as exc:  # noqa: BLE001
        return _problem("engine-version", f"DescribeDBEngineVersions failed: {_error_code(exc)}")
    match = next((v for v in versions if v.get("EngineVersion") == db.engine_version), None)
    fix = "choose one from `aws rds describe-db-engine-versions --engine aurora-postgresql`"
    if match is None:
        return _problem(
            "engine-version", f"aurora-postgresql {db.engine_version} is not offered; {fix}"
        )
    support = match.get("ServerlessV2FeaturesSupport")
    if match.get("Status", "available") != "available":
        return _problem("engine-version", f"{db.engine_version} is {match['Status']}; {fix}")
    if not support or "provisioned" not in match.get("SupportedEngineModes", ["provisioned"]):
        return _problem(
            "engine-version", f"{db.engine_version} does not offer Serverless v2; {fix}"
        )
    low, high = support.get("MinCapacity", 0.5), support.get("MaxCapacity", 128)
    if db.min_capacity < low or db.max_capacity > high:
        return _problem(
            "engine-version",
            f"{db.engine_version} takes {low}..{high} ACUs, the config asks "
            f"{db.min_capacity}..{db.max_capacity}"
            + (" (0 = automatic pause)" if db.min_capacity == 0 else ""),
        )
    return _ok(
        "engine-version",
        f"aurora-postgresql {db.engine_version}, Serverless v2 {low}..{high} ACUs "
        f"(asked {db.min_capacity}..{db.max_capacity})",
    )


#: Errors with which Bedrock says an ID does not exist in the region.
_NOT_OFFERED = frozenset({"ResourceNotFoundException", "ValidationException"})


def check_bedrock(bedrock: Any, route: ModelRoute, *, purpose: str) -> list[Finding]:
    """The model is offered from the region as configured, and the account may use it."""
    check = f"bedrock {purpose}"
    offered = (_offered_through_profile if route.via_profile else _offered_in_region)(
        bedrock, route, check
    )
    if offered.status == "PROBLEM":
        return [offered]
    return [offered, _access(bedrock, route, check)]


def _offered_through_profile(bedrock: Any, route: ModelRoute, check: str) -> Finding:
    try:
        profile = bedrock.get_inference_profile(inferenceProfileIdentifier=route.model_id)
    except Exception as exc:  # noqa: BLE001
        if _error_code(exc) not in _NOT_OFFERED:
            return _problem(check, f"GetInferenceProfile {route.model_id} failed: {exc}")
        return _problem(
            check,
            f"inference profile {route.model_id} not offered from {route.region} "
            f"({_error_code(exc)}); pick another ID from docpipe.infra.model_catalog",
        )
    models = [m.get("modelArn", "") for m in profile.get("models", [])]
    if profile.get("status") != "ACTIVE" or not any(
        a.endswith(f"/{route.foundation_model_id}") for a in models
    ):
        return _problem(
            check,
            f"profile {route.model_id} is {profile.get('status')} and routes to "
            f"{models or 'no model'}, not {route.foundation_model_id}",
        )
    regions = sorted({a.split(":")[3] or "any region" for a in models})
    return _ok(check, f"{route.model_id} active, routes to {', '.join(regions)}")


def _offered_in_region(bedrock: Any, route: ModelRoute, check: str) -> Finding:
    try:
        details = bedrock.get_foundation_model(modelIdentifier=route.foundation_model_id)[
            "modelDetails"
        ]
    except Exception as exc:  # noqa: BLE001
        if _error_code(exc) not in _NOT_OFFERED:
            return _problem(check, f"GetFoundationModel {route.model_id} failed: {exc}")
        return _problem(
            check,
            f"{route.model_id} not offered in {route.region} ({_error_code(exc)}); use an "
            "inference profile ID from docpipe.infra.model_catalog",
        )
    lifecycle = details.get("modelLifecycle", {}).get("status", "ACTIVE")
    if "ON_DEMAND" not in details.get("inferenceTypesSupported", []):
        return _problem(
            check,
            f"{route.model_id} is not offered on demand in {route.region} (only "
            f"{details.get('inferenceTypesSupported')}); use its inference profile ID",
        )
    if lifecycle != "ACTIVE":
        return _problem(check, f"{route.model_id} is {lifecycle}; choose an active model")
    return _ok(check, f"{route.model_id} on demand in {route.region}")


def _access(bedrock: Any, route: ModelRoute, check: str) -> Finding:
    """Access as GetFoundationModelAvailability reports it (Marketplace subscription etc.)."""
    try:
        answer = bedrock.get_foundation_model_availability(modelId=route.foundation_model_id)
    except Exception as exc:  # noqa: BLE001
        return Finding(
            check,
            "check",
            f"access to {route.foundation_model_id} not reported ({_error_code(exc)}): "
            "make the first call by hand (docs/operations.md, Bedrock model access)",
        )
    agreement = (answer.get("agreementAvailability") or {}).get("status")
    subscribe = (
        "invoke it once as an operator allowed aws-marketplace:Subscribe and "
        "ViewSubscriptions (docs/operations.md, Bedrock model access)"
    )
    if answer.get("authorizationStatus") != "AUTHORIZED":
        return _problem(
            check,
            f"{route.foundation_model_id} is not authorized for this account (an SCP or "
            "IAM policy denies it, or a first-use form is missing)",
        )
    if agreement == "PENDING":
        return _problem(check, f"{route.foundation_model_id} subscription pending; retry soon")
    if answer.get("entitlementAvailability") != "AVAILABLE" or agreement not in (
        "AVAILABLE",
        None,
    ):
        why = (agreement and f"agreement {agreement}") or "no entitlement"
        detail = agreement and (answer.get("agreementAvailability") or {}).get("errorMessage")
        return _problem(
            check,
            f"{route.foundation_model_id} not subscribed ({why}"
            + (f": {detail}" if detail else "")
            + f"); {subscribe}",
        )
    source = "AWS Marketplace, subscribed" if route.marketplace else "no subscription needed"
    return _ok(check, f"{route.foundation_model_id} usable ({source})")


# --- running --------------------------------------------------------------------------------


def run_checks(settings: StackSettings, client: ClientFactory) -> list[Finding]:
    findings = [check_identity(client("sts"))]
    if findings[0].status == "PROBLEM":
        return findings  # nothing else can be asked without credentials
    findings.append(check_concurrency(client("lambda"), settings))
    try:
        findings += check_endpoint_zones(client("ec2"), settings)
    except Exception as exc:  # noqa: BLE001
        findings.append(_problem("availability-zones", f"EC2 failed: {_error_code(exc)}"))
    findings.append(check_engine_version(client("rds"), settings))
    bedrock = client("bedrock")
    findings += check_bedrock(bedrock, settings.models.embedding, purpose="embedding")
    findings += check_bedrock(bedrock, settings.models.answer, purpose="answer")
    return findings


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m docpipe.infra.preflight",
        description="Read-only checks of an AWS account before the first `pulumi up`.",
    )
    parser.add_argument("--stack", required=True, help="stack name (reads Pulumi.<stack>.yaml)")
    parser.add_argument("--region", help="AWS region (default: aws:region of the stack)")
    parser.add_argument("--config", type=Path, help="stack file (default: ./Pulumi.<stack>.yaml)")
    return parser


def main(
    argv: Sequence[str] | None = None,
    *,
    client: ClientFactory | None = None,
    out: TextIO | None = None,
) -> int:
    args = _parser().parse_args(argv)
    out = out or sys.stdout
    path = args.config or Path(f"Pulumi.{args.stack}.yaml")
    try:
        stack_region, sections = read_stack_config(path)
        region = args.region or stack_region
        if not region:
            raise ValueError(f"no --region and no aws:region in {path}")
        settings = load_settings(stack=args.stack, region=region, read=sections.get)
    except (OSError, ValueError) as exc:
        print(f"PROBLEM  config: {exc}", file=out)
        return 2
    if client is None:
        import boto3  # noqa: PLC0415 - only the real CLI needs AWS credentials

        session = boto3.Session(region_name=region)
        client = session.client
    findings = run_checks(settings, client)
    _print(findings, out)
    return 1 if any(f.status == "PROBLEM" for f in findings) else 0


def _print(findings: Iterable[Finding], out: TextIO) -> None:
    for finding in findings:
        print(finding.line(), file=out)


if __name__ == "__main__":
    raise SystemExit(main())
