"""Login: an optional Cognito user pool that issues the JWTs the HTTP API accepts.

- A ``custom:<tenantAttribute>`` attribute that only an administrator sets
  (AdminCreateUser / AdminUpdateUserAttributes): the app client's write attributes
  exclude it, and Cognito lets a user change only the attributes the client may write
  (https://docs.aws.amazon.com/cognito/latest/developerguide/user-pool-settings-attributes.html#user-pool-settings-attribute-permissions-and-scopes).
  Self sign-up is off: users are created by an administrator.
- Groups (an admin group and others from config); Cognito lists a user's groups in the
  ``cognito:groups`` claim.
- One public app client for the frontend: no secret, authorization-code flow (the
  frontend uses PKCE, which Cognito applies to public clients that send a
  ``code_challenge``), callback and logout URLs from config, short-lived ID/access tokens.
- Optionally the classic hosted UI on a Cognito domain.

Which token the frontend sends: the **ID token**. Only the ID token carries custom
attributes and an ``aud`` claim equal to the app client id
(https://docs.aws.amazon.com/cognito/latest/developerguide/amazon-cognito-user-pools-using-the-id-token.html);
the access token has ``client_id`` and no custom attributes
(https://docs.aws.amazon.com/cognito/latest/developerguide/amazon-cognito-user-pools-using-the-access-token.html).
API Gateway's JWT authorizer checks ``iss``, ``exp`` and ``aud`` (``client_id`` only when
there is no ``aud``) against the pool's issuer and the app client
(https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-jwt-authorizer.html),
so both tokens pass it, but only the ID token names the tenant.

Feature plan: Essentials, pinned (the default for new pools; its monthly free tier covers
10,000 users signing in directly). No threat protection ("advanced security"): it needs
the Plus plan, which has no free tier
(https://docs.aws.amazon.com/cognito/latest/developerguide/cognito-sign-in-feature-plans.html).
MFA: TOTP authenticator apps (no SMS, which needs an SNS role and costs per message),
optional by default.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from docpipe.infra import naming
from docpipe.infra.settings import AuthSettings

__all__ = [
    "FEATURE_PLAN",
    "SCOPES",
    "Login",
    "LoginArgs",
    "hosted_ui_domain_prefix",
    "web_client",
]

FEATURE_PLAN = "ESSENTIALS"
#: what the web clients (the API's and the console's) ask for
SCOPES = ["openid", "email", "profile"]


def hosted_ui_domain_prefix(*, stack: str, account_id: str) -> str:
    """Cognito domain prefixes are global per region: derive one unique to the account."""
    suffix = hashlib.sha256(account_id.encode()).hexdigest()[:10]
    return f"{naming.prefix(stack=stack)}-{suffix}"


@dataclass(frozen=True)
class LoginArgs:
    stack: str
    settings: AuthSettings
    region: str
    account_id: pulumi.Input[str]


class Login(pulumi.ComponentResource):
    user_pool: aws.cognito.UserPool
    client: aws.cognito.UserPoolClient
    domain: aws.cognito.UserPoolDomain | None = None
    issuer: pulumi.Output[str]

    def __init__(
        self, name: str, args: LoginArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("docpipe:cognito:Login", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        s = args.settings
        self.user_pool = self._user_pool(name, args, child)
        self.client = self._client(name, args, child)
        for precedence, group in enumerate((s.admin_group, *s.groups)):
            aws.cognito.UserGroup(
                f"{name}-group-{group}",
                name=group,
                user_pool_id=self.user_pool.id,
                precedence=precedence,
                description="administrators: every document of their tenant"
                if group == s.admin_group
                else f"docpipe group {group}",
                opts=child,
            )
        if s.domain_prefix != "":
            self.domain = aws.cognito.UserPoolDomain(
                f"{name}-domain",
                domain=s.domain_prefix
                or pulumi.Output.from_input(args.account_id).apply(
                    lambda account: hosted_ui_domain_prefix(stack=args.stack, account_id=account)
                ),
                user_pool_id=self.user_pool.id,
                managed_login_version=1,  # the classic hosted UI: no branding resource needed
                opts=child,
            )
        self.issuer = self.user_pool.id.apply(
            lambda pool: f"https://cognito-idp.{args.region}.amazonaws.com/{pool}"
        )
        self.register_outputs(
            {
                "user_pool_id": self.user_pool.id,
                "app_client_id": self.client.id,
                "issuer": self.issuer,
                "hosted_ui_domain": self.hosted_ui_url(args.region),
            }
        )

    def hosted_ui_url(self, region: str) -> pulumi.Output[str] | None:
        if self.domain is None:
            return None
        return self.domain.domain.apply(
            lambda domain: f"https://{domain}.auth.{region}.amazoncognito.com"
        )

    def _user_pool(
        self, name: str, args: LoginArgs, child: pulumi.ResourceOptions
    ) -> aws.cognito.UserPool:
        s = args.settings
        return aws.cognito.UserPool(
            f"{name}-users",
            name=f"{naming.prefix(stack=args.stack)}-users",
            user_pool_tier=FEATURE_PLAN,
            username_attributes=["email"],
            username_configuration={"case_sensitive": False},
            auto_verified_attributes=["email"],
            user_attribute_update_settings={
                "attributes_require_verification_before_updates": ["email"]
            },
            admin_create_user_config={"allow_admin_create_user_only": True},
            password_policy={
                "minimum_length": s.password_min_length,
                "require_lowercase": True,
                "require_uppercase": True,
                "require_numbers": True,
                "require_symbols": True,
                "temporary_password_validity_days": 3,
            },
            mfa_configuration=s.mfa,
            software_token_mfa_configuration={"enabled": True} if s.mfa != "OFF" else None,
            account_recovery_setting={
                "recovery_mechanisms": [{"name": "verified_email", "priority": 1}]
            },
            schemas=[
                {
                    "name": s.tenant_attribute,
                    "attribute_data_type": "String",
                    "mutable": True,  # an administrator can move a user; the user cannot
                    "developer_only_attribute": False,
                    "required": False,
                    "string_attribute_constraints": {"min_length": "1", "max_length": "256"},
                }
            ],
            deletion_protection="ACTIVE" if s.deletion_protection else "INACTIVE",
            opts=child,
        )

    def _client(
        self, name: str, args: LoginArgs, child: pulumi.ResourceOptions
    ) -> aws.cognito.UserPoolClient:
        return web_client(
            f"{name}-web",
            client_name=f"{naming.prefix(stack=args.stack)}-web",
            user_pool_id=self.user_pool.id,
            auth=args.settings,
            callback_urls=list(args.settings.callback_urls),
            logout_urls=list(args.settings.logout_urls),
            # SRP for an in-app sign-in form; ADMIN_USER_PASSWORD needs IAM credentials
            # (AdminInitiateAuth), so only an operator can use it, e.g. for a smoke test.
            auth_flows=[
                "ALLOW_USER_SRP_AUTH",
                "ALLOW_REFRESH_TOKEN_AUTH",
                "ALLOW_ADMIN_USER_PASSWORD_AUTH",
            ],
            opts=child,
        )


def web_client(
    name: str,
    *,
    client_name: str,
    user_pool_id: pulumi.Input[str],
    auth: AuthSettings,
    callback_urls: pulumi.Input[list[pulumi.Input[str]]],
    logout_urls: pulumi.Input[list[pulumi.Input[str]]],
    auth_flows: list[str],
    opts: pulumi.ResourceOptions,
) -> aws.cognito.UserPoolClient:
    """A public app client (no secret) for a browser: code flow, the stack's token
    lifetimes, revocation on, and no answer that tells whether a user exists."""
    return aws.cognito.UserPoolClient(
        name,
        name=client_name,
        user_pool_id=user_pool_id,
        generate_secret=False,
        allowed_oauth_flows_user_pool_client=True,
        allowed_oauth_flows=["code"],
        allowed_oauth_scopes=SCOPES,
        supported_identity_providers=["COGNITO"],
        callback_urls=callback_urls,
        logout_urls=logout_urls,
        explicit_auth_flows=auth_flows,
        read_attributes=["email", "email_verified", "name", auth.tenant_claim],
        # explicit: with no list Cognito lets the client write every attribute
        write_attributes=["email", "name"],
        id_token_validity=auth.id_token_minutes,
        access_token_validity=auth.access_token_minutes,
        refresh_token_validity=auth.refresh_token_days,
        token_validity_units={
            "id_token": "minutes",
            "access_token": "minutes",
            "refresh_token": "days",
        },
        prevent_user_existence_errors="ENABLED",
        enable_token_revocation=True,
        auth_session_validity=3,
        opts=opts,
    )
