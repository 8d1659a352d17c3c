"""Security and wiring guardrails, asserted over every resource the real program
declares (recorded under Pulumi mocks). Each guardrail is a plain function that
returns its violations; ``test_guardrail_catches`` proves each one can fail.
"""

from __future__ import annotations

import copy
import fnmatch
import html
import json
import re
from collections.abc import Callable
from typing import Any

import pytest

from docpipe.common.migrations import SERVICE_ROLES
from docpipe.infra.network import ENDPOINT_ACTION_PREFIX
from docpipe.infra.policies import WILDCARD_RESOURCE_ACTIONS
from docpipe.testkit.pulumi_program import ACCOUNT, CONSOLE_DOMAIN, REGION, dev_config
from docpipe.testkit.pulumi_program import Inventory as Inv

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

ALIAS = "live"
DEV_CONFIG = dev_config()
SECRETISH = re.compile(r"PASSWORD|PASSWD|TOKEN|PRIVATE|SECRET(?!_ARN)", re.IGNORECASE)


def _json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


def _statements(document: Any) -> list[dict[str, Any]]:
    statements = _json(document)["Statement"]
    return statements if isinstance(statements, list) else [statements]


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


# --- S3 (Security Hub S3.1/S3.2/S3.3/S3.5/S3.8 style) -------------------------------


def _denies_plain_http(document: Any) -> bool:
    return any(
        s["Effect"] == "Deny"
        and s.get("Condition", {}).get("Bool", {}).get("aws:SecureTransport") == "false"
        for s in _statements(document)
    )


def s3_violations(inv: Inv) -> list[str]:
    out: list[str] = []
    buckets = {f"{b.name}-id" for b in inv.of_type("aws:s3/bucket:Bucket")}

    def by_bucket(type_: str) -> dict[str, Any]:
        return {r.inputs["bucket"]: r.inputs for r in inv.of_type(type_)}

    blocks = by_bucket("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock")
    policies = by_bucket("aws:s3/bucketPolicy:BucketPolicy")
    sse = by_bucket(
        "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"
    )
    versioning = by_bucket("aws:s3/bucketVersioning:BucketVersioning")
    lifecycle = by_bucket("aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration")
    ownership = by_bucket("aws:s3/bucketOwnershipControls:BucketOwnershipControls")
    for bucket in sorted(buckets):
        block = blocks.get(bucket, {})
        out += [
            f"{bucket}: public access block {flag} is not true"
            for flag in (
                "blockPublicAcls",
                "blockPublicPolicy",
                "ignorePublicAcls",
                "restrictPublicBuckets",
            )
            if block.get(flag) is not True
        ]
        rules = lifecycle.get(bucket, {}).get("rules", [])
        checks = {
            "bucket policy does not deny non-TLS requests": _denies_plain_http(
                policies.get(bucket, {}).get("policy", '{"Statement": []}')
            ),
            "no default encryption": bool(sse.get(bucket, {}).get("rules")),
            "versioning not enabled": versioning.get(bucket, {})
            .get("versioningConfiguration", {})
            .get("status")
            == "Enabled",
            "no lifecycle for noncurrent versions": any(
                "noncurrentVersionExpiration" in r for r in rules
            ),
            "no lifecycle for incomplete multipart uploads": any(
                "abortIncompleteMultipartUpload" in r for r in rules
            ),
            "ACLs not disabled (BucketOwnerEnforced)": ownership.get(bucket, {})
            .get("rule", {})
            .get("objectOwnership")
            == "BucketOwnerEnforced",
        }
        out += [f"{bucket}: {problem}" for problem, ok in checks.items() if not ok]
    for cors in inv.of_type("aws:s3/bucketCorsConfiguration:BucketCorsConfiguration"):
        for rule in cors.inputs["corsRules"]:
            if "*" in rule["allowedOrigins"]:
                out.append(f"{cors.name}: CORS allows any origin")
    return out


# --- SQS ------------------------------------------------------------------------------


def sqs_violations(inv: Inv) -> list[str]:
    out: list[str] = []
    queues = inv.of_type("aws:sqs/queue:Queue")
    by_arn = {q.outputs["arn"]: q for q in queues}
    processor = next(
        f for f in inv.of_type("aws:lambda/function:Function") if f.name == "processor-function"
    )
    for queue in queues:
        if not (queue.inputs.get("sqsManagedSseEnabled") or queue.inputs.get("kmsMasterKeyId")):
            out.append(f"{queue.name}: not encrypted")
    sources = [q for q in queues if "redrivePolicy" in q.inputs]
    if not sources:
        out.append("no queue has a dead-letter queue")
    alarms = {
        (a.inputs["metricName"], a.inputs["dimensions"]["QueueName"]): a.inputs
        for a in inv.of_type("aws:cloudwatch/metricAlarm:MetricAlarm")
        if a.inputs.get("namespace") == "AWS/SQS"
    }
    for queue in sources:
        redrive = _json(queue.inputs["redrivePolicy"])
        dlq = by_arn.get(redrive["deadLetterTargetArn"])
        if redrive["maxReceiveCount"] < 5:
            out.append(f"{queue.name}: maxReceiveCount {redrive['maxReceiveCount']} < 5")
        if dlq is None:
            out.append(f"{queue.name}: DLQ is not declared in this stack")
        else:
            out += _dead_letter_violations(queue, dlq, processor, alarms)
    return out


def _dead_letter_violations(queue: Any, dlq: Any, processor: Any, alarms: Any) -> list[str]:
    depth = alarms.get(("ApproximateNumberOfMessagesVisible", dlq.outputs["name"]), {})
    checks = {
        f"{dlq.name}: retention not longer than {queue.name}'s": dlq.inputs[
            "messageRetentionSeconds"
        ]
        > queue.inputs["messageRetentionSeconds"],
        f"{queue.name}: visibility timeout < 6 x processor timeout": queue.inputs[
            "visibilityTimeoutSeconds"
        ]
        >= 6 * processor.inputs["timeout"],
        f"{dlq.name}: no alarm on depth > 0": depth.get("threshold") == 0
        and depth.get("comparisonOperator") == "GreaterThanThreshold",
        f"{queue.name}: no alarm on oldest message age": (
            "ApproximateAgeOfOldestMessage",
            queue.outputs["name"],
        )
        in alarms,
    }
    return [problem for problem, ok in checks.items() if not ok]


# --- RDS ------------------------------------------------------------------------------


def rds_violations(inv: Inv, *, deletion_protection: bool) -> list[str]:
    out: list[str] = []
    database_sgs = {
        f"{g.name}-id"
        for g in inv.of_type("aws:ec2/securityGroup:SecurityGroup")
        if g.name.endswith("-database")
    }
    for cluster in inv.of_type("aws:rds/cluster:Cluster"):
        i = cluster.inputs
        checks = {
            "storage not encrypted": i.get("storageEncrypted") is True,
            "backups < 7 days": i.get("backupRetentionPeriod", 0) >= 7,
            "deletion protection differs from config": i.get("deletionProtection")
            is deletion_protection,
            "master password not managed by RDS": i.get("manageMasterUserPassword") is True
            and "masterPassword" not in i,
            "IAM auth disabled": i.get("iamDatabaseAuthenticationEnabled") is True,
            "not aurora-postgresql 16.x": i.get("engine") == "aurora-postgresql"
            and str(i.get("engineVersion", "")).startswith("16."),
            "not serverless v2": "serverlessv2ScalingConfiguration" in i,
            "security groups other than the database group": set(i.get("vpcSecurityGroupIds", []))
            <= database_sgs
            and bool(i.get("vpcSecurityGroupIds")),
        }
        out += [f"{cluster.name}: {problem}" for problem, ok in checks.items() if not ok]
        if "engineVersion" not in cluster.ignore_changes:
            out.append(f"{cluster.name}: pulumi up would revert AWS's minor engine upgrades")
    for instance in inv.of_type("aws:rds/clusterInstance:ClusterInstance"):
        if "engineVersion" in instance.inputs or "engineVersion" not in instance.ignore_changes:
            out.append(f"{instance.name}: instance sends its own engine version")
        if instance.inputs.get("publiclyAccessible") is not False:
            out.append(f"{instance.name}: publicly accessible")
        if instance.inputs.get("performanceInsightsEnabled") is not True:
            out.append(f"{instance.name}: Performance Insights disabled")
    return out


# --- Lambda ---------------------------------------------------------------------------


def lambda_violations(inv: Inv) -> list[str]:
    out: list[str] = []
    log_groups = {
        g.inputs["name"]: g.inputs for g in inv.of_type("aws:cloudwatch/logGroup:LogGroup")
    }
    for fn in inv.of_type("aws:lambda/function:Function"):
        i = fn.inputs
        vpc = i.get("vpcConfig", {})
        group = log_groups.get(i.get("loggingConfig", {}).get("logGroup", ""), {})
        checks = {
            "not in the VPC": bool(vpc.get("subnetIds") and vpc.get("securityGroupIds")),
            "X-Ray tracing not active": i.get("tracingConfig", {}).get("mode") == "Active",
            "not arm64": i.get("architectures") == ["arm64"],
            "image not pinned by digest": i.get("packageType") == "Image"
            and bool(re.search(r"@sha256:[0-9a-f]{64}$", i.get("imageUri", ""))),
            "no log group with retention": bool(group.get("retentionInDays")),
        }
        out += [f"{fn.name}: {problem}" for problem, ok in checks.items() if not ok]
        out += [
            f"{fn.name}: environment variable {key} looks like a secret"
            for key, value in i.get("environment", {}).get("variables", {}).items()
            if SECRETISH.search(key)
            or (isinstance(value, str) and SECRETISH.search(value) and not value.startswith("arn:"))
        ]
    for permission in inv.of_type("aws:lambda/permission:Permission"):
        p = permission.inputs
        if p.get("principal") in (None, "*") or not p.get("sourceArn"):
            out.append(f"{permission.name}: invocable without a scoped principal/source")
    return out


