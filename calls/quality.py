"""Telnyx's call quality, read as a table with thresholds instead of raw JSON.

`call.hangup` carries `call_quality_stats = {inbound: {mos, jitter_max_variance,
jitter_packet_count, packet_count, skip_packet_count}, outbound: {packet_count,
skip_packet_count}}`, every value a string that may be null (telnyx-protocol.md §2.4).
Inbound is the audio Telnyx received from the phone; outbound what it sent there. Packet
loss is the share of packets skipped. Old rows may hold anything: a value that is not a
number reads "unreadable", and nothing here raises.

Thresholds (stated on the page) follow the usual VoIP rules of thumb: a MOS of 4.0 or more
is good and under 3.5 poor; jitter over 30 ms and packet loss over 1 % are audible.
Reference: https://developers.telnyx.com/api-reference/callbacks/call-hangup
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

# (amber from, red from) for "higher is worse"; MOS is "lower is worse".
MOS_AMBER_BELOW, MOS_RED_BELOW = 4.0, 3.5
JITTER_AMBER_OVER_MS, JITTER_RED_OVER_MS = 20.0, 30.0
LOSS_AMBER_OVER_PCT, LOSS_RED_OVER_PCT = 0.5, 1.0
# Any underrun is a gap the caller heard in the agent's speech.
UNDERRUNS_RED_AT = 1

DIRECTIONS = (
    ("inbound", "Inbound", "from the phone to Telnyx"),
    ("outbound", "Outbound", "from Telnyx to the phone"),
)


@dataclass(frozen=True)
class Reading:
    label: str
    text: str
    level: str  # good, fair, poor, or none (not reported, or not a number)


@dataclass(frozen=True)
class Direction:
    key: str
    title: str
    explanation: str
    readings: list[Reading]


@dataclass(frozen=True)
class QualityReport:
    directions: list[Direction]
    thresholds: str = (
        f"MOS (1 to 5: how a listener would rate the audio) is green from {MOS_AMBER_BELOW}, "
        f"amber from {MOS_RED_BELOW} to {MOS_AMBER_BELOW} and red under {MOS_RED_BELOW}; "
        f"jitter is amber over {JITTER_AMBER_OVER_MS:g} ms and red over "
        f"{JITTER_RED_OVER_MS:g} ms; packet loss is amber over {LOSS_AMBER_OVER_PCT:g} % and "
        f"red over {LOSS_RED_OVER_PCT:g} %. Telnyx measures MOS and jitter on the audio it "
        "receives only."
    )


def reports_quality(carrier: str) -> bool:
    """Whether the carrier sends call quality figures with the call's end. Telnyx does, in
    call.hangup; Twilio's status callbacks carry none (its Voice Insights is a separate,
    paid API that phonebridge does not read), so the page says "not reported by Twilio"."""
    return carrier != "twilio"


def call_quality(stats: object) -> QualityReport | None:
    """A table per direction Telnyx reported on; None when it reported nothing."""
    if not isinstance(stats, dict):
        return None
    found = [
        Direction(key, title, explanation, _readings(stats[key]))
        for key, title, explanation in DIRECTIONS
        if key in stats
    ]
    return QualityReport(found) if found else None


def underrun_verdict(underruns: object) -> dict[str, Any]:
    """The media card's colour for the playout underrun count, and where red begins."""
    level = "none"
    if isinstance(underruns, int) and not isinstance(underruns, bool):
        level = "poor" if underruns >= UNDERRUNS_RED_AT else "good"
    return {"level": level, "red_at": UNDERRUNS_RED_AT}


def _readings(values: object) -> list[Reading]:
    if not isinstance(values, dict):
        return [Reading("Figures", "unreadable (not an object)", "none")]
    return [_mos(values), _jitter(values), _loss(values), _packets(values)]


def _mos(values: dict[str, Any]) -> Reading:
    mos = _number(values, "mos")
    if not isinstance(mos, float):
        return Reading("MOS", mos, "none")
    level = "poor" if mos < MOS_RED_BELOW else "fair" if mos < MOS_AMBER_BELOW else "good"
    return Reading("MOS", f"{mos:.2f}", level)


def _jitter(values: dict[str, Any]) -> Reading:
    jitter = _number(values, "jitter_max_variance")
    if not isinstance(jitter, float):
        return Reading("Jitter (max variance)", jitter, "none")
    return Reading(
        "Jitter (max variance)",
        f"{jitter:g} ms",
        _higher_is_worse(jitter, JITTER_AMBER_OVER_MS, JITTER_RED_OVER_MS),
    )


def _loss(values: dict[str, Any]) -> Reading:
    sent, skipped = _number(values, "packet_count"), _number(values, "skip_packet_count")
    if isinstance(sent, str):
        return Reading("Packet loss", sent, "none")
    if isinstance(skipped, str):
        return Reading("Packet loss", skipped, "none")
    if sent <= 0:
        return Reading("Packet loss", "no packets", "none")
    percent = 100 * skipped / sent
    text = f"{percent:.2f} % ({skipped:g} of {sent:g} packets skipped)"
    return Reading(
        "Packet loss", text, _higher_is_worse(percent, LOSS_AMBER_OVER_PCT, LOSS_RED_OVER_PCT)
    )


def _packets(values: dict[str, Any]) -> Reading:
    sent = _number(values, "packet_count")
    return Reading("Packets", f"{sent:g}" if isinstance(sent, float) else sent, "none")


def _higher_is_worse(value: float, amber: float, red: float) -> str:
    return "poor" if value > red else "fair" if value > amber else "good"


def _number(values: dict[str, Any], key: str) -> float | str:
    """The value as a float, or the words to show instead."""
    if key not in values or values[key] is None or values[key] == "":
        return "not reported"
    value = values[key]
    unreadable = f"unreadable ({str(value)[:24]!r})"
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        return unreadable
    try:
        number = float(value)
    except (ValueError, OverflowError):
        return unreadable
    if not math.isfinite(number) or number < 0:
        return unreadable
    return number
