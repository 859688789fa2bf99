"""The Twilio media WebSocket through Channels' WebsocketCommunicator, fed as Twilio feeds it:
`connected`, `start`, then one 20 ms μ-law frame every 20 ms, with the shapes of
https://www.twilio.com/docs/voice/media-streams/websocket-messages."""

from __future__ import annotations

import asyncio
import base64
import json
import wave
from pathlib import Path

import numpy as np
import pytest
from channels.routing import URLRouter
from channels.testing import WebsocketCommunicator
from django.utils import timezone

from calls.models import Call, CallEvent
from phonebridge.routing import websocket_urlpatterns
from telephony import actions, tasks
from telephony.control import notify_stream
from telephony.media.codecs import ulaw_decode, ulaw_encode
from telephony.twilio import dtmf

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("twilio_settings")]

APP = URLRouter(websocket_urlpatterns)
STREAM_SID = "MZ" + "5" * 32
CALL_SID = "CA" + "6" * 32


@pytest.fixture(autouse=True)
def _media_settings(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path)
    settings.RECORD_CALLS = True
    settings.BRIDGE = "echo"
    settings.STREAM_BIDIRECTIONAL_CODEC = "L16"  # Telnyx's choice; Twilio's stream is μ-law
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}


async def new_call(**fields) -> tuple[Call, str]:
    call = Call(
        carrier="twilio",
        direction="inbound",
        status="answered",
        from_number="+15557654321",
        call_control_id=f"CA{timezone.now().timestamp():032.0f}"[:34],
        bridge="echo",
        **fields,
    )
    token = call.issue_media_token(ttl_seconds=60)
    await call.asave()
    return call, token


def tone(n: int, start: int = 0) -> np.ndarray:
    t = (np.arange(n) + start) / 8000
    return (8000 * np.sin(2 * np.pi * 440.0 * t)).astype(np.int16)


def twilio_start(call: Call) -> str:
    return json.dumps(
        {
            "event": "start",
            "sequenceNumber": "1",
            "start": {
                "accountSid": "AC" + "0" * 32,
                "streamSid": STREAM_SID,
                "callSid": call.call_control_id,
                "tracks": ["inbound"],
                "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1},
                "customParameters": {"call_id": str(call.id)},
            },
            "streamSid": STREAM_SID,
        }
    )


def twilio_media(chunk: int, payload: bytes) -> str:
    return json.dumps(
        {
            "event": "media",
            "sequenceNumber": str(chunk + 1),
            "media": {
                "track": "inbound",
                "chunk": str(chunk),
                "timestamp": str((chunk - 1) * 20),
                "payload": base64.b64encode(payload).decode(),
            },
            "streamSid": STREAM_SID,
        }
    )


async def open_stream(call: Call, token: str) -> WebsocketCommunicator:
    communicator = WebsocketCommunicator(APP, f"/twilio/media/{call.pk}/{token}")
    connected, code = await communicator.connect()
    assert connected, code
    await communicator.send_to(
        text_data=json.dumps({"event": "connected", "protocol": "Call", "version": "1.0.0"})
    )
    await communicator.send_to(text_data=twilio_start(call))
    return communicator


async def send_in_real_time(communicator: WebsocketCommunicator, frames: list[str]) -> None:
    """Twilio sends a caller's audio on its own clock: one 20 ms frame every 20 ms."""
    loop = asyncio.get_running_loop()
    began = loop.time()
    for i, text in enumerate(frames):
        await asyncio.sleep(max(0.0, began + i * 0.02 - loop.time()))
        await communicator.send_to(text_data=text)


async def received(communicator: WebsocketCommunicator, event: str, count: int) -> list[dict]:
    found: list[dict] = []
    while len(found) < count:
        message = json.loads(await communicator.receive_from(timeout=3))
        if message["event"] == event:
            found.append(message)
    return found


async def stop(communicator: WebsocketCommunicator) -> None:
    await communicator.send_to(
        text_data=json.dumps(
            {
                "event": "stop",
                "sequenceNumber": "999",
                "streamSid": STREAM_SID,
                "stop": {"accountSid": "AC" + "0" * 32, "callSid": CALL_SID},
            }
        )
    )
    while (await communicator.receive_output(timeout=3))["type"] != "websocket.close":
        pass
    await communicator.disconnect()
    await tasks.drain()


def caller_frames(count: int) -> list[bytes]:
    return [ulaw_encode(tone(160, start=i * 160)) for i in range(count)]


# Refusals ------------------------------------------------------------------------------------


async def test_a_wrong_or_used_token_is_refused_before_the_socket_opens():
    call, token = await new_call()
    wrong = WebsocketCommunicator(APP, f"/twilio/media/{call.pk}/not-the-token")
    assert (await wrong.connect())[0] is False
    first = await open_stream(call, token)
    second = WebsocketCommunicator(APP, f"/twilio/media/{call.pk}/{token}")
    assert (await second.connect())[0] is False
    await stop(first)


# The stream ----------------------------------------------------------------------------------


