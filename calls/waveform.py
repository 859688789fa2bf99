"""A recording's waveform as peaks: per channel, the lowest and highest sample in each of a
fixed number of equal slices of the recording, so the console can draw two channels of a
call of any length from a few tens of kilobytes instead of shipping the WAV a second time.

Input: our own two-channel WAV (telephony.media.wav: RIFF/WAVE, PCM 16-bit little-endian,
caller left, agent right), read a block at a time so an hour-long call does not sit in
memory. A file still being written (its header describes what has been flushed), cut short
(the header promises more than the file holds) or not a WAV at all gives `WaveformError`
with a sentence for the operator, never a traceback.

The result is cached in Django's cache under the file's name, size and modification time:
a file that grows or is replaced gets new peaks, one that does not is read once.
"""

from __future__ import annotations

import hashlib
import struct
from dataclasses import dataclass
from typing import IO, Any

import numpy as np
from django.core.cache import cache
from django.db.models.fields.files import FieldFile

BUCKETS = 1600  # about one per pixel of a wide screen; retina screens interpolate
CHANNEL_NAMES = ("Caller", "Agent")
CACHE_SECONDS = 7 * 24 * 3600
_BLOCK_FRAMES = 1 << 18  # about 16 s of 16 kHz audio per read: bounded memory
_MAX_CHUNKS = 64  # a WAV has a handful; more means we are reading garbage
_PCM, _EXTENSIBLE = 1, 0xFFFE


class WaveformError(Exception):
    """The recording cannot be drawn; the message says why, for the operator."""


@dataclass(frozen=True)
class WavLayout:
    channels: int
    sample_rate: int
    data_offset: int
    frames: int  # whole frames present in the file, whatever the header claims
    truncated: bool  # the header promised more audio than the file holds


def peaks_for(recording: FieldFile, *, far_end: str = "Caller") -> dict[str, Any]:
    """The peaks of a call's recording, from the cache when the file has not changed."""
    storage, name = recording.storage, recording.name
    if not name or not storage.exists(name):
        raise WaveformError("The recording file is missing.")
    size = storage.size(name)
    modified = storage.get_modified_time(name).timestamp()
    key = (
        "calls.peaks:" + hashlib.sha256(f"{name}|{size}|{modified}|{BUCKETS}".encode()).hexdigest()
    )
    found = cache.get(key)
    if found is None:
        with storage.open(name, "rb") as file:
            found = read_peaks(file, buckets=BUCKETS)
        cache.set(key, found, CACHE_SECONDS)
    # The far end's name depends on the call, not the file: not part of what is cached.
    names = (far_end, *CHANNEL_NAMES[1:])
    channels = zip(found["channels"], names, strict=False)  # a mono file has one
    return {**found, "channels": [{**c, "name": n} for c, n in channels]}


def read_peaks(file: IO[bytes], *, buckets: int = BUCKETS) -> dict[str, Any]:
    layout = read_layout(file)
    if layout.frames == 0:
        raise WaveformError("The recording holds no audio yet.")
    count = min(buckets, layout.frames)
    # Bucket i covers frames [edges[i], edges[i+1]): equal slices, the last one no shorter.
    edges = np.linspace(0, layout.frames, count + 1).astype(np.int64)
    lows = np.zeros((layout.channels, count), dtype=np.int16)
    highs = np.zeros((layout.channels, count), dtype=np.int16)
    file.seek(layout.data_offset)
    for first in range(0, layout.frames, _BLOCK_FRAMES):
        block = _read_block(file, layout, first)
        _fold(block, first, edges, lows, highs)
    return {
        "duration_s": layout.frames / layout.sample_rate,
        "sample_rate": layout.sample_rate,
        "buckets": count,
        "truncated": layout.truncated,
        "channels": [
            {"min": _scaled(lows[c]), "max": _scaled(highs[c])} for c in range(layout.channels)
        ],
    }


