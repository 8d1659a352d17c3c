"""AWS list prices the cost model uses, in one place: each with its unit, the date we
read it, the AWS pricing page it belongs to, and where the figure itself was read.

All prices are on-demand, USD, before tax, for Asia Pacific (Tokyo) ``ap-northeast-1``
unless ``region`` says otherwise. AWS's pricing pages draw their tables with JavaScript
from the public Price List data (``https://pricing.us-east-1.amazonaws.com/offers/v1.0/
aws/<ServiceCode>/current/ap-northeast-1/index.json``), which this machine cannot reach;
the Tokyo figures below were read on 2026-11-28 from public transcriptions of that data
(each names the usage type, e.g. ``APN1-VpcEndpoint-Hours``, and the day its author
queried it). Where no Tokyo figure was found, the closest documented one is used and
``region`` says which. Nothing here is invented: a price without a documented figure is
left out of the model, and the model says so.

Re-read the pages before quoting a figure to a budget owner: prices change.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

__all__ = ["PRICES", "TOKYO", "Price"]

TOKYO = "ap-northeast-1"
_READ_ON = dt.date(2026, 11, 28)
_OFFERS = "AWS Price List API, ap-northeast-1, usage type "


@dataclass(frozen=True)
class Price:
    usd: float
    unit: str
    """What one ``usd`` buys, e.g. "GB-second" or "1,000 input tokens"."""
    source: str
    """The AWS pricing page the figure belongs to."""
    read_on: dt.date
    """The day we read the figure."""
    basis: str
    """Where the figure itself was read (usage type, transcription and its date)."""
    region: str = TOKYO
    """``ap-northeast-1``, or the closest documented region/table when Tokyo's was not found."""

    @property
    def is_tokyo(self) -> bool:
        return self.region == TOKYO


def _tokyo(usd: float, unit: str, source: str, basis: str) -> Price:
    return Price(usd=usd, unit=unit, source=source, read_on=_READ_ON, basis=basis)


_LAMBDA = "https://aws.amazon.com/lambda/pricing/"
_AURORA = "https://aws.amazon.com/rds/aurora/pricing/"
_CLOUDWATCH = "https://aws.amazon.com/cloudwatch/pricing/"
_BEDROCK = "https://aws.amazon.com/bedrock/pricing/"
_S3 = "https://aws.amazon.com/s3/pricing/"

