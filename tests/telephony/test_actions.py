"""The carrier-neutral call actions, carried out here by Telnyx (a FakeTelnyx)."""

from __future__ import annotations

import pytest

from calls.models import Call, TelnyxCommand
from telephony import actions
from telephony.carrier import CarrierError

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
        n async for n in TelnyxCommand.objects.filter(call=call).values_list("name", flat=True)
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


async def test_a_refused_answer_fails_the_call_in_the_carriers_words(fake_telnyx):
    telnyx = fake_telnyx()
    telnyx.fail("/actions/answer", 422, "90034", "Invalid destination")
    call = await Call.objects.acreate(direction="inbound", call_control_id="v3:new")
    await actions.answer(call=call, token="tok")
    await call.arefresh_from_db()
    assert (call.status, call.failure_reason) == (
        "failed",
        "answer failed: Telnyx error 90034: Invalid destination",
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
