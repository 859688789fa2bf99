"""Placing a call: the Call and its token before the dial, numbers checked, refusals kept."""

from __future__ import annotations

import base64

import pytest

from calls.models import Call
from telephony import dialing
from telephony.dialing import CallFailed
from telephony.numbers import InvalidNumber
from telephony.telnyx.stream_auth import stream_auth_token

pytestmark = pytest.mark.django_db(transaction=True)


async def test_place_call_creates_the_call_and_its_token_before_dialing(fake_telnyx, settings):
    telnyx = fake_telnyx()
    call = await dialing.place_call(
        to="+1 (555) 765-4321", amd="detect", custom_data={"greeting": "Hi"}
    )
    [dial] = telnyx.bodies("/calls")
    assert dial["connection_id"] == settings.TELNYX_CALL_CONTROL_APP_ID
    assert (dial["to"], dial["from"]) == ("+15557654321", settings.TELNYX_PHONE_NUMBER)
    assert dial["stream_url"].startswith(f"wss://phonebridge.test/telnyx/media/{call.id}/")
    assert call.media_token_matches(dial["stream_url"].rsplit("/", 1)[1])
    assert dial["stream_track"] == "inbound_track"
    assert dial["stream_bidirectional_mode"] == "rtp"
    assert dial["stream_bidirectional_codec"] == "PCMU"
    assert dial["stream_bidirectional_target_legs"] == "self"
    assert dial["answering_machine_detection"] == "detect"
    assert base64.b64decode(dial["client_state"]).decode() == str(call.id)
    assert "timeout_secs" not in dial  # unset options are not sent
    assert (call.direction, call.call_control_id, call.call_session_id) == (
        "outbound",
        "v3:dialed-1",
        "session-1",
    )
    assert call.custom_data == {"greeting": "Hi", "amd": "detect"}


async def test_l16_dials_ask_for_16khz(fake_telnyx, settings):
    settings.STREAM_BIDIRECTIONAL_CODEC = "L16"
    telnyx = fake_telnyx()
    await dialing.place_call(to="+15557654321")
    assert telnyx.bodies("/calls")[0]["stream_bidirectional_sampling_rate"] == 16000


async def test_with_header_auth_the_dial_carries_the_stream_auth_token(fake_telnyx, settings):
    settings.MEDIA_AUTH_HEADER_REQUIRED = True
    telnyx = fake_telnyx()
    await dialing.place_call(to="+15557654321")
    [dial] = telnyx.bodies("/calls")
    token = dial["stream_url"].rsplit("/", 1)[1]
    assert dial["stream_auth_token"] == stream_auth_token(token) != token


@pytest.mark.parametrize("number", ["5557654321", "+0123", "+1555abc4321", "", "+1234567890123456"])
async def test_place_call_refuses_numbers_that_are_not_e164(fake_telnyx, number):
    telnyx = fake_telnyx()
    with pytest.raises(InvalidNumber, match=r"E\.164"):
        await dialing.place_call(to=number)
    assert telnyx.requests == []
    assert not await Call.objects.aexists()


async def test_a_refused_dial_is_recorded_on_the_call_with_telnyx_words(fake_telnyx):
    telnyx = fake_telnyx()
    telnyx.fail(
        "/calls",
        422,
        "10015",
        "Invalid connection_id",
        "Only Call Control Apps with valid webhook URL are accepted.",
    )
    with pytest.raises(CallFailed) as caught:
        await dialing.place_call(to="+15557654321")
    call = await Call.objects.aget(pk=caught.value.call.pk)
    assert call.status == "failed"
    assert "10015" in call.failure_reason
    assert "valid webhook URL" in call.failure_reason
    assert caught.value.error.code == "10015"
