"""The media WebSocket through Channels' WebsocketCommunicator: every frame type, every
refusal, every class of bad input."""

from __future__ import annotations

import asyncio
import base64
import json
import wave
from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest
from channels.layers import get_channel_layer
from channels.routing import URLRouter
from channels.testing import WebsocketCommunicator
from django.utils import timezone

from calls.models import Call, CallEvent
from phonebridge.routing import websocket_urlpatterns
from telephony import tasks
from telephony.bridges.echo import EchoBridge
from telephony.control import group_name, notify_stream
from telephony.media.codecs import alaw_decode, alaw_encode, l16_encode, ulaw_encode
from telephony.media.session import MediaSession
from telephony.telnyx.consumer import MediaStreamConsumer
from telephony.telnyx.stream_auth import stream_auth_token

pytestmark = pytest.mark.django_db(transaction=True)

APP = URLRouter(websocket_urlpatterns)


@pytest.fixture(autouse=True)
def _media_settings(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path)
    settings.RECORD_CALLS = True
    settings.BRIDGE = "echo"
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}


async def new_call(**fields) -> tuple[Call, str]:
    call = Call(
        direction="inbound",
        from_number="+15557654321",
        call_control_id=f"v3:{id(fields)}-{timezone.now().timestamp()}",
        bridge="echo",
        **fields,
    )
    token = call.issue_media_token(ttl_seconds=60)
    await call.asave()
    return call, token


def tone(n: int, freq: float = 440.0, rate: int = 8000, start: int = 0) -> np.ndarray:
    t = (np.arange(n) + start) / rate
    return (8000 * np.sin(2 * np.pi * freq * t)).astype(np.int16)


def media(seq: int, payload: bytes, track: str = "inbound") -> str:
    return json.dumps(
        {
            "event": "media",
            "sequence_number": str(seq),
            "stream_id": "stream-1",
            "media": {
                "track": track,
                "chunk": str(seq),
                "timestamp": str(seq * 20),
                "payload": base64.b64encode(payload).decode(),
            },
        }
    )


def start(encoding: str = "PCMU", rate: int = 8000) -> str:
    return json.dumps(
        {
            "event": "start",
            "sequence_number": "1",
            "stream_id": "stream-1",
            "start": {
                "call_control_id": "v3:x",
                "media_format": {"encoding": encoding, "sample_rate": rate, "channels": 1},
            },
        }
    )


async def send_in_real_time(communicator: WebsocketCommunicator, frames: list[str]) -> None:
    """Send `frames` as Telnyx sends a caller's media: one 20 ms frame every 20 ms, on its
    own clock (telnyx-protocol.md 1.2; RTP ptime 20), never in a burst."""
    loop = asyncio.get_running_loop()
    start = loop.time()
    for i, text in enumerate(frames):
        await asyncio.sleep(max(0.0, start + i * 0.02 - loop.time()))
        await communicator.send_to(text_data=text)


async def open_stream(call: Call, token: str, *, headers=None) -> WebsocketCommunicator:
    communicator = WebsocketCommunicator(
        APP, f"/telnyx/media/{call.pk}/{token}", headers=headers or []
    )
    connected, code = await communicator.connect()
    assert connected, code
    await communicator.send_to(text_data=json.dumps({"event": "connected", "version": "1.0.0"}))
    return communicator


async def received_media(communicator: WebsocketCommunicator, count: int) -> list[bytes]:
    frames = []
    while len(frames) < count:
        message = json.loads(await communicator.receive_from(timeout=2))
        if message["event"] == "media":
            frames.append(base64.b64decode(message["media"]["payload"]))
    return frames


async def stop(communicator: WebsocketCommunicator) -> None:
    await communicator.send_to(
        text_data=json.dumps({"event": "stop", "stream_id": "stream-1", "stop": {}})
    )
    while True:
        output = await communicator.receive_output(timeout=3)
        if output["type"] == "websocket.close":
            break
    await communicator.disconnect()
    await tasks.drain()


# Refusals ---------------------------------------------------------------------------


async def refused(path: str) -> int:
    communicator = WebsocketCommunicator(APP, path)
    connected, code = await communicator.connect()
    assert not connected
    return code


