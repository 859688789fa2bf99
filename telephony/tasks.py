"""Fire-and-forget work that must not hold a webhook response (answering, hanging up, ...).

Tasks run on the server's event loop. The set keeps them referenced until they finish (the
loop itself holds only weak references) and bounds them, so a storm of webhooks or a slow
Telnyx cannot pile up work without limit.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any

from django.conf import settings

from telephony.log_context import current_call_id

logger = logging.getLogger(__name__)

_running: set[asyncio.Task[Any]] = set()


def spawn(coro: Coroutine[Any, Any, Any], *, name: str) -> asyncio.Task[Any] | None:
    limit = getattr(settings, "MAX_BACKGROUND_TASKS", 1000)
    if len(_running) >= limit:
        coro.close()
        logger.error("dropped background task %s: %d already running", name, len(_running))
        return None
    task = asyncio.get_running_loop().create_task(coro, name=name)
    _running.add(task)
    task.add_done_callback(_finished)
    return task


def _finished(task: asyncio.Task[Any]) -> None:
    _running.discard(task)
    if task.cancelled():
        return
    exc = task.exception()
    if exc is not None:
        logger.error(
            "background task %s failed",
            task.get_name(),
            exc_info=exc,
            extra={"call_id": current_call_id.get()},
        )


def running() -> int:
    return len(_running)


async def drain() -> None:
    """Wait for every background task, including ones spawned meanwhile (used by tests)."""
    while _running:
        await asyncio.gather(*list(_running), return_exceptions=True)
