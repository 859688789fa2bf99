"""The simulated far party's voice: a short espeak-ng clip, pre-encoded once per codec.

`assets/caller.wav` (8 kHz) and `assets/caller16k.wav` (16 kHz) are mono 16-bit PCM made with
`espeak-ng -w` and resampled by sox. Frames are encoded and base64'd once and cached, so a
call's sender only formats JSON per frame; that keeps `simulate_call` cheap as a load generator.
"""

from __future__ import annotations

import base64
import wave
from functools import lru_cache
from pathlib import Path

import numpy as np

from telephony.media.codecs import Codec, get_codec

ASSETS = Path(__file__).parent / "assets"
_CLIPS = {8000: ASSETS / "caller.wav", 16000: ASSETS / "caller16k.wav"}
_PAUSE_S = 0.4  # silence between loops of the clip, as a caller pausing between sentences
_QUIET = 200  # frames whose peak is below this are treated as silence for RTT matching


@lru_cache(maxsize=4)
def load_pcm(sample_rate: int) -> np.ndarray:
    if sample_rate not in _CLIPS:
        raise ValueError(f"no caller clip at {sample_rate} Hz")
    with wave.open(str(_CLIPS[sample_rate]), "rb") as clip:
        frames = clip.readframes(clip.getnframes())
    pcm = np.frombuffer(frames, dtype="<i2").astype(np.int16)
    pause = np.zeros(int(sample_rate * _PAUSE_S), dtype=np.int16)
    samples = np.concatenate([pcm, pause])
    frame = sample_rate // 50
    return np.concatenate([samples, np.zeros(-len(samples) % frame, dtype=np.int16)])


def codec_for(encoding: str, sample_rate: int | None, big_endian: bool) -> Codec:
    return get_codec(encoding, sample_rate, l16_big_endian=big_endian)


@lru_cache(maxsize=16)
def caller_frames(encoding: str, sample_rate: int, big_endian: bool) -> tuple[bytes, ...]:
    codec = codec_for(encoding, sample_rate, big_endian)
    encoded = codec.encode(load_pcm(sample_rate))
    size = codec.frame_bytes
    return tuple(encoded[i : i + size] for i in range(0, len(encoded), size))


@lru_cache(maxsize=16)
def caller_payloads(encoding: str, sample_rate: int, big_endian: bool) -> tuple[str, ...]:
    frames = caller_frames(encoding, sample_rate, big_endian)
    return tuple(base64.b64encode(frame).decode() for frame in frames)


@lru_cache(maxsize=16)
def echo_keys(
    sent: tuple[str, int, bool], reply: tuple[str, int, bool]
) -> tuple[bytes | None, ...]:
    """For each caller frame, the key its echo will have if the server transcodes to `reply`.

    None for quiet frames (they all look alike) and when the rates differ (a resampled echo
    cannot be matched byte for byte).
    """
    frames = caller_frames(*sent)
    if sent[1] != reply[1]:
        return tuple(None for _ in frames)
    inbound, outbound = codec_for(*sent), codec_for(*reply)
    keys: list[bytes | None] = []
    for frame in frames:
        heard = inbound.decode(frame)
        quiet = int(np.abs(heard.astype(np.int32)).max()) < _QUIET
        keys.append(None if quiet else outbound.decode(outbound.encode(heard)).tobytes())
    return tuple(keys)


def reply_key(codec: Codec, chunk: bytes) -> bytes:
    return codec.decode(chunk).tobytes()
