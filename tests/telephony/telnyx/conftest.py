from __future__ import annotations

import pytest

from telephony.telnyx.simulator.server import serve_asgi
from tests.telephony.telnyx.receiver import WebhookReceiver


@pytest.fixture
async def receiver():
    hook = WebhookReceiver()
    async with serve_asgi(hook) as served:
        hook.url = served.url + "/telnyx/events"  # type: ignore[attr-defined]
        yield hook