def read_layout(file: IO[bytes]) -> WavLayout:
    """Walk the RIFF chunks to the format and the audio; tell what is wrong if anything is."""
    head = file.read(12)
    if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
        raise WaveformError("The recording is not a WAV file (no RIFF/WAVE header).")
    fmt: tuple[int, int, int, int] | None = None
    position = 12
    for _ in range(_MAX_CHUNKS):
        chunk = file.read(8)
        if len(chunk) < 8:
            break
        chunk_id, chunk_size = struct.unpack("<4sI", chunk)
        position += 8
        if chunk_id == b"fmt ":
            fmt = _read_format(file.read(min(chunk_size, 40)))
        elif chunk_id == b"data":
            return _layout(file, fmt, position, chunk_size)
        position += chunk_size + (chunk_size & 1)  # chunks are padded to even sizes
        file.seek(position)
    raise WaveformError("The recording is cut short: it has no audio data chunk.")


def _read_format(raw: bytes) -> tuple[int, int, int, int]:
    if len(raw) < 16:
        raise WaveformError("The recording's format chunk is cut short.")
    tag, channels, rate, _, _, bits = struct.unpack("<HHIIHH", raw[:16])
    return tag, channels, rate, bits


def _layout(
    file: IO[bytes], fmt: tuple[int, int, int, int] | None, offset: int, declared: int
) -> WavLayout:
    if fmt is None:
        raise WaveformError("The recording has no format chunk before its audio.")
    tag, channels, rate, bits = fmt
    if tag not in (_PCM, _EXTENSIBLE) or bits != 16 or channels not in (1, 2) or rate <= 0:
        raise WaveformError(
            f"The recording is not 16-bit PCM in one or two channels "
            f"(format {tag}, {bits}-bit, {channels} channels, {rate} Hz)."
        )
    available = file.seek(0, 2) - offset
    frame_bytes = 2 * channels
    # A header written before its audio (a live recording) promises less than is there, and
    # the last frame may be half-written: draw what the header vouches for, and no more
    # than the file holds.
    usable = min(declared, max(available, 0))
    return WavLayout(
        channels=channels,
        sample_rate=rate,
        data_offset=offset,
        frames=usable // frame_bytes,
        truncated=declared > available,
    )


def _read_block(file: IO[bytes], layout: WavLayout, first: int) -> np.ndarray:
    frames = min(_BLOCK_FRAMES, layout.frames - first)
    raw = file.read(frames * 2 * layout.channels)
    whole = len(raw) // (2 * layout.channels)
    samples = np.frombuffer(raw[: whole * 2 * layout.channels], dtype="<i2")
    return samples.reshape(whole, layout.channels)


def _fold(
    block: np.ndarray, first: int, edges: np.ndarray, lows: np.ndarray, highs: np.ndarray
) -> None:
    """Merge one block's extremes into the buckets it overlaps."""
    if not len(block):
        return
    last = first + len(block)
    # The buckets this block touches, and where each starts inside the block.
    lo = int(np.searchsorted(edges, first, side="right")) - 1
    hi = int(np.searchsorted(edges, last, side="left"))
    starts = np.clip(edges[lo:hi], first, last) - first
    keep = np.concatenate([np.diff(starts) > 0, [starts[-1] < len(block)]])
    indices, starts = np.arange(lo, hi)[keep], starts[keep]
    # A bucket that began in an earlier block keeps the extremes of both parts.
    seen = edges[indices] < first
    for channel in range(block.shape[1]):
        column = block[:, channel]
        mins = np.minimum.reduceat(column, starts)
        maxs = np.maximum.reduceat(column, starts)
        lows[channel, indices] = np.where(seen, np.minimum(lows[channel, indices], mins), mins)
        highs[channel, indices] = np.where(seen, np.maximum(highs[channel, indices], maxs), maxs)


def _scaled(values: np.ndarray) -> list[float]:
    return [round(v, 3) for v in (values.astype(np.float64) / 32768.0).tolist()]
