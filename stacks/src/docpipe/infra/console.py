"""The web console on AWS: the built files (``console/dist``) in a private S3 bucket that
only CloudFront may read (origin access control), served over HTTPS with strict security
headers, and a ``config.json`` written at deploy time with the API origins and sign-in
settings, so the build is the same for every environment.

Two components, because the console's origin is needed early and its settings late:

- :class:`ConsoleSite` (bucket, origin access control, response headers policy,
  distribution, the Cognito app client whose callback is the console) is declared before
  the APIs: they name its origin in their CORS settings and accept its client's tokens;
- :class:`ConsoleRelease` (the files, ``config.json``) is declared after them.

Content security policy, in two layers. CloudFront sends the policy of
``console/security-headers.json`` on every response (response headers policy), with
``connect-src`` bounded to AWS hosts (``https://*.amazonaws.com``, the Cognito domains):
the exact API origins cannot be in it, since the HTTP API's CORS names the distribution's
domain and a policy naming the API would make each depend on the other. The deployed
``index.html`` carries the exact policy in a ``<meta http-equiv>`` tag (the API, the
streamed-answer API, the documents bucket for presigned uploads, the hosted UI); a browser
enforces both, so requests can go to those origins only
(https://www.w3.org/TR/CSP3/#multiple-policies). ``frame-ancestors`` works only in the
header, which is why it is there.

AWS references: origin access control
(https://docs.aws.amazon.com/AmazonCloudFront/latest/DeveloperGuide/private-content-restricting-access-to-s3.html),
response headers policies
(https://docs.aws.amazon.com/AmazonCloudFront/latest/DeveloperGuide/understanding-response-headers-policies.html),
the managed CachingOptimized policy
(https://docs.aws.amazon.com/AmazonCloudFront/latest/DeveloperGuide/using-managed-cache-policies.html),
viewer TLS policies (https://docs.aws.amazon.com/AmazonCloudFront/latest/DeveloperGuide/secure-connections-supported-viewer-protocols-ciphers.html:
with CloudFront's default certificate the minimum is TLSv1, so a custom domain with
TLSv1.2_2021 is the strict setting).
"""

from __future__ import annotations

import base64
import html
import json
import mimetypes
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pulumi
import pulumi_aws as aws

from docpipe.infra import naming
from docpipe.infra.cognito import SCOPES, web_client
from docpipe.infra.private_bucket import private_bucket_controls
from docpipe.infra.settings import AuthSettings, ConsoleSettings

__all__ = [
    "CACHING_OPTIMIZED",
    "CONSOLE_DIR",
    "ConsoleRelease",
    "ConsoleReleaseArgs",
    "ConsoleSite",
    "ConsoleSiteArgs",
    "cache_control",
    "console_bucket_policy",
    "console_config",
    "content_security_policy",
    "header_connect_sources",
    "origin_of",
    "with_policy_meta",
]

#: the repository's console/ folder (dist/ and security-headers.json)
CONSOLE_DIR = Path(__file__).resolve().parents[4] / "console"
#: Managed-CachingOptimized: honours the objects' Cache-Control, compresses (gzip, brotli)
CACHING_OPTIMIZED = "658327ea-f89d-4fab-a63d-7e88639e58f6"
_TYPES = {".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8"}


def header_connect_sources(region: str) -> list[str]:
    """The header's bound on connect-src: this region's API Gateway and S3, Cognito."""
    return [
        f"https://*.execute-api.{region}.amazonaws.com",
        "https://*.s3.amazonaws.com",
        f"https://*.s3.{region}.amazonaws.com",
        f"https://*.auth.{region}.amazoncognito.com",
    ]


def content_security_policy(
    directives: Mapping[str, Sequence[str]], *, connect: Sequence[str]
) -> str:
    merged = {name: list(values) for name, values in directives.items()}
    merged["connect-src"] = [*merged.get("connect-src", []), *dict.fromkeys(connect)]
    return "; ".join(f"{name} {' '.join(values)}" for name, values in merged.items())


def with_policy_meta(index_html: str, policy: str) -> str:
    """``index.html`` with ``policy`` as the first element of its head (before any script)."""
    marker = "<head>"
    if marker not in index_html:
        raise ValueError("console/dist/index.html has no <head>")
    meta = f'<meta http-equiv="Content-Security-Policy" content="{html.escape(policy)}" />'
    return index_html.replace(marker, f"{marker}\n    {meta}", 1)


