"""aioboto3 clients, one per service and event loop, reused across requests.

Creating a botocore client costs milliseconds and loads service models; Lambda keeps the
process (and its loop) warm between invocations, so clients are kept too. Nothing is
created at import time. ``AWS_ENDPOINT_URL`` (moto locally) is honoured for S3, SQS and
Secrets Manager.
"""

from __future__ import annotations

import asyncio
from contextlib import AsyncExitStack
from typing import Any

from docpipe.common.settings import CommonSettings

__all__ = ["client", "close_clients"]

_session: Any = None
_stacks: dict[int, AsyncExitStack] = {}
_clients: dict[tuple[int, str], Any] = {}


def _get_session() -> Any:
    global _session
    if _session is None:
        import aioboto3

        _session = aioboto3.Session()
    return _session


async def client(service: str, settings: CommonSettings, **options: Any) -> Any:
    """A long-lived aioboto3 client for ``service`` on the running loop."""
    loop_id = id(asyncio.get_running_loop())
    key = (loop_id, service)
    if key not in _clients:
        from botocore.config import Config

        stack = _stacks.setdefault(loop_id, AsyncExitStack())
        config = Config(
            region_name=settings.aws_region,
            retries={"max_attempts": 3, "mode": "standard"},
            s3={"addressing_style": "path"} if settings.aws_endpoint_url else None,
            signature_version="s3v4" if service == "s3" else None,
        )
        _clients[key] = await stack.enter_async_context(
            _get_session().client(
                service, endpoint_url=settings.aws_endpoint_url, config=config, **options
            )
        )
    return _clients[key]


async def close_clients() -> None:
    """Close this loop's clients (tests, local stack shutdown)."""
    loop_id = id(asyncio.get_running_loop())
    stack = _stacks.pop(loop_id, None)
    for key in [k for k in _clients if k[0] == loop_id]:
        del _clients[key]
    if stack is not None:
        await stack.aclose()
