"""Cross-process control of live media streams through the channel layer.

Each live media consumer joins the group named after its call, so a hangup webhook handled
by any worker (or an operator's action in the admin) reaches the socket wherever it runs.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

from channels.layers import get_channel_layer

logger = logging.getLogger(__name__)


def group_name(call_id: uuid.UUID | str) -> str:
    return f"call.{uuid.UUID(str(call_id)).hex}"


async def notify_stream(call_id: uuid.UUID | str, action: str, **data: Any) -> bool:
    """Tell the call's media consumer to `action` ("hangup", "stop", "clear"). False on failure."""
    layer = get_channel_layer()
    if layer is None:
        return False
    try:
        await layer.group_send(
            group_name(call_id), {"type": "stream.control", "action": action, **data}
        )
    except Exception:  # Redis down or the like: the consumer also ends on Telnyx's `stop`
        logger.warning("could not reach the media stream of call %s", call_id, exc_info=True)
        return False
    return True
