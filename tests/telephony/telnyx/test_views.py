"""POST /telnyx/events end to end through Django: verify, store, 2xx, then act."""

from __future__ import annotations

import base64
import json
import time

import pytest
from nacl.signing import SigningKey

from calls.models import Call, CallEvent, CarrierCommand
from telephony import tasks
from tests.conftest import sign, webhook

pytestmark = pytest.mark.django_db(transaction=True)

INBOUND = {
    "call_control_id": "v3:inbound-1",
    "call_leg_id": "leg-a",
    "call_session_id": "session-a",
    "connection_id": "1234567890",
    "direction": "incoming",
    "state": "parked",
    "from": "+15557654321",
    "to": "+15550001111",
    "client_state": None,
}


async def test_an_inbound_call_is_stored_and_answered_with_bidirectional_streaming(
    async_post_webhook, fake_telnyx
):
    telnyx = fake_telnyx()
    response = await async_post_webhook(webhook("call.initiated", INBOUND, id="evt-1"))
    assert response.status_code == 200
    await tasks.drain()

    call = await Call.objects.aget(call_control_id="v3:inbound-1")
    assert (call.direction, call.status) == ("inbound", "initiated")
    assert (call.from_number, call.to_number) == ("+15557654321", "+15550001111")
    assert await CallEvent.objects.filter(event_id="evt-1", call=call).aexists()

    [answer] = telnyx.bodies("/actions/answer")
    assert answer["stream_url"].startswith(f"wss://phonebridge.test/telnyx/media/{call.id}/")
    token = answer["stream_url"].rsplit("/", 1)[1]
    assert call.media_token_matches(token)
    assert answer["stream_track"] == "inbound_track"
    assert answer["stream_bidirectional_mode"] == "rtp"
    assert answer["stream_bidirectional_codec"] == "PCMU"
    assert answer["stream_bidirectional_target_legs"] == "self"
    assert base64.b64decode(answer["client_state"]).decode() == str(call.id)
    assert "stream_bidirectional_sampling_rate" not in answer  # not an answer field (§1.7)
    assert len(answer["command_id"]) == 36
    command = await CarrierCommand.objects.aget(call=call, name="answer")
    assert (command.ok, command.status_code, command.attempts) == (True, 200, 1)


async def test_the_codec_and_target_legs_are_settings(async_post_webhook, fake_telnyx, settings):
    settings.STREAM_BIDIRECTIONAL_CODEC = "PCMA"
    settings.STREAM_BIDIRECTIONAL_TARGET_LEGS = "both"
    telnyx = fake_telnyx()
    await async_post_webhook(webhook("call.initiated", INBOUND))
    await tasks.drain()
    [answer] = telnyx.bodies("/actions/answer")
    assert (answer["stream_bidirectional_codec"], answer["stream_bidirectional_target_legs"]) == (
        "PCMA",
        "both",
    )


async def test_a_duplicate_delivery_returns_200_and_changes_nothing(
    async_post_webhook, fake_telnyx
):
    telnyx = fake_telnyx()
    envelope = webhook("call.initiated", INBOUND, id="evt-dup")
    first = await async_post_webhook(envelope)
    envelope["meta"]["attempt"] = 2
    second = await async_post_webhook(envelope)
    await tasks.drain()
    assert (first.status_code, second.status_code) == (200, 200)
    assert second.json() == {"status": "duplicate"}
    assert await Call.objects.acount() == 1
    assert len(telnyx.bodies("/actions/answer")) == 1


async def test_an_unknown_event_type_is_stored_and_acknowledged(async_post_webhook, fake_telnyx):
    fake_telnyx()
    response = await async_post_webhook(
        webhook("call.deepfake_detection.ended", {"call_control_id": "v3:x"})
    )
    assert response.status_code == 200
    assert await CallEvent.objects.filter(type="call.deepfake_detection.ended").aexists()


async def test_a_forged_webhook_is_refused_and_nothing_is_stored(async_client):
    body = json.dumps(webhook("call.initiated", INBOUND)).encode()
    forged = sign(SigningKey(b"f" * 32), body)
    response = await async_client.post(
        "/telnyx/events", body, content_type="application/json", headers=forged
    )
    assert response.status_code == 403
    assert response.json() == {"error": "signature does not match"}
    assert not await CallEvent.objects.aexists()
    assert not await Call.objects.aexists()


