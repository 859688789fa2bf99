"""Background work (commands after the 2xx) is bounded: no pile-up when Telnyx hangs."""

from __future__ import annotations

import pytest

from calls.models import Call
from telephony import tasks
from tests.conftest import webhook

pytestmark = pytest.mark.django_db(transaction=True)


async def test_background_work_is_bounded_when_telnyx_hangs(
    async_post_webhook, fake_telnyx, settings
):
    settings.MAX_BACKGROUND_TASKS = 5
    telnyx = fake_telnyx()
    telnyx.delay = 0.5
    responses = [
        await async_post_webhook(
            webhook("call.initiated", {"call_control_id": f"v3:storm-{i}", "direction": "incoming"})
        )
        for i in range(12)
    ]
    assert {r.status_code for r in responses} == {200}
    assert tasks.running() <= 5
    await tasks.drain()
    assert (
        await Call.objects.acount() == 12
    )  # every webhook is stored, whatever happens to its work
