"""Is the caller talking? A frame-energy detector, just enough to spot barge-in.

Speech starts after ONSET_MS of consecutive frames above the threshold and stops after
HANGOVER_MS below it. It cannot tell the caller from an echo of the agent on a speakerphone;
the bridge only asks it whether the caller was already talking when the agent fell silent.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np

from telephony.media.levels import CALLER_SPEECH_DBFS as THRESHOLD_DBFS
from telephony.media.levels import HANGOVER_MS, ONSET_MS, Level


class EnergyVad:
    def __init__(
        self,
        *,
        rate: int,
        threshold_dbfs: float = THRESHOLD_DBFS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._level = Level(threshold_dbfs)
        self._onset_samples = rate * ONSET_MS // 1000
        self._hangover_samples = rate * HANGOVER_MS // 1000
        self._clock = clock
        self._voiced = 0  # consecutive samples above the threshold
        self._quiet = 0  # consecutive samples below it
        self._first_voiced_at: float | None = None
        self._onset: float | None = None  # when the current speech began

    def update(self, samples: np.ndarray) -> bool:
        """Take one frame; return whether it was voiced (the bridge's pause flush asks)."""
        if self._level.reached_by(samples):
            if self._voiced == 0:
                self._first_voiced_at = self._clock()
            self._voiced += len(samples)
            self._quiet = 0
            if self._onset is None and self._voiced >= self._onset_samples:
                self._onset = self._first_voiced_at
            return True
        self._voiced = 0
        self._quiet += len(samples)
        if self._quiet >= self._hangover_samples:
            self._onset = None
        return False

    def speech_onset(self) -> float | None:
        """When the caller's current speech began (clock time), or None if they are quiet."""
        return self._onset