def origin_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def console_config(
    *,
    api_url: str,
    stream_url: str | None,
    hosted_ui_url: str | None,
    client_id: str | None,
    environment: str,
) -> dict[str, Any]:
    """config.json: the HTTP API for everything, the REST API for streamed answers, and
    the Cognito hosted UI (a pasted token when the stack has none)."""
    auth: dict[str, Any] = (
        {"mode": "cognito", "domain": hosted_ui_url, "clientId": client_id, "scopes": SCOPES}
        if hosted_ui_url and client_id
        else {"mode": "token"}
    )
    return {
        "uploadApi": api_url,
        "queryApi": api_url,
        "streamApi": stream_url or api_url,
        "auth": auth,
        "environment": environment,
    }


def console_bucket_policy(*, bucket_arn: str, distribution_arn: str) -> dict[str, Any]:
    """Reads by this distribution only (origin access control), and TLS only."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "CloudFrontReadsThroughOriginAccessControl",
                "Effect": "Allow",
                "Principal": {"Service": "cloudfront.amazonaws.com"},
                "Action": "s3:GetObject",
                "Resource": f"{bucket_arn}/*",
                "Condition": {"StringEquals": {"AWS:SourceArn": distribution_arn}},
            },
            {
                "Sid": "DenyInsecureTransport",
                "Effect": "Deny",
                "Principal": "*",
                "Action": "s3:*",
                "Resource": [bucket_arn, f"{bucket_arn}/*"],
                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
            },
        ],
    }


def cache_control(path: str) -> str:
    """Hashed assets never change; the page and its config are revalidated every time."""
    if path.startswith("assets/"):
        return "public, max-age=31536000, immutable"
    return "no-cache"


def _content_type(path: Path) -> str:
    return (
        _TYPES.get(path.suffix) or mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    )


def _security_headers() -> dict[str, Any]:
    spec: dict[str, Any] = json.loads((CONSOLE_DIR / "security-headers.json").read_text("utf-8"))
    return spec


@dataclass(frozen=True)
class ConsoleSiteArgs:
    stack: str
    region: str
    settings: ConsoleSettings
    auth: AuthSettings
    #: the stack's Cognito user pool; None without the Cognito component
    user_pool_id: pulumi.Input[str] | None = None


class ConsoleSite(pulumi.ComponentResource):
    bucket: aws.s3.Bucket
    distribution: aws.cloudfront.Distribution
    headers: aws.cloudfront.ResponseHeadersPolicy
    client: aws.cognito.UserPoolClient | None = None
    origin: pulumi.Output[str]

    def __init__(
        self, name: str, args: ConsoleSiteArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("docpipe:console:ConsoleSite", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        # The files are rebuilt from the repository at every deploy: nothing to protect.
        self.bucket = aws.s3.Bucket(f"{name}-bucket", force_destroy=True, opts=child)
        self._bucket_controls(name, args.settings, child)
        access = aws.cloudfront.OriginAccessControl(
            f"{name}-oac",
            name=f"{naming.prefix(stack=args.stack)}-console",
            description="docpipe console: CloudFront signs its requests to the bucket",
            origin_access_control_origin_type="s3",
            signing_behavior="always",
            signing_protocol="sigv4",
            opts=child,
        )
        self.headers = self._headers(name, args, child)
        self.distribution = self._distribution(name, args.settings, access, child)
        aws.s3.BucketPolicy(
            f"{name}-policy",
            bucket=self.bucket.id,
            policy=pulumi.Output.all(self.bucket.arn, self.distribution.arn).apply(
                lambda a: json.dumps(console_bucket_policy(bucket_arn=a[0], distribution_arn=a[1]))
            ),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self._block]),
        )
        domain = args.settings.domain_name
        self.origin = (
            pulumi.Output.from_input(f"https://{domain}")
            if domain
            else self.distribution.domain_name.apply(lambda d: f"https://{d}")
        )
        if args.user_pool_id is not None:
            self.client = self._client(name, args, args.user_pool_id, child)
        self.register_outputs(
            {
                "url": self.origin.apply(lambda o: f"{o}/"),
                "bucket": self.bucket.bucket,
                "distribution_id": self.distribution.id,
            }
        )

    def _bucket_controls(
        self, name: str, settings: ConsoleSettings, child: pulumi.ResourceOptions
    ) -> None:
        bucket = self.bucket.id
        controls = private_bucket_controls(
            name,
            bucket=bucket,
            noncurrent_version_days=settings.noncurrent_version_days,
            abort_multipart_days=1,
            expire_delete_markers=False,
            opts=child,
        )
        self._block = controls.public_access_block

    def _headers(
        self, name: str, args: ConsoleSiteArgs, child: pulumi.ResourceOptions
    ) -> aws.cloudfront.ResponseHeadersPolicy:
        spec = _security_headers()
        policy = content_security_policy(
            spec["contentSecurityPolicy"], connect=header_connect_sources(args.region)
        )
        hsts = spec["strictTransportSecurity"]
        covered = {"X-Content-Type-Options", "X-Frame-Options", "Referrer-Policy"}
        return aws.cloudfront.ResponseHeadersPolicy(
            f"{name}-security-headers",
            name=f"{naming.prefix(stack=args.stack)}-console-security-headers",
            comment="docpipe console: CSP, HSTS and other security headers",
            security_headers_config={
                "content_security_policy": {
                    "content_security_policy": f"{policy}; upgrade-insecure-requests",
                    "override": True,
                },
                "content_type_options": {"override": True},
                "frame_options": {
                    "frame_option": spec["headers"]["X-Frame-Options"],
                    "override": True,
                },
                "referrer_policy": {
                    "referrer_policy": spec["headers"]["Referrer-Policy"],
                    "override": True,
                },
                "strict_transport_security": {
                    "access_control_max_age_sec": hsts["maxAgeSeconds"],
                    "include_subdomains": hsts["includeSubdomains"],
                    "preload": hsts["preload"],
                    "override": True,
                },
            },
            custom_headers_config={
                "items": [
                    {"header": header, "value": value, "override": True}
                    for header, value in spec["headers"].items()
                    if header not in covered
                ]
            },
            opts=child,
        )

    def _distribution(
        self,
        name: str,
        settings: ConsoleSettings,
        access: aws.cloudfront.OriginAccessControl,
        child: pulumi.ResourceOptions,
    ) -> aws.cloudfront.Distribution:
        origin_id = "console-bucket"
        certificate = (
            aws.cloudfront.DistributionViewerCertificateArgs(
                acm_certificate_arn=settings.certificate_arn,
                ssl_support_method="sni-only",
                minimum_protocol_version="TLSv1.2_2021",
            )
            if settings.certificate_arn
            else aws.cloudfront.DistributionViewerCertificateArgs(
                cloudfront_default_certificate=True
            )
        )
        return aws.cloudfront.Distribution(
            f"{name}-distribution",
            comment="docpipe web console",
            enabled=True,
            is_ipv6_enabled=True,
            http_version="http2and3",
            price_class=settings.price_class,
            default_root_object="index.html",
            aliases=[settings.domain_name] if settings.domain_name else None,
            origins=[
                {
                    "origin_id": origin_id,
                    "domain_name": self.bucket.bucket_regional_domain_name,
                    "origin_access_control_id": access.id,
                }
            ],
            default_cache_behavior={
                "target_origin_id": origin_id,
                "viewer_protocol_policy": "redirect-to-https",
                "allowed_methods": ["GET", "HEAD"],
                "cached_methods": ["GET", "HEAD"],
                "compress": True,
                "cache_policy_id": CACHING_OPTIMIZED,
                "response_headers_policy_id": self.headers.id,
            },
            restrictions={"geo_restriction": {"restriction_type": "none"}},
            viewer_certificate=certificate,
            opts=child,
        )

    def _client(
        self,
        name: str,
        args: ConsoleSiteArgs,
        user_pool_id: pulumi.Input[str],
        child: pulumi.ResourceOptions,
    ) -> aws.cognito.UserPoolClient:
        """The console's own public app client: code flow with PKCE, back to the console."""
        home = self.origin.apply(lambda o: f"{o}/")
        return web_client(
            f"{name}-web",
            client_name=f"{naming.prefix(stack=args.stack)}-console",
            user_pool_id=user_pool_id,
            auth=args.auth,
            callback_urls=[home],
            logout_urls=[home],
            auth_flows=["ALLOW_REFRESH_TOKEN_AUTH"],
            opts=child,
        )


