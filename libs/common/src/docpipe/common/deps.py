"""FastAPI injectables every docpipe HTTP service uses: caller, tenant, database pool.

A service keeps its settings object on ``app.state.settings`` and adds its own
dependencies on top of these.
"""

from __future__ import annotations

from typing import Annotated, cast

import asyncpg
from fastapi import Depends, Request

from docpipe.common.auth import Principal
from docpipe.common.db import get_pool
from docpipe.common.settings import HttpServiceSettings
from docpipe.common.web import ProblemError, principal_from_request

__all__ = ["PoolDep", "PrincipalDep", "TenantDep", "app_settings", "database_pool"]


def app_settings(request: Request) -> HttpServiceSettings:
    return cast(HttpServiceSettings, request.app.state.settings)


def current_principal(
    request: Request, settings: Annotated[HttpServiceSettings, Depends(app_settings)]
) -> Principal:
    return principal_from_request(request, settings)


PrincipalDep = Annotated[Principal, Depends(current_principal)]


def current_tenant(principal: PrincipalDep) -> str:
    return principal.tenant_id


TenantDep = Annotated[str, Depends(current_tenant)]


async def database_pool(
    settings: Annotated[HttpServiceSettings, Depends(app_settings)], _: TenantDep
) -> asyncpg.Pool:
    """The pool (after authentication: an anonymous caller never touches the database)."""
    try:
        return await get_pool(settings)
    except (OSError, asyncpg.PostgresError) as exc:
        raise ProblemError(503, "the database is unavailable; retry later") from exc


PoolDep = Annotated[asyncpg.Pool, Depends(database_pool)]
