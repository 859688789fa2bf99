"""Microseconds per 20 ms frame for each codec, against audioop and a naive loop.

Run with `uv run python bench/bench_codecs.py`.
"""

from __future__ import annotations

import sys
import timeit
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from telephony.media.codecs import get_codec

NUMBER = 20_000
REPEAT = 5


def _per_call_us(fn: Callable[[], object]) -> float:
    # The best of several runs is the least disturbed by the rest of the machine.
    return min(timeit.repeat(fn, number=NUMBER, repeat=REPEAT)) / NUMBER * 1e6


def _slow_us(fn: Callable[[], object]) -> float:
    return min(timeit.repeat(fn, number=2000, repeat=3)) / 2000 * 1e6


def _naive_ulaw_encode(samples: list[int]) -> bytes:
    """Per-sample pure-Python μ-law, like the loops some integrations use (speed only:
    this common variant rounds a few samples differently from audioop)."""
    out = bytearray()
    for sample in samples:
        sign = 0x80 if sample < 0 else 0
        magnitude = min(abs(sample), 32635) + 0x84
        exponent = max(magnitude.bit_length() - 8, 0)
        mantissa = (magnitude >> (exponent + 3)) & 0x0F
        out.append(~(sign | (exponent << 4) | mantissa) & 0xFF)
    return bytes(out)


def _naive_ulaw_decode(data: bytes) -> list[int]:
    out = []
    for code in data:
        code = ~code & 0xFF
        magnitude = (((code & 0x0F) << 3) + 0x84) << ((code & 0x70) >> 4)
        out.append(0x84 - magnitude if code & 0x80 else magnitude - 0x84)
    return out


def _row(label: str, decode_us: float, encode_us: float) -> None:
    print(f"{label:<28} {decode_us:>10.2f} {encode_us:>10.2f}")


def _bench_codecs() -> None:
    for encoding, rate in [("PCMU", 8000), ("PCMA", 8000), ("L16", 16000), ("L16", 8000)]:
        codec = get_codec(encoding, rate)
        samples = (np.sin(np.arange(codec.frame_samples) / 7) * 12000).astype(np.int16)
        payload = codec.encode(samples)
        _row(
            f"{encoding} {rate} Hz (phonebridge)",
            _per_call_us(lambda c=codec, p=payload: c.decode(p)),
            _per_call_us(lambda c=codec, s=samples: c.encode(s)),
        )


def _bench_references() -> None:
    samples = (np.sin(np.arange(160) / 7) * 12000).astype(np.int16)
    pcm = samples.tobytes()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        import audioop

    ulaw = audioop.lin2ulaw(pcm, 2)
    _row(
        "PCMU 8000 Hz (audioop)",
        _per_call_us(lambda: audioop.ulaw2lin(ulaw, 2)),
        _per_call_us(lambda: audioop.lin2ulaw(pcm, 2)),
    )
    alaw = audioop.lin2alaw(pcm, 2)
    _row(
        "PCMA 8000 Hz (audioop)",
        _per_call_us(lambda: audioop.alaw2lin(alaw, 2)),
        _per_call_us(lambda: audioop.lin2alaw(pcm, 2)),
    )
    as_list = samples.tolist()
    _row(
        "PCMU 8000 Hz (naive Python)",
        _slow_us(lambda: _naive_ulaw_decode(ulaw)),
        _slow_us(lambda: _naive_ulaw_encode(as_list)),
    )


def main() -> None:
    print(f"µs per 20 ms frame (best of {REPEAT} x {NUMBER:,} calls)")
    print(f"{'codec':<28} {'decode':>10} {'encode':>10}")
    _bench_codecs()
    _bench_references()


if __name__ == "__main__":
    main()
