"""The web console's deployment (stacks/src/docpipe/infra/console.py) beyond the
guardrails: what the page and config.json say, a custom domain, turning it off, and the
one security-header declaration both the local stack and CloudFront serve."""

from __future__ import annotations

import html
import json
import re
from collections.abc import Callable
from typing import Any

import pytest

from docpipe.devstack.console import security_headers
from docpipe.infra.console import (
    CONSOLE_DIR,
    content_security_policy,
    header_connect_sources,
    with_policy_meta,
)

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

CERTIFICATE = "arn:aws:acm:us-east-1:123456789012:certificate/0b6e5f0e-1111-4222-8333-944444444444"


def _object(inventory: Any, key: str) -> dict[str, Any]:
    found: dict[str, Any] = next(
        o.inputs
        for o in inventory.of_type("aws:s3/bucketObjectv2:BucketObjectv2")
        if o.inputs["key"] == key
    )
    return found


def test_the_page_policy_names_exactly_the_origins_the_console_calls(inventory: Any) -> None:
    page = _object(inventory, "index.html")["content"]
    meta = re.search(r'<head>\s*<meta http-equiv="Content-Security-Policy" content="([^"]+)"', page)
    assert meta, "the policy must come before any script"
    connect = dict(d.split(" ", 1) for d in html.unescape(meta[1]).split("; "))["connect-src"]
    bucket = inventory.outputs["bucket"]
    assert connect.split() == [
        "'self'",
        inventory.outputs["api_url"],
        "https://stream-stage-api-id.execute-api.ap-northeast-1.amazonaws.com",
        inventory.outputs["hosted_ui_url"],
        f"https://{bucket}.s3.amazonaws.com",
        f"https://{bucket}.s3.ap-northeast-1.amazonaws.com",
    ]
    assert page.index("Content-Security-Policy") < page.index("<script")


def test_config_json_and_caching(inventory: Any) -> None:
    config = json.loads(_object(inventory, "config.json")["content"])
    assert config == {
        "uploadApi": inventory.outputs["api_url"],
        "queryApi": inventory.outputs["api_url"],
        "streamApi": inventory.outputs["query_stream_url"],
        "auth": {
            "mode": "cognito",
            "domain": inventory.outputs["hosted_ui_url"],
            "clientId": inventory.outputs["app_client_id"],
            "scopes": ["openid", "email", "profile"],
        },
        "environment": "dev",
    }
    objects = {
        o.inputs["key"]: o.inputs for o in inventory.of_type("aws:s3/bucketObjectv2:BucketObjectv2")
    }
    assert {k for k in objects if not k.startswith("assets/")} == {
        "index.html",
        "config.json",
        "favicon.svg",
    }
    for key, inputs in objects.items():
        immutable = "immutable" in inputs["cacheControl"]
        assert immutable == key.startswith("assets/"), key  # only hashed names are cached for good
    assert objects[next(k for k in objects if k.endswith(".js"))]["contentType"].startswith(
        "text/javascript"
    )


def test_a_custom_domain_gets_tls_1_2_and_becomes_the_origin(
    deploy_configured: Callable[..., Any],
) -> None:
    from tests.infra.test_guardrails import console_violations

    inventory = deploy_configured(
        {"console": {"domainName": "console.docpipe.test", "certificateArn": CERTIFICATE}}
    )
    distribution = inventory.of_type("aws:cloudfront/distribution:Distribution")[0].inputs
    assert distribution["aliases"] == ["console.docpipe.test"]
    assert distribution["viewerCertificate"] == {
        "acmCertificateArn": CERTIFICATE,
        "sslSupportMethod": "sni-only",
        "minimumProtocolVersion": "TLSv1.2_2021",
    }
    assert inventory.outputs["console_url"] == "https://console.docpipe.test/"
    assert console_violations(inventory) == []


def test_the_console_can_be_left_out(deploy_configured: Callable[..., Any]) -> None:
    inventory = deploy_configured({"console": {"enabled": False}})
    assert not inventory.of_type("aws:cloudfront/distribution:Distribution")
    assert inventory.outputs["console_url"] is None
    api = inventory.of_type("aws:apigatewayv2/api:Api")[0].inputs
    assert api["corsConfiguration"]["allowOrigins"] == ["http://localhost:5173"]


def test_one_declaration_of_the_security_headers_for_both_places(inventory: Any) -> None:
    """The local stack sends what CloudFront sends, but for the connect-src origins."""
    spec = json.loads((CONSOLE_DIR / "security-headers.json").read_text())
    local = security_headers(connect=["http://127.0.0.1:8001"])
    policy = inventory.of_type("aws:cloudfront/responseHeadersPolicy:ResponseHeadersPolicy")[0]
    deployed = policy.inputs["securityHeadersConfig"]["contentSecurityPolicy"][
        "contentSecurityPolicy"
    ]
    connect = header_connect_sources("ap-northeast-1")
    expected = content_security_policy(spec["contentSecurityPolicy"], connect=connect)
    assert deployed == f"{expected}; upgrade-insecure-requests"
    assert local["Content-Security-Policy"] == content_security_policy(
        spec["contentSecurityPolicy"], connect=["http://127.0.0.1:8001"]
    )
    custom = {h["header"]: h["value"] for h in policy.inputs["customHeadersConfig"]["items"]}
    assert {k: v for k, v in local.items() if k in custom} == custom


def test_the_meta_tag_goes_first_in_the_head() -> None:
    page = with_policy_meta(
        '<html><head><script src="/a.js"></script></head></html>', "a 'b' \"c\""
    )
    assert page.startswith(
        '<html><head>\n    <meta http-equiv="Content-Security-Policy" content="a'
    )
    assert "&quot;c&quot;" in page
    with pytest.raises(ValueError):
        with_policy_meta("<html></html>", "x")