async def test_it_refuses_an_unknown_call():
    assert await refused("/telnyx/media/4f1d1d5c-1c2b-4d8e-9a50-0f4b3e1a2b3c/whatever") == 1008


async def test_it_refuses_a_path_that_is_not_a_call_id():
    assert await refused("/telnyx/media/not-a-uuid/whatever") == 1008


async def test_it_refuses_a_wrong_token():
    call, token = await new_call()
    assert await refused(f"/telnyx/media/{call.pk}/{token}x") == 1008


async def test_it_refuses_an_expired_token():
    call, token = await new_call()
    await Call.objects.filter(pk=call.pk).aupdate(
        media_token_expires_at=timezone.now() - timedelta(seconds=1)
    )
    assert await refused(f"/telnyx/media/{call.pk}/{token}") == 1008


async def test_it_refuses_a_call_that_has_ended():
    call, token = await new_call(status="ended")
    assert await refused(f"/telnyx/media/{call.pk}/{token}") == 1008


async def test_a_second_socket_for_the_same_call_is_refused():
    call, token = await new_call()
    first = await open_stream(call, token)
    assert await refused(f"/telnyx/media/{call.pk}/{token}") == 1008
    await first.disconnect()


def with_auth_header(call: Call, token: str, header: str) -> WebsocketCommunicator:
    """A socket for the stream whose path holds `token`, as Telnyx opens it: with `header` as
    its x-telnyx-streaming-auth-token."""
    return WebsocketCommunicator(
        APP,
        f"/telnyx/media/{call.pk}/{token}",
        headers=[(b"x-telnyx-streaming-auth-token", header.encode())],
    )


async def test_a_wrong_auth_header_is_refused():
    call, token = await new_call()
    communicator = with_auth_header(call, token, "nope")
    connected, code = await communicator.connect()
    assert (connected, code) == (False, 1008)


async def test_the_auth_header_derived_from_the_path_token_is_accepted(settings):
    settings.MEDIA_AUTH_HEADER_REQUIRED = True
    call, token = await new_call()
    communicator = with_auth_header(call, token, stream_auth_token(token))
    assert (await communicator.connect())[0]
    assert await echoes_a_frame(communicator, {"event": "connected", "version": "1.0.0"})


async def echoes_a_frame(communicator: WebsocketCommunicator, connected: dict) -> bool:
    """Send `connected`, `start` and a frame of speech on an open socket: whether it came back."""
    await communicator.send_to(text_data=json.dumps(connected))
    await communicator.send_to(text_data=start())
    await communicator.send_to(text_data=media(2, ulaw_encode(tone(160))))
    echoed = len(await received_media(communicator, 1)) == 1
    await communicator.disconnect()
    return echoed


async def test_a_stream_url_read_in_a_log_is_not_also_the_auth_header(settings):
    # The path's token sent as the header too: what anyone who saw the URL could send.
    settings.MEDIA_AUTH_HEADER_REQUIRED = True
    call, token = await new_call()
    communicator = with_auth_header(call, token, token)
    assert await communicator.connect() == (False, 1008)
    await call.arefresh_from_db()
    assert call.media_token_used_at is None  # refused before it claimed the token


async def test_nor_is_it_the_token_of_the_connected_frame(settings):
    settings.MEDIA_AUTH_HEADER_REQUIRED = True
    call, token = await new_call()
    communicator = WebsocketCommunicator(APP, f"/telnyx/media/{call.pk}/{token}")
    assert (await communicator.connect())[0]
    connected = {"event": "connected", "connected": {"x-telnyx-streaming-auth-token": token}}
    await communicator.send_to(text_data=json.dumps(connected))
    output = await communicator.receive_output(timeout=2)
    assert (output["type"], output["code"]) == ("websocket.close", 1008)
    await communicator.disconnect()


async def test_when_required_the_token_may_come_in_the_connected_frame(settings):
    settings.MEDIA_AUTH_HEADER_REQUIRED = True
    call, token = await new_call()
    communicator = WebsocketCommunicator(APP, f"/telnyx/media/{call.pk}/{token}")
    assert (await communicator.connect())[0]
    connected = {
        "event": "connected",
        "version": "1.0.0",
        "connected": {"x-telnyx-streaming-auth-token": stream_auth_token(token)},
    }
    assert await echoes_a_frame(communicator, connected)


