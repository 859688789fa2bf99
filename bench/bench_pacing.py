"""Microseconds per 20 ms frame through PacedSender and ReorderBuffer, no real waiting.

The clock is fake and sleeping only advances it, so the figures are the CPU cost
of framing, queueing and pacing alone. Run with `uv run python bench/bench_pacing.py`.
"""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from telephony.media.codecs import get_codec
from telephony.media.pacing import PacedSender
from telephony.media.reorder import ReorderBuffer

FRAMES = 48_000  # 16 minutes of audio; a multiple of every chunk size below


class _FakeTime:
    def __init__(self) -> None:
        self.now = 0.0

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += seconds
        await asyncio.sleep(0)


async def _bench_sender(encoding: str, chunk_ms: int) -> tuple[float, float]:
    codec = get_codec(encoding)
    fake = _FakeTime()

    async def send(frame: np.ndarray) -> None:
        if sender.frames_sent == FRAMES:
            sender.close()  # all sent: stop the loop

    sender = PacedSender(
        send, codec, max_lead_ms=100, max_queue_ms=10**9, clock=fake.clock, sleep=fake.sleep
    )
    chunk = np.zeros(codec.frame_samples * chunk_ms // 20, dtype=np.int16)
    chunks = FRAMES * 20 // chunk_ms
    started = time.perf_counter()
    for _ in range(chunks):
        sender.feed(chunk)
    fed = time.perf_counter()
    await sender.run()
    done = time.perf_counter()
    if sender.frames_sent != FRAMES:
        raise RuntimeError(f"sent {sender.frames_sent} frames, expected {FRAMES}")
    return (fed - started) / FRAMES * 1e6, (done - fed) / FRAMES * 1e6


def _bench_reorder() -> float:
    buffer: ReorderBuffer[bytes] = ReorderBuffer(window=3)
    frame = bytes(160)
    # Every fourth pair swapped: a mildly disordered stream.
    seqs = [n + 1 if n % 8 == 0 else n - 1 if n % 8 == 1 else n for n in range(2, FRAMES + 2)]
    started = time.perf_counter()
    for seq in seqs:
        buffer.push(seq, frame)
    buffer.flush()
    return (time.perf_counter() - started) / FRAMES * 1e6


def main() -> None:
    print(f"µs per 20 ms frame over {FRAMES:,} frames (fake clock)")
    print(f"{'case':<34} {'feed':>8} {'send loop':>10}")
    for encoding in ("PCMU", "L16"):
        for chunk_ms in (20, 60):
            feed_us, loop_us = asyncio.run(_bench_sender(encoding, chunk_ms))
            label = f"PacedSender {encoding}, {chunk_ms} ms chunks"
            print(f"{label:<34} {feed_us:>8.2f} {loop_us:>10.2f}")
    print(f"{'ReorderBuffer push (window 3)':<34} {_bench_reorder():>8.2f}")


if __name__ == "__main__":
    main()
