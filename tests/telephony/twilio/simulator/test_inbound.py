from __future__ import annotations

import asyncio
import base64

import pytest

from telephony.simulation.scenario import Scenario
from tests.telephony.twilio.simulator.conftest import CALLER, NUMBER, connect_twiml

pytestmark = pytest.mark.timeout(30)


async def ring(sim, **scenario):
    fields = {"from_": CALLER, "to": NUMBER, "duration_s": 1.0, **scenario}
    return await sim.carrier.start_inbound_call(Scenario(**fields))


async def test_an_inbound_call_posts_a_signed_voice_webhook_with_twilios_parameters(sim, ours):
    call = await ring(sim)
    form = await ours.wait_for("/twilio/voice")
    assert form.verified
    assert form.headers["content-type"] == "application/x-www-form-urlencoded"
    params = form.params
    assert params["CallSid"] == call.sid
    assert call.sid.startswith("CA")
    assert len(call.sid) == 34
    assert params["AccountSid"] == sim.account_sid
    assert (params["From"], params["To"]) == (CALLER, NUMBER)
    assert (params["Caller"], params["Called"]) == (CALLER, NUMBER)
    assert params["CallStatus"] == "ringing"
    assert params["Direction"] == "inbound"
    assert params["ApiVersion"] == "2010-04-01"


async def test_hangup_twiml_ends_the_call_and_the_numbers_status_callback_hears_completed(
    sim, ours
):
    call = await ring(sim)
    assert await asyncio.wait_for(call.ended.wait(), 5)
    done = await ours.wait_for("/twilio/status", CallStatus="completed")
    assert done.verified
    assert done.params["CallSid"] == call.sid
    assert done.params["CallbackSource"] == "call-progress-events"
    assert done.params["SequenceNumber"] == "0"
    assert done.params["SipResponseCode"] == "200"
    assert "CallDuration" in done.params
    assert "Timestamp" in done.params


@pytest.mark.parametrize(("reason", "status"), [("busy", "busy"), ("rejected", "no-answer")])
async def test_reject_ends_an_unanswered_call_with_the_status_its_reason_names(
    sim, ours, reason, status
):
    ours.twiml = f'<Response><Reject reason="{reason}"/></Response>'
    call = await ring(sim)
    await asyncio.wait_for(call.ended.wait(), 5)
    assert call.status == status
    assert call.answer_time is None
    done = await ours.wait_for("/twilio/status")
    assert done.params["CallStatus"] == status


async def test_connect_stream_speaks_twilios_media_protocol(sim, ours, stream_server):
    ours.twiml = connect_twiml(stream_server.url, direction="inbound", caller="x")
    call = await ring(sim, duration_s=1.0)
    media = await stream_server.wait_frames("media", 10)
    connected, start = stream_server.frames[0], stream_server.frames[1]
    assert connected == {"event": "connected", "protocol": "Call", "version": "1.0.0"}
    assert start["event"] == "start"
    stream_sid = start["streamSid"]
    assert stream_sid.startswith("MZ")
    assert len(stream_sid) == 34
    assert start["start"] == {
        "accountSid": sim.account_sid,
        "streamSid": stream_sid,
        "callSid": call.sid,
        "tracks": ["inbound"],
        "customParameters": {"direction": "inbound", "caller": "x"},
        "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1},
    }
    first = media[0]
    assert first["streamSid"] == stream_sid
    assert first["media"]["track"] == "inbound"
    assert (first["media"]["chunk"], first["media"]["timestamp"]) == ("1", "0")
    assert isinstance(first["sequenceNumber"], str)
    assert len(base64.b64decode(first["media"]["payload"])) == 160
    assert media[1]["media"]["timestamp"] == "20"
    await asyncio.wait_for(call.ended.wait(), 5)
    stop = stream_server.of("stop")[0]
    assert stop["stop"] == {"accountSid": sim.account_sid, "callSid": call.sid}
    assert call.answer_time is not None
    report = call.media_reports[0]
    assert report.frames_received > 0  # our echo was heard
    assert report.rtt_ms  # and matched to what was sent


