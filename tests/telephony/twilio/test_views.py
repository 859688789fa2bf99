"""Our Twilio webhooks end to end through Django: verify, store once, answer, act."""

from __future__ import annotations

import asyncio
import xml.etree.ElementTree as ET
from datetime import timedelta
from urllib.parse import urlencode

import pytest
from asgiref.sync import sync_to_async
from django.db import OperationalError
from django.utils import timezone

from calls.models import Call, CallEvent
from telephony import tasks
from telephony.twilio import views
from telephony.twilio.client import get_client
from tests.telephony.twilio.conftest import CALL_SID, sign, status_params, voice_params

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("twilio_settings")]


def twiml_of(response) -> ET.Element:
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/xml")
    return ET.fromstring(response.content.split(b"?>", 1)[1])  # noqa: S314 - our own TwiML, built by the code under test


# The voice webhook ----------------------------------------------------------------------------


async def test_an_inbound_call_is_registered_and_answered_with_a_tokenized_stream(post_twilio):
    root = twiml_of(await post_twilio("/twilio/voice", voice_params()))
    call = await Call.objects.aget(call_control_id=CALL_SID)
    assert (call.carrier, call.direction, call.status) == ("twilio", "inbound", "answered")
    assert (call.from_number, call.to_number) == ("+15557654321", "+15550002222")
    stream = root.find("Connect/Stream")
    prefix = f"wss://phonebridge.test/twilio/media/{call.id}/"
    assert stream.get("url").startswith(prefix)
    assert call.media_token_matches(stream.get("url").removeprefix(prefix))
    assert stream.get("statusCallback") == f"https://phonebridge.test/twilio/status?call={call.id}"
    assert {p.get("name"): p.get("value") for p in stream} == {"call_id": str(call.id)}


async def test_a_burst_of_calls_is_answered_at_the_workers_pace(post_twilio, settings):
    settings.ANSWERS_PER_SECOND = 5.0
    settings.ANSWER_BURST = 1
    loop = asyncio.get_running_loop()

    async def ring(call_sid: str) -> float:
        twiml_of(await post_twilio("/twilio/voice", voice_params(call_sid)))
        return loop.time()

    started = loop.time()
    first, second = await asyncio.gather(ring("CA" + "1" * 32), ring("CA" + "2" * 32))
    # Twilio answers when it gets the TwiML: the second call's comes a turn (0.2 s) later.
    assert sorted([first - started, second - started])[1] >= 0.2 - 0.01
    # Each is answered as of its turn, so its ring time says what the caller waited.
    rang = []
    async for call in Call.objects.order_by("answered_at"):
        voice = await CallEvent.objects.aget(call=call, type="twilio.voice")
        assert call.status == "answered"
        rang.append((call.answered_at - voice.occurred_at).total_seconds())
    assert rang[0] == pytest.approx(0, abs=0.02)
    assert rang[1] == pytest.approx(0.2, abs=0.05)


async def test_a_refused_call_gives_its_turn_to_the_next_caller(post_twilio, settings):
    settings.ANSWERS_PER_SECOND = 1.0
    settings.ANSWER_BURST = 1
    await post_twilio("/twilio/voice", voice_params())
    loop = asyncio.get_running_loop()
    started = loop.time()
    # A replay of the first call's webhook is refused, and must not hold the next turn.
    root = twiml_of(await post_twilio("/twilio/voice", voice_params()))
    assert root.find("Reject") is not None
    assert loop.time() - started < 0.5
    second = "CA" + "2" * 32
    twiml_of(await post_twilio("/twilio/voice", voice_params(second)))
    assert 0.8 < loop.time() - started < 1.5  # one turn (1 s at one a second), not two


async def test_the_voice_webhook_is_stored_without_any_token(post_twilio):
    await post_twilio("/twilio/voice", voice_params())
    event = await CallEvent.objects.aget(type="twilio.voice")
    assert event.event_id == f"twilio:{CALL_SID}:voice"
    assert event.payload["params"]["From"] == "+15557654321"


async def test_a_replayed_voice_webhook_gets_no_media_url(post_twilio):
    await post_twilio("/twilio/voice", voice_params())
    root = twiml_of(await post_twilio("/twilio/voice", voice_params()))
    assert root.find("Reject").get("reason") == "busy"
    assert root.find("Connect") is None
    assert await Call.objects.acount() == 1


async def test_an_inbound_call_the_database_refuses_hears_busy_and_the_next_one_reconnects(
    post_twilio, monkeypatch
):
    def refuse(event_id: str) -> bool:
        raise OperationalError("database is locked")

    monkeypatch.setattr(CallEvent, "is_stored", refuse)
    root = twiml_of(await post_twilio("/twilio/voice", voice_params()))
    assert root.find("Reject").get("reason") == "busy"
    assert root.find("Connect") is None
    monkeypatch.undo()
    twiml_of(await post_twilio("/twilio/voice", voice_params()))  # Twilio's next call: served
    assert await Call.objects.acount() == 1


