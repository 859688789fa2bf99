"""DTMF tones as audio (ITU-T Q.23 frequency pairs), for sending digits in-band on a Twilio
call's media stream.

Why in-band: Twilio's only out-of-band way is <Play digits> in new TwiML, and new TwiML ends
the <Connect><Stream> (and with it the media session and the agent's bridge). μ-law at 8 kHz
carries the tones intact across the PSTN, as any IVR that listens for them expects.
"""

from __future__ import annotations

import numpy as np

RATE = 8000
TONE_MS = 100  # Q.24 asks for at least 40 ms of tone and 40 ms of pause; IVRs like 100
GAP_MS = 100
PAUSE_MS = 500  # "w", as in Twilio's <Play digits> and Telnyx's send_dtmf
LEVEL = 0.25  # of full scale per frequency: well below clipping when the two are summed

_LOW = (697, 770, 852, 941)
_HIGH = (1209, 1336, 1477, 1633)
_KEYS = ("123A", "456B", "789C", "*0#D")
FREQUENCIES = {
    key: (_LOW[row], _HIGH[column])
    for row, keys in enumerate(_KEYS)
    for column, key in enumerate(keys)
}


def tones(digits: str, *, rate: int = RATE) -> np.ndarray:
    """PCM16 samples playing `digits` (0-9, A-D, *, #; w or W pauses half a second)."""
    parts: list[np.ndarray] = []
    for digit in digits.upper():
        if digit == "W":
            parts.append(_silence(PAUSE_MS, rate))
            continue
        if digit not in FREQUENCIES:
            raise ValueError(f"not a DTMF digit: {digit!r}")
        parts += [_tone(FREQUENCIES[digit], rate), _silence(GAP_MS, rate)]
    return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int16)


def _tone(pair: tuple[int, int], rate: int) -> np.ndarray:
    t = np.arange(rate * TONE_MS // 1000) / rate
    wave = LEVEL * (np.sin(2 * np.pi * pair[0] * t) + np.sin(2 * np.pi * pair[1] * t))
    return (wave * 32767).astype(np.int16)


def _silence(ms: int, rate: int) -> np.ndarray:
    return np.zeros(rate * ms // 1000, dtype=np.int16)