async def test_a_stale_webhook_is_refused(async_client, signing_key):
    body = json.dumps(webhook("call.initiated", INBOUND)).encode()
    old = sign(signing_key, body, timestamp=int(time.time()) - 3600)
    response = await async_client.post(
        "/telnyx/events", body, content_type="application/json", headers=old
    )
    assert response.status_code == 403
    assert not await CallEvent.objects.aexists()


async def test_a_webhook_without_headers_is_refused(async_client):
    response = await async_client.post("/telnyx/events", b"{}", content_type="application/json")
    assert response.status_code == 403


async def test_a_verified_body_that_is_not_an_envelope_is_a_400(async_post_webhook):
    response = await async_post_webhook(b'{"hello": "world"}')
    assert response.status_code == 400
    assert not await CallEvent.objects.aexists()


async def test_a_body_over_one_mebibyte_is_a_413(async_post_webhook):
    envelope = webhook("call.initiated", {**INBOUND, "padding": "x" * (1024 * 1024)})
    response = await async_post_webhook(envelope)
    assert response.status_code == 413
    assert not await CallEvent.objects.aexists()


async def test_get_is_not_allowed(async_client):
    response = await async_client.get("/telnyx/events")
    assert response.status_code == 405


async def test_verification_can_be_skipped_only_with_debug(async_client, settings, fake_telnyx):
    fake_telnyx()
    body = json.dumps(webhook("call.bridged", {"call_control_id": "v3:y"})).encode()
    settings.TELNYX_SKIP_SIGNATURE_VERIFICATION = True
    settings.DEBUG = False
    refused = await async_client.post("/telnyx/events", body, content_type="application/json")
    settings.DEBUG = True
    accepted = await async_client.post("/telnyx/events", body, content_type="application/json")
    assert (refused.status_code, accepted.status_code) == (403, 200)


async def test_a_hangup_ends_the_call_with_its_cause_and_quality(async_post_webhook, fake_telnyx):
    fake_telnyx()
    await async_post_webhook(webhook("call.initiated", INBOUND))
    stats = {"inbound": {"mos": "4.4", "packet_count": "500"}, "outbound": {"packet_count": "498"}}
    hangup = {
        **INBOUND,
        "state": "hangup",
        "hangup_cause": "normal_clearing",
        "hangup_source": "caller",
        "sip_hangup_cause": "200",
        "call_quality_stats": stats,
    }
    await async_post_webhook(webhook("call.hangup", hangup, occurred_at="2026-11-22T10:01:00Z"))
    await tasks.drain()
    call = await Call.objects.aget()
    assert call.status == "ended"
    assert (call.hangup_cause, call.hangup_source, call.sip_hangup_cause) == (
        "normal_clearing",
        "caller",
        "200",
    )
    assert call.call_quality_stats == stats


async def test_an_answer_refused_by_telnyx_fails_the_call_with_telnyx_words(
    async_post_webhook, fake_telnyx
):
    telnyx = fake_telnyx()
    telnyx.fail(
        "/actions/answer",
        422,
        "90015",
        "Invalid Call Control ID",
        "The call_control_id is invalid.",
    )
    await async_post_webhook(webhook("call.initiated", INBOUND))
    await tasks.drain()
    call = await Call.objects.aget()
    assert call.status == "failed"
    assert "90015" in call.failure_reason
    assert "Invalid Call Control ID" in call.failure_reason
    command = await CarrierCommand.objects.aget(name="answer")
    assert (command.ok, command.error_code, command.status_code) == (False, "90015", 422)


async def test_an_answer_to_a_call_that_already_ended_is_not_a_failure(
    async_post_webhook, fake_telnyx
):
    telnyx = fake_telnyx()
    telnyx.fail("/actions/answer", 422, "90018", "Call has already ended")
    await async_post_webhook(webhook("call.initiated", INBOUND))
    await tasks.drain()
    call = await Call.objects.aget()
    assert call.status == "initiated"
    assert (await CarrierCommand.objects.aget(name="answer")).ok


async def test_the_webhook_does_not_wait_for_telnyx(async_post_webhook, fake_telnyx):
    telnyx = fake_telnyx()
    telnyx.delay = 1.5  # slower than Telnyx's 2 s webhook timeout would allow us to wait
    started = time.monotonic()
    response = await async_post_webhook(webhook("call.initiated", INBOUND))
    elapsed = time.monotonic() - started
    assert response.status_code == 200
    assert tasks.running() == 1  # the answer is still in flight after the 2xx
    await tasks.drain()
    assert elapsed < 1.0
    assert len(telnyx.bodies("/actions/answer")) == 1


