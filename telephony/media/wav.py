"""A stereo WAV file written as a call goes: the caller on the left, what we sent on the right.

File format: RIFF/WAVE with a canonical 44-byte header, PCM, 16-bit little-endian,
two interleaved channels. Channel 0 is the caller (inbound media), channel 1 the
audio we sent, both at one sample rate (telephony.media.recording resamples before writing).

The inbound stream is the master clock: the carrier sends it in real time, while our
outbound audio may run ahead of playout. Each inbound chunk is paired with the
same number of queued outbound samples, or silence when none are queued.

Crash safety: audio reaches the file in chunks (every ~0.5 s) and the RIFF and
data sizes are rewritten after each chunk, so a file abandoned without close()
(worker killed, event loop stopped) is a valid WAV of everything flushed. We do
not fsync: a process crash loses at most the last chunk, a power cut may lose more.
A 16 kHz recording reaches the 4 GiB RIFF limit after about 18 hours.
"""

from __future__ import annotations

import os
import struct
from collections import deque
from pathlib import Path
from types import TracebackType

import numpy as np

from telephony.media.codecs import to_int16

_CHANNELS = 2
_SAMPLE_BYTES = 2
_HEADER = struct.Struct("<4sI4s4sIHHIIHH4sI")
_HEADER_BYTES = _HEADER.size  # 44


class WavRecorder:
    """Writes a two-channel call recording incrementally, with bounded memory."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        sample_rate: int,
        *,
        flush_every_ms: int = 500,
        max_outbound_ms: int = 2000,
    ) -> None:
        self.path = Path(path)
        self.sample_rate = sample_rate
        self._flush_frames = max(sample_rate * flush_every_ms // 1000, 1)
        self._max_outbound = sample_rate * max_outbound_ms // 1000
        self._outbound: deque[np.ndarray] = deque()
        self._outbound_samples = 0
        self._unwritten: list[np.ndarray] = []
        self._unwritten_frames = 0
        self._frames_on_disk = 0
        self._closed = False
        # Held open for the whole call; close() (or garbage collection) releases it.
        self._file = self.path.open("wb")
        self._write_header()

    def write_inbound(self, samples: np.ndarray) -> None:
        self._check_open()
        inbound = to_int16(samples)
        self._append(inbound, self._take_outbound(len(inbound)))

    def write_outbound(self, samples: np.ndarray) -> None:
        self._check_open()
        outbound = to_int16(samples).copy()  # the caller may reuse its buffer
        if not len(outbound):
            return
        self._outbound.append(outbound)
        self._outbound_samples += len(outbound)
        excess = self._outbound_samples - self._max_outbound
        if excess > 0:
            # Far ahead of the caller (a stalled inbound stream?): write the oldest
            # outbound against silence rather than let the queue grow.
            self._append(np.zeros(excess, dtype=np.int16), self._take_outbound(excess))

    def flush(self) -> None:
        """Write buffered audio to disk and make the header describe it."""
        self._check_open()
        if self._unwritten:
            # Data first, then sizes: a crash in between leaves a valid, shorter WAV.
            self._file.write(b"".join(chunk.tobytes() for chunk in self._unwritten))
            self._frames_on_disk += self._unwritten_frames
            self._unwritten.clear()
            self._unwritten_frames = 0
        self._write_header()
        self._file.flush()

    def close(self) -> None:
        """Write outbound audio still queued against silence and finalise the file."""
        if self._closed:
            return
        backlog = self._outbound_samples
        self._append(np.zeros(backlog, dtype=np.int16), self._take_outbound(backlog))
        self.flush()
        self._file.close()
        self._closed = True

    def __enter__(self) -> WavRecorder:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def _check_open(self) -> None:
        if self._closed:
            raise ValueError(f"recording {self.path} is closed")

    def _take_outbound(self, n: int) -> np.ndarray:
        out = np.zeros(n, dtype=np.int16)
        filled = 0
        while filled < n and self._outbound:
            chunk = self._outbound[0]
            take = min(n - filled, len(chunk))
            out[filled : filled + take] = chunk[:take]
            if take == len(chunk):
                self._outbound.popleft()
            else:
                self._outbound[0] = chunk[take:]
            filled += take
        self._outbound_samples -= filled
        return out

    def _append(self, left: np.ndarray, right: np.ndarray) -> None:
        if not len(left):
            return
        stereo = np.empty(2 * len(left), dtype="<i2")
        stereo[0::2] = left
        stereo[1::2] = right
        self._unwritten.append(stereo)
        self._unwritten_frames += len(left)
        if self._unwritten_frames >= self._flush_frames:
            self.flush()

    def _write_header(self) -> None:
        data_bytes = self._frames_on_disk * _CHANNELS * _SAMPLE_BYTES
        block_align = _CHANNELS * _SAMPLE_BYTES
        header = _HEADER.pack(
            b"RIFF",
            _HEADER_BYTES - 8 + data_bytes,
            b"WAVE",
            b"fmt ",
            16,  # size of the PCM fmt chunk
            1,  # WAVE_FORMAT_PCM
            _CHANNELS,
            self.sample_rate,
            self.sample_rate * block_align,
            block_align,
            8 * _SAMPLE_BYTES,
            b"data",
            data_bytes,
        )
        self._file.seek(0)
        self._file.write(header)
        self._file.seek(0, os.SEEK_END)
