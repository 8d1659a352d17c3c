"""Drive SQS -> processor the way Lambda's event source mapping does, for tests.

The devstack's poller (:class:`docpipe.devstack.worker.Worker`) does the receiving and
settling, in a thread; the processor's ``handle_event`` runs on the calling test's event
loop, so it shares that loop's database pool and clients like the test's own calls do.
"""

from __future__ import annotations

import asyncio
from typing import Any

from docpipe.devstack.embedded import DEFAULT_REGION, AwsResources
from docpipe.devstack.worker import Worker
from docpipe.processor import handler as processor

__all__ = ["pump_queue"]


async def pump_queue(aws: AwsResources, *, rounds: int = 20, idle_rounds: int = 2) -> int:
    """Feed queue messages to the processor handler until the queue stays empty for
    ``idle_rounds`` receives (at most ``rounds`` receives); how many messages were handled.

    Messages the handler reports as failed are made visible again at once (instead of
    after the visibility timeout) so retries happen within the test.
    """
    loop = asyncio.get_running_loop()

    def handler(event: dict[str, Any], context: Any) -> Any:
        # looked up at each call: tests reload the handler module to change its settings
        return asyncio.run_coroutine_threadsafe(processor.handle_event(event), loop).result()

    worker = Worker(
        handler=handler,
        queue_url=aws.queue_url,
        region=DEFAULT_REGION,
        endpoint_url=aws.endpoint_url,
        timeout_s=900,
        wait_s=1,
        retry_at_once=True,
    )
    return await asyncio.to_thread(worker.drain, idle_rounds=idle_rounds, max_rounds=rounds)
