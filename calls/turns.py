"""A call's turns as the detail page shows them: a small bar chart of each turn's response
latency with its interruptions marked, and a table of the same turns.

Read from the conversation summary stored with the call (telephony.media.conversation):
`turns` holds the first MAX_TURNS turns, each with the agent's start (`at_ms`, from the
start of the media session), how long the person on the phone waited (`latency_ms`, None
when the agent spoke first), and whether the agent talked over them (`agent_interrupted`)
or they barged in (`barged_in`). Times shown are positions in the recording, like the
waveform's. Odd stored values are skipped, never raised on.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from typing import Any

from calls.regions import stored_int

CHART_WIDTH = 600
CHART_HEIGHT = 120
_TOP = 16  # room for the markers above the tallest bar
_BOTTOM = 14  # room for the turn numbers
_LEFT = 44  # room for the scale
_MIN_SCALE_MS = 1000  # a call answered in 200 ms should not look slow


@dataclass(frozen=True)
class TurnRow:
    number: int
    caller_stopped_s: float | None
    agent_started_s: float | None
    latency_ms: int | None
    agent_interrupted: bool
    barged_in: bool

    @property
    def interrupted(self) -> bool:
        return self.agent_interrupted or self.barged_in

    @property
    def caller_stopped(self) -> str:
        return _clock(self.caller_stopped_s)

    @property
    def agent_started(self) -> str:
        return _clock(self.agent_started_s)


@dataclass(frozen=True)
class Bar:
    row: TurnRow
    x: float
    width: float
    y: float
    height: float
    centre: float


def turn_rows(conversation: object) -> list[TurnRow]:
    if not isinstance(conversation, dict):
        return []
    turns = conversation.get("turns")
    origin = stored_int(conversation.get("recording_from_ms")) or 0
    rows = []
    for number, turn in enumerate(turns if isinstance(turns, list) else [], start=1):
        if isinstance(turn, dict):
            rows.append(_row(number, turn, origin))
    return rows


def _row(number: int, turn: dict[str, Any], origin: int) -> TurnRow:
    at, latency = stored_int(turn.get("at_ms")), stored_int(turn.get("latency_ms"))
    stopped = stored_int(turn.get("caller_to_ms"))
    if stopped is None and at is not None and latency is not None:
        stopped = at - latency
    if latency is not None and latency < 0:
        latency = None
    return TurnRow(
        number=number,
        caller_stopped_s=_position(stopped, origin),
        agent_started_s=_position(at, origin),
        latency_ms=latency,
        agent_interrupted=turn.get("agent_interrupted") is True,
        barged_in=turn.get("barged_in") is True,
    )


def _position(ms: int | None, origin: int) -> float | None:
    return None if ms is None else max(ms - origin, 0) / 1000


def turns_context(conversation: object, *, far_end: str = "Caller") -> dict[str, Any] | None:
    rows = turn_rows(conversation)
    if not rows:
        return None
    latencies = [r.latency_ms for r in rows if r.latency_ms is not None]
    scale = max([_MIN_SCALE_MS, *latencies])
    median = round(statistics.median(latencies)) if latencies else None
    return {
        "rows": rows,
        "bars": _bars(rows, scale),
        "far_end": far_end,
        "width": CHART_WIDTH,
        "height": CHART_HEIGHT,
        "left": _LEFT,
        "baseline": CHART_HEIGHT - _BOTTOM,
        "top": _TOP,
        "scale_ms": scale,
        "median_ms": median,
        "median_y": _y(median, scale) if median is not None else None,
        "interruptions": sum(r.interrupted for r in rows),
    }


def _bars(rows: list[TurnRow], scale: int) -> list[Bar]:
    slot = (CHART_WIDTH - _LEFT) / len(rows)
    width = max(min(slot * 0.7, 36.0), 1.0)
    bars = []
    for index, row in enumerate(rows):
        x = _LEFT + index * slot + (slot - width) / 2
        y = _y(row.latency_ms or 0, scale)
        height = CHART_HEIGHT - _BOTTOM - y
        bars.append(
            Bar(
                row,
                round(x, 1),
                round(width, 1),
                round(y, 1),
                round(height, 1),
                round(x + width / 2, 1),
            )
        )
    return bars


def _y(ms: int, scale: int) -> float:
    usable = CHART_HEIGHT - _BOTTOM - _TOP
    return round(CHART_HEIGHT - _BOTTOM - usable * min(ms, scale) / scale, 1)


def _clock(seconds: float | None) -> str:
    """ "1:02.3": a position in the recording, to the tenth of a second."""
    if seconds is None:
        return "—"
    tenths = round(seconds * 10)
    minutes, tenths = divmod(tenths, 600)
    return f"{minutes}:{tenths // 10:02d}.{tenths % 10}"
