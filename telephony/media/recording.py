"""A call's own recording: where the file goes and what goes into each of its channels.

The file is named by `Call.recording`'s upload_to, so the model, the admin and the session
agree on where recordings live, and is written under MEDIA_ROOT while the call goes on
(telephony.media.wav). It runs at the caller's sample rate: the caller on the left as
decoded, and on the right the agent's audio as we sent it, taken before it was encoded and
written when its frame was sent, so that it lines up with what the caller heard.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
from django.conf import settings

from calls.models import Call
from telephony.media.wav import WavRecorder

logger = logging.getLogger(__name__)


class CallRecording:
    def __init__(self, path: Path, *, name: str, sample_rate: int, outbound_rate: int) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.name = name  # relative to MEDIA_ROOT, as Call.recording stores it
        self._wav = WavRecorder(path, sample_rate)
        self._outbound_rate = outbound_rate
        self._resampler: Any = None

    @classmethod
    def open(cls, call: Call, *, sample_rate: int, outbound_rate: int) -> CallRecording:
        """Start `call`'s recording at `sample_rate`, the caller's; we send at `outbound_rate`."""
        field = Call._meta.get_field("recording")
        name = field.generate_filename(call, f"{call.pk}.wav")
        path = Path(settings.MEDIA_ROOT) / name
        return cls(path, name=name, sample_rate=sample_rate, outbound_rate=outbound_rate)

    def write_inbound(self, samples: np.ndarray) -> None:
        self._wav.write_inbound(samples)

    def write_outbound(self, samples: np.ndarray) -> None:
        """One frame of what we sent, as PCM at the outbound rate, when it was sent."""
        if self._outbound_rate != self._wav.sample_rate:
            samples = self._resample(samples)
        self._wav.write_outbound(samples)

    def close(self) -> str:
        """Finish the file (a failure is logged: what was flushed stays playable); its name."""
        try:
            self._wav.close()
        except OSError:
            logger.exception("could not finish the recording")
        return self.name

    def _resample(self, samples: np.ndarray) -> np.ndarray:
        # A streaming polyphase resampler whose filter state carries over from frame to
        # frame: no clicks at frame edges, no aliasing when going down (dropping samples
        # would fold 4-8 kHz into the 8 kHz copy), no images when going up (repeating
        # samples would). The session resamples agent audio with the same one.
        if self._resampler is None:
            import getstream_rtc  # lazy: only when the two directions differ in rate

            self._resampler = getstream_rtc.StreamResampler(self._wav.sample_rate, 1)
        frame = self._resampler.push(
            np.ascontiguousarray(samples, dtype=np.int16), self._outbound_rate, 1
        )
        return np.asarray(frame.samples, dtype=np.int16)
