"""Quality and CPU of the agent -> phone path, as the Stream bridge runs it.

48 kHz agent audio in 20 ms `PcmData` packets (what getstream 7.0's `audio` events carry) ->
the bridge's Downlink (queue, one stateful StreamResampler per participant, mixing) -> the
session's μ-law encoding and 20 ms framing -> the JSON text frames sent to Telnyx.

* 1 kHz tone: SNR of the 8 kHz PCM before μ-law (the bridge's own quality), and after
  μ-law, which G.711 itself bounds near 38 dB: 8-bit companded samples carry about 6 dB per
  bit minus the companding loss, whatever feeds them (a perfect tone is shown for reference);
* 6 kHz tone: above the 4 kHz Nyquist limit of the phone, so it must vanish, not alias to 2 kHz;
* Python CPU per call per second of agent audio;
* for contrast, `PcmData.resample(8000)` on each 20 ms packet (the stateless path).

Run with `uv run python bench/bench_downlink.py`.
"""

from __future__ import annotations

import asyncio
import base64
import sys
import time
import timeit
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from getstream.video.rtc import AudioFormat, PcmData

from telephony.bridges.downlink import Downlink
from telephony.media.codecs import get_codec
from telephony.media.pacing import Reframer

RATE_IN, RATE_OUT = 48000, 8000
AMPLITUDE = 10000  # -10 dBFS, a loud voice
SECONDS = 10.0
EDGE = 800  # samples at each end left out of the measurements (filter warm-up, tail)


class Participant:
    def __init__(self, user_id: str) -> None:
        self.user_id, self.session_id = user_id, f"{user_id}-1"


class TelnyxSink:
    """MediaSession's side of AgentSink: μ-law encode, 20 ms frames, Telnyx JSON text."""

    def __init__(self) -> None:
        self.codec = get_codec("PCMU")
        self.reframer = Reframer.for_codec(self.codec)
        self.pcm: list[np.ndarray] = []
        self.frames: list[bytes] = []
        self.texts = 0
        self.ended = asyncio.Event()

    def agent_audio(self, samples: np.ndarray, sample_rate: int) -> None:
        assert sample_rate == RATE_OUT
        self.pcm.append(samples)
        for frame in self.reframer.push(self.codec.encode(samples)):
            self._send(frame)

    def agent_utterance_end(self) -> None:
        tail = self.reframer.flush()
        if tail:
            self._send(tail)
        self.ended.set()

    def interrupt(self) -> None:
        raise AssertionError("no barge-in in this bench")

    def hang_up(self, reason: str) -> None:
        raise AssertionError(reason)

    def _send(self, frame: bytes) -> None:
        self.frames.append(frame)
        # As MediaSession._send_media builds it.
        payload = base64.b64encode(frame).decode()
        self.texts += len('{"event":"media","media":{"payload":"' + payload + '"}}')


def tone(freq: float, seconds: float = SECONDS, rate: int = RATE_IN) -> np.ndarray:
    t = np.arange(round(seconds * rate)) / rate
    return np.round(AMPLITUDE * np.sin(2 * np.pi * freq * t)).astype(np.int16)


def packets(samples: np.ndarray, user_id: str, packet_ms: int = 20) -> list[PcmData]:
    step, who = RATE_IN * packet_ms // 1000, Participant(user_id)
    return [
        PcmData(RATE_IN, AudioFormat.S16, samples[i : i + step], participant=who)
        for i in range(0, len(samples), step)
    ]


async def through_downlink(*streams: list[PcmData]) -> tuple[TelnyxSink, float]:
    """Deliver the packets (interleaved across streams) one event at a time, as the SDK's
    reader tasks do; returns the sink and the Python CPU seconds the path used."""
    sink = TelnyxSink()
    downlink = Downlink(rate=RATE_OUT, sink=sink)
    runner = asyncio.ensure_future(downlink.run())
    cpu = time.process_time()
    for group in zip(*streams, strict=True):
        for pcm in group:
            downlink.put(pcm)
        await asyncio.sleep(0)
    await sink.ended.wait()  # the 200 ms end-of-utterance gap: idle, no CPU
    cpu = time.process_time() - cpu
    runner.cancel()
    return sink, cpu