def plaintext_secret_violations(inv: Inv, generated_password: str) -> list[str]:
    """The generated app password may reach only its Secrets Manager version, as a secret."""
    out: list[str] = []
    for resource in inv.custom():
        blob = json.dumps(resource.inputs, default=str)
        if generated_password not in blob:
            continue
        if resource.type != "aws:secretsmanager/secretVersion:SecretVersion":
            out.append(f"{resource.name}: carries the generated database password")
        elif "4dabf18193072939515e22adb298388d" not in resource.inputs.get("secretString", {}):
            out.append(f"{resource.name}: secret string is not marked secret in state")
    return out


# --- API ------------------------------------------------------------------------------


def api_violations(inv: Inv) -> list[str]:
    out: list[str] = []
    for route in inv.of_type("aws:apigatewayv2/route:Route"):
        public = route.inputs["routeKey"] == "GET /healthz"
        authorized = route.inputs.get("authorizationType") == "JWT" and route.inputs.get(
            "authorizerId"
        )
        if not public and not authorized:
            out.append(f"{route.inputs['routeKey']}: no JWT authorizer")
    for authorizer in inv.of_type("aws:apigatewayv2/authorizer:Authorizer"):
        jwt = authorizer.inputs.get("jwtConfiguration", {})
        if not jwt.get("issuer") or not jwt.get("audiences"):
            out.append(f"{authorizer.name}: JWT issuer/audience missing")
    for stage in inv.of_type("aws:apigatewayv2/stage:Stage"):
        logs = stage.inputs.get("accessLogSettings", {})
        if not logs.get("destinationArn") or not logs.get("format"):
            out.append(f"{stage.name}: no access logs")
        settings = stage.inputs.get("defaultRouteSettings", {})
        if not settings.get("throttlingBurstLimit") or not settings.get("throttlingRateLimit"):
            out.append(f"{stage.name}: no throttling")
    for api in inv.of_type("aws:apigatewayv2/api:Api"):
        if "*" in api.inputs.get("corsConfiguration", {}).get("allowOrigins", ["*"]):
            out.append(f"{api.name}: CORS allows any origin")
    return out


# --- the streamed-answer route (stacks/src/docpipe/infra/stream_api.py) -------------------

STREAMING_RUNTIME = "docpipe.common.lambda_runtime"


def _http_api_throttling(inv: Inv) -> tuple[Any, Any]:
    stage = inv.of_type("aws:apigatewayv2/stage:Stage")[0].inputs["defaultRouteSettings"]
    return stage.get("throttlingBurstLimit"), stage.get("throttlingRateLimit")


def _stream_integration_problems(i: Any, query_timeout_ms: float) -> list[str]:
    uri = i.inputs.get("uri", "")
    out = []
    if i.inputs.get("responseTransferMode") != "STREAM":
        out.append(f"{i.name}: the integration buffers (responseTransferMode is not STREAM)")
    if not uri.endswith(f":{ALIAS}/response-streaming-invocations"):
        out.append(f"{i.name}: not InvokeWithResponseStream on the {ALIAS} alias (canary)")
    if i.inputs.get("type") != "AWS_PROXY":
        out.append(f"{i.name}: not a Lambda proxy integration")
    if i.inputs.get("timeoutMilliseconds") != query_timeout_ms:
        out.append(f"{i.name}: timeout differs from the query function's")
    return out


def _stream_access_problems(inv: Inv) -> list[str]:
    """Auth on every method but the preflight, the stack's pool, the HTTP API's throttling."""
    out: list[str] = []
    for method in inv.of_type("aws:apigateway/method:Method"):
        m = method.inputs
        preflight = m["httpMethod"] == "OPTIONS"
        if not preflight and (
            m.get("authorization") != "COGNITO_USER_POOLS" or not m.get("authorizerId")
        ):
            out.append(f"{method.name}: {m['httpMethod']} without the Cognito authorizer")
    for authorizer in inv.of_type("aws:apigateway/authorizer:Authorizer"):
        arns = authorizer.inputs.get("providerArns") or []
        if (
            authorizer.inputs.get("type") != "COGNITO_USER_POOLS"
            or not arns
            or not all(
                str(a).startswith(f"arn:aws:cognito-idp:{REGION}:{ACCOUNT}:userpool/") for a in arns
            )
        ):
            out.append(f"{authorizer.name}: not the stack's Cognito user pool")
    throttles = [m.inputs for m in inv.of_type("aws:apigateway/methodSettings:MethodSettings")]
    for stage in inv.of_type("aws:apigateway/stage:Stage"):
        limits = [
            (t["settings"].get("throttlingBurstLimit"), t["settings"].get("throttlingRateLimit"))
            for t in throttles
            if t.get("methodPath") == "*/*"
        ]
        if _http_api_throttling(inv) not in limits:
            out.append(f"{stage.name}: not throttled like the HTTP API")
    return out


def stream_api_violations(inv: Inv) -> list[str]:
    """Streamed answers are deployed with the same auth, CORS, throttling and canary as the
    HTTP API's routes, and the query function runs the runtime that can stream."""
    functions = {f.name: f.inputs for f in inv.of_type("aws:lambda/function:Function")}
    query = functions.get("query-function")
    if query is None:
        return []
    out: list[str] = []
    entry = " ".join((query.get("imageConfig") or {}).get("entryPoints") or [])
    if STREAMING_RUNTIME not in entry:
        out.append("query-function: runs a runtime that cannot stream responses")
    origins = query["environment"]["variables"].get("CORS_ORIGINS", "")
    if not origins or "*" in origins:
        out.append("query-function: CORS_ORIGINS (the stream route's preflight) is empty or *")
    integrations = inv.of_type("aws:apigateway/integration:Integration")
    if inv.of_type("aws:cognito/userPool:UserPool") and not any(
        i.inputs.get("httpMethod") == "POST" for i in integrations
    ):
        out.append("no streamed-answer route although the query service and Cognito exist")
    for i in integrations:
        out += _stream_integration_problems(i, query["timeout"] * 1000)
    return out + _stream_access_problems(inv)


# --- wiring: everything that invokes a function goes through its alias -----------------


def alias_wiring_violations(inv: Inv) -> list[str]:
    out: list[str] = []
    for integration in inv.of_type("aws:apigatewayv2/integration:Integration"):
        if not integration.inputs["integrationUri"].endswith(f":{ALIAS}"):
            out.append(f"{integration.name}: integration targets the bare function")
    for permission in inv.of_type("aws:lambda/permission:Permission"):
        if permission.inputs.get("qualifier") != ALIAS:
            out.append(f"{permission.name}: permission not scoped to the alias")
    functions = {f.inputs["name"]: f.inputs for f in inv.of_type("aws:lambda/function:Function")}
    for mapping in inv.of_type("aws:lambda/eventSourceMapping:EventSourceMapping"):
        m = mapping.inputs
        if not m["functionName"].endswith(f":{ALIAS}"):
            out.append(f"{mapping.name}: event source mapping targets the bare function")
        if m.get("functionResponseTypes") != ["ReportBatchItemFailures"]:
            out.append(f"{mapping.name}: no ReportBatchItemFailures")
        fn = functions[m["functionName"].split(":")[6]]
        reserved = fn.get("reservedConcurrentExecutions")
        maximum = m.get("scalingConfig", {}).get("maximumConcurrency")
        # the trigger's maximumConcurrency is the processor's bound, reservation or not
        if maximum is None:
            out.append(f"{mapping.name}: queue trigger without maximum concurrency")
        elif reserved is not None and maximum > reserved:
            out.append(f"{mapping.name}: maximum concurrency exceeds reserved concurrency")
    return out


#: What each service's canary must watch besides Lambda's own metrics: the failures the
#: application reports per function version (a Mangum 500 and a failed document are not
#: Lambda errors).
APPLICATION_FAILURES = {
    "upload": {"Http5xx"},
    "query": {"Http5xx"},
    "processor": {"DocumentsFailed", "BatchItemFailures"},
}


def _application_metrics(alarm: Any, fn: str) -> set[str]:
    """docpipe metrics of one version of ``fn`` that a metric-math alarm reads."""
    out = set()
    for query in alarm.inputs.get("metricQueries") or []:
        metric = query.get("metric") or {}
        dims = metric.get("dimensions") or {}
        if (
            metric.get("namespace") == "docpipe"
            and dims.get("FunctionName") == fn
            and dims.get("FunctionVersion")
        ):
            out.add(metric["metricName"])
    return out


