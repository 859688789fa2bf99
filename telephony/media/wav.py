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
A worker killed between writing a chunk and its sizes leaves a header that undercounts the
data, or a last sample cut in two: `repair()` rewrites the sizes from the file's length.

Size: a RIFF file cannot pass 4 GiB (its sizes are 32-bit). A recorder stops writing at
`max_seconds` (or just short of that limit, whichever comes first) and sets `capped`, so
the file stays valid and `close()` cannot fail on it; what comes after is not recorded.
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
_MAX_DATA_BYTES = 2**32 - 1 - (_HEADER_BYTES - 8)  # the RIFF size field's limit


class WavRecorder:
    """Writes a two-channel call recording incrementally, with bounded memory."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        sample_rate: int,
        *,
        flush_every_ms: int = 500,
        max_outbound_ms: int = 2000,
        max_seconds: float | None = None,
    ) -> None:
        self.path = Path(path)
        self.sample_rate = sample_rate
        limit = _MAX_DATA_BYTES // (_CHANNELS * _SAMPLE_BYTES)
        if max_seconds is not None:
            limit = min(limit, max(int(max_seconds * sample_rate), 0))
        self.max_frames = limit
        self.capped = False  # reached max_frames: nothing more is written
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
        if self.capped:
            return
        inbound = to_int16(samples)
        self._append(inbound, self._take_outbound(len(inbound)))

    def write_outbound(self, samples: np.ndarray) -> None:
        self._check_open()
        if self.capped:
            return
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
        room = self.max_frames - self._frames_on_disk - self._unwritten_frames
        if len(left) >= room:
            left, right = left[:room], right[:room]
            self.capped = True
            self._outbound.clear()  # never to be written
            self._outbound_samples = 0
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


def repair(path: str | os.PathLike[str]) -> bool:
    """Make the sizes in a recording's header match its data, as `close()` would have.

    For a file whose writer died (telephony.reconcile calls this through
    telephony.media.recording.recover): the data is whatever whole sample frames follow the
    header; a frame cut short at the end is dropped. True if the file was changed. Raises
    ValueError for a file that is not a recording of ours (too short, or another format).
    """
    with Path(path).open("r+b") as file:
        header = file.read(_HEADER_BYTES)
        if len(header) < _HEADER_BYTES:
            raise ValueError(f"{path}: {len(header)} bytes, too short for a WAV header")
        fields = list(_HEADER.unpack(header))
        riff, _, wave_id, fmt, fmt_size, pcm, channels, _, _, block_align, _, data_id, _ = fields
        ids = (riff, wave_id, fmt, data_id, fmt_size, pcm)
        if ids != (b"RIFF", b"WAVE", b"fmt ", b"data", 16, 1):
            raise ValueError(f"{path}: not a canonical PCM WAV file")
        if block_align != channels * _SAMPLE_BYTES or not block_align:
            raise ValueError(f"{path}: unexpected block alignment {block_align}")
        size = file.seek(0, os.SEEK_END)
        data_bytes = size - _HEADER_BYTES
        data_bytes = min(data_bytes - data_bytes % block_align, _MAX_DATA_BYTES)
        data_bytes -= data_bytes % block_align
        riff_bytes = _HEADER_BYTES - 8 + data_bytes
        if (fields[1], fields[12], size) == (riff_bytes, data_bytes, _HEADER_BYTES + data_bytes):
            return False  # closed as it should have been
        file.truncate(_HEADER_BYTES + data_bytes)
        fields[1], fields[12] = riff_bytes, data_bytes
        file.seek(0)
        file.write(_HEADER.pack(*fields))
        return True
