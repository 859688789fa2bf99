"""The downlink on its own: resampling quality, mixing arithmetic."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from telephony.bridges.downlink import Downlink
from tests.telephony.bridges.fakes import (
    FakeJoin,
    FakeRtcConnection,
    Participant,
    RecordingSink,
    eventually,
    level_at,
    tone,
)


async def run_downlink(feed) -> RecordingSink:
    """Feed `feed(connection)`'s audio events through a Downlink until the utterance ends."""
    sink = RecordingSink()
    downlink = Downlink(rate=8000, sink=sink)
    connection = FakeRtcConnection(None, "phone", None, FakeJoin())
    connection.on("audio", downlink.put)
    task = asyncio.ensure_future(downlink.run())
    feed(connection)
    await eventually(lambda: sink.utterance_ends)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    await connection.leave()
    return sink


async def test_a_6_khz_tone_does_not_alias_into_the_phone_band():
    sink = await run_downlink(lambda c: c.remote_audio(tone(6000, 1.0, 48000), "ai-agent"))
    heard = sink.pcm()[400:7600]
    assert level_at(heard, 2000, 8000) < 8000 / 100  # the alias a naive resampler makes
    assert np.sqrt(np.mean(heard.astype(float) ** 2)) < 8000 / np.sqrt(2) / 100  # -40 dB


async def test_voices_too_loud_together_are_clipped_not_wrapped():
    loud = tone(500, 0.5, 48000, 30000)

    def both(connection):
        for start in range(0, len(loud), 960):
            connection.remote_audio(loud[start : start + 960], "ai-agent")
            connection.remote_audio(loud[start : start + 960], "supervisor")

    heard = (await run_downlink(both)).pcm().astype(np.int32)
    steady = heard[400:3600]
    assert (steady.max(), steady.min()) == (32767, -32768)
    # Wrapped int16 sums flip sign at every peak, which wrecks the fundamental.
    assert level_at(steady, 500, 8000) > 30000


async def test_stereo_packets_are_mixed_down():
    from getstream.video.rtc import AudioFormat, PcmData

    def stereo(connection):
        interleaved = np.repeat(tone(1000, 0.5, 48000), 2)
        for start in range(0, len(interleaved), 1920):
            chunk = interleaved[start : start + 1920]
            pcm = PcmData(48000, AudioFormat.S16, chunk, channels=2)
            pcm.participant = Participant("ai-agent", "s")
            connection.emit("audio", pcm)

    heard = (await run_downlink(stereo)).pcm()
    assert 4000 <= len(heard) <= 4100
    assert level_at(heard[400:3600], 1000, 8000) == pytest.approx(8000, rel=0.01)


async def test_silence_and_comfort_noise_between_utterances_are_not_played():
    sink = RecordingSink()
    downlink = Downlink(rate=8000, sink=sink)
    connection = FakeRtcConnection(None, "phone", None, FakeJoin())
    connection.on("audio", downlink.put)
    task = asyncio.ensure_future(downlink.run())
    hiss = np.random.default_rng(3).normal(0, 18, 24000).astype(np.int16)  # about -65 dBFS
    connection.remote_audio(np.zeros(24000, dtype=np.int16), "ai-agent")
    connection.remote_audio(hiss, "ai-agent")
    await connection.remote_audio_sent()  # in real time: a second
    await asyncio.sleep(0.3)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    await connection.leave()
    assert (sink.audio, sink.utterance_ends, sink.interrupts) == ([], 0, 0)