def rollout_violations(inv: Inv) -> list[str]:
    """Every deployed service: alias left to CodeDeploy, canary group with rollback on
    alarms that see both Lambda's metrics and what the application reports."""
    out: list[str] = []
    groups = {
        g.inputs["appName"]: g.inputs
        for g in inv.of_type("aws:codedeploy/deploymentGroup:DeploymentGroup")
    }
    alarms = {
        a.inputs["name"]: a
        for a in inv.of_type("aws:cloudwatch/metricAlarm:MetricAlarm")
        if "name" in a.inputs
    }
    for alias in inv.of_type("aws:lambda/alias:Alias"):
        fn = alias.inputs["functionName"]
        if not {"functionVersion", "routingConfig", "description"} <= set(alias.ignore_changes):
            out.append(f"{alias.name}: Pulumi would fight CodeDeploy/rollout over the alias")
        group = groups.get(fn)
        if group is None:
            out.append(f"{fn}: no CodeDeploy deployment group")
            continue
        rollback = group.get("autoRollbackConfiguration", {})
        if not rollback.get("enabled") or set(rollback.get("events", [])) != {
            "DEPLOYMENT_FAILURE",
            "DEPLOYMENT_STOP_ON_ALARM",
        }:
            out.append(f"{fn}: automatic rollback incomplete")
        watched = [alarms[n] for n in group.get("alarmConfiguration", {}).get("alarms", [])]
        if not group.get("alarmConfiguration", {}).get("enabled"):
            out.append(f"{fn}: deployment group alarms disabled")
        lambda_metrics = {
            a.inputs.get("metricName")
            for a in watched
            if (a.inputs.get("dimensions") or {}).get("FunctionName") == fn
        }
        if lambda_metrics != {"Errors", "Throttles", "Duration"}:
            out.append(f"{fn}: deployment group does not watch its own errors/throttles/duration")
        service = fn.rsplit("-", 1)[-1]
        seen = set().union(*(_application_metrics(a, fn) for a in watched))
        missing = APPLICATION_FAILURES.get(service, {"?"}) - seen
        if missing:
            out.append(f"{fn}: canary does not watch application metric(s) {sorted(missing)}")
        for alarm in watched:
            if _application_metrics(alarm, fn) and "metricQueries" not in alarm.ignore_changes:
                out.append(f"{alarm.name}: Pulumi would undo the rollout's version re-pointing")
    return out


# --- ECR ------------------------------------------------------------------------------


def ecr_violations(inv: Inv) -> list[str]:
    out: list[str] = []
    with_lifecycle = {
        p.inputs["repository"] for p in inv.of_type("aws:ecr/lifecyclePolicy:LifecyclePolicy")
    }
    for repo in inv.of_type("aws:ecr/repository:Repository"):
        if repo.inputs.get("imageTagMutability") != "IMMUTABLE":
            out.append(f"{repo.name}: tags are mutable")
        if repo.inputs.get("imageScanningConfiguration", {}).get("scanOnPush") is not True:
            out.append(f"{repo.name}: no scan on push")
        if repo.outputs["name"] not in with_lifecycle:
            out.append(f"{repo.name}: no lifecycle policy")
    return out


# --- IAM ------------------------------------------------------------------------------


def _allow_problems(statement: dict[str, Any]) -> list[str]:
    actions = _as_list(statement.get("Action", []))
    checks = {
        "NotAction/NotResource": "NotAction" not in statement and "NotResource" not in statement,
        f"wildcard action {actions}": not any("*" in action for action in actions),
        f"resource * for {actions}": "*" not in _as_list(statement.get("Resource", []))
        or set(actions) <= WILDCARD_RESOURCE_ACTIONS,
    }
    return [problem for problem, ok in checks.items() if not ok]


def iam_violations(inv: Inv) -> list[str]:
    out: list[str] = []
    for rp in inv.of_type("aws:iam/rolePolicy:RolePolicy"):
        for s in _statements(rp.inputs["policy"]):
            if s["Effect"] == "Allow":
                out += [f"{rp.name}/{s.get('Sid')}: {problem}" for problem in _allow_problems(s)]
    for attachment in inv.of_type("aws:iam/rolePolicyAttachment:RolePolicyAttachment"):
        if "FullAccess" in attachment.inputs.get("policyArn", ""):
            out.append(f"{attachment.name}: attaches {attachment.inputs['policyArn']}")
    for role in inv.of_type("aws:iam/role:Role"):
        for s in _statements(role.inputs["assumeRolePolicy"]):
            if set(s.get("Principal", {})) != {"Service"}:
                out.append(f"{role.name}: assumable by non-service principals")
    return out


# --- Database credentials: one secret per service role, read by that service only -----

_SECRET = "aws:secretsmanager/secret:Secret"
_SECRET_VERSION = "aws:secretsmanager/secretVersion:SecretVersion"
_MIGRATIONS = "migrations"


def _secret_roles(inv: Inv) -> dict[str, str]:
    """ARN of each generated secret → the database role its value names."""
    arn_by_id = {f"{s.name}-id": s.outputs["arn"] for s in inv.of_type(_SECRET)}
    roles: dict[str, str] = {}
    for version in inv.of_type(_SECRET_VERSION):
        value = version.inputs.get("secretString", {})
        text = value.get("value", "{}") if isinstance(value, dict) else value
        arn = arn_by_id.get(version.inputs["secretId"], version.inputs["secretId"])
        roles[arn] = str(json.loads(text).get("username"))
    return roles


def _master_secret(inv: Inv) -> str:
    (cluster,) = inv.of_type("aws:rds/cluster:Cluster")
    return str(cluster.outputs["masterUserSecrets"][0]["secretArn"])


def _secrets_readable(inv: Inv, known: set[str]) -> dict[str, set[str]]:
    """Function (logical prefix) → the database secrets its role may touch at all."""
    readable: dict[str, set[str]] = {}
    for rp in inv.of_type("aws:iam/rolePolicy:RolePolicy"):
        grants = readable.setdefault(rp.name.removesuffix("-role-policy"), set())
        for s in _statements(rp.inputs["policy"]):
            actions = _as_list(s.get("Action", []))
            if s["Effect"] != "Allow" or not any(a.startswith("secretsmanager:") for a in actions):
                continue
            for pattern in _as_list(s.get("Resource", [])):
                grants |= {arn for arn in known if fnmatch.fnmatchcase(arn, pattern)}
    return readable


def _migration_secret_problems(
    env: dict[str, Any], roles: dict[str, str], master: str, readable: dict[str, set[str]]
) -> list[str]:
    """It reads the master secret and each role's secret (to set its password), no more."""
    out: list[str] = []
    wanted = {master}
    for service, role in SERVICE_ROLES.items():
        arn = env.get(f"{service.upper()}_DATABASE_SECRET_ARN")
        if roles.get(arn) != role:
            out.append(f"{_MIGRATIONS}: {service.upper()}_DATABASE_SECRET_ARN is not {role}'s")
        if arn:
            wanted.add(arn)
    if env.get("MASTER_SECRET_ARN") != master:
        out.append(f"{_MIGRATIONS}: MASTER_SECRET_ARN is not the cluster's master secret")
    if readable.get(_MIGRATIONS, set()) != wanted:
        out.append(f"{_MIGRATIONS}: reads {sorted(readable.get(_MIGRATIONS, set()))}")
    return out


def database_secret_violations(inv: Inv) -> list[str]:
    """Each service connects with its own role's secret and its IAM role may read no other
    database secret (so a foothold in the read-only query service cannot borrow the
    processor's grants); only the migration function reads the master secret and the
    role secrets, one per role, each naming its role."""
    roles = _secret_roles(inv)
    master = _master_secret(inv)
    out = [
        f"no secret for database role {r}"
        for r in SERVICE_ROLES.values()
        if r not in roles.values()
    ]
    out += [
        f"{arn}: a secret for {role}, which is not a service role"
        for arn, role in roles.items()
        if role not in SERVICE_ROLES.values()
    ]
    readable = _secrets_readable(inv, set(roles) | {master})
    env = {
        fn.name.removesuffix("-function"): fn.inputs["environment"]["variables"]
        for fn in inv.of_type("aws:lambda/function:Function")
    }
    for service, role in SERVICE_ROLES.items():
        if service not in env:
            continue  # not deployed yet (no image)
        arn = env[service].get("DATABASE_SECRET_ARN")
        if roles.get(arn) != role:
            out.append(f"{service}: DATABASE_SECRET_ARN is not the secret of {role}")
        if readable.get(service, set()) != {arn}:
            extra = sorted(readable.get(service, set()) - {arn})
            out.append(f"{service}: may read database secrets other than its own: {extra}")
    if _MIGRATIONS in env:
        out += _migration_secret_problems(env[_MIGRATIONS], roles, master, readable)
    return out


# --- S3 reads: a missing key must read as 404, not 403 ---------------------------------

_OBJECT_READS = ("s3:GetObject", "s3:GetObjectVersion")  # GetObject also authorises HEAD


def _allows(statement: dict[str, Any], action: str) -> bool:
    patterns = _as_list(statement.get("Action", []))
    return statement["Effect"] == "Allow" and any(
        fnmatch.fnmatchcase(action.lower(), pattern.lower()) for pattern in patterns
    )


def _literal_head(pattern: str) -> str:
    return re.split(r"[*?]", pattern, maxsplit=1)[0]


def _lists_keys(statement: dict[str, Any], bucket_arn: str, key_pattern: str) -> bool:
    """``statement`` lets S3 list ``bucket_arn`` for every key ``key_pattern`` matches.

    Only an unconditional grant or an ``s3:prefix`` condition (StringLike with a trailing
    ``*``, or StringEquals on the exact key) counts; any other condition does not.
    """
    resources = _as_list(statement.get("Resource", []))
    if not any(fnmatch.fnmatchcase(bucket_arn, r) for r in resources):
        return False
    condition = statement.get("Condition") or {}
    if not condition:
        return True
    for operator, keys in condition.items():
        if set(keys) != {"s3:prefix"}:
            return False
        for value in _as_list(keys["s3:prefix"]):
            head = _literal_head(value)
            if operator == "StringLike" and value == f"{head}*":
                if _literal_head(key_pattern).startswith(head):
                    return True
            elif operator in ("StringEquals", "StringLike") and value == key_pattern == head:
                return True
    return False


