"""The live media figures on a call's detail page: levels, frames, underruns, lead and the
conversation so far, from the snapshot the media session writes into `Call.live_media`
every few seconds while the call streams, and from the stored statistics once it ended.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Any

from django.utils import timezone
from django.utils.dateparse import parse_datetime

from calls.models import Call

# A snapshot older than this means the media session stopped writing (a worker died, the
# stream stalled): the figures are shown as stale rather than as the present.
STALE = timedelta(seconds=10)
# Levels are drawn on a -60..0 dBFS scale: quieter than -60 dBFS is silence on a phone line.
FLOOR_DBFS = -60.0
_COUNTERS = ("frames_in", "frames_out", "underruns", "frames_shed", "frames_early")
_CONVERSATION = (
    "turn_count",
    "latency_p50_ms",
    "latency_max_ms",
    "caller_interruptions",
    "agent_interruptions",
    "long_silences",
)


def media_figures(call: Call) -> dict[str, Any] | None:
    """The figures the detail page's live area shows, or None when there are none yet.

    The snapshot is written by another process and may be partial, from an older version or
    damaged: every key is optional and anything that is not a number is shown as unknown.
    """
    if call.is_live:
        snapshot = call.live_media if isinstance(call.live_media, dict) else None
        if snapshot is None:
            return None
        return _from_snapshot(snapshot)
    if not (call.stream_id or call.frames_in or call.frames_out):
        return None
    return _final(call)


def _from_snapshot(snapshot: dict[str, Any]) -> dict[str, Any]:
    updated = _when(snapshot.get("updated_at"))
    conversation = snapshot.get("conversation")
    return {
        "live": True,
        "updated_at": updated,
        "stale": updated is not None and timezone.now() - updated > STALE,
        "stale_ms": round(STALE.total_seconds() * 1000),
        "levels": [
            ("Caller", _level(snapshot.get("caller_dbfs"))),
            ("Agent", _level(snapshot.get("agent_dbfs"))),
        ],
        **{name: _number(snapshot.get(name)) for name in _COUNTERS},
        "lead_ms": _number(snapshot.get("lead_ms")),
        "conversation": _conversation(conversation),
    }


def _final(call: Call) -> dict[str, Any]:
    return {
        "live": False,
        "updated_at": call.streaming_stopped_at or call.ended_at,
        "stale": False,
        "levels": [],  # levels are a live reading: nothing is kept of them
        **{name: getattr(call, name) for name in _COUNTERS},
        "lead_ms": call.max_lead_ms,
        "conversation": _conversation(call.conversation),
    }


def _conversation(values: object) -> dict[str, float | int | None] | None:
    if not isinstance(values, dict):
        return None
    return {name: _number(values.get(name)) for name in _CONVERSATION}


def _level(value: object) -> dict[str, float] | None:
    dbfs = _number(value)
    if dbfs is None:
        return None
    shown = min(max(float(dbfs), FLOOR_DBFS), 0.0)
    return {"dbfs": round(float(dbfs), 1), "percent": round(100 * (1 - shown / FLOOR_DBFS))}


def _number(value: object) -> float | int | None:
    # bool is an int to Python, but never a figure; NaN and infinities are not either.
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _when(value: object) -> datetime | None:
    """updated_at as an ISO 8601 string or Unix seconds."""
    if isinstance(value, str):
        try:
            parsed = parse_datetime(value)
        except ValueError:
            return None
        if parsed is not None and timezone.is_naive(parsed):
            parsed = timezone.make_aware(parsed, UTC)
        return parsed
    seconds = _number(value)
    if seconds is None:
        return None
    try:
        return datetime.fromtimestamp(seconds, tz=UTC)
    except (OverflowError, OSError, ValueError):
        return None
