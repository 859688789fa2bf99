"""Telnyx as the carrier: what each neutral command becomes on Telnyx's wire."""

from __future__ import annotations

import pytest

from calls.models import Call
from telephony.carrier import CallState, CarrierError, carrier_for
from telephony.telnyx.call_control import TelnyxCallControl
from telephony.telnyx.client import TelnyxError
from telephony.telnyx.stream_auth import stream_auth_token

pytestmark = pytest.mark.django_db(transaction=True)


async def live_call(**fields) -> Call:
    values = {"direction": "inbound", "call_control_id": "v3:live", "status": "streaming"}
    return await Call.objects.acreate(**{**values, **fields})


def test_every_call_is_carried_by_telnyx_for_now():
    carrier = carrier_for(Call())
    assert isinstance(carrier, TelnyxCallControl)
    assert carrier is carrier_for(Call())


def test_telnyx_errors_are_carrier_errors_in_telnyx_words():
    error = TelnyxError("x", code="90018", title="Call has already ended", detail="Too late")
    assert isinstance(error, CarrierError)
    assert error.already_ended
    assert error.for_humans() == "Telnyx error 90018: Call has already ended. Too late"
    assert not CarrierError("x", code="90018").already_ended


async def test_answer_streams_to_the_calls_media_url(fake_telnyx):
    telnyx = fake_telnyx()
    call = await live_call(status="initiated")
    await TelnyxCallControl().answer(call=call, token="tok")
    [answer] = telnyx.bodies("/actions/answer")
    assert answer["stream_url"] == f"wss://phonebridge.test/telnyx/media/{call.pk}/tok"
    assert "stream_auth_token" not in answer  # answer cannot carry it (§1.1)
    assert "stream_bidirectional_sampling_rate" not in answer


async def test_with_header_auth_answer_is_plain_and_streaming_starts_after(fake_telnyx, settings):
    settings.MEDIA_AUTH_HEADER_REQUIRED = True
    telnyx = fake_telnyx()
    call = await live_call(status="initiated")
    await TelnyxCallControl().answer(call=call, token="tok")
    [answer] = telnyx.bodies("/actions/answer")
    [start] = telnyx.bodies("/actions/streaming_start")
    assert "stream_url" not in answer
    assert start["stream_auth_token"] == stream_auth_token("tok")
    assert answer["client_state"] == start["client_state"]


async def test_a_command_for_a_call_telnyx_never_named_is_refused_before_sending(fake_telnyx):
    telnyx = fake_telnyx()
    call = await live_call(call_control_id=None)
    with pytest.raises(TelnyxError, match="transfer: the call has no Telnyx call_control_id yet"):
        await TelnyxCallControl().transfer(call=call, to="+15559990000")
    assert telnyx.requests == []


@pytest.mark.parametrize(
    ("status", "code", "is_alive", "state"),
    [
        (200, "", True, CallState.ALIVE),
        (200, "", False, CallState.ENDED),
        (404, "10005", None, CallState.FORGOTTEN),
        (422, "90015", None, CallState.FORGOTTEN),
    ],
)
async def test_the_calls_state_comes_from_get_call(fake_telnyx, status, code, is_alive, state):
    telnyx = fake_telnyx()
    if status == 200:
        telnyx.responses["/calls/v3:live"] = [(200, {"data": {"is_alive": is_alive}}, {})]
    else:
        telnyx.fail("/calls/v3:live", status, code, "Call not found")
    assert await TelnyxCallControl().call_state(call=await live_call()) is state


async def test_other_get_call_failures_are_raised(fake_telnyx):
    telnyx = fake_telnyx()
    telnyx.fail("/calls/v3:live", 401, "10009", "Authentication failed")
    with pytest.raises(TelnyxError, match="get_call: HTTP 401"):
        await TelnyxCallControl().call_state(call=await live_call())