def snr_db(samples: np.ndarray, freq: float, rate: int = RATE_OUT) -> float:
    x = samples[EDGE:-EDGE].astype(np.float64)
    t = np.arange(len(x)) / rate
    basis = np.column_stack([np.sin(2 * np.pi * freq * t), np.cos(2 * np.pi * freq * t)])
    fitted = basis @ np.linalg.lstsq(basis, x, rcond=None)[0]
    return float(10 * np.log10(np.sum(fitted**2) / np.sum((x - fitted) ** 2)))


def suppression_db(samples: np.ndarray) -> float:
    """Input level over output level. Output that rounds to all zeros is floored at int16's
    own quantization noise (1/sqrt(12) LSB rms): the best a 16-bit result can show."""
    rms_out = np.sqrt(np.mean(samples[EDGE:-EDGE].astype(np.float64) ** 2))
    return float(20 * np.log10((AMPLITUDE / np.sqrt(2)) / max(rms_out, 1 / np.sqrt(12))))


def naive(samples: np.ndarray) -> np.ndarray:
    """PcmData.resample on every 20 ms packet: stateless linear interpolation."""
    parts = [p.resample(RATE_OUT, 1).samples for p in packets(samples, "agent")]
    return np.concatenate(parts).astype(np.int16)


def _row(label: str, value: float, unit: str, goal: str = "") -> None:
    print(f"  {label:<52} {value:>9.1f} {unit:<6} {goal}")


async def _quality() -> None:
    codec = get_codec("PCMU")
    # 1004 Hz is the usual "1 kHz" test tone: exactly 1000 Hz is an 8th of 8 kHz, so its
    # quantization error repeats every 8 samples and flatters the figures (shown too).
    for freq in (1004, 1000):
        sink, _ = await through_downlink(packets(tone(freq), "agent"))
        pcm, sent = np.concatenate(sink.pcm), codec.decode(b"".join(sink.frames))
        ideal = codec.decode(codec.encode(tone(freq, rate=RATE_OUT)))
        print(f"{freq} Hz tone")
        _row("SNR, 8 kHz PCM before μ-law (the bridge)", snr_db(pcm, freq), "dB", ">= 80")
        _row("SNR, after μ-law (the bytes sent to Telnyx)", snr_db(sent, freq), "dB")
        _row("SNR, a perfect 8 kHz tone through μ-law", snr_db(ideal, freq), "dB", "G.711")
        _row("SNR, per-packet PcmData.resample", snr_db(naive(tone(freq)), freq), "dB")
    for freq in (6000, 4500):
        sink, _ = await through_downlink(packets(tone(freq), "agent"))
        print(f"{freq} Hz tone (above the phone's 4 kHz Nyquist limit)")
        _row(
            "suppression, StreamResampler", suppression_db(np.concatenate(sink.pcm)), "dB", ">= 40"
        )
        _row("suppression, per-packet PcmData.resample", suppression_db(naive(tone(freq))), "dB")


async def _cpu() -> None:
    sink, cpu = await through_downlink(packets(tone(1004), "agent"))
    _, cpu_mix = await through_downlink(
        packets(tone(1004), "agent"), packets(tone(700), "supervisor")
    )
    per_event = timeit.timeit(
        lambda: PcmData(RATE_IN, AudioFormat.S16, np.zeros(960, np.int16)), number=20000
    )
    print("Python CPU per call, per second of agent audio")
    _row("one speaker: queue, resample, μ-law, frame, JSON", cpu / SECONDS * 1000, "ms/s")
    _row("two speakers, mixed", cpu_mix / SECONDS * 1000, "ms/s")
    _row("the SDK building 50 PcmData events", per_event / 20000 * 50 * 1000, "ms/s")
    print(f"  ({len(sink.frames)} frames to Telnyx for {SECONDS:g} s; pacing: bench_pacing.py)")


async def main() -> None:
    print(f"Downlink: {SECONDS:g} s of 48 kHz tones at {AMPLITUDE} peak, 20 ms packets\n")
    await _quality()
    await _cpu()


if __name__ == "__main__":
    asyncio.run(main())
