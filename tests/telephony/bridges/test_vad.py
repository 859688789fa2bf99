from __future__ import annotations

import numpy as np

from telephony.bridges.vad import EnergyVad
from tests.telephony.bridges.fakes import tone


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def feed(vad: EnergyVad, clock: Clock, samples: np.ndarray) -> None:
    for start in range(0, len(samples), 160):
        vad.update(samples[start : start + 160])
        clock.now += 0.02


def test_it_hears_speech_once_it_lasts_and_dates_it_from_its_first_frame():
    clock = Clock()
    vad = EnergyVad(rate=8000, clock=clock)
    feed(vad, clock, tone(300, 0.04, 8000, 3000))
    assert vad.speech_onset() is None  # 40 ms could be a click
    feed(vad, clock, tone(300, 0.04, 8000, 3000))
    assert vad.speech_onset() == 100.0


def test_it_forgets_speech_after_the_hangover():
    clock = Clock()
    vad = EnergyVad(rate=8000, clock=clock)
    feed(vad, clock, tone(300, 0.2, 8000, 3000))
    feed(vad, clock, np.zeros(1600, dtype=np.int16))  # 200 ms: a pause between words
    assert vad.speech_onset() == 100.0
    feed(vad, clock, np.zeros(800, dtype=np.int16))
    assert vad.speech_onset() is None


def test_line_noise_is_not_speech():
    clock = Clock()
    vad = EnergyVad(rate=8000, clock=clock)
    noise = np.random.default_rng(1).normal(0, 100, 8000).astype(np.int16)  # about -50 dBFS
    feed(vad, clock, noise)
    assert vad.speech_onset() is None
