"""The token rules in docs/api.md ("Conventions"), each in both token modes where it
applies, and the start-up checks that keep an unsafe configuration from serving at all.

``jwt`` mode: a real HS256 token verified by :func:`docpipe.common.auth.authenticate`.
``apigateway`` mode: the claims as API Gateway hands them to Lambda, both the HTTP API's
JWT authorizer (strings, lists as ``"[a b]"``) and the REST API's Cognito authorizer
(times as ``"Fri Jul 29 18:52:53 UTC 2016"``, lists as ``"a,b"``).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jwt
import pytest
from pydantic import ValidationError

from docpipe.common.auth import Principal, authenticate
from docpipe.common.exceptions import AuthError
from docpipe.common.local_stack import write_marker
from docpipe.common.settings import CommonSettings
from docpipe.testkit.tokens import ISSUER, claims, http_api_claims, rest_api_claims

SECRET = "unit-auth-rules-secret-0123456789abcdef"
CENTURIES = 300 * 365 * 86_400
DSN = {"database_url": "postgresql://localhost/unused"}


def _settings(mode: str, **extra: Any) -> CommonSettings:
    values: dict[str, Any] = {"auth_mode": mode, "jwt_issuer": ISSUER, **DSN, **extra}
    if mode == "jwt":
        values.setdefault("jwt_secret", SECRET)
    return CommonSettings(**values)


def _jwt(tenant: str | None, **extra: Any) -> Callable[[CommonSettings], Principal]:
    token = jwt.encode(claims(tenant, **({"sub": "user-1"} | extra)), SECRET, algorithm="HS256")
    return lambda s: authenticate(settings=s, authorization=f"Bearer {token}")


def _http_api(tenant: str | None, **extra: Any) -> Callable[[CommonSettings], Principal]:
    event = {
        "requestContext": {"authorizer": {"jwt": {"claims": http_api_claims(tenant, **extra)}}}
    }
    return lambda s: authenticate(settings=s, authorization=None, lambda_event=event)


def _rest_api(tenant: str | None, **extra: Any) -> Callable[[CommonSettings], Principal]:
    event = {"requestContext": {"authorizer": {"claims": rest_api_claims(tenant, **extra)}}}
    return lambda s: authenticate(settings=s, authorization=None, lambda_event=event)


MODES = {
    "jwt": ("jwt", _jwt),
    "http-api": ("apigateway", _http_api),
    "rest-api": ("apigateway", _rest_api),
}


@pytest.mark.parametrize("mode", MODES)
def test_a_valid_token_names_tenant_user_and_groups(mode: str) -> None:
    auth_mode, make = MODES[mode]
    settings = _settings(auth_mode, admin_groups="docpipe-admins")
    member = make("acme", groups=["hr", "managers"])(settings)
    assert member == Principal("acme", "user-1", frozenset({"hr", "managers"}), admin=False)
    admin = make("acme", groups=["docpipe-admins"])(settings)
    assert admin.admin and admin.groups == frozenset({"docpipe-admins"})
    assert make("acme")(settings).groups == frozenset()


REFUSED: dict[str, tuple[dict[str, Any], str]] = {
    # case: (claims to change, what the 401 says)
    "no tenant claim (sub present)": ({"tenant_id": None}, "naming the tenant"),
    "lives for centuries": ({"exp": int(time.time()) + CENTURIES}, "lives longer"),
    "issued long ago, valid for centuries": (
        {"iat": int(time.time()) - 3600, "exp": int(time.time()) + CENTURIES},
        "lives longer",
    ),
    "expired": ({"iat": int(time.time()) - 7200, "exp": int(time.time()) - 3600}, "expired"),
    "no exp": ({"exp": None}, "exp"),
    "another issuer": ({"iss": "https://evil.example/"}, "issuer"),
    "issued in the future": ({"iat": int(time.time()) + 3600, "exp": int(time.time()) + 4000}, ""),
}


@pytest.mark.parametrize("case", REFUSED)
@pytest.mark.parametrize("mode", MODES)
def test_every_rule_refuses_in_every_mode(mode: str, case: str) -> None:
    auth_mode, make = MODES[mode]
    change, says = dict(REFUSED[case][0]), REFUSED[case][1]
    tenant = change.pop("tenant_id") if "tenant_id" in change else "acme"
    with pytest.raises(AuthError) as refused:
        make(tenant, **change)(_settings(auth_mode))
    assert says in refused.value.detail, refused.value.detail


@pytest.mark.parametrize("mode", MODES)
def test_sub_names_the_tenant_only_when_told_to(mode: str) -> None:
    auth_mode, make = MODES[mode]
    with pytest.raises(AuthError):
        make(None)(_settings(auth_mode))
    principal = make(None)(_settings(auth_mode, tenant_from_sub=True))
    assert principal.tenant_id == "user-1"
    # The tenant claim always wins when present: the two never mix.
    assert make("acme")(_settings(auth_mode, tenant_from_sub=True)).tenant_id == "acme"


@pytest.mark.parametrize("mode", MODES)
def test_the_lifetime_limit_is_configurable(mode: str) -> None:
    auth_mode, make = MODES[mode]
    week = make("acme", exp=int(time.time()) + 7 * 86_400)
    with pytest.raises(AuthError, match="lives longer"):
        week(_settings(auth_mode))  # default: one day
    assert week(_settings(auth_mode, jwt_max_lifetime_seconds=8 * 86_400)).tenant_id == "acme"


def test_behind_api_gateway_the_issuer_is_checked_when_configured() -> None:
    foreign = _http_api("acme", iss="https://evil.example/")
    with pytest.raises(AuthError, match="issuer"):
        foreign(_settings("apigateway"))
    # The authorizer checks it already; without JWT_ISSUER the service leaves it to it.
    assert foreign(_settings("apigateway", jwt_issuer=None)).tenant_id == "acme"


def test_groups_arrive_in_every_shape_and_odd_names_are_dropped() -> None:
    settings = _settings("apigateway")
    shapes = {
        "json list": ["hr", "x y", 7, "sales"],
        "http api": "[hr sales]",
        "rest api": "hr,sales",
        "space separated": "hr sales",
        "json text": '["hr", "sales"]',
    }
    for name, value in shapes.items():
        event_claims = {**http_api_claims("acme"), "groups": value}
        event = {"requestContext": {"authorizer": {"jwt": {"claims": event_claims}}}}
        principal = authenticate(settings=settings, authorization=None, lambda_event=event)
        assert principal.groups == frozenset({"hr", "sales"}), name


@pytest.mark.parametrize(
    "token",
    [
        jwt.encode(claims("acme"), SECRET, algorithm="HS512"),
        "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0."
        + jwt.utils.base64url_encode(json.dumps(claims("acme")).encode()).decode()
        + ".",
        jwt.encode(claims("acme", iss=None), SECRET, algorithm="HS256"),
    ],
    ids=["hs512", "alg-none", "no-issuer"],
)
def test_jwt_mode_refuses_other_algorithms_and_a_missing_issuer(token: str) -> None:
    with pytest.raises(AuthError):
        authenticate(settings=_settings("jwt"), authorization=f"Bearer {token}")


# --- start-up checks ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("values", "says"),
    [
        ({"auth_mode": "jwt", "jwt_secret": SECRET, "jwt_issuer": None}, "JWT_ISSUER"),
        ({"auth_mode": "jwt", "jwt_secret": "s" * 31, "jwt_issuer": ISSUER}, "32 bytes"),
        ({"auth_mode": "jwt", "jwt_issuer": ISSUER}, "JWT_SECRET"),
        (
            {
                "auth_mode": "jwt",
                "jwt_secret": SECRET,
                "jwt_issuer": ISSUER,
                "jwt_max_lifetime_seconds": 10,
            },
            "greater than or equal",
        ),
        (
            {
                "auth_mode": "jwt",
                "jwt_jwks_url": "https://idp/jwks",
                "jwt_issuer": ISSUER,
                "jwt_jwks_refresh_seconds": 3600,
            },
            "less than or equal to 900",
        ),
    ],
    ids=["no-issuer", "short-secret", "no-key", "tiny-lifetime", "jwks-refresh-over-15-min"],
)
def test_an_unsafe_token_configuration_refuses_to_start(values: dict[str, Any], says: str) -> None:
    with pytest.raises(ValidationError, match=says):
        CommonSettings(**DSN, **values)
    assert CommonSettings(
        **DSN, auth_mode="jwt", jwt_secret="s" * 32, jwt_issuer=ISSUER
    )  # the boundary


def test_auth_mode_none_starts_only_under_the_local_stack(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The suite's own marker (tests/conftest.py) names this process: it may.
    assert CommonSettings(**DSN, auth_mode="none").auth_mode == "none"
    refusals = {}
    for case, marker in _foreign_markers(tmp_path).items():
        monkeypatch.setenv("LOCAL_STACK_MARKER", marker)
        with pytest.raises(ValidationError, match="local stack") as refused:
            CommonSettings(**DSN, auth_mode="none")
        refusals[case] = str(refused.value)
    assert "AUTH_MODE=jwt" in refusals["unset"] and "AUTH_MODE=apigateway" in refusals["unset"]
    monkeypatch.setenv("LOCAL_STACK_MARKER", str(write_marker(tmp_path / "mine")))
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "docpipe-dev-upload")
    with pytest.raises(ValidationError, match="refused in Lambda"):
        CommonSettings(**DSN, auth_mode="none")


def _foreign_markers(tmp_path: Path) -> dict[str, str]:
    """Markers a copied environment or another process could present."""
    another = tmp_path / "another"
    another.write_text(json.dumps({"pid": 1}))  # a process that is not our parent
    another.chmod(0o600)
    writable = write_marker(tmp_path / "writable")
    writable.chmod(0o666)
    folder = tmp_path / "folder"
    folder.mkdir()
    link = tmp_path / "link"
    link.symlink_to(write_marker(tmp_path / "target"))
    garbage = tmp_path / "garbage"
    garbage.write_text("not json")
    garbage.chmod(0o600)
    return {
        "unset": "",
        "missing file": str(tmp_path / "nothing-here"),
        "another process": str(another),
        "writable by others": str(writable),
        "a directory": str(folder),
        "a symlink": str(link),
        "not a marker": str(garbage),
    }


def test_a_process_started_elsewhere_with_the_variable_copied_refuses(tmp_path: Path) -> None:
    """A container (or any process the stack did not start) given the same environment."""
    marker = write_marker(tmp_path / "local-stack.marker")  # names this process
    code = (
        "import os, subprocess, sys; sys.exit(subprocess.run([sys.executable, '-c',"
        " 'from docpipe.common.settings import CommonSettings; CommonSettings()'],"
        " capture_output=True).returncode)"
    )  # a grandchild: its parent is not the process that wrote the marker
    env = {
        **os.environ,
        "AUTH_MODE": "none",
        "LOCAL_STACK_MARKER": str(marker),
        "DATABASE_URL": DSN["database_url"],
    }
    child = subprocess.run([sys.executable, "-c", code], env=env, timeout=60)
    assert child.returncode != 0
    direct = subprocess.run(
        [
            sys.executable,
            "-c",
            "from docpipe.common.settings import CommonSettings; CommonSettings()",
        ],
        env=env,
        timeout=60,
    )
    assert direct.returncode == 0  # the control: a child of the marker's process may