async def test_the_echo_comes_back_as_mu_law_with_the_stream_sid():
    call, token = await new_call()
    communicator = await open_stream(call, token)
    sent = caller_frames(25)
    await send_in_real_time(communicator, [twilio_media(i + 1, p) for i, p in enumerate(sent)])
    echoed = await received(communicator, "media", 25)
    assert {m["streamSid"] for m in echoed} == {STREAM_SID}
    assert [base64.b64decode(m["media"]["payload"]) for m in echoed] == sent
    await stop(communicator)
    await call.arefresh_from_db()
    assert (call.frames_in, call.frames_out, call.frames_shed) == (25, 25, 0)
    assert (call.stream_id, call.media_encoding, call.media_sample_rate) == (
        STREAM_SID,
        "PCMU",
        8000,
    )
    start = await CallEvent.objects.aget(call=call, type="media.start")
    assert start.payload["outbound_codec"] == "PCMU"
    assert start.payload["media_format"]["encoding"] == "audio/x-mulaw"
    stopped = await CallEvent.objects.aget(call=call, type="media.stop")
    assert stopped.payload["reason"] == "stopped by Twilio"


async def test_marks_carry_the_stream_sid_and_twilios_echoes_are_counted():
    call, token = await new_call()
    communicator = await open_stream(call, token)
    await send_in_real_time(
        communicator, [twilio_media(i + 1, p) for i, p in enumerate(caller_frames(55))]
    )
    [mark] = await received(communicator, "mark", 1)
    assert mark["streamSid"] == STREAM_SID
    # Twilio echoes a mark once the audio before it has played.
    echo = {"event": "mark", "sequenceNumber": "80", "streamSid": STREAM_SID, "mark": mark["mark"]}
    await communicator.send_to(text_data=json.dumps(echo))
    await stop(communicator)
    stopped = await CallEvent.objects.aget(call=call, type="media.stop")
    assert stopped.payload["marks_played"] == 1


async def test_a_barge_in_sends_clear_with_the_stream_sid():
    call, token = await new_call()
    communicator = await open_stream(call, token)
    await send_in_real_time(communicator, [twilio_media(1, caller_frames(1)[0])])
    assert await notify_stream(call.pk, "clear")
    [clear] = await received(communicator, "clear", 1)
    assert clear == {"event": "clear", "streamSid": STREAM_SID}
    await stop(communicator)


async def test_dtmf_from_the_caller_is_stored():
    call, token = await new_call()
    communicator = await open_stream(call, token)
    dtmf_message = {
        "event": "dtmf",
        "streamSid": STREAM_SID,
        "sequenceNumber": "5",
        "dtmf": {"track": "inbound_track", "digit": "#"},
    }
    await communicator.send_to(text_data=json.dumps(dtmf_message))
    await stop(communicator)
    event = await CallEvent.objects.aget(call=call, type="media.dtmf")
    assert event.payload["digit"] == "#"


async def test_digits_we_send_are_played_in_band_on_the_stream():
    call, token = await new_call()
    communicator = await open_stream(call, token)
    await send_in_real_time(communicator, [twilio_media(1, caller_frames(1)[0])])
    await received(communicator, "media", 1)  # the echo of the caller's frame
    await Call.objects.filter(pk=call.pk).aupdate(status="streaming")
    await actions.send_dtmf(call=await Call.objects.aget(pk=call.pk), digits="5")
    expected = len(dtmf.tones("5")) // 160  # 100 ms of tone, 100 ms of pause
    frames = await received(communicator, "media", expected)
    pcm = np.concatenate([ulaw_decode(base64.b64decode(m["media"]["payload"])) for m in frames])
    tone_part = pcm[:800].astype(float)
    spectrum = np.abs(np.fft.rfft(tone_part))
    peaks = sorted(np.argsort(spectrum)[-2:] * 8000 / len(tone_part))
    assert peaks == pytest.approx([770, 1336], abs=15)  # the row and column of "5"
    await stop(communicator)


async def test_the_recording_has_the_caller_and_us_on_two_channels(settings):
    call, token = await new_call()
    communicator = await open_stream(call, token)
    await send_in_real_time(
        communicator, [twilio_media(i + 1, p) for i, p in enumerate(caller_frames(25))]
    )
    await received(communicator, "media", 25)
    await stop(communicator)
    await call.arefresh_from_db()
    path = Path(settings.MEDIA_ROOT) / call.recording.name
    with wave.open(str(path)) as wav:
        assert (wav.getnchannels(), wav.getframerate(), wav.getsampwidth()) == (2, 8000, 2)
        stereo = np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2").reshape(-1, 2)
    assert np.abs(stereo[:, 0]).max() > 1000  # the caller, left
    assert np.abs(stereo[:, 1]).max() > 1000  # what we sent back, right


async def test_a_hangup_from_any_worker_closes_the_twilio_stream():
    call, token = await new_call()
    communicator = await open_stream(call, token)
    assert await notify_stream(call.pk, "hangup")
    assert (await communicator.receive_output(timeout=2))["type"] == "websocket.close"
    await communicator.disconnect()
    await tasks.drain()
    stopped = await CallEvent.objects.aget(call=call, type="media.stop")
    assert stopped.payload["reason"] == "hangup requested"
