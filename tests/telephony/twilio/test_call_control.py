"""TwilioCallControl through the neutral actions: what each command asks of Twilio's REST API."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest
from asgiref.sync import sync_to_async

from calls.models import Call
from telephony import actions, dialing, reconcile
from telephony.carrier import CallState, CarrierError, carrier_for
from telephony.twilio.call_control import TwilioCallControl
from telephony.twilio.client import get_client

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("twilio_settings")]


def parse(document: str) -> ET.Element:
    return ET.fromstring(document.split("?>", 1)[1])  # noqa: S314 - our own TwiML, built by the code under test


async def live_call(twilio, **fields) -> Call:
    created = await get_client().create_call(To="+15551230000", From="+15550002222")
    twilio.calls[created["sid"]]["status"] = "in-progress"
    twilio.requests.clear()
    return await Call.objects.acreate(
        carrier="twilio",
        direction="outbound",
        status="streaming",
        from_number="+15550002222",
        to_number="+15551230000",
        call_control_id=created["sid"],
        **fields,
    )


def test_a_twilio_call_is_carried_by_twilio_and_a_telnyx_call_by_telnyx():
    assert isinstance(carrier_for(Call(carrier="twilio")), TwilioCallControl)
    assert carrier_for(Call(carrier="telnyx")).name == "Telnyx"


async def test_dialing_from_a_twilio_number_creates_the_call_with_its_stream(fake_twilio):
    twilio = fake_twilio()
    call = await dialing.place_call(to="+15551230000", from_="+15550002222", amd="detect_beep")
    assert call.carrier == "twilio"
    [form] = twilio.forms("Calls.json")
    assert (form["To"], form["From"]) == ("+15551230000", "+15550002222")
    stream = parse(form["Twiml"]).find("Connect/Stream")
    assert stream.get("url").startswith(f"wss://phonebridge.test/twilio/media/{call.id}/")
    assert call.media_token_matches(stream.get("url").rsplit("/", 1)[1])
    assert form["StatusCallback"].startswith(
        f"https://phonebridge.test/twilio/status?call={call.id}&attempt="
    )
    assert form["StatusCallbackEvent"] == "initiated ringing answered completed"
    assert (form["MachineDetection"], form["AsyncAmd"]) == ("DetectMessageEnd", "true")
    assert form["AsyncAmdStatusCallback"] == f"https://phonebridge.test/twilio/amd?call={call.id}"
    assert call.call_control_id in twilio.calls


async def test_a_refused_dial_fails_the_call_in_twilios_words(fake_twilio):
    twilio = fake_twilio()
    # https://www.twilio.com/docs/api/errors/21215: a number the account may not call.
    twilio.fail("Calls.json", 400, 21215, "Geo Permission configuration is not permitting call")
    with pytest.raises(dialing.CallFailed) as caught:
        await dialing.place_call(to="+15551230000", from_="+15550002222")
    call = caught.value.call
    await call.arefresh_from_db()
    assert call.status == "failed"
    assert call.failure_reason == (
        "Twilio refused the call: Twilio error 21215: Geo Permission configuration is not "
        "permitting call. https://www.twilio.com/docs/errors/21215"
    )


async def test_hang_up_completes_the_call(fake_twilio):
    twilio = fake_twilio()
    call = await live_call(twilio)
    await actions.hang_up(call=call)
    assert twilio.forms(f"{call.call_control_id}.json") == [{"Status": "completed"}]


async def test_hanging_up_a_call_that_is_over_closes_it_here(fake_twilio):
    twilio = fake_twilio()
    call = await live_call(twilio)
    twilio.calls[call.call_control_id]["status"] = "completed"
    await actions.hang_up(call=call)
    await call.arefresh_from_db()
    assert call.status == "ended"


async def test_transfer_dials_the_number_with_new_twiml(fake_twilio):
    twilio = fake_twilio()
    call = await live_call(twilio)
    await actions.transfer(call=call, to="+15559998888")
    [form] = twilio.forms(f"{call.call_control_id}.json")
    assert parse(form["Twiml"]).find("Dial/Number").text == "+15559998888"


async def test_reject_and_start_stream_and_answer_update_the_call(fake_twilio):
    twilio = fake_twilio()
    call = await live_call(twilio)
    control = TwilioCallControl()
    await control.reject(call=call, busy=False)
    await control.answer(call=call, token="tok-a")
    await control.start_stream(call=call, token="tok-b")
    reject, answer, stream = (f["Twiml"] for f in twilio.forms(f"{call.call_control_id}.json"))
    assert parse(reject).find("Reject").get("reason") == "rejected"
    assert parse(answer).find("Connect/Stream").get("url").endswith(f"/{call.id}/tok-a")
    assert parse(stream).find("Connect/Stream").get("url").endswith(f"/{call.id}/tok-b")


async def test_a_lost_stream_is_restarted_with_a_fresh_token(fake_twilio):
    twilio = fake_twilio()
    call = await live_call(twilio)
    assert await actions.start_stream(call=call, reason="media stream lost (socket closed)")
    [form] = twilio.forms(f"{call.call_control_id}.json")
    url = parse(form["Twiml"]).find("Connect/Stream").get("url")
    await call.arefresh_from_db()
    assert call.media_token_matches(url.rsplit("/", 1)[1])


async def test_the_apology_is_said_then_the_call_hung_up(fake_twilio, settings):
    settings.TWILIO_SAY_VOICE = "Polly.Joanna"
    twilio = fake_twilio()
    call = await live_call(twilio)
    await actions.apologize_and_hang_up(call=call, reason="agent unavailable")
    [form] = twilio.forms(f"{call.call_control_id}.json")
    root = parse(form["Twiml"])
    assert [c.tag for c in root] == ["Say", "Hangup"]
    assert root.find("Say").get("voice") == "Polly.Joanna"
    await call.arefresh_from_db()
    assert (call.status, call.failure_reason) == ("failed", "agent unavailable")


async def test_recording_uses_the_recordings_api_on_two_channels(fake_twilio):
    twilio = fake_twilio()
    call = await live_call(twilio)
    await actions.start_recording(call=call)
    await actions.stop_recording(call=call)
    [start] = twilio.forms("/Recordings.json")
    assert start["RecordingChannels"] == "dual"
    assert start["RecordingStatusCallback"] == (
        f"https://phonebridge.test/twilio/recording?call={call.id}"
    )
    [stop] = twilio.forms("/Recordings/Twilio.CURRENT.json")
    assert stop == {"Status": "stopped"}


async def test_transcription_is_refused_with_a_reason_operators_can_read(fake_twilio):
    fake_twilio()
    call = Call(carrier="twilio", call_control_id="CA" + "1" * 32)
    with pytest.raises(CarrierError) as caught:
        await TwilioCallControl().start_transcription(call=call)
    assert "not transcribed" in caught.value.for_humans()


async def test_dtmf_needs_a_live_media_stream(fake_twilio):
    twilio = fake_twilio()
    call = await live_call(twilio)
    with pytest.raises(CarrierError, match="no media stream"):
        await actions.send_dtmf(call=call, digits="12#")


@pytest.mark.parametrize(
    ("twilio_status", "state"),
    [
        ("ringing", CallState.ALIVE),
        ("in-progress", CallState.ALIVE),
        ("completed", CallState.ENDED),
        ("no-answer", CallState.ENDED),
    ],
)
async def test_call_state_follows_twilios_status(fake_twilio, twilio_status, state):
    twilio = fake_twilio()
    call = await live_call(twilio)
    twilio.calls[call.call_control_id]["status"] = twilio_status
    assert await TwilioCallControl().call_state(call=call) is state


async def test_a_call_twilio_does_not_know_is_forgotten(fake_twilio):
    fake_twilio()
    call = Call(carrier="twilio", call_control_id="CA" + "9" * 32)
    assert await TwilioCallControl().call_state(call=call) is CallState.FORGOTTEN


async def test_reconciliation_closes_a_stale_twilio_call(fake_twilio, settings):
    twilio = fake_twilio()
    call = await live_call(twilio)
    twilio.calls[call.call_control_id]["status"] = "completed"
    await Call.objects.filter(pk=call.pk).aupdate(
        last_activity_at=call.created_at.replace(year=2000)
    )
    await reconcile.reconcile_calls(idle_seconds=60)
    await call.arefresh_from_db()
    assert call.status == "ended"
    assert call.hangup_cause == "reconciled"


async def test_no_command_is_sent_before_twilio_named_the_call(fake_twilio):
    twilio = fake_twilio()
    call = await sync_to_async(Call.objects.create)(carrier="twilio", direction="outbound")
    await actions.hang_up(call=call)
    assert twilio.requests == []
    await call.arefresh_from_db()
    assert call.failure_reason == "hung up before Twilio knew the call"