async def test_a_callback_the_database_refuses_gets_a_503_so_that_twilio_sends_it_again(
    post_twilio, monkeypatch
):
    await post_twilio("/twilio/voice", voice_params())

    def refuse(event: object) -> None:
        raise OperationalError("database is locked")

    monkeypatch.setattr(views, "record_event", refuse)
    refused = await post_twilio("/twilio/status", status_params(CALL_SID, "ringing", 1))
    assert refused.status_code == 503
    monkeypatch.undo()
    stored = await post_twilio("/twilio/status", status_params(CALL_SID, "ringing", 1))
    assert stored.status_code == 200
    assert stored.json() == {"status": "stored"}


async def test_a_forged_voice_webhook_is_refused_and_nothing_is_stored(async_client):
    params = voice_params()
    response = await async_client.post(
        "/twilio/voice",
        data=urlencode(params),
        content_type="application/x-www-form-urlencoded",
        headers={"X-Twilio-Signature": sign("https://phonebridge.test/twilio/voice", params, "x")},
    )
    assert response.status_code == 403
    assert response.json() == {"error": "signature does not match"}
    assert not await Call.objects.aexists()


async def test_an_unsigned_webhook_is_refused(async_client):
    response = await async_client.post(
        "/twilio/status",
        data=urlencode(status_params(CALL_SID, "ringing", 1)),
        content_type="application/x-www-form-urlencoded",
    )
    assert response.status_code == 403
    assert not await CallEvent.objects.aexists()


async def test_behind_a_tls_proxy_the_forwarded_scheme_is_the_one_signed(
    async_client, settings, monkeypatch
):
    # No PUBLIC_HOST and no ngrok: the request's own host, with the scheme the proxy says
    # Twilio used (BEHIND_TLS_PROXY trusts X-Forwarded-Proto), is the URL Twilio signed.
    from telephony import public_host

    monkeypatch.setattr(public_host, "detect_ngrok_host", lambda timeout=1.0: None)
    public_host._detected_host.cache_clear()
    settings.PUBLIC_HOST = ""
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    params = status_params(CALL_SID, "ringing", 1)

    async def post(proto: str):
        return await async_client.post(
            "/twilio/status",
            data=urlencode(params),
            content_type="application/x-www-form-urlencoded",
            headers={
                "X-Twilio-Signature": sign("https://testserver/twilio/status", params),
                "X-Forwarded-Proto": proto,
            },
        )

    assert (await post("http")).status_code == 403
    assert (await post("https")).status_code == 200


async def test_a_server_reached_directly_verifies_on_its_own_url(async_client, settings):
    settings.PUBLIC_HOST = "elsewhere.example"
    params = voice_params()
    response = await async_client.post(
        "/twilio/voice",
        data=urlencode(params),
        content_type="application/x-www-form-urlencoded",
        headers={"X-Twilio-Signature": sign("http://testserver/twilio/voice", params)},
    )
    assert response.status_code == 200


async def test_a_signed_webhook_without_a_call_sid_is_a_400(post_twilio):
    params = voice_params()
    del params["CallSid"]
    response = await post_twilio("/twilio/voice", params)
    assert response.status_code == 400
    assert "CallSid" in response.json()["error"]


async def test_get_is_not_allowed(async_client):
    assert (await async_client.get("/twilio/voice")).status_code == 405


async def test_a_body_too_large_is_a_413(post_twilio):
    response = await post_twilio("/twilio/status", {"Filler": "x" * 70000})
    assert response.status_code == 413


async def test_a_call_over_capacity_is_rejected_busy_and_says_what_the_caller_heard(
    post_twilio, settings
):
    settings.BRIDGE = "stream"  # prepares the agent ahead: needs room in the lane
    settings.MAX_BACKGROUND_TASKS = 1
    gate = asyncio.Event()
    assert tasks.spawn(gate.wait(), name="filler") is not None
    try:
        root = twiml_of(await post_twilio("/twilio/voice", voice_params()))
    finally:
        gate.set()
        await tasks.drain()
    assert root.find("Reject").get("reason") == "busy"
    call = await Call.objects.aget(call_control_id=CALL_SID)
    assert call.status == "failed"
    assert call.failure_reason == (
        "over capacity: no room to prepare the agent; the caller heard a busy tone at once"
    )
    assert await CallEvent.objects.filter(call=call, type="answer.rejected").aexists()


