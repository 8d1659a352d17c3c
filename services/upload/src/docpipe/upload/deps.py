"""Injectables: settings, the database pool and the caller's tenant."""

from __future__ import annotations

from typing import Annotated, cast

import asyncpg
from fastapi import Depends, Request

from docpipe.common.auth import Principal
from docpipe.common.db import get_pool
from docpipe.common.web import ProblemError, principal_from_request
from docpipe.upload.config import UploadSettings

__all__ = ["PoolDep", "PrincipalDep", "SettingsDep", "TenantDep"]


def get_settings(request: Request) -> UploadSettings:
    return cast(UploadSettings, request.app.state.settings)


SettingsDep = Annotated[UploadSettings, Depends(get_settings)]


def current_principal(request: Request, settings: SettingsDep) -> Principal:
    return principal_from_request(request, settings)


PrincipalDep = Annotated[Principal, Depends(current_principal)]


def current_tenant(principal: PrincipalDep) -> str:
    return principal.tenant_id


TenantDep = Annotated[str, Depends(current_tenant)]


async def database_pool(settings: SettingsDep, _: TenantDep) -> asyncpg.Pool:
    """The pool (after authentication: an anonymous caller never touches the database)."""
    try:
        return await get_pool(settings)
    except (OSError, asyncpg.PostgresError) as exc:
        raise ProblemError(503, "the database is unavailable; retry later") from exc


PoolDep = Annotated[asyncpg.Pool, Depends(database_pool)]