@dataclass(frozen=True)
class ConsoleReleaseArgs:
    stack: str
    region: str
    site: ConsoleSite
    #: the HTTP API's endpoint (documents, uploads, search, answers, conversations)
    api_url: pulumi.Input[str]
    #: the streamed-answer REST API's stage URL; None: answers stream through the HTTP API
    stream_url: pulumi.Input[str] | None
    #: the documents bucket, where the browser sends presigned uploads
    documents_bucket: pulumi.Input[str]
    #: the Cognito hosted UI (https://<domain>.auth.<region>.amazoncognito.com), if any
    hosted_ui_url: pulumi.Input[str] | None
    dist_dir: Path = CONSOLE_DIR / "dist"


class ConsoleRelease(pulumi.ComponentResource):
    """The built files and this environment's config.json in the console's bucket."""

    def __init__(
        self, name: str, args: ConsoleReleaseArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("docpipe:console:ConsoleRelease", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        index = args.dist_dir / "index.html"
        if not index.is_file():
            raise FileNotFoundError(f"{index} is missing: build the console (make console)")
        bucket = args.site.bucket.id
        files = sorted(p for p in args.dist_dir.rglob("*") if p.is_file() and p != index)
        for path in files:
            key = path.relative_to(args.dist_dir).as_posix()
            # Text as content (its change is a readable diff), anything else as base64
            data = path.read_bytes()
            text: str | None
            try:
                text, encoded = data.decode("utf-8"), None
            except UnicodeDecodeError:
                text, encoded = None, base64.b64encode(data).decode("ascii")
            aws.s3.BucketObjectv2(
                f"{name}-{key.replace('/', '-')}",
                bucket=bucket,
                key=key,
                content=text,
                content_base64=encoded,
                content_type=_content_type(path),
                cache_control=cache_control(key),
                opts=child,
            )
        client_id = args.site.client.id if args.site.client else None
        settings = pulumi.Output.all(
            args.api_url, args.stream_url, args.hosted_ui_url, client_id, args.documents_bucket
        )
        config = settings.apply(
            lambda s: console_config(
                api_url=s[0], stream_url=s[1], hosted_ui_url=s[2], client_id=s[3],
                environment=args.stack,
            )
        )  # fmt: skip
        self.config = aws.s3.BucketObjectv2(
            f"{name}-config",
            bucket=bucket,
            key="config.json",
            content=config.apply(json.dumps),
            content_type="application/json",
            cache_control=cache_control("config.json"),
            opts=child,
        )
        connect = settings.apply(lambda s: self._connect(args.region, s))
        # frame-ancestors is ignored in a <meta> policy (the header carries it)
        spec = {
            k: v
            for k, v in _security_headers()["contentSecurityPolicy"].items()
            if k != "frame-ancestors"
        }
        built = index.read_text("utf-8")
        self.index = aws.s3.BucketObjectv2(
            f"{name}-index",
            bucket=bucket,
            key="index.html",
            content=connect.apply(
                lambda c: with_policy_meta(built, content_security_policy(spec, connect=c))
            ),
            content_type="text/html; charset=utf-8",
            cache_control=cache_control("index.html"),
            opts=child,
        )
        self.register_outputs({"config": config})

    @staticmethod
    def _connect(region: str, s: Sequence[Any]) -> list[str]:
        """Exactly the origins the console talks to (the page's own CSP meta tag)."""
        api, stream, hosted_ui, _, bucket = s
        origins = [origin_of(api)]
        if stream:
            origins.append(origin_of(stream))
        if hosted_ui:
            origins.append(origin_of(hosted_ui))
        # presigned POSTs: botocore names the global endpoint; the regional one is the same bucket
        origins += [
            f"https://{bucket}.s3.amazonaws.com",
            f"https://{bucket}.s3.{region}.amazonaws.com",
        ]
        return list(dict.fromkeys(origins))
