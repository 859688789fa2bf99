"""Audio codecs for the Telnyx media stream: G.711 (PCMU, PCMA) and L16.

Wire format (telnyx-protocol.md 1.2-1.5): each `media` payload is the raw RTP
payload, no RTP header, normally 20 ms per frame. PCMU and PCMA are 8 kHz, one
byte per sample (ITU-T G.711). L16 is 16-bit linear PCM at 16 kHz (8 kHz is
accepted too); its byte order is undocumented by Telnyx, so it is configurable
and defaults to network order (big-endian), as RFC 3551 specifies.

G.711 is table-driven: the tables are built once at import from the G.711
segment algorithm, in the exact variant CPython's `audioop` implements, so the
output is bit-exact with `audioop.lin2ulaw`/`ulaw2lin`/`lin2alaw`/`alaw2lin`
(width 2). `audioop` itself is gone in Python 3.13, hence our own tables.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial

import numpy as np

FRAME_MS = 20

# Segment end points, as in the reference G.711 code (Sun Microsystems, 1992)
# that audioop.c carries: μ-law works on 14-bit magnitudes, A-law on 13-bit.
_ULAW_SEG_END = np.array([0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF, 0x1FFF])
_ALAW_SEG_END = np.array([0x1F, 0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF])
_ULAW_BIAS = 0x84
_ULAW_CLIP = 8159

ULAW_SILENCE = 0xFF  # μ-law code for +0
ALAW_SILENCE = 0xD5  # A-law code for the smallest positive step (there is no exact 0)


class UnsupportedCodec(ValueError):
    """The media format is one phonebridge cannot decode or encode."""


def _all_int16() -> np.ndarray:
    # Index i of an encode table is the int16 whose bit pattern is i (uint16 view).
    return np.arange(65536, dtype=np.uint16).view(np.int16).astype(np.int32)


def _build_ulaw_encode() -> np.ndarray:
    pcm = _all_int16() >> 2  # 16-bit to the 14-bit range G.711 μ-law works in
    mask = np.where(pcm < 0, 0x7F, 0xFF)
    magnitude = np.minimum(np.abs(pcm), _ULAW_CLIP) + (_ULAW_BIAS >> 2)
    seg = np.searchsorted(_ULAW_SEG_END, magnitude, side="left")
    code = (seg << 4) | ((magnitude >> (seg + 1)) & 0xF)
    # Clipped magnitudes (8159 + 33) land just past the last segment: the maximum code.
    code = np.where(seg >= 8, 0x7F, code)
    return (code ^ mask).astype(np.uint8)


def _build_ulaw_decode() -> np.ndarray:
    u = ~np.arange(256, dtype=np.int32) & 0xFF
    t = (((u & 0x0F) << 3) + _ULAW_BIAS) << ((u & 0x70) >> 4)
    return np.where(u & 0x80, _ULAW_BIAS - t, t - _ULAW_BIAS).astype(np.int16)


def _build_alaw_encode() -> np.ndarray:
    pcm = _all_int16() >> 3  # 16-bit to the 13-bit range G.711 A-law works in
    negative = pcm < 0
    mask = np.where(negative, 0x55, 0xD5)
    magnitude = np.where(negative, -pcm - 1, pcm)
    seg = np.searchsorted(_ALAW_SEG_END, magnitude, side="left")
    shift = np.where(seg < 2, 1, seg)
    code = (seg << 4) | ((magnitude >> shift) & 0xF)
    code = np.where(seg >= 8, 0x7F, code)  # never taken for 16-bit input; kept as in G.711
    return (code ^ mask).astype(np.uint8)


def _build_alaw_decode() -> np.ndarray:
    a = np.arange(256, dtype=np.int32) ^ 0x55
    seg = (a & 0x70) >> 4
    t = (a & 0x0F) << 4
    t = np.where(seg == 0, t + 8, (t + 0x108) << np.maximum(seg - 1, 0))
    return np.where(a & 0x80, t, -t).astype(np.int16)


_ULAW_ENCODE = _build_ulaw_encode()
_ULAW_DECODE = _build_ulaw_decode()
_ALAW_ENCODE = _build_alaw_encode()
_ALAW_DECODE = _build_alaw_decode()

# The codecs below index these tables with `ndarray.take`, which is about a third
# faster than fancy indexing on 160-sample frames (bench/bench_codecs.py).


def to_int16(samples: np.ndarray) -> np.ndarray:
    """Return `samples` as a 1-D int16 array, clipping wider integer types.

    Floats are refused: their scale (±1.0 or ±32768) is ambiguous.
    """
    array = np.asarray(samples)
    if array.ndim != 1:
        raise ValueError(f"expected 1-D mono samples, got shape {array.shape}")
    if array.dtype == np.int16:
        return array
    if not np.issubdtype(array.dtype, np.integer):
        raise TypeError(f"expected integer PCM samples, got dtype {array.dtype}")
    return np.clip(array, -32768, 32767).astype(np.int16)


def ulaw_decode(data: bytes) -> np.ndarray:
    return _ULAW_DECODE.take(np.frombuffer(data, dtype=np.uint8))


def ulaw_encode(samples: np.ndarray) -> bytes:
    return _ULAW_ENCODE.take(to_int16(samples).view(np.uint16)).tobytes()


def alaw_decode(data: bytes) -> np.ndarray:
    return _ALAW_DECODE.take(np.frombuffer(data, dtype=np.uint8))


def alaw_encode(samples: np.ndarray) -> bytes:
    return _ALAW_ENCODE.take(to_int16(samples).view(np.uint16)).tobytes()


def _l16_dtype(big_endian: bool) -> np.dtype:
    return np.dtype(">i2" if big_endian else "<i2")


def l16_decode(data: bytes, *, big_endian: bool = True) -> np.ndarray:
    if len(data) % 2:
        raise ValueError(f"L16 payload has an odd length ({len(data)} bytes)")
    return np.frombuffer(data, dtype=_l16_dtype(big_endian)).astype(np.int16)


def l16_encode(samples: np.ndarray, *, big_endian: bool = True) -> bytes:
    return to_int16(samples).astype(_l16_dtype(big_endian)).tobytes()


@dataclass(frozen=True)
class Codec:
    """One direction's media format, with 20 ms framing helpers."""

    name: str
    sample_rate: int
    bytes_per_sample: int
    silence_byte: int
    big_endian: bool  # L16 byte order; one-byte G.711 samples have none (always True)
    _decode: Callable[[bytes], np.ndarray] = field(repr=False, compare=False)
    _encode: Callable[[np.ndarray], bytes] = field(repr=False, compare=False)

    @property
    def frame_samples(self) -> int:
        return self.sample_rate * FRAME_MS // 1000

    @property
    def frame_bytes(self) -> int:
        return self.frame_samples * self.bytes_per_sample

    def silence(self, n_samples: int) -> bytes:
        return bytes([self.silence_byte]) * (n_samples * self.bytes_per_sample)

    def decode(self, data: bytes) -> np.ndarray:
        return self._decode(data)

    def encode(self, samples: np.ndarray) -> bytes:
        return self._encode(samples)


