"""The carrier-neutral call actions, carried out here by Telnyx (a FakeTelnyx)."""

from __future__ import annotations

import base64

import pytest
from asgiref.sync import sync_to_async

from calls.models import Call, CallEvent, CarrierCommand
from telephony import actions
from telephony.carrier import CarrierError
from telephony.telnyx.stream_auth import stream_auth_token

pytestmark = pytest.mark.django_db(transaction=True)


async def test_hang_up_a_call_that_already_ended_closes_it(fake_telnyx):
    telnyx = fake_telnyx()
    telnyx.fail("/actions/hangup", 422, "90018", "Call has already ended")
    call = await Call.objects.acreate(
        direction="inbound", call_control_id="v3:gone", status="answered"
    )
    await actions.hang_up(call=call)
    await call.arefresh_from_db()
    assert call.status == "ended"


async def test_operator_actions_go_to_telnyx_and_are_logged(fake_telnyx):
    telnyx = fake_telnyx()
    call = await Call.objects.acreate(
        direction="inbound", call_control_id="v3:live", status="streaming"
    )
    await actions.transfer(call=call, to="+15559990000")
    await actions.send_dtmf(call=call, digits="12#")
    await actions.start_recording(call=call)
    await actions.stop_recording(call=call)
    assert telnyx.bodies("/actions/transfer")[0]["to"] == "+15559990000"
    assert telnyx.bodies("/actions/send_dtmf")[0]["digits"] == "12#"
    names = [
        n async for n in CarrierCommand.objects.filter(call=call).values_list("name", flat=True)
    ]
    assert names == ["transfer", "send_dtmf", "record_start", "record_stop"]


async def test_bad_dtmf_digits_are_refused_before_telnyx(fake_telnyx):
    telnyx = fake_telnyx()
    call = await Call.objects.acreate(
        direction="inbound", call_control_id="v3:live", status="streaming"
    )
    with pytest.raises(ValueError, match="DTMF"):
        await actions.send_dtmf(call=call, digits="12x")
    assert telnyx.requests == []


async def test_the_apology_is_spoken_then_the_call_hangs_up_after_speak_ended(
    fake_telnyx, settings
):
    telnyx = fake_telnyx()
    call = await Call.objects.acreate(
        direction="inbound", call_control_id="v3:sorry", status="streaming"
    )
    await actions.apologize_and_hang_up(call=call, reason="agent server at capacity (429)")
    [speak] = telnyx.bodies("/actions/speak")
    assert (speak["payload"], speak["voice"]) == (settings.APOLOGY_TEXT, settings.APOLOGY_VOICE)
    await call.arefresh_from_db()
    assert (call.status, call.failure_reason) == ("failed", "agent server at capacity (429)")
    assert call.custom_data["hangup_after_speak"] is True


async def test_a_refused_answer_rejects_the_caller_as_busy_and_says_what_they_heard(fake_telnyx):
    telnyx = fake_telnyx()
    telnyx.fail("/actions/answer", 422, "90034", "Invalid destination")
    call = await Call.objects.acreate(direction="inbound", call_control_id="v3:new")
    await actions.answer(call=call, token="tok")
    [reject] = telnyx.bodies("/actions/reject")
    assert reject["cause"] == "USER_BUSY"
    await call.arefresh_from_db()
    assert call.status == "failed"
    assert call.failure_reason.startswith(
        "answer failed (Telnyx error 90034: Invalid destination); the caller heard ringing for "
    )
    assert call.failure_reason.endswith(" s, then a busy tone")
    event = await CallEvent.objects.aget(call=call, type="answer.failed")
    assert event.payload["ended_by"] == "rejected as busy"
    assert event.payload["error"] == "Telnyx error 90034: Invalid destination"