def s3_read_listing_violations(inv: Inv) -> list[str]:
    """A role that may read objects may also list (``s3:ListBucket``) the prefix it reads.

    Without it S3 answers GetObject/HeadObject of a missing key with 403 AccessDenied, not
    404 (https://docs.aws.amazon.com/AmazonS3/latest/API/API_GetObject.html and
    API_HeadObject.html, "Permissions"): a deleted document would look like a permissions
    failure (retried until dead-lettered; 503 instead of 409 on reprocess).
    """
    out: list[str] = []
    by_role: dict[str, list[tuple[str, dict[str, Any]]]] = {}
    for rp in inv.of_type("aws:iam/rolePolicy:RolePolicy"):
        by_role.setdefault(rp.inputs["role"], []).extend(
            (rp.name, s) for s in _statements(rp.inputs["policy"])
        )
    for statements in by_role.values():
        listings = [s for _, s in statements if _allows(s, "s3:ListBucket")]
        for name, s in statements:
            if not any(_allows(s, action) for action in _OBJECT_READS):
                continue
            for resource in _as_list(s.get("Resource", [])):
                bucket_arn, slash, key_pattern = resource.partition("/")
                if not slash or not bucket_arn.startswith("arn:aws:s3:::"):
                    continue
                if not any(_lists_keys(ls, bucket_arn, key_pattern) for ls in listings):
                    out.append(f"{name}/{s.get('Sid')}: reads {resource} but may not list it")
    return out


# --- network --------------------------------------------------------------------------

OPEN = {"0.0.0.0/0", "::/0"}


def network_violations(inv: Inv) -> list[str]:
    out: list[str] = []
    for group in inv.of_type("aws:ec2/securityGroup:SecurityGroup"):
        if group.inputs.get("ingress") or group.inputs.get("egress"):
            out.append(f"{group.name}: inline rules (use one rule resource per peer)")
    for rule in inv.of_type("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"):
        out += [f"{rule.name}: {problem}" for problem in _ingress_problems(rule.inputs)]
    for rule in inv.of_type("aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule"):
        r = rule.inputs
        if r.get("cidrIpv4") in OPEN or r.get("cidrIpv6") in OPEN:
            out.append(f"{rule.name}: egress to the internet")
    out += _private_network_violations(inv)
    return out


def _ingress_problems(r: dict[str, Any]) -> list[str]:
    group = r["securityGroupId"]
    checks = {
        "ingress not limited to a peer security group": r.get("cidrIpv4") not in OPEN
        and r.get("cidrIpv6") not in OPEN
        and bool(r.get("referencedSecurityGroupId")),
        "database reachable on a port other than 5432": not group.endswith("-database-id")
        or r.get("fromPort") == 5432,
        "endpoints reachable on a port other than 443": not group.endswith("-endpoints-id")
        or r.get("fromPort") == 443,
        "not a single TCP port": r.get("fromPort") == r.get("toPort")
        and r.get("ipProtocol") == "tcp",
    }
    return [problem for problem, ok in checks.items() if not ok]


def _private_network_violations(inv: Inv) -> list[str]:
    out: list[str] = []
    for default in inv.of_type("aws:ec2/defaultSecurityGroup:DefaultSecurityGroup"):
        if default.inputs.get("ingress") or default.inputs.get("egress"):
            out.append(f"{default.name}: default security group has rules")
    for subnet in inv.of_type("aws:ec2/subnet:Subnet"):
        if subnet.inputs.get("mapPublicIpOnLaunch") is not False:
            out.append(f"{subnet.name}: public subnet")
    for forbidden in (
        "aws:ec2/internetGateway:InternetGateway",
        "aws:ec2/natGateway:NatGateway",
        "aws:ec2/eip:Eip",
    ):
        out += [f"{r.name}: {forbidden} in a private-only network" for r in inv.of_type(forbidden)]
    endpoints = {
        e.inputs["serviceName"].split(".")[-1]: e.inputs
        for e in inv.of_type("aws:ec2/vpcEndpoint:VpcEndpoint")
    }
    for service in ("secretsmanager", "bedrock-runtime", "sqs"):
        endpoint = endpoints.get(service, {})
        if endpoint.get("vpcEndpointType") != "Interface" or not endpoint.get("privateDnsEnabled"):
            out.append(f"no private interface endpoint for {service}")
    if endpoints.get("s3", {}).get("vpcEndpointType") != "Gateway":
        out.append("no S3 gateway endpoint")
    return out


# --- Bedrock: a model outside the stack's region only through this stack's profiles -----


def _stack_profile(arn: Any) -> bool:
    return isinstance(arn, str) and bool(
        re.fullmatch(
            rf"arn:aws:bedrock:{REGION}:{ACCOUNT}:inference-profile/[a-z-]+\.[\w.:-]+", arn
        )
    )


def bedrock_violations(inv: Inv) -> list[str]:
    """A foundation-model grant in any region (``*``) or none (global profiles) is allowed
    only through one of this stack's inference profiles (``bedrock:InferenceProfileArn``)."""
    out: list[str] = []
    for rp in inv.of_type("aws:iam/rolePolicy:RolePolicy"):
        for s in _statements(rp.inputs["policy"]):
            if s["Effect"] != "Allow" or not any(
                a.startswith("bedrock:") for a in _as_list(s["Action"])
            ):
                continue
            wide = [
                r
                for r in _as_list(s["Resource"])
                if re.fullmatch(r"arn:aws:bedrock:(\*|):[^:]*:foundation-model/.+", r)
            ]
            profile = (
                s.get("Condition", {}).get("StringEquals", {}).get("bedrock:InferenceProfileArn")
            )
            if wide and not _stack_profile(profile):
                out.append(
                    f"{rp.name}/{s.get('Sid')}: {wide} callable outside an inference profile"
                )
            profiles = [r for r in _as_list(s["Resource"]) if ":inference-profile/" in r]
            out += [
                f"{rp.name}/{s.get('Sid')}: foreign profile {p}"
                for p in profiles
                if not _stack_profile(p)
            ]
    return out


# --- VPC endpoints: each admits only the stack's own grants --------------------------------


def _role_grants(inv: Inv) -> set[tuple[str, str]]:
    """(action, resource) pairs the stack's function roles allow."""
    return {
        (action, resource)
        for rp in inv.of_type("aws:iam/rolePolicy:RolePolicy")
        for s in _statements(rp.inputs["policy"])
        if s["Effect"] == "Allow"
        for action in _as_list(s["Action"])
        for resource in _as_list(s["Resource"])
    }


def endpoint_violations(inv: Inv) -> list[str]:
    out: list[str] = []
    grants = _role_grants(inv)
    policies_by_endpoint = {
        p.inputs["vpcEndpointId"]: p.inputs["policy"]
        for p in inv.of_type("aws:ec2/vpcEndpointPolicy:VpcEndpointPolicy")
    }
    for endpoint in inv.of_type("aws:ec2/vpcEndpoint:VpcEndpoint"):
        service = endpoint.inputs["serviceName"].split(".")[-1]
        document = endpoint.inputs.get("policy") or policies_by_endpoint.get(f"{endpoint.name}-id")
        if not document:
            out.append(f"{endpoint.name}: no endpoint policy (full access)")
            continue
        for s in _statements(document):
            out += [
                f"{endpoint.name}/{s.get('Sid')}: {p}"
                for p in _endpoint_problems(s, service, grants)
            ]
    return out


def _endpoint_problems(s: dict[str, Any], service: str, grants: set[tuple[str, str]]) -> list[str]:
    if s.get("Effect") != "Allow":
        return []
    actions, resources = _as_list(s.get("Action", [])), _as_list(s.get("Resource", []))
    prefix = ENDPOINT_ACTION_PREFIX[service]
    account = s.get("Condition", {}).get("StringEquals", {}).get("aws:PrincipalAccount")
    checks = {
        "NotAction/NotResource/NotPrincipal": not {"NotAction", "NotResource", "NotPrincipal"}
        & set(s),
        f"wildcard action {actions}": not any("*" in a for a in actions),
        f"actions of another service {actions}": all(a.startswith(f"{prefix}:") for a in actions),
        "principals outside this account": account == ACCOUNT,
        f"resources this stack's roles do not use {resources}": all(
            (a, r) in grants for a in actions for r in resources
        ),
    }
    return [problem for problem, ok in checks.items() if not ok]


# --- protected data ------------------------------------------------------------------------


def protect_violations(inv: Inv) -> list[str]:
    """The database and the documents survive `pulumi destroy` and replacements (the web
    console's bucket holds only files rebuilt from the repository at every deploy)."""
    buckets = [b for b in inv.of_type("aws:s3/bucket:Bucket") if inv.owner(b) == "documents"]
    data = inv.of_type("aws:rds/cluster:Cluster") + buckets
    out = [f"{r.name}: not protected" for r in data if not r.protect]
    return out or ([] if data and buckets else ["no database cluster or documents bucket found"])


# --- the web console (stacks/src/docpipe/infra/console.py) ---------------------------------

_UNSAFE_SOURCES = {"*", "'unsafe-inline'", "'unsafe-eval'", "'unsafe-hashes'", "data:", "blob:"}
_SCHEMES = {"http:", "https:", "ws:", "wss:"}


def _csp(policy: str) -> dict[str, list[str]]:
    directives = (d.split() for d in policy.split(";") if d.strip())
    return {parts[0]: parts[1:] for parts in directives}


def _csp_problems(policy: str, *, where: str) -> list[str]:
    csp = _csp(policy)
    loose = {"*", *_SCHEMES}
    checks = {
        "default-src is not 'none' or 'self'": csp.get("default-src") in (["'none'"], ["'self'"]),
        "script-src is not 'self' alone": csp.get("script-src") == ["'self'"],
        "style-src allows inline or foreign styles": csp.get("style-src") == ["'self'"],
        "object-src is not 'none'": csp.get("object-src") == ["'none'"],
        "base-uri is not 'none' or 'self'": csp.get("base-uri") in (["'none'"], ["'self'"]),
        "connect-src allows any host or scheme": bool(csp.get("connect-src"))
        and not loose & set(csp["connect-src"]),
        "a directive allows unsafe sources": not any(
            _UNSAFE_SOURCES & set(values) for values in csp.values()
        ),
    }
    return [f"{where}: CSP {problem}" for problem, ok in checks.items() if not ok]


