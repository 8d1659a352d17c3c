"""FastAPI injectables every docpipe HTTP service uses: caller, tenant, database pool.

A service keeps its settings object on ``app.state.settings`` and adds its own
dependencies on top of these.

Dependencies are ``async def`` on purpose: FastAPI runs a plain ``def`` dependency in a
worker thread, and on the search path those thread hand-offs (six per request) cost more
than the work they wrap. Only a JWKS-verified token, whose key fetch may block on the
network, is authenticated in a thread.
"""

from __future__ import annotations

import asyncio
from typing import Annotated, cast

import asyncpg
from fastapi import Depends, Request

from docpipe.common.auth import Principal
from docpipe.common.db import get_pool
from docpipe.common.settings import HttpServiceSettings
from docpipe.common.web import principal_from_request

__all__ = ["PoolDep", "PrincipalDep", "TenantDep", "app_settings", "database_pool"]


async def app_settings(request: Request) -> HttpServiceSettings:
    return cast(HttpServiceSettings, request.app.state.settings)


async def current_principal(
    request: Request, settings: Annotated[HttpServiceSettings, Depends(app_settings)]
) -> Principal:
    if settings.auth_mode == "jwt" and settings.jwt_jwks_url:
        return await asyncio.to_thread(principal_from_request, request, settings)
    return principal_from_request(request, settings)


PrincipalDep = Annotated[Principal, Depends(current_principal)]


async def current_tenant(principal: PrincipalDep) -> str:
    return principal.tenant_id


TenantDep = Annotated[str, Depends(current_tenant)]


async def database_pool(
    settings: Annotated[HttpServiceSettings, Depends(app_settings)], _: TenantDep
) -> asyncpg.Pool:
    """The pool (after authentication: an anonymous caller never touches the database).

    An unreachable database raises ``DatabaseUnavailable``: a 503 (``install_common``).
    """
    return await get_pool(settings)


PoolDep = Annotated[asyncpg.Pool, Depends(database_pool)]