async def test_with_no_public_host_the_caller_hears_busy(post_twilio, settings, monkeypatch):
    from telephony import public_host

    monkeypatch.setattr(public_host, "detect_ngrok_host", lambda timeout=1.0: None)
    public_host._detected_host.cache_clear()
    settings.PUBLIC_HOST = ""
    settings.ALLOWED_HOSTS = ["testserver"]
    params = voice_params()
    response = await post_twilio("/twilio/voice", params)  # signed for the public URL: 403
    assert response.status_code == 403
    from django.test import AsyncClient

    signed = sign("http://testserver/twilio/voice", params)
    response = await AsyncClient().post(
        "/twilio/voice",
        data=urlencode(params),
        content_type="application/x-www-form-urlencoded",
        headers={"X-Twilio-Signature": signed},
    )
    assert twiml_of(response).find("Reject").get("reason") == "busy"
    call = await Call.objects.aget(call_control_id=CALL_SID)
    assert call.status == "failed"
    assert call.failure_reason.startswith("no media URL to give Twilio: No public host")
    assert call.failure_reason.endswith("the caller heard a busy tone at once")


# Status callbacks -----------------------------------------------------------------------------


async def outbound_call(**fields) -> Call:
    return await Call.objects.acreate(
        carrier="twilio",
        direction="outbound",
        from_number="+15550002222",
        to_number="+15551230000",
        **fields,
    )


async def test_the_first_callback_gives_an_outbound_call_its_call_sid(post_twilio):
    call = await outbound_call()
    await post_twilio(
        "/twilio/status", status_params(CALL_SID, "initiated", 0), query=f"call={call.id}&attempt=1"
    )
    await call.arefresh_from_db()
    assert call.call_control_id == CALL_SID
    assert await CallEvent.objects.filter(call=call, type="twilio.call.initiated").aexists()


async def test_a_callback_naming_a_call_that_has_another_sid_is_stored_alone(post_twilio):
    call = await outbound_call(call_control_id="CA" + "b" * 32)
    response = await post_twilio(
        "/twilio/status", status_params(CALL_SID, "ringing", 1), query=f"call={call.id}"
    )
    assert response.status_code == 200
    event = await CallEvent.objects.aget(type="twilio.call.ringing")
    assert event.call_id is None


async def test_a_repeated_status_callback_is_stored_once(post_twilio):
    await outbound_call(call_control_id=CALL_SID)
    first = await post_twilio("/twilio/status", status_params(CALL_SID, "ringing", 1))
    again = await post_twilio("/twilio/status", status_params(CALL_SID, "ringing", 1))
    assert (first.json(), again.json()) == ({"status": "stored"}, {"status": "duplicate"})
    assert await CallEvent.objects.filter(type="twilio.call.ringing").acount() == 1


async def post_statuses(post_twilio, statuses, **extra):
    for sequence, status in statuses:
        params = status_params(CALL_SID, status, sequence, **extra.get(status, {}))
        assert (await post_twilio("/twilio/status", params)).status_code == 200
    await tasks.drain()


async def test_an_answered_call_that_completes_ends_with_its_times(post_twilio):
    call = await outbound_call(call_control_id=CALL_SID)
    await post_statuses(
        post_twilio,
        [(0, "initiated"), (1, "ringing"), (2, "in-progress"), (3, "completed")],
        completed={"CallDuration": "1"},
    )
    await call.arefresh_from_db()
    assert (call.status, call.hangup_cause) == ("ended", "normal_clearing")
    assert call.ringing_at.second == 1
    assert call.answered_at.second == 2
    assert call.ended_at.second == 3
    assert call.ring_time == timedelta(seconds=1)


@pytest.mark.parametrize(
    ("status", "extra", "outcome", "cause"),
    [
        ("busy", {}, "busy", "user_busy"),
        ("no-answer", {}, "no_answer", "no_answer"),
        ("canceled", {}, "no_answer", "originator_cancel"),
        ("failed", {"SipResponseCode": "404"}, "no_answer", "failed"),
        ("failed", {"SipResponseCode": "603"}, "rejected", "call_rejected"),
    ],
)
async def test_an_outbound_call_that_never_connected_says_how(
    post_twilio, status, extra, outcome, cause
):
    call = await outbound_call(call_control_id=CALL_SID)
    await post_statuses(post_twilio, [(1, "ringing"), (2, status)], **{status: extra})
    await call.arefresh_from_db()
    assert (call.status, call.hangup_cause) == (outcome, cause)
    assert call.sip_hangup_cause == extra.get("SipResponseCode", "")


async def test_an_inbound_caller_who_hangs_up_while_ringing_is_missed(post_twilio):
    call = await Call.objects.acreate(
        carrier="twilio", direction="inbound", call_control_id=CALL_SID
    )
    await post_statuses(post_twilio, [(1, "canceled")])
    await call.arefresh_from_db()
    assert call.status == "missed"