async def test_when_required_a_missing_token_closes_the_stream(settings):
    settings.MEDIA_AUTH_HEADER_REQUIRED = True
    call, token = await new_call()
    communicator = WebsocketCommunicator(APP, f"/telnyx/media/{call.pk}/{token}")
    assert (await communicator.connect())[0]
    await communicator.send_to(text_data=json.dumps({"event": "connected", "version": "1.0.0"}))
    output = await communicator.receive_output(timeout=2)
    assert (
        output == {"type": "websocket.close", "code": 1008, "reason": None}
        or output["code"] == 1008
    )


# The protocol -------------------------------------------------------------------------


async def test_the_echo_bridge_returns_the_callers_audio_in_whole_20ms_frames():
    call, token = await new_call()
    communicator = await open_stream(call, token)
    await communicator.send_to(text_data=start())
    sent = [ulaw_encode(tone(160, start=i * 160)) for i in range(10)]
    for i, payload in enumerate(sent):
        await communicator.send_to(text_data=media(i + 2, payload))
    echoed = await received_media(communicator, 10)
    assert echoed == sent
    await stop(communicator)

    await call.arefresh_from_db()
    assert (call.frames_in, call.frames_out, call.bytes_in) == (10, 10, 1600)
    assert (call.media_encoding, call.media_sample_rate, call.stream_id) == (
        "PCMU",
        8000,
        "stream-1",
    )
    assert None not in (call.first_inbound_ms, call.first_outbound_ms)
    assert call.max_lead_ms <= 120
    types = [t async for t in call.events.values_list("type", flat=True)]
    assert {"media.start", "media.stop"} <= set(types)


async def test_a_pcma_caller_is_answered_in_the_pcmu_we_asked_for():
    call, token = await new_call()
    communicator = await open_stream(call, token)
    await communicator.send_to(text_data=start("PCMA"))
    audio = tone(160)
    await communicator.send_to(text_data=media(2, alaw_encode(audio)))
    [echoed] = await received_media(communicator, 1)
    # Decoded as A-law (the leg's codec), re-encoded as μ-law (the codec we asked Telnyx for).
    assert echoed == ulaw_encode(alaw_decode(alaw_encode(audio)))
    await communicator.disconnect()


async def test_an_l16_caller_is_resampled_to_the_8khz_codec_we_send():
    call, token = await new_call()
    communicator = await open_stream(call, token)
    await communicator.send_to(text_data=start("L16", 16000))
    for i in range(5):
        await communicator.send_to(
            text_data=media(i + 2, l16_encode(tone(320, rate=16000, start=i * 320)))
        )
    frames = await received_media(communicator, 3)
    assert {len(frame) for frame in frames} == {160}
    await communicator.disconnect()


async def test_frames_out_of_order_are_reordered_and_counted():
    call, token = await new_call()
    communicator = await open_stream(call, token)
    await communicator.send_to(text_data=start())
    payloads = {seq: ulaw_encode(tone(160, start=seq * 160)) for seq in range(2, 10)}
    for seq in (2, 4, 3, 5, 5, 7, 6, 8, 9):  # a swap, a duplicate, another swap
        await communicator.send_to(text_data=media(seq, payloads[seq]))
    await communicator.send_to(text_data=media(3, payloads[3]))  # delivered again, long after
    echoed = await received_media(communicator, 8)
    assert echoed == [payloads[seq] for seq in range(2, 10)]
    await stop(communicator)
    await call.arefresh_from_db()
    assert (call.frames_duplicate, call.frames_late, call.frames_missing) == (2, 0, 0)


async def test_a_frame_given_up_on_is_missing_and_late_if_it_comes_after_all():
    call, token = await new_call()
    communicator = await open_stream(call, token)
    await communicator.send_to(text_data=start())
    for seq in (2, 3, 5, 6, 7, 8, 9, 10, 4):
        await communicator.send_to(text_data=media(seq, ulaw_encode(tone(160))))
    await received_media(communicator, 8)
    await stop(communicator)
    await call.arefresh_from_db()
    assert (call.frames_missing, call.frames_late) == (1, 1)


