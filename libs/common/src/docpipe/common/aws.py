"""aioboto3: the process' one session, and clients kept per service and event loop.

Creating a botocore client costs milliseconds and loads service models; Lambda keeps the
process (and its loop) warm between invocations, so clients are kept too, in the running
loop's :mod:`~docpipe.common.runtime` registry. Nothing is created at import time.
``AWS_ENDPOINT_URL`` (moto locally) is honoured for S3, SQS and Secrets Manager.
"""

from __future__ import annotations

from contextlib import AsyncExitStack
from typing import TYPE_CHECKING, Any

from docpipe.common.runtime import loop_resources
from docpipe.common.settings import CommonSettings

if TYPE_CHECKING:
    import aioboto3

__all__ = ["client", "session"]


_session: aioboto3.Session | None = None


def session() -> aioboto3.Session:
    """The process-wide aioboto3 session (created on first use, never at import; tests
    that sign as another principal swap it)."""
    global _session
    if _session is None:
        import aioboto3  # ~0.5 s with botocore: paid by the first AWS call, not every import

        _session = aioboto3.Session()
    return _session


async def client(service: str, settings: CommonSettings, **options: Any) -> Any:
    """A long-lived aioboto3 client for ``service`` on the running loop."""
    key = ("aws", service, settings.aws_region, settings.aws_endpoint_url, *sorted(options.items()))

    async def open_client(stack: AsyncExitStack) -> Any:
        from botocore.config import Config

        config = Config(
            region_name=settings.aws_region,
            retries={"max_attempts": 3, "mode": "standard"},
            s3={"addressing_style": "path"} if settings.aws_endpoint_url else None,
            signature_version="s3v4" if service == "s3" else None,
        )
        return await stack.enter_async_context(
            session().client(
                service, endpoint_url=settings.aws_endpoint_url, config=config, **options
            )
        )

    return await loop_resources().get(key, open_client)
