"""Speech told from silence by level: one rule for the caller's audio and the agent's.

A frame counts as voiced when its mean square reaches a threshold in dBFS (0 dBFS is int16
full scale). Phone speech sits around -30..-15 dBFS and line noise below -50; an agent's
synthesised speech is clean, and what sits below -45 dBFS there is silence or Opus comfort
noise (near -60). Django-free, so the media session and the bridges share it.
"""

from __future__ import annotations

import numpy as np

CALLER_SPEECH_DBFS = -35.0
AGENT_SPEECH_DBFS = -45.0
# How the caller's speech is framed (the bridges' barge-in detector, the conversation metrics):
# it starts after ONSET_MS of voiced frames and ends after HANGOVER_MS without.
ONSET_MS = 60
HANGOVER_MS = 300


class Level:
    """Whether a frame of int16 samples is at least `dbfs` loud."""

    __slots__ = ("_mean_square",)

    def __init__(self, dbfs: float) -> None:
        self._mean_square = (32768.0 * 10 ** (dbfs / 20)) ** 2

    def reached_by(self, samples: np.ndarray) -> bool:
        frame = samples.astype(np.float32)
        return bool(len(frame)) and float(np.dot(frame, frame)) >= self._mean_square * len(frame)