async def test_the_outbound_track_of_both_tracks_is_not_echoed():
    call, token = await new_call()
    communicator = await open_stream(call, token)
    await communicator.send_to(text_data=start())
    await communicator.send_to(text_data=media(2, ulaw_encode(tone(160)), track="outbound"))
    assert await communicator.receive_nothing(timeout=0.2)
    await communicator.disconnect()


async def test_dtmf_is_stored_as_a_media_event():
    call, token = await new_call()
    communicator = await open_stream(call, token)
    await communicator.send_to(text_data=start())
    dtmf = {
        "event": "dtmf",
        "stream_id": "stream-1",
        "occurred_at": "2026-11-22T10:00:00Z",
        "sequence_number": "5",
        "dtmf": {"digit": "7"},
    }
    await communicator.send_to(text_data=json.dumps(dtmf))
    await stop(communicator)
    event = await CallEvent.objects.aget(call=call, type="media.dtmf")
    assert event.payload["digit"] == "7"


async def test_marks_are_sent_after_a_second_of_audio_and_echoes_are_recorded():
    call, token = await new_call()
    communicator = await open_stream(call, token)
    await communicator.send_to(text_data=start())
    for i in range(50):
        await communicator.send_to(text_data=media(i + 2, ulaw_encode(tone(160, start=i * 160))))
    mark = None
    while mark is None:
        message = json.loads(await communicator.receive_from(timeout=3))
        if message["event"] == "mark":
            mark = message["mark"]["name"]
    await communicator.send_to(
        text_data=json.dumps({"event": "mark", "stream_id": "stream-1", "mark": {"name": mark}})
    )
    await stop(communicator)
    stop_event = await CallEvent.objects.aget(call=call, type="media.stop")
    assert stop_event.payload["marks_played"] == 1


async def test_an_error_frame_is_a_warning_not_the_end():
    call, token = await new_call()
    communicator = await open_stream(call, token)
    await communicator.send_to(text_data=start())
    error = {
        "event": "error",
        "stream_id": "stream-1",
        "payload": {"code": 100003, "title": "malformed_frame", "detail": "too short"},
    }
    await communicator.send_to(text_data=json.dumps(error))
    await communicator.send_to(text_data=media(2, ulaw_encode(tone(160))))
    assert len(await received_media(communicator, 1)) == 1
    await stop(communicator)
    event = await CallEvent.objects.aget(call=call, type="media.error")
    assert event.payload["payload"]["code"] == 100003


async def test_stop_closes_the_socket_and_saves_a_valid_two_channel_recording(settings):
    call, token = await new_call()
    communicator = await open_stream(call, token)
    await communicator.send_to(text_data=start())
    await send_in_real_time(
        communicator, [media(i + 2, ulaw_encode(tone(160, start=i * 160))) for i in range(25)]
    )
    await received_media(communicator, 25)
    await stop(communicator)
    await call.arefresh_from_db()
    assert (call.frames_out, call.frames_shed) == (25, 0)  # real time in, nothing shed
    path = Path(settings.MEDIA_ROOT) / call.recording.name
    with wave.open(str(path)) as wav:
        assert (wav.getnchannels(), wav.getframerate(), wav.getsampwidth()) == (2, 8000, 2)
        assert wav.getnframes() >= 24 * 160
        stereo = np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2").reshape(-1, 2)
    assert np.abs(stereo[:, 0]).max() > 1000  # the caller, left
    assert np.abs(stereo[:, 1]).max() > 1000  # what we sent back, right


async def test_a_hangup_from_any_worker_closes_the_stream():
    call, token = await new_call()
    communicator = await open_stream(call, token)
    await communicator.send_to(text_data=start())
    assert await notify_stream(call.pk, "hangup")
    output = await communicator.receive_output(timeout=2)
    assert output["type"] == "websocket.close"
    await communicator.disconnect()
    await tasks.drain()
    stop_event = await CallEvent.objects.aget(call=call, type="media.stop")
    assert stop_event.payload["reason"] == "hangup requested"


async def test_a_control_message_that_fails_ends_the_stream_instead_of_orphaning_it(
    monkeypatch, caplog
):
    call, token = await new_call()
    communicator = await open_stream(call, token)
    await communicator.send_to(text_data=start())

    async def broken(self, action: str) -> None:
        raise RuntimeError("control went wrong")

    monkeypatch.setattr(MediaSession, "on_control", broken)
    assert await notify_stream(call.pk, "hangup")
    output = await communicator.receive_output(timeout=2)
    assert (output["type"], output["code"]) == ("websocket.close", 1011)
    assert "control message stream.control failed" in caplog.text
    await communicator.disconnect()
    await tasks.drain()


