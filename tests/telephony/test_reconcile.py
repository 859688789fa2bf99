"""Reconciliation: a stale live call is asked about at its carrier, then hung up or closed."""

from __future__ import annotations

import pytest

from calls.models import Call, CallEvent
from telephony.reconcile import reconcile_call

pytestmark = pytest.mark.django_db(transaction=True)


async def stale_call(**fields) -> Call:
    values = {"direction": "inbound", "call_control_id": "v3:stale", "status": "streaming"}
    return await Call.objects.acreate(**{**values, **fields})


def alive(telnyx, is_alive: bool) -> None:
    telnyx.responses["/calls/v3:stale"] = [(200, {"data": {"is_alive": is_alive}}, {})]


async def test_an_orphan_still_alive_at_telnyx_is_hung_up(fake_telnyx):
    telnyx = fake_telnyx()
    alive(telnyx, True)
    call = await stale_call()
    done = await reconcile_call(call)
    assert done.action == "hung up"
    assert len(telnyx.bodies("/actions/hangup")) == 1
    await call.arefresh_from_db()
    assert (call.status, call.hangup_cause, call.hangup_source) == (
        "ended",
        "reconciled",
        "phonebridge",
    )
    assert await CallEvent.objects.filter(call=call, type="reconciled").aexists()


async def test_an_orphan_that_ends_as_we_hang_up_is_closed_all_the_same(fake_telnyx):
    telnyx = fake_telnyx()
    alive(telnyx, True)
    telnyx.fail("/actions/hangup", 422, "90018", "Call has already ended")
    done = await reconcile_call(await stale_call())
    assert done.action == "hung up"


@pytest.mark.parametrize(
    ("answer", "reason"),
    [
        ((200, ""), "reconciled: Telnyx says the call has ended"),
        ((404, "10005"), "reconciled: unknown to Telnyx (ended long ago)"),
    ],
)
async def test_a_call_over_at_telnyx_is_closed_with_the_reason(fake_telnyx, answer, reason):
    telnyx = fake_telnyx()
    status, code = answer
    if code:
        telnyx.fail("/calls/v3:stale", status, code, "Resource not found")
    else:
        alive(telnyx, False)
    call = await stale_call()
    assert (await reconcile_call(call)).reason == reason
    assert telnyx.bodies("/actions/hangup") == []
    await call.arefresh_from_db()
    assert call.status == "ended"


async def test_a_call_telnyx_cannot_tell_about_is_left_for_next_time(fake_telnyx):
    telnyx = fake_telnyx()
    telnyx.fail("/calls/v3:stale", 401, "10009", "Authentication failed")
    call = await stale_call()
    done = await reconcile_call(call)
    assert (done.action, done.reason) == ("skipped", "Telnyx error 10009: Authentication failed")
    await call.arefresh_from_db()
    assert call.status == "streaming"


async def test_a_call_that_never_reached_telnyx_is_failed(fake_telnyx):
    telnyx = fake_telnyx()
    call = await stale_call(call_control_id=None, status="initiated")
    done = await reconcile_call(call)
    assert (done.action, done.reason) == ("failed", "reconciled: never reached Telnyx")
    assert telnyx.requests == []
