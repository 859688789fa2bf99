"""A live media stream's heartbeat: it touches its call every HEARTBEAT_SECONDS.

telephony.reconcile takes a live call that has been quiet for RECONCILE_IDLE_SECONDS to have
no stream anywhere (its worker died, a webhook was lost) and closes it. The heartbeat is what
keeps a call whose stream is healthy, but whose webhooks have gone quiet, from looking so.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable

from django.utils import timezone

from telephony.media import live

logger = logging.getLogger(__name__)

HEARTBEAT_SECONDS = 30


async def heartbeat(
    call_id: uuid.UUID, *, sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
) -> None:
    """Touch the call's `last_activity_at` every HEARTBEAT_SECONDS until cancelled."""
    while True:
        await sleep(HEARTBEAT_SECONDS)
        try:
            # Through the worker's batching writer: a burst of calls beats in step.
            await live.write(call_id, {"last_activity_at": timezone.now()})
        except Exception:  # a database blip must not end the stream
            logger.warning("heartbeat could not reach the database", exc_info=True)