# Telnyx rates per encoding (telnyx-protocol.md 1.5); the first is the default.
_RATES = {"PCMU": (8000,), "PCMA": (8000,), "L16": (16000, 8000)}


def get_codec(
    encoding: str, sample_rate: int | None = None, *, l16_big_endian: bool = True
) -> Codec:
    """Look up a codec by its Telnyx name (`start.media_format.encoding`)."""
    name = encoding.upper()
    rates = _RATES.get(name)
    if rates is None:
        supported = ", ".join(_RATES)
        raise UnsupportedCodec(f"unsupported encoding {encoding!r}; supported: {supported}")
    rate = rates[0] if sample_rate is None else sample_rate
    if rate not in rates:
        allowed = ", ".join(str(r) for r in rates)
        raise UnsupportedCodec(f"{name} at {rate} Hz is not supported; use {allowed} Hz")
    if name == "PCMU":
        return Codec(name, rate, 1, ULAW_SILENCE, True, ulaw_decode, ulaw_encode)
    if name == "PCMA":
        return Codec(name, rate, 1, ALAW_SILENCE, True, alaw_decode, alaw_encode)
    decode = partial(l16_decode, big_endian=l16_big_endian)
    encode = partial(l16_encode, big_endian=l16_big_endian)
    return Codec(name, rate, 2, 0, l16_big_endian, decode, encode)