def _console_headers_problems(policy: Any) -> list[str]:
    config = policy.inputs.get("securityHeadersConfig") or {}
    csp = (config.get("contentSecurityPolicy") or {}).get("contentSecurityPolicy", "")
    hsts = config.get("strictTransportSecurity") or {}
    frame_ancestors = _csp(csp).get("frame-ancestors")
    checks = {
        "no content security policy": bool(csp),
        "CSP does not forbid framing (frame-ancestors)": frame_ancestors
        in (["'none'"], ["'self'"]),
        "HSTS under a year or without subdomains": hsts.get("accessControlMaxAgeSec", 0)
        >= 31_536_000
        and hsts.get("includeSubdomains") is True,
        "security headers do not override the origin's": all(
            (config.get(k) or {}).get("override") is True
            for k in ("contentSecurityPolicy", "strictTransportSecurity", "contentTypeOptions")
        ),
        "no X-Frame-Options DENY": (config.get("frameOptions") or {}).get("frameOption") == "DENY",
        "referrer policy leaks URLs": (config.get("referrerPolicy") or {}).get("referrerPolicy")
        in ("no-referrer", "same-origin", "strict-origin", "strict-origin-when-cross-origin"),
    }
    out = [f"{policy.name}: {problem}" for problem, ok in checks.items() if not ok]
    return out + (_csp_problems(csp, where=policy.name) if csp else [])


def _distribution_problems(d: Any, inv: Inv) -> list[str]:
    i = d.inputs
    behaviour = i.get("defaultCacheBehavior") or {}
    controls = {
        f"{c.name}-id": c.inputs for c in inv.of_type(
            "aws:cloudfront/originAccessControl:OriginAccessControl"
        )
    }  # fmt: skip
    certificate = i.get("viewerCertificate") or {}
    checks = {
        "viewers may use plain HTTP": behaviour.get("viewerProtocolPolicy")
        in ("redirect-to-https", "https-only"),
        "methods other than GET/HEAD reach the bucket": set(behaviour.get("allowedMethods", []))
        <= {"GET", "HEAD", "OPTIONS"},
        "no response headers policy": behaviour.get("responseHeadersPolicyId")
        in {
            f"{p.name}-id"
            for p in inv.of_type("aws:cloudfront/responseHeadersPolicy:ResponseHeadersPolicy")
        },  # fmt: skip
        "an origin reads the bucket without origin access control (signed, sigv4)": all(
            controls.get(o.get("originAccessControlId"), {}).get("signingBehavior") == "always"
            and controls[o["originAccessControlId"]].get("signingProtocol") == "sigv4"
            and not (o.get("s3OriginConfig") or {}).get("originAccessIdentity")
            for o in i.get("origins", [])
        ),
        "a custom name below TLS 1.2": certificate.get("cloudfrontDefaultCertificate") is True
        and not i.get("aliases")
        or (
            bool(certificate.get("acmCertificateArn"))
            and certificate.get("minimumProtocolVersion", "").startswith("TLSv1.2_")
            and certificate.get("sslSupportMethod") == "sni-only"
        ),
    }
    return [f"{d.name}: {problem}" for problem, ok in checks.items() if not ok]


def _console_bucket_problems(inv: Inv, distribution: Any) -> list[str]:
    buckets = {
        f"{b.name}-id" for b in inv.of_type("aws:s3/bucket:Bucket") if inv.owner(b) == "console"
    }
    out = []
    for policy in inv.of_type("aws:s3/bucketPolicy:BucketPolicy"):
        if policy.inputs["bucket"] not in buckets:
            continue
        for s in _statements(policy.inputs["policy"]):
            if s["Effect"] != "Allow":
                continue
            source = s.get("Condition", {}).get("StringEquals", {}).get("AWS:SourceArn")
            if s.get("Principal") != {"Service": "cloudfront.amazonaws.com"} or (
                source != distribution.outputs["arn"]
            ):
                out.append(f"{policy.name}/{s.get('Sid')}: the console bucket is readable by "
                           "someone other than its distribution")  # fmt: skip
    return out or ([] if buckets else ["no console bucket"])


def _console_origin_problems(inv: Inv, origin: str) -> list[str]:
    """Every API and the documents bucket admit the console's origin (and never '*')."""
    out = []
    for api in inv.of_type("aws:apigatewayv2/api:Api"):
        if origin not in api.inputs.get("corsConfiguration", {}).get("allowOrigins", []):
            out.append(f"{api.name}: CORS does not admit the console ({origin})")
    for cors in inv.of_type("aws:s3/bucketCorsConfiguration:BucketCorsConfiguration"):
        if not any(origin in r["allowedOrigins"] for r in cors.inputs["corsRules"]):
            out.append(f"{cors.name}: presigned uploads from the console are refused")
    for fn in inv.of_type("aws:lambda/function:Function"):
        origins = fn.inputs.get("environment", {}).get("variables", {}).get("CORS_ORIGINS")
        if origins is not None and origin not in origins.split(","):
            out.append(f"{fn.name}: CORS_ORIGINS (the streamed answer's preflight) lacks {origin}")
    for client in inv.of_type("aws:cognito/userPoolClient:UserPoolClient"):
        if inv.owner(client) == "console" and client.inputs.get("callbackUrls") != [f"{origin}/"]:
            out.append(f"{client.name}: sign-in returns somewhere other than the console")
    return out


def _console_release_problems(inv: Inv, origin: str) -> list[str]:
    objects = {o.inputs["key"]: o for o in inv.of_type("aws:s3/bucketObjectv2:BucketObjectv2")}
    index, config = objects.get("index.html"), objects.get("config.json")
    if index is None or config is None:
        return ["the console's index.html or config.json is not deployed"]
    meta = re.search(
        r'http-equiv="Content-Security-Policy" content="([^"]+)"', index.inputs["content"]
    )
    if not meta:
        return [f"{index.name}: no exact content security policy in the page"]
    policy = html.unescape(meta[1])
    settings = json.loads(config.inputs["content"])
    api = inv.of_type("aws:apigatewayv2/api:Api")[0].outputs["apiEndpoint"]
    stages = [s.outputs.get("invokeUrl") for s in inv.of_type("aws:apigateway/stage:Stage")]
    clients = {
        c.outputs["id"]
        for c in inv.of_type("aws:cognito/userPoolClient:UserPoolClient")
        if c.inputs.get("callbackUrls") == [f"{origin}/"]
    }
    checks = {
        "the page's connect-src does not name the HTTP API": api
        in _csp(policy).get("connect-src", []),
        "config.json names another API": settings["uploadApi"] == settings["queryApi"] == api,
        "config.json streams answers elsewhere than the streamed-answer route": settings[
            "streamApi"
        ]
        in (stages or [api]),
        "config.json signs in through a client that does not return to the console": settings[
            "auth"
        ].get("clientId")
        in clients,
    }
    out = [f"console release: {problem}" for problem, ok in checks.items() if not ok]
    return out + _csp_problems(policy, where=index.name)


def console_violations(inv: Inv) -> list[str]:
    """The web console: a private bucket only its CloudFront distribution reads (origin
    access control), HTTPS, strict security headers and CSP, and every API admitting its
    origin by name."""
    distributions = inv.of_type("aws:cloudfront/distribution:Distribution")
    if len(distributions) != 1:
        return [f"{len(distributions)} CloudFront distributions (expected the console's)"]
    distribution = distributions[0]
    origin = "https://" + (
        (distribution.inputs.get("aliases") or [None])[0] or distribution.outputs["domainName"]
    )
    out = _distribution_problems(distribution, inv)
    for policy in inv.of_type("aws:cloudfront/responseHeadersPolicy:ResponseHeadersPolicy"):
        out += _console_headers_problems(policy)
    out += _console_bucket_problems(inv, distribution)
    out += _console_origin_problems(inv, origin)
    return out + _console_release_problems(inv, origin)


# --- login (Cognito) ------------------------------------------------------------------------


def cognito_violations(inv: Inv) -> list[str]:
    out: list[str] = []
    pools = inv.of_type("aws:cognito/userPool:UserPool")
    clients = inv.of_type("aws:cognito/userPoolClient:UserPoolClient")
    if not pools:
        return ["no Cognito user pool (dev turns docpipe:auth.cognito on)"]
    for pool in pools:
        out += [f"{pool.name}: {p}" for p in _pool_problems(pool.inputs)]
    tenant = {f"custom:{a['name']}" for pool in pools for a in pool.inputs.get("schemas", [])}
    for client in clients:
        out += [f"{client.name}: {p}" for p in _client_problems(client.inputs, tenant)]
    issuers = {f"https://cognito-idp.{REGION}.amazonaws.com/{p.outputs['id']}" for p in pools}
    client_ids = {c.outputs["id"] for c in clients}
    for authorizer in inv.of_type("aws:apigatewayv2/authorizer:Authorizer"):
        jwt = authorizer.inputs.get("jwtConfiguration", {})
        if jwt.get("issuer") not in issuers or not set(jwt.get("audiences", [])) <= client_ids:
            out.append(f"{authorizer.name}: does not trust the user pool's app client")
    return out


