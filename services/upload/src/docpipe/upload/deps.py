"""Injectables: the upload service's settings, and the shared caller/tenant/pool ones."""

from __future__ import annotations

from typing import Annotated, cast

from fastapi import Depends, Request

from docpipe.common.deps import PoolDep, PrincipalDep, TenantDep
from docpipe.upload.config import UploadSettings

__all__ = ["PoolDep", "PrincipalDep", "SettingsDep", "TenantDep"]


async def get_settings(request: Request) -> UploadSettings:
    return cast(UploadSettings, request.app.state.settings)


SettingsDep = Annotated[UploadSettings, Depends(get_settings)]
