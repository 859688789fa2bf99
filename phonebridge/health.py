"""GET /healthz: is the database reachable, is the channel layer reachable."""

from __future__ import annotations

import asyncio
import uuid

from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer
from django.db import connection
from django.http import HttpRequest, JsonResponse

CHANNEL_LAYER_TIMEOUT = 2.0


async def healthz(request: HttpRequest) -> JsonResponse:
    checks = {
        "database": await sync_to_async(_database_ok)(),
        "channel_layer": await _channel_layer_ok(),
    }
    failing = [name for name, ok in checks.items() if not ok]
    body = {
        "status": "degraded" if failing else "ok",
        "checks": {name: "ok" if ok else "unreachable" for name, ok in checks.items()},
    }
    return JsonResponse(body, status=503 if failing else 200)


def _database_ok() -> bool:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            return cursor.fetchone() == (1,)
    except Exception:  # any driver error means "not reachable" here
        return False


async def _channel_layer_ok() -> bool:
    """Send a message to ourselves through the layer and read it back."""
    layer = get_channel_layer()
    if layer is None:
        return False
    try:
        async with asyncio.timeout(CHANNEL_LAYER_TIMEOUT):
            # BaseChannelLayer declares no prefix; both layers we run (in-memory, Redis) take one.
            channel = await layer.new_channel("healthz.")  # type: ignore[call-arg]
            nonce = uuid.uuid4().hex
            await layer.send(channel, {"type": "healthz", "nonce": nonce})
            message = await layer.receive(channel)
            return message.get("nonce") == nonce
    except Exception:  # connection refused, timeout, ...: the layer is not usable
        return False