def _pool_problems(p: dict[str, Any]) -> list[str]:
    password = p.get("passwordPolicy", {})
    checks = {
        "password policy weaker than 12 characters of four kinds": password.get("minimumLength", 0)
        >= 12
        and all(
            password.get(f"require{kind}") is True
            for kind in ("Lowercase", "Uppercase", "Numbers", "Symbols")
        ),
        "users can sign themselves up": p.get("adminCreateUserConfig", {}).get(
            "allowAdminCreateUserOnly"
        )
        is True,
        "MFA off": p.get("mfaConfiguration") in ("OPTIONAL", "ON")
        and p.get("softwareTokenMfaConfiguration", {}).get("enabled") is True,
        "feature plan outside the free tier (Plus) or threat protection on": p.get("userPoolTier")
        in ("LITE", "ESSENTIALS")
        and p.get("userPoolAddOns", {}).get("advancedSecurityMode", "OFF") == "OFF",
        "tenant attribute is developer-only (not in tokens) or missing": bool(p.get("schemas"))
        and all(a.get("developerOnlyAttribute") is False for a in p.get("schemas", [])),
    }
    return [problem for problem, ok in checks.items() if not ok]


def _client_problems(c: dict[str, Any], tenant_claims: set[str]) -> list[str]:
    urls = c.get("callbackUrls", []) + c.get("logoutUrls", [])
    checks = {
        "client has a secret (a browser cannot keep it)": c.get("generateSecret") is False,
        "OAuth flows other than the authorization code": c.get("allowedOauthFlows") == ["code"],
        "redirects to plain http outside localhost": all(
            u.startswith(("https://", "http://localhost", "http://127.0.0.1")) for u in urls
        ),
        "users can write their tenant (write attributes unset or include it)": bool(
            c.get("writeAttributes")
        )
        and not tenant_claims & set(c.get("writeAttributes", [])),
        "tenant not readable into the ID token": tenant_claims <= set(c.get("readAttributes", [])),
        "password sent by the client (USER_PASSWORD_AUTH)": "ALLOW_USER_PASSWORD_AUTH"
        not in c.get("explicitAuthFlows", []),
        "token lifetime over a day": all(
            c.get(k, 0) <= 1440 for k in ("idTokenValidity", "accessTokenValidity")
        )
        and c.get("tokenValidityUnits", {}).get("idToken") == "minutes",
    }
    return [problem for problem, ok in checks.items() if not ok]


def alarm_violations(inv: Inv) -> list[str]:
    return [
        f"{a.name}: alarm notifies nobody"
        for a in inv.of_type("aws:cloudwatch/metricAlarm:MetricAlarm")
        if not a.inputs.get("alarmActions")
    ]


def log_retention_violations(inv: Inv) -> list[str]:
    return [
        f"{g.name}: logs kept forever"
        for g in inv.of_type("aws:cloudwatch/logGroup:LogGroup")
        if not g.inputs.get("retentionInDays")
    ]


def config_violations(config: dict[str, Any]) -> list[str]:
    """No plaintext secret in stack config: secret-looking keys must be `secure:` values."""
    out: list[str] = []

    def walk(path: str, value: Any) -> None:
        if isinstance(value, dict):
            if set(value) == {"secure"}:
                return
            for key, child in value.items():
                walk(f"{path}.{key}", child)
        elif isinstance(value, list):
            for index, child in enumerate(value):
                walk(f"{path}[{index}]", child)
        elif isinstance(value, str) and SECRETISH.search(path.rsplit(".", 1)[-1]):
            out.append(f"{path}: plaintext secret-like config value")

    for key, value in config.items():
        walk(key, value)
    return out


def test_stack_config_has_no_plaintext_secrets() -> None:
    assert config_violations(DEV_CONFIG) == []
    assert config_violations({"docpipe:api": {"jwtSecret": "x"}}) != []
    assert config_violations({"docpipe:api": {"jwtSecret": {"secure": "AAEAAQ=="}}}) == []


# --- the tests -------------------------------------------------------------------------

GUARDRAILS: dict[str, Callable[[Inv], list[str]]] = {
    "s3": s3_violations,
    "sqs": sqs_violations,
    "rds": lambda inv: rds_violations(
        inv, deletion_protection=DEV_CONFIG["docpipe:database"]["deletionProtection"]
    ),
    "lambda": lambda_violations,
    "plaintext-secrets": lambda inv: plaintext_secret_violations(
        inv, "mock-generated-app-password-0123456789"
    ),
    "api": api_violations,
    "alias-wiring": alias_wiring_violations,
    "rollout": rollout_violations,
    "ecr": ecr_violations,
    "iam": iam_violations,
    "database-secrets": database_secret_violations,
    "s3-read-listing": s3_read_listing_violations,
    "network": network_violations,
    "alarms": alarm_violations,
    "log-retention": log_retention_violations,
    "bedrock": bedrock_violations,
    "endpoints": endpoint_violations,
    "protect": protect_violations,
    "cognito": cognito_violations,
    "stream-api": stream_api_violations,
    "console": console_violations,
}


@pytest.mark.parametrize("name", sorted(GUARDRAILS))
def test_guardrail_holds(name: str, inventory: Inv) -> None:
    assert GUARDRAILS[name](inventory) == []


@pytest.mark.parametrize(
    "name",
    [
        "s3",
        "ecr",
        "iam",
        "database-secrets",
        "network",
        "alarms",
        "log-retention",
        "endpoints",
        "protect",
        "cognito",
        "console",
    ],
)
def test_guardrail_holds_before_images_exist(name: str, bootstrap_inventory: Inv) -> None:
    assert GUARDRAILS[name](bootstrap_inventory) == []


def _first(inv: Inv, type_: str, name: str | None = None) -> dict[str, Any]:
    return next(r for r in inv.of_type(type_) if name is None or r.name == name).inputs


def _set(type_: str, key: str, value: Any, name: str | None = None) -> Callable[[Inv], None]:
    def mutate(inv: Inv) -> None:
        _first(inv, type_, name)[key] = value

    return mutate


def _policy_statement(statement: dict[str, Any]) -> Callable[[Inv], None]:
    def mutate(inv: Inv) -> None:
        policy = _first(inv, "aws:iam/rolePolicy:RolePolicy", "query-role-policy")
        document = json.loads(policy["policy"])
        document["Statement"].append(statement)
        policy["policy"] = json.dumps(document)

    return mutate


def _env(key: str, value: str) -> Callable[[Inv], None]:
    def mutate(inv: Inv) -> None:
        _first(inv, "aws:lambda/function:Function", "upload-function")["environment"]["variables"][
            key
        ] = value

    return mutate


def _route_without_auth(inv: Inv) -> None:
    route = _first(inv, "aws:apigatewayv2/route:Route", "http-route-post-v1-search")
    route["authorizationType"] = "NONE"


def _ingress_from_anywhere(inv: Inv) -> None:
    rule = _first(inv, "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule")
    del rule["referencedSecurityGroupId"]
    rule["cidrIpv4"] = "0.0.0.0/0"


def _reserve_below_trigger_bound(inv: Inv) -> None:
    _first(inv, "aws:lambda/function:Function", "processor-function")[
        "reservedConcurrentExecutions"
    ] = 2
    _first(inv, "aws:lambda/eventSourceMapping:EventSourceMapping")["scalingConfig"] = {
        "maximumConcurrency": 50
    }


def _alias_fought_over(inv: Inv) -> None:
    next(r for r in inv.of_type("aws:lambda/alias:Alias")).ignore_changes.clear()


def _canary_without_application_alarms(inv: Inv) -> None:
    for group in inv.of_type("aws:codedeploy/deploymentGroup:DeploymentGroup"):
        config = group.inputs["alarmConfiguration"]
        config["alarms"] = [a for a in config["alarms"] if "-canary-" not in a]


def _canary_alarm_without_version(inv: Inv) -> None:
    alarm = _first(
        inv, "aws:cloudwatch/metricAlarm:MetricAlarm", "processor-canary-failed-documents"
    )
    for query in alarm["metricQueries"]:
        if "metric" in query:
            del query["metric"]["dimensions"]["FunctionVersion"]


def _attach_full_access(inv: Inv) -> None:
    role = inv.of_type("aws:iam/role:Role")[0]
    attachment = copy.copy(role)
    attachment.type = "aws:iam/rolePolicyAttachment:RolePolicyAttachment"
    attachment.inputs = {"policyArn": "arn:aws:iam::aws:policy/AmazonS3FullAccess"}
    inv.resources.append(attachment)


def _edit_role_policy(
    policy_name: str, edit: Callable[[list[dict[str, Any]]], list[dict[str, Any]]]
) -> Callable[[Inv], None]:
    def mutate(inv: Inv) -> None:
        policy = _first(inv, "aws:iam/rolePolicy:RolePolicy", policy_name)
        document = json.loads(policy["policy"])
        document["Statement"] = edit(document["Statement"])
        policy["policy"] = json.dumps(document)

    return mutate


def _endpoint_statement(service: str, statement: dict[str, Any]) -> Callable[[Inv], None]:
    def mutate(inv: Inv) -> None:
        policy = _first(
            inv, "aws:ec2/vpcEndpointPolicy:VpcEndpointPolicy", f"endpoint-policies-{service}"
        )
        document = json.loads(policy["policy"])
        document["Statement"].append(statement)
        policy["policy"] = json.dumps(document)

    return mutate