PRICES: Mapping[str, Price] = MappingProxyType(
    {
        "lambda_arm_gb_second": _tokyo(
            0.0000133334,
            "GB-second of arm64 duration (first 7.5 billion GB-s a month)",
            _LAMBDA,
            _OFFERS + "APN1-Lambda-GB-Second-ARM (public test fixture of the offer file); the "
            "regional table in aws-lambda-power-tuning lists no Tokyo exception to the base "
            "arm64 price",
        ),
        "lambda_request": _tokyo(
            0.0000002,
            "request (invocation)",
            _LAMBDA,
            _OFFERS + "APN1-Request-ARM; transcribed 2026-07-20 (APN1-Request, same price)",
        ),
        "api_gateway_http_request": _tokyo(
            0.00000129,
            "HTTP API request (first 300 million a month)",
            "https://aws.amazon.com/api-gateway/pricing/",
            _OFFERS + "APN1-ApiGatewayHttpRequest; transcribed 2026-09-23",
        ),
        "sqs_request": _tokyo(
            0.0000004,
            "standard-queue API request (64 KB chunk)",
            "https://aws.amazon.com/sqs/pricing/",
            _OFFERS + "APN1-Requests-Tier1 (SQS); transcribed 2026-09-23",
        ),
        "s3_standard_gb_month": _tokyo(
            0.025,
            "GB-month of S3 Standard storage (first 50 TB)",
            _S3,
            _OFFERS + "APN1-TimedStorage-ByteHrs (S3); transcribed 2026-07-20 and 2026-09-23",
        ),
        "s3_put_request": _tokyo(
            0.0000047,
            "PUT/COPY/POST/LIST request",
            _S3,
            _OFFERS + "APN1-Requests-Tier1 (S3); transcribed 2026-09-23",
        ),
        "s3_get_request": _tokyo(
            0.00000037,
            "GET/SELECT request",
            _S3,
            _OFFERS + "APN1-Requests-Tier2 (S3); transcribed 2026-09-23",
        ),
        "secret_month": _tokyo(
            0.40,
            "secret stored for a month",
            "https://aws.amazon.com/secrets-manager/pricing/",
            _OFFERS + "APN1-AWSSecretsManager-Secrets; transcribed 2026-09-23",
        ),
        "secrets_api_call": Price(
            usd=0.000005,
            unit="Secrets Manager API call ($0.05 per 10,000)",
            source="https://aws.amazon.com/secrets-manager/pricing/",
            read_on=_READ_ON,
            basis="the pricing page's per-10,000-calls figure; no Tokyo-specific transcription "
            "found",
            region="pricing page figure (no region given)",
        ),
        "interface_endpoint_az_hour": _tokyo(
            0.014,
            "interface VPC endpoint-hour, per Availability Zone",
            "https://aws.amazon.com/privatelink/pricing/",
            _OFFERS + "APN1-VpcEndpoint-Hours; transcribed 2026-09-13 and 2026-09-23",
        ),
        "interface_endpoint_gb": _tokyo(
            0.01,
            "GB processed by interface endpoints (first 1 PB a month)",
            "https://aws.amazon.com/privatelink/pricing/",
            _OFFERS + "APN1-VpcEndpoint-Bytes; transcribed 2026-09-23",
        ),
        "logs_ingest_gb": _tokyo(
            0.76,
            "GB of CloudWatch Logs ingested (standard class)",
            _CLOUDWATCH,
            _OFFERS + "APN1-DataProcessing-Bytes; transcribed 2026-07-20 and 2026-08-17",
        ),
        "logs_storage_gb_month": _tokyo(
            0.033,
            "GB-month of CloudWatch Logs stored",
            _CLOUDWATCH,
            _OFFERS + "APN1-TimedStorage-ByteHrs (CloudWatch); transcribed 2026-07-20",
        ),
        "alarm_month": _tokyo(
            0.10,
            "standard-resolution alarm metric for a month",
            _CLOUDWATCH,
            _OFFERS + "APN1-CW:AlarmMonitorUsage; transcribed 2026-07-20 (effective 2026-07-01)",
        ),
        "metric_month": _tokyo(
            0.30,
            "metric for a month (first 10,000; prorated by the hour it is published)",
            _CLOUDWATCH,
            _OFFERS + "APN1-CW:MetricMonitorUsage; transcribed 2026-09-23",
        ),
        "xray_trace_recorded": Price(
            usd=0.000005,
            unit="X-Ray trace recorded ($5.00 per million)",
            source="https://aws.amazon.com/xray/pricing/",
            read_on=_READ_ON,
            basis="the pricing page's worked example (no region given); no Tokyo-specific "
            "transcription found",
            region="pricing page figure (no region given)",
        ),
        "aurora_acu_hour": _tokyo(
            0.15,
            "ACU-hour of Aurora PostgreSQL Serverless v2 (Aurora Standard)",
            _AURORA,
            "Tokyo public unit price quoted 2026-08-05 in a public CDK project's cost table, "
            "and again (next to us-east-1's $0.12) in three public cost notes; one older note "
            "quotes $0.20, so re-check the page",
        ),
        "aurora_storage_gb_month": _tokyo(
            0.12,
            "GB-month of Aurora Standard storage",
            _AURORA,
            _OFFERS + "APN1-Aurora:StorageUsage; queried 2026-09-03 (list of 2026-08-31)",
        ),
        "aurora_io_request": _tokyo(
            0.00000024,
            "Aurora Standard I/O request ($0.24 per million)",
            _AURORA,
            _OFFERS + "APN1-Aurora:StorageIOUsage; queried 2026-09-03",
        ),
        "ecr_gb_month": _tokyo(
            0.10,
            "GB-month of ECR image storage",
            "https://aws.amazon.com/ecr/pricing/",
            _OFFERS + "APN1-TimedStorage-ByteHrs (ECR); transcribed 2026-09-23",
        ),
        "cognito_essentials_mau": _tokyo(
            0.015,
            "monthly active user of a Cognito Essentials user pool",
            "https://aws.amazon.com/cognito/pricing/",
            _OFFERS + "APN1-CognitoEssentialsMAU; transcribed 2026-08-17",
        ),
        "cohere_embed_v4_1k_input": Price(
            usd=0.00012,
            unit="1,000 input tokens (Cohere Embed v4, text)",
            source=_BEDROCK,
            read_on=_READ_ON,
            basis="the published on-demand list price as recorded by public price maps for "
            "cohere.embed-v4:0 (us-east-1 table; ap-southeast-2 recorded 2026-08-11, same "
            "figure); Bedrock model prices are not in the Price List API and no Tokyo figure "
            "was found",
            region="us-east-1 / ap-southeast-2 (closest documented)",
        ),
        "nova_pro_1k_input": Price(
            usd=0.0008,
            unit="1,000 input tokens (Amazon Nova Pro, on-demand)",
            source=_BEDROCK,
            read_on=_READ_ON,
            basis="the Bedrock pricing page's Nova table as transcribed 2025-07-20; public price "
            "maps give apac.amazon.nova-pro-v1:0 the same figure. Cross-region inference is "
            "billed at the source region's price; no Tokyo-specific figure was found",
            region="Bedrock pricing table (us-east-1; closest documented)",
        ),
        "nova_pro_1k_output": Price(
            usd=0.0032,
            unit="1,000 output tokens (Amazon Nova Pro, on-demand)",
            source=_BEDROCK,
            read_on=_READ_ON,
            basis="as nova_pro_1k_input",
            region="Bedrock pricing table (us-east-1; closest documented)",
        ),
    }
)