async def test_marks_come_back_after_their_audio_has_played_and_at_once_on_clear(
    sim, ours, stream_server
):
    stream_server.echo = False
    ours.twiml = connect_twiml(stream_server.url)
    await ring(sim, hangup_by="never")
    start = (await stream_server.wait_frames("start"))[0]
    sid = start["streamSid"]
    silence = base64.b64encode(b"\xff" * 160 * 10).decode()  # 200 ms
    await stream_server.send({"event": "media", "streamSid": sid, "media": {"payload": silence}})
    await stream_server.send({"event": "mark", "streamSid": sid, "mark": {"name": "one"}})
    await asyncio.sleep(0.05)
    assert not stream_server.of("mark")  # the audio before it is still playing
    mark = (await stream_server.wait_frames("mark", 1, timeout=2))[0]
    assert mark == {
        "event": "mark",
        "sequenceNumber": mark["sequenceNumber"],
        "streamSid": sid,
        "mark": {"name": "one"},
    }
    long = base64.b64encode(b"\xff" * 160 * 100).decode()  # 2 s
    await stream_server.send({"event": "media", "streamSid": sid, "media": {"payload": long}})
    await stream_server.send({"event": "mark", "streamSid": sid, "mark": {"name": "two"}})
    await stream_server.send({"event": "clear", "streamSid": sid})
    marks = await stream_server.wait_frames("mark", 2, timeout=0.5)
    assert marks[1]["mark"]["name"] == "two"


async def test_a_frame_with_another_streams_sid_is_logged_and_ignored(sim, ours, stream_server):
    stream_server.echo = False
    ours.twiml = connect_twiml(stream_server.url)
    call = await ring(sim, hangup_by="never")
    await stream_server.wait_frames("start")
    other = "MZ" + "0" * 32
    await stream_server.send({"event": "mark", "streamSid": other, "mark": {"name": "x"}})
    assert stream_server.connection is not None
    await stream_server.connection.send(b"\x00\x01")
    await asyncio.sleep(0.2)
    assert not stream_server.of("mark")
    assert call.media.stats.errors_sent == [31951, 31950]


async def test_dtmf_reaches_the_stream_as_twilios_dtmf_message(sim, ours, stream_server):
    ours.twiml = connect_twiml(stream_server.url)
    await ring(sim, dtmf="12", dtmf_at_s=0.1, duration_s=2.0)
    dtmf = await stream_server.wait_frames("dtmf", 2)
    assert [d["dtmf"] for d in dtmf] == [
        {"track": "inbound_track", "digit": "1"},
        {"track": "inbound_track", "digit": "2"},
    ]
    assert dtmf[0]["streamSid"] == stream_server.frames[1]["streamSid"]


async def test_closing_the_socket_moves_on_to_the_next_verb(sim, ours, stream_server):
    ours.twiml = (
        f'<Response><Connect><Stream url="{stream_server.url}"/></Connect>'
        "<Say>Goodbye</Say></Response>"
    )
    call = await ring(sim, hangup_by="never", time_scale=0.1)
    await stream_server.wait_frames("media", 3)
    assert stream_server.connection is not None
    await stream_server.connection.close()
    await asyncio.wait_for(call.ended.wait(), 5)
    assert call.played == [{"verb": "Say", "text": "Goodbye"}]
    assert (call.status, call.hung_up_by) == ("completed", "twiml")


async def test_a_voice_webhook_refused_with_403_plays_the_apology_and_logs_11200(sim, ours):
    ours.token = "not-the-account-token"  # our server now refuses every signature
    call = await ring(sim, time_scale=0.01)
    await asyncio.wait_for(call.ended.wait(), 5)
    assert 11200 in call.notifications
    assert not ours.at("/twilio/voice")[0].verified


async def test_twiml_that_does_not_parse_is_error_12100(sim, ours):
    ours.twiml = "<Response><Connect>"
    call = await ring(sim, time_scale=0.01)
    await asyncio.wait_for(call.ended.wait(), 5)
    assert 12100 in call.notifications


async def test_the_caller_giving_up_before_an_answer_cancels_the_call(sim, ours):
    ours.twiml = "<Response><Pause length='5'/></Response>"
    call = await ring(sim, hangup_before_answer_s=0.0)
    await asyncio.wait_for(call.ended.wait(), 5)
    assert call.status in ("canceled", "completed")


async def test_a_dropped_media_socket_ends_a_connect_stream_and_the_call(sim, ours, stream_server):
    ours.twiml = connect_twiml(stream_server.url)
    call = await ring(sim, hangup_by="never")
    await stream_server.wait_frames("media", 5)
    await sim.carrier.drop_stream(call)
    await asyncio.wait_for(stream_server.closed.wait(), 5)
    await asyncio.wait_for(call.ended.wait(), 5)
    assert stream_server.of("stop") == []  # no goodbye: the socket just died
    assert call.media_reports[0].closed_by == "dropped"
    assert (call.status, call.hung_up_by) == ("completed", "twiml")


async def test_a_forged_voice_webhook_is_followed_by_a_clean_one(sim, ours):
    from telephony.simulation.scenario import WebhookFaults

    call = await ring(sim, webhook_faults=WebhookFaults(bad_signature=1.0))
    await asyncio.wait_for(call.ended.wait(), 5)
    voice = ours.at("/twilio/voice")
    assert [f.verified for f in voice] == [False, True]
    assert voice[0].params == voice[1].params