async def test_media_and_control_messages_are_handled_one_at_a_time():
    call, token = await new_call()
    communicator = await open_stream(call, token)
    await communicator.send_to(text_data=start())
    inside = 0
    overlaps = 0
    original = MediaSession.on_message

    async def slow_on_message(self, text: str | None, data: bytes | None = None) -> None:
        nonlocal inside, overlaps
        inside += 1
        overlaps += inside > 1
        await asyncio.sleep(0.01)  # a frame whose handling yields, as persisting does
        await original(self, text, data)
        inside -= 1

    async def counting_on_control(self, action: str) -> None:
        nonlocal overlaps
        overlaps += inside > 0

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(MediaSession, "on_message", slow_on_message)
        patch.setattr(MediaSession, "on_control", counting_on_control)
        for chunk in range(1, 6):
            await communicator.send_to(text_data=media(chunk, b"\xff" * 160))
        for _ in range(5):
            assert await notify_stream(call.pk, "noop")
            await asyncio.sleep(0.004)
        await asyncio.sleep(0.1)
    assert overlaps == 0
    await communicator.disconnect()
    await tasks.drain()


async def test_sends_on_a_socket_the_peer_already_closed_do_not_lose_the_statistics(
    monkeypatch,
):
    call, token = await new_call()
    communicator = await open_stream(call, token)
    await communicator.send_to(text_data=start())

    async def peer_gone(self, text_data=None, bytes_data=None, close=False) -> None:
        raise ConnectionError("Attempt to send on a closed protocol")

    monkeypatch.setattr(MediaStreamConsumer, "send", peer_gone)
    for chunk in range(1, 6):
        await communicator.send_to(text_data=media(chunk, b"\x11" * 160))
    await communicator.disconnect(code=1005)
    await tasks.drain()
    await call.arefresh_from_db()
    assert call.frames_in == 5
    assert await CallEvent.objects.filter(call=call, type="media.stop").aexists()


async def test_a_consumer_that_fails_mid_frame_still_saves_the_statistics(monkeypatch):
    call, token = await new_call()
    communicator = await open_stream(call, token)
    await communicator.send_to(text_data=start())
    await communicator.send_to(text_data=media(1, b"\x11" * 160))
    assert json.loads(await communicator.receive_from(timeout=2))["event"] == "media"

    def broken(self, samples) -> None:
        raise RuntimeError("bridge bug")

    monkeypatch.setattr(EchoBridge, "feed_caller_audio", broken)
    await communicator.send_to(text_data=media(2, b"\x11" * 160))
    with pytest.raises(RuntimeError, match="bridge bug"):
        await communicator.receive_output(timeout=2)
    await tasks.drain()
    await call.arefresh_from_db()
    assert call.frames_in == 2
    stop = await CallEvent.objects.aget(call=call, type="media.stop")
    assert stop.payload["reason"] == "media consumer failed"


async def test_the_stream_joins_its_calls_group():
    call, token = await new_call()
    communicator = await open_stream(call, token)
    layer = get_channel_layer()
    assert group_name(call.pk) in layer.groups
    await communicator.disconnect()
    await tasks.drain()
    assert not layer.groups.get(group_name(call.pk))


# Bad input ----------------------------------------------------------------------------

BAD_FRAMES = {
    "malformed_json": "{not json",
    "oversized_frame": json.dumps({"event": "media", "pad": "x" * 70_000}),
    "bad_base64": json.dumps(
        {"event": "media", "sequence_number": "2", "media": {"payload": "@@@"}}
    ),
    "bad_payload_size": media(2, b"\xff" * 20_000),
    "missing_payload": json.dumps({"event": "media", "sequence_number": "2", "media": {}}),
    "bad_sequence_number": json.dumps(
        {"event": "media", "sequence_number": "two", "media": {"payload": "//8="}}
    ),
    "bad_dtmf": json.dumps({"event": "dtmf", "dtmf": {"digit": "!!"}}),
}