async def test_an_answer_that_times_out_for_good_rejects_after_the_retries(fake_telnyx):
    telnyx = fake_telnyx()
    for _ in range(4):  # every attempt the client makes
        telnyx.time_out("/actions/answer")
    call = await Call.objects.acreate(direction="inbound", call_control_id="v3:new")
    await actions.answer(call=call, token="tok")
    assert len(telnyx.bodies("/actions/answer")) == 4
    assert len(telnyx.bodies("/actions/reject")) == 1
    await call.arefresh_from_db()
    assert "no response from Telnyx (ConnectTimeout)" in call.failure_reason
    assert "then a busy tone" in call.failure_reason


async def test_when_reject_fails_too_the_unanswered_call_is_hung_up(fake_telnyx):
    telnyx = fake_telnyx()
    telnyx.fail("/actions/answer", 400, "10015", "Bad Request")
    telnyx.fail("/actions/reject", 422, "10015", "Bad Request")
    call = await Call.objects.acreate(direction="inbound", call_control_id="v3:new")
    await actions.answer(call=call, token="tok")
    assert len(telnyx.bodies("/actions/hangup")) == 1
    await call.arefresh_from_db()
    assert call.failure_reason.endswith(" s, then the line went dead")


async def test_a_caller_who_hung_up_while_we_gave_up_answering_is_told_apart(fake_telnyx):
    telnyx = fake_telnyx()
    telnyx.fail("/actions/answer", 400, "10015", "Bad Request")
    telnyx.fail("/actions/reject", 422, "90018", "Call has already ended")
    call = await Call.objects.acreate(direction="inbound", call_control_id="v3:new")
    await actions.answer(call=call, token="tok")
    assert telnyx.bodies("/actions/hangup") == []
    await call.arefresh_from_db()
    assert "; the caller hung up after " in call.failure_reason


async def test_a_lost_stream_is_started_again_with_a_fresh_token(fake_telnyx):
    telnyx = fake_telnyx()
    call = await Call.objects.acreate(
        direction="inbound", call_control_id="v3:live", status="streaming"
    )
    old = await sync_to_async(call.issue_media_token)(ttl_seconds=60)
    assert await actions.start_stream(call=call, reason="media stream lost: test")
    [start] = telnyx.bodies("/actions/streaming_start")
    token = start["stream_url"].rsplit("/", 1)[1]
    await call.arefresh_from_db()
    assert token != old
    assert call.media_token_matches(token)
    assert not call.media_token_matches(old)
    assert start["stream_auth_token"] == stream_auth_token(token)
    assert base64.b64decode(start["client_state"]).decode() == str(call.id)
    event = await CallEvent.objects.aget(call=call, type="media.restarted")
    assert event.payload == {"reason": "media stream lost: test"}


async def test_a_stream_that_cannot_be_restarted_ends_with_the_apology(fake_telnyx, settings):
    telnyx = fake_telnyx()
    telnyx.fail("/actions/streaming_start", 422, "90045", "Media Streaming is used")
    call = await Call.objects.acreate(
        direction="inbound", call_control_id="v3:live", status="streaming"
    )
    assert not await actions.start_stream(call=call, reason="media stream lost: test")
    [speak] = telnyx.bodies("/actions/speak")
    assert speak["payload"] == settings.APOLOGY_TEXT
    await call.arefresh_from_db()
    assert call.status == "failed"
    assert call.failure_reason == (
        "media stream lost: test; restarting it failed: Telnyx error 90045: Media Streaming is used"
    )


async def test_a_command_for_a_call_the_carrier_never_named_is_a_carrier_error(fake_telnyx):
    telnyx = fake_telnyx()
    call = await Call.objects.acreate(direction="outbound", status="initiated")
    with pytest.raises(CarrierError, match="record_start: the call has no Telnyx"):
        await actions.start_recording(call=call)
    await actions.hang_up(call=call)
    await call.arefresh_from_db()
    assert (call.status, call.failure_reason) == ("failed", "hung up before Telnyx knew the call")
    assert telnyx.requests == []
