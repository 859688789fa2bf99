"""A call's own recording: where the file goes and what goes into each of its channels.

The file is named by `Call.recording`'s upload_to, so the model, the admin and the session
agree on where recordings live, and is written under MEDIA_ROOT while the call goes on
(telephony.media.wav). It runs at the caller's sample rate: the caller on the left as
decoded, and on the right the agent's audio as we sent it, taken before it was encoded and
written when its frame was sent, so that it lines up with what the caller heard.

The call links to its file as soon as the file exists (`link`), not when the call ends: a
worker killed mid-call leaves a file the call already names, and reconciliation finishes its
header (`recover`). A recording stops at RECORDING_MAX_SECONDS, and the session notes that on
the call (`capped`).
"""

from __future__ import annotations

import logging
import uuid
from pathlib import Path
from typing import Any

import numpy as np
from django.conf import settings
from django.core.files.storage import default_storage

from calls.models import Call
from telephony.media import wav
from telephony.media.wav import WavRecorder

logger = logging.getLogger(__name__)


class CallRecording:
    def __init__(
        self,
        path: Path,
        *,
        name: str,
        sample_rate: int,
        outbound_rate: int,
        max_seconds: float | None = None,
    ) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.name = name  # relative to MEDIA_ROOT, as Call.recording stores it
        self._wav = WavRecorder(path, sample_rate, max_seconds=max_seconds)
        self._outbound_rate = outbound_rate
        self._resampler: Any = None

    @classmethod
    def open(cls, call: Call, *, sample_rate: int, outbound_rate: int) -> CallRecording:
        """Start `call`'s recording at `sample_rate`, the caller's; we send at `outbound_rate`."""
        field = Call._meta.get_field("recording")
        # A stream restarted after its worker died opens a second file, not over the first.
        name = default_storage.get_available_name(field.generate_filename(call, f"{call.pk}.wav"))
        path = Path(settings.MEDIA_ROOT) / name
        return cls(
            path,
            name=name,
            sample_rate=sample_rate,
            outbound_rate=outbound_rate,
            max_seconds=settings.RECORDING_MAX_SECONDS,
        )

    def link(self, call_id: uuid.UUID) -> None:
        """Name the file on the call now, so that a crash cannot leave it unlinked (ORM)."""
        Call.objects.filter(pk=call_id).update(recording=self.name)

    @property
    def capped(self) -> bool:
        """RECORDING_MAX_SECONDS was reached: nothing after it is recorded."""
        return self._wav.capped

    @property
    def max_seconds(self) -> float:
        return self._wav.max_frames / self._wav.sample_rate

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


def recover(call: Call) -> bool:
    """Finish the header of `call`'s recording if its session never did (the worker died).

    Called by reconciliation for calls it closes, whose media session cannot have finished.
    True if the file was repaired; a missing or foreign file is logged, never raised.
    """
    if not call.recording:
        return False
    path = Path(settings.MEDIA_ROOT) / call.recording.name
    try:
        repaired = wav.repair(path)
    except FileNotFoundError:
        logger.warning("the recording %s of a reconciled call is missing", call.recording.name)
        return False
    except (OSError, ValueError) as exc:
        logger.warning("could not repair the recording of a reconciled call: %s", exc)
        return False
    if repaired:
        logger.info("repaired the recording %s left by a stopped worker", call.recording.name)
    return repaired