@pytest.mark.parametrize("reason", sorted(BAD_FRAMES))
async def test_each_bad_frame_is_counted_and_logged_and_the_stream_goes_on(reason):
    call, token = await new_call()
    communicator = await open_stream(call, token)
    await communicator.send_to(text_data=start())
    await communicator.send_to(text_data=BAD_FRAMES[reason])
    await communicator.send_to(text_data=media(3, ulaw_encode(tone(160))))
    assert len(await received_media(communicator, 1)) == 1
    await stop(communicator)
    await call.arefresh_from_db()
    assert call.frames_malformed == 1
    stop_event = await CallEvent.objects.aget(call=call, type="media.stop")
    assert stop_event.payload["bad_frames"] == {reason: 1}


async def test_media_before_start_is_counted():
    call, token = await new_call()
    communicator = await open_stream(call, token)
    await communicator.send_to(text_data=media(2, ulaw_encode(tone(160))))
    await stop(communicator)
    stop_event = await CallEvent.objects.aget(call=call, type="media.stop")
    assert stop_event.payload["bad_frames"] == {"media_before_start": 1}


async def test_unknown_events_are_counted_as_bad_frames():
    call, token = await new_call()
    communicator = await open_stream(call, token)
    await communicator.send_to(text_data=json.dumps({"event": "telepathy"}))
    await stop(communicator)
    stop_event = await CallEvent.objects.aget(call=call, type="media.stop")
    # Issue 13: an unknown event is a bad frame, so a flood of them meets the bad-frame limit.
    assert stop_event.payload["bad_frames"] == {"unknown_event": 1}


async def test_binary_frames_are_bad_input():
    call, token = await new_call()
    communicator = await open_stream(call, token)
    await communicator.send_to(bytes_data=b"\x00\x01")
    await stop(communicator)
    await call.arefresh_from_db()
    assert call.frames_malformed == 1
    stop_event = await CallEvent.objects.aget(call=call, type="media.stop")
    assert stop_event.payload["bad_frames"] == {"binary_frame": 1}


async def test_a_nul_character_no_database_could_store_is_malformed():
    call, token = await new_call()
    communicator = await open_stream(call, token)
    await communicator.send_to(text_data=start())
    await communicator.send_to(text_data=json.dumps({"event": "mark", "mark": {"name": "\x00"}}))
    await communicator.send_to(text_data=media(2, ulaw_encode(tone(160))))
    assert len(await received_media(communicator, 1)) == 1
    await stop(communicator)
    stop_event = await CallEvent.objects.aget(call=call, type="media.stop")
    assert stop_event.payload["bad_frames"] == {"malformed_json": 1}


async def test_repeated_garbage_closes_the_stream_with_a_recorded_reason(settings):
    settings.MEDIA_MAX_BAD_FRAMES = 5
    call, token = await new_call()
    communicator = await open_stream(call, token)
    for _ in range(6):
        await communicator.send_to(text_data="garbage")
    output = await communicator.receive_output(timeout=2)
    assert (output["type"], output["code"]) == ("websocket.close", 1008)
    await communicator.disconnect()
    await tasks.drain()
    stop_event = await CallEvent.objects.aget(call=call, type="media.stop")
    assert stop_event.payload["reason"] == "too many malformed frames (6)"


async def test_an_unsupported_codec_ends_the_stream_clearly():
    call, token = await new_call()
    communicator = await open_stream(call, token)
    await communicator.send_to(text_data=start("OPUS", 16000))
    output = await communicator.receive_output(timeout=2)
    assert (output["type"], output["code"]) == ("websocket.close", 1003)
    await communicator.disconnect()
    await tasks.drain()
    event = await CallEvent.objects.aget(call=call, type="media.unsupported_codec")
    assert "OPUS" in event.payload["error"]


async def test_a_bad_stream_does_not_disturb_another_call():
    good_call, good_token = await new_call()
    bad_call, bad_token = await new_call()
    good = await open_stream(good_call, good_token)
    bad = await open_stream(bad_call, bad_token)
    await good.send_to(text_data=start())
    await asyncio.gather(*(bad.send_to(text_data="\x00" * 100) for _ in range(60)))
    await good.send_to(text_data=media(2, ulaw_encode(tone(160))))
    assert len(await received_media(good, 1)) == 1
    await good.disconnect()
    await bad.disconnect()