async def test_callbacks_in_any_order_end_in_the_same_state(post_twilio):
    call = await outbound_call(call_control_id=CALL_SID)
    await post_statuses(
        post_twilio, [(3, "completed"), (1, "ringing"), (2, "in-progress"), (0, "initiated")]
    )
    await call.arefresh_from_db()
    assert call.status == "ended"
    assert (call.ringing_at.second, call.answered_at.second, call.ended_at.second) == (1, 2, 3)


async def test_a_late_answer_joins_a_no_answer_into_ended(post_twilio):
    call = await outbound_call(call_control_id=CALL_SID)
    await post_statuses(post_twilio, [(3, "no-answer"), (2, "in-progress")])
    await call.arefresh_from_db()
    assert call.status == "ended"


async def test_answered_by_is_recorded_from_the_status_and_the_amd_callback(post_twilio):
    call = await outbound_call(call_control_id=CALL_SID)
    await post_statuses(
        post_twilio, [(2, "in-progress")], **{"in-progress": {"AnsweredBy": "human"}}
    )
    await call.arefresh_from_db()
    assert call.amd_result == "human"

    other = await outbound_call(call_control_id="CA" + "c" * 32)
    amd = {
        "CallSid": other.call_control_id,
        "AnsweredBy": "machine_end_beep",
        "MachineDetectionDuration": "2400",
    }
    assert (await post_twilio("/twilio/amd", amd, query=f"call={other.id}")).status_code == 200
    await other.arefresh_from_db()
    assert other.amd_result == "machine_end_beep"


async def test_the_stream_callbacks_drive_streaming(post_twilio):
    call = await outbound_call(call_control_id=CALL_SID, status="answered")
    started = {
        "CallSid": CALL_SID,
        "StreamSid": "MZ1",
        "StreamEvent": "stream-started",
        "Timestamp": "Tue, 24 Nov 2026 10:00:05 +0000",
    }
    await post_twilio("/twilio/status", started, query=f"call={call.id}")
    await call.arefresh_from_db()
    assert call.status == "streaming"
    assert call.streaming_started_at.second == 5


async def test_a_stream_error_fails_the_call_and_hangs_it_up(post_twilio, fake_twilio):
    twilio = fake_twilio()
    created = await get_client().create_call(To="+15551230000", From="+15550002222")
    call = await outbound_call(call_control_id=created["sid"], status="streaming")
    error = {
        "CallSid": created["sid"],
        "StreamSid": "MZ1",
        "StreamEvent": "stream-error",
        "StreamError": "Stream - WebSocket - Connection Refused",
    }
    await post_twilio("/twilio/status", error)
    await tasks.drain()
    await call.arefresh_from_db()
    assert call.status == "failed"
    assert call.failure_reason == "media stream failed: Stream - WebSocket - Connection Refused"
    assert twilio.forms(f"{created['sid']}.json")[-1] == {"Status": "completed"}


async def test_a_completed_recording_is_kept_as_https_links(post_twilio):
    call = await outbound_call(call_control_id=CALL_SID, status="streaming")
    url = "https://api.twilio.com/2010-04-01/Accounts/AC0/Recordings/RE1"
    params = {
        "CallSid": CALL_SID,
        "RecordingSid": "RE1",
        "RecordingUrl": url,
        "RecordingStatus": "completed",
        "RecordingChannels": "2",
        "RecordingStartTime": "Tue, 24 Nov 2026 10:00:05 +0000",
        "RecordingDuration": "12",
    }
    await post_twilio("/twilio/recording", params)
    await post_twilio("/twilio/recording", params)  # a retry changes nothing
    await call.arefresh_from_db()
    [entry] = call.telnyx_recording_urls
    assert entry["recording_id"] == "RE1"
    assert entry["channels"] == "2"
    assert entry["urls"] == {"wav": url + ".wav", "mp3": url + ".mp3"}


async def test_a_recording_link_that_is_not_https_is_not_kept(post_twilio):
    call = await outbound_call(call_control_id=CALL_SID)
    params = {
        "CallSid": CALL_SID,
        "RecordingSid": "RE2",
        "RecordingUrl": "javascript:alert(1)//",
        "RecordingStatus": "completed",
    }
    await post_twilio("/twilio/recording", params)
    await call.arefresh_from_db()
    assert call.telnyx_recording_urls[0]["urls"] == {}


async def test_a_callback_for_a_call_we_do_not_know_is_stored_and_acknowledged(post_twilio):
    response = await post_twilio("/twilio/status", status_params(CALL_SID, "completed", 4))
    assert response.json() == {"status": "stored"}
    assert (await CallEvent.objects.aget()).call_id is None


async def test_a_completed_call_closes_its_media_token(post_twilio):
    call = await outbound_call(call_control_id=CALL_SID)
    token = await sync_to_async(call.issue_media_token)(ttl_seconds=60)
    await post_statuses(post_twilio, [(3, "completed")])
    await call.arefresh_from_db()
    assert not call.media_token_matches(token)
    assert call.media_token_expires_at <= timezone.now()