def _without_list_grant(statements: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [s for s in statements if "s3:ListBucket" not in _as_list(s["Action"])]


def _list_grant_elsewhere(statements: list[dict[str, Any]]) -> list[dict[str, Any]]:
    for s in statements:
        if "s3:ListBucket" in _as_list(s["Action"]):
            s["Condition"] = {"StringLike": {"s3:prefix": ["archive/*"]}}
    return statements


def _drop_endpoint_policy(inv: Inv) -> None:
    inv.resources = [r for r in inv.resources if r.name != "endpoint-policies-secretsmanager"]


def _unconditioned_model(inv: Inv) -> None:
    policy = _first(inv, "aws:iam/rolePolicy:RolePolicy", "query-role-policy")
    document = json.loads(policy["policy"])
    for statement in document["Statement"]:
        statement.pop("Condition", None)
    policy["policy"] = json.dumps(document)


def _unprotect(type_: str) -> Callable[[Inv], None]:
    def mutate(inv: Inv) -> None:
        next(r for r in inv.of_type(type_)).protect = False

    return mutate


def _unprotect_named(name: str) -> Callable[[Inv], None]:
    def mutate(inv: Inv) -> None:
        next(r for r in inv.resources if r.name == name).protect = False

    return mutate


def _engine_version_fought_over(inv: Inv) -> None:
    next(r for r in inv.of_type("aws:rds/cluster:Cluster")).ignore_changes.clear()


def _client(**changes: Any) -> Callable[[Inv], None]:
    def mutate(inv: Inv) -> None:
        _first(inv, "aws:cognito/userPoolClient:UserPoolClient").update(changes)

    return mutate


def _pool(**changes: Any) -> Callable[[Inv], None]:
    def mutate(inv: Inv) -> None:
        _first(inv, "aws:cognito/userPool:UserPool").update(changes)

    return mutate


def _query_function(inv: Inv) -> dict[str, Any]:
    return _first(inv, "aws:lambda/function:Function", "query-function")


def _stream_integration(**changes: Any) -> Callable[[Inv], None]:
    def mutate(inv: Inv) -> None:
        _first(inv, "aws:apigateway/integration:Integration", "stream-post-integration").update(
            changes
        )

    return mutate


def _runtime_that_cannot_stream(inv: Inv) -> None:
    _query_function(inv).pop("imageConfig", None)


def _query_cors(origins: str) -> Callable[[Inv], None]:
    def mutate(inv: Inv) -> None:
        _query_function(inv)["environment"]["variables"]["CORS_ORIGINS"] = origins

    return mutate


def _no_stream_route(inv: Inv) -> None:
    inv.resources = [r for r in inv.resources if r.type != "aws:apigateway/integration:Integration"]


def _stream_unthrottled(inv: Inv) -> None:
    _first(inv, "aws:apigateway/methodSettings:MethodSettings")["settings"] = {
        "metricsEnabled": True
    }


def _header_policy(inv: Inv) -> dict[str, Any]:
    config: dict[str, Any] = _first(
        inv, "aws:cloudfront/responseHeadersPolicy:ResponseHeadersPolicy"
    )["securityHeadersConfig"]
    return config


def _header_csp(edit: Callable[[str], str]) -> Callable[[Inv], None]:
    def mutate(inv: Inv) -> None:
        csp = _header_policy(inv)["contentSecurityPolicy"]
        csp["contentSecurityPolicy"] = edit(csp["contentSecurityPolicy"])

    return mutate


def _weak_hsts(inv: Inv) -> None:
    _header_policy(inv)["strictTransportSecurity"]["accessControlMaxAgeSec"] = 300


def _no_csp(inv: Inv) -> None:
    del _header_policy(inv)["contentSecurityPolicy"]


def _distribution(edit: Callable[[dict[str, Any]], None]) -> Callable[[Inv], None]:
    def mutate(inv: Inv) -> None:
        edit(_first(inv, "aws:cloudfront/distribution:Distribution"))

    return mutate


def _plain_http_viewers(d: dict[str, Any]) -> None:
    d["defaultCacheBehavior"]["viewerProtocolPolicy"] = "allow-all"


def _origin_without_oac(d: dict[str, Any]) -> None:
    del d["origins"][0]["originAccessControlId"]


def _custom_name_old_tls(d: dict[str, Any]) -> None:
    d["aliases"] = ["console.example.org"]
    d["viewerCertificate"] = {
        "acmCertificateArn": "arn:aws:acm:us-east-1:123456789012:certificate/x",
        "sslSupportMethod": "sni-only",
        "minimumProtocolVersion": "TLSv1",
    }


def _no_headers_policy(d: dict[str, Any]) -> None:
    del d["defaultCacheBehavior"]["responseHeadersPolicyId"]


def _console_bucket_public(inv: Inv) -> None:
    policy = _first(inv, "aws:s3/bucketPolicy:BucketPolicy", "console-policy")
    document = json.loads(policy["policy"])
    document["Statement"].append(
        {
            "Effect": "Allow",
            "Principal": "*",
            "Action": "s3:GetObject",
            "Resource": "arn:aws:s3:::x/*",
        }
    )
    policy["policy"] = json.dumps(document)


def _console_page(old: str, new: str) -> Callable[[Inv], None]:
    def mutate(inv: Inv) -> None:
        page = _first(inv, "aws:s3/bucketObjectv2:BucketObjectv2", "console-release-index")
        assert old in page["content"]
        page["content"] = page["content"].replace(old, new)

    return mutate


def _secret_arn(inv: Inv, service: str) -> str:
    return str(
        next(s for s in inv.of_type(_SECRET) if s.name == f"database-{service}-secret").outputs[
            "arn"
        ]
    )


def _query_reads(resource: Callable[[Inv], str]) -> Callable[[Inv], None]:
    """The query function's role may also read ``resource(inv)``."""

    def mutate(inv: Inv) -> None:
        statement = {
            "Sid": "Borrowed",
            "Effect": "Allow",
            "Action": ["secretsmanager:GetSecretValue"],
            "Resource": [resource(inv)],
        }
        _policy_statement(statement)(inv)

    return mutate


def _console_config(**changes: Any) -> Callable[[Inv], None]:
    def mutate(inv: Inv) -> None:
        config = _first(inv, "aws:s3/bucketObjectv2:BucketObjectv2", "console-release-config")
        config["content"] = json.dumps({**json.loads(config["content"]), **changes})

    return mutate


def _query_connects_as(service: str) -> Callable[[Inv], None]:
    def mutate(inv: Inv) -> None:
        fn = _first(inv, "aws:lambda/function:Function", "query-function")
        fn["environment"]["variables"]["DATABASE_SECRET_ARN"] = _secret_arn(inv, service)

    return mutate


def _forget_console(where: str) -> Callable[[Inv], None]:
    console = f"https://{CONSOLE_DOMAIN}"

    def mutate(inv: Inv) -> None:
        if where == "api":
            cors = _first(inv, "aws:apigatewayv2/api:Api")["corsConfiguration"]
            cors["allowOrigins"] = [o for o in cors["allowOrigins"] if o != console]
        elif where == "bucket":
            rule = _first(inv, "aws:s3/bucketCorsConfiguration:BucketCorsConfiguration")
            rule["corsRules"][0]["allowedOrigins"].remove(console)
        else:
            _query_cors("http://localhost:5173")(inv)

    return mutate


def _secret_names(service: str, role: str) -> Callable[[Inv], None]:
    def mutate(inv: Inv) -> None:
        version = _first(inv, _SECRET_VERSION, f"database-{service}-secret-version")
        value = json.loads(version["secretString"]["value"])
        version["secretString"]["value"] = json.dumps(value | {"username": role})

    return mutate


def _migration_env_without(key: str) -> Callable[[Inv], None]:
    def mutate(inv: Inv) -> None:
        del _first(inv, "aws:lambda/function:Function", "migrations-function")["environment"][
            "variables"
        ][key]

    return mutate


SABOTAGE: list[tuple[str, str, Callable[[Inv], None]]] = [
    ("console", "viewers on plain HTTP", _distribution(_plain_http_viewers)),
    (
        "console",
        "the bucket read without origin access control",
        _distribution(_origin_without_oac),
    ),
    ("console", "a custom name on TLS 1.0", _distribution(_custom_name_old_tls)),
    ("console", "no security headers at all", _distribution(_no_headers_policy)),
    ("console", "the console bucket readable by anyone", _console_bucket_public),
    ("console", "no content security policy", _no_csp),
    (
        "console",
        "inline scripts allowed",
        _header_csp(lambda p: p.replace("script-src 'self'", "script-src 'self' 'unsafe-inline'")),
    ),
    (
        "console",
        "framing allowed",
        _header_csp(lambda p: p.replace("frame-ancestors 'none'", "frame-ancestors *")),
    ),
    ("console", "HSTS for five minutes", _weak_hsts),
    (
        "console",
        "the page may connect anywhere",
        _console_page("connect-src &#x27;self&#x27;", "connect-src * &#x27;self&#x27;"),
    ),
    ("console", "the page's policy is dropped", _console_page("Content-Security-Policy", "x-csp")),
    (
        "console",
        "config.json points at another API",
        _console_config(uploadApi="https://evil.example.org"),
    ),
    (
        "console",
        "sign-in through another client",
        _console_config(auth={"mode": "cognito", "clientId": "x"}),
    ),
    ("console", "the HTTP API's CORS forgets the console", _forget_console("api")),
    ("console", "presigned uploads from the console refused", _forget_console("bucket")),
    ("console", "the streamed answer's preflight forgets the console", _forget_console("query")),
    (
        "stream-api",
        "the streamed answer's integration buffers",
        _stream_integration(responseTransferMode="BUFFERED"),
    ),
    (
        "stream-api",
        "the stream route invokes the bare function (no canary)",
        _stream_integration(
            uri="arn:aws:apigateway:ap-northeast-1:lambda:path/2021-11-15/functions/"
            "arn:aws:lambda:ap-northeast-1:123456789012:function:docpipe-dev-query"
            "/response-streaming-invocations"
        ),
    ),
    (
        "stream-api",
        "the stream route is invoked buffered",
        _stream_integration(
            uri="arn:aws:apigateway:ap-northeast-1:lambda:path/2015-03-31/functions/"
            "arn:aws:lambda:ap-northeast-1:123456789012:function:docpipe-dev-query"
            ":live/invocations"
        ),
    ),
    (
        "stream-api",
        "the stream route times out before the function",
        _stream_integration(timeoutMilliseconds=29000.0 / 2),
    ),
    (
        "stream-api",
        "POST /v1/answer streams without an authorizer",
        _set("aws:apigateway/method:Method", "authorization", "NONE", "stream-post"),
    ),
    (
        "stream-api",
        "the authorizer trusts another account's pool",
        _set(
            "aws:apigateway/authorizer:Authorizer",
            "providerArns",
            ["arn:aws:cognito-idp:ap-northeast-1:999999999999:userpool/ap-northeast-1_X"],
        ),
    ),
    ("stream-api", "the stream route is not throttled", _stream_unthrottled),
    (
        "stream-api",
        "the query function keeps a runtime that cannot stream",
        _runtime_that_cannot_stream,
    ),
    ("stream-api", "the stream route's CORS allows any origin", _query_cors("*")),
    ("stream-api", "streamed answers are not deployed at all", _no_stream_route),
    (
        "s3",
        "public policy allowed",
        _set("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock", "blockPublicPolicy", False),
    ),
    (
        "s3",
        "CORS any origin",
        lambda inv: _first(inv, "aws:s3/bucketCorsConfiguration:BucketCorsConfiguration")[
            "corsRules"
        ][0].update(allowedOrigins=["*"]),
    ),
    (
        "sqs",
        "unencrypted DLQ",
        _set("aws:sqs/queue:Queue", "sqsManagedSseEnabled", False, "documents-dlq"),
    ),
    (
        "sqs",
        "short visibility",
        _set("aws:sqs/queue:Queue", "visibilityTimeoutSeconds", 300, "documents-queue"),
    ),
    (
        "rds",
        "public instance",
        _set("aws:rds/clusterInstance:ClusterInstance", "publiclyAccessible", True),
    ),
    ("rds", "unencrypted", _set("aws:rds/cluster:Cluster", "storageEncrypted", False)),
    ("rds", "plain master password", _set("aws:rds/cluster:Cluster", "masterPassword", "hunter2")),
    (
        "lambda",
        "no tracing",
        _set("aws:lambda/function:Function", "tracingConfig", {"mode": "PassThrough"}),
    ),
    ("lambda", "outside the VPC", _set("aws:lambda/function:Function", "vpcConfig", {})),
    (
        "lambda",
        "image by tag",
        _set(
            "aws:lambda/function:Function",
            "imageUri",
            "123456789012.dkr.ecr.ap-northeast-1.amazonaws.com/q:latest",
        ),
    ),
    ("lambda", "public permission", _set("aws:lambda/permission:Permission", "principal", "*")),
    ("lambda", "secret in env", _env("JWT_SECRET", "s3cr3t")),
    (
        "plaintext-secrets",
        "password in env",
        _env(
            "DATABASE_URL", "postgresql://docpipe_app:mock-generated-app-password-0123456789@db/x"
        ),
    ),
    ("api", "route without authorizer", _route_without_auth),
    ("api", "no access logs", _set("aws:apigatewayv2/stage:Stage", "accessLogSettings", {})),
    (
        "alias-wiring",
        "integration on bare function",
        lambda inv: _first(inv, "aws:apigatewayv2/integration:Integration").update(
            integrationUri="arn:aws:lambda:ap-northeast-1:123456789012:function:docpipe-dev-query"
        ),
    ),
    ("alias-wiring", "ESM above reserved concurrency", _reserve_below_trigger_bound),
    (
        "alias-wiring",
        "unbounded queue trigger",
        lambda inv: _first(inv, "aws:lambda/eventSourceMapping:EventSourceMapping").pop(
            "scalingConfig"
        ),
    ),
    ("rollout", "alias fought over", _alias_fought_over),
    ("rollout", "canary blind to application errors", _canary_without_application_alarms),
    ("rollout", "canary alarm on all versions", _canary_alarm_without_version),
    (
        "rollout",
        "no rollback on alarm",
        lambda inv: _first(inv, "aws:codedeploy/deploymentGroup:DeploymentGroup").update(
            autoRollbackConfiguration={"enabled": True, "events": ["DEPLOYMENT_FAILURE"]}
        ),
    ),
    ("ecr", "mutable tags", _set("aws:ecr/repository:Repository", "imageTagMutability", "MUTABLE")),
    (
        "iam",
        "wildcard action",
        _policy_statement({"Effect": "Allow", "Action": "s3:*", "Resource": ["arn:aws:s3:::x/*"]}),
    ),
    (
        "iam",
        "wildcard resource",
        _policy_statement({"Effect": "Allow", "Action": ["bedrock:InvokeModel"], "Resource": "*"}),
    ),
    ("iam", "FullAccess attached", lambda inv: _attach_full_access(inv)),
    (
        "database-secrets",
        "query reads the processor's secret",
        _query_reads(lambda inv: _secret_arn(inv, "processor")),
    ),
    (
        "database-secrets",
        "query reads every generated secret",
        _query_reads(lambda inv: f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:database-*"),
    ),
    ("database-secrets", "query reads the master secret", _query_reads(_master_secret)),
    ("database-secrets", "query connects as the upload role", _query_connects_as("upload")),
    (
        "database-secrets",
        "the query secret holds the processor's role",
        _secret_names("query", "docpipe_processor"),
    ),
    (
        "database-secrets",
        "the shared role comes back",
        _secret_names("upload", "docpipe_app"),
    ),
    (
        "database-secrets",
        "a role's password is never set",
        _migration_env_without("QUERY_DATABASE_SECRET_ARN"),
    ),
    (
        "s3-read-listing",
        "processor reads without list",
        _edit_role_policy("processor-role-policy", _without_list_grant),
    ),
    (
        "s3-read-listing",
        "upload lists another prefix",
        _edit_role_policy("upload-role-policy", _list_grant_elsewhere),
    ),
    ("network", "open ingress", _ingress_from_anywhere),
    ("network", "public subnet", _set("aws:ec2/subnet:Subnet", "mapPublicIpOnLaunch", True)),
    ("alarms", "silent alarm", _set("aws:cloudwatch/metricAlarm:MetricAlarm", "alarmActions", [])),
    (
        "log-retention",
        "logs forever",
        _set("aws:cloudwatch/logGroup:LogGroup", "retentionInDays", None),
    ),
    ("rds", "engine version fought over", _engine_version_fought_over),
    (
        "rds",
        "instance pins its own version",
        _set("aws:rds/clusterInstance:ClusterInstance", "engineVersion", "16.6"),
    ),
    ("bedrock", "model callable outside its profile", _unconditioned_model),
    (
        "bedrock",
        "another account's profile",
        _policy_statement(
            {
                "Effect": "Allow",
                "Action": ["bedrock:InvokeModel"],
                "Resource": [
                    "arn:aws:bedrock:ap-northeast-1:999999999999:inference-profile/apac.x.y:0"
                ],
            }
        ),
    ),
    ("endpoints", "endpoint left at full access", _drop_endpoint_policy),
    (
        "endpoints",
        "wildcard action",
        _endpoint_statement(
            "s3",
            {
                "Effect": "Allow",
                "Principal": "*",
                "Action": "s3:*",
                "Resource": "*",
                "Condition": {"StringEquals": {"aws:PrincipalAccount": ACCOUNT}},
            },
        ),
    ),
    (
        "endpoints",
        "another bucket",
        _endpoint_statement(
            "s3",
            {
                "Effect": "Allow",
                "Principal": "*",
                "Action": ["s3:PutObject"],
                "Resource": ["arn:aws:s3:::exfiltration/*"],
                "Condition": {"StringEquals": {"aws:PrincipalAccount": ACCOUNT}},
            },
        ),
    ),
    (
        "endpoints",
        "any account's principals",
        _endpoint_statement(
            "sqs",
            {
                "Effect": "Allow",
                "Principal": "*",
                "Action": ["sqs:SendMessage"],
                "Resource": ["arn:aws:sqs:ap-northeast-1:123456789012:documents-queue-0a1b2c3"],
            },
        ),
    ),
    ("protect", "database unprotected", _unprotect("aws:rds/cluster:Cluster")),
    ("protect", "documents bucket unprotected", _unprotect_named("documents-bucket")),
    ("cognito", "users write their tenant", _client(writeAttributes=["email", "custom:tenant_id"])),
    ("cognito", "client writes every attribute", _client(writeAttributes=[])),
    ("cognito", "client secret", _client(generateSecret=True)),
    ("cognito", "implicit flow", _client(allowedOauthFlows=["code", "implicit"])),
    (
        "cognito",
        "plain-http redirect",
        _client(callbackUrls=["http://app.internal.test/callback"]),
    ),
    ("cognito", "self sign-up", _pool(adminCreateUserConfig={"allowAdminCreateUserOnly": False})),
    ("cognito", "weak passwords", _pool(passwordPolicy={"minimumLength": 8})),
    ("cognito", "MFA off", _pool(mfaConfiguration="OFF")),
    ("cognito", "paid plan", _pool(userPoolTier="PLUS")),
    (
        "cognito",
        "authorizer trusts another issuer",
        lambda inv: _first(inv, "aws:apigatewayv2/authorizer:Authorizer").update(
            jwtConfiguration={
                "issuer": "https://cognito-idp.ap-northeast-1.amazonaws.com/ap-northeast-1_Other",
                "audiences": ["1example23456789abcdefghij"],
            }
        ),
    ),
]


@pytest.mark.parametrize(("name", "sabotage"), [(g, s) for g, s, _ in SABOTAGE])
def test_guardrail_catches(name: str, sabotage: str, inventory: Inv) -> None:
    broken = copy.deepcopy(inventory)
    mutate = next(m for g, s, m in SABOTAGE if (g, s) == (name, sabotage))
    mutate(broken)
    assert GUARDRAILS[name](broken), f"guardrail {name} missed: {sabotage}"
