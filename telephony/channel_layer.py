"""The Redis channel layer, made to ride out a Redis outage.

A media consumer's message loop waits on the layer for control messages (hangup from another
worker). channels_redis raises from that wait when Redis goes away, and Channels then closes
the consumer's socket: a Redis blip would drop every live call. The audio itself never
touches Redis, so here the wait retries with backoff until Redis is back; only cross-worker
control is unavailable meanwhile (a call still ends on Telnyx's own `stop` frame).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from channels_redis.core import RedisChannelLayer
from redis.exceptions import RedisError

logger = logging.getLogger(__name__)

MAX_BACKOFF_SECONDS = 2.0


class ResilientRedisChannelLayer(RedisChannelLayer):
    async def receive(self, channel: str) -> dict[str, Any]:
        delay = 0.1
        while True:
            try:
                return await super().receive(channel)
            except (RedisError, OSError) as exc:
                # channels_redis leaves its receive state consistent when it raises, so
                # waiting again is safe.
                logger.warning("channel layer unavailable (%s); retrying in %.1fs", exc, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, MAX_BACKOFF_SECONDS)