async def test_answered_calls_are_transcribed_when_asked(async_post_webhook, fake_telnyx, settings):
    settings.TRANSCRIBE_CALLS = True
    telnyx = fake_telnyx()
    await async_post_webhook(webhook("call.initiated", INBOUND))
    await async_post_webhook(webhook("call.answered", {**INBOUND, "state": "answered"}))
    await async_post_webhook(webhook("call.answered", {**INBOUND, "state": "answered"}))  # again
    await tasks.drain()
    [start] = telnyx.bodies("/actions/transcription_start")
    assert (start["transcription_tracks"], start["transcription_engine"]) == ("both", "Telnyx")


async def test_calls_are_not_transcribed_by_default(async_post_webhook, fake_telnyx):
    telnyx = fake_telnyx()
    await async_post_webhook(webhook("call.initiated", INBOUND))
    await async_post_webhook(webhook("call.answered", {**INBOUND, "state": "answered"}))
    await tasks.drain()
    assert telnyx.bodies("/actions/transcription_start") == []


# Background work under load (issue 13, item 1) ------------------------------------------


async def fill_best_effort_lane(count: int):
    import asyncio

    gate = asyncio.Event()
    for i in range(count):
        assert tasks.spawn(gate.wait(), name=f"filler-{i}") is not None
    return gate


async def test_new_calls_are_answered_while_best_effort_work_is_full(
    async_post_webhook, fake_telnyx, settings
):
    settings.MAX_BACKGROUND_TASKS = 5
    telnyx = fake_telnyx()
    telnyx.delay = 0.2  # Telnyx is slow: answers pile up behind it
    gate = await fill_best_effort_lane(5)  # say, a media peer's flood of events
    responses = [
        await async_post_webhook(
            webhook(
                "call.initiated",
                {**INBOUND, "call_control_id": f"v3:storm-{i}", "call_session_id": f"s-{i}"},
            )
        )
        for i in range(12)
    ]
    assert {r.status_code for r in responses} == {200}
    assert tasks.running_best_effort() <= 5
    gate.set()
    await tasks.drain()
    answered = {r.url.path.split("/")[-3] for r in telnyx.requests if "answer" in r.url.path}
    assert answered == {f"v3:storm-{i}" for i in range(12)}


async def test_a_burst_of_new_calls_is_acknowledged_at_once_and_answered_at_the_workers_pace(
    async_post_webhook, fake_telnyx, settings
):
    settings.ANSWERS_PER_SECOND = 5.0
    settings.ANSWER_BURST = 2
    telnyx = fake_telnyx()
    for i in range(6):
        response = await async_post_webhook(
            webhook(
                "call.initiated",
                {**INBOUND, "call_control_id": f"v3:burst-{i}", "call_session_id": f"s-{i}"},
            )
        )
        assert response.status_code == 200  # Telnyx's 2 s are not spent waiting for the turn
    assert len(telnyx.bodies("/actions/answer")) < 6  # the last ones are still waiting
    await tasks.drain()
    answered = [
        at
        for request, at in zip(telnyx.requests, telnyx.arrived_at, strict=True)
        if request.url.path.endswith("/actions/answer")
    ]
    assert len(answered) == 6
    # Two at once, then one every 0.2 s: the sixth 0.8 s after the first.
    gaps = [later - first for first, later in zip(answered, answered[2:], strict=False)]
    assert all(gap >= 0.2 - 0.01 for gap in gaps)
    assert answered[-1] - answered[0] >= 0.8 - 0.01


async def test_a_webhook_whose_follow_up_has_no_room_gets_a_503_and_its_retry_is_processed(
    async_post_webhook, fake_telnyx, settings
):
    settings.MAX_BACKGROUND_TASKS = 2
    fake_telnyx()
    await async_post_webhook(webhook("call.initiated", INBOUND))
    await tasks.drain()
    gate = await fill_best_effort_lane(2)
    # The hangup's follow-up (closing the media stream, wherever it runs) is best effort.
    hangup = webhook("call.hangup", {**INBOUND, "hangup_cause": "normal_clearing"}, id="evt-hangup")
    refused = await async_post_webhook(hangup)
    assert refused.status_code == 503
    assert not await CallEvent.objects.filter(event_id="evt-hangup").aexists()
    assert (await Call.objects.aget()).status == "initiated"  # nothing half-applied

    gate.set()
    await tasks.drain()
    retried = await async_post_webhook(hangup)  # Telnyx retries the same event id
    assert (retried.status_code, retried.json()) == (200, {"status": "stored"})
    await tasks.drain()
    call = await Call.objects.aget()
    assert (call.status, call.hangup_cause) == ("ended", "normal_clearing")
