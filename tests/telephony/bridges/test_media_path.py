"""A Stream call end to end through the real media socket: Telnyx frames in, the caller's
audio at the (fake) SFU, the agent's voice back out as μ-law, DTMF, and the hangup."""

from __future__ import annotations

import asyncio
import base64
import json

import numpy as np
import pytest
from channels.routing import URLRouter
from channels.testing import WebsocketCommunicator

from calls.models import Call
from phonebridge.routing import websocket_urlpatterns
from telephony import tasks
from telephony.bridges import preparation, rtc
from telephony.media.codecs import ulaw_decode, ulaw_encode
from tests.telephony.bridges.fakes import SDK_FILLS_MISSING, eventually, snr_db, tone

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.filterwarnings(SDK_FILLS_MISSING),
]


def frame(event: str, **body) -> str:
    return json.dumps({"event": event, "stream_id": "stream-1", **body})


def media(seq: int, samples: np.ndarray) -> str:
    payload = base64.b64encode(ulaw_encode(samples)).decode()
    return frame("media", sequence_number=str(seq), media={"track": "inbound", "payload": payload})


async def test_a_phone_call_reaches_the_agent_and_the_agent_answers(
    fake_stream, agent_server, fake_join, monkeypatch, settings, tmp_path
):
    settings.MEDIA_ROOT, settings.RECORD_CALLS = str(tmp_path), False
    monkeypatch.setattr(rtc, "rtc_join", fake_join)  # the one thing faked: the SFU
    call = Call(direction="inbound", from_number="+15557654321", status="streaming")
    call.bridge, call.call_control_id = "stream", "v3:e2e"
    token = call.issue_media_token(ttl_seconds=60)
    await call.asave()
    await preparation.prepare(call_id=call.pk)

    socket = WebsocketCommunicator(
        URLRouter(websocket_urlpatterns), f"/telnyx/media/{call.pk}/{token}"
    )
    assert (await socket.connect())[0]
    media_format = {"encoding": "PCMU", "sample_rate": 8000, "channels": 1}
    await socket.send_to(text_data=frame("connected", version="1.0.0"))
    await socket.send_to(text_data=frame("start", start={"media_format": media_format}))
    connection = await fake_join.connection()

    caller = tone(400, 0.2, 8000)
    for seq, start in enumerate(range(0, len(caller), 160), start=2):
        await socket.send_to(text_data=media(seq, caller[start : start + 160]))
        await asyncio.sleep(0.02)
    await eventually(lambda: len(connection.published.frames) == 10)
    assert np.array_equal(connection.published.pcm(), ulaw_decode(ulaw_encode(caller)))

    # The agent's half second arrives as the SDK delivers it, in real time: nothing piles
    # up, so nothing of it is shed (MAX_AGENT_AUDIO_LAG_MS).
    connection.remote_audio(tone(1000, 0.5, 48000, 8000), "ai-agent")
    heard = await _agent_audio(socket, frames=25)
    assert snr_db(heard[400:3600], 1000, 8000) > 30  # G.711 itself caps it near 38 dB

    await socket.send_to(text_data=frame("dtmf", dtmf={"digit": "7"}))
    await eventually(lambda: fake_stream.bodies("/event"))
    assert fake_stream.bodies("/event")[0]["custom"] == {"type": "dtmf", "digit": "7"}

    await socket.send_to(text_data=frame("stop", stop={}))
    await socket.receive_output(timeout=3)  # the close
    await socket.disconnect()
    await tasks.drain()
    assert connection.leave_calls == 1
    assert len(agent_server.calls("DELETE")) == 1
    assert (await preparation.stored(call.pk)).status == "ended"
    await call.arefresh_from_db()
    assert call.frames_shed == 0


async def _agent_audio(socket: WebsocketCommunicator, *, frames: int) -> np.ndarray:
    payloads = []
    while len(payloads) < frames:
        message = json.loads(await socket.receive_from(timeout=3))
        if message["event"] == "media":
            payloads.append(base64.b64decode(message["media"]["payload"]))
    return ulaw_decode(b"".join(payloads))
