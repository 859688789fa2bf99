"""The one path nothing offline covers: real Stream servers, real WebRTC, real Opus.

Run with STREAM_API_KEY and STREAM_API_SECRET of a Stream app in the environment (the test
settings move them to LIVE_*): `uv run pytest -m live tests/telephony/bridges/test_live.py`.
A second server-side participant plays the agent: it publishes a 600 Hz tone and listens.
"""

from __future__ import annotations

import asyncio
import os

import numpy as np
import pytest

from telephony import tasks
from telephony.bridges import MediaFormat, preparation, stream_calls
from telephony.bridges.rtc import audio_only_subscription
from telephony.bridges.stream import StreamBridge
from tests.telephony.bridges.conftest import new_call
from tests.telephony.bridges.fakes import RecordingSink, tone
from tests.telephony.bridges.test_stream_bridge import call_info

pytestmark = [
    pytest.mark.live,
    pytest.mark.skipif(
        not (os.environ.get("LIVE_STREAM_API_KEY") and os.environ.get("LIVE_STREAM_API_SECRET")),
        reason="live Stream test: set STREAM_API_KEY and STREAM_API_SECRET to run it",
    ),
    pytest.mark.django_db(transaction=True),
]

SECONDS = 4


@pytest.fixture
def live_stream(settings):
    settings.STREAM_API_KEY = os.environ["LIVE_STREAM_API_KEY"]
    settings.STREAM_API_SECRET = os.environ["LIVE_STREAM_API_SECRET"]
    settings.STREAM_JOIN_TIMEOUT = 30.0
    settings.AGENT_SERVER_URL = ""  # the test plays the agent itself


def dominant_hz(samples: np.ndarray, rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(samples.astype(np.float64) * np.hanning(len(samples))))
    return float(np.argmax(spectrum) * rate / len(samples))


async def test_the_caller_and_the_agent_hear_each_other_through_stream(live_stream):
    from getstream.video import rtc

    call = await new_call()
    assert (await preparation.prepare(call_id=call.pk)).status == "ready"
    phone_user = stream_calls.phone_user_id(call.pk)

    agent = await rtc.join(
        await stream_calls.stream_call(str(call.pk)),
        "ai-agent",
        subscription_config=audio_only_subscription(),
    )
    heard_by_agent: list[np.ndarray] = []
    agent.on(
        "audio",
        lambda pcm: pcm.participant.user_id == phone_user and heard_by_agent.append(pcm.samples),
    )
    await asyncio.wait_for(agent.connect(), 30)
    agent_track = rtc.AudioStreamTrack(sample_rate=48000, audio_buffer_size_ms=1000)
    await agent.add_tracks(audio=agent_track)

    bridge, sink = StreamBridge(), RecordingSink()
    await bridge.start(call=call_info(call), media_format=MediaFormat("PCMU", 8000), sink=sink)
    phone_says, agent_says = tone(1000, SECONDS, 8000), tone(600, SECONDS, 48000)
    for i in range(SECONDS * 50):  # in real time, as Telnyx and an agent would
        bridge.feed_caller_audio(phone_says[i * 160 : (i + 1) * 160])
        chunk = agent_says[i * 960 : (i + 1) * 960]
        await agent_track.write(rtc.PcmData(48000, rtc.AudioFormat.S16, chunk))
        await asyncio.sleep(0.02)

    await bridge.close("test over")
    await asyncio.wait_for(agent.leave(), 10)
    await tasks.drain()

    assert bridge.describe().get("join_ms") is not None
    by_agent = np.concatenate(heard_by_agent)
    assert len(by_agent) > 48000  # over a second of the phone reached the agent
    assert dominant_hz(by_agent, 48000) == pytest.approx(1000, abs=15)
    by_phone = sink.pcm()
    assert len(by_phone) > 8000
    assert {rate for _, rate in sink.audio} == {8000}
    assert dominant_hz(by_phone, 8000) == pytest.approx(600, abs=15)
    assert (await preparation.stored(call.pk)).status == "ended"
