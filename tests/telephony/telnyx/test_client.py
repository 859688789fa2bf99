"""The Telnyx client's chokepoint: retries, command ids, errors, the command log."""

from __future__ import annotations

import pytest

from calls.models import Call, CarrierCommand
from telephony.telnyx.client import TelnyxError, decode_client_state, encode_client_state

pytestmark = pytest.mark.django_db(transaction=True)


async def test_every_request_carries_the_bearer_key_and_a_command_id(fake_telnyx):
    telnyx = fake_telnyx()
    from telephony.telnyx.client import get_client

    await get_client().hangup("v3:abc")
    [request] = telnyx.requests
    assert request.headers["Authorization"] == "Bearer KEYTEST"
    assert request.url.path == "/v2/calls/v3:abc/actions/hangup"
    assert len(telnyx.bodies("hangup")[0]["command_id"]) == 36


async def test_a_5xx_is_retried_with_the_same_command_id(fake_telnyx):
    telnyx = fake_telnyx()
    telnyx.fail("/actions/speak", 503, "10007", "Unexpected error")
    telnyx.fail("/actions/speak", 500, "10007", "Unexpected error")
    from telephony.telnyx.client import get_client

    await get_client().speak("v3:abc", payload="hi", voice="female")
    bodies = telnyx.bodies("/actions/speak")
    assert len(bodies) == 3
    assert len({b["command_id"] for b in bodies}) == 1
    command = await CarrierCommand.objects.aget(name="speak")
    assert (command.ok, command.attempts, command.status_code) == (True, 3, 200)


async def test_backoff_grows_and_is_capped(fake_telnyx, settings):
    telnyx = fake_telnyx()
    for _ in range(3):
        telnyx.fail("/actions/hangup", 502, "10007", "Bad gateway")
    from telephony.telnyx.client import get_client

    await get_client().hangup("v3:abc")
    first, second, third = telnyx.sleeps
    assert first < second < third <= 4.0 * 1.2


async def test_a_429_honours_retry_after(fake_telnyx):
    telnyx = fake_telnyx()
    telnyx.fail("/calls", 429, "10011", "Too many requests", **{"Retry-After": "1.5"})
    from telephony.telnyx.client import get_client

    await get_client().dial(to="+15551230000", **{"from": "+15550001111"}, connection_id="1")
    assert telnyx.sleeps == [1.5]
    assert len(telnyx.bodies("/calls")) == 2


async def test_x_ratelimit_reset_is_honoured_too(fake_telnyx):
    telnyx = fake_telnyx()
    telnyx.fail("/actions/answer", 429, "10011", "Too many requests", **{"x-ratelimit-reset": "2"})
    from telephony.telnyx.client import get_client

    await get_client().answer("v3:abc")
    assert telnyx.sleeps == [2.0]


async def test_timeouts_are_retried_then_reported_as_temporary(fake_telnyx):
    telnyx = fake_telnyx()
    for _ in range(4):
        telnyx.time_out("/actions/answer")
    from telephony.telnyx.client import get_client

    with pytest.raises(TelnyxError) as caught:
        await get_client().answer("v3:abc")
    assert not caught.value.permanent
    assert len(telnyx.requests) == 4  # TELNYX_API_MAX_ATTEMPTS
    command = await CarrierCommand.objects.aget(name="answer")
    assert (command.ok, command.attempts, command.status_code) == (False, 4, None)
    assert "no response" in command.error_detail


@pytest.mark.parametrize("status", [400, 401, 403, 404, 422])
async def test_other_4xx_are_never_retried(fake_telnyx, status):
    telnyx = fake_telnyx()
    telnyx.fail(
        "/actions/transfer", status, "10004", "Missing required parameter", "to is required"
    )
    from telephony.telnyx.client import get_client

    with pytest.raises(TelnyxError) as caught:
        await get_client().transfer("v3:abc", to="+15551230000")
    assert len(telnyx.requests) == 1
    error = caught.value
    assert (error.status_code, error.code, error.detail, error.permanent) == (
        status,
        "10004",
        "to is required",
        True,
    )
    assert error.for_humans() == "Telnyx error 10004: Missing required parameter. to is required"


async def test_call_already_ended_is_not_a_failure_in_the_log(fake_telnyx):
    telnyx = fake_telnyx()
    telnyx.fail("/actions/hangup", 422, "90018", "Call has already ended")
    from telephony.telnyx.client import get_client

    with pytest.raises(TelnyxError) as caught:
        await get_client().hangup("v3:abc")
    assert caught.value.already_ended
    command = await CarrierCommand.objects.aget(name="hangup")
    assert (command.ok, command.error_code) == (True, "90018")


async def test_secrets_are_not_logged(fake_telnyx):
    fake_telnyx()
    from telephony.telnyx.client import get_client

    await get_client().streaming_start("v3:abc", stream_url="wss://x", stream_auth_token="s3cret")
    command = await CarrierCommand.objects.aget(name="streaming_start")
    assert command.request_body["stream_auth_token"] == "***"


async def test_commands_are_linked_to_their_call(fake_telnyx):
    fake_telnyx()
    call = await Call.objects.acreate(direction="inbound", call_control_id="v3:abc")
    from telephony.telnyx.client import get_client

    await get_client().record_start("v3:abc", call=call)
    command = await CarrierCommand.objects.aget(call=call)
    assert command.request_body["format"] == "wav"


def test_client_state_round_trips_and_rejects_garbage():
    assert decode_client_state(encode_client_state("abc-123")) == "abc-123"
    assert decode_client_state("!!!") is None
    assert decode_client_state(None) is None
